//! The board (`/board`) in-process with the clock pinned: signing in and out,
//! what a conductor and a viewer see and may do, and the same-site checks.
//! The browser tests are in `board_browser.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

mod common;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use chrono::TimeDelta;
use common::*;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const SITE: &str = "http://board.test";

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get(header::LOCATION).map_or("", |v| v.to_str().unwrap())
    }
}

/// A board request as a browser on this site sends it: `Host`, and for a
/// post `Origin` (unless `origin` says otherwise) and a form body.
async fn send(t: &TestApp, method: Method, path: &str, cookie: Option<&str>, origin: Option<&str>, form: &str) -> Page {
    let mut req = Request::builder().method(method.clone()).uri(path).header(header::HOST, "board.test");
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    if let Some(origin) = origin {
        req = req.header(header::ORIGIN, origin);
    }
    if method == Method::POST {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let response = t.router.clone().oneshot(req.body(Body::from(form.to_string())).unwrap()).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Page { status, headers, html: String::from_utf8(bytes.to_vec()).unwrap() }
}

async fn get(t: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    send(t, Method::GET, path, cookie, None, "").await
}

async fn post(t: &TestApp, path: &str, cookie: &str, form: &str) -> Page {
    send(t, Method::POST, path, Some(cookie), Some(SITE), form).await
}

/// Signs in with a role's token; the `Cookie` header value of the session.
async fn sign_in(t: &TestApp, role: &str) -> String {
    let page = send(t, Method::POST, "/board/signin", None, Some(SITE), &format!("token={}", token(role))).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(page.location(), "/board");
    let cookie = page.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_string();
    assert!(
        cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict") && cookie.contains("; Path=/board"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

async fn state_of(t: &TestApp, id: &str) -> Value {
    let (status, view) = t.get(&format!("/v1/trains/{id}"), "viewer").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view
}

#[tokio::test]
async fn a_conductor_signs_in_sees_a_waiting_train_and_approves_it_from_the_page() {
    let t = TestApp::new();
    let page = get(&t, "/board", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains(r#"<form id="signin" method="post" action="/board/signin">"#), "{}", page.html);
    assert!(!page.html.contains("data-train"));

    let submitted = t.submit(&day_train("CHG900")).await;
    assert_eq!(submitted["state"], "pending");
    let cookie = sign_in(&t, "conductor").await;
    let page = get(&t, "/board", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    let html = &page.html;
    assert!(html.contains(r#"data-train="CHG900""#), "{html}");
    assert!(html.contains("Signed in as <strong>conductor-bot</strong> (conductor)"), "{html}");
    // Monday 09:00-10:00 in Chicago is inside business hours: a failed policy, flagged and in words.
    assert!(html.contains("⚠️ <strong>MANUAL</strong> <code>global.business_hours</code>"), "{html}");
    // The window in UTC and in Chicago time, and the time until it starts (12 h after the pinned 03:00Z).
    assert!(html.contains("Window 2026-11-23 15:00–16:00 UTC (09:00–10:00 America/Chicago)"), "{html}");
    assert!(html.contains("starts in 12h"), "{html}");
    // The forecast as the decision has it, in UTC and the region's time.
    let decision = &submitted["decision"];
    match decision["suggested_window"]["start"].as_str() {
        Some(start) => {
            let start: chrono::DateTime<chrono::Utc> = start.parse().unwrap();
            let utc = start.format("Suggested window: %Y-%m-%d %H:%M").to_string();
            assert!(html.contains(&utc), "{utc} in {html}");
        }
        None => assert!(html.contains("Suggested window: none starting within 14 days"), "{html}"),
    }
    // Sunday 21:00 in Chicago, 04:00 Monday in Berlin: both closed, said in words.
    assert!(html.contains("Sun 21:00 America/Chicago"), "{html}");
    assert!(html.contains(r#"<tr class="region" data-region="us-south">"#), "{html}");
    assert_eq!(html.matches(r#"<td class="hours closed">closed</td>"#).count(), 2, "{html}");
    // The year-end freeze starts 25 days later: not in the next 14 days.
    assert!(html.contains("Freezes in the next 14 days (0)"), "{html}");
    assert!(html.contains(r#"action="/board/trains/CHG900/approve""#), "{html}");

    let done = post(&t, "/board/trains/CHG900/approve", &cookie, "").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    assert_eq!(done.location(), "/board?done=approve&id=CHG900");
    let view = state_of(&t, "CHG900").await;
    assert_eq!(view["state"], "approved");
    let last = view["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str()),
        (Some("approve"), Some("conductor:conductor-bot")),
        "{last}"
    );

    let page = get(&t, done.location(), Some(&cookie)).await;
    assert!(page.html.contains("Done: approved CHG900"), "{}", page.html);
    assert!(!page.html.contains(r#"data-train="CHG900""#), "an approved train leaves the list");
    assert!(page.html.contains("Pending trains (0)"));
}

#[tokio::test]
async fn a_viewer_sees_the_board_without_actions_and_its_forged_posts_are_refused() {
    let t = TestApp::new();
    t.submit(&day_train("CHG901")).await;
    let cookie = sign_in(&t, "viewer").await;
    let page = get(&t, "/board", Some(&cookie)).await;
    assert!(page.html.contains(r#"data-train="CHG901""#), "{}", page.html);
    for action in ["/approve", "/reject", "/hold", "/reevaluate", "/board/exceptions"] {
        assert!(!page.html.contains(action), "a viewer is offered `{action}`");
    }
    assert_eq!(page.html.matches("<button").count(), 1, "only sign out: {}", page.html);

    for (path, form) in [
        ("/board/trains/CHG901/approve", ""),
        ("/board/trains/CHG901/reject", "reason=no"),
        ("/board/trains/CHG901/hold", "reason=wait"),
        ("/board/exceptions", "result=approved&policy=business_hours&duration=1h&justification=x"),
    ] {
        let refused = post(&t, path, &cookie, form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}: {}", refused.html);
        assert!(
            refused.html.contains("needs the role conductor; `viewer-bot` has the role `viewer`"),
            "{}",
            refused.html
        );
    }
    assert_eq!(state_of(&t, "CHG901").await["state"], "pending");
    let (_, exceptions) = t.get("/v1/exceptions", "viewer").await;
    assert_eq!(exceptions["exceptions"], serde_json::json!([]));
}

#[tokio::test]
async fn posts_from_another_site_or_without_an_origin_are_refused() {
    let t = TestApp::new();
    t.submit(&day_train("CHG902")).await;
    let cookie = sign_in(&t, "conductor").await;
    for origin in [Some("http://evil.test"), Some("null"), None, Some("http://board.test.evil.test")] {
        let page = send(&t, Method::POST, "/board/trains/CHG902/approve", Some(&cookie), origin, "").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{origin:?}: {}", page.html);
        assert!(page.html.contains("cross-site form posts are refused"), "{}", page.html);
    }
    let mut req = Request::post("/board/trains/CHG902/approve")
        .header(header::HOST, "board.test")
        .header(header::ORIGIN, SITE)
        .header("sec-fetch-site", "cross-site")
        .header(header::COOKIE, &cookie);
    req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    let response = t.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(state_of(&t, "CHG902").await["state"], "pending");
    // Signing in from another site is refused too (no session made for it).
    let page = send(&t, Method::POST, "/board/signin", None, Some("http://evil.test"), "token=token-conductor").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_session_ends_when_signed_out_after_12_hours_and_a_bad_token_gets_none() {
    let t = TestApp::new();
    let page = send(&t, Method::POST, "/board/signin", None, Some(SITE), "token=not-a-token").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.html.contains("Refused: unknown token"), "{}", page.html);
    assert!(page.headers.get(header::SET_COOKIE).is_none());

    let cookie = sign_in(&t, "conductor").await;
    assert!(get(&t, "/board", Some(&cookie)).await.html.contains("Sign out"));
    let out = post(&t, "/board/signout", &cookie, "").await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.headers[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    // The old cookie, replayed, is no session any more.
    let page = get(&t, "/board", Some(&cookie)).await;
    assert!(page.html.contains(r#"id="signin""#) && !page.html.contains("Sign out"), "{}", page.html);
    assert_eq!(get(&t, "/board/fragment", Some(&cookie)).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&t, "/board/events", Some(&cookie)).await.status, StatusCode::UNAUTHORIZED);
    let refused = post(&t, "/board/trains/CHG1/approve", &cookie, "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let cookie = sign_in(&t, "conductor").await;
    t.state.set_now(monday_night() + TimeDelta::hours(12) - TimeDelta::seconds(1));
    assert!(get(&t, "/board", Some(&cookie)).await.html.contains("Sign out"), "still live just before 12 h");
    t.state.set_now(monday_night() + TimeDelta::hours(12));
    assert!(get(&t, "/board", Some(&cookie)).await.html.contains(r#"id="signin""#), "expired at 12 h");
}

#[tokio::test]
async fn a_conductor_rejects_holds_reevaluates_and_creates_and_deletes_exceptions() {
    let t = TestApp::new();
    for id in ["CHG903", "CHG904", "CHG905"] {
        t.submit(&day_train(id)).await;
    }
    let cookie = sign_in(&t, "conductor").await;

    let refused = post(&t, "/board/trains/CHG903/reject", &cookie, "reason=").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.html.contains("Refused: give a reason to reject CHG903"), "{}", refused.html);
    assert_eq!(
        post(&t, "/board/trains/CHG903/reject", &cookie, "reason=not+today").await.status,
        StatusCode::SEE_OTHER
    );
    let view = state_of(&t, "CHG903").await;
    assert_eq!(view["state"], "rejected");
    let last = view["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["detail"]["detail"]["reason"], "not today", "{last}");

    assert_eq!(
        post(&t, "/board/trains/CHG904/hold", &cookie, "reason=waiting+for+db").await.status,
        StatusCode::SEE_OTHER
    );
    let page = get(&t, "/board", Some(&cookie)).await;
    assert!(
        page.html.contains("On hold since 2026-11-23 03:00 UTC by conductor:conductor-bot: waiting for db"),
        "{}",
        page.html
    );

    // An exception for business hours: CHG905 would pass by it once re-evaluated.
    let form = "result=approved&policy=business_hours&duration=2h&configuration_item=&squad=tugboat-updater&service=&justification=hotfix";
    let created = post(&t, "/board/exceptions", &cookie, form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
    let id = created.location().strip_prefix("/board?done=exception&id=").unwrap().to_string();
    let page = get(&t, "/board", Some(&cookie)).await;
    assert!(page.html.contains(&format!(r#"data-exception="{id}""#)), "{}", page.html);
    assert!(page.html.contains("for <code>*/tugboat-updater/*</code> · 2h left · hotfix"), "{}", page.html);
    assert_eq!(post(&t, "/board/trains/CHG905/reevaluate", &cookie, "").await.status, StatusCode::SEE_OTHER);
    let view = state_of(&t, "CHG905").await;
    assert!(!policies_of(&view).contains(&"global.business_hours".to_string()), "{view}");

    let bad =
        post(&t, "/board/exceptions", &cookie, "result=maybe&policy=business_hours&duration=2h&justification=x").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.html.contains("`result` must be approved, rejected or manual, found `maybe`"), "{}", bad.html);

    let deleted = post(&t, &format!("/board/exceptions/{id}/delete"), &cookie, "").await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.html);
    let (_, live) = t.get("/v1/exceptions", "viewer").await;
    assert_eq!(live["exceptions"], serde_json::json!([]));
    let again = post(&t, &format!("/board/exceptions/{id}/delete"), &cookie, "").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.html);
}

#[tokio::test]
async fn the_page_and_its_assets_are_served_by_the_binary_with_a_strict_policy() {
    let t = TestApp::new();
    let page = get(&t, "/board", None).await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    for (path, kind) in [("/board/static/board.css", "text/css"), ("/board/static/board.js", "text/javascript")] {
        let asset = get(&t, path, None).await;
        assert_eq!(asset.status, StatusCode::OK);
        assert!(asset.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with(kind));
        assert!(
            !asset.html.contains("http://") && !asset.html.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
    }
    assert!(!page.html.contains("http://") && !page.html.contains("https://"), "{}", page.html);
}
