//! The store's public API, one behaviour per test, against a real database
//! file and, where the behaviour is not SQLite's own, a real PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use signalbox_core::{Decision, Finding, Hold, Outcome, StageDeployment, Train, TrainState};
use signalbox_store::testing::TestDatabase;
use signalbox_store::{AuditAction, NewAudit, NewException, Store, StoreError, TrainFilter, TrainRecord, Tx};

/// A data directory under Cargo's target dir, so fsync is a real one.
fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("store-test-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn train(id: &str, environment: &str, squad: &str) -> Train {
    Train {
        id: id.to_string(),
        squad: squad.to_string(),
        service: "auto-update".to_string(),
        configuration_item: "containers-kubernetes".to_string(),
        environment: environment.to_string(),
        regions: vec!["us-south".to_string()],
        title: format!("Deploy {id}"),
        version: Some("81ed70".to_string()),
        planned_start: at("2026-11-23T15:00:00Z"),
        planned_end: at("2026-11-23T17:00:00Z"),
        exception_justification: None,
        crb_approved: false,
        stage_deployed_at: None,
    }
}

fn decision(id: &str, train_id: &str, evaluated_at: &str) -> Decision {
    Decision {
        decision_id: id.to_string(),
        train_id: train_id.to_string(),
        outcome: Outcome::Manual,
        summary: "manual => global.sla: no SLA defined".to_string(),
        findings: vec![Finding {
            policy: "global.sla".to_string(),
            priority: 6,
            outcome: Outcome::Manual,
            message: "no SLA defined".to_string(),
            exception_id: None,
            policy_error: false,
        }],
        exceptions_applied: vec![],
        evaluated_at: at(evaluated_at),
        policy_revision: "sha256:abc".to_string(),
        actor: "pipeline:deploy-bot".to_string(),
        retry_at: None,
        suggested_window: None,
    }
}

fn record(id: &str, environment: &str, squad: &str, created_at: &str) -> TrainRecord {
    TrainRecord {
        train: train(id, environment, squad),
        state: TrainState::Pending,
        decision: decision(&format!("dec_{id}"), id, created_at),
        created_at: at(created_at),
        updated_at: at(created_at),
    }
}

/// Runs `check` on a new, empty store of each backend: the embedded SQLite in
/// a data directory, and PostgreSQL in a database of its own (skipped, with
/// one line, when no server is configured outside CI).
fn each_backend(check: impl Fn(&Store)) {
    let dir = data_dir();
    let store = Store::open(dir.path()).unwrap();
    check(&store);
    store.shutdown();
    if let Some(database) = TestDatabase::create().unwrap() {
        let store = Store::open_postgres(&database.url).unwrap();
        check(&store);
        store.shutdown();
    }
}

/// Runs `check` on a new SQLite store: for what only SQLite does.
fn sqlite_only(check: impl Fn(&Store)) {
    let dir = data_dir();
    check(&Store::open(dir.path()).unwrap());
}

/// Runs one write to completion from synchronous test code.
fn write<R: Send + 'static>(
    store: &Store,
    op: impl FnOnce(&Tx<'_>) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(store.write(op))
}

#[test]
fn store_is_a_cheap_shareable_handle() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Store>();
    let dir = data_dir();
    let store = Store::open(&dir.path().join("nested/data")).unwrap();
    assert_eq!(store.path(), dir.path().join("nested/data/signalbox.db"));
    assert!(store.path().is_file());
    let clone = store.clone();
    write(&clone, |t| t.set_meta("k", "v")).unwrap();
    assert_eq!(store.read(|t| t.get_meta("k")).unwrap().as_deref(), Some("v"));
}

#[test]
fn trains_are_put_got_replaced_and_counted() {
    each_backend(|store| {
        let mut first = record("CHG1", "production", "tugboat", "2026-11-23T10:00:00Z");
        let stored = first.clone();
        write(store, move |t| t.put_train(&stored)).unwrap();
        assert_eq!(store.read(|t| t.get_train("CHG1")).unwrap(), Some(first.clone()));
        assert_eq!(store.read(|t| t.get_train("CHG2")).unwrap(), None);

        first.state = TrainState::Approved;
        first.decision = decision("dec_2", "CHG1", "2026-11-23T11:00:00Z");
        first.updated_at = at("2026-11-23T11:00:00Z");
        let replaced = first.clone();
        write(store, move |t| t.put_train(&replaced)).unwrap();
        assert_eq!(store.read(|t| t.get_train("CHG1")).unwrap(), Some(first));
        assert_eq!(store.read(|t| t.count_trains()).unwrap(), 1);
    });
}

#[test]
fn train_lists_filter_and_page_oldest_first() {
    each_backend(|store| {
        let mut approved = record("CHG4", "stage", "netint", "2026-11-23T09:00:00Z");
        approved.state = TrainState::Approved;
        let records = [
            record("CHG3", "production", "tugboat", "2026-11-23T12:00:00Z"),
            record("CHG2", "production", "netint", "2026-11-23T10:00:00Z"),
            record("CHG1", "stage", "tugboat", "2026-11-23T10:00:00Z"),
            approved,
        ];
        write(store, move |t| records.iter().try_for_each(|r| t.put_train(r))).unwrap();
        let ids = |filter: TrainFilter| -> Vec<String> {
            store.read(|t| t.list_trains(&filter)).unwrap().into_iter().map(|r| r.train.id).collect()
        };
        // Same created_at: the id breaks the tie.
        assert_eq!(ids(TrainFilter::default()), ["CHG4", "CHG1", "CHG2", "CHG3"]);
        let pending = TrainFilter { state: Some(TrainState::Pending), ..TrainFilter::default() };
        assert_eq!(ids(pending.clone()), ["CHG1", "CHG2", "CHG3"]);
        let production = TrainFilter { environment: Some("production".into()), ..pending.clone() };
        assert_eq!(ids(production.clone()), ["CHG2", "CHG3"]);
        assert_eq!(ids(TrainFilter { squad: Some("tugboat".into()), ..production }), ["CHG3"]);
        assert_eq!(ids(TrainFilter { limit: Some(2), offset: Some(1), ..TrainFilter::default() }), ["CHG1", "CHG2"]);
        assert_eq!(ids(TrainFilter { offset: Some(3), ..TrainFilter::default() }), ["CHG3"]);
        assert_eq!(ids(TrainFilter { limit: Some(0), ..TrainFilter::default() }), Vec::<String>::new());
        assert_eq!(store.read(|t| t.count_trains()).unwrap(), 4);
    });
}

#[test]
fn every_decision_is_kept_and_immutable() {
    each_backend(|store| {
        let first = decision("dec_1", "CHG1", "2026-11-23T10:00:00Z");
        let second = decision("dec_2", "CHG1", "2026-11-23T11:00:00Z");
        let (a, b) = (first.clone(), second.clone());
        write(store, move |t| {
            t.insert_decision(&b)?;
            t.insert_decision(&a)
        })
        .unwrap();
        assert_eq!(store.read(|t| t.get_decision("dec_1")).unwrap(), Some(first.clone()));
        assert_eq!(store.read(|t| t.get_decision("dec_9")).unwrap(), None);
        assert_eq!(store.read(|t| t.decisions_for("CHG1")).unwrap(), vec![first.clone(), second]);
        let again = first.clone();
        let error = write(store, move |t| t.insert_decision(&again)).unwrap_err();
        assert!(error.to_string().starts_with("`insert_decision` failed:"), "{error}");
    });
}

#[test]
fn the_audit_log_pages_newest_first_and_tells_a_trains_history_oldest_first() {
    each_backend(|store| {
        let seqs = write(store, |t| {
            (0..5)
                .map(|i| {
                    t.append_audit(&NewAudit {
                        at: at("2026-11-23T10:00:00Z") + chrono::Duration::minutes(i),
                        actor: "chat:U1".into(),
                        action: AuditAction::ALL[usize::try_from(i).unwrap()],
                        train_id: (i > 0).then(|| if i % 2 == 0 { "CHG2".into() } else { "CHG1".into() }),
                        detail: json!({"i": i}),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

        let page = |train: Option<&str>, before: Option<i64>, limit: usize| -> Vec<i64> {
            store.read(|t| t.audit_page(train, before, limit)).unwrap().into_iter().map(|r| r.seq).collect()
        };
        let all: Vec<i64> = seqs.iter().rev().copied().collect();
        assert_eq!(page(None, None, 100), all);
        assert_eq!(page(None, None, 2), all[..2]);
        assert_eq!(page(None, Some(all[1]), 2), all[2..4]);
        assert_eq!(page(Some("CHG1"), None, 100), [seqs[3], seqs[1]]);
        assert_eq!(page(Some("CHG1"), Some(seqs[3]), 100), [seqs[1]]);
        assert_eq!(page(Some("CHG9"), None, 100), Vec::<i64>::new());

        let history = store.read(|t| t.train_history("CHG2")).unwrap();
        assert_eq!(history.iter().map(|r| r.seq).collect::<Vec<_>>(), [seqs[2], seqs[4]]);
        let entry = &history[0];
        assert_eq!(entry.at, at("2026-11-23T10:02:00Z"));
        assert_eq!((entry.actor.as_str(), entry.action), ("chat:U1", AuditAction::ALL[2]));
        assert_eq!(entry.train_id.as_deref(), Some("CHG2"));
        assert_eq!(entry.detail, json!({"i": 2}));
        let wire = serde_json::to_value(entry).unwrap();
        assert_eq!(wire["seq"], json!(seqs[2]));
    });
}

#[test]
fn stops_get_fresh_ids_and_lifting_is_exact_by_scope() {
    each_backend(|store| {
        let t0 = at("2026-11-23T10:00:00Z");
        let stops = write(store, move |t| {
            Ok(vec![
                t.insert_stop("all", "CIE 1", "incident:bot", t0)?,
                t.insert_stop("us-south", "CIE 2", "chat:U1", t0)?,
                t.insert_stop("production", "CIE 3", "chat:U1", t0)?,
            ])
        })
        .unwrap();
        let ids: Vec<&str> = stops.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["stop_1", "stop_2", "stop_3"]);
        assert_eq!(stops[0].created_by, "incident:bot");
        assert_eq!(store.read(|t| t.active_stops()).unwrap(), stops);

        // `us-south` leaves the `all` stop in place.
        let lifted = write(store, move |t| t.lift_stops("us-south", "chat:U2", t0)).unwrap();
        assert_eq!(lifted, [stops[1].clone()]);
        assert_eq!(store.read(|t| t.active_stops()).unwrap(), [stops[0].clone(), stops[2].clone()]);
        assert_eq!(write(store, move |t| t.lift_stops("us-south", "chat:U2", t0)).unwrap(), []);

        let lifted = write(store, move |t| t.lift_stops("all", "chat:U2", t0)).unwrap();
        assert_eq!(lifted, [stops[0].clone(), stops[2].clone()]);
        assert_eq!(store.read(|t| t.active_stops()).unwrap(), []);

        // Ids are never reused, even after every stop is lifted.
        let next = write(store, move |t| t.insert_stop("all", "CIE 4", "chat:U1", t0)).unwrap();
        assert_eq!(next.id, "stop_4");
    });
}

#[test]
fn holds_are_set_replaced_and_cleared() {
    each_backend(|store| {
        let hold = |train_id: &str, reason: &str| Hold {
            train_id: train_id.into(),
            by: "chat:U1".into(),
            reason: reason.into(),
            at: at("2026-11-23T10:00:00Z"),
        };
        let (first, second, other) = (hold("CHG1", "wait"), hold("CHG1", "wait more"), hold("CHG2", "no"));
        let (s, o) = (second.clone(), other.clone());
        write(store, move |t| {
            t.set_hold(&first)?;
            t.set_hold(&s)?;
            t.set_hold(&o)
        })
        .unwrap();
        assert_eq!(store.read(|t| t.get_hold("CHG1")).unwrap(), Some(second.clone()));
        assert_eq!(store.read(|t| t.holds_for(&["CHG2", "CHG9", "CHG1"])).unwrap(), [other.clone(), second.clone()]);
        assert_eq!(store.read(|t| t.all_holds()).unwrap(), [second.clone(), other]);
        assert_eq!(write(store, |t| t.clear_hold("CHG1")).unwrap(), Some(second));
        assert_eq!(write(store, |t| t.clear_hold("CHG1")).unwrap(), None);
        assert_eq!(store.read(|t| t.get_hold("CHG1")).unwrap(), None);
    });
}

fn stage(train_id: &str, squad: &str, version: Option<&str>, completed_at: DateTime<Utc>) -> StageDeployment {
    StageDeployment {
        train_id: train_id.into(),
        squad: squad.into(),
        service: "auto-update".into(),
        version: version.map(Into::into),
        completed_at,
    }
}

#[test]
fn the_latest_stage_deployment_by_the_instant_wins() {
    each_backend(|store| {
        let t0 = at("2026-11-20T10:00:00Z");
        let hours = chrono::Duration::hours;
        let deployments = vec![
            stage("CHG1", "tugboat", Some("v1"), t0),
            stage("CHG2", "tugboat", Some("v2"), t0 + hours(5)),
            stage("CHG3", "tugboat", Some("v1"), t0 + hours(10)),
            stage("CHG4", "tugboat", None, t0 + hours(20)),
            stage("CHG5", "netint", Some("v1"), t0 + hours(30)),
        ];
        let all = deployments.clone();
        write(store, move |t| all.iter().try_for_each(|d| t.record_stage_deployment(d))).unwrap();
        let latest = |version: Option<&'static str>, when: DateTime<Utc>| -> Option<String> {
            store
                .read(|t| t.latest_stage_deployment("tugboat", "auto-update", version, when))
                .unwrap()
                .map(|d| d.train_id)
        };
        assert_eq!(latest(None, t0 + hours(40)).as_deref(), Some("CHG4"));
        assert_eq!(latest(None, t0 + hours(6)).as_deref(), Some("CHG2"));
        assert_eq!(latest(Some("v1"), t0 + hours(40)).as_deref(), Some("CHG3"));
        assert_eq!(latest(Some("v1"), t0 + hours(9)).as_deref(), Some("CHG1"));
        // completed_at <= at: the boundary counts.
        assert_eq!(latest(Some("v1"), t0).as_deref(), Some("CHG1"));
        assert_eq!(latest(Some("v1"), t0 - hours(1)), None);
        assert_eq!(latest(Some("v9"), t0 + hours(40)), None);
        let found =
            store.read(|t| t.latest_stage_deployment("netint", "auto-update", Some("v1"), t0 + hours(40))).unwrap();
        assert_eq!(found, Some(deployments[4].clone()));

        // Recording a train again replaces its row.
        let moved = stage("CHG1", "tugboat", Some("v1"), t0 + hours(11));
        write(store, move |t| t.record_stage_deployment(&moved)).unwrap();
        assert_eq!(latest(Some("v1"), t0 + hours(40)).as_deref(), Some("CHG1"));
    });
}

#[test]
fn stage_lookups_stay_fast_with_many_rows() {
    sqlite_only(|store| {
        let t0 = at("2026-01-01T00:00:00Z");
        write(store, move |t| {
            (0..12_000).try_for_each(|i| {
                let squad = format!("squad{}", i % 40);
                let version = format!("v{}", i % 25);
                let when = t0 + chrono::Duration::minutes(i);
                t.record_stage_deployment(&stage(&format!("CHG{i}"), &squad, Some(&version), when))
            })
        })
        .unwrap();
        let end = t0 + chrono::Duration::days(365);
        let started = Instant::now();
        let found = store
            .read(|t| {
                let mut found = 0;
                for i in 0..1_000 {
                    let squad = format!("squad{}", i % 40);
                    let version = format!("v{}", i % 25);
                    found +=
                        usize::from(t.latest_stage_deployment(&squad, "auto-update", Some(&version), end)?.is_some());
                    found += usize::from(t.latest_stage_deployment(&squad, "auto-update", None, end)?.is_some());
                }
                Ok(found)
            })
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(found, 2_000);
        // Indexed, 2,000 lookups take milliseconds; a scan of 12,000 rows each would take seconds.
        assert!(elapsed < Duration::from_secs(2), "2,000 lookups took {elapsed:?}");
    });
}

fn new_exception(policy: &str, expires_at: DateTime<Utc>) -> NewException {
    NewException {
        result: Outcome::Approved,
        policy: policy.into(),
        configuration_item: Some("containers-kubernetes".into()),
        squad: Some("tugboat".into()),
        service: None,
        justification: "CIE 4321 fix".into(),
        created_by: "chat:U1".into(),
        created_at: at("2026-11-23T10:00:00Z"),
        expires_at,
    }
}

#[test]
fn exceptions_get_fresh_ids_expire_and_are_deleted_once() {
    each_backend(|store| {
        let t0 = at("2026-11-23T10:00:00Z");
        let hours = chrono::Duration::hours;
        let (short, long) =
            (new_exception("global.business_hours", t0 + hours(1)), new_exception("global.sla", t0 + hours(4)));
        let (s, l) = (short.clone(), long.clone());
        let created = write(store, move |t| Ok(vec![t.insert_exception(&s)?, t.insert_exception(&l)?])).unwrap();
        assert_eq!(created[0].id, "exc_1");
        assert_eq!(created[1].id, "exc_2");
        assert_eq!(created[0].policy, short.policy);
        assert_eq!(created[0].squad.as_deref(), Some("tugboat"));
        assert_eq!(created[0].service, None);
        assert_eq!(created[1].expires_at, long.expires_at);
        assert_eq!(store.read(|t| t.get_exception("exc_2")).unwrap(), Some(created[1].clone()));
        for unknown in ["exc_3", "exc_0", "nope", "stop_1"] {
            assert_eq!(store.read(|t| t.get_exception(unknown)).unwrap(), None, "{unknown}");
        }

        let live = |when: DateTime<Utc>| -> Vec<String> {
            store.read(|t| t.live_exceptions(when)).unwrap().into_iter().map(|e| e.id).collect()
        };
        assert_eq!(live(t0), ["exc_1", "exc_2"]);
        // expires_at > at: an exception is gone at its expiry instant.
        assert_eq!(live(t0 + hours(1)), ["exc_2"]);
        assert_eq!(live(t0 + hours(4)), Vec::<String>::new());

        let deleted = write(store, move |t| t.delete_exception("exc_2", "chat:U2", t0)).unwrap();
        assert_eq!(deleted, Some(created[1].clone()));
        assert_eq!(write(store, move |t| t.delete_exception("exc_2", "chat:U2", t0)).unwrap(), None);
        assert_eq!(write(store, move |t| t.delete_exception("exc_9", "chat:U2", t0)).unwrap(), None);
        assert_eq!(live(t0), ["exc_1"]);
        // A deleted exception can still be looked up, for the record.
        assert_eq!(store.read(|t| t.get_exception("exc_2")).unwrap(), Some(created[1].clone()));

        let next = write(store, move |t| t.insert_exception(&short)).unwrap();
        assert_eq!(next.id, "exc_3");
    });
}

#[test]
fn meta_values_are_set_and_replaced() {
    each_backend(|store| {
        assert_eq!(store.read(|t| t.get_meta("bootstrap_token_sha256")).unwrap(), None);
        write(store, |t| t.set_meta("bootstrap_token_sha256", "ab")).unwrap();
        write(store, |t| t.set_meta("bootstrap_token_sha256", "cd")).unwrap();
        assert_eq!(store.read(|t| t.get_meta("bootstrap_token_sha256")).unwrap().as_deref(), Some("cd"));
    });
}

#[test]
fn read_connections_cannot_write() {
    each_backend(|store| {
        let error = store.read(|t| t.set_meta("k", "v")).unwrap_err();
        assert!(matches!(&error, StoreError::Query { op: "set_meta", .. }), "{error}");
        // SQLite: "attempt to write a readonly database"; PostgreSQL: "… in a read-only transaction".
        assert!(error.to_string().contains("readonly") || error.to_string().contains("read-only"), "{error}");
        let stopped = store.read(|t| t.insert_stop("all", "m", "u", at("2026-11-23T10:00:00Z")));
        assert!(stopped.is_err());
        assert_eq!(store.read(|t| t.get_meta("k")).unwrap(), None);
        assert_eq!(store.read(|t| t.active_stops()).unwrap(), []);
    });
}

#[test]
fn a_read_sees_one_snapshot_and_does_not_see_uncommitted_writes() {
    each_backend(|store| {
        write(store, |t| t.set_meta("k", "1")).unwrap();
        let writer = store.clone();
        let (first, second) = store
            .read(|t| {
                let first = t.get_meta("k")?;
                // A write committed while this read is open stays invisible to it.
                write(&writer, |t| t.set_meta("k", "2")).unwrap();
                Ok((first, t.get_meta("k")?))
            })
            .unwrap();
        assert_eq!((first.as_deref(), second.as_deref()), (Some("1"), Some("1")));
        assert_eq!(store.read(|t| t.get_meta("k")).unwrap().as_deref(), Some("2"));
    });
}

#[test]
fn many_concurrent_writers_are_batched_into_few_commits() {
    each_backend(|store| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
        let before = store.stats();
        let mut seqs = runtime.block_on(async {
            let tasks: Vec<_> = (0..200)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        store
                            .write(move |t| {
                                t.append_audit(&NewAudit {
                                    at: at("2026-11-23T10:00:00Z"),
                                    actor: format!("task{i}"),
                                    action: AuditAction::ChatCommand,
                                    train_id: None,
                                    detail: json!(i),
                                })
                            })
                            .await
                    })
                })
                .collect();
            let mut seqs = Vec::new();
            for task in tasks {
                seqs.push(task.await.unwrap().unwrap());
            }
            seqs
        });
        let after = store.stats();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 200, "every write got its own sequence number");
        assert_eq!(after.ops - before.ops, 200);
        let commits = after.commits - before.commits;
        eprintln!("200 concurrent writes: {commits} commits");
        assert!(commits < 100, "200 concurrent writes took {commits} commits");
        assert_eq!(store.read(|t| t.audit_page(None, None, 1000)).unwrap().len(), 200);
    });
}

#[test]
fn every_acknowledged_write_survives_a_reopen() {
    let dir = data_dir();
    let t0 = at("2026-11-23T10:00:00Z");
    {
        let store = Store::open(dir.path()).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        runtime.block_on(async {
            let writes: Vec<_> = (0..50)
                .map(|i| {
                    let rec = record(&format!("CHG{i}"), "production", "tugboat", "2026-11-23T10:00:00Z");
                    store.write(move |t| {
                        t.put_train(&rec)?;
                        t.insert_decision(&rec.decision)?;
                        t.append_audit(&NewAudit {
                            at: t0,
                            actor: "pipeline:deploy-bot".into(),
                            action: AuditAction::Submit,
                            train_id: Some(rec.train.id.clone()),
                            detail: json!({}),
                        })
                    })
                })
                .collect();
            for w in writes {
                w.await.unwrap();
            }
        });
        runtime
            .block_on(store.write(move |t| {
                t.insert_stop("all", "CIE", "incident:bot", t0)?;
                t.insert_exception(&new_exception("global.sla", t0 + chrono::Duration::hours(1)))
            }))
            .unwrap();
        // Dropped here without an explicit shutdown.
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.read(|t| t.count_trains()).unwrap(), 50);
    assert!(store.read(|t| t.get_decision("dec_CHG49")).unwrap().is_some());
    assert_eq!(store.read(|t| t.audit_page(None, None, 100)).unwrap().len(), 50);
    assert_eq!(store.read(|t| t.active_stops()).unwrap().len(), 1);
    assert_eq!(store.read(|t| t.live_exceptions(t0)).unwrap().len(), 1);
    // Counters carry on after a reopen.
    let next = write(&store, move |t| t.insert_stop("all", "CIE", "incident:bot", t0)).unwrap();
    assert_eq!(next.id, "stop_2");
}

#[test]
fn reopening_applies_no_migration_twice() {
    let dir = data_dir();
    for round in 0..3 {
        let store = Store::open(dir.path()).unwrap();
        let key = format!("round{round}");
        write(&store, move |t| t.set_meta(&key, "x")).unwrap();
        let rounds = store
            .read(|t| (0..=round).map(|r| t.get_meta(&format!("round{r}"))).collect::<Result<Vec<_>, _>>())
            .unwrap();
        assert!(rounds.iter().all(Option::is_some), "round {round}: {rounds:?}");
        store.shutdown();
    }
    assert_db_file_only_in(dir.path());
}

fn assert_db_file_only_in(dir: &Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, ["signalbox.db", "signalbox.id", "signalbox.lock"]);
}

#[test]
fn shutdown_finishes_queued_writes_then_refuses_more() {
    each_backend(|store| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let queued: Vec<_> = (0..20).map(|i| store.write(move |t| t.set_meta(&format!("k{i}"), "v"))).collect();
        store.shutdown();
        for write in queued {
            runtime.block_on(write).unwrap();
        }
        assert_eq!(runtime.block_on(store.write(|t| t.set_meta("late", "v"))), Err(StoreError::Closed));
        assert_eq!(store.check_writable(), Err(StoreError::Closed));
        // Reads keep working after shutdown.
        assert_eq!(store.read(|t| t.get_meta("k19")).unwrap().as_deref(), Some("v"));
        store.shutdown();
    });
}

#[test]
fn a_running_store_is_writable_and_the_probe_commits_only_its_own_row() {
    each_backend(|store| {
        store.check_writable().unwrap();
        store.check_writable().unwrap();
        assert_eq!(store.read(|t| t.get_meta("signalbox.writable_probe")).unwrap().as_deref(), Some("ok"));
        assert_eq!(store.read(|t| t.audit_page(None, None, 10)).unwrap(), Vec::new());
        assert_eq!(store.read(|t| t.count_trains()).unwrap(), 0);
    });
}

#[test]
fn errors_name_what_failed_and_write_errors_convert_into_the_callers_type() {
    #[derive(Debug)]
    enum ApiError {
        Store(StoreError),
        Conflict(String),
    }
    impl From<StoreError> for ApiError {
        fn from(e: StoreError) -> ApiError {
            ApiError::Store(e)
        }
    }
    let dir = data_dir();
    let store = Store::open(dir.path()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let conflict = runtime
        .block_on(store.write(|t| -> Result<(), ApiError> {
            if t.get_train("CHG1")?.is_none() {
                return Err(ApiError::Conflict("no train `CHG1`".into()));
            }
            Ok(())
        }))
        .unwrap_err();
    assert!(matches!(&conflict, ApiError::Conflict(m) if m == "no train `CHG1`"), "{conflict:?}");
    store.shutdown();
    let closed = runtime.block_on(store.write(|_| Ok::<(), ApiError>(()))).unwrap_err();
    assert!(matches!(closed, ApiError::Store(StoreError::Closed)));

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let error = Store::open(&file).err().unwrap();
    assert!(error.to_string().starts_with("cannot create the data directory `"), "{error}");
}

#[test]
fn a_second_store_on_the_same_directory_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::Locked { .. }) => {}
        other => panic!("expected Locked, got {:?}", other.map(|_| "a store")),
    }
    first.shutdown();
    drop(first);
    Store::open(dir.path()).unwrap();
}

/// Every `Tx` method that changes a decision input (stops, holds, stage
/// deployments, exceptions) moves the generation once its batch commits, so
/// no decision made before the change is recorded after it. Add a line here for
/// each new such method.
#[test]
fn every_change_of_a_decision_input_moves_the_generation() {
    each_backend(|store| {
        let t0 = at("2026-11-23T10:00:00Z");
        let hold = Hold { train_id: "CHG1".into(), by: "chat:U1".into(), reason: "wait".into(), at: t0 };
        type Change = Box<dyn Fn(&Tx<'_>) -> Result<(), StoreError> + Send + Sync>;
        let changes: Vec<(&str, Change)> = vec![
            ("insert_stop", Box::new(move |t| t.insert_stop("all", "CIE 1", "incident:bot", t0).map(drop))),
            ("lift_stops", Box::new(move |t| t.lift_stops("all", "chat:U1", t0).map(drop))),
            ("set_hold", Box::new(move |t| t.set_hold(&hold))),
            ("clear_hold", Box::new(|t| t.clear_hold("CHG1").map(drop))),
            (
                "record_stage_deployment",
                Box::new(move |t| t.record_stage_deployment(&stage("CHG9", "tugboat", None, t0))),
            ),
            ("insert_exception", Box::new(move |t| t.insert_exception(&new_exception("global.sla", t0)).map(drop))),
            ("delete_exception", Box::new(move |t| t.delete_exception("exc_1", "chat:U1", t0).map(drop))),
        ];
        for (name, change) in changes {
            let before = store.generation();
            write(store, move |t| change(t)).unwrap();
            assert!(store.generation() > before, "`{name}` changed a decision input without moving the generation");
        }
        // Changes of anything else leave it alone.
        let before = store.generation();
        let rec = record("CHG2", "production", "tugboat", "2026-11-23T10:00:00Z");
        write(store, move |t| t.put_train(&rec)).unwrap();
        assert_eq!(store.generation(), before);
    });
}

/// Two stage deployments completed at the same instant: the store picks the
/// one the core's `StageDeployment::recency` calls latest.
#[test]
fn ties_between_stage_deployments_break_as_the_core_says() {
    each_backend(|store| {
        let done = at("2026-11-22T10:00:00Z");
        let deployments =
            vec![stage("CHG7", "tugboat", Some("81ed70"), done), stage("CHG5", "tugboat", Some("81ed70"), done)];
        let rows = deployments.clone();
        write(store, move |t| rows.iter().try_for_each(|d| t.record_stage_deployment(d))).unwrap();
        let mut production = train("CHG8", "production", "tugboat");
        for version in [Some("81ed70".to_string()), None] {
            production.version = version.clone();
            let expected = signalbox_core::state::latest_stage_deployment(&deployments, &production, done).cloned();
            let stored =
                store.read(|t| t.latest_stage_deployment("tugboat", "auto-update", version.as_deref(), done)).unwrap();
            assert_eq!(stored, expected, "version {version:?}");
            assert_eq!(stored.map(|d| d.train_id), Some("CHG7".to_string()));
        }
    });
}

/// A database file that is not the one the data directory held is refused:
/// truncated to nothing (it would otherwise start as a fresh install) or
/// swapped for another store's. Removing `signalbox.id` starts afresh on purpose.
#[test]
fn a_truncated_or_swapped_database_is_refused() {
    let dir = data_dir();
    let other = data_dir();
    for d in [dir.path(), other.path()] {
        let store = Store::open(d).unwrap();
        write(&store, |t| t.set_meta("k", "v")).unwrap();
        store.shutdown();
    }
    let id = std::fs::read_to_string(dir.path().join(signalbox_store::ID_FILE)).unwrap();
    assert!(id.starts_with("st_"), "{id}");

    std::fs::copy(other.path().join("signalbox.db"), dir.path().join("signalbox.db")).unwrap();
    let Err(StoreError::WrongStore(message)) = Store::open(dir.path()).map(drop) else {
        panic!("a swapped file opened")
    };
    assert!(message.contains("another store") && message.contains(id.trim()), "{message}");

    std::fs::write(dir.path().join("signalbox.db"), b"").unwrap();
    let Err(StoreError::WrongStore(message)) = Store::open(dir.path()).map(drop) else {
        panic!("an empty file opened")
    };
    assert!(message.contains("truncated") && message.contains(id.trim()), "{message}");

    std::fs::remove_file(dir.path().join(signalbox_store::ID_FILE)).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.read(|t| t.get_meta("k")).unwrap(), None, "a new, empty store");
}

/// Garbage in a page in the middle of the file: the store still opens (so
/// what can be read is read), but says it is damaged, refuses writes and fails
/// readiness; the full check names the problem.
#[test]
fn a_damaged_file_is_detected_at_open_and_refuses_writes() {
    let dir = data_dir();
    {
        let store = Store::open(dir.path()).unwrap();
        write(&store, |t| {
            (0..300).try_for_each(|i| {
                t.append_audit(&NewAudit {
                    at: at("2026-11-23T10:00:00Z"),
                    actor: "chat:U1".into(),
                    action: AuditAction::ChatCommand,
                    train_id: Some(format!("CHG{i}")),
                    detail: json!({ "text": "x".repeat(500) }),
                })
                .map(drop)
            })
        })
        .unwrap();
        store.shutdown();
    }
    assert!(signalbox_store::check(dir.path()).unwrap().ok());
    let path = dir.path().join("signalbox.db");
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > 20 * page, "{} bytes", bytes.len());
    for b in &mut bytes[10 * page..11 * page] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();

    let store = Store::open(dir.path()).unwrap();
    // The check runs beside start-up, not before it: wait (bounded) for its verdict.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(store.check_writable(), Err(StoreError::Damaged { .. })) {
        assert!(Instant::now() < deadline, "never found damaged: {:?}", store.check_writable());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(matches!(write(&store, |t| t.set_meta("k", "v")), Err(StoreError::Damaged { .. })));
    assert_eq!(store.read(|t| t.get_meta("store_id")).unwrap().map(|id| id.starts_with("st_")), Some(true));
    let report = signalbox_store::check(dir.path()).unwrap();
    assert!(!report.ok(), "{report:?}");
}

/// A full disk (here: the database's page limit) fails the write with a
/// retryable error; reads go on, and writes work again once there is room.
#[test]
fn a_full_disk_fails_writes_retryably_and_reads_go_on() {
    sqlite_only(|store| {
        write(store, |t| t.set_meta("before", "v")).unwrap();
        let pages = write(store, |t| t.limit_pages_for_tests(0)).unwrap();
        let big = "x".repeat(64 * 1024);
        let failed = write(store, move |t| t.set_meta("big", &big));
        assert!(matches!(&failed, Err(StoreError::Full { .. })), "{failed:?}");
        assert!(failed.as_ref().unwrap_err().is_unavailable());
        // A nearly full disk may take a small probe; readiness fails all the same.
        assert!(matches!(store.check_writable(), Err(StoreError::Full { .. })), "{:?}", store.check_writable());
        assert_eq!(store.read(|t| t.get_meta("before")).unwrap().as_deref(), Some("v"));
        write(store, move |t| t.limit_pages_for_tests(pages + 1000)).unwrap();
        let big = "x".repeat(64 * 1024);
        write(store, move |t| t.set_meta("big", &big)).unwrap();
    });
}
