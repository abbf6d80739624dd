//! Prometheus metrics: the recorder and the counters the service keeps.
//!
//! Names: `signalbox_http_requests_total{method,route,status}`,
//! `signalbox_http_request_duration_seconds{method,route}` (both kept by the
//! HTTP layer, `app.rs`), `signalbox_decisions_total{outcome}` (recorded
//! decisions), `signalbox_policy_errors_total{policy}` (fail-closed findings),
//! `signalbox_store_commits_total`, `signalbox_store_failed_commits_total`,
//! `signalbox_store_ops_total`, `signalbox_slack_posts_total{purpose,result}`.

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
    for f in decision.findings.iter().filter(|f| f.policy_error) {
        metrics::counter!("signalbox_policy_errors_total", "policy" => f.policy.clone()).increment(1);
    }
}

/// `signalbox_slack_posts_total{purpose, result}`: replies, notices and late
/// slash-command answers posted to Slack, and those that failed.
pub fn count_slack_post(purpose: &'static str, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!("signalbox_slack_posts_total", "purpose" => purpose, "result" => result).increment(1);
}
