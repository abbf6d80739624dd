//! Signalbox's embedded store: one SQLite database in the data directory
//! holding trains, decisions, the audit log, stops, holds, stage deployments
//! and exceptions (docs/operations.md, "The data directory").
//!
//! # The write path
//!
//! Every write goes through [`Store::write`], which queues a closure for the
//! single writer thread. That thread owns the only read-write connection
//! (WAL journal, `synchronous=FULL`). It waits for the first queued closure,
//! takes everything else already queued (up to 512), and runs them in one
//! `BEGIN IMMEDIATE` … `COMMIT`, each inside its own `SAVEPOINT` (a closure
//! alone in its batch needs none: its transaction is rolled back instead):
//!
//! - **Group commit.** With `synchronous=FULL` every `COMMIT` costs an fsync,
//!   which is far slower than the SQL. One commit per batch means a burst of N
//!   concurrent writes costs about one fsync instead of N, while each write is
//!   still its own unit.
//! - **Isolation of failures.** A closure that returns `Err`, or panics, has its
//!   savepoint rolled back and gets its own error; the rest of the batch is
//!   unaffected. A closure's several statements (a state change and its audit
//!   record) are kept together or not at all.
//! - **Nothing acknowledged before it is durable.** Results are held until
//!   `COMMIT` has returned, and only then sent to the callers. If `COMMIT`
//!   fails, every write of the batch gets an error and nothing of it is stored.
//!   So an `Ok` from `write` means the change survives a crash or power loss.
//!
//! Reads ([`Store::read`]) run on a small pool of read-only connections, each
//! call in one read transaction (one consistent snapshot), and never wait for
//! the writer: WAL lets readers and the writer proceed side by side.
//!
//! # Architecture invariant
//!
//! No code path writes to the database except the writer thread, and the
//! writer sends no answer before its commit. The schema is migrated once, at
//! [`Store::open`], from `PRAGMA user_version`.

// Tests may unwrap: a panic there is a failed test, which is what we want.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

mod audit;
mod copy;
mod db;
mod error;
pub mod pg;
mod pg_store;
mod schema;
mod sessions;
mod shared;
mod state;
mod store;
mod trains;
mod tx;
mod writer;

#[cfg(test)]
mod copy_tests;
#[cfg(test)]
mod pg_tests;
#[doc(hidden)]
pub mod testing;
#[cfg(test)]
mod tests;

pub use audit::{AuditAction, AuditRecord, NewAudit};
pub use copy::{copy, CopyReport, Location, Progress};
pub use error::StoreError;
pub use schema::{check, CheckReport, ID_FILE};
pub use sessions::Session;
pub use shared::SharedState;
pub use state::{NewException, SCOPE_ALL};
pub use store::{Store, StoreStats, DB_FILE};
pub use trains::{TrainFilter, TrainRecord};
pub use tx::Tx;
