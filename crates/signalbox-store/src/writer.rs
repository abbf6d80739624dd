//! The writer thread: one connection, group commit.
//!
//! The thread blocks for the first queued operation, takes whatever else is
//! queued (up to [`MAX_BATCH`]), and runs them all in one `BEGIN IMMEDIATE` …
//! `COMMIT`, each inside its own `SAVEPOINT` so one failing operation is rolled
//! back alone (an operation alone in its batch needs none: its transaction is
//! rolled back instead). Answers are held until `COMMIT` has returned: nobody
//! hears "done" about a change that is not yet on disk.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use rusqlite::Connection;

use crate::error::StoreError;
use crate::schema::exec_cached;
use crate::shared::SharedCache;
use crate::tx::{Health, Shared, Tx};

/// The most operations one transaction takes; more wait for the next one.
pub(crate) const MAX_BATCH: usize = 512;

/// Counters the writer keeps, for tests and metrics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Operations handed to the writer (run or not yet).
    pub(crate) queued: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) failed_commits: AtomicU64,
    pub(crate) ops: AtomicU64,
}

/// A queued operation.
pub(crate) trait Job: Send {
    /// Runs the operation inside its savepoint; the answer is sent later.
    fn run(self: Box<Self>, tx: &Tx<'_>) -> Box<dyn Answer>;
    /// Answers without running: the transaction could not even begin.
    fn fail(self: Box<Self>, error: StoreError);
}

/// The outcome of an operation that ran, waiting for its batch to end.
pub(crate) trait Answer: Send {
    /// Whether the operation's changes are to be kept (it returned `Ok`).
    fn keep(&self) -> bool;
    /// Sends the answer: `Ok(())` once the batch is committed, else why it was not.
    fn send(self: Box<Self>, batch: Result<(), StoreError>);
}

/// A closure from [`Store::write`](crate::Store::write) and its reply channel.
pub(crate) struct WriteJob<F, R, E> {
    pub(crate) op: F,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<R, E>>,
}

impl<F, R, E> Job for WriteJob<F, R, E>
where
    F: FnOnce(&Tx<'_>) -> Result<R, E> + Send + 'static,
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &Tx<'_>) -> Box<dyn Answer> {
        let WriteJob { op, reply } = *self;
        // A panic must not take the writer (and every later write) down with it.
        let result = catch_unwind(AssertUnwindSafe(|| op(tx)))
            .unwrap_or_else(|payload| Err(E::from(StoreError::Panicked { message: panic_text(&*payload) })));
        Box::new(WriteAnswer { result, reply })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        // The caller may have stopped waiting; nothing to do then.
        let _ = self.reply.send(Err(E::from(error)));
    }
}

struct WriteAnswer<R, E> {
    result: Result<R, E>,
    reply: tokio::sync::oneshot::Sender<Result<R, E>>,
}

impl<R: Send, E: From<StoreError> + Send> Answer for WriteAnswer<R, E> {
    fn keep(&self) -> bool {
        self.result.is_ok()
    }

    fn send(self: Box<Self>, batch: Result<(), StoreError>) {
        let answer = match (self.result, batch) {
            (Ok(value), Ok(())) => Ok(value),
            // Its own error says more than the batch's.
            (Err(own), _) => Err(own),
            (Ok(_), Err(batch)) => Err(E::from(batch)),
        };
        let _ = self.reply.send(answer);
    }
}

/// The readiness probe: proves the writer is alive and can commit a write (one small meta row).
pub(crate) struct ProbeJob {
    pub(crate) reply: std::sync::mpsc::SyncSender<Result<(), StoreError>>,
}

impl Job for ProbeJob {
    fn run(self: Box<Self>, tx: &Tx<'_>) -> Box<dyn Answer> {
        let result = tx.set_meta("signalbox.writable_probe", "ok");
        Box::new(ProbeAnswer { result, reply: self.reply })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

struct ProbeAnswer {
    result: Result<(), StoreError>,
    reply: std::sync::mpsc::SyncSender<Result<(), StoreError>>,
}

impl Answer for ProbeAnswer {
    fn keep(&self) -> bool {
        // The probe's write is committed: readiness means a commit can be made
        // now (a full disk fails the COMMIT, not the write before it).
        self.result.is_ok()
    }

    fn send(self: Box<Self>, batch: Result<(), StoreError>) {
        let _ = self.reply.send(self.result.and(batch));
    }
}

/// The writer thread's body: batches until every `Sender` is gone and the queue is empty.
pub(crate) fn run(
    conn: Connection,
    queue: Receiver<Box<dyn Job>>,
    counters: Arc<Counters>,
    cache: Arc<SharedCache>,
    health: Arc<Health>,
) {
    while let Ok(first) = queue.recv() {
        let batch = take_batch(first, &queue);
        run_batch(&conn, batch, &counters, &cache, &health);
    }
    // The queue is closed: copy the WAL into the database file so a stopped
    // store is one self-contained file. Committed data is durable in the WAL
    // either way; this only tidies up for backups and copies.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing_free_warning(&e);
    }
}

/// `first` and whatever else is already queued, up to [`MAX_BATCH`] in all.
pub(crate) fn take_batch(first: Box<dyn Job>, queue: &Receiver<Box<dyn Job>>) -> Vec<Box<dyn Job>> {
    let mut batch = Vec::with_capacity(MAX_BATCH.min(64));
    batch.push(first);
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    batch
}

/// The store has no logger of its own; a failed checkpoint only costs a larger WAL.
fn tracing_free_warning(e: &rusqlite::Error) {
    eprintln!("signalbox-store: checkpoint at shutdown failed (the WAL keeps the data): {e}");
}

/// Runs the jobs in as few transactions as possible (one, unless the
/// transaction is aborted under an operation, when the rest start a new one).
///
/// When an operation touched a decision input, the shared-state cache is
/// dropped and its generation bumped after the transaction ends and before any
/// answer is sent: whoever hears "done" and then decides sees the change.
///
/// An operation alone in its transaction runs without a savepoint: rolling the
/// transaction back undoes it just as well, and SQLite then keeps no journal
/// copy of every page it touches, which matters for `start trains`, one
/// operation that rewrites thousands of trains.
fn run_batch(conn: &Connection, jobs: Vec<Box<dyn Job>>, counters: &Counters, cache: &SharedCache, health: &Health) {
    let mut jobs = jobs.into_iter();
    while jobs.len() > 0 {
        if let Err(e) = exec_cached(conn, "BEGIN IMMEDIATE") {
            let error =
                health.note(StoreError::classify("BEGIN", &e).unwrap_or(StoreError::Begin { message: e.to_string() }));
            for job in jobs {
                job.fail(error.clone());
            }
            return;
        }
        let alone = jobs.len() == 1;
        let mut answers: Vec<Box<dyn Answer>> = Vec::new();
        let mut aborted = None;
        let touched = Cell::new(false);
        // Only this thread moves the generation, after a batch: it holds for the whole batch.
        let generation = cache.generation();
        for job in jobs.by_ref() {
            counters.ops.fetch_add(1, Ordering::Relaxed);
            let shared = Shared::Writer { cache, generation, touched: &touched, health };
            match run_one(conn, job, shared, !alone) {
                Step::Ran(answer) => answers.push(answer),
                Step::Aborted(answer, error) => {
                    answers.extend(answer);
                    aborted = Some(health.note(error));
                    break;
                }
            }
        }
        let outcome = match aborted {
            Some(error) => {
                rollback(conn);
                Err(error)
            }
            // The one operation is not to be kept: end its transaction unwritten.
            None if alone && answers.iter().any(|a| !a.keep()) => {
                rollback(conn);
                Ok(())
            }
            None => commit(conn, counters).map_err(|e| health.note(e)),
        };
        if touched.get() {
            cache.invalidate();
        }
        for answer in answers {
            answer.send(outcome.clone());
        }
    }
}

enum Step {
    Ran(Box<dyn Answer>),
    /// The transaction is gone (or in an unknown state): nothing before this may be committed.
    Aborted(Option<Box<dyn Answer>>, StoreError),
}

/// Runs one job, inside its own savepoint when other jobs share its
/// transaction (alone, a failure rolls the transaction back instead).
fn run_one(conn: &Connection, job: Box<dyn Job>, shared: Shared<'_>, savepoint: bool) -> Step {
    let aborted = |e: rusqlite::Error| {
        StoreError::classify("SAVEPOINT", &e).unwrap_or(StoreError::Aborted { message: e.to_string() })
    };
    if savepoint {
        if let Err(e) = exec_cached(conn, "SAVEPOINT op") {
            let error = aborted(e);
            job.fail(error.clone());
            return Step::Aborted(None, error);
        }
    }
    let answer = job.run(&Tx::new(conn, shared));
    if conn.is_autocommit() {
        // SQLite rolled the whole transaction back under the operation (a full
        // disk, an I/O error): the work of the batch so far is lost with it.
        let error = StoreError::Aborted { message: "SQLite rolled the transaction back".to_string() };
        return Step::Aborted(Some(answer), error);
    }
    let end = match (savepoint, answer.keep()) {
        (false, _) => Ok(()),
        (true, true) => exec_cached(conn, "RELEASE op"),
        (true, false) => conn.execute_batch("ROLLBACK TO op; RELEASE op"),
    };
    match end {
        Ok(()) => Step::Ran(answer),
        Err(e) => Step::Aborted(Some(answer), aborted(e)),
    }
}

fn commit(conn: &Connection, counters: &Counters) -> Result<(), StoreError> {
    match exec_cached(conn, "COMMIT") {
        Ok(()) => {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            counters.failed_commits.fetch_add(1, Ordering::Relaxed);
            // A failed COMMIT may leave the transaction open; end it so the next batch can begin.
            rollback(conn);
            Err(StoreError::classify("COMMIT", &e).unwrap_or(StoreError::Commit { message: e.to_string() }))
        }
    }
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        // If even this fails the next BEGIN fails too, and reports it.
        let _ = exec_cached(conn, "ROLLBACK");
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}
