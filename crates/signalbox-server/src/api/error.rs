//! The one API error type: each variant is an honest status code, and the body is
//! always `{"error": {"code": "...", "message": "..."}}`. 5xx bodies never echo
//! internals: the details go to the log under the request's id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; the message names the field or word.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no bearer token, or one we do not know.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the token's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the request conflicts with the current state (and says with what).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// 422: a configuration or policy set that does not load.
    #[error("{0}")]
    Invalid(String),
    /// 503: not ready (e.g. the store is not writable or is shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// 500: logged in full, answered generically.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Invalid(_) => "invalid",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<signalbox_store::StoreError> for ApiError {
    fn from(e: signalbox_store::StoreError) -> Self {
        ApiError::Internal(format!("store: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error; the details are in the server log".to_string()
            }
            other => other.to_string(),
        };
        let body = json!({ "error": { "code": self.code(), "message": message } });
        (status, Json(body)).into_response()
    }
}
