//! Connection exhaustion, against the real binary on loopback: idle and
//! half-sent connections beyond `server.max_connections` do not stop
//! `/healthz` from answering within a second, the oldest idle ones are closed
//! to make room, and every idle one is closed within its time-out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CAP: usize = 16;

struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Server {
    let text = common::live_config_text(None, chrono::Utc::now()).replace(
        "data_dir = \"data\"\n",
        &format!("data_dir = \"data\"\nmax_connections = {CAP}\nheader_timeout = \"2s\"\nidle_timeout = \"3s\"\n"),
    );
    let config = dir.join("signalbox.toml");
    std::fs::write(&config, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("the server printed where it listens").unwrap();
        if let Some(rest) = line.strip_prefix("signalbox listening on http://") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Server { child, address }
}

/// `GET /healthz` on a new connection: its status line and how long it took.
fn healthz(address: &str) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: signalbox\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    (answer.lines().next().unwrap_or_default().to_string(), started.elapsed())
}

/// Whether the server has closed `stream`: reads until end of file, an error,
/// or `within` has passed (then `false`).
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_and_half_sent_connections_cannot_exhaust_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let (status, _) = healthz(&server.address);
    assert!(status.contains("200"), "{status}");

    // Four times the cap: idle sockets and sockets that send half their headers.
    let mut sockets = Vec::new();
    for i in 0..CAP * 4 {
        let mut stream = TcpStream::connect(&server.address).unwrap();
        if i % 2 == 1 {
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: signalbox\r\nX-Slow: ").unwrap();
        }
        sockets.push(stream);
    }
    // A health check does not queue behind them.
    for _ in 0..3 {
        let (status, took) = healthz(&server.address);
        assert!(status.contains("200"), "{status}");
        assert!(took < Duration::from_secs(1), "/healthz took {took:?} with {} idle sockets open", sockets.len());
    }
    // The oldest were closed to make room: at most CAP of ours are still open.
    let mut shed = 0;
    for stream in sockets.iter_mut().take(CAP * 3) {
        shed += usize::from(closed_within(stream, Duration::from_millis(500)));
    }
    assert!(shed >= CAP * 3 - CAP, "only {shed} of the {} oldest sockets were closed at the cap", CAP * 3);
    // And every one is closed within the time-outs (headers 2 s, idle 3 s), with room to spare.
    for (i, stream) in sockets.iter_mut().enumerate() {
        assert!(closed_within(stream, Duration::from_secs(8)), "socket {i} is still open");
    }
    let (status, took) = healthz(&server.address);
    assert!(status.contains("200") && took < Duration::from_secs(1), "{status} in {took:?}");
}

/// A keep-alive connection that sent one request and then nothing is closed
/// after the idle time-out (3 s here), not kept for ever.
#[test]
fn a_keep_alive_connection_left_idle_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: signalbox\r\n\r\n").unwrap();
    let mut buf = [0u8; 1024];
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = stream.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(10)), "the idle keep-alive connection is still open");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1500), "closed after {took:?}: too early for a 2-3 s time-out");
}

/// One raw request; the status line and the body of the answer.
fn raw(address: &str, request: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// Over-long request targets and headers are answered 414 and 431 in the
/// API's error shape, not by the HTTP parser with an empty body.
#[test]
fn over_long_heads_get_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let long_target = format!("/v1/trains?squad={}", "a".repeat(10 * 1024));
    let big_header = format!("X-Big: {}\r\n", "b".repeat(40 * 1024));
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    for (what, request, status) in [
        ("a 10 KiB target", format!("GET {long_target} HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n"), "414"),
        (
            "a 40 KiB header",
            format!("GET /healthz HTTP/1.1\r\nHost: s\r\n{big_header}Connection: close\r\n\r\n"),
            "431",
        ),
        ("150 headers", format!("GET /healthz HTTP/1.1\r\nHost: s\r\n{many_headers}Connection: close\r\n\r\n"), "431"),
    ] {
        let (line, body) = raw(&server.address, &request);
        assert!(line.contains(status), "{what}: {line}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert!(json["error"]["message"].is_string(), "{what}: not the JSON error shape: {body:?}");
    }
}
