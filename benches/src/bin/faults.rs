//! Fault loops against the real server on loopback: `kill -9` under load, and
//! a full disk under load. Each checks what the server promises: every
//! acknowledged train is there afterwards with its `decision_id` and audit
//! records, a full disk answers 503 `store_unavailable` and fails readiness
//! while reads go on, and service comes back by itself.
//!
//! ```text
//! faults kill9     --signalbox BIN --cycles N [--clients C]
//! faults disk-full --signalbox BIN --dir DATA_DIR --grow "COMMAND"
//! faults pg-restart --signalbox BIN --database URL --stop "COMMAND" --start "COMMAND"
//! ```
//!
//! `pg-restart` runs two replicas on the PostgreSQL database at `--database`
//! under load, stops PostgreSQL with `--stop` and starts it again with
//! `--start` (the script runs `pg_ctlcluster`): submissions are refused with
//! 503 while it is down, readiness fails, nothing acknowledged is lost, and
//! both replicas serve again without being restarted.
//!
//! `disk-full` expects `--dir` on a small file system (the script
//! `benches/faults.sh` mounts a tmpfs) and runs `--grow` (e.g. a remount with
//! more room) once the disk has filled. It only ever talks to 127.0.0.1.

// A test tool, not library code: a broken setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{TimeDelta, Utc};
use serde_json::{json, Value};

const PIPELINE: &str = "faults-pipeline-token";
const CHAT: &str = "faults-chat-token";
const PATIENCE: Duration = Duration::from_secs(30);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let signalbox = PathBuf::from(flag("--signalbox").context("--signalbox BIN")?);
    match args.get(1).map(String::as_str) {
        Some("kill9") => {
            let cycles = flag("--cycles").map_or(Ok(20), |c| c.parse())?;
            let clients = flag("--clients").map_or(Ok(8), |c| c.parse())?;
            kill9(&signalbox, cycles, clients)
        }
        Some("disk-full") => {
            let dir = PathBuf::from(flag("--dir").context("--dir DATA_DIR")?);
            disk_full(&signalbox, &dir, &flag("--grow").context("--grow COMMAND")?)
        }
        Some("pg-restart") => pg_restart(
            &signalbox,
            &flag("--database").context("--database URL")?,
            &flag("--stop").context("--stop COMMAND")?,
            &flag("--start").context("--start COMMAND")?,
        ),
        _ => bail!("usage: faults kill9|disk-full --signalbox BIN ..."),
    }
}

fn config(data_dir: &Path) -> String {
    let sha = signalbox_server::auth::sha256_hex;
    format!(
        r#"environments = ["stage", "production"]
[server]
listen = "127.0.0.1:0"
data_dir = {data_dir:?}
[[auth.tokens]]
name = "faults"
role = "pipeline"
sha256 = "{}"
[[auth.tokens]]
name = "bridge"
role = "chat"
sha256 = "{}"
[[auth.tokens]]
name = "faults-conductor"
role = "conductor"
sha256 = "{}"
[regions.us-south]
timezone = "America/Chicago"
[[slas]]
squad = "tugboat-updater"
"#,
        sha(PIPELINE),
        sha(CHAT),
        sha("faults-conductor-token")
    )
}

struct Server {
    child: Child,
    address: String,
}

impl Server {
    fn start(signalbox: &Path, config: &Path) -> Result<(Server, Duration)> {
        Server::start_on(signalbox, config, None)
    }

    /// [`Server::start`] on the PostgreSQL database at `database`, if any.
    fn start_on(signalbox: &Path, config: &Path, database: Option<&str>) -> Result<(Server, Duration)> {
        let started = Instant::now();
        let mut command = Command::new(signalbox);
        command.env_remove("SIGNALBOX_DATABASE_URL");
        if let Some(url) = database {
            command.env("SIGNALBOX_DATABASE_URL", url);
        }
        let mut child = command
            .args(["serve", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines.next().context("the server exited before listening")??;
            if let Some(rest) = line.strip_prefix("signalbox listening on http://") {
                break rest.split_whitespace().next().unwrap_or_default().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let server = Server { child, address };
        server.until("ready", |s| matches!(s.call("GET", "/readyz", None, None), Ok((200, _))))?;
        Ok((server, started.elapsed()))
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        http(&self.address, method, path, token, body)
    }

    fn until(&self, what: &str, mut done: impl FnMut(&Server) -> bool) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        while !done(self) {
            if Instant::now() > deadline {
                bail!("not within {PATIENCE:?}: {what}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or(std::io::ErrorKind::InvalidData)?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// A train an hour ahead, in a window that is always open (stage, squad with an SLA).
fn train(id: &str) -> Value {
    let now = Utc::now();
    json!({
        "id": id, "squad": "tugboat-updater", "service": "auto-update", "configuration_item": "containers-kubernetes",
        "environment": "stage", "regions": ["us-south"], "title": format!("Deploy {id}"),
        "planned_start": (now + TimeDelta::hours(1)).to_rfc3339(), "planned_end": (now + TimeDelta::hours(2)).to_rfc3339()
    })
}

/// What the clients saw: trains acknowledged (id, decision id), and requests without an answer.
#[derive(Default)]
struct Seen {
    acked: Vec<(String, String)>,
    in_doubt: Vec<String>,
    refused: usize,
}

/// Clients submitting distinct trains until `stop`; each id is used once.
fn clients(
    address: &str,
    prefix: &str,
    n: usize,
    stop: &Arc<AtomicBool>,
    seen: &Arc<Mutex<Seen>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|c| {
            let (address, prefix, stop, seen) = (address.to_string(), prefix.to_string(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let id = format!("{prefix}{c}{i:06}");
                    i += 1;
                    match http(&address, "POST", "/v1/trains", Some(PIPELINE), Some(&train(&id))) {
                        Ok((200, view)) => {
                            let decision = view["decision"]["decision_id"].as_str().unwrap_or_default().to_string();
                            seen.lock().unwrap().acked.push((id, decision));
                        }
                        Ok((_, _)) => seen.lock().unwrap().refused += 1,
                        Err(_) => {
                            seen.lock().unwrap().in_doubt.push(id);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect()
}

/// Every acknowledged train, with the decision it was answered and its audit records.
fn lost(server: &Server, acked: &[(String, String)]) -> Result<Vec<String>> {
    let mut lost = Vec::new();
    for (id, decision) in acked {
        let (status, view) = server.call("GET", &format!("/v1/trains/{id}"), Some(PIPELINE), None)?;
        let history = view["history"].as_array().map_or(0, Vec::len);
        if status != 200 || view["decision"]["decision_id"].as_str() != Some(decision) || history < 2 {
            lost.push(id.clone());
        }
    }
    Ok(lost)
}

fn kill9(signalbox: &Path, cycles: usize, n_clients: usize) -> Result<()> {
    let work = tempfile::tempdir()?;
    let config_path = work.path().join("signalbox.toml");
    std::fs::write(&config_path, config(&work.path().join("data")))?;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let mut restarts = Vec::new();
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    for cycle in 0..cycles {
        let (mut server, ready) = Server::start(signalbox, &config_path)?;
        restarts.push(ready);
        let stop = Arc::new(AtomicBool::new(false));
        let acked_before = seen.lock().unwrap().acked.len();
        let workers = clients(&server.address, &format!("CHG{cycle:03}"), n_clients, &stop, &seen);
        // Kill after 50-200 more acknowledgements, at a moment the clients do not choose.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let target = acked_before + 50 + usize::try_from(rng % 150).unwrap_or(0);
        let deadline = Instant::now() + PATIENCE;
        while seen.lock().unwrap().acked.len() < target && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        server.child.kill()?;
        server.child.wait()?;
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().ok();
        }
    }
    let (server, ready) = Server::start(signalbox, &config_path)?;
    restarts.push(ready);
    let seen = seen.lock().unwrap();
    let lost = lost(&server, &seen.acked)?;
    let in_doubt_stored = seen
        .in_doubt
        .iter()
        .filter(|id| matches!(server.call("GET", &format!("/v1/trains/{id}"), Some(PIPELINE), None), Ok((200, _))))
        .count();
    let slowest = restarts.iter().max().copied().unwrap_or_default();
    let mean = restarts.iter().sum::<Duration>() / u32::try_from(restarts.len()).unwrap_or(1);
    println!(
        "kill9: {cycles} cycles, {} acknowledged, {} lost, {} in doubt ({in_doubt_stored} of them stored), restart to ready mean {} ms, max {} ms",
        seen.acked.len(),
        lost.len(),
        seen.in_doubt.len(),
        mean.as_millis(),
        slowest.as_millis()
    );
    if !lost.is_empty() {
        bail!("acknowledged trains lost: {:?}", &lost[..lost.len().min(10)]);
    }
    Ok(())
}

fn disk_full(signalbox: &Path, dir: &Path, grow: &str) -> Result<()> {
    let work = tempfile::tempdir()?;
    let config_path = work.path().join("signalbox.toml");
    std::fs::write(&config_path, config(dir))?;
    let (server, _) = Server::start(signalbox, &config_path)?;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers = clients(&server.address, "CHG", 4, &stop, &seen);
    // Until the disk is full: submissions refused.
    server.until("submissions refused with the disk full", |_| seen.lock().unwrap().refused > 20)?;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().ok();
    }
    let first =
        seen.lock().unwrap().acked.first().cloned().context("nothing was acknowledged before the disk filled")?;
    let (status, body) = server.call("POST", "/v1/trains", Some(PIPELINE), Some(&train("CHG9999999")))?;
    let code = body["error"]["code"].as_str().unwrap_or_default().to_string();
    if status != 503 || code != "store_unavailable" {
        bail!("a submission on a full disk got {status} {body}");
    }
    if let Err(e) = server.until("/readyz turns 503", |s| matches!(s.call("GET", "/readyz", None, None), Ok((503, _))))
    {
        bail!(
            "{e}: the last submission got {status} {body}; /readyz says {:?}",
            server.call("GET", "/readyz", None, None)
        );
    }
    let (status, _) = server.call("GET", &format!("/v1/trains/{}", first.0), Some(PIPELINE), None)?;
    let describe = json!({"user": "U1", "text": format!("describe {}", first.0)});
    let (chat_status, reply) = server.call("POST", "/v1/chat", Some(CHAT), Some(&describe))?;
    if status != 200 || chat_status != 200 || reply["status"] != "done" {
        bail!("reads failed on a full disk: GET {status}, describe {chat_status} {reply}");
    }
    let grown = Command::new("sh").args(["-c", grow]).status()?;
    if !grown.success() {
        bail!("`{grow}` failed");
    }
    let recovered = Instant::now();
    server.until("/readyz back to 200", |s| matches!(s.call("GET", "/readyz", None, None), Ok((200, _))))?;
    let (status, body) = server.call("POST", "/v1/trains", Some(PIPELINE), Some(&train("CHG9999998")))?;
    if status != 200 {
        bail!("writes did not resume: {status} {body}");
    }
    let seen = seen.lock().unwrap();
    let lost = lost(&server, &seen.acked)?;
    println!(
        "disk-full: {} acknowledged before the disk filled, {} refused with 503, {} lost; ready again {} ms after space returned, without a restart",
        seen.acked.len(),
        seen.refused,
        lost.len(),
        recovered.elapsed().as_millis()
    );
    if !lost.is_empty() {
        bail!("acknowledged trains lost: {lost:?}");
    }
    Ok(())
}

fn pg_restart(signalbox: &Path, database: &str, stop_db: &str, start_db: &str) -> Result<()> {
    let work = tempfile::tempdir()?;
    let config_path = work.path().join("signalbox.toml");
    std::fs::write(&config_path, config(&work.path().join("data")))?;
    let (a, _) = Server::start_on(signalbox, &config_path, Some(database))?;
    let (b, _) = Server::start_on(signalbox, &config_path, Some(database))?;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = clients(&a.address, "CHGA", 4, &stop, &seen);
    workers.extend(clients(&b.address, "CHGB", 4, &stop, &seen));
    a.until("200 acknowledgements", |_| seen.lock().unwrap().acked.len() >= 200)?;
    let before = seen.lock().unwrap().acked.len();
    if !Command::new("sh").args(["-c", stop_db]).status()?.success() {
        bail!("`{stop_db}` failed");
    }
    let down = Instant::now();
    let at_down = seen.lock().unwrap().acked.len();
    for server in [&a, &b] {
        server.until("/readyz turns 503", |s| matches!(s.call("GET", "/readyz", None, None), Ok((503, _))))?;
        let (status, body) = server.call("POST", "/v1/trains", Some(PIPELINE), Some(&train("CHG9999999")))?;
        let code = body["error"]["code"].as_str().unwrap_or_default();
        if status != 503 || code != "store_unavailable" {
            bail!("a submission with PostgreSQL down got {status} {body}");
        }
    }
    a.until("submissions refused while down", |_| seen.lock().unwrap().refused > 20)?;
    let acked_while_down = seen.lock().unwrap().acked.len() - at_down;
    if !Command::new("sh").args(["-c", start_db]).status()?.success() {
        bail!("`{start_db}` failed");
    }
    let up = Instant::now();
    for server in [&a, &b] {
        server.until("/readyz back to 200", |s| matches!(s.call("GET", "/readyz", None, None), Ok((200, _))))?;
    }
    let ready_after = up.elapsed();
    let resumed = seen.lock().unwrap().acked.len();
    a.until("submissions acknowledged again", |_| seen.lock().unwrap().acked.len() >= resumed + 100)?;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().ok();
    }
    let seen = seen.lock().unwrap();
    let lost_a = lost(&a, &seen.acked)?;
    let lost_b = lost(&b, &seen.acked)?;
    println!(
        "pg-restart: 2 replicas, {} acknowledged ({} before the stop, {} after it returned, PostgreSQL down {} ms), {} refused with 503, {} in doubt, {} lost; both ready again {} ms after PostgreSQL returned, without a restart",
        seen.acked.len(),
        before,
        acked_while_down,
        up.duration_since(down).as_millis(),
        seen.refused,
        seen.in_doubt.len(),
        lost_a.len().max(lost_b.len()),
        ready_after.as_millis()
    );
    if !lost_a.is_empty() || !lost_b.is_empty() {
        bail!("acknowledged trains lost: {lost_a:?} {lost_b:?}");
    }
    Ok(())
}
