//! Several stores on one PostgreSQL database, as replicas use it: a change
//! committed through one is in force for the next transaction of every other,
//! and writes racing from two replicas are serialised. Needs a PostgreSQL
//! server (`SIGNALBOX_TEST_DATABASE_URL`; skipped with one line outside CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

use std::sync::{Arc, Barrier};

use chrono::{DateTime, Utc};
use signalbox_store::testing::TestDatabase;
use signalbox_store::{Store, StoreError, Tx};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn write<R: Send + 'static>(
    store: &Store,
    op: impl FnOnce(&Tx<'_>) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(store.write(op))
}

/// Two replicas on a new database, or `None` when no server is configured.
fn replicas() -> Option<(TestDatabase, Store, Store)> {
    let database = TestDatabase::create().unwrap()?;
    let a = Store::open_postgres(&database.url).unwrap();
    let b = Store::open_postgres(&database.url).unwrap();
    Some((database, a, b))
}

#[test]
fn a_stop_committed_on_one_replica_is_seen_by_the_next_read_and_write_of_the_other() {
    let Some((_db, a, b)) = replicas() else { return };
    let t0 = at("2026-12-05T10:00:00Z");
    // B loads (and caches) the shared state while nothing is stopped.
    assert!(b.read(|t| t.shared_state(t0)).unwrap().stops.is_empty());
    let generation = b.read(|t| Ok(t.generation())).unwrap();
    for round in 0..50 {
        let stop = write(&a, move |t| t.insert_stop("all", &format!("CIE {round}"), "chat:U1", t0)).unwrap();
        // No notification reached B: its next transactions read the generation from the database.
        let seen = b.read(|t| t.shared_state(t0)).unwrap();
        assert_eq!(seen.stops.last().map(|s| s.id.clone()), Some(stop.id.clone()), "round {round}: read");
        let in_write = write(&b, move |t| Ok((t.generation(), t.shared_state(t0)?.stops.len()))).unwrap();
        assert_eq!(in_write.1, 1, "round {round}: write");
        assert!(in_write.0 > generation, "round {round}");
        write(&a, move |t| t.lift_stops("all", "chat:U1", t0)).unwrap();
        assert!(b.read(|t| t.shared_state(t0)).unwrap().stops.is_empty(), "round {round}: lifted");
    }
}

/// The store-level shape of a submission: look the train up, and record it
/// with a decision only if it is not there. Two replicas doing it at once
/// for the same id, 200 times: one record, one decision each time.
#[test]
fn the_same_insert_racing_on_two_replicas_happens_once() {
    let Some((_db, a, b)) = replicas() else { return };
    let (a, b) = (Arc::new(a), Arc::new(b));
    for round in 0..200 {
        let id = format!("CHG{round:07}");
        let start = Arc::new(Barrier::new(2));
        let racers: Vec<_> = [Arc::clone(&a), Arc::clone(&b)]
            .into_iter()
            .enumerate()
            .map(|(replica, store)| {
                let (id, start) = (id.clone(), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    write(&store, move |t| match t.get_meta(&id)? {
                        Some(existing) => Ok(existing),
                        None => {
                            let decided = format!("dec_{replica}_{id}");
                            t.set_meta(&id, &decided)?;
                            Ok(decided)
                        }
                    })
                    .unwrap()
                })
            })
            .collect();
        let answers: Vec<String> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(answers[0], answers[1], "round {round}: both replicas answer the one decision");
    }
}

#[test]
fn ids_stay_unique_across_replicas() {
    let Some((_db, a, b)) = replicas() else { return };
    let t0 = at("2026-12-05T10:00:00Z");
    let (a, b) = (Arc::new(a), Arc::new(b));
    let writers: Vec<_> = [a, b]
        .into_iter()
        .map(|store| {
            std::thread::spawn(move || {
                (0..100)
                    .map(|i| write(&store, move |t| t.insert_stop("all", &format!("m{i}"), "u", t0)).unwrap().id)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
}

#[test]
fn connections_cut_by_the_server_are_replaced_without_failing_an_operation() {
    let Some(database) = TestDatabase::create().unwrap() else { return };
    let store = Store::open_postgres(&database.url).unwrap();
    write(&store, |t| t.set_meta("k", "1")).unwrap();
    // Cut every connection of the store from the server side.
    let mut admin = signalbox_store::pg::connect(&database.url).unwrap();
    let terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()";
    admin.batch_execute(terminate).unwrap();
    // A connection found cut before anything ran is replaced at once: no operation fails.
    write(&store, |t| t.set_meta("k", "2")).unwrap();
    admin.batch_execute(terminate).unwrap();
    assert_eq!(store.read(|t| t.get_meta("k")).unwrap().as_deref(), Some("2"));
    admin.batch_execute(terminate).unwrap();
    assert!(store.check_writable().is_ok());
}

#[test]
fn a_database_that_cannot_be_reached_fails_as_unavailable() {
    let Some(database) = TestDatabase::create().unwrap() else { return };
    let store = Store::open_postgres(&database.url).unwrap();
    drop(database); // drops the database, with FORCE: the store's connections are cut and it is gone
    let error = write(&store, |t| t.set_meta("k", "1")).unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    let error = store.read(|t| t.get_meta("k")).unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert!(store.check_writable().unwrap_err().is_unavailable());
}

#[test]
fn announcements_reach_the_other_replicas() {
    let Some((_db, a, b)) = replicas() else { return };
    let (heard, hearing) = std::sync::mpsc::channel();
    b.listen(move |message| {
        let _ = heard.send(message);
    })
    .unwrap();
    // B's listener connects on a thread of its own: announce until it hears.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut round = 0;
    let got = loop {
        assert!(std::time::Instant::now() < deadline, "no announcement reached the other replica");
        round += 1;
        a.announce(format!("{{\"round\":{round}}}"));
        if let Ok(message) = hearing.recv_timeout(std::time::Duration::from_millis(200)) {
            break message;
        }
    };
    assert!(got.starts_with("{\"round\":"), "{got}");
    // Once listening, each announcement arrives, in order.
    for i in 0..20 {
        a.announce(format!("m{i}"));
    }
    let mut messages = Vec::new();
    while messages.len() < 20 {
        let message = hearing.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        if message.starts_with('m') {
            messages.push(message);
        }
    }
    assert_eq!(messages, (0..20).map(|i| format!("m{i}")).collect::<Vec<_>>());
}
