//! The state every decision shares — active stops and live exceptions — kept
//! in memory between the writes that change it.
//!
//! Every decision needs all active stops and all live exceptions, and reading
//! and decoding them from SQLite on every request would cost more than the
//! decision itself. They change rarely, so the store keeps the last set it read as a
//! [`SharedState`] tagged with a *generation*: a counter the writer thread
//! bumps after every batch in which an operation touched the stops, the
//! exceptions, the holds or the stage deployments — after that batch's
//! `COMMIT` and before any of its callers hears back. (Holds and stage
//! deployments are not cached here, but they are decision inputs too, and the
//! one counter lets a caller ask "has anything a decision reads changed since
//! generation g?" with [`Store::generation`](crate::Store::generation).)
//!
//! Correctness rests on three rules:
//!
//! - **A reader tags what it loads with the generation read before its
//!   transaction began.** Its snapshot then holds every commit up to that
//!   generation (perhaps more, which only makes the tag conservative): a
//!   later generation makes the next caller load again.
//! - **The writer uses the cache only while its own batch has touched none of
//!   those tables.** Its view is then exactly the committed state of the
//!   current generation (only the writer bumps it). Once an operation of the
//!   batch has touched them, later operations of the batch read the tables
//!   through the transaction, as before.
//! - **Exceptions are cached as live at the instant they were loaded.** A set
//!   loaded at `t` serves decisions at `t` or later, where
//!   [`Exception::is_active_at`] drops what expired since; a decision at an
//!   earlier instant (a dry run in the past) reads the tables.
//!
//! The state also answers the two per-train look-ups of a decision, the hold
//! and the latest stage deployment ([`Tx::hold_for`](crate::Tx::hold_for),
//! [`Tx::stage_for`](crate::Tx::stage_for)), but only to a transaction whose
//! generation is the state's: one that has touched a decision input since
//! (on the writer) reads the tables. Holds are loaded with the state while
//! there are at most [`HOLDS_IN_MEMORY`]; stage deployments are remembered per
//! (squad, service, version) as they are first looked up, as the latest one
//! whenever it completed, so a decision at an instant before that completion
//! reads the table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use signalbox_core::{Exception, Hold, StageDeployment, Stop};

/// Holds are kept in memory with the shared state while there are at most this many.
pub(crate) const HOLDS_IN_MEMORY: usize = 10_000;

/// Stage look-ups remembered per generation, at most (later ones read the table).
const STAGE_LOOKUPS: usize = 10_000;

/// (squad, service, version) of a stage look-up.
type StageKey = (String, String, Option<String>);

/// Active stops and live exceptions as of one generation, and the holds and
/// stage deployments decisions of that generation have looked up.
#[derive(Debug)]
pub struct SharedState {
    /// The stops not lifted, oldest first.
    pub stops: Vec<Stop>,
    /// The exceptions not deleted and not expired at `loaded_at`, by id. Some
    /// may have expired since: filter with [`Exception::is_active_at`].
    pub exceptions: Vec<Exception>,
    /// The instant the exceptions are live at.
    pub loaded_at: DateTime<Utc>,
    /// Every hold by train id, or `None` when there were too many to keep.
    holds: Option<HashMap<String, Hold>>,
    /// The latest stage deployment of each key looked up so far, whenever it completed.
    stages: Mutex<HashMap<StageKey, Option<StageDeployment>>>,
    generation: u64,
}

impl SharedState {
    pub(crate) fn new(
        stops: Vec<Stop>,
        exceptions: Vec<Exception>,
        holds: Option<Vec<Hold>>,
        loaded_at: DateTime<Utc>,
        generation: u64,
    ) -> Self {
        let holds = holds.map(|holds| holds.into_iter().map(|h| (h.train_id.clone(), h)).collect());
        SharedState { stops, exceptions, loaded_at, holds, stages: Mutex::default(), generation }
    }

    /// The generation this state is of (`u64::MAX` for one read inside a
    /// batch that had changed decision inputs: it serves no other transaction).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Every hold by train id, if they were few enough to keep.
    pub(crate) fn holds(&self) -> Option<&HashMap<String, Hold>> {
        self.holds.as_ref()
    }

    /// The latest stage deployment remembered for the key, if it was looked up.
    pub(crate) fn remembered_stage(&self, key: &StageKey) -> Option<Option<StageDeployment>> {
        self.stages.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }

    /// Remembers the latest stage deployment for the key, while there is room.
    pub(crate) fn remember_stage(&self, key: StageKey, latest: Option<StageDeployment>) {
        let mut stages = self.stages.lock().unwrap_or_else(PoisonError::into_inner);
        if stages.len() < STAGE_LOOKUPS {
            stages.insert(key, latest);
        }
    }

    /// How many stage look-ups are remembered (for tests).
    #[cfg(test)]
    pub(crate) fn remembered_stages(&self) -> usize {
        self.stages.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The generation counter and the last [`SharedState`] loaded.
#[derive(Debug, Default)]
pub(crate) struct SharedCache {
    generation: AtomicU64,
    current: Mutex<Option<Arc<SharedState>>>,
}

impl SharedCache {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached state, if it is of `generation` and serves decisions at `at`.
    pub(crate) fn get(&self, generation: u64, at: DateTime<Utc>) -> Option<Arc<SharedState>> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().filter(|s| s.generation == generation && s.loaded_at <= at).map(Arc::clone)
    }

    /// Keeps `state` unless the cache already holds one as new or newer.
    pub(crate) fn offer(&self, state: &Arc<SharedState>) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let keep = current.as_ref().is_none_or(|c| {
            (c.generation, c.loaded_at) < (state.generation, state.loaded_at) && state.generation == self.generation()
        });
        if keep {
            *current = Some(Arc::clone(state));
        }
    }

    /// Takes note of the generation a PostgreSQL transaction read from the
    /// database (`inputs.generation`): a newer one, committed by any replica,
    /// drops what the cache holds.
    pub(crate) fn observe(&self, generation: u64) {
        if generation <= self.generation() {
            return;
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if generation > self.generation() {
            self.generation.store(generation, Ordering::Release);
            *current = None;
        }
    }

    /// Called by the writer after a batch that touched decision inputs has
    /// ended (committed or not), before its callers are answered.
    pub(crate) fn invalidate(&self) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        *current = None;
    }
}
