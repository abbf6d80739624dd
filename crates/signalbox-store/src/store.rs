//! `Store`: the handle servers share — one writer thread, a few read connections.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::StoreError;
use crate::pg_store::{self, ReadSlot};
use crate::schema::{self, exec_cached};
use crate::shared::SharedCache;
use crate::tx::{Health, Shared, Tx};
use crate::writer::{self, Counters, Job, ProbeJob, WriteJob};

/// The database file inside the data directory.
pub const DB_FILE: &str = "signalbox.db";

/// How many read-only connections the pool keeps.
const READERS: usize = 4;

/// How long [`Store::check_writable`] waits for the writer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded database. Cheap to clone: clones share one writer and one pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// What the writer has done since the store was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Operations queued for the writer so far; `queued - ops` are waiting.
    pub queued: u64,
    /// Transactions committed; one per batch of writes.
    pub commits: u64,
    /// `COMMIT`s that failed (every write of such a batch got an error).
    pub failed_commits: u64,
    /// Operations run by the writer, failed ones and readiness probes included.
    pub ops: u64,
}

struct Inner {
    path: PathBuf,
    queue: Mutex<Option<Sender<Box<dyn Job>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
    cache: Arc<SharedCache>,
    health: Arc<Health>,
    backend: Backend,
}

/// What each database needs besides the writer: its read connections, and
/// what belongs to it alone.
enum Backend {
    Sqlite {
        readers: ReadPool<Connection>,
        /// Held for the store's life: one process per data directory.
        _lock: std::fs::File,
    },
    Pg {
        url: String,
        readers: ReadPool<ReadSlot>,
        /// Messages for the other replicas, sent by the notifier thread; `None` once shut down.
        announcements: Mutex<Option<Sender<String>>>,
        /// False once the store is shut down: the listener thread, if any, ends.
        open: Arc<std::sync::atomic::AtomicBool>,
    },
}

/// How many read connections a replica keeps to PostgreSQL.
const PG_READERS: usize = 8;

/// The lock file that keeps a second process off the same data directory:
/// group commit assumes one writer.
pub const LOCK_FILE: &str = "signalbox.lock";

pub(crate) fn lock_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Open { path: path.display().to_string(), message: e.to_string() })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked { path: dir.display().to_string() }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(StoreError::Open { path: path.display().to_string(), message: e.to_string() })
        }
    }
}

impl Store {
    /// Opens (creating if need be) `dir/signalbox.db`, applies the schema
    /// migrations, and starts the writer thread.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::CreateDir { path: dir.display().to_string(), message: e.to_string() })?;
        let lock = lock_dir(dir)?;
        let path = dir.join(DB_FILE);
        let conn = schema::open_writer(&path)?;
        schema::check_identity(&conn, dir)?;
        let health = Arc::new(Health::default());
        check_in_background(&path, &health)?;
        // Readers open after the writer so they find the WAL set up and the schema current.
        let readers = (0..READERS).map(|_| schema::open_reader(&path)).collect::<Result<Vec<_>, _>>()?;
        let counters = Arc::new(Counters::default());
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let thread_counters = Arc::clone(&counters);
        let cache = Arc::new(SharedCache::default());
        let thread_cache = Arc::clone(&cache);
        let thread_health = Arc::clone(&health);
        let writer = std::thread::Builder::new()
            .name("signalbox-store-writer".to_string())
            .spawn(move || writer::run(conn, jobs, thread_counters, thread_cache, thread_health))
            .map_err(|e| StoreError::Open { path: path.display().to_string(), message: e.to_string() })?;
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                queue: Mutex::new(Some(queue)),
                writer: Mutex::new(Some(writer)),
                counters,
                cache,
                health,
                backend: Backend::Sqlite { readers: ReadPool::new(readers), _lock: lock },
            }),
        })
    }

    /// Opens the store in the PostgreSQL database at `url`, shared with any
    /// number of other processes (replicas): applies the schema migrations
    /// (once, whichever replica comes first; the others wait), and starts the
    /// writer thread. Connections are made as they are needed, and again
    /// after the database was out of reach.
    pub fn open_postgres(url: &str) -> Result<Store, StoreError> {
        pg_store::off_runtime(|| {
            let mut client = crate::pg::connect(url)?;
            crate::pg::migrate(&mut client).map(drop)
        })?;
        let counters = Arc::new(Counters::default());
        let (queue, jobs) = mpsc::channel::<Box<dyn Job>>();
        let cache = Arc::new(SharedCache::default());
        let health = Arc::new(Health::default());
        let (thread_counters, thread_cache, thread_health) =
            (Arc::clone(&counters), Arc::clone(&cache), Arc::clone(&health));
        let writer_url = url.to_string();
        let writer = std::thread::Builder::new()
            .name("signalbox-store-writer".to_string())
            .spawn(move || pg_store::run_writer(writer_url, jobs, thread_counters, thread_cache, thread_health))
            .map_err(|e| StoreError::Open { path: crate::pg::redact(url), message: e.to_string() })?;
        let slots = (0..PG_READERS).map(|_| ReadSlot::empty()).collect();
        let (announce, announcements) = mpsc::channel::<String>();
        let notifier_url = url.to_string();
        std::thread::Builder::new()
            .name("signalbox-store-notifier".to_string())
            .spawn(move || pg_store::run_notifier(notifier_url, announcements))
            .map_err(|e| StoreError::Open { path: crate::pg::redact(url), message: e.to_string() })?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: PathBuf::from(crate::pg::redact(url)),
                queue: Mutex::new(Some(queue)),
                writer: Mutex::new(Some(writer)),
                counters,
                cache,
                health,
                backend: Backend::Pg {
                    url: url.to_string(),
                    readers: ReadPool::new(slots),
                    announcements: Mutex::new(Some(announce)),
                    open: Arc::new(std::sync::atomic::AtomicBool::new(true)),
                },
            }),
        })
    }

    /// Tells every other process listening on this store ([`Store::listen`])
    /// of a change, after it committed: PostgreSQL's `NOTIFY`, sent by a
    /// thread of its own (this never blocks). Best effort: a message lost (the
    /// database out of reach) makes the others learn of the change later, so
    /// nothing may depend on it for correctness. On SQLite, with no other
    /// process, it does nothing. A payload is one line (no `\n`): messages
    /// queued together travel in one notification.
    pub fn announce(&self, payload: String) {
        if let Backend::Pg { announcements, .. } = &self.inner.backend {
            if let Some(queue) = lock(announcements).as_ref() {
                let _ = queue.send(payload);
            }
        }
    }

    /// Hands `deliver` every message [`Store::announce`] sends from any
    /// process on this store, its own included, from a thread of its own, until
    /// the store is shut down. Does nothing on SQLite.
    pub fn listen(&self, deliver: impl Fn(String) + Send + 'static) -> Result<(), StoreError> {
        let Backend::Pg { url, open, .. } = &self.inner.backend else { return Ok(()) };
        let (url, open) = (url.clone(), Arc::clone(open));
        std::thread::Builder::new()
            .name("signalbox-store-listener".to_string())
            .spawn(move || pg_store::run_listener(url, open, Box::new(deliver)))
            .map(drop)
            .map_err(|e| StoreError::Open { path: self.inner.path.display().to_string(), message: e.to_string() })
    }

    /// Whether this store is on PostgreSQL (shared by replicas) rather than the embedded SQLite.
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner.backend, Backend::Pg { .. })
    }

    /// Runs `op` on the writer, in a transaction shared with whatever other
    /// writes are queued, and resolves once that transaction is committed.
    ///
    /// `Ok` means the changes are durable. When `op` returns `Err` (or panics)
    /// its changes are rolled back and it gets its error; the other writes of
    /// the batch are unaffected. If the batch's `COMMIT` fails, every write in
    /// it gets an error and nothing of it is stored.
    ///
    /// The operation is queued when `write` is called, not when the future is
    /// first polled, and dropping the future does not cancel it. Do not call
    /// [`Store::check_writable`] or wait for another write from inside `op`:
    /// it runs on the writer thread, which would wait for itself.
    pub fn write<R, E, F>(&self, op: F) -> impl Future<Output = Result<R, E>> + Send + 'static
    where
        F: FnOnce(&Tx<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        // A damaged file takes no more writes: they could only make it worse.
        let queued = match self.inner.health.damaged() {
            Some(message) => Err(StoreError::Damaged { message }),
            None => self.inner.enqueue(Box::new(WriteJob { op, reply })),
        };
        async move {
            queued.map_err(E::from)?;
            // The writer drops the sender only if it died before answering.
            answer.await.unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
        }
    }

    /// Runs `f` on a read-only connection in one read transaction, so it sees
    /// one consistent snapshot. Blocks while all read connections are busy;
    /// writes made through `f`'s `Tx` fail.
    pub fn read<R: Send>(&self, f: impl FnOnce(&Tx<'_>) -> Result<R, StoreError> + Send) -> Result<R, StoreError> {
        let health = &*self.inner.health;
        match &self.inner.backend {
            Backend::Sqlite { readers, .. } => {
                let lease = readers.take();
                let conn = lease.conn()?;
                // Read before the transaction begins: its snapshot holds at least this generation.
                let generation = self.inner.cache.generation();
                exec_cached(conn, "BEGIN DEFERRED").map_err(|e| health.note(StoreError::query("read")(e)))?;
                let result = f(&Tx::new(conn, Shared::Reader { cache: &self.inner.cache, generation, health }));
                // Ending a read transaction cannot lose anything; a failure here only
                // means the lease's drop will try again.
                let _ = exec_cached(conn, if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
                result
            }
            Backend::Pg { url, readers, .. } => {
                let mut lease = readers.take();
                let slot = lease.conn.as_mut().ok_or(StoreError::Closed)?;
                let cache = &*self.inner.cache;
                pg_store::off_runtime(move || slot.read(url, cache, health, f))
            }
        }
    }

    /// Whether a write can be committed now: the file is not known to be
    /// damaged, no write failed for lack of space in the last 10 s, the writer
    /// is running, and a small write (one meta row) commits. Blocks until the
    /// writer answers, at most 5 s. For readiness checks.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        if let Some(message) = self.inner.health.damaged() {
            return Err(StoreError::Damaged { message });
        }
        if let Some(full) = self.inner.health.full() {
            return Err(full);
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.inner.enqueue(Box::new(ProbeJob { reply }))?;
        match answer.recv_timeout(PROBE_TIMEOUT) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(StoreError::WriterStuck { seconds: PROBE_TIMEOUT.as_secs() }),
            Err(RecvTimeoutError::Disconnected) => Err(StoreError::Closed),
        }
    }

    /// The current generation of decision inputs (stops, exceptions, holds,
    /// stage deployments): it changes after every commit that changed one of
    /// them, before that commit's writers hear back. See [`Tx::generation`].
    pub fn generation(&self) -> u64 {
        self.inner.cache.generation()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> StoreStats {
        let counters = &self.inner.counters;
        StoreStats {
            queued: counters.queued.load(Ordering::Relaxed),
            commits: counters.commits.load(Ordering::Relaxed),
            failed_commits: counters.failed_commits.load(Ordering::Relaxed),
            ops: counters.ops.load(Ordering::Relaxed),
        }
    }

    /// Finishes the writes already queued, then stops the writer; writes
    /// after this get [`StoreError::Closed`]. Reads keep working. Blocks until
    /// the writer has stopped. Calling it again does nothing.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl Inner {
    fn enqueue(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        match lock(&self.queue).as_ref() {
            Some(queue) => {
                queue.send(job).map_err(|_| StoreError::Closed)?;
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            None => Err(StoreError::Closed),
        }
    }

    fn shutdown(&self) {
        if let Backend::Pg { announcements, open, .. } = &self.backend {
            open.store(false, Ordering::Release);
            drop(lock(announcements).take());
        }
        // Dropping the only sender lets the writer drain the queue and return.
        drop(lock(&self.queue).take());
        let Some(handle) = lock(&self.writer).take() else {
            return;
        };
        // The last clone may be dropped by an operation on the writer thread
        // itself; it must not wait for itself. The thread ends on its own.
        if handle.thread().id() != std::thread::current().id() {
            // A writer that panicked has nothing left to finish.
            let _ = handle.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A fixed set of read-only connections; `take` waits for a free one.
struct ReadPool<C: Reset> {
    idle: Mutex<Idle<C>>,
    freed: Condvar,
}

/// What a read connection needs before it goes back to its pool.
trait Reset {
    /// Ends whatever transaction a panic left open.
    fn reset(&mut self);
}

impl Reset for Connection {
    fn reset(&mut self) {
        if !self.is_autocommit() {
            let _ = self.execute_batch("ROLLBACK");
        }
    }
}

impl Reset for ReadSlot {
    fn reset(&mut self) {
        self.reset_after_panic();
    }
}

struct Idle<C> {
    conns: Vec<C>,
    /// Callers blocked in `take`. A hand-back wakes one only when there is
    /// one: `Condvar::notify_one` makes a system call even when no one waits.
    waiting: usize,
}

impl<C: Reset> ReadPool<C> {
    fn new(conns: Vec<C>) -> ReadPool<C> {
        ReadPool { idle: Mutex::new(Idle { conns, waiting: 0 }), freed: Condvar::new() }
    }

    fn take(&self) -> Lease<'_, C> {
        let mut idle = lock(&self.idle);
        loop {
            if let Some(conn) = idle.conns.pop() {
                return Lease { pool: self, conn: Some(conn) };
            }
            idle.waiting += 1;
            idle = self.freed.wait(idle).unwrap_or_else(PoisonError::into_inner);
            idle.waiting -= 1;
        }
    }

    fn give_back(&self, conn: C) {
        let mut idle = lock(&self.idle);
        idle.conns.push(conn);
        if idle.waiting > 0 {
            self.freed.notify_one();
        }
    }
}

/// A borrowed read connection, handed back (out of any transaction) on drop,
/// panics included.
struct Lease<'a, C: Reset> {
    pool: &'a ReadPool<C>,
    conn: Option<C>,
}

impl<C: Reset> Lease<'_, C> {
    fn conn(&self) -> Result<&C, StoreError> {
        self.conn.as_ref().ok_or(StoreError::Closed)
    }
}

impl<C: Reset> Drop for Lease<'_, C> {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.reset();
            self.pool.give_back(conn);
        }
    }
}

/// Runs SQLite's `quick_check` over the whole file on a connection of its
/// own, in a thread of its own: it reads every page (about a second for
/// 750 MB), which start-up must not wait for. Damage it finds marks the store
/// damaged from then on (writes refused, readiness failed); damage an
/// operation meets first is noted by that operation.
fn check_in_background(path: &Path, health: &Arc<Health>) -> Result<(), StoreError> {
    let conn = schema::open_reader(path)?;
    let health = Arc::clone(health);
    std::thread::Builder::new()
        .name("signalbox-store-check".to_string())
        .spawn(move || {
            if let Some(problem) = schema::quick_check(&conn) {
                health.mark_damaged(&problem);
            }
        })
        .map(drop)
        .map_err(|e| StoreError::Open { path: path.display().to_string(), message: e.to_string() })
}

/// Locks, ignoring poisoning: every guarded value here stays consistent
/// across a panic (a queue handle, a join handle, a list of idle connections).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller waiting for the only connection gets it when it is handed
    /// back; a hand-back with no one waiting leaves it idle for the next.
    #[test]
    fn a_waiting_reader_is_woken_by_a_hand_back() {
        let pool = &ReadPool::new(vec![Connection::open_in_memory().unwrap()]);
        std::thread::scope(|scope| {
            let lease = pool.take();
            let (got, heard) = mpsc::channel();
            scope.spawn(move || {
                let lease = pool.take();
                got.send(lease.conn().is_ok()).unwrap();
            });
            // The other thread is blocked until the lease comes back.
            while lock(&pool.idle).waiting == 0 {
                std::thread::yield_now();
            }
            assert!(heard.try_recv().is_err());
            drop(lease);
            let woken = heard.recv_timeout(Duration::from_secs(5));
            // Frees a waiter that was never woken, so that the test fails instead of hanging.
            pool.freed.notify_all();
            assert_eq!(woken, Ok(true), "the waiter was not woken");
        });
        let idle = lock(&pool.idle);
        assert_eq!((idle.conns.len(), idle.waiting), (1, 0));
    }
}
