//! The load generator: many simulated pipelines against a Signalbox server on loopback.
//!
//! ```text
//! loadgen prepare    --dir DIR [--trains N] [--seed S]
//! loadgen free-port
//! loadgen wait-ready --addr 127.0.0.1:PORT [--since-ns EPOCH_NS] [--timeout-secs S]
//! loadgen run        --addr 127.0.0.1:PORT[,127.0.0.1:PORT2...] --workload DIR/workload.json --endpoint approve|evaluate
//!                    [--clients 64] [--requests N] [--warmup N] [--duration-secs S] [--threads T] [--id-prefix LD]
//! ```
//!
//! `prepare` writes `DIR/signalbox.toml` (the realistic configuration of
//! `signalbox_benches::Realistic`, around the current instant, with benchmark
//! tokens and the shipped policies), `DIR/workload.json`, and seeds `DIR/data`
//! with the 10,000 recorded stage trains and the 100 live exceptions (plus
//! `--trains N` stored trains, for the memory probe). `run` opens one keep-alive
//! HTTP/1.1 connection per client and has every client submit distinct trains
//! (`approve`: `POST /v1/trains`, durable) or dry runs (`evaluate`:
//! `POST /v1/evaluate`, no storage) back to back, after a warm-up. It stops after
//! `--requests` measured requests or `--duration-secs`, whichever comes first,
//! and prints throughput and latency percentiles, then a `RESULT` line.
//! It only ever connects to the loopback address it is given.

// A measuring tool, not library code: a broken setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;
use signalbox_benches::{histogram, shipped_policies_dir, spread_line, Case, Realistic, PIPELINE_TOKEN};
use signalbox_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SEED: u64 = 42;
/// A request not answered in this time fails the run (so a stalled server cannot hold it up).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> Result<()> {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_default();
    let flags = Flags::parse(argv)?;
    match command.as_str() {
        "prepare" => prepare(&flags),
        "free-port" => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            println!("{}", listener.local_addr()?.port());
            Ok(())
        }
        "wait-ready" => wait_ready(&flags),
        "run" => run(&flags),
        _ => bail!("usage: loadgen prepare|free-port|wait-ready|run [flags] (see the file's header)"),
    }
}

struct Flags(BTreeMap<String, String>);

impl Flags {
    fn parse(mut argv: impl Iterator<Item = String>) -> Result<Flags> {
        let mut map = BTreeMap::new();
        while let Some(flag) = argv.next() {
            let name = flag.strip_prefix("--").with_context(|| format!("expected a --flag, found `{flag}`"))?;
            let value = argv.next().with_context(|| format!("{flag} needs a value"))?;
            map.insert(name.to_string(), value);
        }
        Ok(Flags(map))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str> {
        self.get(name).with_context(|| format!("--{name} is required"))
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| anyhow::anyhow!("--{name} {v}: {e}")),
        }
    }

    /// The server address, refused unless it is on loopback.
    fn addr(&self) -> Result<SocketAddr> {
        let addrs = self.addrs()?;
        match addrs.as_slice() {
            [one] => Ok(*one),
            _ => bail!("--addr takes one address here"),
        }
    }

    /// The servers' addresses (`--addr A,B`: replicas; clients are spread
    /// over them in turn), each refused unless it is on loopback.
    fn addrs(&self) -> Result<Vec<SocketAddr>> {
        self.required("addr")?
            .split(',')
            .map(|text| {
                let addr: SocketAddr = text.trim().parse().context("--addr must be IP:PORT[,IP:PORT...]")?;
                if !addr.ip().is_loopback() {
                    bail!("--addr {addr} is not a loopback address; this tool only loads servers on this machine");
                }
                Ok(addr)
            })
            .collect()
    }
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    Ok(if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?
    })
}

// ---- prepare -----------------------------------------------------------------

fn prepare(flags: &Flags) -> Result<()> {
    let dir = PathBuf::from(flags.required("dir")?);
    let seed = flags.number("seed", SEED)?;
    let trains: usize = flags.number("trains", 0)?;
    std::fs::create_dir_all(&dir)?;
    let now = Utc::now().trunc_subsecs(0);
    let realistic = Realistic::new(now, seed)?;
    let policies = shipped_policies_dir();
    std::fs::write(dir.join("signalbox.toml"), realistic.config_toml(&policies))?;
    std::fs::write(dir.join("workload.json"), json!({ "now": now, "seed": seed }).to_string())?;
    let started = Instant::now();
    let store = Store::open(&dir.join("data"))?;
    runtime(1)?.block_on(async {
        signalbox_benches::seed_state(&store, &realistic).await?;
        if trains > 0 {
            let evaluator = signalbox_benches::evaluator(&policies, &realistic.config)?;
            let cases = realistic.cases(None, trains, seed ^ 0x5eed, 1);
            signalbox_benches::seed_trains(&store, &evaluator, &realistic, &cases, &[], None).await?;
        }
        anyhow::Ok(())
    })?;
    store.shutdown();
    eprintln!(
        "prepared {}: 30 regions, 50 freezes, 1000 SLAs, 100 exceptions, 10000 stage trains, {trains} stored trains ({:.1} s)",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---- wait-ready ----------------------------------------------------------------

fn wait_ready(flags: &Flags) -> Result<()> {
    let addr = flags.addr()?;
    let since_ns: Option<i64> = flags.get("since-ns").map(str::parse).transpose()?;
    let timeout = Duration::from_secs(flags.number("timeout-secs", 30)?);
    let started = Instant::now();
    runtime(1)?.block_on(async {
        loop {
            let attempt = async {
                let mut conn = Conn::connect(addr).await?;
                conn.send(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await
            };
            if let Ok(Ok((200, _))) = tokio::time::timeout(Duration::from_secs(1), attempt).await {
                break;
            }
            if started.elapsed() > timeout {
                bail!("the server at {addr} was not ready within {} s", timeout.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        anyhow::Ok(())
    })?;
    let waited_ms = match since_ns {
        Some(t0) => (Utc::now().timestamp_nanos_opt().unwrap_or(0) - t0) as f64 / 1e6,
        None => started.elapsed().as_secs_f64() * 1e3,
    };
    println!("{waited_ms:.0}");
    Ok(())
}

// ---- a minimal HTTP/1.1 client -------------------------------------------------

/// One keep-alive connection. Requests are written whole; responses must carry a
/// `Content-Length` (axum's JSON responses do).
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::with_capacity(16 * 1024) })
    }

    /// Sends one request; returns the status and the body.
    async fn send(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>)> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let header_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection");
            }
        };
        let head = std::str::from_utf8(&self.buf[..header_end]).context("response head is not UTF-8")?;
        let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no status")?;
        let length: usize = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .context("response without Content-Length")?;
        while self.buf.len() < header_end + length {
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                bail!("the server closed the connection mid-body");
            }
        }
        Ok((status, self.buf[header_end..header_end + length].to_vec()))
    }
}

fn post(path: &str, token: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

// ---- run -----------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Approve,
    Evaluate,
}

struct Load {
    /// The servers; client `i` talks to `addrs[i % addrs.len()]`.
    addrs: Vec<SocketAddr>,
    endpoint: Endpoint,
    /// Each template train's request body, rendered once, split where its id goes.
    bodies: Vec<(String, String)>,
    id_prefix: String,
    /// Requests handed out so far (warm-up included); ids come from it.
    next: AtomicU64,
}

/// Stands for the train id in a rendered body; JSON leaves it as it is.
const ID_MARK: &str = "@@train-id@@";

impl Load {
    fn new(addrs: Vec<SocketAddr>, endpoint: Endpoint, templates: &[Case], id_prefix: String) -> Result<Load> {
        // Rendered once, so that the generator's own CPU per request (shared
        // with the server on this machine) is writing the request, not JSON.
        let bodies = templates
            .iter()
            .map(|case| {
                let mut train = case.train.clone();
                train.id = ID_MARK.to_string();
                let body = match endpoint {
                    Endpoint::Approve => serde_json::to_string(&train)?,
                    Endpoint::Evaluate => json!({ "train": train }).to_string(),
                };
                let (before, after) = body.split_once(ID_MARK).context("the rendered train has no id")?;
                Ok((before.to_string(), after.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Load { addrs, endpoint, bodies, id_prefix, next: AtomicU64::new(0) })
    }

    fn request(&self, n: u64) -> Vec<u8> {
        let (before, after) = &self.bodies[(n % self.bodies.len() as u64) as usize];
        let path = match self.endpoint {
            Endpoint::Approve => "/v1/trains",
            Endpoint::Evaluate => "/v1/evaluate",
        };
        post(path, PIPELINE_TOKEN, &format!("{before}{}{n:09}{after}", self.id_prefix))
    }
}

#[derive(Default)]
struct Tally {
    latencies: Option<hdrhistogram::Histogram<u64>>,
    errors: u64,
    first_error: Option<String>,
    outcomes: BTreeMap<String, u64>,
}

/// What a response says: the train's state (approve) or the decision's outcome (evaluate).
fn verdict(endpoint: Endpoint, body: &[u8]) -> String {
    let key: &[u8] = match endpoint {
        Endpoint::Approve => b"\"state\":\"",
        Endpoint::Evaluate => b"\"outcome\":\"",
    };
    body.windows(key.len())
        .position(|w| w == key)
        .map(|i| {
            let rest = &body[i + key.len()..];
            let end = rest.iter().position(|b| *b == b'"').unwrap_or(0);
            String::from_utf8_lossy(&rest[..end]).into_owned()
        })
        .unwrap_or_else(|| "?".into())
}

/// One simulated pipeline: requests back to back until `limit` requests were
/// handed out (across all clients) or the deadline passes.
async fn client(load: Arc<Load>, conn: &mut Conn, limit: u64, deadline: Instant, record: bool) -> Result<Tally> {
    let mut tally = Tally { latencies: Some(histogram()), ..Tally::default() };
    loop {
        let n = load.next.fetch_add(1, Ordering::Relaxed);
        if n >= limit || Instant::now() >= deadline {
            break;
        }
        let request = load.request(n);
        let started = Instant::now();
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, conn.send(&request))
            .await
            .with_context(|| format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))??;
        let ns = started.elapsed().as_nanos() as u64;
        if !record {
            continue;
        }
        if let Some(h) = tally.latencies.as_mut() {
            h.record(ns.max(1))?;
        }
        if status == 200 {
            *tally.outcomes.entry(verdict(load.endpoint, &body)).or_insert(0) += 1;
        } else {
            tally.errors += 1;
            tally.first_error.get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
    }
    Ok(tally)
}

fn run(flags: &Flags) -> Result<()> {
    let addrs = flags.addrs()?;
    let endpoint = match flags.required("endpoint")? {
        "approve" => Endpoint::Approve,
        "evaluate" => Endpoint::Evaluate,
        other => bail!("--endpoint must be approve or evaluate, not `{other}`"),
    };
    let clients: usize = flags.number("clients", 64)?;
    let requests: u64 = flags.number("requests", 20_000)?;
    let warmup: u64 = flags.number("warmup", 1_000)?;
    let duration = Duration::from_secs_f64(flags.number("duration-secs", 30.0)?);
    let threads: usize = flags.number("threads", 1)?;
    let id_prefix = flags.get("id-prefix").unwrap_or("LD").to_string();
    let workload: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(flags.required("workload")?))?)?;
    let now: DateTime<Utc> = serde_json::from_value(workload["now"].clone())?;
    let seed = workload["seed"].as_u64().unwrap_or(SEED);

    // Trains aimed at the spread, checked against the engine, reused with fresh ids.
    let realistic = Realistic::new(now, seed)?;
    let evaluator = signalbox_benches::evaluator(&shipped_policies_dir(), &realistic.config)?;
    let templates = realistic.cases(Some(&evaluator), 1_000, seed ^ 0x10ad, 1);
    let name = if endpoint == Endpoint::Approve { "approve (POST /v1/trains)" } else { "evaluate (POST /v1/evaluate)" };
    println!(
        "{name}: {clients} clients, {warmup} warm-up + up to {requests} requests, at most {:.0} s",
        duration.as_secs_f64()
    );
    println!("trains drawn from: {}", spread_line(&templates));

    if addrs.len() > 1 {
        println!(
            "spread over {} servers: {}",
            addrs.len(),
            addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        );
    }
    let load = Arc::new(Load::new(addrs, endpoint, &templates, id_prefix)?);
    let rt = runtime(threads)?;
    let mut cpu_before = 0.0;
    let (tally, elapsed) = rt.block_on(async {
        let mut conns = Vec::with_capacity(clients);
        for i in 0..clients {
            conns.push(Conn::connect(load.addrs[i % load.addrs.len()]).await?);
        }
        // Warm-up, then the measured phase, each with every client busy.
        let mut tally = Tally::default();
        let mut elapsed = Duration::ZERO;
        for (limit, record) in [(warmup, false), (warmup + requests, true)] {
            cpu_before = cpu_seconds().unwrap_or(0.0);
            let started = Instant::now();
            let deadline = started + if record { duration } else { Duration::from_secs(60) };
            let mut tasks = Vec::with_capacity(clients);
            for mut conn in conns.drain(..) {
                let load = Arc::clone(&load);
                tasks.push(tokio::spawn(async move {
                    let tally = client(load, &mut conn, limit, deadline, record).await;
                    (conn, tally)
                }));
            }
            for task in tasks {
                let (conn, result) = task.await?;
                conns.push(conn);
                let t = result?;
                if record {
                    merge(&mut tally, t)?;
                }
            }
            elapsed = started.elapsed();
            // Clients overshoot the counter by one each when they stop; ids below `limit` were used.
            load.next.store(limit, Ordering::Relaxed);
        }
        anyhow::Ok((tally, elapsed))
    })?;

    let h = tally.latencies.unwrap_or_else(histogram);
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e6;
    let rate = h.len() as f64 / elapsed.as_secs_f64();
    let outcomes: Vec<String> = tally.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "{name}: {} requests in {:.2} s = {rate:.0}/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; errors {}; {}",
        h.len(),
        elapsed.as_secs_f64(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        h.max() as f64 / 1e6,
        tally.errors,
        outcomes.join(", ")
    );
    if let Some(cpu) = cpu_seconds() {
        println!(
            "load generator's own CPU: {:.0} µs per request (it shares the machine with the server)",
            (cpu - cpu_before) * 1e6 / h.len().max(1) as f64
        );
    }
    if let Some(e) = &tally.first_error {
        println!("first error: {e}");
    }
    println!(
        "RESULT endpoint={} requests={} seconds={:.3} rate={rate:.0} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2} errors={}",
        if endpoint == Endpoint::Approve { "approve" } else { "evaluate" },
        h.len(),
        elapsed.as_secs_f64(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        h.max() as f64 / 1e6,
        tally.errors
    );
    if tally.errors > 0 {
        bail!("{} requests failed", tally.errors);
    }
    Ok(())
}

fn merge(into: &mut Tally, from: Tally) -> Result<()> {
    match (&mut into.latencies, from.latencies) {
        (Some(a), Some(b)) => a.add(b)?,
        (slot @ None, b) => *slot = b,
        _ => {}
    }
    into.errors += from.errors;
    if into.first_error.is_none() {
        into.first_error = from.first_error;
    }
    for (k, v) in from.outcomes {
        *into.outcomes.entry(k).or_insert(0) += v;
    }
    Ok(())
}

/// User + system CPU time of this process so far (Linux: `/proc/self/stat`, 100 ticks a second).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
