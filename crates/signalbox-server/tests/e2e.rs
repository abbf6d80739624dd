//! End-to-end: the real `signalbox` binary on a loopback port. First start and
//! its token, the life cycle over a socket, SIGHUP reload, SIGTERM, a `kill -9`
//! while writes are in flight losing nothing that was acknowledged, and a
//! calendar feed on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use common::server::{http, wait_until, Server};

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

/// Writes the test configuration, its freeze and holiday placed relative to `now`.
fn write_config(dir: &Path, now: chrono::DateTime<chrono::Utc>) -> std::path::PathBuf {
    let path = dir.join("signalbox.toml");
    std::fs::write(&path, common::live_config_text(None, now)).unwrap();
    path
}

#[test]
fn first_start_prints_a_conductor_token_once_and_it_works() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None);
    let banner = server.banner.join("\n");
    let token = banner.split_whitespace().find(|w| w.starts_with("sbx_")).expect("a token is printed").to_string();
    if common::on_postgres() {
        assert!(!dir.path().join("data").exists(), "with a database URL, nothing is kept in ./data");
    } else {
        assert!(dir.path().join("data/signalbox.db").exists(), "the store lives under ./data");
    }

    // Next Monday morning in Chicago: a window in the future, during business hours.
    let train = common::live_day_train("CHG7687021", chrono::Utc::now());
    let (status, view) = server.call("POST", "/v1/trains", Some(&token), Some(&train)).unwrap();
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["decision"]["train_id"], "CHG7687021");
    assert_eq!(view["state"], "pending", "business hours and no SLA on the defaults: {view}");
    let policies = common::policies_of(&view);
    for policy in ["global.business_hours", "global.sla"] {
        assert!(policies.iter().any(|p| p == policy), "{policy}: {view}");
    }
    drop(server);

    // The data directory now holds the token's digest: no new token, the old one still works.
    let server = Server::start(dir.path(), None);
    assert!(!server.banner.join("\n").contains("sbx_"), "the token is printed only once");
    let (status, view) = server.call("GET", "/v1/trains/CHG7687021", Some(&token), None).unwrap();
    assert_eq!(status, 200);
    assert_eq!(view["train"]["id"], "CHG7687021");
    match common::server::database_for(dir.path()) {
        Some(url) => {
            let mut db = signalbox_store::pg::connect(&url).unwrap();
            for table in ["meta", "audit", "trains", "decisions", "sessions", "seen"] {
                let sql = format!("SELECT COUNT(*) FROM {table} t WHERE t::text LIKE '%' || $1 || '%'");
                let found: i64 = db.query_one(sql.as_str(), &[&token]).unwrap().get(0);
                assert_eq!(found, 0, "the token itself is never stored (`{table}`)");
            }
        }
        None => {
            let db = std::fs::read(dir.path().join("data/signalbox.db")).unwrap();
            assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()), "the token itself is never stored");
        }
    }
}

#[test]
fn the_life_cycle_over_a_real_socket() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let config = write_config(dir.path(), now);
    let server = Server::start(dir.path(), Some(&config));
    let pipeline = common::token("pipeline");
    let conductor = common::token("conductor");
    // A window that starts now and lasts an hour, on a Saturday night in Chicago? The
    // real clock decides, so use a train whose policies pass at any instant: stage
    // (no business hours, no stage bake, the freeze is production's, the squad has an SLA).
    let mut train = common::train_at("CHG1000", now, now + chrono::TimeDelta::hours(1));
    train["environment"] = json!("stage");
    let (status, view) = server.call("POST", "/v1/trains", Some(&pipeline), Some(&train)).unwrap();
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "approved", "{view}");
    let (status, again) = server.call("POST", "/v1/trains", Some(&pipeline), Some(&train)).unwrap();
    assert_eq!(status, 200);
    assert_eq!(again["decision"]["decision_id"], view["decision"]["decision_id"], "idempotent");

    // The configured freeze is live: a production train in its first hours waits for a conductor.
    let (freeze_start, _) = common::live_freeze(now);
    let frozen = common::train_at("CHG1001", freeze_start, freeze_start + chrono::TimeDelta::hours(2));
    let (status, view) = server.call("POST", "/v1/trains", Some(&pipeline), Some(&frozen)).unwrap();
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "pending", "{view}");
    assert!(common::policies_of(&view).iter().any(|p| p == "scheduling.change_freeze"), "{view}");

    let (status, stop) = server
        .call(
            "POST",
            "/v1/stops",
            Some(&common::token("incident")),
            Some(&json!({"scope": "stage", "message": "CIE 1"})),
        )
        .unwrap();
    assert_eq!(status, 201, "{stop}");
    let (status, refused) = server.call("POST", "/v1/trains/CHG1000/start", Some(&pipeline), None).unwrap();
    assert_eq!(status, 409, "{refused}");
    let (status, _) =
        server.call("POST", "/v1/stops/start", Some(&conductor), Some(&json!({"scope": "stage"}))).unwrap();
    assert_eq!(status, 200);
    for (action, state) in [("start", "started"), ("complete", "completed")] {
        let (status, v) = server.call("POST", &format!("/v1/trains/CHG1000/{action}"), Some(&pipeline), None).unwrap();
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["state"], state);
    }
    let (status, _) = server.call("POST", "/v1/trains/CHG1000/start", Some("wrong-token"), None).unwrap();
    assert_eq!(status, 401);
}

#[test]
fn sighup_reloads_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let config = write_config(dir.path(), now);
    let mut server = Server::start(dir.path(), Some(&config));
    let revision = |s: &Server| s.call("GET", "/readyz", None, None).unwrap().1["policy_revision"].clone();
    let before = revision(&server);

    // An invalid file is refused on SIGHUP: the old set keeps serving.
    std::fs::write(&config, "environments = []\n").unwrap();
    server.signal("HUP");
    server.wait_log("reload refused; the previous configuration keeps serving");
    assert_eq!(revision(&server), before);

    std::fs::write(&config, common::live_config_text(None, now) + "\n# changed\n").unwrap();
    server.signal("HUP");
    wait_until("SIGHUP reloaded the valid file", || revision(&server) != before);

    server.signal("TERM");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    let stderr = server.final_stderr();
    assert!(stderr.contains("signalbox stopped"), "{stderr}");
    // A clean stop leaves everything in the database file: a copy of it alone is a backup.
    let wal = dir.path().join("data/signalbox.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0, "the WAL was checkpointed at shutdown");
    assert!(!stderr.contains("token-"), "tokens never reach the logs");
    // The default level logs no line per request (docs/operations.md); the requests above made none.
    assert!(!stderr.contains("finished processing request"), "{stderr}");
}

#[test]
fn kill_9_loses_nothing_that_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let config = write_config(dir.path(), now);
    let server = Server::start(dir.path(), Some(&config));
    server.wait_ready();
    let conductor = common::token("conductor");
    let (status, exception) = server
        .call(
            "POST",
            "/v1/exceptions",
            Some(&conductor),
            Some(&json!({"result": "approved", "policy": "global.sla", "duration": "2h", "squad": "netint", "justification": "CIE drill"})),
        )
        .unwrap();
    assert_eq!(status, 201, "{exception}");
    let (status, stop) = server
        .call("POST", "/v1/stops", Some(&conductor), Some(&json!({"scope": "eu-de", "message": "CIE 2"})))
        .unwrap();
    assert_eq!(status, 201);

    // Eight pipelines submit as fast as they can; the server is killed while they do.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let address = server.address.clone();
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (acked, count, address) = (acked.clone(), count.clone(), address.clone());
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    let id = format!("CHG{w}{i:05}");
                    let start = now + chrono::TimeDelta::hours(1);
                    let train = common::train_at(&id, start, start + chrono::TimeDelta::hours(1));
                    match http(&address, "POST", "/v1/trains", Some(&common::token("pipeline")), Some(&train)) {
                        Ok((200, view)) => {
                            let decision = view["decision"]["decision_id"].as_str().unwrap().to_string();
                            acked.lock().unwrap().push((id, decision));
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok((status, body)) => panic!("unexpected {status}: {body}"),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    // Wait for 200 acknowledgements, bounded: a server that dies early fails the test, not hangs it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::SeqCst) < 200 {
        assert!(Instant::now() < deadline, "only {} acknowledgements in 60 s", count.load(Ordering::SeqCst));
        assert!(!workers.iter().all(std::thread::JoinHandle::is_finished), "every pipeline stopped early");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL: no chance to flush anything
    server.child.wait().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200);

    let server = Server::start(dir.path(), Some(&config));
    let viewer = common::token("viewer");
    for (id, decision) in &acked {
        let (status, view) = server.call("GET", &format!("/v1/trains/{id}"), Some(&viewer), None).unwrap();
        assert_eq!(status, 200, "acknowledged train {id} was lost");
        assert_eq!(view["decision"]["decision_id"].as_str(), Some(decision.as_str()), "{id}");
        assert!(view["history"].as_array().unwrap().len() >= 2, "its audit records are there too");
    }
    let (_, exceptions) = server.call("GET", "/v1/exceptions", Some(&viewer), None).unwrap();
    assert_eq!(exceptions["exceptions"][0]["id"], exception["id"]);
    let (_, stops) = server.call("GET", "/v1/stops", Some(&viewer), None).unwrap();
    assert_eq!(stops["stops"][0]["id"], stop["id"]);
}

#[test]
fn the_terminal_chat_client_runs_commands_on_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let config = write_config(dir.path(), now);
    let server = Server::start(dir.path(), Some(&config));
    let url = format!("http://{}", server.address);
    let chat = |user: &str, text: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_signalbox"))
            .args(["chat", "--server", &url, "--user", user, "-c", text])
            .env("SIGNALBOX_TOKEN", common::token("chat"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, reply, err) = chat("U024BE7LH", "stop trains eu-de CIE 77: Frankfurt storage");
    assert_eq!(code, Some(0), "{err}");
    assert!(reply.contains("stop_1"), "{reply}");
    // A refused command prints its reply and exits 1, as does one not understood.
    let (code, reply, _) = chat("U999", "start trains eu-de");
    assert_eq!(code, Some(1), "a refusal exits 1: {reply}");
    assert!(reply.contains("conductor"), "not a conductor: {reply}");
    let (code, reply, _) = chat("U024BE7LH", "start the trains please");
    assert_eq!(code, Some(1), "not understood exits 1: {reply}");
    let (_, stops) = server.call("GET", "/v1/stops", Some(&common::token("viewer")), None).unwrap();
    assert_eq!(stops["stops"].as_array().unwrap().len(), 1);

    // Issue 4's acceptance: the patch exception from the terminal, applied by reevaluate, shown by describe.
    // The train runs next Monday during Chicago business hours, before the configured freeze and holiday.
    let train = common::live_day_train("CHG7687021", now);
    let (status, view) = server.call("POST", "/v1/trains", Some(&common::token("pipeline")), Some(&train)).unwrap();
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "pending", "{view}");
    assert_eq!(common::policies_of(&view), ["global.business_hours"], "{view}");
    let (code, reply, err) = chat(
        "U024BE7LH",
        "create exception approved global.business_hours lasting 4h for containers-kubernetes tugboat-updater auto-update because tugboat-updater was approved to deploy during US-South hours for patch updates only",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(reply.contains("exc_1") && reply.contains("reevaluate CHG7687021"), "{reply}");
    let (_, reply, _) = chat("U024BE7LH", "reevaluate CHG7687021");
    assert!(reply.contains("approved"), "{reply}");
    let (_, describe, _) = chat("U999", "describe chg7687021");
    assert!(describe.contains("exc_1") && describe.contains("approved"), "{describe}");

    // A wrong token is an error on stderr and exit status 2.
    let out = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .args(["chat", "--server", &url, "--token", "nope", "-c", "oa"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

/// `signalbox serve` with a calendar feed on loopback, on the real clock: the
/// feed's freeze (from an hour ago to three days ahead) holds a production
/// train; the feed going down leaves it in force and the calendar stale in
/// `/readyz`; the feed coming back without it lifts it at the next refresh
/// (every second). A feed that was never read stops the start, naming it.
#[test]
fn a_calendar_feed_read_by_the_real_server() {
    let now = chrono::Utc::now();
    let ics_time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let (start, end) = (ics_time(now - chrono::TimeDelta::hours(1)), ics_time(now + chrono::TimeDelta::days(3)));
    let frozen = common::ics(&[("Live feed freeze", &start, &end)]);
    let feed = common::Feed::start(common::Answer::Calendar(frozen));
    let calendar = |url: &str| {
        format!(
            "\n[[calendars]]\nname = \"ops\"\nsource = {url:?}\nkind = \"freeze\"\nenvironments = [\"production\"]\nrefresh = \"1s\"\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("signalbox.toml");
    std::fs::write(&config, common::live_config_text(None, now) + &calendar(&feed.url)).unwrap();
    let server = Server::start(dir.path(), Some(&config));
    server.wait_ready();

    let viewer = common::token("viewer");
    let train = common::train_at("CHG1000", now + chrono::TimeDelta::hours(1), now + chrono::TimeDelta::hours(2));
    let freeze_finding = |server: &Server| -> Option<String> {
        let (status, decision) =
            server.call("POST", "/v1/evaluate", Some(&viewer), Some(&json!({ "train": train }))).unwrap();
        assert_eq!(status, 200, "{decision}");
        decision["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["policy"] == "scheduling.change_freeze")
            .map(|f| f["message"].as_str().unwrap().to_string())
    };
    let message = freeze_finding(&server).expect("the feed's freeze is in force from the start");
    assert!(message.contains("(Live feed freeze)"), "{message}");

    feed.set(common::Answer::Status(503));
    let calendar_state =
        |server: &Server| server.call("GET", "/readyz", None, None).unwrap().1["calendars"][0]["state"].clone();
    wait_until("the calendar is stale in /readyz", || calendar_state(&server) == "stale");
    assert!(freeze_finding(&server).is_some(), "a feed that is down keeps its last good copy");

    feed.set(common::Answer::Calendar(common::ics(&[])));
    wait_until("the freeze leaves with the next refresh", || freeze_finding(&server).is_none());
    assert_eq!(calendar_state(&server), "ok");

    // A feed never read, and no copy in a new data directory: no start.
    let down = common::Feed::start(common::Answer::Status(503));
    let other = tempfile::tempdir().unwrap();
    let other_config = other.path().join("signalbox.toml");
    std::fs::write(&other_config, common::live_config_text(None, now) + &calendar(&down.url)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .current_dir(other.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&other_config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("calendar `ops`") && stderr.contains("never been read"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

/// A database file truncated to nothing while the server was stopped: the
/// next start refuses, naming the problem, instead of starting as a fresh
/// install with every train gone.
#[test]
fn a_truncated_database_is_refused_at_start() {
    if common::on_postgres() {
        // The embedded SQLite's own file; PostgreSQL keeps its own integrity.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), chrono::Utc::now());
    let server = Server::start(dir.path(), Some(&config));
    server.wait_ready();
    drop(server);
    std::fs::write(dir.path().join("data/signalbox.db"), b"").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .current_dir(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("truncated or removed") && stderr.contains("signalbox.id"), "{stderr}");
}

/// Garbage in a page mid-file: the server starts (what can be read is read),
/// `/readyz` is 503, writes are 503 `store_unavailable` with `Retry-After`,
/// and `signalbox store check` exits 1 naming the problem.
#[test]
fn a_damaged_store_is_not_ready_and_takes_no_writes() {
    if common::on_postgres() {
        // The embedded SQLite's own file; PostgreSQL keeps its own integrity.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now();
    let config = write_config(dir.path(), now);
    let server = Server::start(dir.path(), Some(&config));
    server.wait_ready();
    let pipeline = common::token("pipeline");
    for i in 0..150 {
        let train = common::train_at(
            &format!("CHG9{i:04}"),
            now + chrono::TimeDelta::hours(1),
            now + chrono::TimeDelta::hours(2),
        );
        assert_eq!(server.call("POST", "/v1/trains", Some(&pipeline), Some(&train)).unwrap().0, 200);
    }
    drop(server);
    let check = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_signalbox")).args(["store", "check", "--data-dir"]).arg(dir).output().unwrap()
    };
    let data = dir.path().join("data");
    let out = check(&data);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(report.contains("trains: 150") && report.contains("integrity: ok"), "{report}");

    let db = data.join("signalbox.db");
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 40 * 4096);
    bytes[20 * 4096..21 * 4096].fill(0xA5);
    std::fs::write(&db, &bytes).unwrap();

    let out = check(&data);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("problem"), "{}", String::from_utf8_lossy(&out.stdout));

    let server = Server::start(dir.path(), Some(&config));
    // The start-up check runs beside serving: readiness turns 503 once it has read the damage.
    wait_until("/readyz says the store is damaged", || {
        matches!(server.call("GET", "/readyz", None, None), Ok((503, _)))
    });
    let (status, body) = server.call("GET", "/readyz", None, None).unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("damaged"), "{body}");
    let train = common::train_at("CHG80001", now + chrono::TimeDelta::hours(1), now + chrono::TimeDelta::hours(2));
    let (status, body) = server.call("POST", "/v1/trains", Some(&pipeline), Some(&train)).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable");
    // A read-only chat command is answered although its audit record cannot be written;
    // a change is refused.
    let chat = |text: &str| {
        let body = json!({ "user": "U024BE7LH", "text": text });
        server.call("POST", "/v1/chat", Some(&common::token("chat")), Some(&body)).unwrap()
    };
    let (status, reply) = chat("help");
    assert_eq!((status, reply["status"].as_str()), (200, Some("done")), "{reply}");
    let (status, reply) = chat("stop trains all CIE 11");
    assert_eq!((status, reply["status"].as_str()), (200, Some("failed")), "{reply}");
}
