//! `/v1/audit`.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::{Principal, ANY};
use super::error::ApiError;
use crate::service::{self, AuditPage};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(audit))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Only this train's entries.
    train_id: Option<String>,
    /// Entries before this sequence number (the previous page's `next_before`).
    before: Option<i64>,
    /// At most this many (1-1000, default 100).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "A page of entries, newest first", body = AuditPage),
        (status = 400, description = "A bad train id or query parameter")), security(("bearer" = [])))]
pub(crate) async fn audit(
    State(app): State<AppState>,
    who: Principal,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    who.require(&app, ANY, "reading the audit log")?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(service::audit_page(&app, q.train_id.as_deref(), q.before, limit)?).into_response())
}
