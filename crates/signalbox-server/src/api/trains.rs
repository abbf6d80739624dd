//! `/v1/trains`, `/v1/reevaluate`, `/v1/evaluate`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalbox_core::config::Role;
use signalbox_core::{Decision, Train, TrainState};
use signalbox_store::{TrainFilter, TrainRecord};

use super::auth::{Principal, ANY};
use super::error::ApiError;
use super::json::{self, ApiJson};
use crate::service::{self, Action, Reevaluated, TrainView};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/trains", post(submit).get(list_trains))
        .route("/v1/trains/{id}/{action}", post(train_action))
        .route("/v1/reevaluate", post(reevaluate))
        .route("/v1/evaluate", post(evaluate))
}

#[utoipa::path(post, path = "/v1/trains", tag = "trains", request_body = Train,
    responses((status = 200, description = "The train with its decision (new, updated, or unchanged when resubmitted as is)", body = TrainView),
        (status = 400, description = "Invalid train; the message names the field"), (status = 409, description = "Changed body on a train that is not pending")),
    security(("bearer" = [])))]
pub(crate) async fn submit(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(train): ApiJson<Train>,
) -> Result<Response, ApiError> {
    let ctx = who.require(&app, &[Role::Pipeline, Role::Conductor], "submitting a train")?;
    Ok(Json(service::submit(&app, &ctx, train).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    state: Option<String>,
    environment: Option<String>,
    squad: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `{"trains": [...]}`, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TrainList {
    #[schema(value_type = Vec<Object>)]
    trains: Vec<TrainRecord>,
}

#[utoipa::path(get, path = "/v1/trains", tag = "trains", params(ListQuery),
    responses((status = 200, description = "`{\"trains\": [{train, state, decision, created_at, updated_at}]}`, oldest first", body = TrainList)), security(("bearer" = [])))]
pub(crate) async fn list_trains(
    State(app): State<AppState>,
    who: Principal,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    who.require(&app, ANY, "listing trains")?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(format!("bad query: {}", e.body_text())))?;
    let state = q
        .state
        .map(|s| {
            TrainState::parse(&s).ok_or_else(|| {
                let known: Vec<&str> = TrainState::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::BadRequest(format!("`state` `{s}` is not one of {}", known.join(", ")))
            })
        })
        .transpose()?;
    let filter = TrainFilter {
        state,
        environment: q.environment,
        squad: q.squad,
        limit: Some(q.limit.unwrap_or(100).min(1000)),
        offset: q.offset,
    };
    Ok(Json(TrainList { trains: service::list_trains(&app, &filter)? }).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(post, path = "/v1/trains/{id}/{action}", tag = "trains",
    params(("id" = String, Path, description = "Train id"), ("action" = String, Path, description = "approve, reject, hold, release (conductor); start, complete, abort (pipeline)")),
    request_body(content = ReasonBody, description = "`reason` is required for reject and hold"),
    responses((status = 200, body = TrainView), (status = 409, description = "The train is not in a state that allows it, or a stop is in force (start)")),
    security(("bearer" = [])))]
pub(crate) async fn train_action(
    State(app): State<AppState>,
    who: Principal,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let roles: &[Role] = match action.as_str() {
        "approve" | "reject" | "hold" | "release" => &[Role::Conductor],
        "start" | "complete" | "abort" => &[Role::Pipeline],
        other => {
            return Err(ApiError::NotFound(format!(
                "no action `{other}`; train actions are approve, reject, hold, release, start, complete, abort"
            )))
        }
    };
    // Who may do it is checked before what was sent.
    let ctx = who.require(&app, roles, &format!("`{action}`"))?;
    let body: ReasonBody =
        if body.iter().all(u8::is_ascii_whitespace) { ReasonBody::default() } else { json::parse(&body)? };
    let reason = body.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    let required = |what: &str| {
        reason.clone().ok_or_else(|| ApiError::BadRequest(format!("`reason` is required to {what} a train")))
    };
    let action = match action.as_str() {
        "approve" => Action::Approve { reason },
        "reject" => Action::Reject { reason: required("reject")? },
        "hold" => Action::Hold { reason: required("hold")? },
        "release" => Action::Release,
        "start" => Action::Start,
        "complete" => Action::Complete,
        _ => Action::Abort { reason },
    };
    Ok(Json(service::act(&app, &ctx, &id, action).await?).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReevaluateBody {
    train_ids: Vec<String>,
}

/// One result per id: its new decision, or why it was not re-evaluated.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ReevaluateResults {
    results: Vec<Reevaluated>,
}

#[utoipa::path(post, path = "/v1/reevaluate", tag = "trains", request_body = ReevaluateBody,
    responses((status = 200, description = "One result per id: its new decision, or why it was not re-evaluated", body = ReevaluateResults)), security(("bearer" = [])))]
pub(crate) async fn reevaluate(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<ReevaluateBody>,
) -> Result<Response, ApiError> {
    let ctx = who.require(&app, &[Role::Conductor], "re-evaluating trains")?;
    let results = service::reevaluate(&app, &ctx, body.train_ids).await?;
    Ok(Json(ReevaluateResults { results }).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvaluateBody {
    train: Train,
    /// RFC 3339; the request's instant when absent.
    #[serde(default, deserialize_with = "signalbox_core::time::instant::option::deserialize")]
    at: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/v1/evaluate", tag = "trains", request_body = EvaluateBody,
    responses((status = 200, description = "What would be decided at `at` (default now) with today's state; nothing is stored", body = Decision)), security(("bearer" = [])))]
pub(crate) async fn evaluate(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(body): ApiJson<EvaluateBody>,
) -> Result<Response, ApiError> {
    let ctx = who.require(&app, ANY, "a dry run")?;
    Ok(Json(service::dry_run(&app, &ctx, &body.train, body.at)?).into_response())
}
