//! The PostgreSQL schema against a real server (`testing.rs` says which).

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use crate::pg::{self, Migrated};
use crate::schema::SCHEMA_VERSION;
use crate::testing::TestDatabase;
use crate::StoreError;

#[test]
fn replicas_migrating_at_once_apply_each_migration_once() {
    const ROUNDS: usize = 5;
    const REPLICAS: usize = 4;
    for round in 0..ROUNDS {
        let Some(db) = TestDatabase::create().unwrap() else { return };
        let url = Arc::new(db.url.clone());
        let start = Arc::new(Barrier::new(REPLICAS));
        let replicas: Vec<_> = (0..REPLICAS)
            .map(|_| {
                let (url, start) = (Arc::clone(&url), Arc::clone(&start));
                std::thread::spawn(move || {
                    let mut client = pg::connect(&url).unwrap();
                    start.wait();
                    pg::migrate(&mut client)
                })
            })
            .collect();
        let results: Vec<Migrated> = replicas.into_iter().map(|r| r.join().unwrap().unwrap()).collect();
        let migrating = results.iter().filter(|m| m.from == 0).count();
        assert_eq!(migrating, 1, "round {round}: exactly one replica migrates, the others wait: {results:?}");
        assert!(results.iter().all(|m| m.to == SCHEMA_VERSION), "round {round}: {results:?}");
        assert!(
            results.iter().all(|m| m.from == 0 || m.from == SCHEMA_VERSION),
            "round {round}: a replica saw a half-migrated schema: {results:?}"
        );
        let mut client = pg::connect(&db.url).unwrap();
        let versions: Vec<i64> = client
            .query("SELECT version FROM signalbox_schema ORDER BY version", &[])
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>(), "round {round}");
        let generation: i64 = client.query_one("SELECT generation FROM inputs", &[]).unwrap().get(0);
        assert_eq!(generation, 0, "round {round}");
    }
}

#[test]
fn a_second_start_finds_nothing_to_migrate() {
    let Some(db) = TestDatabase::create().unwrap() else { return };
    let mut client = pg::connect(&db.url).unwrap();
    assert_eq!(pg::migrate(&mut client).unwrap(), Migrated { from: 0, to: SCHEMA_VERSION });
    assert_eq!(pg::migrate(&mut client).unwrap(), Migrated { from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    assert_eq!(pg::schema_version(&mut client).unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused() {
    let Some(db) = TestDatabase::create().unwrap() else { return };
    let mut client = pg::connect(&db.url).unwrap();
    pg::migrate(&mut client).unwrap();
    client.execute("INSERT INTO signalbox_schema (version) VALUES ($1)", &[&(SCHEMA_VERSION + 1)]).unwrap();
    assert_eq!(
        pg::migrate(&mut client),
        Err(StoreError::SchemaTooNew { found: SCHEMA_VERSION + 1, known: SCHEMA_VERSION })
    );
}

#[test]
fn the_audit_log_is_append_only() {
    let Some(db) = TestDatabase::create().unwrap() else { return };
    let mut client = pg::connect(&db.url).unwrap();
    pg::migrate(&mut client).unwrap();
    client
        .execute(
            "INSERT INTO audit (at, actor, action, train_id, detail) VALUES ('2026-12-05T06:00:00Z', 'U1', 'approve', 'CHG1', '{}')",
            &[],
        )
        .unwrap();
    for statement in ["UPDATE audit SET actor = 'U2'", "DELETE FROM audit", "TRUNCATE audit"] {
        let error = client.batch_execute(statement).unwrap_err();
        assert!(
            error.to_string().contains("append-only") || format!("{error:?}").contains("append-only"),
            "{statement}: {error:?}"
        );
    }
    let rows: i64 = client.query_one("SELECT COUNT(*) FROM audit WHERE actor = 'U1'", &[]).unwrap().get(0);
    assert_eq!(rows, 1);
}

/// Table → column → (declared type, NOT NULL), as each backend reports it.
type Columns = BTreeMap<String, BTreeMap<String, (String, bool)>>;

/// The two schemas hold the same tables, columns, nullability and indexes,
/// so a store copies between them column for column. PostgreSQL's own
/// tables (`inputs`, `signalbox_schema`) are not copied.
#[test]
fn the_schema_is_the_sqlite_one() {
    let Some(db) = TestDatabase::create().unwrap() else { return };
    let mut client = pg::connect(&db.url).unwrap();
    pg::migrate(&mut client).unwrap();
    let mut in_pg = Columns::new();
    for row in client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name NOT IN ('inputs', 'signalbox_schema')",
            &[],
        )
        .unwrap()
    {
        let kind = match row.get::<_, String>(2).as_str() {
            "text" => "TEXT".to_string(),
            "bigint" => "INTEGER".to_string(),
            other => other.to_string(),
        };
        let not_null = row.get::<_, String>(3) == "NO";
        in_pg.entry(row.get(0)).or_default().insert(row.get(1), (kind, not_null));
    }
    let pg_indexes: Vec<String> = client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let sqlite = crate::schema::open_writer(&dir.path().join("schema.db")).unwrap();
    let mut in_sqlite = Columns::new();
    let tables: Vec<String> = sqlite
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let mut statement = sqlite.prepare(&format!("PRAGMA table_info({table})")).unwrap();
        let columns = statement
            .query_map([], |row| {
                let primary_key: i64 = row.get(5)?;
                Ok((row.get::<_, String>(1)?, (row.get::<_, String>(2)?, row.get::<_, bool>(3)? || primary_key > 0)))
            })
            .unwrap()
            .collect::<Result<BTreeMap<_, _>, _>>()
            .unwrap();
        in_sqlite.insert(table, columns);
    }
    let sqlite_indexes: Vec<String> = sqlite
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%' ORDER BY 1",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    assert_eq!(in_pg, in_sqlite);
    assert_eq!(pg_indexes, sqlite_indexes);
}

#[test]
fn urls_in_messages_never_carry_the_password() {
    let url = "postgres://signalbox:hunter2@127.0.0.1:1/signalbox";
    assert_eq!(pg::redact(url), "postgres://signalbox@127.0.0.1:1/signalbox");
    // Nothing listens on port 1: the error names the database, not the password.
    let Err(error) = pg::connect(url) else { panic!("connected to port 1") };
    let message = error.to_string();
    assert!(message.contains("postgres://signalbox@127.0.0.1:1/signalbox"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    let Err(error) = pg::connect("postgres://signalbox:hunter2@127.0.0.1:notaport/x") else { panic!("parsed") };
    assert!(error.to_string().contains("not a PostgreSQL URL"), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}
