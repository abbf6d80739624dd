//! The calendar feeds behind a runtime: the copy of each source in use and how
//! its last read went. Kept across reloads and refreshes (each new `Runtime`
//! gets the same `Feeds`); what the copies mean is `calendars.rs`'s business.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A source's text as read, and when: what the store keeps as the last good copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodCopy {
    /// The source it was read from, as configured.
    pub source: String,
    pub fetched_at: DateTime<Utc>,
    pub text: String,
}

/// One calendar's feed.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    /// The last copy that could be read and imported; what decisions use.
    pub copy: Option<GoodCopy>,
    /// Why the last read failed; `None` once a read succeeds.
    pub last_error: Option<String>,
    /// Failed reads since the process started.
    pub errors: u64,
    /// When it was last read (successfully or not), for the refresh schedule.
    pub last_attempt: Option<Instant>,
}

/// Every calendar's feed, by name.
#[derive(Debug, Default)]
pub struct Feeds {
    feeds: Mutex<BTreeMap<String, Feed>>,
    /// Held while a refresh or a reload reads calendars and swaps the runtime,
    /// so that one never swaps in a runtime built from what the other replaced.
    pub swapping: tokio::sync::Mutex<()>,
}

impl Feeds {
    pub fn get(&self, name: &str) -> Option<Feed> {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner).get(name).cloned()
    }

    pub fn set(&self, name: &str, feed: Feed) {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_string(), feed);
    }

    /// Forgets the feeds of calendars no longer configured.
    pub fn retain(&self, names: &[&str]) {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner).retain(|name, _| names.contains(&name.as_str()));
    }

    /// Every feed, by name.
    pub fn snapshot(&self) -> Vec<(String, Feed)> {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(n, f)| (n.clone(), f.clone())).collect()
    }
}
