//! `/v1/exceptions`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use signalbox_core::config::Role;
use signalbox_core::time::parse_duration;
use signalbox_core::{Exception, ExceptionRequest, Outcome};

use super::auth::{Principal, ANY};
use super::error::ApiError;
use super::json::ApiJson;
use crate::service::{self, ExceptionCreated, ExceptionView};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/exceptions", get(list_exceptions).post(create_exception))
        .route("/v1/exceptions/{id}", delete(delete_exception))
}

/// `{"exceptions": [...]}`: the live ones.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ExceptionList {
    exceptions: Vec<ExceptionView>,
}

#[utoipa::path(get, path = "/v1/exceptions", tag = "exceptions",
    responses((status = 200, description = "The live exceptions", body = ExceptionList)), security(("bearer" = [])))]
pub(crate) async fn list_exceptions(State(app): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    let ctx = who.require(&app, ANY, "listing exceptions")?;
    Ok(Json(ExceptionList { exceptions: service::list_exceptions(&app, &ctx)? }).into_response())
}

/// The body of `POST /v1/exceptions`, as sent on the wire.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExceptionBody {
    /// approved, rejected or manual.
    pub(crate) result: String,
    /// A policy path or alias, e.g. `global.business_hours`.
    pub(crate) policy: String,
    /// e.g. `4h`, `1h30m`.
    pub(crate) duration: String,
    #[serde(default)]
    pub(crate) configuration_item: Option<String>,
    #[serde(default)]
    pub(crate) squad: Option<String>,
    #[serde(default)]
    pub(crate) service: Option<String>,
    pub(crate) justification: String,
}

impl ExceptionBody {
    pub(crate) fn into_request(self) -> Result<ExceptionRequest, ApiError> {
        for (field, value) in [("result", &self.result), ("duration", &self.duration)] {
            signalbox_core::text::check_name(field, value).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        }
        let result = Outcome::parse(&self.result).ok_or_else(|| {
            ApiError::BadRequest(format!("`result` must be approved, rejected or manual, found `{}`", self.result))
        })?;
        let duration = parse_duration(&self.duration).map_err(|e| ApiError::BadRequest(format!("`duration`: {e}")))?;
        Ok(ExceptionRequest {
            result,
            policy: self.policy,
            duration,
            configuration_item: self.configuration_item,
            squad: self.squad,
            service: self.service,
            justification: self.justification,
        })
    }
}

#[utoipa::path(post, path = "/v1/exceptions", tag = "exceptions", request_body = ExceptionBody,
    responses((status = 201, description = "The exception, and the pending trains it would change", body = ExceptionCreated), (status = 400, description = "Unknown policy (the known ones are listed), duration over the maximum, no justification")),
    security(("bearer" = [])))]
pub(crate) async fn create_exception(
    State(app): State<AppState>,
    who: Principal,
    body: ApiJson<ExceptionBody>,
) -> Result<Response, ApiError> {
    let ctx = who.require(&app, &[Role::Conductor], "creating an exception")?;
    let body = body.parse()?;
    let created = service::create_exception(&app, &ctx, body.into_request()?).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(delete, path = "/v1/exceptions/{id}", tag = "exceptions", params(("id" = String, Path, description = "e.g. exc_7", pattern = r"^[Ee][Xx][Cc]_[0-9]+$")),
    responses((status = 200, description = "The exception, ended", body = Exception), (status = 404, description = "No live exception with that id")), security(("bearer" = [])))]
pub(crate) async fn delete_exception(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ctx = who.require(&app, &[Role::Conductor], "deleting an exception")?;
    Ok(Json(service::delete_exception(&app, &ctx, id).await?).into_response())
}
