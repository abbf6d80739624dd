//! `/v1/admin/reload` and the health routes: `/healthz`, `/readyz`, `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use signalbox_core::config::Role;

use super::auth::Principal;
use super::error::ApiError;
use crate::service::{self, Reloaded};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/reload", post(reload))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[utoipa::path(post, path = "/v1/admin/reload", tag = "admin",
    responses((status = 200, description = "Old and new policy revisions", body = Reloaded), (status = 422, description = "The new set is invalid; the old one keeps serving")),
    security(("bearer" = [])))]
pub(crate) async fn reload(State(app): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    let ctx = who.require(&app, &[Role::Conductor], "reloading")?;
    Ok(Json(service::reload(&app, &ctx).await?).into_response())
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is alive")))]
pub(crate) async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "Policies loaded and the store writable; `calendars` lists each calendar feed and whether it is stale"), (status = 503, description = "Not ready")))]
pub(crate) async fn readyz(State(app): State<AppState>) -> Response {
    let runtime = app.runtime();
    // The probe goes through the writer and may wait; keep it off the async threads.
    let store = app.store.clone();
    let writable = tokio::task::spawn_blocking(move || store.check_writable()).await;
    let writable = writable.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()));
    // A stale calendar does not make the server unready: its last good copy is in force.
    let calendars = crate::calendars::status(&app, app.request("readyz").at);
    match writable {
        Ok(()) => Json(json!({
            "status": "ready",
            "policy_revision": runtime.evaluator.revision(),
            "policies": runtime.evaluator.policies().entries().len(),
            "calendars": calendars,
        }))
        .into_response(),
        Err(e) => ApiError::Unavailable(format!("the store is not writable: {e}")).into_response(),
    }
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format")))]
pub(crate) async fn metrics(State(app): State<AppState>) -> Response {
    let stats = app.store.stats();
    metrics::counter!("signalbox_store_commits_total").absolute(stats.commits);
    metrics::counter!("signalbox_store_failed_commits_total").absolute(stats.failed_commits);
    metrics::counter!("signalbox_store_ops_total").absolute(stats.ops);
    crate::calendars::status(&app, app.request("metrics").at);
    match app.metrics_handle() {
        Some(handle) => handle.render().into_response(),
        None => (StatusCode::OK, String::new()).into_response(),
    }
}
