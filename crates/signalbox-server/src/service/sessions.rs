//! Board sessions: a bearer token traded once for a session id that the
//! browser keeps in a cookie. Only the id's digest is stored, with the token's
//! digest, so a session ends when it expires, when it is signed out, or when
//! its token is no longer configured.

use chrono::{DateTime, TimeDelta, Utc};
use signalbox_core::config::Role;
use signalbox_store::Session;

use super::ServiceError;
use crate::auth::{authenticate, new_token, sha256_hex};
use crate::state::AppState;

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: TimeDelta = TimeDelta::hours(12);

/// Who a live session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub name: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

impl SessionUser {
    /// `conductor:alice`: as the token appears over HTTP.
    pub fn actor(&self) -> String {
        format!("{}:{}", self.role.as_str(), self.name)
    }
}

/// Trades a bearer token for a new session, stored before this returns: the
/// session id (for the cookie) and its user. `None` for a token nobody configured.
pub async fn sign_in(
    app: &AppState,
    token: &str,
    at: DateTime<Utc>,
) -> Result<Option<(String, SessionUser)>, ServiceError> {
    let runtime = app.runtime();
    let Some(entry) = authenticate(&runtime.tokens, token.trim()) else {
        return Ok(None);
    };
    let id = new_token().map_err(|e| ServiceError::Internal(format!("no randomness for a session id: {e}")))?;
    let user = SessionUser { name: entry.name.clone(), role: entry.role, expires_at: at + SESSION_LIFETIME };
    let session = Session {
        id_sha256: sha256_hex(&id),
        token_sha256: entry.sha256.clone(),
        name: user.name.clone(),
        role: user.role.as_str().to_string(),
        created_at: at,
        expires_at: user.expires_at,
    };
    app.store.write(move |tx| tx.insert_session(&session)).await?;
    Ok(Some((id, user)))
}

/// The user of a live session whose token is still configured with the same
/// name and role; `None` otherwise.
pub fn session_user(app: &AppState, id: &str, at: DateTime<Utc>) -> Result<Option<SessionUser>, ServiceError> {
    let digest = sha256_hex(id);
    let Some(session) = app.store.read(|tx| tx.live_session(&digest, at))? else {
        return Ok(None);
    };
    let runtime = app.runtime();
    let still = runtime
        .tokens
        .iter()
        .find(|t| t.sha256 == session.token_sha256 && t.name == session.name && t.role.as_str() == session.role);
    Ok(still.map(|t| SessionUser { name: t.name.clone(), role: t.role, expires_at: session.expires_at }))
}

/// Ends a session, committed before this returns; ending one that is gone is not an error.
pub async fn sign_out(app: &AppState, id: &str) -> Result<(), ServiceError> {
    let digest = sha256_hex(id);
    app.store.write(move |tx| tx.delete_session(&digest)).await?;
    Ok(())
}
