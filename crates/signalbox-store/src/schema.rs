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
    // 2: requests already acted on (Slack event ids, signed slash commands),
    // remembered until `until` so a retry or a replay is not acted on twice.
    r#"
    CREATE TABLE seen (
        key   TEXT PRIMARY KEY,
        until TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX seen_by_until ON seen (until);
    "#,
    // 3: board sessions, by the SHA-256 of their id (the id itself is only in
    // the browser's cookie), with the digest of the token that signed in.
    r#"
    CREATE TABLE sessions (
        id_sha256    TEXT PRIMARY KEY,
        token_sha256 TEXT NOT NULL,
        name         TEXT NOT NULL,
        role         TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        expires_at   TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_expiry ON sessions (expires_at);
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

/// The file in the data directory that names the store its database belongs to.
pub const ID_FILE: &str = "signalbox.id";
const ID_KEY: &str = "store_id";

/// Checks that the database is the one this data directory held: the store's
/// id is kept both in the database and in `signalbox.id` beside it, so a
/// database file that was truncated, deleted or swapped for another store's
/// is refused instead of starting afresh. A new store gets its id here.
pub(crate) fn check_identity(conn: &Connection, dir: &std::path::Path) -> Result<(), StoreError> {
    let id_path = dir.join(ID_FILE);
    let in_db: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [ID_KEY], |row| row.get(0))
        .map(Some)
        .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
        .map_err(|e| StoreError::Open { path: dir.display().to_string(), message: e.to_string() })?;
    let in_file = match std::fs::read_to_string(&id_path) {
        Ok(text) => Some(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StoreError::Open { path: id_path.display().to_string(), message: e.to_string() }),
    };
    let write_file = |id: &str| {
        std::fs::write(&id_path, format!("{id}\n"))
            .and_then(|()| std::fs::File::open(&id_path)?.sync_all())
            .map_err(|e| StoreError::Open { path: id_path.display().to_string(), message: e.to_string() })
    };
    match (in_db, in_file) {
        (Some(db), Some(file)) if db == file => Ok(()),
        (Some(db), Some(file)) => Err(StoreError::WrongStore(format!(
            "`{}` belongs to store {db}, but `{ID_FILE}` in the same directory names store {file}: the database was \
             replaced by another store's; put the right file back, or remove `{ID_FILE}` if the swap was intended",
            DB_FILE_NAME
        ))),
        // A database from before ids were kept, or restored without its id file.
        (Some(db), None) => write_file(&db),
        (None, Some(file)) => Err(StoreError::WrongStore(format!(
            "`{}` in `{}` is empty or new, but this data directory held store {file}: the database file was \
             truncated or removed; restore it from a backup (docs/operations.md), or remove `{ID_FILE}` to start an \
             empty store on purpose",
            DB_FILE_NAME,
            dir.display()
        ))),
        (None, None) => {
            let id = format!("st_{}", ulid::Ulid::new());
            conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2)", [ID_KEY, id.as_str()])
                .map_err(|e| StoreError::Open { path: dir.display().to_string(), message: e.to_string() })?;
            write_file(&id)
        }
    }
}

use crate::store::DB_FILE as DB_FILE_NAME;

/// SQLite's `quick_check` (structure of every page, not index contents); the
/// problem it reports, if any.
pub(crate) fn quick_check(conn: &Connection) -> Option<String> {
    let rows: Result<Vec<String>, _> =
        conn.prepare("PRAGMA quick_check").and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect());
    match rows {
        Ok(rows) if rows.len() == 1 && rows.first().is_some_and(|r| r == "ok") => None,
        Ok(rows) => Some(format!("quick_check: {}", rows.join("; "))),
        Err(e) => Some(format!("quick_check could not run: {e}")),
    }
}

/// What `signalbox store check` reports: SQLite's full `integrity_check` and the row counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// `ok`, or each problem SQLite found.
    pub problems: Vec<String>,
    /// Rows per table.
    pub counts: Vec<(&'static str, i64)>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks a stopped or running store's database, read-only: the full
/// integrity check and the row counts.
pub fn check(dir: &std::path::Path) -> Result<CheckReport, StoreError> {
    let path = dir.join(DB_FILE_NAME);
    if !path.exists() {
        return Err(StoreError::Open { path: path.display().to_string(), message: "no such file".into() });
    }
    let conn = open_reader(&path)?;
    let mut problems: Vec<String> = match conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect::<Result<Vec<String>, _>>())
    {
        Ok(rows) if rows.len() == 1 && rows.first().is_some_and(|r| r == "ok") => Vec::new(),
        Ok(rows) => rows,
        Err(e) => vec![format!("integrity_check could not finish: {e}")],
    };
    let mut counts = Vec::new();
    for table in ["trains", "decisions", "audit", "stops", "holds", "stage_deployments", "exceptions"] {
        match conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get::<_, i64>(0)) {
            Ok(n) => counts.push((table, n)),
            Err(e) => problems.push(format!("cannot count `{table}`: {e}")),
        }
    }
    Ok(CheckReport { problems, counts })
}
