//! The PostgreSQL client, chosen by measurement (docs/performance.md,
//! "Replicas"): the synchronous `postgres` crate, which the store uses, side
//! by side with `tokio-postgres`, the async client it wraps, in one run, on
//! the statements the store's write path makes: a write transaction (BEGIN,
//! the write lock, the generation, one insert, COMMIT) and a read (one
//! `SELECT` by key), one client at a time and eight at once.
//!
//! ```sh
//! cargo run --release -p signalbox-benches --example pg_clients -- "$(bash .ci/pg.sh)"
//! ```
//!
//! It works in a database of its own (`sbx_pg_clients`), dropped at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // a measuring tool

use std::time::{Duration, Instant};

const WRITES: usize = 2_000;
const READS: usize = 20_000;
const CLIENTS: usize = 8;
const WRITE_LOCK: i64 = 0x73_6277_7269_7465;

fn main() {
    let admin = std::env::args().nth(1).expect("usage: pg_clients POSTGRES_URL (bash .ci/pg.sh prints one)");
    let (server, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{server}/sbx_pg_clients");
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    client.batch_execute("DROP DATABASE IF EXISTS sbx_pg_clients WITH (FORCE)").unwrap();
    client.batch_execute("CREATE DATABASE sbx_pg_clients").unwrap();
    let mut store = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    signalbox_store::pg::migrate(&mut store).unwrap();
    for i in 0..1000 {
        store.execute("INSERT INTO meta (key, value) VALUES ($1, 'v')", &[&format!("k{i}")]).unwrap();
    }

    let rows = [
        ("sync `postgres`, 1 client", sync_run(&url, 1)),
        ("async `tokio-postgres`, 1 client", async_run(&url, 1)),
        ("sync `postgres`, 8 clients", sync_run(&url, CLIENTS)),
        ("async `tokio-postgres`, 8 clients", async_run(&url, CLIENTS)),
    ];
    println!("| client | write transaction | read |");
    println!("|---|---|---|");
    for (name, (write, read)) in rows {
        println!("| {name} | {:.0} µs ({:.0}/s) | {:.0} µs ({:.0}/s) |", write.0, write.1, read.0, read.1);
    }
    drop(store);
    client.batch_execute("DROP DATABASE IF EXISTS sbx_pg_clients WITH (FORCE)").unwrap();
}

/// Mean latency in µs and total throughput per second of `count` operations
/// over `clients` clients taking `elapsed`.
fn figures(latencies: &[Duration], elapsed: Duration) -> (f64, f64) {
    let mean = latencies.iter().map(Duration::as_secs_f64).sum::<f64>() / latencies.len() as f64 * 1e6;
    (mean, latencies.len() as f64 / elapsed.as_secs_f64())
}

fn sync_run(url: &str, clients: usize) -> ((f64, f64), (f64, f64)) {
    let run = |write: bool| {
        let started = Instant::now();
        let latencies: Vec<Duration> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..clients)
                .map(|c| {
                    scope.spawn(move || {
                        let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                        let n = if write { WRITES } else { READS } / clients;
                        let insert = client.prepare("INSERT INTO seen (key, until) VALUES ($1, 'x')").unwrap();
                        let lock = client.prepare("SELECT pg_advisory_xact_lock($1)").unwrap();
                        let generation = client.prepare("SELECT generation FROM inputs").unwrap();
                        let read = client.prepare("SELECT value FROM meta WHERE key = $1").unwrap();
                        (0..n)
                            .map(|i| {
                                let t = Instant::now();
                                if write {
                                    let mut tx = client.transaction().unwrap();
                                    tx.query(&lock, &[&WRITE_LOCK]).unwrap();
                                    tx.query(&generation, &[]).unwrap();
                                    tx.execute(&insert, &[&format!("s{clients}-{c}-{i}")]).unwrap();
                                    tx.commit().unwrap();
                                } else {
                                    client.query(&read, &[&format!("k{}", i % 1000)]).unwrap();
                                }
                                t.elapsed()
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        figures(&latencies, started.elapsed())
    };
    (run(true), run(false))
}

fn async_run(url: &str, clients: usize) -> ((f64, f64), (f64, f64)) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut results = Vec::new();
        for write in [true, false] {
            let started = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..clients {
                let url = url.to_string();
                tasks.push(tokio::spawn(async move {
                    let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                    tokio::spawn(connection);
                    let n = if write { WRITES } else { READS } / clients;
                    let insert = client.prepare("INSERT INTO seen (key, until) VALUES ($1, 'x')").await.unwrap();
                    let lock = client.prepare("SELECT pg_advisory_xact_lock($1)").await.unwrap();
                    let generation = client.prepare("SELECT generation FROM inputs").await.unwrap();
                    let read = client.prepare("SELECT value FROM meta WHERE key = $1").await.unwrap();
                    let mut latencies = Vec::with_capacity(n);
                    for i in 0..n {
                        let t = Instant::now();
                        if write {
                            let tx = client.transaction().await.unwrap();
                            tx.query(&lock, &[&WRITE_LOCK]).await.unwrap();
                            tx.query(&generation, &[]).await.unwrap();
                            tx.execute(&insert, &[&format!("a{clients}-{c}-{i}")]).await.unwrap();
                            tx.commit().await.unwrap();
                        } else {
                            client.query(&read, &[&format!("k{}", i % 1000)]).await.unwrap();
                        }
                        latencies.push(t.elapsed());
                    }
                    latencies
                }));
            }
            let mut latencies = Vec::new();
            for task in tasks {
                latencies.extend(task.await.unwrap());
            }
            results.push(figures(&latencies, started.elapsed()));
        }
        (results[0], results[1])
    })
}
