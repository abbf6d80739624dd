//! The real `signalbox` binary on a loopback port, for the tests that start it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Server {
    pub child: Child,
    pub address: String,
    /// Everything the server wrote on stderr so far (drained continuously, so it never blocks).
    pub stderr: Arc<Mutex<String>>,
    /// The thread draining stderr: it ends at end of file, once the server has exited.
    pub drain: Option<JoinHandle<()>>,
    /// Lines printed on stdout before "listening" (the bootstrap token, if any).
    pub banner: Vec<String>,
}

impl Server {
    /// Starts `signalbox serve` in `dir` and waits for it to say where it listens.
    pub fn start(dir: &Path, config: Option<&Path>) -> Server {
        Server::start_on(dir, config, database_for(dir).as_deref())
    }

    /// [`Server::start`] on the PostgreSQL database at `database` (a replica of
    /// every other server on it), or on SQLite in `dir/data` without one.
    #[allow(clippy::zombie_processes)] // `Drop for Server` kills and waits.
    pub fn start_on(dir: &Path, config: Option<&Path>, database: Option<&str>) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_signalbox"));
        cmd.current_dir(dir).arg("serve").arg("--listen").arg("127.0.0.1:0").env_remove("RUST_LOG");
        cmd.env_remove("SIGNALBOX_DATABASE_URL");
        if let Some(url) = database {
            cmd.env("SIGNALBOX_DATABASE_URL", url);
        }
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr: Arc<Mutex<String>> = Arc::default();
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let drain = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        loop {
            let line = lines.next().expect("the server exited before listening").unwrap();
            if let Some(rest) = line.strip_prefix("signalbox listening on http://") {
                let address = rest.split_whitespace().next().unwrap().to_string();
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines.by_ref() {});
                return Server { child, address, stderr, drain: Some(drain), banner };
            }
            banner.push(line);
        }
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        http(&self.address, method, path, token, body)
    }

    /// Sends signal `name` (`HUP`, `TERM`) once the server has installed its handler for
    /// it: it prints "listening" before it does, and an uncaught SIGHUP would kill it.
    pub fn signal(&self, name: &str) {
        let number = match name {
            "HUP" => 1,
            "TERM" => 15,
            other => panic!("no signal number for {other}"),
        };
        let status_file = format!("/proc/{}/status", self.child.id());
        let catches = || {
            let status = std::fs::read_to_string(&status_file).unwrap_or_default();
            let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:")).unwrap_or("0").trim().to_string();
            u64::from_str_radix(&mask, 16).unwrap_or(0) & (1 << (number - 1)) != 0
        };
        wait_until(&format!("the server catches SIG{name}"), catches);
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }

    pub fn wait_ready(&self) {
        wait_until("the server is ready", || matches!(self.call("GET", "/readyz", None, None), Ok((200, _))));
    }

    /// Waits until the server has logged `needle` on stderr.
    pub fn wait_log(&self, needle: &str) {
        wait_until(&format!("the server logs {needle:?}"), || self.stderr.lock().unwrap().contains(needle));
    }

    /// Everything the server wrote on stderr, once it has exited: waits for the drain thread.
    pub fn final_stderr(&mut self) -> String {
        if let Some(drain) = self.drain.take() {
            drain.join().unwrap();
        }
        self.stderr.lock().unwrap().clone()
    }
}

/// When the run is against PostgreSQL (`SIGNALBOX_TEST_BACKEND=postgres`),
/// the database of the server started in `dir`: one per directory, so a
/// server started again in the same directory finds its data, as it does in
/// `data/` on SQLite. Kept until the test binary exits (`.ci/pg.sh` drops
/// what is left of earlier runs).
pub fn database_for(dir: &Path) -> Option<String> {
    use signalbox_store::testing::TestDatabase;
    use std::collections::HashMap;
    use std::sync::OnceLock;
    if !super::on_postgres() {
        return None;
    }
    static DATABASES: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<TestDatabase>>>> = OnceLock::new();
    let mut databases = DATABASES.get_or_init(Mutex::default).lock().unwrap();
    let database = databases.entry(dir.to_path_buf()).or_insert_with(|| {
        let database =
            TestDatabase::create().unwrap().expect("SIGNALBOX_TEST_BACKEND=postgres needs SIGNALBOX_TEST_DATABASE_URL");
        Arc::new(database)
    });
    Some(database.url.clone())
}

/// How long to wait for something the server should do.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls `condition` until it holds, failing the test after [`PATIENCE`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {PATIENCE:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client: one request per connection.
pub fn http(
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
    let value = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    Ok((status, value))
}
