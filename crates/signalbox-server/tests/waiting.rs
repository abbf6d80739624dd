//! Waiting for a train (`GET /v1/trains/{id}?wait=`) and the stream of
//! committed changes (`GET /v1/events`), in-process with the clock pinned.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Bounds every wait in these tests: reaching it is a failure, not a measurement.
const PATIENCE: Duration = Duration::from_secs(20);

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never: {what}"));
}

#[tokio::test]
async fn a_waiting_request_answers_when_the_train_changes() {
    let t = std::sync::Arc::new(TestApp::new());
    assert_eq!(t.submit(&day_train("CHG500")).await["state"], "pending");
    let waiting = {
        let t = std::sync::Arc::clone(&t);
        tokio::spawn(async move { t.get("/v1/trains/chg500?wait=60s", "viewer").await })
    };
    until("the request waits", || t.state.listeners() == 1).await;
    let (status, _) = t.post("/v1/trains/CHG500/approve", "conductor", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, view) =
        tokio::time::timeout(PATIENCE, waiting).await.expect("answered before its wait ran out").unwrap();
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "approved");
}

#[tokio::test]
async fn a_wait_that_runs_out_answers_the_pending_train_and_bad_waits_are_refused() {
    let t = TestApp::new();
    t.submit(&day_train("CHG501")).await;
    let (status, view) = t.get("/v1/trains/CHG501?wait=1s", "viewer").await;
    assert_eq!((status, view["state"].as_str()), (StatusCode::OK, Some("pending")));
    // A train that is not pending answers at once, whatever the wait.
    t.post("/v1/trains/CHG501/reject", "conductor", json!({"reason": "no"})).await;
    let (_, view) = tokio::time::timeout(PATIENCE, t.get("/v1/trains/CHG501?wait=60s", "viewer")).await.unwrap();
    assert_eq!(view["state"], "rejected");
    for bad in ["2m", "soon", "0s"] {
        let (status, body) = t.get(&format!("/v1/trains/CHG501?wait={bad}"), "viewer").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("`wait`"), "{body}");
    }
    assert_eq!(t.get("/v1/trains/CHG501?colour=red", "viewer").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        t.call(axum::http::Method::GET, "/v1/trains/CHG501?wait=1s", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Reads the next server-sent event (skipping keep-alive comments): its name and data.
async fn next_event(body: &mut Body) -> (String, Value) {
    let mut text = String::new();
    loop {
        let frame = tokio::time::timeout(PATIENCE, body.frame()).await.expect("an event in time").unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap()));
        if let Some((event, _)) = text.split_once("\n\n") {
            let name = event.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or_default().to_string();
            let data = event.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("null");
            return (name, serde_json::from_str(data).unwrap());
        }
    }
}

async fn open_stream(t: &TestApp) -> axum::response::Response {
    let request = Request::get("/v1/events").header("authorization", format!("Bearer {}", token("viewer")));
    t.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
}

#[tokio::test]
async fn the_event_stream_tells_each_committed_change() {
    let t = TestApp::new();
    let response = open_stream(&t).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();

    t.submit(&day_train("CHG502")).await;
    assert_eq!(
        next_event(&mut body).await,
        (
            "train".to_string(),
            json!({"kind": "train", "id": "CHG502", "state": "pending", "at": "2026-11-23T03:00:00Z"})
        )
    );
    let (_, stop) = t.post("/v1/stops", "incident", json!({"scope": "all", "message": "CIE 5"})).await;
    let (name, data) = next_event(&mut body).await;
    assert_eq!((name.as_str(), &data["id"], data["state"].as_str()), ("stop", &stop["id"], Some("active")));
    let (_, created) = t
        .post(
            "/v1/exceptions",
            "conductor",
            json!({"result": "approved", "policy": "sla", "duration": "1h", "justification": "drill"}),
        )
        .await;
    let (name, data) = next_event(&mut body).await;
    assert_eq!((name.as_str(), &data["id"], data["state"].as_str()), ("exception", &created["id"], Some("live")));
    // Start trains: the stop lifted, then the pending train decided again.
    t.post("/v1/stops/start", "conductor", json!({"scope": "all"})).await;
    let (name, data) = next_event(&mut body).await;
    assert_eq!((name.as_str(), data["state"].as_str()), ("stop", Some("lifted")));
    let (name, data) = next_event(&mut body).await;
    assert_eq!((name.as_str(), data["id"].as_str()), ("train", Some("CHG502")));
    // Resubmitting unchanged changes nothing, and tells nothing; a refused action neither.
    t.submit(&day_train("CHG502")).await;
    t.post("/v1/trains/CHG502/start", "pipeline", json!({})).await;
    t.post("/v1/trains/CHG502/approve", "conductor", json!({})).await;
    let (name, data) = next_event(&mut body).await;
    assert_eq!((name.as_str(), data["state"].as_str()), ("train", Some("approved")), "the next event is the approval");
}

#[tokio::test]
async fn event_streams_are_bounded() {
    let t = TestApp::new();
    let mut open = Vec::new();
    for _ in 0..signalbox_server::state::MAX_EVENT_STREAMS {
        let response = open_stream(&t).await;
        assert_eq!(response.status(), StatusCode::OK);
        open.push(response);
    }
    let refused = open_stream(&t).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Closing one makes room for another.
    drop(open.pop());
    assert_eq!(open_stream(&t).await.status(), StatusCode::OK);
}
