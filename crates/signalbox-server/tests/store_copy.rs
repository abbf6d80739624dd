//! `signalbox store copy` with the real binary: a store a server filled over
//! HTTP, copied, and served again from the copy, answers every train view and
//! every page of the audit log as the original did. SQLite → SQLite always;
//! SQLite → PostgreSQL → SQLite when `SIGNALBOX_TEST_DATABASE_URL` names a
//! server whose role may create databases (`.ci/pg.sh`; required under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use std::path::Path;
use std::process::Command;

use common::server::Server;
use serde_json::{json, Value};

const VARIABLE: &str = "SIGNALBOX_TEST_DATABASE_URL";

fn store_copy(from: &str, to: &str) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_signalbox"))
        .args(["store", "copy", "--from", from, "--to", to])
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

/// What a server answers about its store: every train's view and the whole
/// audit log, page by page.
fn everything(server: &Server, ids: &[String]) -> (Vec<Value>, Vec<Value>) {
    let viewer = common::token("viewer");
    let views = ids
        .iter()
        .map(|id| {
            let (status, view) = server.call("GET", &format!("/v1/trains/{id}"), Some(&viewer), None).unwrap();
            assert_eq!(status, 200, "{view}");
            view
        })
        .collect();
    let mut pages = Vec::new();
    let mut path = "/v1/audit?limit=50".to_string();
    loop {
        let (status, page) = server.call("GET", &path, Some(&viewer), None).unwrap();
        assert_eq!(status, 200, "{page}");
        pages.push(page.clone());
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/v1/audit?limit=50&before={before}"),
            None => break,
        }
    }
    (views, pages)
}

/// Fills a store through a real server: submissions, a manual approval, a
/// rejection, a hold, a stop and an exception.
fn fill(dir: &Path, now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let config = dir.join("signalbox.toml");
    std::fs::write(&config, common::live_config_text(None, now)).unwrap();
    let server = Server::start(dir, Some(&config));
    server.wait_ready();
    let (pipeline, conductor) = (common::token("pipeline"), common::token("conductor"));
    let (status, body) = server
        .call(
            "POST",
            "/v1/exceptions",
            Some(&conductor),
            Some(&json!({"result": "approved", "policy": "global.sla", "duration": "2h", "squad": "netint", "justification": "copy drill"})),
        )
        .unwrap();
    assert_eq!(status, 201, "{body}");
    let mut ids = Vec::new();
    for i in 0..40 {
        let id = format!("CHG{:07}", 7_000_000 + i);
        let train = common::live_day_train(&id, now);
        let (status, body) = server.call("POST", "/v1/trains", Some(&pipeline), Some(&train)).unwrap();
        assert_eq!(status, 200, "{body}");
        ids.push(id);
    }
    let act = |path: String, body: Value| {
        let (status, answer) = server.call("POST", &path, Some(&conductor), Some(&body)).unwrap();
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
    };
    act(format!("/v1/trains/{}/approve", ids[0]), json!({"reason": "checked by hand"}));
    act(format!("/v1/trains/{}/reject", ids[1]), json!({"reason": "wrong window"}));
    act(format!("/v1/trains/{}/hold", ids[2]), json!({"reason": "wait for the DB team"}));
    act("/v1/stops".into(), json!({"scope": "eu-de", "message": "CIE 7: copy drill"}));
    drop(server);
    ids
}

#[test]
fn a_copied_store_serves_the_same_views_and_audit_log() {
    let now = chrono::Utc::now();
    let (original, copy) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ids = fill(original.path(), now);
    let source = format!("sqlite://{}", original.path().join("data").display());

    let target_dir = copy.path().join("data");
    let target = format!("sqlite://{}", target_dir.display());
    match std::env::var(VARIABLE) {
        Ok(admin) => {
            // Through PostgreSQL: a database of its own, dropped at the end.
            let name = format!("sbx_copy_{}", std::process::id());
            let psql = |sql: &str| {
                let status = Command::new("psql").args([admin.as_str(), "-qAtc", sql]).status().unwrap();
                assert!(status.success(), "psql {sql}");
            };
            psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            psql(&format!("CREATE DATABASE {name}"));
            let (base, _) = admin.split_once('?').unwrap_or((&admin, ""));
            let pg = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
            let (ok, out, err) = store_copy(&source, &pg);
            assert!(ok, "{out}{err}");
            assert!(out.contains("trains: 40") && out.contains("count matches"), "{out}");
            assert!(
                !out.contains(":signalbox@") && !err.contains("signalbox:signalbox"),
                "no password shown: {out}{err}"
            );
            let (ok, out, err) = store_copy(&pg, &target);
            assert!(ok, "{out}{err}");
            // A second copy into the now-full PostgreSQL database is refused and names why.
            let (ok, _, err) = store_copy(&source, &pg);
            assert!(!ok && err.contains("not empty") && err.contains("40 in `trains`"), "{err}");
            psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
        Err(_) => {
            assert!(std::env::var_os("CI").is_none(), "{VARIABLE} is not set: CI must run the PostgreSQL tests");
            let (ok, out, err) = store_copy(&source, &target);
            assert!(ok, "{out}{err}");
            assert!(out.contains("trains: 40"), "{out}");
        }
    }

    // Serve both, on the same configuration, and ask them the same questions.
    std::fs::copy(original.path().join("signalbox.toml"), copy.path().join("signalbox.toml")).unwrap();
    let a = Server::start(original.path(), Some(&original.path().join("signalbox.toml")));
    let b = Server::start(copy.path(), Some(&copy.path().join("signalbox.toml")));
    a.wait_ready();
    b.wait_ready();
    let (views_a, audit_a) = everything(&a, &ids);
    let (views_b, audit_b) = everything(&b, &ids);
    assert_eq!(views_a.len(), 40);
    assert_eq!(views_b, views_a);
    assert!(audit_a.iter().map(|p| p["entries"].as_array().map_or(0, Vec::len)).sum::<usize>() > 40, "{audit_a:?}");
    assert_eq!(audit_b, audit_a);
    // The copy is a store of its own: a new train there is not in the original.
    let train = common::live_day_train("CHG7999999", now);
    let (status, _) = b.call("POST", "/v1/trains", Some(&common::token("pipeline")), Some(&train)).unwrap();
    assert_eq!(status, 200);
    let (status, _) = a.call("GET", "/v1/trains/CHG7999999", Some(&common::token("viewer")), None).unwrap();
    assert_eq!(status, 404);
}
