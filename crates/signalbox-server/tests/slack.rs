//! The Slack transports, end to end: the real `signalbox` binary with the Slack
//! secrets in its environment, talking to a fake Slack Web API on a loopback
//! port that records every request it receives. Requests to the server are
//! signed here, independently of the server's own code, as Slack signs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sha2::Sha256;
use tower::ServiceExt;

const SECRET: &str = "test-signing-secret-8f742231b10e";
const BOT_TOKEN: &str = "xoxb-test-bot-token";
const BOT_USER: &str = "UBOTSIGNAL";
const CONDUCTOR: &str = "U024BE7LH";
const PROD: &str = "#cfs-prod-trains";
const STAGE: &str = "#cfs-stage-trains";
const EXCEPTION: &str = "create exception approved global.business_hours lasting 4h for containers-kubernetes tugboat-updater auto-update because tugboat-updater was approved to deploy during US-South hours for patch updates only";
/// How long to wait for something Slack should receive.
const PATIENCE: Duration = Duration::from_secs(20);

/// `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>`, as Slack computes it.
fn slack_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// One request the fake Slack received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    authorization: Option<String>,
    body: Value,
}

impl Received {
    fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or_default()
    }
}

/// A fake Slack Web API on a loopback port: answers `{"ok": true}` to
/// everything and records what it was sent.
struct FakeSlack {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeSlack {
    fn start() -> FakeSlack {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || {
                    if let Some(r) = read_request(stream) {
                        record.lock().unwrap().push(r);
                    }
                });
            }
        });
        FakeSlack { base, received }
    }

    fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn count(&self, matches: impl Fn(&Received) -> bool) -> usize {
        self.all().iter().filter(|r| matches(r)).count()
    }

    /// The first request matching, waiting for it at most [`PATIENCE`].
    fn wait_for(&self, what: &str, matches: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(r) = self.all().into_iter().find(|r| matches(r)) {
                return r;
            }
            assert!(Instant::now() < deadline, "Slack never received {what}; it received: {:#?}", self.all());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits at most [`PATIENCE`] until `count` requests match.
    fn wait_count(&self, what: &str, count: usize, matches: impl Fn(&Received) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while self.count(&matches) < count {
            assert!(Instant::now() < deadline, "Slack never received {what}; it received: {:#?}", self.all());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The reply posted in the thread `thread_ts`.
    fn reply_in(&self, thread_ts: &str) -> Received {
        self.wait_for(&format!("a reply in thread {thread_ts}"), |r| {
            r.path == "/chat.postMessage" && r.body["thread_ts"] == thread_ts
        })
    }

    fn replies_in(&self, thread_ts: &str) -> usize {
        self.count(|r| r.body["thread_ts"] == thread_ts)
    }

    /// A notice (a post outside any thread) to `channel` whose text contains `needle`.
    fn notice(&self, channel: &str, needle: &str) -> Received {
        self.wait_for(&format!("a notice in {channel} containing {needle:?}"), |r| {
            r.path == "/chat.postMessage"
                && r.body["channel"] == channel
                && r.body.get("thread_ts").is_none()
                && r.text().contains(needle)
        })
    }
}

fn read_request(stream: TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut length, mut authorization) = (0, None);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let answer = "{\"ok\":true}";
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )
    .ok()?;
    let body = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    Some(Received { path, authorization, body })
}

/// The shared test configuration with the chat channels and the fake Slack; its
/// freeze and holiday placed relative to `now` (see [`common::live_config_text`]).
fn config(slack_base: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let chat = format!(
        "[chat]\nconductors = [\"{CONDUCTOR}\"]\nslack_api_base = \"{slack_base}\"\nchannels = {{ production = \"{PROD}\", stage = \"{STAGE}\" }}\n"
    );
    let text = common::live_config_text(None, now);
    let old = format!("[chat]\nconductors = [\"{CONDUCTOR}\"]\n");
    assert!(text.contains(&old));
    text.replace(&old, &chat)
}

struct Server {
    child: Child,
    address: String,
    /// What the server logged on stderr.
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(dir: &Path, config: &Path) -> Server {
        Server::start_logging(dir, config, "info")
    }

    /// [`Server::start`] with `RUST_LOG` set to `rust_log`.
    fn start_logging(dir: &Path, config: &Path, rust_log: &str) -> Server {
        Server::start_on(dir, config, rust_log, common::server::database_for(dir).as_deref())
    }

    /// [`Server::start_logging`] on the PostgreSQL database at `database`
    /// (a replica of every other server on it), or SQLite in `dir` without one.
    fn start_on(dir: &Path, config: &Path, rust_log: &str, database: Option<&str>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_signalbox"));
        command.env_remove("SIGNALBOX_DATABASE_URL");
        if let Some(url) = database {
            command.env("SIGNALBOX_DATABASE_URL", url);
        }
        let mut child = command
            .current_dir(dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .env("SIGNALBOX_SLACK_SIGNING_SECRET", SECRET)
            .env("SIGNALBOX_SLACK_BOT_TOKEN", BOT_TOKEN)
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = child.stderr.take().unwrap();
        let log: Arc<Mutex<String>> = Arc::default();
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = keep.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let address = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("signalbox listening on http://") {
                        break rest.split_whitespace().next().unwrap().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the server exited before listening: {}", log.lock().unwrap());
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Server { child, address, log }
    }

    /// One HTTP request; the answer's status and body (JSON when it parses).
    fn request(&self, method: &str, path: &str, headers: &[(&str, String)], body: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let headers: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_string())))
    }

    /// A request signed as Slack signs it, `age` seconds ago.
    fn signed(&self, path: &str, content_type: &str, body: &str, age: i64) -> (u16, Value) {
        let timestamp = (chrono::Utc::now().timestamp() - age).to_string();
        let signature = slack_signature(SECRET, &timestamp, body);
        let headers = [
            ("Content-Type", content_type.to_string()),
            ("X-Slack-Request-Timestamp", timestamp),
            ("X-Slack-Signature", signature),
        ];
        self.request("POST", path, &headers, body)
    }

    fn event(&self, body: &Value) -> (u16, Value) {
        self.signed("/slack/events", "application/json", &body.to_string(), 0)
    }

    /// Sends an event that must be accepted.
    fn send(&self, body: &Value) {
        let (status, answer) = self.event(body);
        assert_eq!(status, 200, "{answer}");
    }

    /// Runs a slash command; its immediate answer.
    fn slash(&self, user: &str, text: &str) -> Value {
        let body = form(&[
            ("token", "legacy"),
            ("team_id", "T1"),
            ("channel_id", "CPROD"),
            ("user_id", user),
            ("command", "/signalbox"),
            ("text", text),
            ("response_url", "http://127.0.0.1:9/unused"),
        ]);
        let (status, answer) = self.signed("/slack/commands", "application/x-www-form-urlencoded", &body, 0);
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// What the server logged, once it contains `needle`, waiting for it at most [`PATIENCE`].
    fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let log = self.log.lock().unwrap().clone();
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "the server never logged {needle:?}: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn api(&self, method: &str, path: &str, role: &str, body: Option<&Value>) -> (u16, Value) {
        let headers = [
            ("Authorization", format!("Bearer {}", common::token(role))),
            ("Content-Type", "application/json".to_string()),
        ];
        self.request(method, path, &headers, &body.map(Value::to_string).unwrap_or_default())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

/// `application/x-www-form-urlencoded` encoding.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => (b as char).to_string(),
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn callback(event_id: &str, event: Value) -> Value {
    json!({
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": chrono::Utc::now().timestamp(),
        "authorizations": [{ "team_id": "T1", "user_id": BOT_USER, "is_bot": true }],
        "event": event,
    })
}

fn message(user: &str, channel: &str, ts: &str, text: &str) -> Value {
    json!({ "type": "message", "channel": channel, "channel_type": "channel", "user": user, "text": text, "ts": ts, "event_ts": ts })
}

/// A production train in us-south whose window (now, for three days) crosses
/// business hours: any 72 hours hold a whole Chicago weekday, and the configured
/// freeze and holiday are weeks away. Pending on `global.business_hours`, nothing else.
fn pending_train(id: &str) -> Value {
    let now = chrono::Utc::now();
    common::train_at(id, now, now + chrono::TimeDelta::days(3))
}

/// Two replicas on one PostgreSQL database: Slack delivers an event to one,
/// then retries it (same `event_id`) to the other, as a load balancer may
/// route it. The command runs once and is answered once; the same for a
/// slash command replayed to the other replica.
#[test]
fn a_slack_event_retried_to_another_replica_is_acted_on_once() {
    let Some(database) = signalbox_store::testing::TestDatabase::create().unwrap() else { return };
    let slack = FakeSlack::start();
    let now = chrono::Utc::now();
    let start = |dir: &Path| {
        let config_path = dir.join("signalbox.toml");
        std::fs::write(&config_path, config(&slack.base, now)).unwrap();
        Server::start_on(dir, &config_path, "info", Some(&database.url))
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (start(dir_a.path()), start(dir_b.path()));
    for round in 0..20 {
        let ts = format!("1700000300.{round:06}");
        let event = callback(&format!("EvRetried{round}"), message(CONDUCTOR, "CPROD", &ts, EXCEPTION));
        a.send(&event);
        b.send(&event);
        slack.reply_in(&ts);
        // Give a second reply time to arrive, were there one.
        std::thread::sleep(Duration::from_millis(200));
        let replies = slack.count(|r| r.body["thread_ts"] == json!(ts));
        assert_eq!(replies, 1, "round {round}: one reply to an event delivered to both replicas");
    }
    let (status, exceptions) = b.api("GET", "/v1/exceptions", "viewer", None);
    assert_eq!(status, 200);
    assert_eq!(exceptions["exceptions"].as_array().unwrap().len(), 20, "one exception per event: {exceptions}");

    // A slash command replayed to the other replica (same signature) runs once.
    let body = form(&[
        ("token", "legacy"),
        ("team_id", "T1"),
        ("channel_id", "CPROD"),
        ("user_id", CONDUCTOR),
        ("command", "/signalbox"),
        ("text", "stop trains us-south replica drill"),
        ("response_url", &format!("{}/commands/replayed", slack.base)),
        ("trigger_id", "T0"),
    ]);
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded".to_string()),
        ("X-Slack-Request-Timestamp", timestamp.clone()),
        ("X-Slack-Signature", slack_signature(SECRET, &timestamp, &body)),
    ];
    let (status, first) = a.request("POST", "/slack/commands", &headers, &body);
    assert_eq!(status, 200, "{first}");
    assert!(first["text"].as_str().unwrap().contains("stop_1"), "{first}");
    let (status, again) = b.request("POST", "/slack/commands", &headers, &body);
    assert_eq!(status, 200, "{again}");
    assert!(again["text"].as_str().unwrap().contains("already received"), "the other replica knows it: {again}");
    let (_, stops) = a.api("GET", "/v1/stops", "viewer", None);
    assert_eq!(stops["stops"].as_array().unwrap().len(), 1, "one stop for a command sent twice: {stops}");
}

#[test]
fn slack_events_and_slash_commands_end_to_end() {
    let slack = FakeSlack::start();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("signalbox.toml");
    std::fs::write(&config_path, config(&slack.base, chrono::Utc::now())).unwrap();
    let server = Server::start(dir.path(), &config_path);

    // url_verification echoes the challenge.
    let (status, answer) = server.event(&json!({ "token": "legacy", "type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" }));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["challenge"], "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");

    // Forged, stale and unsigned requests are refused with the API's error shape.
    let body =
        callback("EvForged", message(CONDUCTOR, "CPROD", "1700000000.000001", "stop trains all forged")).to_string();
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let forged = [
        ("Content-Type", "application/json".to_string()),
        ("X-Slack-Request-Timestamp", timestamp.clone()),
        ("X-Slack-Signature", slack_signature("not-the-secret", &timestamp, &body)),
    ];
    let (status, answer) = server.request("POST", "/slack/events", &forged, &body);
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"]["code"], "unauthorized", "{answer}");
    let (status, answer) = server.signed("/slack/events", "application/json", &body, 6 * 60);
    assert_eq!(status, 401, "a request signed 6 minutes ago is refused: {answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("seconds"), "{answer}");
    let (status, _) = server.request("POST", "/slack/events", &[("Content-Type", "application/json".into())], &body);
    assert_eq!(status, 401, "unsigned");
    let (status, _) = server.request(
        "POST",
        "/slack/commands",
        &[("Authorization", format!("Bearer {}", common::token("conductor")))],
        "user_id=U024BE7LH&text=oa",
    );
    assert_eq!(status, 401, "a bearer token is no substitute for Slack's signature");
    let (_, stops) = server.api("GET", "/v1/stops", "viewer", None);
    assert_eq!(stops["stops"], json!([]), "nothing forged was run");

    // A pipeline submits a train that needs a conductor: the production channel hears of it.
    let (status, view) = server.api("POST", "/v1/trains", "pipeline", Some(&pending_train("CHG7687021")));
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "pending", "{view}");
    assert_eq!(common::policies_of(&view), ["global.business_hours"], "{view}");
    let notice = slack.notice(PROD, "CHG7687021");
    assert!(notice.text().contains("⚠️ *global.business_hours*"), "{}", notice.text());
    assert!(notice.text().contains("tugboat-updater") && notice.text().contains("production"), "{}", notice.text());
    assert_eq!(notice.authorization.as_deref(), Some(format!("Bearer {BOT_TOKEN}").as_str()));

    // The conductor's exception, as typed in a channel, replied to in its thread.
    let ts = "1700000100.000100";
    server.send(&callback("EvException", message(CONDUCTOR, "CPROD", ts, EXCEPTION)));
    let reply = slack.reply_in(ts);
    assert_eq!(reply.path, "/chat.postMessage");
    assert_eq!(reply.body["channel"], "CPROD");
    assert!(reply.text().contains("exc_1") && reply.text().contains("reevaluate CHG7687021"), "{}", reply.text());
    assert_eq!(reply.authorization.as_deref(), Some(format!("Bearer {BOT_TOKEN}").as_str()));

    // Slack retries the same event (same event_id): it is not run again.
    server.send(&callback("EvException", message(CONDUCTOR, "CPROD", ts, EXCEPTION)));

    // Ignored: ordinary chat, our own and other bots' messages, edits, words to someone else.
    let ignored = [
        callback("EvChatter", message(CONDUCTOR, "CPROD", "1700000200.000001", "start the deploy after lunch")),
        callback("EvBot", {
            let mut m = message("U0BOTUSER", "CPROD", "1700000200.000002", "oa");
            m["bot_id"] = json!("B0OTHER");
            m
        }),
        callback("EvBotMessage", {
            let mut m = message(CONDUCTOR, "CPROD", "1700000200.000003", "oa");
            m["subtype"] = json!("bot_message");
            m
        }),
        callback("EvSelf", message(BOT_USER, "CPROD", "1700000200.000004", "oa")),
        callback("EvOther", message(CONDUCTOR, "CPROD", "1700000200.000005", "<@UALICE> describe CHG7687021")),
    ];
    for event in &ignored {
        server.send(event);
    }

    // A mention comes twice, as `message` and as `app_mention`: one answer, in a thread.
    let (mention_ts, thread) = ("1700000300.000100", "1700000299.000001");
    let text = format!("<@{BOT_USER}> reevaluate chg7687021");
    let mut as_message = message(CONDUCTOR, "CPROD", mention_ts, &text);
    as_message["thread_ts"] = json!(thread);
    let mut as_mention = as_message.clone();
    as_mention["type"] = json!("app_mention");
    server.send(&callback("EvMentionMessage", as_message));
    server.send(&callback("EvMentionApp", as_mention));
    let reply = slack.reply_in(thread);
    assert!(reply.text().contains("CHG7687021") && reply.text().contains("approved"), "{}", reply.text());

    // A direct message works the same way; its reply marks that everything before it was handled.
    let dm_ts = "1700000400.000100";
    let mut dm = message("U999", "D0DIRECT", dm_ts, "describe CHG7687021");
    dm["channel_type"] = json!("im");
    server.send(&callback("EvDirect", dm));
    let describe = slack.reply_in(dm_ts);
    assert_eq!(describe.body["channel"], "D0DIRECT");
    assert!(describe.text().contains("exc_1"), "describe shows the exception that applied: {}", describe.text());
    assert!(describe.text().contains("approved"), "{}", describe.text());

    assert_eq!(slack.replies_in(ts), 1, "a retried event is answered once");
    assert_eq!(slack.replies_in(thread), 1, "a mention is answered once");
    for event in &ignored {
        let ts = event["event"]["ts"].as_str().unwrap();
        assert_eq!(slack.replies_in(ts), 0, "ignored: {event}");
    }
    let (_, exceptions) = server.api("GET", "/v1/exceptions", "viewer", None);
    assert_eq!(exceptions["exceptions"].as_array().unwrap().len(), 1, "the retry created nothing: {exceptions}");

    // Slash commands answer in the channel at once, escaped for Slack.
    let answer = server.slash("U999", "describe CHG7687021");
    assert_eq!(answer["response_type"], "in_channel", "{answer}");
    assert!(answer["text"].as_str().unwrap().contains("exc_1"), "{answer}");
    let help = server.slash("U999", "help");
    assert!(help["text"].as_str().unwrap().contains("&lt;id&gt;"), "replies are escaped: {help}");
    let refused = server.slash("U999", "stop trains all CIE 1");
    assert!(refused["text"].as_str().unwrap().contains("needs a conductor"), "{refused}");

    // A stop of production is heard in the production channel only; a stop of all, everywhere.
    let stop = server.slash(CONDUCTOR, "stop trains production CIE 4321: prod ingress down");
    assert!(stop["text"].as_str().unwrap().contains("stop_1"), "{stop}");
    slack.notice(PROD, "stop_1");
    server.slash(CONDUCTOR, "stop trains all CIE 4322: everything is down");
    slack.notice(PROD, "stop_2");
    slack.notice(STAGE, "stop_2");
    assert_eq!(slack.count(|r| r.body["channel"] == STAGE && r.text().contains("stop_1")), 0);

    // A stage train that needs a conductor is announced in the stage channel.
    let mut stage = pending_train("CHG7687022");
    stage["environment"] = json!("stage");
    stage["squad"] = json!("netint");
    let (status, view) = server.api("POST", "/v1/trains", "pipeline", Some(&stage));
    assert_eq!(status, 200, "{view}");
    let notice = slack.notice(STAGE, "CHG7687022");
    assert!(
        notice.text().contains("⚠️ *global.cie*") && notice.text().contains("⚠️ *global.sla*"),
        "{}",
        notice.text()
    );
    assert_eq!(slack.count(|r| r.body["channel"] == PROD && r.text().contains("CHG7687022")), 0);

    // Starting trains everywhere is announced everywhere, with what re-evaluation did.
    server.slash(CONDUCTOR, "start trains all");
    slack.notice(PROD, "Lifted the stops on *all*");
    let started = slack.notice(STAGE, "Lifted the stops on *all*");
    assert!(started.text().contains("chat:U024BE7LH"), "{}", started.text());
    // CHG7687022 is still pending after re-evaluation (no SLA): announced again.
    slack
        .wait_count("CHG7687022 announced twice", 2, |r| r.body["channel"] == STAGE && r.text().contains("CHG7687022"));

    // The start-up line is on stderr, read by another thread than "listening" on stdout: wait for it.
    let log = server.wait_log("Slack transport");
    assert!(!log.contains(SECRET) && !log.contains(BOT_TOKEN), "a Slack secret reached the log: {log}");
}

/// The in-process router with Slack settings; the clock is pinned at [`common::monday_night`].
fn in_process(deadline: Duration) -> common::TestApp {
    let t = common::TestApp::new();
    let slack = signalbox_server::slack::Slack::new(Some(SECRET.into()), Some(BOT_TOKEN.into()))
        .with_command_deadline(deadline);
    t.state.set_slack(Some(slack));
    t
}

async fn signed_call(t: &common::TestApp, path: &str, content_type: &str, body: &str) -> (StatusCode, Value) {
    let timestamp = common::monday_night().timestamp().to_string();
    let request = Request::post(path)
        .header("content-type", content_type)
        .header("x-slack-request-timestamp", &timestamp)
        .header("x-slack-signature", slack_signature(SECRET, &timestamp, body))
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = t.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_slash_command_that_misses_the_deadline_answers_through_response_url() {
    let slack = FakeSlack::start();
    let t = in_process(Duration::ZERO);
    let body = form(&[
        ("user_id", CONDUCTOR),
        ("command", "/signalbox"),
        ("text", "stop trains us-south CIE 77: Dallas power"),
        ("response_url", &format!("{}/commands/T1/42/abc", slack.base)),
    ]);
    let (status, answer) = signed_call(&t, "/slack/commands", "application/x-www-form-urlencoded", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["response_type"], "ephemeral", "acknowledged at once: {answer}");
    assert!(answer["text"].as_str().unwrap().contains("Working on it"), "{answer}");

    let late =
        tokio::task::spawn_blocking(move || slack.wait_for("the late answer", |r| r.path == "/commands/T1/42/abc"))
            .await
            .unwrap();
    assert_eq!(late.body["response_type"], "in_channel");
    assert!(late.text().contains("stop_1"), "{}", late.text());
    assert_eq!(late.authorization, None, "response_url needs no token");
    assert_eq!(t.get("/v1/stops", "viewer").await.1["stops"][0]["scope"], "us-south");
}

#[tokio::test]
async fn slack_routes_need_slack_configured_and_are_documented() {
    let t = common::TestApp::new();
    for path in ["/slack/events", "/slack/commands"] {
        let (status, answer) = signed_call(&t, path, "application/json", "{}").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("SIGNALBOX_SLACK_SIGNING_SECRET"), "{answer}");
    }
    let (_, doc) = t.call(axum::http::Method::GET, "/openapi.json", None, None).await;
    for path in ["/slack/events", "/slack/commands"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }

    // Configured, with the clock pinned: a signature from 6 minutes before is stale.
    let t = in_process(Duration::from_secs(2));
    let (status, answer) =
        signed_call(&t, "/slack/events", "application/json", r#"{"type":"url_verification","challenge":"c"}"#).await;
    assert_eq!((status, answer["challenge"].as_str()), (StatusCode::OK, Some("c")));
    let stale = (common::monday_night().timestamp() - 360).to_string();
    let body = r#"{"type":"url_verification","challenge":"c"}"#;
    let request = Request::post("/slack/events")
        .header("x-slack-request-timestamp", &stale)
        .header("x-slack-signature", slack_signature(SECRET, &stale, body))
        .body(Body::from(body))
        .unwrap();
    let response = t.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// The same signed slash command sent again within the signature window (a
/// replay) is not run again: one stop, and the second answer says so.
#[tokio::test]
async fn a_replayed_slash_command_runs_once() {
    let t = in_process(Duration::from_secs(2));
    let body = form(&[("user_id", CONDUCTOR), ("command", "/signalbox"), ("text", "stop trains us-south CIE 78")]);
    let (status, first) = signed_call(&t, "/slack/commands", "application/x-www-form-urlencoded", &body).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(first["text"].as_str().unwrap().contains("stop_1"), "{first}");
    for _ in 0..3 {
        let (status, again) = signed_call(&t, "/slack/commands", "application/x-www-form-urlencoded", &body).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["response_type"], "ephemeral");
        assert!(again["text"].as_str().unwrap().contains("already received"), "{again}");
    }
    assert_eq!(t.get("/v1/stops", "viewer").await.1["stops"].as_array().unwrap().len(), 1);
}

/// At every log level, whatever `RUST_LOG` asks for, the Slack secrets stay out
/// of the log: the HTTP client's wire dumps (hex and text of each request,
/// `Authorization: Bearer xoxb-...` included) are filtered out.
#[test]
fn slack_secrets_stay_out_of_the_log_at_trace_level() {
    for rust_log in ["trace", "trace,ureq=trace,ureq_proto=trace"] {
        let slack = FakeSlack::start();
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("signalbox.toml");
        std::fs::write(&config_path, config(&slack.base, chrono::Utc::now())).unwrap();
        let server = Server::start_logging(dir.path(), &config_path, rust_log);
        let (status, answer) = server.api(
            "POST",
            "/v1/stops",
            "incident",
            Some(&json!({"scope": "all", "message": "CIE 12: trace test"})),
        );
        assert_eq!(status, 201, "{answer}");
        // The notice was posted with the bot token, so the client has run.
        let posted = slack.notice(PROD, "CIE 12: trace test");
        assert_eq!(posted.authorization.as_deref(), Some(format!("Bearer {BOT_TOKEN}").as_str()));
        // The client's own debug lines are logged (it redacts headers there),
        // so its trace lines would be too, were they not filtered out.
        let log = server.wait_log("ureq::run");
        if std::env::var_os("SHOW_LOG").is_some() {
            eprintln!("{log}");
        }
        // A wire dump cuts text into rows of 16 bytes and writes hex in groups:
        // look for short pieces, and for the hex with the spaces taken out.
        let squeezed: String = log.split_whitespace().collect();
        for (what, haystack, needle) in [
            ("the bot token", &log, BOT_TOKEN.to_string()),
            ("the start of the bot token", &log, "xoxb-".to_string()),
            ("the signing secret", &log, SECRET[..12].to_string()),
            ("the bot token in hex", &squeezed, hex::encode(&BOT_TOKEN.as_bytes()[..6])),
        ] {
            assert!(!haystack.contains(&needle), "RUST_LOG={rust_log}: {what} is in the log:\n{log}");
        }
    }
}
