//! The store on PostgreSQL, for several replicas sharing one database: the
//! writer thread and the read connections, as `writer.rs` and `store.rs` are
//! for SQLite, with the same promises.
//!
//! **Writes are serialised across replicas.** Each batch of writes is one
//! transaction that first takes the transaction-scoped advisory lock
//! [`WRITE_LOCK`], so at any moment one replica writes, as one writer thread
//! does on SQLite, and every rule that rests on that holds across replicas:
//! the same train submitted to two replicas gives one train and one decision;
//! a decision made early on a read connection is recorded only if the
//! generation of decision inputs read under the lock is still the one it was
//! made at, else it is made again inside the transaction. Replicas still
//! batch: one commit carries every write queued on a replica meanwhile.
//!
//! **The generation lives in the database** (`inputs.generation`). A batch
//! that changed a decision input bumps it before it commits; a read
//! transaction reads it in its snapshot. So a replica's cache of decision
//! inputs is never trusted past a change another replica committed: the next
//! read or write sees the new generation and reloads. Nothing depends on
//! notifications.
//!
//! **The database out of reach** fails each operation with
//! [`StoreError::Unreachable`] (the server answers 503); the next operation
//! connects again, so a replica recovers by itself when the database returns.

use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use crate::db::{pg_error, PgConn};
use crate::error::StoreError;
use crate::pg;
use crate::shared::SharedCache;
use crate::tx::{Health, Shared, Tx};
use crate::writer::{take_batch, Counters, Job};

/// The key of the advisory lock every write transaction holds ("sbwrite").
pub(crate) const WRITE_LOCK: i64 = 0x73_6277_7269_7465;

/// How long connecting may take before the operation fails as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects with the store's settings: a bounded connect time, unless the URL sets one.
pub(crate) fn connect(url: &str) -> Result<PgConn, StoreError> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Open { path: pg::redact(url), message: format!("not a PostgreSQL URL: {e}") })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("signalbox");
    config
        .connect(postgres::NoTls)
        .map(PgConn::new)
        .map_err(|e| StoreError::Unreachable { message: format!("{}: {e}", pg::redact(url)) })
}

/// The writer thread's body: batches until the queue is closed and empty.
pub(crate) fn run_writer(
    url: String,
    queue: Receiver<Box<dyn Job>>,
    counters: Arc<Counters>,
    cache: Arc<SharedCache>,
    health: Arc<Health>,
) {
    let mut conn: Option<PgConn> = None;
    while let Ok(first) = queue.recv() {
        let batch = take_batch(first, &queue);
        // A connection found broken at `BEGIN` has run nothing of the batch:
        // connect again once and go on, so a database restart costs no write.
        let mut begun = None;
        for _attempt in 0..2 {
            if conn.as_ref().is_none_or(PgConn::is_closed) {
                match connect(&url) {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        begun = Some(Err(e));
                        break;
                    }
                }
            }
            let Some(c) = conn.as_ref() else { break };
            match begin(c) {
                Err(e @ StoreError::Unreachable { .. }) => {
                    conn = None;
                    begun = Some(Err(e));
                }
                other => {
                    begun = Some(other);
                    break;
                }
            }
        }
        let (Some(Ok(generation)), Some(c)) = (begun.clone(), conn.as_ref()) else {
            let error = match begun {
                Some(Err(e)) => e,
                _ => StoreError::Unreachable { message: "no connection".into() },
            };
            if let Some(c) = conn.as_ref() {
                let _ = c.batch("ROLLBACK");
            }
            for job in batch {
                job.fail(error.clone());
            }
            continue;
        };
        if let Err(StoreError::Unreachable { .. }) = run_batch(c, generation, batch, &counters, &cache, &health) {
            conn = None;
        }
    }
}

/// Begins a write transaction: takes [`WRITE_LOCK`] and reads the generation.
fn begin(conn: &PgConn) -> Result<u64, StoreError> {
    // One round trip for the three statements.
    let sql = format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK}); SELECT generation FROM inputs");
    let generation = conn
        .batch_i64(&sql)
        .map_err(|e| begin_error(&e))?
        .ok_or_else(|| StoreError::Begin { message: "the inputs row is missing".into() })?;
    Ok(u64::try_from(generation).unwrap_or(0))
}

/// Runs the jobs in the transaction [`begin`] began; what became of it.
fn run_batch(
    conn: &PgConn,
    generation: u64,
    jobs: Vec<Box<dyn Job>>,
    counters: &Counters,
    cache: &SharedCache,
    health: &Health,
) -> Result<(), StoreError> {
    cache.observe(generation);
    let alone = jobs.len() == 1;
    let touched = Cell::new(false);
    let mut answers = Vec::with_capacity(jobs.len());
    let mut aborted = None;
    for job in jobs {
        counters.ops.fetch_add(1, Ordering::Relaxed);
        let shared = Shared::Writer { cache, generation, touched: &touched, health };
        if !alone {
            if let Err(e) = conn.batch("SAVEPOINT op") {
                let error = pg_error("SAVEPOINT", &e);
                job.fail(error.clone());
                aborted = Some(error);
                break;
            }
        }
        let answer = job.run(&Tx::on_postgres(conn, shared));
        let end = match (alone, answer.keep()) {
            (true, _) => Ok(()),
            (false, true) => conn.batch("RELEASE op"),
            (false, false) => conn.batch("ROLLBACK TO op; RELEASE op"),
        };
        answers.push(answer);
        if let Err(e) = end {
            aborted = Some(pg_error("SAVEPOINT", &e));
            break;
        }
    }
    let outcome = match aborted {
        Some(error) => {
            let _ = conn.batch("ROLLBACK");
            Err(error)
        }
        None if alone && answers.iter().any(|a| !a.keep()) => {
            let _ = conn.batch("ROLLBACK");
            Ok(None)
        }
        None => commit(conn, touched.get(), counters),
    };
    match &outcome {
        Ok(Some(next)) => cache.observe(*next),
        // A failed commit may or may not have moved the generation: drop the cache either way.
        Err(_) if touched.get() => cache.observe(generation.saturating_add(1)),
        _ => {}
    }
    let sent = outcome.map(drop);
    for answer in answers {
        answer.send(sent.clone());
    }
    sent
}

/// Commits; with `touched`, bumps the generation in the same transaction and
/// returns the new one.
fn commit(conn: &PgConn, touched: bool, counters: &Counters) -> Result<Option<u64>, StoreError> {
    // With `touched`, the bump and the COMMIT go in one round trip.
    let committed = if touched {
        conn.batch_i64("UPDATE inputs SET generation = generation + 1 RETURNING generation; COMMIT")
            .map(|bumped| bumped.and_then(|g| u64::try_from(g).ok()))
    } else {
        conn.batch("COMMIT").map(|()| None)
    };
    match committed {
        Ok(bumped) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            Ok(bumped)
        }
        Err(e) => {
            counters.failed_commits.fetch_add(1, Ordering::Relaxed);
            // A failed COMMIT may leave the transaction open; end it so the next batch can begin.
            let _ = conn.batch("ROLLBACK");
            Err(commit_error(&e))
        }
    }
}

fn begin_error(e: &postgres::Error) -> StoreError {
    match pg_error("BEGIN", e) {
        unreachable @ StoreError::Unreachable { .. } => unreachable,
        other => StoreError::Begin { message: other.to_string() },
    }
}

fn commit_error(e: &postgres::Error) -> StoreError {
    match pg_error("COMMIT", e) {
        unreachable @ StoreError::Unreachable { .. } => unreachable,
        other => StoreError::Commit { message: other.to_string() },
    }
}

/// A read connection slot: connected on first use and again after a failure.
pub(crate) struct ReadSlot {
    conn: Option<PgConn>,
    /// Inside `read`: a slot handed back while busy was left by a panic.
    busy: bool,
}

impl ReadSlot {
    pub(crate) fn empty() -> ReadSlot {
        ReadSlot { conn: None, busy: false }
    }

    /// Drops a connection a panic left inside a transaction; the next read connects afresh.
    pub(crate) fn reset_after_panic(&mut self) {
        if self.busy {
            discard(self.conn.take());
            self.busy = false;
        }
    }

    /// Runs `f` in one read-only snapshot (`REPEATABLE READ`), tagged with the
    /// generation that snapshot holds.
    pub(crate) fn read<R>(
        &mut self,
        url: &str,
        cache: &SharedCache,
        health: &Health,
        f: impl FnOnce(&Tx<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut generation = None;
        for attempt in 0..2 {
            if self.conn.as_ref().is_none_or(PgConn::is_closed) {
                self.conn = Some(connect(url)?);
            }
            let Some(conn) = self.conn.as_ref() else { return Err(StoreError::Closed) };
            // One round trip for both statements.
            let begun =
                conn.batch_i64("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT generation FROM inputs");
            match begun {
                Ok(found) => {
                    generation = Some(found.and_then(|g| u64::try_from(g).ok()));
                    break;
                }
                Err(e) => {
                    // A connection found broken before anything ran: connect again, once.
                    let error = pg_error("read", &e);
                    self.conn = None;
                    if attempt == 1 || !matches!(error, StoreError::Unreachable { .. }) {
                        return Err(error);
                    }
                }
            }
        }
        let Some(conn) = self.conn.as_ref() else { return Err(StoreError::Closed) };
        let generation = generation.flatten();
        let Some(generation) = generation else {
            let _ = conn.batch("ROLLBACK");
            return Err(StoreError::Query { op: "read", message: "the inputs row is missing".into() });
        };
        cache.observe(generation);
        self.busy = true;
        let result = f(&Tx::on_postgres(conn, Shared::Reader { cache, generation, health }));
        self.busy = false;
        if conn.batch("ROLLBACK").is_err() || matches!(result, Err(StoreError::Unreachable { .. })) {
            self.conn = None;
        }
        result
    }
}

/// The channel replicas tell each other of committed changes on.
pub(crate) const EVENTS_CHANNEL: &str = "signalbox_events";

/// How long the listener waits between checks that the store is still open.
const LISTEN_TICK: Duration = Duration::from_millis(500);

/// How long to wait before connecting again after the database was out of reach.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The notifier thread's body: sends the queued messages with `NOTIFY` (those
/// queued together in one notification, a message a line), on a connection
/// of its own, until the queue is closed. A message that cannot be
/// sent is dropped: other replicas then learn of the change later (their
/// waiting requests time out, their boards refresh on the next change), never
/// wrongly, since no decision reads these messages.
pub(crate) fn run_notifier(url: String, queue: Receiver<String>) {
    let mut conn: Option<PgConn> = None;
    while let Ok(first) = queue.recv() {
        // Whatever else is queued goes in the same notification, a message a
        // line, as long as it stays under PostgreSQL's payload limit.
        let mut payload = first;
        let mut next = None;
        while payload.len() < NOTIFY_PAYLOAD {
            match queue.try_recv() {
                Ok(more) if payload.len() + 1 + more.len() < NOTIFY_PAYLOAD => {
                    payload.push('\n');
                    payload.push_str(&more);
                }
                Ok(more) => {
                    next = Some(more);
                    break;
                }
                Err(_) => break,
            }
        }
        for payload in std::iter::once(payload).chain(next) {
            for _attempt in 0..2 {
                if conn.as_ref().is_none_or(PgConn::is_closed) {
                    conn = connect(&url).ok();
                }
                let Some(c) = conn.as_ref() else { break };
                match c.query("SELECT pg_notify($1, $2)", &[&EVENTS_CHANNEL, &payload]) {
                    Ok(_) => break,
                    Err(_) => conn = None,
                }
            }
        }
    }
}

/// The most bytes of messages sent in one notification (PostgreSQL takes
/// up to 8,000 by default).
const NOTIFY_PAYLOAD: usize = 7_000;

/// The listener thread's body: `LISTEN`s on a connection of its own (a
/// listening connection cannot also run queries) and hands every message to
/// `deliver`, connecting again after a failure, until `open` turns false.
pub(crate) fn run_listener(url: String, open: Arc<std::sync::atomic::AtomicBool>, deliver: Box<dyn Fn(String) + Send>) {
    while open.load(Ordering::Acquire) {
        let Ok(conn) = connect(&url) else {
            std::thread::sleep(RECONNECT_AFTER);
            continue;
        };
        let mut client = conn.client.into_inner();
        if client.batch_execute(&format!("LISTEN {EVENTS_CHANNEL}")).is_err() {
            std::thread::sleep(RECONNECT_AFTER);
            continue;
        }
        'listening: while open.load(Ordering::Acquire) {
            let mut notifications = client.notifications();
            let mut waiting = notifications.timeout_iter(LISTEN_TICK);
            loop {
                match waiting.next() {
                    Ok(Some(message)) => message.payload().split('\n').for_each(|m| deliver(m.to_string())),
                    // The tick: look at `open` again.
                    Ok(None) => break,
                    Err(_) => break 'listening,
                }
            }
        }
    }
}

impl Drop for ReadSlot {
    fn drop(&mut self) {
        discard(self.conn.take());
    }
}

/// Closes a connection on a thread of its own: closing runs the client's own
/// runtime, which cannot run on an async runtime's thread (a store dropped
/// there, a read slot reset there).
fn discard(conn: Option<PgConn>) {
    if let Some(conn) = conn {
        let _ = std::thread::Builder::new().name("signalbox-store-close".into()).spawn(move || drop(conn));
    }
}

/// Runs `f` on a thread of its own and waits for it. The synchronous
/// PostgreSQL client runs a small runtime of its own and refuses to run inside
/// an async runtime's thread, where the server's request handlers call the
/// store from: the hop costs a thread start, tens of microseconds.
pub(crate) fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    })
}
