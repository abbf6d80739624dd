//! Prometheus metrics and the per-request tracing span.
//!
//! Names: `signalbox_http_requests_total{method,route,status}`,
//! `signalbox_http_request_duration_seconds{method,route}`,
//! `signalbox_decisions_total{outcome}` (recorded decisions), `signalbox_policy_errors_total{policy}`
//! (fail-closed findings), `signalbox_store_commits_total`, `signalbox_store_failed_commits_total`,
//! `signalbox_store_ops_total`, `signalbox_slack_posts_total{purpose,result}`.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use signalbox_core::Decision;

/// Installs the global recorder; `None` if one is already installed (tests).
pub fn install() -> Option<PrometheusHandle> {
    let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("signalbox_http_request_duration_seconds".into()), &buckets)
        .ok()?
        .install_recorder()
        .ok()
}

/// Counts a decision and any fail-closed policy errors in it.
pub fn record_decision(decision: &Decision) {
    metrics::counter!("signalbox_decisions_total", "outcome" => decision.outcome.as_str()).increment(1);
    for f in decision.findings.iter().filter(|f| f.message.starts_with("policy error")) {
        metrics::counter!("signalbox_policy_errors_total", "policy" => f.policy.clone()).increment(1);
    }
}

/// Middleware: request count and latency by route template (never by raw path).
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("signalbox_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("signalbox_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

/// The span each request is logged in: method, path and request id; never headers (tokens).
pub fn request_span(req: &axum::http::Request<Body>) -> tracing::Span {
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id)
}
