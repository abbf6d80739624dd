//! `store copy`: SQLite → SQLite always; SQLite → PostgreSQL → SQLite against
//! a real server (`testing.rs`). A copy is compared table by table, row by
//! row and column by column: identical tables give identical train views,
//! histories and audit pages, which are read from nothing else.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use signalbox_core::{Hold, Outcome, StageDeployment};

use crate::copy::known_columns;
use crate::pg;
use crate::testing::TestDatabase;
use crate::{copy, AuditAction, Location, NewAudit, NewException, Session, Store, StoreError, Tx};

/// Every table's rows, each as its columns' text, ordered by the first column;
/// `meta.store_id` left out (each store keeps its own).
type Dump = BTreeMap<String, Vec<Vec<Option<String>>>>;

fn dump(dir: &Path) -> Dump {
    let conn = crate::schema::open_reader(&dir.join(crate::store::DB_FILE)).unwrap();
    let mut all = Dump::new();
    for (table, columns) in known_columns() {
        let list: Vec<String> = columns.iter().map(|c| format!("CAST(\"{c}\" AS TEXT)")).collect();
        let sql = format!("SELECT {} FROM \"{table}\" ORDER BY 1", list.join(", "));
        let mut statement = conn.prepare(&sql).unwrap();
        let rows: Vec<Vec<Option<String>>> = statement
            .query_map([], |row| (0..columns.len()).map(|i| row.get(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let rows = rows.into_iter().filter(|r| !(table == "meta" && r[0].as_deref() == Some("store_id"))).collect();
        all.insert(table.to_string(), rows);
    }
    all
}

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T06:00:00Z").unwrap().with_timezone(&Utc) + TimeDelta::minutes(minutes)
}

fn write<R: Send + 'static>(store: &Store, op: impl FnOnce(&Tx<'_>) -> Result<R, StoreError> + Send + 'static) -> R {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(store.write(op)).unwrap()
}

/// A store with rows in every table, more than one page (1,000 rows) in
/// some, text that is not ASCII, NULLs, lifted stops and deleted exceptions.
fn fill(dir: &Path, trains: usize) {
    let store = Store::open(dir).unwrap();
    write(&store, move |t| {
        for i in 0..trains {
            let id = format!("CHG{i:07}");
            t.sqlite()
                .execute(
                    "INSERT INTO trains (id, state, environment, squad, created_at, updated_at, train, decision)
                     VALUES (?1, ?2, 'production', 'cfs', ?3, ?3, ?4, ?5)",
                    rusqlite::params![
                        id,
                        if i % 3 == 0 { "pending" } else { "approved" },
                        at(i as i64).to_rfc3339(),
                        format!(r#"{{"id":"{id}","justification":"Zürich → 東京 fix #{i}"}}"#),
                        format!(r#"{{"decision_id":"dec_{i}","result":"manual"}}"#),
                    ],
                )
                .map_err(|e| StoreError::Query { op: "fill", message: e.to_string() })?;
            t.sqlite()
                .execute(
                    "INSERT INTO decisions (decision_id, train_id, evaluated_at, decision) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![format!("dec_{i}"), id, at(i as i64).to_rfc3339(), "{}"],
                )
                .map_err(|e| StoreError::Query { op: "fill", message: e.to_string() })?;
            t.append_audit(&NewAudit {
                at: at(i as i64),
                actor: "pipeline:deploy-bot".into(),
                action: AuditAction::Submit,
                train_id: Some(id.clone()),
                detail: serde_json::json!({"n": i, "note": "naïve ✓"}),
            })?;
            t.append_audit(&NewAudit {
                at: at(i as i64),
                actor: "chat:U024BE7LH".into(),
                action: AuditAction::Approve,
                train_id: if i % 2 == 0 { Some(id) } else { None },
                detail: serde_json::json!({}),
            })?;
        }
        let stop = t.insert_stop("all", "CIE-42: checkout errors", "chat:U024BE7LH", at(1))?;
        t.insert_stop("production", "still bad", "http:incident-bot", at(2))?;
        t.lift_stops("all", "chat:U0G9QF9C6", at(3))?;
        assert!(stop.id.starts_with("stop_"));
        t.set_hold(&Hold {
            train_id: "CHG0000001".into(),
            by: "chat:U024BE7LH".into(),
            reason: "wait".into(),
            at: at(4),
        })?;
        t.record_stage_deployment(&StageDeployment {
            train_id: "CHG0000002".into(),
            squad: "cfs".into(),
            service: "auto-update".into(),
            version: None,
            completed_at: at(5),
        })?;
        for (n, squad) in [(0, Some("cfs")), (1, None)] {
            let exception = t.insert_exception(&NewException {
                result: Outcome::Approved,
                policy: "global.business_hours".into(),
                configuration_item: None,
                squad: squad.map(Into::into),
                service: None,
                justification: "hotfix".into(),
                created_by: "chat:U024BE7LH".into(),
                created_at: at(n),
                expires_at: at(n + 60),
            })?;
            if n == 1 {
                t.delete_exception(&exception.id, "chat:U0G9QF9C6", at(10))?;
            }
        }
        t.first_sighting("slack:event:Ev123", at(0), at(15))?;
        t.insert_session(&Session {
            id_sha256: "ab".repeat(32),
            token_sha256: "cd".repeat(32),
            name: "alice".into(),
            role: "conductor".into(),
            created_at: at(0),
            expires_at: at(720),
        })?;
        t.set_meta("bootstrap_token_sha256", &"ef".repeat(32))?;
        Ok(())
    });
    store.shutdown();
}

fn sqlite(dir: &Path) -> Location {
    Location::Sqlite(dir.to_path_buf())
}

fn copy_quietly(from: &Location, to: &Location) -> Result<crate::CopyReport, StoreError> {
    copy(from, to, &mut |_| {})
}

#[test]
fn the_copy_covers_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::schema::open_writer(&dir.path().join("schema.db")).unwrap();
    let mut tables: Vec<(String, Vec<String>)> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|name| {
            let name = name.unwrap();
            let columns = conn
                .prepare(&format!("PRAGMA table_info({name})"))
                .unwrap()
                .query_map([], |row| row.get::<_, String>(1))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            (name, columns)
        })
        .collect();
    let mut known: Vec<(String, Vec<String>)> =
        known_columns().into_iter().map(|(t, c)| (t.to_string(), c.into_iter().map(String::from).collect())).collect();
    tables.sort();
    known.sort();
    assert_eq!(known, tables, "a new table or column needs a place in copy.rs TABLES");
}

#[test]
fn sqlite_to_sqlite_copies_every_row_and_keeps_each_stores_id() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fill(from.path(), 1_200);
    let mut pages = Vec::new();
    let report =
        copy(&sqlite(from.path()), &sqlite(to.path()), &mut |p| pages.push((p.table.to_string(), p.copied, p.total)))
            .unwrap();
    let original = dump(from.path());
    assert_eq!(dump(to.path()), original);
    let counts: BTreeMap<&str, u64> = report.counts.iter().copied().collect();
    assert_eq!(counts["trains"], 1_200);
    assert_eq!(counts["audit"], 2_400);
    assert_eq!(counts["stops"], 2);
    assert_eq!(counts["meta"], 1, "the bootstrap token's digest, not the store id");
    // Progress came page by page and ended at the total.
    assert!(pages.contains(&("audit".to_string(), 1_000, 2_400)), "{pages:?}");
    assert!(pages.contains(&("audit".to_string(), 2_400, 2_400)), "{pages:?}");
    // Each store keeps its own id, and the copy opens as a store.
    let id = |dir: &Path| std::fs::read_to_string(dir.join(crate::ID_FILE)).unwrap();
    assert_ne!(id(from.path()), id(to.path()));
    let copied = Store::open(to.path()).unwrap();
    assert_eq!(copied.read(|t| t.count_trains()).unwrap(), 1_200);
    // New ids continue after the copied ones.
    let stop = write(&copied, |t| t.insert_stop("all", "next", "chat:U1", at(9)));
    assert_eq!(stop.id, "stop_3");
}

#[test]
fn a_target_that_holds_anything_is_refused_and_left_as_it_was() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fill(from.path(), 3);
    fill(to.path(), 1);
    let before = dump(to.path());
    let error = copy_quietly(&sqlite(from.path()), &sqlite(to.path())).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("not empty") && message.contains("1 in `trains`"), "{message}");
    assert_eq!(dump(to.path()), before);
}

#[test]
fn a_running_target_or_a_missing_source_is_refused() {
    let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let missing = copy_quietly(&sqlite(from.path()), &sqlite(to.path())).unwrap_err();
    assert!(matches!(missing, StoreError::Open { .. }), "{missing}");
    fill(from.path(), 1);
    let running = Store::open(to.path()).unwrap();
    let locked = copy_quietly(&sqlite(from.path()), &sqlite(to.path())).unwrap_err();
    assert!(matches!(locked, StoreError::Locked { .. }), "{locked}");
    drop(running);
}

#[test]
fn locations_are_read_or_refused_by_name() {
    assert_eq!(Location::parse("sqlite://data").unwrap(), Location::Sqlite("data".into()));
    assert_eq!(Location::parse("sqlite:///var/lib/signalbox").unwrap(), Location::Sqlite("/var/lib/signalbox".into()));
    assert!(matches!(Location::parse("postgres://u@h/db").unwrap(), Location::Postgres(_)));
    assert!(matches!(Location::parse("postgresql://u@h/db").unwrap(), Location::Postgres(_)));
    let empty = Location::parse("sqlite://").unwrap_err().to_string();
    assert!(empty.contains("sqlite://<data_dir>"), "{empty}");
    let other = Location::parse("mysql://root:hunter2@h/db").unwrap_err().to_string();
    assert!(other.contains("not a store location") && !other.contains("hunter2"), "{other}");
    assert_eq!(
        Location::parse("postgres://u:hunter2@db.example:5433/sb").unwrap().describe(),
        "postgres://u@db.example:5433/sb"
    );
}

#[test]
fn sqlite_to_postgres_to_sqlite_is_identical() {
    let Some(db) = TestDatabase::create().unwrap() else { return };
    let (from, back) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fill(from.path(), 2_500);
    let postgres = Location::Postgres(db.url.clone());
    let there = copy_quietly(&sqlite(from.path()), &postgres).unwrap();
    let again = copy_quietly(&postgres, &sqlite(back.path())).unwrap();
    assert_eq!(there, again);
    assert_eq!(dump(back.path()), dump(from.path()));

    // The PostgreSQL copy goes on numbering after the copied rows.
    let mut client = pg::connect(&db.url).unwrap();
    let next: i64 = client
        .query_one(
            "INSERT INTO audit (at, actor, action, train_id, detail) VALUES ('t', 'a', 'submit', NULL, '{}') RETURNING seq",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(next, 5_001);

    // Now it holds trains: a second copy into it is refused and changes nothing.
    let error = copy_quietly(&sqlite(from.path()), &postgres).unwrap_err().to_string();
    assert!(error.contains("2500 in `trains`"), "{error}");
    let trains: i64 = client.query_one("SELECT COUNT(*) FROM trains", &[]).unwrap().get(0);
    assert_eq!(trains, 2_500);
}
