//! `POST /v1/chat`: chat commands end to end through the router.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

const CONDUCTOR: &str = "U024BE7LH";

async fn say(t: &TestApp, user: &str, text: &str) -> String {
    let (status, body) = t.post("/v1/chat", "chat", json!({ "user": user, "text": text })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["text"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn describe_shows_the_forecast_in_local_time() {
    let t = TestApp::new();
    // Submitted at the clock's Mon 2026-11-23 03:00Z (Sun 21:00 CST): the window,
    // 15:00-16:00Z = 09:00-10:00 CST, is in business hours to its end; an hour
    // starting now, Sun 21:00-22:00 CST, is not.
    t.submit(&day_train("CHG7687022")).await;
    let describe = say(&t, "U999", "describe CHG7687022").await;
    assert!(describe.contains("*Could pass:* not by re-evaluating within its window"), "{describe}");
    assert!(
        describe.contains("*Suggested window:* 2026-11-23 03:00–04:00 UTC (2026-11-22 21:00–22:00 America/Chicago)"),
        "{describe}"
    );
}

#[tokio::test]
async fn the_patch_exception_applies_after_reevaluate_and_describe_shows_it() {
    let t = TestApp::new();
    t.submit(&day_train("CHG7687021")).await;
    let reply = say(
        &t,
        CONDUCTOR,
        "create exception approved global.business_hours lasting 4h for containers-kubernetes tugboat-updater auto-update because tugboat-updater was approved to deploy during US-South hours for patch updates only",
    )
    .await;
    assert!(reply.contains("exc_1"), "{reply}");
    assert!(reply.contains("reevaluate CHG7687021"), "{reply}");
    assert_eq!(t.get("/v1/trains/CHG7687021", "viewer").await.1["state"], "pending", "not retroactive");

    let reply = say(&t, CONDUCTOR, "reevaluate chg7687021").await;
    assert!(reply.contains("CHG7687021") && reply.contains("approved"), "{reply}");
    let view = t.get("/v1/trains/CHG7687021", "viewer").await.1;
    assert_eq!(view["state"], "approved");
    assert_eq!(view["decision"]["exceptions_applied"], json!(["exc_1"]));

    let describe = say(&t, "U999", "describe CHG7687021").await;
    assert!(describe.contains("CHG7687021") && describe.contains("approved"), "{describe}");
    assert!(describe.contains("exc_1"), "describe shows the exception that applied: {describe}");
}

#[tokio::test]
async fn only_conductors_change_things_and_every_command_is_audited() {
    let t = TestApp::new();
    t.submit(&day_train("CHG100")).await;
    let reply = say(&t, "U999", "approve CHG100").await;
    assert!(reply.contains("conductor"), "{reply}");
    assert_eq!(t.get("/v1/trains/CHG100", "viewer").await.1["state"], "pending");
    let oa = say(&t, "U999", "oa").await;
    assert!(oa.contains("CHG100"), "{oa}");

    let reply = say(&t, CONDUCTOR, "approve CHG100 because checked with the DB team").await;
    assert!(reply.contains("CHG100"), "{reply}");
    let view = t.get("/v1/trains/CHG100", "viewer").await.1;
    assert_eq!(view["state"], "approved");
    assert_eq!(view["history"].as_array().unwrap().last().unwrap()["actor"], "chat:U024BE7LH");

    let (_, audit) = t.get("/v1/audit?limit=10", "viewer").await;
    let commands: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "chat.command")
        .map(|e| (e["detail"]["user"].as_str().unwrap().to_string(), e["detail"]["verb"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        commands,
        [("U024BE7LH".into(), "approve".into()), ("U999".into(), "oa".into()), ("U999".into(), "approve".into())]
    );
}

#[tokio::test]
async fn mistakes_get_replies_that_teach() {
    let t = TestApp::new();
    let reply = say(&t, CONDUCTOR, "create exception approved sla lasting soon because x").await;
    assert!(reply.contains("expected a duration like 4h after \"lasting\", found \"soon\""), "{reply}");
    let reply = say(&t, CONDUCTOR, "create exception approved global.nope lasting 1h because x").await;
    assert!(reply.contains("global.business_hours"), "unknown paths list the known ones: {reply}");
    let reply = say(&t, CONDUCTOR, "create exception approved sla lasting 9h because x").await;
    assert!(reply.contains("6h"), "{reply}");
    let reply = say(&t, CONDUCTOR, "descibe CHG1").await;
    assert!(reply.contains("describe"), "{reply}");
    let reply = say(&t, CONDUCTOR, "describe CHG404").await;
    assert!(reply.contains("CHG404"), "{reply}");
    let reply = say(&t, CONDUCTOR, "stop trains mars-1 CIE 5").await;
    assert!(reply.contains("mars-1"), "{reply}");
}

#[tokio::test]
async fn stop_and_start_from_chat() {
    let t = TestApp::new();
    let reply = say(&t, CONDUCTOR, "stop trains us-south CIE 4321: us-south ingress down").await;
    assert!(reply.contains("stop_1"), "{reply}");
    assert_eq!(t.submit(&night_train("CHG200")).await["state"], "pending");
    let reply = say(&t, CONDUCTOR, "start trains us-south").await;
    assert!(reply.contains('1'), "{reply}");
    assert_eq!(t.get("/v1/trains/CHG200", "viewer").await.1["state"], "approved");
}

#[tokio::test]
async fn only_a_bridge_or_a_conductor_may_chat() {
    let t = TestApp::new();
    for role in ["pipeline", "incident", "viewer"] {
        let (status, _) = t.post("/v1/chat", role, json!({ "user": CONDUCTOR, "text": "help" })).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
    }
}

#[tokio::test]
async fn a_conductor_token_speaks_for_itself_as_a_conductor() {
    let t = TestApp::new();
    t.submit(&day_train("CHG300")).await;
    let (status, body) =
        t.post("/v1/chat", "conductor", json!({ "user": "someone-else", "text": "approve CHG300 because ok" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view = t.get("/v1/trains/CHG300", "viewer").await.1;
    assert_eq!(view["state"], "approved");
    assert_eq!(view["history"].as_array().unwrap().last().unwrap()["actor"], "chat:token:conductor-bot");
}

/// The reply says how the command ended, so a client can tell a refusal from
/// a command done without reading the text.
#[tokio::test]
async fn every_reply_says_whether_the_command_was_done() {
    let t = TestApp::new();
    t.submit(&day_train("CHG400")).await;
    let status = |user: &'static str, text: &'static str| {
        let t = &t;
        async move {
            let (code, body) = t.post("/v1/chat", "chat", json!({ "user": user, "text": text })).await;
            assert_eq!(code, StatusCode::OK, "{body}");
            body["status"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(status("U999", "describe CHG400").await, "done");
    assert_eq!(status("U999", "describe CHG999").await, "refused", "no such train");
    assert_eq!(status("U999", "approve CHG400").await, "refused", "not a conductor");
    assert_eq!(status("U999", "please ship it").await, "not_understood");
    assert_eq!(status(CONDUCTOR, "create exception approved sla lasting soon because ok").await, "not_understood");
    assert_eq!(status(CONDUCTOR, "approve CHG400 CHG999").await, "refused", "one of two trains refused");
    assert_eq!(t.get("/v1/trains/CHG400", "viewer").await.1["state"], "approved", "the other was approved");
    assert_eq!(status(CONDUCTOR, "approve CHG400").await, "refused", "no longer pending");
    assert_eq!(status(CONDUCTOR, "stop trains all CIE 9").await, "done");
}

/// A full disk: a submission is 503 `store_unavailable` with `Retry-After`
/// (nothing stored), a change from chat fails, but `describe` and `oa` still
/// answer; with room again, writes go on.
#[tokio::test]
async fn with_the_disk_full_reads_are_answered_and_writes_refused_retryably() {
    if common::on_postgres() {
        // The embedded SQLite's own disk; PostgreSQL's is its operator's (its
        // errors are 503 like any database out of reach: tests/replicas.rs).
        return;
    }
    let t = TestApp::new();
    t.submit(&day_train("CHG600")).await;
    t.state.store.write(|tx| tx.limit_pages_for_tests(0)).await.unwrap();
    // Trains until the database would have to grow (a page or two may still have room).
    let mut refused = None;
    for i in 0..50 {
        let mut train = day_train(&format!("CHG7{i:02}"));
        train["title"] = json!("x".repeat(4000));
        let (status, body) = t.post("/v1/trains", "pipeline", train.clone()).await;
        if status != StatusCode::OK {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(body["error"]["code"], "store_unavailable");
            assert!(body["error"]["message"].as_str().unwrap().contains("disk is full"), "{body}");
            refused = Some(train);
            break;
        }
    }
    let refused = refused.expect("the database filled up");
    let id = refused["id"].as_str().unwrap().to_string();
    assert_eq!(t.get(&format!("/v1/trains/{id}"), "viewer").await.0, StatusCode::NOT_FOUND, "nothing was stored");
    let describe = say(&t, "U999", "describe CHG600").await;
    assert!(describe.contains("CHG600"), "{describe}");
    let (status, oa) = t.post("/v1/chat", "chat", json!({ "user": "U999", "text": "oa" })).await;
    assert_eq!((status, oa["status"].as_str()), (StatusCode::OK, Some("done")), "{oa}");
    t.state.store.write(|tx| tx.limit_pages_for_tests(1_000_000)).await.unwrap();
    assert_eq!(t.post("/v1/trains", "pipeline", refused).await.0, StatusCode::OK);
}
