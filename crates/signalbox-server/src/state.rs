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
use signalbox_store::Store;

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
}
