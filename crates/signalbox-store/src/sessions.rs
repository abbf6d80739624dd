//! Board sessions (docs/board.md): a browser signed in with a bearer token.
//! Only digests are stored: of the session id, which lives in the browser's
//! cookie, and of the token, so a session ends when its token is removed.

use chrono::{DateTime, Utc};

use crate::db::{ColumnError, DbRow};
use crate::error::StoreError;
use crate::tx::{instant, parse_instant, Tx};

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Lower-case hex SHA-256 of the session id.
    pub id_sha256: String,
    /// Lower-case hex SHA-256 of the token that signed in.
    pub token_sha256: String,
    /// The token's name and role at sign-in.
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Tx<'_> {
    /// Records a session; sessions that expired by its creation are dropped first.
    pub fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        self.exec("insert_session", "DELETE FROM sessions WHERE expires_at <= ?1", &[&instant(session.created_at)])?;
        self.exec(
            "insert_session",
            "INSERT INTO sessions (id_sha256, token_sha256, name, role, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                &session.id_sha256,
                &session.token_sha256,
                &session.name,
                &session.role,
                &instant(session.created_at),
                &instant(session.expires_at),
            ],
        )?;
        Ok(())
    }

    /// The session with this id digest, if it has not expired by `at`.
    pub fn live_session(&self, id_sha256: &str, at: DateTime<Utc>) -> Result<Option<Session>, StoreError> {
        let row = self.first(
            "live_session",
            "SELECT id_sha256, token_sha256, name, role, created_at, expires_at
             FROM sessions WHERE id_sha256 = ?1 AND expires_at > ?2",
            &[&id_sha256, &instant(at)],
            session_row,
        )?;
        row.map(|(id_sha256, token_sha256, name, role, created, expires)| {
            Ok(Session {
                id_sha256,
                token_sha256,
                name,
                role,
                created_at: parse_instant("session created_at", &created)?,
                expires_at: parse_instant("session expires_at", &expires)?,
            })
        })
        .transpose()
    }

    /// Ends a session; true if there was one.
    pub fn delete_session(&self, id_sha256: &str) -> Result<bool, StoreError> {
        let deleted = self.exec("delete_session", "DELETE FROM sessions WHERE id_sha256 = ?1", &[&id_sha256])?;
        Ok(deleted == 1)
    }
}

type SessionRow = (String, String, String, String, String, String);

fn session_row(row: &DbRow<'_, '_>) -> Result<SessionRow, ColumnError> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
}
