//! Who is calling: the bearer token of a request, checked against the
//! configured digests, and the role checks handlers make before anything else.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use signalbox_core::config::Role;

use super::error::ApiError;
use crate::auth::authenticate;
use crate::state::{AppState, Ctx};

/// Every role: routes any token may call.
pub const ANY: &[Role] = &[Role::Pipeline, Role::Conductor, Role::Incident, Role::Viewer, Role::Chat];

/// The caller of a request, as proven by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

impl Principal {
    /// `pipeline:deploy-bot`: how the caller appears in decisions and the audit log.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.name)
    }

    /// 403 unless the caller has one of `roles`; else the request's context
    /// (the caller as actor, and the instant, read once here).
    pub fn require(&self, app: &AppState, roles: &[Role], what: &str) -> Result<Ctx, ApiError> {
        if roles.contains(&self.role) {
            return Ok(app.request(self.actor()));
        }
        let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::Forbidden(format!(
            "{what} needs the role {}; token `{}` has the role `{}`",
            allowed.join(" or "),
            self.name,
            self.role.as_str()
        )))
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("missing `Authorization: Bearer <token>` header".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("the `Authorization` header must be `Bearer <token>`".into()))?;
        let runtime = state.runtime();
        let entry =
            authenticate(&runtime.tokens, token).ok_or_else(|| ApiError::Unauthorized("unknown token".into()))?;
        Ok(Principal { name: entry.name.clone(), role: entry.role })
    }
}
