//! The router driven in-process: every route, the idempotency rules, roles,
//! stops and re-evaluation, exceptions, limits. The clock is pinned (Monday
//! 2026-11-23 03:00Z) and moved by the tests that need time to pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_train_goes_from_submit_to_completed() {
    let t = TestApp::new();
    let view = t.submit(&night_train("CHG100")).await;
    assert_eq!(view["state"], "approved", "{view}");
    assert_eq!(view["decision"]["summary"], "approved => all policies passed");
    assert_eq!(view["decision"]["actor"], "pipeline:pipeline-bot");
    assert!(view["decision"]["decision_id"].as_str().unwrap().starts_with("dec_"));
    assert!(view["decision"]["policy_revision"].as_str().unwrap().starts_with("sha256:"));

    for (action, state) in [("start", "started"), ("complete", "completed")] {
        let (status, v) = t.post(&format!("/v1/trains/CHG100/{action}"), "pipeline", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["state"], state);
    }
    let (_, v) = t.get("/v1/trains/chg100", "viewer").await;
    let actions: Vec<&str> = v["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["submit", "submit.decision", "start", "complete"]);
    let (status, v) = t.post("/v1/trains/CHG100/start", "pipeline", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a completed train does not start again: {v}");
}

#[tokio::test]
async fn resubmitting_the_same_body_returns_the_current_state_without_a_new_decision() {
    let t = TestApp::new();
    let first = t.submit(&day_train("CHG200")).await;
    assert_eq!(first["state"], "pending");
    let again = t.submit(&day_train("CHG200")).await;
    assert_eq!(again["decision"]["decision_id"], first["decision"]["decision_id"]);
    assert_eq!(again["history"].as_array().unwrap().len(), first["history"].as_array().unwrap().len());

    // A changed body on a pending train updates and re-evaluates it.
    let updated = t.submit(&night_train("CHG200")).await;
    assert_ne!(updated["decision"]["decision_id"], first["decision"]["decision_id"]);
    assert_eq!(updated["state"], "approved");

    // A changed body on an approved train is a conflict.
    let (status, body) = t.post("/v1/trains", "pipeline", day_train("CHG200")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"]["message"].as_str().unwrap().contains("approved"), "{body}");
}

#[tokio::test]
async fn a_new_stage_completion_bakes_production() {
    let t = TestApp::new();
    let mut stage = night_train("CHG300");
    stage["environment"] = json!("stage");
    stage["planned_start"] = json!("2026-11-22T03:00:00Z");
    stage["planned_end"] = json!("2026-11-23T04:00:00Z");
    t.submit(&stage).await;
    t.post("/v1/trains/CHG300/start", "pipeline", json!({})).await;
    let (status, _) = t.post("/v1/trains/CHG300/complete", "pipeline", json!({})).await;
    assert_eq!(status, StatusCode::OK);

    // Recorded stage deployments are authoritative: completed at 03:00Z, so a
    // production train starting 04:00Z has baked 1h, and the pipeline's older
    // stage_deployed_at is ignored.
    let view = t.submit(&night_train("CHG301")).await;
    assert_eq!(view["state"], "pending");
    assert_eq!(policies_of(&view), ["global.stage_bake"]);
    assert!(view["decision"]["findings"][0]["message"].as_str().unwrap().contains("stage train CHG300"));
}

#[tokio::test]
async fn every_role_boundary_holds() {
    let t = TestApp::new();
    t.submit(&day_train("CHG400")).await;
    let train = night_train("CHG401");
    let cases: Vec<(Method, &str, Value, &[&str])> = vec![
        (Method::POST, "/v1/trains", train.clone(), &["pipeline", "conductor"]),
        (Method::GET, "/v1/trains/CHG400", Value::Null, &ROLES),
        (Method::GET, "/v1/trains?state=pending", Value::Null, &ROLES),
        (Method::POST, "/v1/evaluate", json!({ "train": train }), &ROLES),
        (Method::GET, "/v1/exceptions", Value::Null, &ROLES),
        (Method::GET, "/v1/stops", Value::Null, &ROLES),
        (Method::GET, "/v1/audit", Value::Null, &ROLES),
        (Method::POST, "/v1/reevaluate", json!({ "train_ids": ["CHG400"] }), &["conductor"]),
        (Method::POST, "/v1/trains/CHG400/hold", json!({ "reason": "r" }), &["conductor"]),
        (Method::POST, "/v1/trains/CHG400/release", json!({}), &["conductor"]),
        (Method::POST, "/v1/stops", json!({ "scope": "eu-de", "message": "CIE 1" }), &["incident", "conductor"]),
        (Method::POST, "/v1/stops/start", json!({ "scope": "eu-de" }), &["conductor"]),
        (
            Method::POST,
            "/v1/exceptions",
            json!({ "result": "manual", "policy": "sla", "duration": "1h", "justification": "j" }),
            &["conductor"],
        ),
        (Method::POST, "/v1/admin/reload", Value::Null, &["conductor"]),
        (Method::POST, "/v1/trains/CHG400/approve", json!({}), &["conductor"]),
    ];
    for (method, path, body, allowed) in cases {
        let body = (!body.is_null()).then_some(body);
        let (status, v) = t.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without a token: {v}");
        for role in ROLES {
            let (status, v) = t.call(method.clone(), path, Some(role), body.clone()).await;
            if allowed.contains(&role) {
                assert!(status.is_success(), "{method} {path} as {role}: {status} {v}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role}: {v}");
                assert!(v["error"]["message"].as_str().unwrap().contains(role), "{v}");
            }
        }
    }
    let (status, _) = t.call_raw(Method::GET, "/v1/stops", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_pipeline_role_runs_the_life_cycle_and_nothing_else() {
    let t = TestApp::new();
    t.submit(&night_train("CHG410")).await;
    for action in ["start", "complete"] {
        let (status, v) = t.post(&format!("/v1/trains/CHG410/{action}"), "conductor", json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action}: {v}");
    }
    let (status, _) = t.post("/v1/trains/CHG410/abort", "pipeline", json!({ "reason": "rollback" })).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_incident_bot_stops_but_cannot_start() {
    let t = TestApp::new();
    let (status, stop) =
        t.post("/v1/stops", "incident", json!({ "scope": "all", "message": "CIE 4321: us-south ingress down" })).await;
    assert_eq!(status, StatusCode::CREATED, "{stop}");
    assert_eq!(stop["id"], "stop_1");
    let (status, _) = t.post("/v1/stops/start", "incident", json!({ "scope": "all" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, stops) = t.get("/v1/stops", "viewer").await;
    assert_eq!(stops["stops"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn stop_then_start_re_evaluates_pending_trains() {
    let t = TestApp::new();
    let (_, stop) = t.post("/v1/stops", "incident", json!({ "scope": "us-south", "message": "CIE 7: LB down" })).await;
    // Two night trains held up only by the stop; one ends at 03:30Z.
    let a = t.submit(&night_train("CHG500")).await;
    assert_eq!(a["state"], "pending");
    assert_eq!(policies_of(&a), ["global.cie"]);
    assert_eq!(
        a["decision"]["findings"][0]["message"],
        format!(
            "trains are stopped ({} us-south: CIE 7: LB down) and no exception justification supplied",
            stop["id"].as_str().unwrap()
        )
    );
    let mut short = night_train("CHG501");
    short["planned_start"] = json!("2026-11-23T03:00:00Z");
    short["planned_end"] = json!("2026-11-23T03:30:00Z");
    assert_eq!(t.submit(&short).await["state"], "pending");
    // A third waits for business hours regardless of the stop.
    let day = t.submit(&day_train("CHG502")).await;
    assert_eq!(policies_of(&day), ["global.cie", "global.business_hours"]);

    // An `all` stop is not lifted by `start trains us-south`; lifting both frees the night train.
    t.post("/v1/stops", "conductor", json!({ "scope": "all", "message": "freeze everything" })).await;
    t.state.set_now("2026-11-23T03:45:00Z".parse().unwrap());
    let (status, counts) = t.post("/v1/stops/start", "conductor", json!({ "scope": "us-south" })).await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert_eq!(counts["lifted"], json!(["stop_1"]));
    assert_eq!(
        (counts["approved"].as_u64(), counts["rejected"].as_u64(), counts["pending"].as_u64()),
        (Some(0), Some(1), Some(2))
    );

    let (_, counts) = t.post("/v1/stops/start", "conductor", json!({ "scope": "all" })).await;
    assert_eq!(
        (counts["approved"].as_u64(), counts["rejected"].as_u64(), counts["pending"].as_u64()),
        (Some(1), Some(0), Some(1))
    );
    assert_eq!(t.get("/v1/trains/CHG500", "viewer").await.1["state"], "approved");
    assert_eq!(t.get("/v1/trains/CHG501", "viewer").await.1["state"], "rejected");
    assert_eq!(policies_of(&t.get("/v1/trains/CHG502", "viewer").await.1), ["global.business_hours"]);
}

#[tokio::test]
async fn an_approved_train_does_not_start_during_a_stop() {
    let t = TestApp::new();
    assert_eq!(t.submit(&night_train("CHG510")).await["state"], "approved");
    t.post("/v1/stops", "incident", json!({ "scope": "production", "message": "CIE 9" })).await;
    let (status, v) = t.post("/v1/trains/CHG510/start", "pipeline", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(v["error"]["message"].as_str().unwrap().contains("stop_1"), "{v}");
    t.post("/v1/stops/start", "conductor", json!({ "scope": "production" })).await;
    let (status, _) = t.post("/v1/trains/CHG510/start", "pipeline", json!({})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_exception_applies_only_after_reevaluate() {
    let t = TestApp::new();
    let before = t.submit(&day_train("CHG600")).await;
    assert_eq!(policies_of(&before), ["global.business_hours"]);
    let (status, created) = t
        .post(
            "/v1/exceptions",
            "conductor",
            json!({
                "result": "approved", "policy": "business_hours", "duration": "4h",
                "configuration_item": "containers-kubernetes", "squad": "tugboat-updater", "service": "auto-update",
                "justification": "patch updates only"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["id"], "exc_1");
    assert_eq!(created["policy"], "global.business_hours");
    assert_eq!(created["expires_at"], "2026-11-23T07:00:00Z");
    assert_eq!(created["affected_trains"], json!(["CHG600"]));
    assert_eq!(created["reevaluate"], "reevaluate CHG600");

    // Not retroactive: the train keeps its decision.
    assert_eq!(t.get("/v1/trains/CHG600", "viewer").await.1["state"], "pending");

    let (status, r) =
        t.post("/v1/reevaluate", "conductor", json!({ "train_ids": ["chg600", "CHG999", "nonsense"] })).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let results = r["results"].as_array().unwrap();
    assert_eq!(results[0]["state"], "approved");
    assert_eq!(results[0]["decision"]["exceptions_applied"], json!(["exc_1"]));
    assert!(results[1]["error"].as_str().unwrap().contains("no train"));
    assert!(results[2]["error"].as_str().unwrap().contains("not a train id"));

    let (_, list) = t.get("/v1/exceptions", "viewer").await;
    assert_eq!(list["exceptions"][0]["time_left"], "4h");
    let (status, _) = t.call(Method::DELETE, "/v1/exceptions/exc_1", Some("conductor"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = t.call(Method::DELETE, "/v1/exceptions/exc_1", Some("conductor"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Deleted: a dry run no longer sees it.
    let (_, d) = t.post("/v1/evaluate", "viewer", json!({ "train": day_train("CHG601") })).await;
    assert_eq!(d["outcome"], "manual");
}

#[tokio::test]
async fn exception_requests_are_checked() {
    let t = TestApp::new();
    let base = json!({ "result": "approved", "policy": "sla", "duration": "1h", "justification": "because" });
    let cases = [
        (json!({ "policy": "global.nope" }), "known"),
        (json!({ "policy": "start_time" }), "takes no exceptions"),
        (json!({ "duration": "7h" }), "maximum of 6h"),
        (json!({ "duration": "soon" }), "duration"),
        (json!({ "result": "maybe" }), "result"),
        (json!({ "justification": "  " }), "justification"),
        (json!({ "colour": "red" }), "colour"),
    ];
    for (change, needle) in cases {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, v) = t.post("/v1/exceptions", "conductor", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(needle), "{needle}: {v}");
    }
}

#[tokio::test]
async fn hold_release_and_approve_of_a_held_train() {
    let t = TestApp::new();
    assert_eq!(t.submit(&night_train("CHG700")).await["state"], "approved");
    let (status, v) = t.post("/v1/trains/CHG700/hold", "conductor", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "hold needs a reason: {v}");
    let (_, held) = t.post("/v1/trains/CHG700/hold", "conductor", json!({ "reason": "waiting on DB team" })).await;
    assert_eq!(held["state"], "pending");
    assert_eq!(held["decision"]["findings"][0]["message"], "on hold by conductor:conductor-bot: waiting on DB team");
    let (_, released) = t.post("/v1/trains/CHG700/release", "conductor", json!({})).await;
    assert_eq!(released["state"], "approved");
    let (status, _) = t.post("/v1/trains/CHG700/release", "conductor", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "an approved train is not held");

    t.post("/v1/trains/CHG700/hold", "conductor", json!({ "reason": "again" })).await;
    let (_, approved) = t.post("/v1/trains/CHG700/approve", "conductor", json!({ "reason": "checked" })).await;
    assert_eq!(approved["state"], "approved");
    let (status, _) = t.post("/v1/trains/CHG700/release", "conductor", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "approving lifted the hold");
}

#[tokio::test]
async fn reject_needs_a_reason_and_a_pending_train() {
    let t = TestApp::new();
    t.submit(&day_train("CHG800")).await;
    let (status, v) = t.post("/v1/trains/CHG800/reject", "conductor", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("reason"));
    let (_, v) = t.post("/v1/trains/CHG800/reject", "conductor", json!({ "reason": "not now" })).await;
    assert_eq!(v["state"], "rejected");
    let (status, _) = t.post("/v1/trains/CHG800/approve", "conductor", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = t.post("/v1/trains/CHG999/approve", "conductor", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_is_named() {
    let t = TestApp::new();
    let mut unknown = night_train("CHG900");
    unknown["colour"] = json!("red");
    let mut bad_region = night_train("CHG900");
    bad_region["regions"] = json!(["mars-1"]);
    let mut backwards = night_train("CHG900");
    backwards["planned_end"] = json!("2026-11-23T03:00:00Z");
    let mut bad_type = night_train("CHG900");
    bad_type["crb_approved"] = json!("yes");
    let mut bad_id = night_train("CHG900");
    bad_id["id"] = json!("change-1");
    for (body, needle) in [
        (unknown, "colour"),
        (bad_region, "mars-1"),
        (backwards, "planned_end"),
        (bad_type, "crb_approved"),
        (bad_id, "`id`"),
    ] {
        let (status, v) = t.post("/v1/trains", "pipeline", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(needle), "{needle}: {v}");
        assert_eq!(v["error"]["code"], "bad_request");
    }
    let deep = "[".repeat(40) + &"]".repeat(40);
    let (status, v) = t.call_raw(Method::POST, "/v1/trains", Some("pipeline"), Some(deep)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("nested"), "{v}");
    let big = format!("{{\"title\": \"{}\"}}", "x".repeat(1_100_000));
    let (status, v) = t.call_raw(Method::POST, "/v1/trains", Some("pipeline"), Some(big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let (status, v) = t.get("/v1/trains?state=waiting", "viewer").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("waiting"));
    let (status, _) = t.get("/v1/nothing", "viewer").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_dry_run_stores_nothing_and_honours_at() {
    let t = TestApp::new();
    let (status, d) =
        t.post("/v1/evaluate", "viewer", json!({ "train": day_train("CHG910"), "at": "2026-11-23T17:00:00Z" })).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["outcome"], "rejected");
    assert_eq!(d["evaluated_at"], "2026-11-23T17:00:00Z");
    let (status, _) = t.get("/v1/trains/CHG910", "viewer").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = t.get("/v1/audit", "viewer").await;
    assert!(audit["entries"].as_array().unwrap().is_empty(), "{audit}");
}

#[tokio::test]
async fn the_dry_run_carries_the_forecast() {
    let t = TestApp::new();
    // Mon 2026-11-23 15:00-16:00Z = 09:00-10:00 CST, decided at 15:00Z: inside
    // Chicago's hours (08:00-18:00 CST = 14:00Z-00:00Z) to its end, so no instant
    // of the window passes; the first hour-long window after them starts at
    // 18:00 CST (00:00Z Tue), the stage deployment (Sat 04:00Z) long baked.
    let (status, d) =
        t.post("/v1/evaluate", "viewer", json!({ "train": day_train("CHG911"), "at": "2026-11-23T15:00:00Z" })).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["outcome"], "manual");
    assert_eq!(d["retry_at"], Value::Null, "{d}");
    assert_eq!(d["suggested_window"], json!({ "start": "2026-11-24T00:00:00Z", "end": "2026-11-24T01:00:00Z" }));
    // At 22:00Z (16:00 CST) with the window moved to 22:00-01:00Z, it could pass at 18:00 CST.
    let mut train = day_train("CHG912");
    train["planned_start"] = json!("2026-11-23T22:00:00Z");
    train["planned_end"] = json!("2026-11-24T01:00:00Z");
    let (_, d) = t.post("/v1/evaluate", "viewer", json!({ "train": train, "at": "2026-11-23T22:00:00Z" })).await;
    assert_eq!(d["retry_at"], "2026-11-24T00:00:00Z", "{d}");
    // Approved: both present, null.
    let (_, d) = t.post("/v1/evaluate", "viewer", json!({ "train": night_train("CHG913") })).await;
    assert_eq!(d["outcome"], "approved", "{d}");
    assert_eq!((&d["retry_at"], &d["suggested_window"]), (&Value::Null, &Value::Null), "{d}");
}

#[tokio::test]
async fn the_audit_log_is_newest_first_filtered_and_paged() {
    let t = TestApp::new();
    t.submit(&night_train("CHG920")).await;
    t.submit(&night_train("CHG921")).await;
    t.post("/v1/trains/CHG920/start", "pipeline", json!({})).await;
    let (_, page) = t.get("/v1/audit?train_id=chg920&limit=2", "viewer").await;
    let actions: Vec<&str> =
        page["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["start", "submit.decision"]);
    let next = page["next_before"].as_i64().unwrap();
    let (_, page) = t.get(&format!("/v1/audit?train_id=CHG920&limit=2&before={next}"), "viewer").await;
    let actions: Vec<&str> =
        page["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["submit"]);
    assert!(page["next_before"].is_null());
}

/// The audit entries a submission writes, read back from the store, are the
/// ones its reply showed, for a new train and for a pending one resubmitted
/// changed (with text that JSON must escape).
#[tokio::test]
async fn stored_audit_details_are_those_the_reply_showed() {
    let t = TestApp::new();
    let first = t.submit(&day_train("CHG930")).await;
    let mut changed = day_train("CHG930");
    changed["title"] = json!("Deploy razeeapi (81ed70 to 9a0b1c), with \"quotes\" and é");
    let second = t.submit(&changed).await;
    assert_eq!(second["history"].as_array().unwrap().len(), 4, "{second}");
    let (_, page) = t.get("/v1/audit?train_id=CHG930", "viewer").await;
    let mut stored = page["entries"].as_array().unwrap().clone();
    stored.reverse();
    let shown: Vec<Value> = first["history"]
        .as_array()
        .unwrap()
        .iter()
        .chain(&second["history"].as_array().unwrap()[2..])
        .cloned()
        .collect();
    assert_eq!(stored, shown);
    let actions: Vec<&str> = stored.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["submit", "submit.decision", "update", "update.decision"]);
    assert_eq!(stored[2]["detail"]["train"]["title"], changed["title"]);
    assert_eq!(stored[3]["detail"]["decision"], second["decision"]);
    assert_eq!(stored[3]["detail"]["state"], "pending");
}

#[tokio::test]
async fn an_invalid_reload_is_refused_and_the_old_set_keeps_serving() {
    let t = TestApp::new();
    let (_, ready) = t.call(Method::GET, "/readyz", None, None).await;
    let old = ready["policy_revision"].clone();
    std::fs::write(&t.config_path, "[regions.us-south]\ntimezone = \"America/Chicgo\"\n").unwrap();
    let (status, v) = t.post("/v1/admin/reload", "conductor", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["error"]["message"].as_str().unwrap().contains("America/Chicgo"), "{v}");
    assert_eq!(t.call(Method::GET, "/readyz", None, None).await.1["policy_revision"], old);
    assert_eq!(t.submit(&night_train("CHG930")).await["state"], "approved");

    // A valid change is taken: without the SLA, the same kind of train needs a look.
    std::fs::write(&t.config_path, config_text(None).replace("[[slas]]\nsquad = \"tugboat-updater\"\n", "")).unwrap();
    let (status, v) = t.post("/v1/admin/reload", "conductor", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_ne!(v["new_revision"], old);
    assert_eq!(policies_of(&t.submit(&night_train("CHG931")).await), ["global.sla"]);
}

#[tokio::test]
async fn health_routes_need_no_token_and_openapi_covers_every_route() {
    let t = TestApp::new();
    assert_eq!(t.call(Method::GET, "/healthz", None, None).await.0, StatusCode::OK);
    assert_eq!(t.call(Method::GET, "/readyz", None, None).await.0, StatusCode::OK);
    assert_eq!(t.call(Method::GET, "/metrics", None, None).await.0, StatusCode::OK);
    let (status, doc) = t.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/trains",
        "/v1/trains/{id}",
        "/v1/trains/{id}/{action}",
        "/v1/reevaluate",
        "/v1/evaluate",
        "/v1/exceptions",
        "/v1/exceptions/{id}",
        "/v1/stops",
        "/v1/stops/start",
        "/v1/audit",
        "/v1/admin/reload",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    for schema in ["Train", "Decision", "Finding", "Window", "TrainView", "ExceptionBody", "Stop", "ChatAnswer"] {
        assert!(doc["components"]["schemas"].get(schema).is_some(), "{schema} schema missing");
    }
    let decision = &doc["components"]["schemas"]["Decision"]["properties"];
    assert!(decision.get("retry_at").is_some() && decision.get("suggested_window").is_some(), "{decision}");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    use axum::body::Body;
    use tower::ServiceExt;
    let t = TestApp::new();
    let response =
        t.router.clone().oneshot(axum::http::Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
    let made = response.headers().get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    // One the caller sent is kept, errors included.
    for path in ["/healthz", "/v1/nothing"] {
        let request = axum::http::Request::get(path).header("x-request-id", "pipeline-run-42").body(Body::empty());
        let response = t.router.clone().oneshot(request.unwrap()).await.unwrap();
        assert_eq!(response.headers().get("x-request-id").unwrap(), "pipeline-run-42", "{path}");
    }
}

#[tokio::test]
async fn list_filters_by_state_environment_and_squad() {
    let t = TestApp::new();
    t.submit(&night_train("CHG940")).await;
    t.submit(&day_train("CHG941")).await;
    let (_, v) = t.get("/v1/trains?state=pending", "viewer").await;
    let ids: Vec<&str> = v["trains"].as_array().unwrap().iter().map(|r| r["train"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["CHG941"]);
    let (_, v) = t.get("/v1/trains?environment=stage", "viewer").await;
    assert!(v["trains"].as_array().unwrap().is_empty());
    let (_, v) = t.get("/v1/trains?squad=tugboat-updater", "viewer").await;
    assert_eq!(v["trains"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn errors_below_the_handlers_keep_the_json_shape() {
    let t = TestApp::new();
    let (status, v) = t.call(Method::DELETE, "/v1/trains", Some("viewer"), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
    let big = format!("{{\"reason\": \"{}\"}}", "x".repeat(1_100_000));
    let (status, v) = t.call_raw(Method::POST, "/v1/trains/CHG1/approve", Some("conductor"), Some(big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["error"]["code"], "too_large", "{v}");
}

#[tokio::test]
async fn the_role_is_checked_before_the_body() {
    let t = TestApp::new();
    t.submit(&day_train("CHG950")).await;
    let (status, v) = t.post("/v1/trains/CHG950/reject", "pipeline", json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
}

#[tokio::test]
async fn metrics_count_recorded_decisions_and_store_commits() {
    let t = TestApp::new();
    t.submit(&night_train("CHG960")).await;
    // A dry run is not a recorded decision.
    t.post("/v1/evaluate", "viewer", json!({ "train": night_train("CHG961") })).await;
    let stats = t.state.store.stats();
    assert!(stats.commits >= 1 && stats.ops >= stats.commits, "{stats:?}");
}

#[tokio::test]
async fn an_exception_lists_only_the_trains_it_changes() {
    let t = TestApp::new();
    assert_eq!(policies_of(&t.submit(&day_train("CHG610")).await), ["global.business_hours"]);
    let mut other = day_train("CHG611");
    other["squad"] = json!("other-squad");
    assert_eq!(policies_of(&t.submit(&other).await), ["global.business_hours", "global.sla"]);
    // A stop after both were decided changes both trains' next decision, but not because of the exception.
    t.post("/v1/stops", "incident", json!({ "scope": "eu-de", "message": "CIE 3" })).await;
    t.post("/v1/stops", "incident", json!({ "scope": "us-south", "message": "CIE 4" })).await;
    let (status, created) = t
        .post(
            "/v1/exceptions",
            "conductor",
            json!({ "result": "approved", "policy": "business_hours", "duration": "1h",
                    "squad": "tugboat-updater", "justification": "patch window" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["affected_trains"], json!(["CHG610"]));

    // An exception that changes nothing for a train in its scope (it already passes
    // stage bake: its stage deployment is two days old) lists nothing.
    let (_, created) = t
        .post(
            "/v1/exceptions",
            "conductor",
            json!({ "result": "approved", "policy": "stage_bake", "duration": "1h",
                    "squad": "other-squad", "justification": "baked elsewhere" }),
        )
        .await;
    assert_eq!(created["affected_trains"], json!([]), "{created}");
    assert!(created["reevaluate"].is_null());
}

/// Holds the store's writer inside an operation until `release` is sent (the
/// operation then runs `then`), and returns once the writer is inside it.
fn hold_writer(
    t: &TestApp,
    then: impl FnOnce(&signalbox_store::Tx<'_>) -> Result<(), signalbox_store::StoreError> + Send + 'static,
) -> (impl std::future::Future<Output = Result<(), signalbox_store::StoreError>>, std::sync::mpsc::Sender<()>) {
    let (started_tx, started) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let gate = t.state.store.write(move |tx| {
        started_tx.send(()).unwrap();
        released.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
        then(tx)
    });
    started.recv_timeout(std::time::Duration::from_secs(30)).unwrap();
    (gate, release)
}

/// Waits until the store has had `n` operations queued in all.
async fn queued(t: &TestApp, n: u64) {
    for _ in 0..3000 {
        if t.state.store.stats().queued >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("the store never had {n} operations queued");
}

/// A submission is decided on a read connection before the writer records it;
/// a stop that commits in between (in an earlier batch, or earlier in the same
/// batch) must be in the recorded decision, never the approval made without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_decided_before_a_stop_committed_is_decided_again() {
    let at = monday_night();
    for same_batch in [false, true] {
        let t = TestApp::new();
        let router = t.router.clone();
        let submit = |id: &'static str| {
            let router = router.clone();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let req = axum::http::Request::post("/v1/trains")
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {}", token("pipeline")))
                    .body(axum::body::Body::from(night_train(id).to_string()))
                    .unwrap();
                let response = router.oneshot(req).await.unwrap();
                let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
                serde_json::from_slice::<Value>(&bytes).unwrap()
            })
        };
        let view = if same_batch {
            // The stop is queued first; the submission decides without it and
            // queues its write behind it: one batch, the stop first.
            let (gate, release) = hold_writer(&t, |_| Ok(()));
            let n = t.state.store.stats().queued;
            let stop = t.state.store.write(move |tx| tx.insert_stop("all", "CIE 99", "test", at).map(|_| ()));
            let submission = submit("CHG990");
            queued(&t, n + 2).await;
            release.send(()).unwrap();
            gate.await.unwrap();
            stop.await.unwrap();
            submission.await.unwrap()
        } else {
            // The writer commits the stop after the submission decided, before its write.
            let (gate, release) = hold_writer(&t, move |tx| tx.insert_stop("all", "CIE 99", "test", at).map(|_| ()));
            let n = t.state.store.stats().queued;
            let submission = submit("CHG991");
            queued(&t, n + 1).await;
            release.send(()).unwrap();
            gate.await.unwrap();
            submission.await.unwrap()
        };
        assert_eq!(view["state"], "pending", "same batch: {same_batch}: {view}");
        assert_eq!(policies_of(&view), ["global.cie"], "{view}");
        // And what was stored is what was answered.
        let id = view["train"]["id"].as_str().unwrap();
        let (_, stored) = t.get(&format!("/v1/trains/{id}"), "viewer").await;
        assert_eq!(stored, view);
    }
}
