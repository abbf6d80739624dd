//! Several replicas: the real binary, twice, on loopback ports and one
//! PostgreSQL database, behaving as one service (docs/operations.md,
//! "Several replicas on PostgreSQL"). Needs `SIGNALBOX_TEST_DATABASE_URL`
//! (`bash .ci/pg.sh` prints one); skipped with one line without it, except
//! under CI, where it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use common::server::{http, wait_until, Server};
use serde_json::{json, Value};
use signalbox_store::testing::TestDatabase;

/// Two replicas on a new database, each in a directory of its own with the
/// same configuration; `None` when no server is configured (outside CI).
struct Replicas {
    a: Server,
    b: Server,
    now: DateTime<Utc>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    database: TestDatabase,
}

fn replicas() -> Option<Replicas> {
    let database = TestDatabase::create().unwrap()?;
    let now = Utc::now();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(dir_a.path(), now, &database.url);
    let b = start(dir_b.path(), now, &database.url);
    a.wait_ready();
    b.wait_ready();
    Some(Replicas { a, b, now, _dirs: (dir_a, dir_b), database })
}

fn start(dir: &Path, now: DateTime<Utc>, url: &str) -> Server {
    let config = dir.join("signalbox.toml");
    std::fs::write(&config, common::live_config_text(None, now)).unwrap();
    Server::start_on(dir, Some(&config), Some(url))
}

/// A stage train whose window is the next hour: every policy passes at any
/// instant (no business hours or bake for stage, and its squad has an SLA),
/// so it is approved unless a stop, a hold or a missing exception says otherwise.
fn passing_train(id: &str, now: DateTime<Utc>) -> Value {
    let mut train = common::train_at(id, now, now + TimeDelta::hours(1));
    train["environment"] = json!("stage");
    train
}

fn token(role: &str) -> String {
    common::token(role)
}

/// An exception that lets squad `netint` (which has no SLA) pass `global.sla`, made on `server`.
fn netint_exception(server: &Server) -> Value {
    let body = json!({"result": "approved", "policy": "global.sla", "duration": "2h", "squad": "netint", "justification": "drill"});
    let (status, exception) = server.call("POST", "/v1/exceptions", Some(&token("conductor")), Some(&body)).unwrap();
    assert_eq!(status, 201, "{exception}");
    exception
}

fn submit(server: &Server, train: &Value) -> Value {
    let (status, view) = server.call("POST", "/v1/trains", Some(&token("pipeline")), Some(train)).unwrap();
    assert_eq!(status, 200, "{view}");
    view
}

#[test]
fn the_same_train_sent_to_two_replicas_at_once_is_one_train_with_one_decision() {
    let Some(r) = replicas() else { return };
    let trials = 200;
    for round in 0..trials {
        let train = passing_train(&format!("CHG{:07}", 1_000_000 + round), r.now);
        let start = Arc::new(Barrier::new(2));
        let answers: Vec<Value> = [r.a.address.clone(), r.b.address.clone()]
            .into_iter()
            .map(|address| {
                let (train, start) = (train.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    let (status, view) =
                        http(&address, "POST", "/v1/trains", Some(&token("pipeline")), Some(&train)).unwrap();
                    assert_eq!(status, 200, "{view}");
                    view
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(
            answers[0]["decision"]["decision_id"], answers[1]["decision"]["decision_id"],
            "round {round}: both replicas answer the one decision"
        );
        let id = train["id"].as_str().unwrap();
        let (_, audit) = r.b.call("GET", &format!("/v1/audit?train_id={id}"), Some(&token("viewer")), None).unwrap();
        let submits = audit["entries"].as_array().unwrap().iter().filter(|e| e["action"] == "submit").count();
        assert_eq!(submits, 1, "round {round}: one submission recorded: {audit}");
    }
    let (_, list) = r.a.call("GET", "/v1/trains?limit=1000", Some(&token("viewer")), None).unwrap();
    assert_eq!(list["trains"].as_array().map(Vec::len), Some(trials as usize), "one train per round");
    eprintln!("the same train to two replicas at once: {trials} trials, {trials} trains, one decision each");
}

/// Once a stop, a hold or an exception's deletion has been acknowledged by
/// replica A, a submission to replica B never comes back approved.
#[test]
fn no_approval_on_one_replica_after_a_stop_hold_or_deletion_acknowledged_by_the_other() {
    let Some(r) = replicas() else { return };
    let conductor = token("conductor");
    let (mut stops, mut holds, mut deletions) = (0, 0, 0);
    for round in 0..500 {
        let (status, stop) =
            r.a.call(
                "POST",
                "/v1/stops",
                Some(&conductor),
                Some(&json!({"scope": "all", "message": format!("CIE {round}")})),
            )
            .unwrap();
        assert_eq!(status, 201, "{stop}");
        let view = submit(&r.b, &passing_train(&format!("CHG{:07}", 2_000_000 + round), r.now));
        assert_ne!(view["decision"]["outcome"], "approved", "round {round}: approved after a stop: {view}");
        assert!(common::policies_of(&view).contains(&"global.cie".to_string()), "{view}");
        let (status, started) =
            r.a.call("POST", "/v1/stops/start", Some(&conductor), Some(&json!({"scope": "all"}))).unwrap();
        assert_eq!(status, 200, "{started}");
        stops += 1;
    }
    for round in 0..200 {
        let id = format!("CHG{:07}", 3_000_000 + round);
        // Held while pending: a train first sent during a stop.
        let (status, _) =
            r.a.call("POST", "/v1/stops", Some(&conductor), Some(&json!({"scope": "all", "message": "hold drill"})))
                .unwrap();
        assert_eq!(status, 201);
        submit(&r.a, &passing_train(&id, r.now));
        let (status, held) =
            r.a.call("POST", &format!("/v1/trains/{id}/hold"), Some(&conductor), Some(&json!({"reason": "wait"})))
                .unwrap();
        assert_eq!(status, 200, "{held}");
        let (status, _) =
            r.a.call("POST", "/v1/stops/start", Some(&conductor), Some(&json!({"scope": "all"}))).unwrap();
        assert_eq!(status, 200);
        // The hold alone keeps it from being approved, whichever replica decides.
        let (status, views) =
            r.b.call("POST", "/v1/reevaluate", Some(&conductor), Some(&json!({"train_ids": [id]}))).unwrap();
        assert_eq!(status, 200, "{views}");
        let (_, view) = r.b.call("GET", &format!("/v1/trains/{id}"), Some(&token("viewer")), None).unwrap();
        assert_ne!(view["state"], "approved", "round {round}: approved while held: {view}");
        holds += 1;
    }
    for round in 0..200 {
        // netint has no SLA: only the exception lets its trains pass.
        let exception = netint_exception(&r.a);
        let mut with = passing_train(&format!("CHG{:07}", 4_000_000 + round), r.now);
        with["squad"] = json!("netint");
        assert_eq!(submit(&r.b, &with)["decision"]["outcome"], "approved", "round {round}: the exception applies");
        let id = exception["id"].as_str().unwrap();
        let (status, _) = r.a.call("DELETE", &format!("/v1/exceptions/{id}"), Some(&conductor), None).unwrap();
        assert_eq!(status, 200);
        let mut without = passing_train(&format!("CHG{:07}", 5_000_000 + round), r.now);
        without["squad"] = json!("netint");
        let view = submit(&r.b, &without);
        assert_ne!(view["decision"]["outcome"], "approved", "round {round}: approved after the deletion: {view}");
        deletions += 1;
    }
    assert_eq!((stops, holds, deletions), (500, 200, 200));
    eprintln!("after an acknowledgement on the other replica: {stops} stops, {holds} holds, {deletions} deletions, 0 approved");
}

/// `start trains` on B while pipelines submit on A: once the start has
/// answered, no train is left pending because of the stop it lifted.
#[test]
fn a_start_on_one_replica_leaves_no_train_pending_that_raced_it_on_the_other() {
    let Some(r) = replicas() else { return };
    let conductor = token("conductor");
    let mut raced = 0;
    for round in 0..20 {
        let (status, _) =
            r.b.call(
                "POST",
                "/v1/stops",
                Some(&conductor),
                Some(&json!({"scope": "all", "message": format!("CIE {round}")})),
            )
            .unwrap();
        assert_eq!(status, 201);
        let running = Arc::new(AtomicBool::new(true));
        let sent = Arc::new(AtomicUsize::new(0));
        let pipelines: Vec<_> = (0..4)
            .map(|p| {
                let (address, running, sent, now) =
                    (r.a.address.clone(), Arc::clone(&running), Arc::clone(&sent), r.now);
                std::thread::spawn(move || {
                    let mut ids = Vec::new();
                    let mut i = 0;
                    while running.load(Ordering::Acquire) {
                        let id = format!("CHG{round:02}{p}{i:04}");
                        let train = passing_train(&id, now);
                        let (status, view) =
                            http(&address, "POST", "/v1/trains", Some(&token("pipeline")), Some(&train)).unwrap();
                        assert_eq!(status, 200, "{view}");
                        ids.push(id);
                        sent.fetch_add(1, Ordering::AcqRel);
                        i += 1;
                    }
                    ids
                })
            })
            .collect();
        // Start while submissions are in flight.
        wait_until("the pipelines are submitting", || sent.load(Ordering::Acquire) >= 8);
        let (status, started) =
            r.b.call("POST", "/v1/stops/start", Some(&conductor), Some(&json!({"scope": "all"}))).unwrap();
        assert_eq!(status, 200, "{started}");
        std::thread::sleep(Duration::from_millis(30));
        running.store(false, Ordering::Release);
        let ids: Vec<String> = pipelines.into_iter().flat_map(|p| p.join().unwrap()).collect();
        for id in &ids {
            let (_, view) = r.a.call("GET", &format!("/v1/trains/{id}"), Some(&token("viewer")), None).unwrap();
            let policies = common::policies_of(&view);
            assert!(
                !(view["state"] == "pending" && policies.contains(&"global.cie".to_string())),
                "round {round}: {id} was left pending by a lifted stop: {view}"
            );
        }
        raced += ids.len();
    }
    assert!(raced > 200, "only {raced} submissions raced the starts");
    eprintln!("start on one replica against submissions on the other: 20 starts, {raced} submissions, 0 left pending");
}

#[test]
fn an_exception_made_on_one_replica_applies_to_a_reevaluation_on_the_other() {
    let Some(r) = replicas() else { return };
    let conductor = token("conductor");
    let mut train = passing_train("CHG6000001", r.now);
    train["squad"] = json!("netint");
    let view = submit(&r.a, &train);
    assert_eq!(view["state"], "pending", "{view}");
    netint_exception(&r.a);
    let (status, results) =
        r.b.call("POST", "/v1/reevaluate", Some(&conductor), Some(&json!({"train_ids": ["CHG6000001"]}))).unwrap();
    assert_eq!(status, 200, "{results}");
    let (_, view) = r.a.call("GET", "/v1/trains/CHG6000001", Some(&token("viewer")), None).unwrap();
    assert_eq!(view["state"], "approved", "{view}");

    // Trains submitted on A during a stop are re-evaluated by a start on B.
    let (status, _) =
        r.a.call("POST", "/v1/stops", Some(&conductor), Some(&json!({"scope": "all", "message": "CIE 9"}))).unwrap();
    assert_eq!(status, 201);
    let ids: Vec<String> = (0..10).map(|i| format!("CHG600010{i}")).collect();
    for id in &ids {
        assert_eq!(submit(&r.a, &passing_train(id, r.now))["state"], "pending");
    }
    let (status, started) =
        r.b.call("POST", "/v1/stops/start", Some(&conductor), Some(&json!({"scope": "all"}))).unwrap();
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["approved"], 10, "{started}");
    for id in &ids {
        let (_, view) = r.a.call("GET", &format!("/v1/trains/{id}"), Some(&token("viewer")), None).unwrap();
        assert_eq!(view["state"], "approved", "{view}");
    }
}

/// A change on one replica reaches the other's waiting requests and event
/// streams (PostgreSQL `NOTIFY`).
#[test]
fn a_change_on_one_replica_wakes_a_waiting_request_on_the_other() {
    let Some(r) = replicas() else { return };
    let mut train = passing_train("CHG7000001", r.now);
    train["squad"] = json!("netint");
    assert_eq!(submit(&r.a, &train)["state"], "pending");
    // The other replica's listener connects on start: give it a moment to be listening.
    std::thread::sleep(Duration::from_millis(500));
    let address = r.b.address.clone();
    let waiting = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = http(&address, "GET", "/v1/trains/CHG7000001?wait=30s", Some(&token("viewer")), None).unwrap();
        (answer, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let (status, approved) = r
        .a
        .call("POST", "/v1/trains/CHG7000001/approve", Some(&token("conductor")), Some(&json!({"reason": "by hand"})))
        .unwrap();
    assert_eq!(status, 200, "{approved}");
    let ((status, view), waited) = waiting.join().unwrap();
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["state"], "approved", "{view}");
    assert!(waited < Duration::from_secs(10), "woken by the other replica's change, not the time-out: {waited:?}");
}

/// `kill -9` of one replica while pipelines submit through both: every
/// acknowledged train is there, with the decision it was answered and its
/// audit records, and the other replica never stopped answering.
#[test]
fn kill_9_of_one_replica_loses_nothing_acknowledged_by_either() {
    let Some(r) = replicas() else { return };
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let address = if w % 2 == 0 { r.a.address.clone() } else { r.b.address.clone() };
            let (acked, count, now) = (Arc::clone(&acked), Arc::clone(&count), r.now);
            std::thread::spawn(move || {
                for i in 0..400 {
                    let id = format!("CHG8{w}{i:05}");
                    match http(&address, "POST", "/v1/trains", Some(&token("pipeline")), Some(&passing_train(&id, now)))
                    {
                        Ok((200, view)) => {
                            let decision = view["decision"]["decision_id"].as_str().unwrap().to_string();
                            acked.lock().unwrap().push((id, decision));
                            count.fetch_add(1, Ordering::AcqRel);
                        }
                        Ok((status, body)) => panic!("unexpected {status}: {body}"),
                        Err(_) => return, // that replica is gone
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::Acquire) < 300 {
        assert!(Instant::now() < deadline, "only {} acknowledgements in 60 s", count.load(Ordering::Acquire));
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut a = r.a;
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let ids: BTreeSet<&str> = acked.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), acked.len());
    for (id, decision) in &acked {
        let (status, view) = r.b.call("GET", &format!("/v1/trains/{id}"), Some(&token("viewer")), None).unwrap();
        assert_eq!(status, 200, "acknowledged {id} is missing: {view}");
        assert_eq!(view["decision"]["decision_id"], json!(decision), "{view}");
        let actions: Vec<&str> =
            view["history"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
        assert!(actions.contains(&"submit") && actions.contains(&"submit.decision"), "{id}: {actions:?}");
    }
    eprintln!("kill -9 of one replica of two: {} acknowledged, 0 lost", acked.len());
    drop(r.database);
}

#[test]
fn replicas_started_at_once_on_an_empty_database_migrate_it_once() {
    for round in 0..3 {
        let Some(database) = TestDatabase::create().unwrap() else { return };
        let now = Utc::now();
        let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let url = database.url.clone();
        let servers: Vec<Server> = std::thread::scope(|scope| {
            let starting: Vec<_> = dirs.iter().map(|dir| scope.spawn(|| start(dir.path(), now, &url))).collect();
            starting.into_iter().map(|s| s.join().unwrap()).collect()
        });
        for server in &servers {
            server.wait_ready();
        }
        let mut db = signalbox_store::pg::connect(&database.url).unwrap();
        let versions: Vec<i64> = db
            .query("SELECT version FROM signalbox_schema ORDER BY version", &[])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(versions, [1, 2, 3], "round {round}: each migration once");
        // They are one service: a train sent to one is seen by the others.
        submit(&servers[0], &passing_train("CHG9000001", now));
        for server in &servers[1..] {
            let (status, _) = server.call("GET", "/v1/trains/CHG9000001", Some(&token("viewer")), None).unwrap();
            assert_eq!(status, 200, "round {round}");
        }
        drop(servers);
    }
}
