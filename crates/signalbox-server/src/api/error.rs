//! The one API error type: each variant is an honest status code, and the body is
//! always `{"error": {"code": "...", "message": "..."}}`. 5xx bodies never echo
//! internals: the details go to the log under the request's id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use signalbox_store::StoreError;

use crate::service::ServiceError;

/// How long a client is asked to wait before retrying a 503 from the store.
pub const RETRY_AFTER_SECONDS: u64 = 5;

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
    /// 503: not ready.
    #[error("{0}")]
    Unavailable(String),
    /// 503 with `Retry-After`: the store cannot take this just now (closed,
    /// stuck, busy, the disk full, the file damaged); retry later.
    #[error("{0}")]
    StoreUnavailable(String),
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
            ApiError::Unavailable(_) | ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(m) => ApiError::BadRequest(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Refused(m) => ApiError::Invalid(m),
            ServiceError::Unavailable(e) => {
                tracing::warn!(error = %e, "the store is unavailable");
                let why = match e {
                    StoreError::Full { .. } => " (the disk is full)",
                    StoreError::Damaged { .. } => " (its file is damaged; see `signalbox store check`)",
                    StoreError::Closed => " (the server is shutting down)",
                    _ => "",
                };
                ApiError::StoreUnavailable(format!(
                    "the store cannot take this just now{why}; nothing was changed, try again later"
                ))
            }
            ServiceError::Internal(m) => ApiError::Internal(m),
        }
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
        let mut response = (status, Json(body)).into_response();
        if matches!(self, ApiError::StoreUnavailable(_)) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_cannot_serve_is_503_and_a_broken_one_500() {
        let closed = ApiError::from(ServiceError::from(signalbox_store::StoreError::Closed));
        assert_eq!((closed.status(), closed.code()), (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"));
        assert_eq!(closed.into_response().headers()["retry-after"], "5");
        let stuck = ApiError::from(ServiceError::from(signalbox_store::StoreError::WriterStuck { seconds: 5 }));
        assert_eq!(stuck.status(), StatusCode::SERVICE_UNAVAILABLE);
        let damaged = signalbox_store::StoreError::Decode { what: "x".into(), message: "y".into() };
        assert_eq!(ApiError::from(ServiceError::from(damaged)).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
