//! `Tx`: the typed operations on one connection, inside a transaction.
//!
//! The methods live next to their tables (`trains.rs`, `audit.rs`,
//! `state.rs`); this file holds the type, the encodings shared by all of
//! them, and the small `meta` key-value table. Every method is one SQL
//! statement, so a method either takes effect whole or not at all.

use std::cell::Cell;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension};

use crate::error::StoreError;
use crate::shared::{SharedCache, SharedState, HOLDS_IN_MEMORY};

/// A transaction on one connection, handed to the closures of
/// [`Store::write`](crate::Store::write) and [`Store::read`](crate::Store::read).
///
/// On the writer every method runs inside the operation's savepoint; on a read
/// connection inside one read transaction, so everything a closure reads comes
/// from the same snapshot. Writing methods called on a read connection fail.
pub struct Tx<'a> {
    pub(crate) conn: &'a Connection,
    shared: Shared<'a>,
}

/// Where the transaction stands towards the [`SharedState`] cache (`shared.rs`).
#[derive(Clone, Copy)]
pub(crate) enum Shared<'a> {
    /// On the writer: whether an operation of this batch has touched a decision input.
    Writer { cache: &'a SharedCache, touched: &'a Cell<bool> },
    /// On a read connection: the generation read before the transaction began.
    Reader { cache: &'a SharedCache, generation: u64 },
}

impl<'a> Tx<'a> {
    pub(crate) fn new(conn: &'a Connection, shared: Shared<'a>) -> Tx<'a> {
        Tx { conn, shared }
    }

    /// Notes that this operation changes what decisions read (stops,
    /// exceptions, holds, stage deployments): the cache is dropped and the
    /// generation bumped once the batch ends.
    pub(crate) fn touch(&self) {
        if let Shared::Writer { touched, .. } = self.shared {
            touched.set(true);
        }
    }

    /// The generation of decision inputs this transaction sees, if it sees
    /// exactly one: on a read connection, the generation its snapshot holds
    /// at least; on the writer, the current one, unless this batch has already
    /// changed a decision input (`None`). A decision made at generation `g`
    /// still holds where this is `Some(g)`, as far as stops, exceptions, holds
    /// and stage deployments go.
    pub fn generation(&self) -> Option<u64> {
        match self.shared {
            Shared::Writer { cache, touched } => (!touched.get()).then(|| cache.generation()),
            Shared::Reader { generation, .. } => Some(generation),
        }
    }

    /// The active stops and the exceptions live at `at` (and the holds, while
    /// few), from memory when the cache holds them for this transaction's view,
    /// else read (and offered to the cache).
    pub fn shared_state(&self, at: DateTime<Utc>) -> Result<Arc<SharedState>, StoreError> {
        let cache = match self.shared {
            Shared::Writer { cache, .. } | Shared::Reader { cache, .. } => cache,
        };
        let generation = self.generation();
        if let Some(state) = generation.and_then(|g| cache.get(g, at)) {
            return Ok(state);
        }
        // A state read inside a batch that changed decision inputs serves no
        // look-ups (`hold_for` reads the table then), so it loads no holds.
        let holds = match generation {
            Some(_) => self.holds_if_at_most(HOLDS_IN_MEMORY)?,
            None => None,
        };
        let state = Arc::new(SharedState::new(
            self.active_stops()?,
            self.live_exceptions(at)?,
            holds,
            at,
            generation.unwrap_or(u64::MAX),
        ));
        if generation.is_some() {
            cache.offer(&state);
        }
        Ok(state)
    }

    /// A small setting, such as the hash of the bootstrap token.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut stmt| stmt.query_row([key], |row| row.get(0)).optional())
            .map_err(StoreError::query("get_meta"))
    }

    /// Sets a small setting, replacing any previous value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut stmt| stmt.execute([key, value]))
            .map(|_| ())
            .map_err(StoreError::query("set_meta"))
    }
}

/// Instants are stored as fixed-width RFC 3339 text in UTC with nanoseconds,
/// so text order is time order and indexes on them sort correctly.
pub(crate) fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse_instant(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Decode { what: what.to_string(), message: format!("`{text}`: {e}") })
}

pub(crate) fn to_json<T: serde::Serialize>(what: &'static str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Encode { what, message: e.to_string() })
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode { what: what.to_string(), message: e.to_string() })
}

/// `stop_12` for prefix `stop_` and sequence 12.
pub(crate) fn format_id(prefix: &str, seq: i64) -> String {
    format!("{prefix}{seq}")
}

/// The sequence number in an id like `exc_7`, or `None` if `id` is not one of ours.
pub(crate) fn parse_id(prefix: &str, id: &str) -> Option<i64> {
    let head = id.get(..prefix.len())?;
    let digits = id.get(prefix.len()..)?;
    let canonical = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    if head.eq_ignore_ascii_case(prefix) && canonical {
        digits.parse().ok()
    } else {
        None
    }
}

/// A count or limit as SQLite wants it; anything past `i64::MAX` is "no limit" anyway.
pub(crate) fn sql_count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_only_canonical_ones_parse() {
        assert_eq!(parse_id("exc_", &format_id("exc_", 7)), Some(7));
        assert_eq!(parse_id("exc_", "EXC_12"), Some(12));
        for bad in ["exc_", "exc_07", "exc_x", "exc_-1", "stop_1", "exc", "", "exc_1 ", "éxc_1"] {
            assert_eq!(parse_id("exc_", bad), None, "{bad}");
        }
    }

    #[test]
    fn instants_sort_as_text_in_time_order() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T09:00:00Z").unwrap().with_timezone(&Utc);
        let b = a + chrono::Duration::nanoseconds(1);
        let c = a + chrono::Duration::hours(20);
        assert!(instant(a) < instant(b) && instant(b) < instant(c));
        assert_eq!(instant(a).len(), instant(c).len());
        assert_eq!(parse_instant("t", &instant(b)).unwrap(), b);
    }
}
