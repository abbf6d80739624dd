//! What every part of the server shares: the store, the swappable runtime
//! (configuration, policies, tokens), the clock and the Slack client.
//!
//! A leaf of the server: it imports no transport (HTTP, Slack, chat) and no
//! service module, so all of them can depend on it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, ArcSwapOption};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use signalbox_store::Store;
use tokio::sync::{broadcast, OwnedSemaphorePermit, Semaphore};

use crate::auth::TokenEntry;
use crate::runtime::Runtime;
use crate::slack_client::Slack;

/// Where instants come from: the system clock, or one that tests set.
#[derive(Debug)]
pub enum Clock {
    System,
    Fixed(Mutex<DateTime<Utc>>),
}

impl Clock {
    /// The only place the server reads the time of day.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => *at.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }
}

/// One request as the service sees it: who asks, and the instant everything
/// it does is decided at. Made once per request by the transport that
/// received it ([`AppState::request`]), so a request reads the clock once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctx {
    /// `pipeline:deploy-bot`, `chat:U024BE7LH`: how the caller appears in decisions and the audit log.
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// This process among the replicas, in its announcements: a replica hears
/// its own through `NOTIFY` too, and skips them.
static REPLICA: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| ulid::Ulid::new().to_string());

/// A committed change, as one replica tells the others.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    replica: String,
    event: ChangeEvent,
}

/// What changed, as `GET /v1/events` and waiting requests hear of it: sent
/// only after the change has committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeEvent {
    pub kind: ChangeKind,
    /// The train id, stop id or exception id.
    pub id: String,
    /// The new state: a train's (`pending`, `approved`...), a stop's
    /// (`active`, `lifted`), an exception's (`live`, `deleted`).
    pub state: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Train,
    Stop,
    Exception,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Train => "train",
            ChangeKind::Stop => "stop",
            ChangeKind::Exception => "exception",
        }
    }
}

/// How many change events a slow listener may fall behind before it misses some.
const EVENT_BUFFER: usize = 4096;
/// Event streams (`/v1/events`) open at once, at most.
pub const MAX_EVENT_STREAMS: usize = 256;
/// Requests waiting for a train to change (`?wait=`) at once, at most.
pub const MAX_WAITERS: usize = 1024;

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    inner: Arc<Inner>,
}

struct Inner {
    runtime: ArcSwap<Runtime>,
    config_path: Option<PathBuf>,
    bootstrap: Option<TokenEntry>,
    metrics: Option<PrometheusHandle>,
    clock: Clock,
    /// The Slack client; `None` until start-up sets it.
    slack: ArcSwapOption<Slack>,
    /// Committed changes, for `/v1/events` and waiting requests.
    changes: broadcast::Sender<ChangeEvent>,
    /// Permits for open event streams and for waiting requests.
    streams: Arc<Semaphore>,
    waiters: Arc<Semaphore>,
}

impl AppState {
    pub fn new(
        store: Store,
        runtime: Runtime,
        config_path: Option<PathBuf>,
        bootstrap: Option<TokenEntry>,
        metrics: Option<PrometheusHandle>,
    ) -> AppState {
        let inner = Inner {
            runtime: ArcSwap::from_pointee(runtime),
            config_path,
            bootstrap,
            metrics,
            clock: Clock::System,
            slack: ArcSwapOption::empty(),
            changes: broadcast::channel(EVENT_BUFFER).0,
            streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
            waiters: Arc::new(Semaphore::new(MAX_WAITERS)),
        };
        AppState { store, inner: Arc::new(inner) }
    }

    /// A state whose clock stands still at `now` until [`AppState::set_now`] moves it (tests).
    pub fn with_fixed_clock(self, now: DateTime<Utc>) -> AppState {
        let inner = Inner {
            runtime: ArcSwap::new(self.inner.runtime.load_full()),
            config_path: self.inner.config_path.clone(),
            bootstrap: self.inner.bootstrap.clone(),
            metrics: self.inner.metrics.clone(),
            clock: Clock::Fixed(Mutex::new(now)),
            slack: ArcSwapOption::new(self.inner.slack.load_full()),
            changes: self.inner.changes.clone(),
            streams: Arc::clone(&self.inner.streams),
            waiters: Arc::clone(&self.inner.waiters),
        };
        AppState { store: self.store, inner: Arc::new(inner) }
    }

    /// Moves a fixed clock (tests); the system clock is not moved.
    pub fn set_now(&self, now: DateTime<Utc>) {
        if let Clock::Fixed(at) = &self.inner.clock {
            *at.lock().unwrap_or_else(PoisonError::into_inner) = now;
        }
    }

    /// Starts a request for `actor`: reads the clock, once.
    pub fn request(&self, actor: impl Into<String>) -> Ctx {
        Ctx { actor: actor.into(), at: self.inner.clock.now() }
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.inner.runtime.load_full()
    }

    pub fn swap_runtime(&self, runtime: Arc<Runtime>) {
        self.inner.runtime.store(runtime);
    }

    pub fn config_path(&self) -> Option<&Path> {
        self.inner.config_path.as_deref()
    }

    pub fn bootstrap_token(&self) -> Option<&TokenEntry> {
        self.inner.bootstrap.as_ref()
    }

    pub fn metrics_handle(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.as_ref()
    }

    /// Sets (or clears) the Slack client: its secrets and its memory of recent events.
    pub fn set_slack(&self, slack: Option<Slack>) {
        self.inner.slack.store(slack.map(Arc::new));
    }

    pub fn slack(&self) -> Option<Arc<Slack>> {
        self.inner.slack.load_full()
    }

    /// Tells listeners of a committed change (none listening is fine).
    pub fn publish(&self, event: ChangeEvent) {
        if self.store.is_postgres() {
            let message = Announcement { replica: REPLICA.as_str().into(), event: event.clone() };
            if let Ok(text) = serde_json::to_string(&message) {
                self.store.announce(text);
            }
        }
        let _ = self.inner.changes.send(event);
    }

    /// Passes on the changes other replicas announce (PostgreSQL), as if made
    /// here, to this replica's event streams and waiting requests. Started
    /// once, at start-up; the thread holds only the channel, not the state.
    pub fn relay_other_replicas(&self) -> Result<(), signalbox_store::StoreError> {
        let changes = self.inner.changes.clone();
        self.store.listen(move |text| match serde_json::from_str::<Announcement>(&text) {
            Ok(message) if message.replica != REPLICA.as_str() => {
                let _ = changes.send(message.event);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "ignored an unreadable announcement from another replica"),
        })
    }

    /// Listens for committed changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.changes.subscribe()
    }

    /// How many listen for changes now (event streams and waiting requests).
    pub fn listeners(&self) -> usize {
        self.inner.changes.receiver_count()
    }

    /// A permit to keep an event stream open; `None` when [`MAX_EVENT_STREAMS`] are.
    pub fn stream_permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.inner.streams).try_acquire_owned().ok()
    }

    /// A permit to wait for a change; `None` when [`MAX_WAITERS`] wait.
    pub fn wait_permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.inner.waiters).try_acquire_owned().ok()
    }
}
