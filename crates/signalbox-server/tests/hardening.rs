//! Hardening (issue 15), driven in-process: free text is bounded and free of
//! control characters, the role is checked before the body, instants stay in
//! years 0001-9999, a stop's message is not copied whole into every decision,
//! and a reload never locks the conductors out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

/// 400, naming `field`, and the answer does not echo the whole value back.
async fn refused(t: &TestApp, path: &str, role: &str, body: Value, field: &str) {
    let (status, v) = t.post(path, role, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {field}: {v}");
    assert!(message(&v).contains(&format!("`{field}`")), "{path}: the error names `{field}`: {v}");
    assert!(message(&v).len() < 600, "{path}: the error does not echo the value: {} bytes", message(&v).len());
}

#[tokio::test]
async fn free_text_is_bounded_and_names_the_field() {
    let t = TestApp::new();
    let long_name = "x".repeat(129);
    let long_text = "x".repeat(4097);
    for (field, value) in [
        ("squad", json!(long_name)),
        ("service", json!(long_name)),
        ("configuration_item", json!(long_name)),
        ("environment", json!("e".repeat(100_000))),
        ("title", json!(long_text)),
        ("exception_justification", json!(long_text)),
    ] {
        let mut train = night_train("CHG1500");
        train[field] = value;
        refused(&t, "/v1/trains", "pipeline", train, field).await;
    }
    let mut train = night_train("CHG1500");
    train["regions"] = json!(["r".repeat(100_000)]);
    refused(&t, "/v1/trains", "pipeline", train, "regions").await;

    refused(&t, "/v1/stops", "incident", json!({"scope": "all", "message": long_text}), "message").await;
    refused(&t, "/v1/stops", "incident", json!({"scope": "s".repeat(100_000), "message": "m"}), "scope").await;
    t.submit(&day_train("CHG1501")).await;
    refused(&t, "/v1/trains/CHG1501/reject", "conductor", json!({"reason": long_text}), "reason").await;
    refused(&t, "/v1/trains/CHG1501/hold", "conductor", json!({"reason": long_text}), "reason").await;
    let exception = json!({"result": "approved", "policy": "global.business_hours", "duration": "1h",
        "squad": long_name, "justification": "ok"});
    refused(&t, "/v1/exceptions", "conductor", exception, "squad").await;
    let exception = json!({"result": "approved", "policy": "global.business_hours", "duration": "1h",
        "justification": long_text});
    refused(&t, "/v1/exceptions", "conductor", exception, "justification").await;
    for field in ["result", "duration"] {
        let mut exception = json!({"result": "approved", "policy": "global.business_hours", "duration": "1h",
            "justification": "ok"});
        exception[field] = json!(long_name);
        refused(&t, "/v1/exceptions", "conductor", exception, field).await;
    }
    refused(&t, "/v1/chat", "chat", json!({"user": "U1", "text": "x".repeat(8193)}), "text").await;
    refused(&t, "/v1/chat", "chat", json!({"user": "U".repeat(129), "text": "help"}), "user").await;
    refused(&t, "/v1/reevaluate", "conductor", json!({"train_ids": [long_name]}), "train_ids").await;
    refused(&t, "/v1/reevaluate", "conductor", json!({"train_ids": ["CHG1501", " "]}), "train_ids").await;
    // At the limit is accepted.
    let mut train = night_train("CHG1502");
    train["squad"] = json!("s".repeat(128));
    train["title"] = json!("t".repeat(4096));
    let (status, v) = t.post("/v1/trains", "pipeline", train).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn control_characters_are_refused_with_the_field_named() {
    let t = TestApp::new();
    for (field, value) in [
        ("squad", "tug\u{1b}[2Jboat"),
        ("service", "auto\0update"),
        ("title", "Deploy \u{1b}]0;pwned\u{7}"),
        ("version", "81ed70\r"),
        ("exception_justification", "ok \u{9b}31m"),
    ] {
        let mut train = night_train("CHG1510");
        train[field] = json!(value);
        refused(&t, "/v1/trains", "pipeline", train, field).await;
    }
    refused(&t, "/v1/stops", "incident", json!({"scope": "all", "message": "CIE\u{1b}[31m 9"}), "message").await;
    refused(&t, "/v1/chat", "chat", json!({"user": "U1", "text": "stop trains all \u{1b}[2J"}), "text").await;
    refused(&t, "/v1/chat", "conductor", json!({"user": "U1\0", "text": "help"}), "user").await;
    // Newlines and tabs are kept where text is free.
    let mut train = night_train("CHG1511");
    train["exception_justification"] = json!("approved in RFC-12\n\tsee thread");
    let (status, v) = t.post("/v1/trains", "pipeline", train).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = t.post("/v1/stops", "incident", json!({"scope": "all", "message": "CIE 9\ningress"})).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn a_decision_carries_only_the_start_of_a_stop_message() {
    let t = TestApp::new();
    let long = format!("CIE 4321: {}", "ingress down ".repeat(300));
    let (status, stop) = t.post("/v1/stops", "incident", json!({"scope": "all", "message": long})).await;
    assert_eq!(status, StatusCode::CREATED, "{stop}");
    let view = t.submit(&night_train("CHG1520")).await;
    let finding = &view["decision"]["findings"][0];
    assert_eq!(finding["policy"], "global.cie", "{view}");
    let text = finding["message"].as_str().unwrap();
    assert!(text.contains(stop["id"].as_str().unwrap()), "the finding names the stop: {text}");
    assert!(text.contains("all: CIE 4321: ingress down"), "{text}");
    assert!(text.chars().count() < 300, "the finding carries the start of the message only: {text}");
}

#[tokio::test]
async fn the_role_is_checked_before_a_malformed_body() {
    let t = TestApp::new();
    for (path, role) in [
        ("/v1/trains", "viewer"),
        ("/v1/reevaluate", "pipeline"),
        ("/v1/evaluate", "nobody"),
        ("/v1/exceptions", "pipeline"),
        ("/v1/stops", "viewer"),
        ("/v1/stops/start", "incident"),
        ("/v1/chat", "pipeline"),
    ] {
        let role = if role == "nobody" { continue } else { role };
        for body in ["{not json", "[]", r#"{"colour": 1}"#] {
            let (status, v) = t.call_raw(Method::POST, path, Some(role), Some(body.to_string())).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} as {role} with {body}: {v}");
        }
    }
    // With the right role, the body is judged.
    let (status, _) = t.call_raw(Method::POST, "/v1/trains", Some("pipeline"), Some("{not json".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn instants_outside_years_1_to_9999_are_refused() {
    let t = TestApp::new();
    for instant in ["-0001-01-01T00:00:00Z", "+10000-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "0000-12-31T00:00:00Z"]
    {
        for field in ["planned_start", "planned_end", "stage_deployed_at"] {
            let mut train = night_train("CHG1530");
            train[field] = json!(instant);
            refused(&t, "/v1/trains", "pipeline", train, field).await;
        }
        refused(&t, "/v1/evaluate", "viewer", json!({"train": night_train("CHG1531"), "at": instant}), "at").await;
    }
    let (status, v) = t.get("/v1/trains/CHG1530", "viewer").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored: {v}");
}

#[tokio::test]
async fn a_reload_that_would_lock_the_conductors_out_is_refused() {
    let t = TestApp::new();
    let without_conductor = config_text(None).replace("role = \"conductor\"", "role = \"viewer\"");
    for (what, text) in [
        ("an empty file", String::new()),
        ("a file of comments", "# nothing here\n\n".to_string()),
        ("a file without a conductor token", without_conductor),
    ] {
        std::fs::write(&t.config_path, &text).unwrap();
        let (status, v) = t.post("/v1/admin/reload", "conductor", json!({})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {v}");
        assert!(message(&v).contains("conductor") || message(&v).contains("empty"), "{what}: {v}");
        // The old configuration keeps serving: the conductor's token still works.
        let (status, v) = t.get("/v1/stops", "conductor").await;
        assert_eq!(status, StatusCode::OK, "{what}: {v}");
        assert_eq!(t.submit(&night_train("CHG1540")).await["state"], "approved", "{what}");
    }
}
