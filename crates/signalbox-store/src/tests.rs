//! Tests of the write path that need the raw connection: pragmas, batching,
//! rollback of single operations, failed commits, aborted transactions, plans.
//! The public API is tested in `tests/store.rs`.

use std::future::Future;
use std::sync::mpsc;
use std::time::Duration;

use crate::schema::SCHEMA_VERSION;
use crate::{Store, StoreError};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Queues an operation that holds the writer until `release` is sent, and
/// returns once the writer is inside it: everything queued from then on
/// waits, and goes into the next batch together.
fn hold_writer(store: &Store) -> (impl Future<Output = Result<(), StoreError>>, mpsc::Sender<()>) {
    let (started_tx, started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let gate = store.write(move |_| {
        started_tx.send(()).unwrap();
        released.recv_timeout(Duration::from_secs(30)).unwrap();
        Ok::<_, StoreError>(())
    });
    started.recv_timeout(Duration::from_secs(30)).unwrap();
    (gate, release)
}

fn meta(store: &Store, key: &str) -> Option<String> {
    store.read(|t| t.get_meta(key)).unwrap()
}

#[derive(Debug, PartialEq)]
enum OpError {
    Store(StoreError),
    Refused,
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        OpError::Store(e)
    }
}

#[test]
fn the_writer_uses_wal_and_full_synchronous_and_the_current_schema() {
    let (_dir, store) = open();
    let (mode, synchronous, version) = runtime()
        .block_on(store.write(|t| {
            let mode: String = t.sqlite().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
            let sync: i64 = t.sqlite().pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
            Ok::<_, StoreError>((mode, sync, crate::schema::user_version(t.sqlite())?))
        }))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(synchronous, 2, "synchronous must be FULL (2)");
    assert_eq!(version, SCHEMA_VERSION);
    let reader_mode: String =
        store.read(|t| Ok(t.sqlite().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap())).unwrap();
    assert_eq!(reader_mode, "wal");
}

#[test]
fn writes_queued_together_share_one_commit() {
    let (_dir, store) = open();
    let rt = runtime();
    let (gate, release) = hold_writer(&store);
    let before = store.stats();
    let writes: Vec<_> =
        (0..200).map(|i| store.write(move |t| t.set_meta(&format!("k{i}"), &i.to_string()).map(|()| i))).collect();
    release.send(()).unwrap();
    rt.block_on(gate).unwrap();
    for (i, write) in writes.into_iter().enumerate() {
        assert_eq!(rt.block_on(write).unwrap(), i);
    }
    let after = store.stats();
    // The gate's own batch (still open when `before` was read), then one for all 200.
    assert_eq!(after.commits - before.commits, 2, "{before:?} -> {after:?}");
    assert_eq!(after.ops - before.ops, 200);
    assert_eq!(store.read(|t| t.get_meta("k199")).unwrap().as_deref(), Some("199"));
}

#[test]
fn a_failing_operation_is_rolled_back_alone() {
    let (_dir, store) = open();
    let rt = runtime();
    let (gate, release) = hold_writer(&store);
    let a = store.write(|t| t.set_meta("a", "1").map_err(OpError::from));
    let b = store.write(|t| {
        t.set_meta("b", "1")?;
        Err::<(), _>(OpError::Refused)
    });
    let c = store.write(|t| t.set_meta("c", "1").map_err(OpError::from));
    release.send(()).unwrap();
    rt.block_on(gate).unwrap();
    assert_eq!(rt.block_on(a), Ok(()));
    assert_eq!(rt.block_on(b), Err(OpError::Refused));
    assert_eq!(rt.block_on(c), Ok(()));
    assert_eq!(meta(&store, "a").as_deref(), Some("1"));
    assert_eq!(meta(&store, "b"), None);
    assert_eq!(meta(&store, "c").as_deref(), Some("1"));
}

#[test]
fn an_operation_alone_in_its_batch_that_fails_keeps_nothing() {
    // Alone, it runs without a savepoint: its transaction is rolled back instead.
    let (_dir, store) = open();
    let rt = runtime();
    let commits = store.stats().commits;
    let refused = rt.block_on(store.write(|t| {
        t.set_meta("lone", "1")?;
        t.set_meta("lone-2", "1")?;
        Err::<(), _>(OpError::Refused)
    }));
    assert_eq!(refused, Err(OpError::Refused));
    assert_eq!(meta(&store, "lone"), None);
    assert_eq!(meta(&store, "lone-2"), None);
    assert_eq!(store.stats().commits, commits, "nothing to commit");
    let panicked = rt.block_on(store.write(|t| -> Result<(), StoreError> {
        t.set_meta("lone-3", "1")?;
        panic!("boom alone");
    }));
    assert!(matches!(panicked, Err(StoreError::Panicked { .. })), "{panicked:?}");
    assert_eq!(meta(&store, "lone-3"), None);
    // The writer goes on, and a lone operation that succeeds is committed.
    rt.block_on(store.write(|t| t.set_meta("after", "1"))).unwrap();
    assert_eq!(meta(&store, "after").as_deref(), Some("1"));
    assert_eq!(store.stats().commits, commits + 1);
}

#[test]
fn a_panicking_operation_is_contained() {
    let (_dir, store) = open();
    let rt = runtime();
    let (gate, release) = hold_writer(&store);
    let a = store.write(|t| t.set_meta("a", "1"));
    let b = store.write(|t| -> Result<(), StoreError> {
        t.set_meta("b", "1")?;
        panic!("boom in op b");
    });
    let c = store.write(|t| t.set_meta("c", "1"));
    release.send(()).unwrap();
    rt.block_on(gate).unwrap();
    assert_eq!(rt.block_on(a), Ok(()));
    match rt.block_on(b) {
        Err(StoreError::Panicked { message }) => assert_eq!(message, "boom in op b"),
        other => panic!("expected a contained panic, got {other:?}"),
    }
    assert_eq!(rt.block_on(c), Ok(()));
    assert_eq!(meta(&store, "b"), None);
    assert_eq!(meta(&store, "c").as_deref(), Some("1"));
    // The writer lives on.
    rt.block_on(store.write(|t| t.set_meta("d", "1"))).unwrap();
    assert_eq!(meta(&store, "d").as_deref(), Some("1"));
}

#[test]
fn a_failed_commit_fails_every_write_of_its_batch_and_stores_none() {
    let (_dir, store) = open();
    let rt = runtime();
    // A deferred foreign key is checked only at COMMIT: a way to make COMMIT fail.
    rt.block_on(store.write(|t| {
        t.sqlite()
            .execute_batch(
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .map_err(StoreError::query("test setup"))
    }))
    .unwrap();
    let (gate, release) = hold_writer(&store);
    let a = store.write(|t| t.set_meta("a", "1"));
    let b = store.write(|t| {
        t.sqlite().execute("INSERT INTO child (p) VALUES (42)", []).map(|_| ()).map_err(StoreError::query("orphan"))
    });
    release.send(()).unwrap();
    rt.block_on(gate).unwrap();
    for result in [rt.block_on(a), rt.block_on(b)] {
        assert!(matches!(result, Err(StoreError::Commit { .. })), "{result:?}");
    }
    assert_eq!(store.stats().failed_commits, 1);
    assert_eq!(meta(&store, "a"), None);
    // The next batch starts clean.
    rt.block_on(store.write(|t| t.set_meta("after", "1"))).unwrap();
    assert_eq!(meta(&store, "after").as_deref(), Some("1"));
}

#[test]
fn an_aborted_transaction_fails_what_ran_before_and_the_rest_start_anew() {
    let (_dir, store) = open();
    let rt = runtime();
    let (gate, release) = hold_writer(&store);
    let a = store.write(|t| t.set_meta("a", "1"));
    // What SQLite does on a full disk or an I/O error: the transaction vanishes.
    let b = store.write(|t| t.sqlite().execute_batch("ROLLBACK").map_err(StoreError::query("test rollback")));
    let c = store.write(|t| t.set_meta("c", "1"));
    release.send(()).unwrap();
    rt.block_on(gate).unwrap();
    assert!(matches!(rt.block_on(a), Err(StoreError::Aborted { .. })));
    assert!(matches!(rt.block_on(b), Err(StoreError::Aborted { .. })));
    assert_eq!(rt.block_on(c), Ok(()));
    assert_eq!(meta(&store, "a"), None);
    assert_eq!(meta(&store, "c").as_deref(), Some("1"));
}

#[test]
fn stage_lookups_use_their_index() {
    let (_dir, store) = open();
    let plan = |sql: &str| -> String {
        store
            .read(|t| {
                let mut stmt = t.sqlite().prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
                Ok(rows.map(Result::unwrap).collect::<Vec<_>>().join(" | "))
            })
            .unwrap()
    };
    let by_version = plan(
        "SELECT train_id FROM stage_deployments INDEXED BY stage_by_version
         WHERE squad = 'a' AND service = 'b' AND version = 'c' AND completed_at <= 'z'
         ORDER BY completed_at DESC, train_id DESC LIMIT 1",
    );
    let by_service = plan(
        "SELECT train_id FROM stage_deployments INDEXED BY stage_by_service
         WHERE squad = 'a' AND service = 'b' AND completed_at <= 'z'
         ORDER BY completed_at DESC, train_id DESC LIMIT 1",
    );
    for plan in [by_version, by_service] {
        assert!(plan.contains("USING INDEX") || plan.contains("USING COVERING INDEX"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "the index must give the order: {plan}");
    }
}

#[test]
fn stage_lookups_are_prepared_once_per_connection() {
    // Parsing and planning again cost more than the lookup: a statement must
    // not be re-prepared when its parameters change, nor between transactions.
    let (_dir, store) = open();
    let rt = runtime();
    rt.block_on(store.write(|t| {
        for i in 0..50 {
            t.record_stage_deployment(&signalbox_core::StageDeployment {
                train_id: format!("STG{i}"),
                squad: "tugboat".into(),
                service: if i % 2 == 0 { "api" } else { "web" }.into(),
                version: Some(format!("{}", i % 5)),
                completed_at: instant("2026-11-20T10:00:00Z") + chrono::TimeDelta::hours(i),
            })?;
        }
        Ok::<_, StoreError>(())
    }))
    .unwrap();
    let mut found = 0;
    for i in 0..20 {
        let at = instant("2026-11-21T10:00:00Z") + chrono::TimeDelta::minutes(7 * i);
        let version = format!("{}", i % 5);
        found +=
            store.read(|t| t.latest_stage_deployment("tugboat", "api", Some(&version), at)).unwrap().iter().count();
        found += store.read(|t| t.latest_stage_deployment("tugboat", "web", None, at)).unwrap().iter().count();
    }
    assert_eq!(found, 40, "every lookup finds a deployment");
    // Each of the store's readers that ran them holds them prepared; none was prepared twice.
    for _ in 0..8 {
        let (by_version, by_service) = store
            .read(|t| {
                let status = |sql| {
                    t.sqlite().prepare_cached(sql).map(|s| s.get_status(rusqlite::StatementStatus::RePrepare)).unwrap()
                };
                Ok((status(crate::state::STAGE_BY_VERSION), status(crate::state::STAGE_BY_SERVICE)))
            })
            .unwrap();
        assert_eq!((by_version, by_service), (0, 0));
    }
}

#[test]
fn a_database_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(crate::DB_FILE)).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    match Store::open(dir.path()) {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        Err(other) => panic!("expected SchemaTooNew, got {other}"),
        Ok(_) => panic!("expected SchemaTooNew, the store opened"),
    }
}

#[test]
fn reopening_leaves_the_schema_version_alone() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        let store = Store::open(dir.path()).unwrap();
        let version = store.read(|t| crate::schema::user_version(t.sqlite())).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
}

#[test]
fn the_audit_log_cannot_be_rewritten() {
    let (_dir, store) = open();
    let rt = runtime();
    let entry = crate::NewAudit {
        at: chrono::Utc::now(),
        actor: "a".into(),
        action: crate::AuditAction::Reload,
        train_id: None,
        detail: serde_json::json!(null),
    };
    rt.block_on(store.write(move |t| t.append_audit(&entry))).unwrap();
    for sql in ["UPDATE audit SET actor = 'x'", "DELETE FROM audit"] {
        let error = rt
            .block_on(store.write(move |t| t.sqlite().execute(sql, []).map_err(StoreError::query("tamper"))))
            .unwrap_err();
        assert!(error.to_string().contains("append-only"), "{sql}: {error}");
    }
    assert_eq!(store.read(|t| t.audit_page(None, None, 10)).unwrap().len(), 1);
}

// ---- the shared-state cache (shared.rs) ----

fn instant(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&chrono::Utc)
}

fn exception(expires_at: &str) -> crate::NewException {
    crate::NewException {
        result: signalbox_core::Outcome::Approved,
        policy: "cie".into(),
        configuration_item: None,
        squad: Some("tugboat".into()),
        service: None,
        justification: "CIE 4321 fix".into(),
        created_by: "chat:U1".into(),
        created_at: instant("2026-11-23T10:00:00Z"),
        expires_at: instant(expires_at),
    }
}

fn shared(store: &Store, at: &str) -> std::sync::Arc<crate::SharedState> {
    store.read(|t| t.shared_state(instant(at))).unwrap()
}

#[test]
fn shared_state_is_read_once_per_generation_and_reread_after_a_change() {
    let (_dir, store) = open();
    let rt = runtime();
    let at = instant("2026-11-23T10:00:00Z");
    let first = shared(&store, "2026-11-23T10:00:00Z");
    assert!(first.stops.is_empty());
    // Served from memory: the same allocation, later instants included.
    assert!(std::sync::Arc::ptr_eq(&first, &shared(&store, "2026-11-23T10:05:00Z")));
    // A write that touches no decision input keeps the generation and the cache.
    let generation = store.generation();
    rt.block_on(store.write(|t| t.set_meta("k", "v"))).unwrap();
    assert_eq!(store.generation(), generation);
    assert!(std::sync::Arc::ptr_eq(&first, &shared(&store, "2026-11-23T10:00:00Z")));
    // A stop: the write's caller hears back only after the generation moved on.
    rt.block_on(store.write(move |t| t.insert_stop("all", "CIE 1", "chat:U1", at))).unwrap();
    assert!(store.generation() > generation);
    let after = shared(&store, "2026-11-23T10:00:00Z");
    assert_eq!(after.stops.iter().map(|s| s.scope.as_str()).collect::<Vec<_>>(), ["all"]);
    // Every other decision input bumps it too.
    let holds = store.generation();
    let hold = signalbox_core::Hold { train_id: "CHG1".into(), by: "chat:U1".into(), reason: "r".into(), at };
    rt.block_on(store.write(move |t| t.set_hold(&hold))).unwrap();
    assert!(store.generation() > holds);
    // So does an exception, and the new set holds it.
    rt.block_on(store.write(|t| t.insert_exception(&exception("2026-11-23T12:00:00Z")))).unwrap();
    assert_eq!(shared(&store, "2026-11-23T10:00:00Z").exceptions.len(), 1);
}

#[test]
fn cached_exceptions_serve_later_instants_only() {
    let (_dir, store) = open();
    let rt = runtime();
    rt.block_on(store.write(|t| t.insert_exception(&exception("2026-11-23T12:00:00Z")))).unwrap();
    let noon = shared(&store, "2026-11-23T11:00:00Z");
    // Expired since the set was loaded: still listed, and inactive at that
    // instant for the evaluator, which applies only exceptions active then.
    let active_at =
        |s: &crate::SharedState, at: &str| s.exceptions.iter().filter(|x| x.is_active_at(instant(at))).count();
    assert_eq!(active_at(&noon, "2026-11-23T11:59:59Z"), 1);
    assert_eq!(active_at(&noon, "2026-11-23T12:00:00Z"), 0);
    // An instant before the set was loaded is read from the tables.
    let earlier = shared(&store, "2026-11-23T10:30:00Z");
    assert!(!std::sync::Arc::ptr_eq(&noon, &earlier));
    assert_eq!(earlier.loaded_at, instant("2026-11-23T10:30:00Z"));
    // After expiry the cached set still serves (it is of the current generation),
    // and nothing in it is active.
    let later = shared(&store, "2026-11-23T13:00:00Z");
    assert_eq!(active_at(&later, "2026-11-23T13:00:00Z"), 0);
}

#[test]
fn within_a_batch_a_change_is_seen_by_the_operations_after_it_and_a_rolled_back_one_is_not_kept() {
    let (_dir, store) = open();
    let rt = runtime();
    let at = instant("2026-11-23T10:00:00Z");
    // Warm the cache (empty), then queue three operations into one batch.
    assert!(shared(&store, "2026-11-23T10:00:00Z").stops.is_empty());
    let (gate, release) = hold_writer(&store);
    let before = store.stats().commits;
    let seen_before = store.write(move |t| {
        assert!(t.generation().is_some(), "nothing touched yet in this batch");
        t.shared_state(at).map(|s| s.stops.len())
    });
    let refused = store.write(move |t| {
        t.insert_stop("production", "rolled back", "chat:U1", at)?;
        Err::<(), _>(OpError::Refused)
    });
    let seen_after = store.write(move |t| {
        let generation = t.generation();
        t.shared_state(at).map(|s| (generation, s.stops.len()))
    });
    release.send(()).unwrap();
    rt.block_on(gate).unwrap();
    assert_eq!(rt.block_on(seen_before).unwrap(), 0);
    assert_eq!(rt.block_on(refused), Err(OpError::Refused));
    // After a touch the batch reads through its transaction (the stop was rolled back: none).
    assert_eq!(rt.block_on(seen_after).unwrap(), (None, 0));
    assert_eq!(store.stats().commits, before + 2, "the gate, then the three together");
    // And the generation moved on: readers load again and find no stop.
    assert!(shared(&store, "2026-11-23T10:00:00Z").stops.is_empty());

    // In one batch, a stop's insertion is seen by the operation after it.
    let (gate, release) = hold_writer(&store);
    let insert = store.write(move |t| t.insert_stop("all", "CIE 2", "chat:U1", at));
    let seen = store.write(move |t| t.shared_state(at).map(|s| s.stops.len()));
    release.send(()).unwrap();
    rt.block_on(gate).unwrap();
    rt.block_on(insert).unwrap();
    assert_eq!(rt.block_on(seen).unwrap(), 1);
}

fn stage(train_id: &str, version: &str, completed_at: &str) -> signalbox_core::StageDeployment {
    signalbox_core::StageDeployment {
        train_id: train_id.into(),
        squad: "tugboat".into(),
        service: "api".into(),
        version: Some(version.into()),
        completed_at: instant(completed_at),
    }
}

fn hold(train_id: &str) -> signalbox_core::Hold {
    signalbox_core::Hold {
        train_id: train_id.into(),
        by: "chat:U1".into(),
        reason: "waiting for CRB".into(),
        at: instant("2026-11-23T09:00:00Z"),
    }
}

#[test]
fn holds_and_stage_deployments_come_from_the_shared_state_of_their_generation() {
    let (_dir, store) = open();
    let rt = runtime();
    let at = instant("2026-11-23T10:00:00Z");
    let first = stage("CHG-S1", "1.0", "2026-11-22T08:00:00Z");
    let recorded = first.clone();
    rt.block_on(store.write(move |t| {
        t.record_stage_deployment(&recorded)?;
        t.set_hold(&hold("CHG1"))
    }))
    .unwrap();
    let look = |when: &str| {
        let when = instant(when);
        store
            .read(|t| {
                let s = t.shared_state(at)?;
                Ok((
                    t.hold_for(&s, "CHG1")?,
                    t.hold_for(&s, "CHG2")?,
                    t.stage_for(&s, "tugboat", "api", Some("1.0"), when)?,
                    t.stage_for(&s, "tugboat", "api", None, when)?,
                    s.remembered_stages(),
                ))
            })
            .unwrap()
    };
    let (held, free, by_version, any, remembered) = look("2026-11-23T10:00:00Z");
    assert_eq!(held, Some(hold("CHG1")));
    assert_eq!(free, None);
    assert_eq!(by_version.as_ref(), Some(&first));
    assert_eq!(any.as_ref(), Some(&first));
    assert_eq!(remembered, 2, "one look-up remembered per (squad, service, version)");
    // The same generation: the same answers, nothing new to remember.
    assert_eq!(look("2026-11-23T10:00:00Z"), (Some(hold("CHG1")), None, Some(first.clone()), Some(first.clone()), 2));
    // Before the deployment completed there was none: read from the table.
    let (_, _, by_version, any, _) = look("2026-11-22T07:59:59Z");
    assert_eq!((by_version, any), (None, None));

    // A newer deployment of another version and a lifted hold: a new generation sees both.
    let second = stage("CHG-S2", "2.0", "2026-11-23T09:00:00Z");
    let recorded = second.clone();
    rt.block_on(store.write(move |t| {
        t.record_stage_deployment(&recorded)?;
        t.clear_hold("CHG1").map(|_| ())
    }))
    .unwrap();
    let (held, _, by_version, any, remembered) = look("2026-11-23T10:00:00Z");
    assert_eq!(held, None);
    assert_eq!(by_version.as_ref(), Some(&first), "version 1.0 is still the first");
    assert_eq!(any.as_ref(), Some(&second));
    assert_eq!(remembered, 2);
    // At an instant between the two, the latest one completed by then: the first.
    let (_, _, _, any, _) = look("2026-11-23T08:59:59Z");
    assert_eq!(any.as_ref(), Some(&first));
}

#[test]
fn a_hold_or_stage_deployment_recorded_earlier_in_the_batch_is_seen() {
    let (_dir, store) = open();
    let rt = runtime();
    let at = instant("2026-11-23T10:00:00Z");
    // Warm the shared state, then in one operation load it, change the
    // decision inputs, and look them up with the state loaded before.
    assert!(shared(&store, "2026-11-23T10:00:00Z").stops.is_empty());
    let seen = rt
        .block_on(store.write(move |t| {
            let before = t.shared_state(at)?;
            let (no_hold, no_stage) = (t.hold_for(&before, "CHG1")?, t.stage_for(&before, "tugboat", "api", None, at)?);
            t.set_hold(&hold("CHG1"))?;
            t.record_stage_deployment(&stage("CHG-S1", "1.0", "2026-11-22T08:00:00Z"))?;
            // Read again now, the state serves no look-ups and so keeps no holds.
            assert!(t.shared_state(at)?.holds().is_none());
            Ok::<_, StoreError>((
                no_hold,
                no_stage,
                t.hold_for(&before, "CHG1")?,
                t.stage_for(&before, "tugboat", "api", None, at)?.map(|d| d.train_id),
            ))
        }))
        .unwrap();
    assert_eq!(seen, (None, None, Some(hold("CHG1")), Some("CHG-S1".to_string())));
}

#[test]
fn with_more_holds_than_kept_in_memory_each_is_read() {
    let (_dir, store) = open();
    let rt = runtime();
    let count = crate::shared::HOLDS_IN_MEMORY + 1;
    rt.block_on(store.write(move |t| (0..count).try_for_each(|i| t.set_hold(&hold(&format!("CHG{i}")))))).unwrap();
    let (kept, last, none) = store
        .read(|t| {
            let s = t.shared_state(instant("2026-11-23T10:00:00Z"))?;
            Ok((s.holds().is_some(), t.hold_for(&s, &format!("CHG{}", count - 1))?, t.hold_for(&s, "CHG-none")?))
        })
        .unwrap();
    assert!(!kept, "too many holds to keep");
    assert_eq!(last, Some(hold(&format!("CHG{}", count - 1))));
    assert_eq!(none, None);
}

#[test]
fn an_operation_larger_than_the_in_memory_savepoint_journal_commits() {
    // Each operation runs in a SAVEPOINT whose journal SQLite keeps in memory
    // up to SQLITE_STMTJRNL_SPILL bytes (set in `.cargo/config.toml`) and then
    // moves to a temporary file in chunks of that size. The unix VFS writes at
    // most 128 KiB per call, so a threshold above that fails the move with
    // SQLITE_FULL ("database or disk is full"). Thousands of upserts in one
    // operation, into a growing table, make the journal move mid-operation.
    let (_dir, store) = open();
    let rt = runtime();
    let mut stored = 0;
    for round in 0..5u32 {
        let recorded = rt.block_on(store.write(move |t| {
            for i in 0..2_000u32 {
                let n = round * 2_000 + i;
                t.record_stage_deployment(&signalbox_core::StageDeployment {
                    // Spread over the key space, as train ids are: pages split everywhere.
                    train_id: format!("STG{:08x}", n.wrapping_mul(2_654_435_761)),
                    squad: format!("squad-{}", n % 37),
                    service: format!("service-{}", n % 101),
                    version: Some(format!("v{}", n % 7)),
                    completed_at: instant("2026-11-01T00:00:00Z") + chrono::TimeDelta::seconds(i64::from(n)),
                })?;
            }
            Ok::<_, StoreError>(())
        }));
        assert_eq!(recorded, Ok(()), "round {round}");
        stored = store
            .read(|t| {
                Ok(t.sqlite().query_row("SELECT COUNT(*) FROM stage_deployments", [], |r| r.get::<_, i64>(0)).unwrap())
            })
            .unwrap();
    }
    assert_eq!(stored, 10_000);
}

#[test]
fn a_session_lives_until_it_expires_or_is_deleted_and_expired_ones_are_dropped() {
    let (_dir, store) = open();
    let rt = runtime();
    let session = |id: &str, created: &str, expires: &str| crate::Session {
        id_sha256: id.to_string(),
        token_sha256: "t".repeat(64),
        name: "alice".into(),
        role: "conductor".into(),
        created_at: instant(created),
        expires_at: instant(expires),
    };
    let first = session("a", "2026-11-23T10:00:00Z", "2026-11-23T22:00:00Z");
    let stored = first.clone();
    rt.block_on(store.write(move |t| t.insert_session(&stored))).unwrap();
    let live = |id: &str, at: &str| {
        let (id, at) = (id.to_string(), instant(at));
        store.read(|t| t.live_session(&id, at)).unwrap()
    };
    assert_eq!(live("a", "2026-11-23T21:59:59Z"), Some(first.clone()));
    assert_eq!(live("a", "2026-11-23T22:00:00Z"), None, "expired at its expiry");
    assert_eq!(live("b", "2026-11-23T12:00:00Z"), None, "an unknown id");

    // A session created after the first expired drops it from the table.
    let second = session("b", "2026-11-24T10:00:00Z", "2026-11-24T22:00:00Z");
    let stored = second.clone();
    rt.block_on(store.write(move |t| t.insert_session(&stored))).unwrap();
    assert_eq!(live("a", "2026-11-23T12:00:00Z"), None, "dropped, not only expired");
    assert_eq!(live("b", "2026-11-24T12:00:00Z"), Some(second));

    assert!(rt.block_on(store.write(|t| t.delete_session("b"))).unwrap());
    assert!(!rt.block_on(store.write(|t| t.delete_session("b"))).unwrap(), "already gone");
    assert_eq!(live("b", "2026-11-24T12:00:00Z"), None);
}
