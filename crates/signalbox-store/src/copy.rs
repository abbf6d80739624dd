//! `signalbox store copy`: a whole store, table by table and column for
//! column, from one place to another: the embedded SQLite of a data directory
//! (`sqlite://<data_dir>`) or a PostgreSQL database (`postgres://…`).
//!
//! The source is read in one read-only transaction, so the copy is one
//! consistent moment of it even while a server is writing. The target is
//! written in one transaction, which commits only if the target held nothing
//! before and every table ends with as many rows as the source had: a copy is
//! whole or not at all. The store's own id (`meta.store_id`) is not copied:
//! the target keeps its own (`Table::copied`).

use std::path::PathBuf;

use postgres::types::ToSql;

use crate::error::StoreError;
use crate::pg;
use crate::schema::{self, SCHEMA_VERSION};

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded SQLite database of this data directory.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its URL.
    Postgres(String),
}

impl Location {
    /// Reads `sqlite://<data_dir>` (a relative directory is taken from the
    /// current one: `sqlite://data`, `sqlite:///var/lib/signalbox`) or
    /// `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> Result<Location, StoreError> {
        if let Some(dir) = url.strip_prefix("sqlite://") {
            if dir.is_empty() {
                return Err(StoreError::Location(format!(
                    "`{url}` names no data directory: write sqlite://<data_dir>"
                )));
            }
            return Ok(Location::Sqlite(PathBuf::from(dir)));
        }
        if pg::is_url(url) {
            return Ok(Location::Postgres(url.to_string()));
        }
        let shown = if url.contains('@') { "the URL given".to_string() } else { format!("`{url}`") };
        Err(StoreError::Location(format!(
            "{shown} is not a store location: write sqlite://<data_dir> or postgres://user@host:5432/database"
        )))
    }

    /// The location fit for messages: never a password.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(dir) => format!("sqlite://{}", dir.display()),
            Location::Postgres(url) => pg::redact(url),
        }
    }
}

/// One table as the copy sees it: its key (for reading in pages, in order)
/// and its other columns, all text. Keys named `seq` are integers.
struct Table {
    name: &'static str,
    key: &'static str,
    columns: &'static [&'static str],
    /// The rows copied, as an SQL condition: all but what belongs to one store.
    copied: &'static str,
}

impl Table {
    fn int_key(&self) -> bool {
        self.key == "seq"
    }

    fn all_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.key).chain(self.columns.iter().copied())
    }

    fn column_list(&self) -> String {
        self.all_columns().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ")
    }

    /// How many rows of this table the copy takes.
    fn count_sql(&self) -> String {
        format!("SELECT COUNT(*) FROM \"{}\" WHERE {}", self.name, self.copied)
    }
}

/// Every table of the store, in the order they are copied.
/// `copy_tests::the_copy_covers_every_column` holds this to the schema.
const TABLES: &[Table] = &[
    // Each store keeps its own id (`meta.store_id`).
    Table { name: "meta", key: "key", columns: &["value"], copied: "key <> 'store_id'" },
    Table {
        name: "trains",
        key: "id",
        columns: &["state", "environment", "squad", "created_at", "updated_at", "train", "decision"],
        copied: "TRUE",
    },
    Table { name: "decisions", key: "decision_id", columns: &["train_id", "evaluated_at", "decision"], copied: "TRUE" },
    Table { name: "audit", key: "seq", columns: &["at", "actor", "action", "train_id", "detail"], copied: "TRUE" },
    Table {
        name: "stops",
        key: "seq",
        columns: &["scope", "message", "created_by", "created_at", "lifted_at", "lifted_by"],
        copied: "TRUE",
    },
    Table { name: "holds", key: "train_id", columns: &["by", "reason", "at"], copied: "TRUE" },
    Table {
        name: "stage_deployments",
        key: "train_id",
        columns: &["squad", "service", "version", "completed_at"],
        copied: "TRUE",
    },
    Table {
        name: "exceptions",
        key: "seq",
        columns: &[
            "result",
            "policy",
            "configuration_item",
            "squad",
            "service",
            "justification",
            "created_by",
            "created_at",
            "expires_at",
            "deleted_at",
            "deleted_by",
        ],
        copied: "TRUE",
    },
    Table { name: "seen", key: "key", columns: &["until"], copied: "TRUE" },
    Table {
        name: "sessions",
        key: "id_sha256",
        columns: &["token_sha256", "name", "role", "created_at", "expires_at"],
        copied: "TRUE",
    },
];

/// Rows read and written per round trip.
const PAGE: i64 = 1000;

/// A key read from the source, to ask for the rows after it.
#[derive(Debug, Clone)]
enum Key {
    Int(i64),
    Text(String),
}

/// One row: its key and its other columns.
#[derive(Debug, Clone)]
struct Row {
    key: Key,
    values: Vec<Option<String>>,
}

/// Where a copy stands, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    pub table: &'a str,
    /// Rows of this table copied so far.
    pub copied: u64,
    /// Rows of this table in the source.
    pub total: u64,
}

/// What was copied: the rows per table, as counted in the target before commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub counts: Vec<(&'static str, u64)>,
}

/// Copies the whole store at `from` into the empty store at `to`, calling
/// `progress` after each page of rows.
pub fn copy(from: &Location, to: &Location, progress: &mut dyn FnMut(Progress<'_>)) -> Result<CopyReport, StoreError> {
    let mut source = Source::open(from)?;
    let mut target = Target::open(to)?;
    target.db.execute(target.db.begin_write()).map_err(|message| StoreError::Begin { message })?;
    match copy_into(&mut source, &mut target, progress) {
        Ok(report) => {
            target.db.execute("COMMIT").map_err(|message| StoreError::Commit { message })?;
            Ok(report)
        }
        Err(e) => {
            // Best effort: the error reported is the copy's; an unfinished transaction never commits.
            let _ = target.db.execute("ROLLBACK");
            Err(e)
        }
    }
}

fn copy_into(
    source: &mut Source,
    target: &mut Target,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<CopyReport, StoreError> {
    target.refuse_unless_empty()?;
    let mut counts = Vec::new();
    for table in TABLES {
        let total = source.0.count(table)?;
        let mut copied = 0u64;
        let mut after: Option<Key> = None;
        loop {
            let rows = source.page(table, after.as_ref())?;
            let Some(last) = rows.last() else { break };
            after = Some(last.key.clone());
            target.insert(table, &rows)?;
            copied += rows.len() as u64;
            progress(Progress { table: table.name, copied, total });
        }
        let found = target.db.count(table)?;
        if found != total || copied != total {
            return Err(StoreError::Copy(format!(
                "`{}`: the source has {total} rows but {copied} were copied and the target counts {found}; \
                 nothing was stored",
                table.name
            )));
        }
        counts.push((table.name, found));
    }
    target.after_rows()?;
    Ok(CopyReport { counts })
}

fn copy_error(what: &str) -> impl Fn(String) -> StoreError + '_ {
    move |message| StoreError::Copy(format!("{what}: {message}"))
}

/// A connection to either database, source or target.
enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl Db {
    fn execute(&mut self, sql: &str) -> Result<(), String> {
        match self {
            Db::Sqlite(conn) => conn.execute_batch(sql).map_err(|e| e.to_string()),
            Db::Postgres(client) => client.batch_execute(sql).map_err(|e| e.to_string()),
        }
    }

    /// How a write transaction begins: SQLite takes its write lock at once.
    fn begin_write(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "BEGIN IMMEDIATE",
            Db::Postgres(_) => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        }
    }

    /// How many rows of `table` the copy takes.
    fn count(&mut self, table: &Table) -> Result<u64, StoreError> {
        let sql = table.count_sql();
        let n: i64 = match self {
            Db::Sqlite(conn) => conn.query_row(&sql, [], |row| row.get(0)).map_err(|e| e.to_string()),
            Db::Postgres(client) => {
                client.query_one(&sql, &[]).and_then(|row| row.try_get(0)).map_err(|e| e.to_string())
            }
        }
        .map_err(copy_error(table.name))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// The store copied from, inside one read-only transaction.
struct Source(Db);

impl Source {
    fn open(location: &Location) -> Result<Source, StoreError> {
        let (mut db, version) = match location {
            Location::Sqlite(dir) => {
                let path = dir.join(crate::store::DB_FILE);
                if !path.exists() {
                    return Err(StoreError::Open { path: path.display().to_string(), message: "no such file".into() });
                }
                let conn = schema::open_reader(&path)?;
                let version = schema::user_version(&conn)?;
                (Db::Sqlite(conn), version)
            }
            Location::Postgres(url) => {
                let mut client = pg::connect(url)?;
                let version = pg::schema_version(&mut client).unwrap_or(0);
                (Db::Postgres(client), version)
            }
        };
        check_version(&location.describe(), version)?;
        let begin = match db {
            Db::Sqlite(_) => "BEGIN",
            Db::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        db.execute(begin).map_err(copy_error("cannot begin reading the source"))?;
        Ok(Source(db))
    }

    /// The next page of rows after `after`, in key order.
    fn page(&mut self, table: &Table, after: Option<&Key>) -> Result<Vec<Row>, StoreError> {
        let filter = if after.is_some() { format!(" AND \"{}\" > $1", table.key) } else { String::new() };
        let sql = format!(
            "SELECT {} FROM \"{}\" WHERE {}{filter} ORDER BY \"{}\" LIMIT {PAGE}",
            table.column_list(),
            table.name,
            table.copied,
            table.key
        );
        let failed = copy_error(table.name);
        match &mut self.0 {
            Db::Sqlite(conn) => {
                let sql = sql.replace("$1", "?1");
                let mut statement = conn.prepare_cached(&sql).map_err(|e| failed(e.to_string()))?;
                let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Row> {
                    let key = if table.int_key() { Key::Int(row.get(0)?) } else { Key::Text(row.get(0)?) };
                    let values = (1..=table.columns.len()).map(|i| row.get(i)).collect::<rusqlite::Result<_>>()?;
                    Ok(Row { key, values })
                };
                let rows = match after {
                    None => statement.query_map([], read),
                    Some(Key::Int(k)) => statement.query_map([k], read),
                    Some(Key::Text(k)) => statement.query_map([k], read),
                };
                rows.and_then(Iterator::collect).map_err(|e| failed(e.to_string()))
            }
            Db::Postgres(client) => {
                let rows = match after {
                    None => client.query(&sql, &[]),
                    Some(Key::Int(k)) => client.query(&sql, &[k]),
                    Some(Key::Text(k)) => client.query(&sql, &[k]),
                }
                .map_err(|e| failed(e.to_string()))?;
                rows.iter()
                    .map(|row| {
                        let key = if table.int_key() { Key::Int(row.try_get(0)?) } else { Key::Text(row.try_get(0)?) };
                        let values = (1..=table.columns.len())
                            .map(|i| row.try_get(i))
                            .collect::<Result<_, postgres::Error>>()?;
                        Ok(Row { key, values })
                    })
                    .collect::<Result<_, postgres::Error>>()
                    .map_err(|e| failed(e.to_string()))
            }
        }
    }
}

fn check_version(location: &str, version: i64) -> Result<(), StoreError> {
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    Err(StoreError::Copy(format!(
        "the source {location} is at schema version {version}, this build copies version {SCHEMA_VERSION}: {}",
        if version < SCHEMA_VERSION {
            "start `signalbox serve` on it once with this build to migrate it, then copy"
        } else {
            "copy with the newer signalbox that wrote it"
        }
    )))
}

/// The store copied into, migrated to this build's schema.
struct Target {
    db: Db,
    /// A SQLite target's data directory lock, held for the whole copy.
    _lock: Option<std::fs::File>,
}

impl Target {
    fn open(location: &Location) -> Result<Target, StoreError> {
        match location {
            Location::Sqlite(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::CreateDir { path: dir.display().to_string(), message: e.to_string() })?;
                let lock = crate::store::lock_dir(dir)?;
                let conn = schema::open_writer(&dir.join(crate::store::DB_FILE))?;
                schema::check_identity(&conn, dir)?;
                Ok(Target { db: Db::Sqlite(conn), _lock: Some(lock) })
            }
            Location::Postgres(url) => {
                let mut client = pg::connect(url)?;
                pg::migrate(&mut client)?;
                Ok(Target { db: Db::Postgres(client), _lock: None })
            }
        }
    }

    /// Refuses a target that holds anything but its own id.
    fn refuse_unless_empty(&mut self) -> Result<(), StoreError> {
        let mut held = Vec::new();
        for table in TABLES {
            let n = self.db.count(table)?;
            if n > 0 {
                held.push(format!("{n} in `{}`", table.name));
            }
        }
        if held.is_empty() {
            return Ok(());
        }
        Err(StoreError::Copy(format!(
            "the target is not empty ({} rows); store copy only fills an empty store, and nothing was changed",
            held.join(", ")
        )))
    }

    /// Inserts a page of rows: one statement per row on SQLite (prepared once),
    /// one statement per page on PostgreSQL (one round trip).
    fn insert(&mut self, table: &Table, rows: &[Row]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let failed = copy_error(table.name);
        let width = table.columns.len() + 1;
        let insert = format!("INSERT INTO \"{}\" ({}) VALUES ", table.name, table.column_list());
        match &mut self.db {
            Db::Sqlite(conn) => {
                let placeholders: Vec<String> = (1..=width).map(|i| format!("?{i}")).collect();
                let sql = format!("{insert}({})", placeholders.join(", "));
                let mut statement = conn.prepare_cached(&sql).map_err(|e| failed(e.to_string()))?;
                for row in rows {
                    let key: &dyn rusqlite::ToSql = match &row.key {
                        Key::Int(k) => k,
                        Key::Text(k) => k,
                    };
                    let params = std::iter::once(key).chain(row.values.iter().map(|v| v as &dyn rusqlite::ToSql));
                    statement.execute(rusqlite::params_from_iter(params)).map_err(|e| failed(e.to_string()))?;
                }
                Ok(())
            }
            Db::Postgres(client) => {
                let tuples: Vec<String> = (0..rows.len())
                    .map(|r| {
                        let cells: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
                        format!("({})", cells.join(", "))
                    })
                    .collect();
                let sql = format!("{insert}{}", tuples.join(", "));
                let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(rows.len() * width);
                for row in rows {
                    params.push(match &row.key {
                        Key::Int(k) => k,
                        Key::Text(k) => k,
                    });
                    params.extend(row.values.iter().map(|v| v as &(dyn ToSql + Sync)));
                }
                client.execute(sql.as_str(), params.as_slice()).map(|_| ()).map_err(|e| failed(e.to_string()))
            }
        }
    }

    /// After the rows: PostgreSQL's identity sequences continue past the copied
    /// numbers (SQLite's AUTOINCREMENT does so by itself).
    fn after_rows(&mut self) -> Result<(), StoreError> {
        let Db::Postgres(client) = &mut self.db else { return Ok(()) };
        for table in TABLES.iter().filter(|t| t.int_key()) {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'seq'), COALESCE((SELECT MAX(seq) FROM \"{0}\"), 0) + 1, false)",
                table.name
            );
            client.batch_execute(&sql).map_err(|e| copy_error(table.name)(e.to_string()))?;
        }
        Ok(())
    }
}

/// The columns of each table the copy knows, for the test that holds them to the schema.
#[cfg(test)]
pub(crate) fn known_columns() -> Vec<(&'static str, Vec<&'static str>)> {
    TABLES.iter().map(|t| (t.name, t.all_columns().collect())).collect()
}
