//! Shared test setup: a configuration with one token per role, a store in a
//! temporary directory, and requests driven through the router in-process.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use signalbox_server::app::app;
use signalbox_server::auth::sha256_hex;
use signalbox_server::runtime::Runtime;
use signalbox_server::state::AppState;
use signalbox_store::Store;
use tower::ServiceExt;

pub mod server;

pub const ROLES: [&str; 5] = ["pipeline", "conductor", "incident", "viewer", "chat"];

/// The token of a role in the test configuration: `token-<role>`.
pub fn token(role: &str) -> String {
    format!("token-{role}")
}

/// A configuration with us-south (Chicago) and eu-de (Berlin), an SLA for
/// squad `tugboat-updater`, a year-end freeze, and a token per role.
pub fn config_text(policies_dir: Option<&str>) -> String {
    let mut text = String::from(
        r#"environments = ["stage", "production"]

[server]
listen = "127.0.0.1:0"
data_dir = "data"
"#,
    );
    if let Some(dir) = policies_dir {
        text.push_str(&format!("policies_dir = {dir:?}\n"));
    }
    for role in ROLES {
        text.push_str(&format!(
            "\n[[auth.tokens]]\nname = \"{role}-bot\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            sha256_hex(&token(role))
        ));
    }
    text.push_str(
        r#"
[chat]
conductors = ["U024BE7LH"]

[regions.us-south]
timezone = "America/Chicago"
holidays = ["2026-12-25"]

[regions.eu-de]
timezone = "Europe/Berlin"

[[freezes]]
name = "year-end"
start = "2026-12-18T00:00:00Z"
end = "2027-01-04T00:00:00Z"
environments = ["production"]

[[slas]]
squad = "tugboat-updater"

[policies]
stage_bake = "24h"
max_exception = "6h"
# Debug builds on a loaded 2-core machine are slow; a time-out would be a test artefact.
evaluation_timeout = "5s"
"#,
    );
    text
}

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// The PostgreSQL database of a run against PostgreSQL ([`on_postgres`]), dropped last.
    pub database: Option<signalbox_store::testing::TestDatabase>,
}

/// The environment variable that runs these suites against PostgreSQL
/// (`postgres`) instead of the embedded SQLite (unset, or `sqlite`).
pub const BACKEND_VARIABLE: &str = "SIGNALBOX_TEST_BACKEND";

/// Whether this run is against PostgreSQL (`SIGNALBOX_TEST_BACKEND=postgres`).
pub fn on_postgres() -> bool {
    match std::env::var(BACKEND_VARIABLE).as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("{BACKEND_VARIABLE} must be `sqlite` or `postgres`, not `{other}`"),
    }
}

/// A store for a test: the embedded SQLite in `dir`, or a new PostgreSQL
/// database when [`on_postgres`] (which then needs `SIGNALBOX_TEST_DATABASE_URL`).
pub fn test_store(dir: &std::path::Path) -> (Store, Option<signalbox_store::testing::TestDatabase>) {
    if on_postgres() {
        let database = signalbox_store::testing::TestDatabase::create()
            .unwrap()
            .expect("SIGNALBOX_TEST_BACKEND=postgres needs SIGNALBOX_TEST_DATABASE_URL");
        (Store::open_postgres(&database.url).unwrap(), Some(database))
    } else {
        (Store::open(dir).unwrap(), None)
    }
}

/// Monday 2026-11-23 03:00Z: 21:00 on Sunday in Chicago, outside business hours.
pub fn monday_night() -> DateTime<Utc> {
    "2026-11-23T03:00:00Z".parse().unwrap()
}

impl TestApp {
    pub fn new() -> TestApp {
        TestApp::with_config(&config_text(None))
    }

    pub fn with_config(text: &str) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("signalbox.toml");
        std::fs::write(&config_path, text).unwrap();
        let runtime = Runtime::load(Some(&config_path), None).unwrap();
        let (store, database) = test_store(&dir.path().join("data"));
        let state =
            AppState::new(store, runtime, Some(config_path.clone()), None, None).with_fixed_clock(monday_night());
        let router = app(state.clone());
        TestApp { state, router, dir, config_path, database }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        role: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let raw = body.map(|b| b.to_string());
        self.call_raw(method, path, role, raw).await
    }

    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        role: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
        if let Some(role) = role {
            req = req.header("authorization", format!("Bearer {}", token(role)));
        }
        let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    pub async fn get(&self, path: &str, role: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(role), None).await
    }

    pub async fn post(&self, path: &str, role: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(role), Some(body)).await
    }

    pub async fn submit(&self, train: &Value) -> Value {
        let (status, body) = self.post("/v1/trains", "pipeline", train.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// A production train in us-south, 04:00-05:00Z (22:00-23:00 Sunday in Chicago),
/// from a squad with an SLA and a stage deployment reported 2 days before.
pub fn night_train(id: &str) -> Value {
    json!({
        "id": id,
        "squad": "tugboat-updater",
        "service": "auto-update",
        "configuration_item": "containers-kubernetes",
        "environment": "production",
        "regions": ["us-south"],
        "title": "Deploy razeeapi (e1176f to 81ed70)",
        "version": "81ed70",
        "planned_start": "2026-11-23T04:00:00Z",
        "planned_end": "2026-11-23T05:00:00Z",
        "stage_deployed_at": "2026-11-21T04:00:00Z"
    })
}

/// The same train during Chicago business hours on Monday (15:00-16:00Z = 09:00-10:00 CST).
pub fn day_train(id: &str) -> Value {
    let mut t = night_train(id);
    t["planned_start"] = json!("2026-11-23T15:00:00Z");
    t["planned_end"] = json!("2026-11-23T16:00:00Z");
    t
}

pub fn policies_of(view: &Value) -> Vec<String> {
    view["decision"]["findings"].as_array().unwrap().iter().map(|f| f["policy"].as_str().unwrap().to_string()).collect()
}

// For tests that start the real binary, whose clock is the wall clock: every
// instant below is worked out from `now`, so the tests mean the same on any date.

/// The change freeze of [`live_config_text`]: 30 days after `now`, lasting 17 days
/// (as long as the year-end freeze), so no train of the next four weeks is frozen.
pub fn live_freeze(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = DateTime::from_timestamp(now.timestamp(), 0).unwrap() + chrono::TimeDelta::days(30);
    (start, start + chrono::TimeDelta::days(17))
}

/// [`config_text`] for a server on the real clock: the us-south holiday and the
/// year-end freeze are moved relative to `now`, to the first day of [`live_freeze`]
/// and [`live_freeze`] itself. Everything else (tokens, regions, SLA, chat) is the same.
pub fn live_config_text(policies_dir: Option<&str>, now: DateTime<Utc>) -> String {
    let (start, end) = live_freeze(now);
    let utc = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let replacements = [
        ("holidays = ", format!("holidays = [\"{}\"]", start.date_naive())),
        ("start = ", format!("start = \"{}\"", utc(start))),
        ("end = ", format!("end = \"{}\"", utc(end))),
    ];
    let text = config_text(policies_dir);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (prefix, replacement) in replacements {
        let mut found = lines.iter_mut().filter(|l| l.starts_with(prefix)).collect::<Vec<_>>();
        assert_eq!(found.len(), 1, "one `{prefix}` line in the test configuration");
        *found[0] = replacement;
    }
    lines.join("\n") + "\n"
}

/// [`night_train`] (production, us-south, a squad with an SLA) with the window
/// `[start, end)` and its stage deployment reported 2 days before `start`.
pub fn train_at(id: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    let utc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut t = night_train(id);
    t["planned_start"] = json!(utc(start));
    t["planned_end"] = json!(utc(end));
    t["stage_deployed_at"] = json!(utc(start - chrono::TimeDelta::days(2)));
    t
}

/// 15:00Z on a Monday 15 hours to 8 days after `now` (the Monday of the week 7
/// days ahead): 09:00 CST or 10:00 CDT in Chicago, inside business hours, and
/// before [`live_freeze`] and its holiday.
pub fn next_monday_morning(now: DateTime<Utc>) -> DateTime<Utc> {
    let day = (now + chrono::TimeDelta::days(7)).date_naive();
    let monday = day - chrono::TimeDelta::days(i64::from(chrono::Datelike::weekday(&day).num_days_from_monday()));
    monday.and_hms_opt(15, 0, 0).unwrap().and_utc()
}

/// [`day_train`] for a server on the real clock: 15:00-16:00Z on
/// [`next_monday_morning`], a baked stage deployment, pending on business hours only
/// (under [`live_config_text`]).
pub fn live_day_train(id: &str, now: DateTime<Utc>) -> Value {
    let start = next_monday_morning(now);
    train_at(id, start, start + chrono::TimeDelta::hours(1))
}

// A calendar feed on loopback, for the calendar tests (in process and end to end).

/// What the loopback feed answers.
#[derive(Clone)]
pub enum Answer {
    Calendar(String),
    /// An HTTP error status: the feed is down.
    Status(u16),
}

/// A tiny HTTP server on 127.0.0.1:0 answering every request with the current [`Answer`].
pub struct Feed {
    pub url: String,
    answer: Arc<Mutex<Answer>>,
}

impl Feed {
    pub fn start(answer: Answer) -> Feed {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ops.ics", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(answer));
        let shared = answer.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut buf = [0_u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = match shared.lock().unwrap().clone() {
                    Answer::Calendar(text) => (200, text),
                    Answer::Status(status) => (status, "unavailable".to_string()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Feed { url, answer }
    }

    pub fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }
}

/// A calendar of UTC events `(summary, start, end)`, instants written `20261123T000000Z`.
pub fn ics(events: &[(&str, &str, &str)]) -> String {
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//feed//EN\r\n");
    for (i, (summary, start, end)) in events.iter().enumerate() {
        text.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{i}@test\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\nDESCRIPTION:from the ops calendar\r\nEND:VEVENT\r\n"
        ));
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}
