//! `/v1/stops` and `/v1/stops/start`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use signalbox_core::config::Role;
use signalbox_core::Stop;

use super::auth::{Principal, ANY};
use super::error::ApiError;
use super::json::ApiJson;
use crate::service::{self, StartTrainsReport};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/stops", get(list_stops).post(create_stop)).route("/v1/stops/start", post(start_trains))
}

/// `{"stops": [...]}`: the active ones, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct StopList {
    stops: Vec<Stop>,
}

#[utoipa::path(get, path = "/v1/stops", tag = "stops",
    responses((status = 200, description = "The active stops", body = StopList)), security(("bearer" = [])))]
pub(crate) async fn list_stops(State(app): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    who.require(&app, ANY, "listing stops")?;
    Ok(Json(StopList { stops: service::list_stops(&app)? }).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StopBody {
    /// `all`, an environment or a region.
    scope: String,
    message: String,
}

#[utoipa::path(post, path = "/v1/stops", tag = "stops", request_body = StopBody,
    responses((status = 201, description = "The stop, in force", body = Stop), (status = 400, description = "Unknown scope or no message")), security(("bearer" = [])))]
pub(crate) async fn create_stop(
    State(app): State<AppState>,
    who: Principal,
    body: ApiJson<StopBody>,
) -> Result<Response, ApiError> {
    let ctx = who.require(&app, &[Role::Incident, Role::Conductor], "stopping trains")?;
    let body = body.parse()?;
    let stop = service::create_stop(&app, &ctx, &body.scope, &body.message).await?;
    Ok((StatusCode::CREATED, Json(stop)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBody {
    /// Exactly the scope whose stops to lift; `all` lifts every stop.
    scope: String,
}

#[utoipa::path(post, path = "/v1/stops/start", tag = "stops", request_body = StartBody,
    responses((status = 200, description = "The stops lifted, and what re-evaluation made of the pending trains", body = StartTrainsReport),
        (status = 400, description = "Unknown scope")), security(("bearer" = [])))]
pub(crate) async fn start_trains(
    State(app): State<AppState>,
    who: Principal,
    body: ApiJson<StartBody>,
) -> Result<Response, ApiError> {
    let ctx = who.require(&app, &[Role::Conductor], "starting trains")?;
    let body = body.parse()?;
    Ok(Json(service::start_trains(&app, &ctx, &body.scope).await?).into_response())
}
