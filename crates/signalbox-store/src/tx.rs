//! `Tx`: the typed operations on one connection, inside a transaction.
//!
//! The methods live next to their tables (`trains.rs`, `audit.rs`,
//! `state.rs`); this file holds the type, the encodings shared by all of
//! them, and the small `meta` key-value table. Every method is one SQL
//! statement, so a method either takes effect whole or not at all.

use std::cell::Cell;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

use crate::db::{pg_error, ColumnError, Conn, DbRow, Param, PgConn};
use crate::error::StoreError;
use crate::shared::{SharedCache, SharedState, HOLDS_IN_MEMORY};

/// A transaction on one connection, handed to the closures of
/// [`Store::write`](crate::Store::write) and [`Store::read`](crate::Store::read).
///
/// On the writer every method runs inside the operation's savepoint; on a read
/// connection inside one read transaction, so everything a closure reads comes
/// from the same snapshot. Writing methods called on a read connection fail.
pub struct Tx<'a> {
    pub(crate) conn: Conn<'a>,
    shared: Shared<'a>,
}

/// Where the transaction stands towards the [`SharedState`] cache (`shared.rs`).
#[derive(Clone, Copy)]
pub(crate) enum Shared<'a> {
    /// On the writer: the generation the batch began at, and whether an
    /// operation of this batch has touched a decision input since.
    Writer { cache: &'a SharedCache, generation: u64, touched: &'a Cell<bool>, health: &'a Health },
    /// On a read connection: the generation read before the transaction began.
    Reader { cache: &'a SharedCache, generation: u64, health: &'a Health },
}

/// What the store has learnt about its file: once SQLite reports it damaged,
/// writes are refused and readiness fails until the operator repairs it.
#[derive(Debug, Default)]
pub(crate) struct Health {
    damaged: std::sync::Mutex<Option<String>>,
    /// When a write last failed for lack of space, and why.
    full: std::sync::Mutex<Option<(std::time::Instant, String)>>,
}

/// After a write failed for lack of space, the store counts as unable to
/// commit for this long (a nearly full disk may still take the readiness
/// probe's one small row while every real write fails).
pub(crate) const FULL_FOR: std::time::Duration = std::time::Duration::from_secs(10);

impl Health {
    pub(crate) fn mark_damaged(&self, why: &str) {
        let mut damaged = self.damaged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        damaged.get_or_insert_with(|| why.to_string());
    }

    /// Why the file is damaged, if it is.
    pub(crate) fn damaged(&self) -> Option<String> {
        self.damaged.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Why the store cannot commit now: a write failed for lack of space within [`FULL_FOR`].
    pub(crate) fn full(&self) -> Option<StoreError> {
        let full = self.full.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        full.as_ref()
            .filter(|(at, _)| at.elapsed() < FULL_FOR)
            .map(|(_, message)| StoreError::Full { op: "a recent write".into(), message: message.clone() })
    }

    /// Notes what an error says about the file, and passes it on.
    pub(crate) fn note(&self, e: StoreError) -> StoreError {
        match &e {
            StoreError::Damaged { message } => self.mark_damaged(message),
            StoreError::Full { message, .. } => {
                let mut full = self.full.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                *full = Some((std::time::Instant::now(), message.clone()));
            }
            _ => {}
        }
        e
    }
}

impl<'a> Tx<'a> {
    pub(crate) fn new(conn: &'a Connection, shared: Shared<'a>) -> Tx<'a> {
        Tx { conn: Conn::Sqlite(conn), shared }
    }

    pub(crate) fn on_postgres(conn: &'a PgConn, shared: Shared<'a>) -> Tx<'a> {
        Tx { conn: Conn::Pg(conn), shared }
    }

    /// The SQLite connection, for tests of SQLite's own settings.
    #[cfg(test)]
    pub(crate) fn sqlite(&self) -> &'a Connection {
        match self.conn {
            Conn::Sqlite(conn) => conn,
            Conn::Pg(_) => panic!("not a SQLite transaction"),
        }
    }

    /// Every row `sql` returns, each read by `read`.
    pub(crate) fn all<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&dyn Param],
        read: impl Fn(&DbRow<'_, '_>) -> Result<T, ColumnError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut rows = Vec::new();
        self.each(op, sql, params, |row| {
            rows.push(read(row)?);
            Ok(true)
        })?;
        Ok(rows)
    }

    /// The first row `sql` returns, if any, read by `read`.
    pub(crate) fn first<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&dyn Param],
        read: impl Fn(&DbRow<'_, '_>) -> Result<T, ColumnError>,
    ) -> Result<Option<T>, StoreError> {
        let mut first = None;
        self.each(op, sql, params, |row| {
            first = Some(read(row)?);
            Ok(false)
        })?;
        Ok(first)
    }

    /// Hands each row `sql` returns to `take`, while it answers `true`.
    fn each(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&dyn Param],
        mut take: impl FnMut(&DbRow<'_, '_>) -> Result<bool, ColumnError>,
    ) -> Result<(), StoreError> {
        let column = |e: ColumnError| StoreError::Query { op, message: e.0 };
        match self.conn {
            Conn::Sqlite(conn) => {
                let failed = self.query_error(op);
                let mut statement = conn.prepare_cached(sql).map_err(&failed)?;
                let mut rows = statement.query(sqlite_params(params)).map_err(&failed)?;
                while let Some(row) = rows.next().map_err(&failed)? {
                    if !take(&DbRow::Sqlite(row)).map_err(column)? {
                        break;
                    }
                }
            }
            Conn::Pg(pg) => {
                for row in pg.query(sql, params).map_err(|e| pg_error(op, &e))? {
                    if !take(&DbRow::Pg(&row)).map_err(column)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The one row `sql` returns (an `INSERT … RETURNING`, a `COUNT`).
    pub(crate) fn one<T>(
        &self,
        op: &'static str,
        sql: &str,
        params: &[&dyn Param],
        read: impl Fn(&DbRow<'_, '_>) -> Result<T, ColumnError>,
    ) -> Result<T, StoreError> {
        self.first(op, sql, params, read)?
            .ok_or_else(|| StoreError::Query { op, message: "the statement returned no row".into() })
    }

    /// Runs a statement that returns no rows; how many rows it changed.
    pub(crate) fn exec(&self, op: &'static str, sql: &str, params: &[&dyn Param]) -> Result<u64, StoreError> {
        match self.conn {
            Conn::Sqlite(conn) => conn
                .prepare_cached(sql)
                .and_then(|mut statement| statement.execute(sqlite_params(params)))
                .map(|n| n as u64)
                .map_err(self.query_error(op)),
            Conn::Pg(pg) => pg.execute(sql, params).map_err(|e| pg_error(op, &e)),
        }
    }

    /// Notes that this operation changes what decisions read (stops,
    /// exceptions, holds, stage deployments): the cache is dropped and the
    /// generation bumped once the batch ends.
    pub(crate) fn touch(&self) {
        if let Shared::Writer { touched, .. } = self.shared {
            touched.set(true);
        }
    }

    /// Maps a SQLite error of the method `op`, noting a damaged file on the way.
    pub(crate) fn query_error(&self, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        let health = match self.shared {
            Shared::Writer { health, .. } | Shared::Reader { health, .. } => health,
        };
        move |e| health.note(StoreError::query(op)(e))
    }

    /// The generation of decision inputs this transaction sees, if it sees
    /// exactly one: on a read connection, the generation its snapshot holds
    /// at least; on the writer, the current one, unless this batch has already
    /// changed a decision input (`None`). A decision made at generation `g`
    /// still holds where this is `Some(g)`, as far as stops, exceptions, holds
    /// and stage deployments go.
    pub fn generation(&self) -> Option<u64> {
        match self.shared {
            Shared::Writer { generation, touched, .. } => (!touched.get()).then_some(generation),
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

    /// Remembers `key` until `until`; true the first time it is seen (since
    /// the last time it was forgotten). Keys whose time is over by `at` are
    /// forgotten first. For requests that must be acted on once: a Slack
    /// event's id, a signed slash command.
    pub fn first_sighting(&self, key: &str, at: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        self.exec("first_sighting", "DELETE FROM seen WHERE until <= ?1", &[&instant(at)])?;
        let inserted = self.exec(
            "first_sighting",
            "INSERT INTO seen (key, until) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            &[&key, &instant(until)],
        )?;
        Ok(inserted == 1)
    }

    /// Caps the database at `pages` pages (never below its current size; 0
    /// for exactly its current size) and returns the cap: growing past it
    /// fails as a full disk does. For tests of the full-disk path.
    #[doc(hidden)]
    pub fn limit_pages_for_tests(&self, pages: u64) -> Result<u64, StoreError> {
        let Conn::Sqlite(conn) = self.conn else {
            return Err(StoreError::Query { op: "limit_pages_for_tests", message: "only on SQLite".into() });
        };
        let current: i64 =
            conn.query_row("PRAGMA page_count", [], |row| row.get(0)).map_err(self.query_error("page_count"))?;
        let pages = if pages == 0 { current } else { i64::try_from(pages).unwrap_or(i64::MAX) };
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |row| row.get::<_, i64>(0))
            .map(|cap| u64::try_from(cap).unwrap_or(0))
            .map_err(self.query_error("limit_pages_for_tests"))
    }

    /// A small setting, such as the hash of the bootstrap token.
    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.first("get_meta", "SELECT value FROM meta WHERE key = ?1", &[&key], |row| row.get(0))
    }

    /// Sets a small setting, replacing any previous value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.exec(
            "set_meta",
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .map(|_| ())
    }
}

/// The parameters as rusqlite binds them, without collecting them first.
fn sqlite_params<'p>(params: &'p [&'p dyn Param]) -> impl rusqlite::Params + 'p {
    rusqlite::params_from_iter(params.iter().map(|p| *p as &dyn rusqlite::ToSql))
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
