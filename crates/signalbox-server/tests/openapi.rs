//! The OpenAPI document is valid OpenAPI 3.1 (checked against the official
//! schema in `fixtures/openapi/`), complete (every path parameter declared
//! where it is, every error status the API can answer documented with the
//! error shape, every body typed), and true (real answers match the schemas
//! it documents for them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

async fn document(t: &TestApp) -> Value {
    let (status, doc) = t.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((path.clone(), method.to_string(), op.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let doc = document(&TestApp::new()).await;
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/openapi/oas-3.1-schema-2022-10-07.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{} errors:\n{}", errors.len(), errors.join("\n"));
}

#[tokio::test]
async fn path_parameters_match_the_path_templates() {
    let doc = document(&TestApp::new()).await;
    for (path, method, op) in operations(&doc) {
        let template: Vec<&str> =
            path.split('/').filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))).collect();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for p in &params {
            let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
            assert_eq!(place == "path", template.contains(&name), "{method} {path}: `{name}` is in {place}");
            if place == "path" {
                assert_eq!(p["required"], true, "{method} {path}: path parameter `{name}` must be required");
            }
        }
        for name in template {
            assert!(
                params.iter().any(|p| p["name"] == name && p["in"] == "path"),
                "{method} {path}: `{name}` is not declared"
            );
        }
    }
}

#[tokio::test]
async fn every_status_the_api_answers_is_documented_with_the_error_shape() {
    let doc = document(&TestApp::new()).await;
    let is_error_ref =
        |response: &Value| response["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error";
    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        let mut needed = vec![];
        if op.get("security").is_some_and(|s| !s.as_array().unwrap().is_empty()) {
            needed.extend(["401", "403"]);
        }
        if op.get("requestBody").is_some() {
            needed.extend(["400", "413"]);
        }
        if path.starts_with("/v1/") {
            needed.push("503");
        }
        for status in needed {
            assert!(responses.contains_key(status), "{method} {path} does not document {status}");
        }
        for (status, response) in responses {
            assert!(response["description"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path} {status}");
            if status.starts_with('4') || status.starts_with('5') {
                assert!(is_error_ref(response), "{method} {path} {status} is not the error shape: {response}");
            }
        }
    }
}

/// A body that is only `{"type": "object"}` says nothing; every body names its fields.
#[tokio::test]
async fn bodies_are_typed() {
    let doc = document(&TestApp::new()).await;
    let bare = |schema: &Value| schema == &json!({"type": "object"}) || schema == &json!({});
    for (path, method, op) in operations(&doc) {
        if let Some(body) = op.get("requestBody") {
            for (kind, media) in body["content"].as_object().unwrap() {
                assert!(!bare(&media["schema"]), "{method} {path}: request body {kind} is untyped");
            }
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            for (kind, media) in response.get("content").and_then(Value::as_object).into_iter().flatten() {
                assert!(!bare(&media["schema"]), "{method} {path} {status}: {kind} is untyped");
            }
        }
    }
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        let text = schema.to_string();
        assert!(!text.contains(r#""items":{"type":"object"}"#), "{name} has untyped items: {text}");
    }
}

/// `body` against the schema the document gives for `method path status`.
fn check(doc: &Value, path: &str, method: &str, status: &str, body: &Value) {
    let response = &doc["paths"][path][method]["responses"][status];
    let schema = response["content"]["application/json"]["schema"].clone();
    assert!(!schema.is_null(), "{method} {path} {status} documents no JSON body");
    let mut root = json!({ "components": doc["components"] });
    for (k, v) in schema.as_object().unwrap() {
        root[k] = v.clone();
    }
    let validator = jsonschema::draft202012::new(&root).unwrap();
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path} {status}:\n{}\n{body:#}", errors.join("\n"));
}

#[tokio::test]
async fn real_answers_match_their_documented_schemas() {
    let t = TestApp::new();
    let doc = document(&t).await;
    let view = t.submit(&day_train("CHG1600")).await;
    check(&doc, "/v1/trains", "post", "200", &view);
    let (_, v) = t.get("/v1/trains/CHG1600", "viewer").await;
    check(&doc, "/v1/trains/{id}", "get", "200", &v);
    let (_, v) = t.get("/v1/trains?state=pending", "viewer").await;
    check(&doc, "/v1/trains", "get", "200", &v);
    let (_, v) = t.post("/v1/trains/CHG1600/hold", "conductor", json!({"reason": "wait"})).await;
    check(&doc, "/v1/trains/{id}/{action}", "post", "200", &v);
    let (_, v) = t.post("/v1/reevaluate", "conductor", json!({"train_ids": ["CHG1600", "CHG9"]})).await;
    check(&doc, "/v1/reevaluate", "post", "200", &v);
    let (_, v) = t.post("/v1/evaluate", "viewer", json!({"train": night_train("CHG1601")})).await;
    check(&doc, "/v1/evaluate", "post", "200", &v);
    let exception = json!({"result": "approved", "policy": "business_hours", "duration": "1h", "justification": "ok"});
    let (status, v) = t.post("/v1/exceptions", "conductor", exception).await;
    assert_eq!(status, StatusCode::CREATED);
    check(&doc, "/v1/exceptions", "post", "201", &v);
    let id = v["id"].as_str().unwrap().to_string();
    let (_, v) = t.get("/v1/exceptions", "viewer").await;
    check(&doc, "/v1/exceptions", "get", "200", &v);
    let (_, v) = t.call(Method::DELETE, &format!("/v1/exceptions/{id}"), Some("conductor"), None).await;
    check(&doc, "/v1/exceptions/{id}", "delete", "200", &v);
    let (_, v) = t.post("/v1/stops", "incident", json!({"scope": "all", "message": "CIE 1"})).await;
    check(&doc, "/v1/stops", "post", "201", &v);
    let (_, v) = t.get("/v1/stops", "viewer").await;
    check(&doc, "/v1/stops", "get", "200", &v);
    let (_, v) = t.post("/v1/stops/start", "conductor", json!({"scope": "all"})).await;
    check(&doc, "/v1/stops/start", "post", "200", &v);
    let (_, v) = t.get("/v1/audit?train_id=CHG1600", "viewer").await;
    check(&doc, "/v1/audit", "get", "200", &v);
    let (_, v) = t.post("/v1/chat", "chat", json!({"user": "U1", "text": "oa"})).await;
    check(&doc, "/v1/chat", "post", "200", &v);
    let (_, v) = t.post("/v1/admin/reload", "conductor", json!({})).await;
    check(&doc, "/v1/admin/reload", "post", "200", &v);
    let (_, v) = t.call(Method::GET, "/healthz", None, None).await;
    check(&doc, "/healthz", "get", "200", &v);
    let (_, v) = t.call(Method::GET, "/readyz", None, None).await;
    check(&doc, "/readyz", "get", "200", &v);
    // Errors.
    let (_, v) = t.get("/v1/trains/CHG404", "viewer").await;
    check(&doc, "/v1/trains/{id}", "get", "404", &v);
    let (_, v) = t.call(Method::GET, "/v1/stops", None, None).await;
    check(&doc, "/v1/stops", "get", "401", &v);
    let (_, v) = t.post("/v1/stops/start", "viewer", json!({"scope": "all"})).await;
    check(&doc, "/v1/stops/start", "post", "403", &v);
}
