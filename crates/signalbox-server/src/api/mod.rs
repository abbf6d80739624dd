//! The HTTP API (docs/api.md), one module per resource, each with its own
//! router; [`router`] merges them. Handlers check the caller's role first,
//! turn the request into typed arguments, call the service and map its errors
//! to statuses ([`error::ApiError`]).

pub mod admin;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod error;
pub mod exceptions;
pub mod json;
pub mod stops;
pub mod trains;
pub mod waiting;

use axum::Router;

use crate::state::AppState;

/// Every `/v1/*` and health route but those of [`waiting`], which bound their own time.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(trains::router())
        .merge(exceptions::router())
        .merge(stops::router())
        .merge(audit::router())
        .merge(admin::router())
        .merge(chat::router())
}
