//! Connection settings and the schema migrations, applied once at open.
//!
//! `PRAGMA user_version` counts the migrations applied. Each migration runs in
//! its own transaction together with the bump of `user_version`, so a crash
//! half-way leaves the schema at the previous version, never in between.
//! Migrations are append-only: never edit one that has shipped, add another.

use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::error::StoreError;

/// How long a connection waits for a lock held by another connection.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations, in order; migration `i` takes the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    -- One row per train: its latest state and decision as JSON, plus the
    -- columns lists filter on.
    CREATE TABLE trains (
        id          TEXT PRIMARY KEY,
        state       TEXT NOT NULL,
        environment TEXT NOT NULL,
        squad       TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        train       TEXT NOT NULL,
        decision    TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX trains_by_created ON trains (created_at, id);
    CREATE INDEX trains_by_state ON trains (state, created_at, id);
    CREATE INDEX trains_by_environment ON trains (environment, created_at, id);
    CREATE INDEX trains_by_squad ON trains (squad, created_at, id);

    -- Every decision ever made, immutable.
    CREATE TABLE decisions (
        decision_id  TEXT PRIMARY KEY,
        train_id     TEXT NOT NULL,
        evaluated_at TEXT NOT NULL,
        decision     TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX decisions_by_train ON decisions (train_id, evaluated_at);

    -- The append-only audit log; AUTOINCREMENT so a sequence number is never reused.
    CREATE TABLE audit (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT NOT NULL,
        actor    TEXT NOT NULL,
        action   TEXT NOT NULL,
        train_id TEXT,
        detail   TEXT NOT NULL
    );
    CREATE INDEX audit_by_train ON audit (train_id, seq) WHERE train_id IS NOT NULL;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

    -- Stops keep their row when lifted; the id is `stop_<seq>`.
    CREATE TABLE stops (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        scope      TEXT NOT NULL,
        message    TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        lifted_at  TEXT,
        lifted_by  TEXT
    );
    CREATE INDEX stops_active ON stops (scope) WHERE lifted_at IS NULL;

    CREATE TABLE holds (
        train_id TEXT PRIMARY KEY,
        by       TEXT NOT NULL,
        reason   TEXT NOT NULL,
        at       TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE stage_deployments (
        train_id     TEXT PRIMARY KEY,
        squad        TEXT NOT NULL,
        service      TEXT NOT NULL,
        version      TEXT,
        completed_at TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX stage_by_version ON stage_deployments (squad, service, version, completed_at);
    CREATE INDEX stage_by_service ON stage_deployments (squad, service, completed_at);

    -- Exceptions are marked deleted, never removed; the id is `exc_<seq>`.
    CREATE TABLE exceptions (
        seq                INTEGER PRIMARY KEY AUTOINCREMENT,
        result             TEXT NOT NULL,
        policy             TEXT NOT NULL,
        configuration_item TEXT,
        squad              TEXT,
        service            TEXT,
        justification      TEXT NOT NULL,
        created_by         TEXT NOT NULL,
        created_at         TEXT NOT NULL,
        expires_at         TEXT NOT NULL,
        deleted_at         TEXT,
        deleted_by         TEXT
    );
    CREATE INDEX exceptions_live ON exceptions (expires_at) WHERE deleted_at IS NULL;
    "#,
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens the one read-write connection: WAL, `synchronous=FULL`, migrated.
pub(crate) fn open_writer(path: &std::path::Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| open_error(path, e))?;
    configure(&conn)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(pragma_error("journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Pragma {
            pragma: "journal_mode",
            message: format!("the file system gave `{mode}` instead of `wal`"),
        });
    }
    // FULL: a transaction is durable once COMMIT returns, even on power loss.
    conn.pragma_update(None, "synchronous", "FULL").map_err(pragma_error("synchronous"))?;
    // The writer's transactions can be large (`start trains` re-decides every
    // pending train in one). A page cache big enough to hold them keeps SQLite
    // from spilling pages to the WAL mid-transaction and reading them back,
    // which SQLite's default 2 MiB cache cannot. Memory grows only as pages are
    // used. The savepoint journal stays in a temporary file past its in-memory
    // limit (`.cargo/config.toml`): `temp_store = MEMORY` is slower for it.
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB).map_err(pragma_error("cache_size"))?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(pragma_error("foreign_keys"))?;
    migrate(&conn)?;
    Ok(conn)
}

/// Opens a read-only connection; any write through it fails.
pub(crate) fn open_reader(path: &std::path::Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e))?;
    configure(&conn)?;
    Ok(conn)
}

/// The writer's page cache, in KiB as `PRAGMA cache_size` takes it (negative: KiB, not pages).
const WRITER_CACHE_KIB: i64 = -32 * 1024;

/// Statements a connection keeps prepared; more than the store has, so none is ever evicted.
const STATEMENT_CACHE: usize = 64;

/// What every connection needs, writer or reader.
///
/// The query-planner stability guarantee (QPSG) keeps prepared statements
/// prepared: SQLite is built with STAT4 here, and without QPSG it re-prepares a
/// statement whose plan may depend on a bound value whenever the value changes,
/// which the stage look-ups (`completed_at <= ?`) would do on nearly every call
/// of every decision. The store runs no `ANALYZE`, and every query names its
/// index, so no plan can gain from looking at a value.
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(pragma_error("busy_timeout"))?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(pragma_error("enable_qpsg"))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Runs one statement that returns no rows (`BEGIN`, `SAVEPOINT op`, `COMMIT`…)
/// from the connection's statement cache. `execute_batch` parses its text on
/// every call; these run once or twice per request.
pub(crate) fn exec_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Applies every migration the database has not seen yet.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found, known: SCHEMA_VERSION });
    }
    for (version, sql) in (1..).zip(MIGRATIONS.iter()).skip(usize::try_from(found).unwrap_or(0)) {
        let failed = |e: rusqlite::Error| StoreError::Migrate { version, message: e.to_string() };
        conn.execute_batch("BEGIN IMMEDIATE").map_err(failed)?;
        let applied = conn
            .execute_batch(sql)
            .and_then(|()| conn.pragma_update(None, "user_version", version))
            .and_then(|()| conn.execute_batch("COMMIT"));
        if let Err(e) = applied {
            // Best effort: the error we report is the migration's, not the rollback's.
            let _ = conn.execute_batch("ROLLBACK");
            return Err(failed(e));
        }
    }
    Ok(())
}

pub(crate) fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(pragma_error("user_version"))
}

fn open_error(path: &std::path::Path, e: rusqlite::Error) -> StoreError {
    StoreError::Open { path: path.display().to_string(), message: e.to_string() }
}

fn pragma_error(pragma: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Pragma { pragma, message: e.to_string() }
}
