//! Calendar feeds (`[[calendars]]`, docs/operations.md "Calendar feeds"):
//! reading each source, keeping its last good copy in the store, refreshing it
//! in the background, and swapping in a runtime whose freezes and holidays
//! include what was imported.
//!
//! Failing safe: a source that cannot be read or imported keeps the copy
//! already in use (or, after a restart, the one in the store); it is named in
//! `/readyz` and the metrics, and never turns into "no freezes". A calendar
//! that has never been read is an error at start-up and refuses a reload.
//! Reading happens on blocking threads with a time limit and a size limit, and
//! never inside a decision: decisions use whichever runtime is current.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use signalbox_core::config::{CalendarKind, CalendarSpec, Freeze};
use signalbox_core::ical::{self, ImportedCalendar};
use signalbox_core::time::rfc3339;
use signalbox_store::{AuditAction, NewAudit, Store, StoreError};

use crate::auth::TokenEntry;
use crate::feeds::{Feed, Feeds, GoodCopy};
use crate::runtime::Runtime;
use crate::settings::Loaded;
use crate::state::AppState;

/// The largest calendar read; a bigger one is an error (and the last good copy stays).
pub const MAX_BYTES: u64 = 4 * 1024 * 1024;
/// How long reading a URL may take, connection to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The actor calendar refreshes are audited as.
const ACTOR: &str = "signalbox:calendars";

/// The store's `meta` key holding a calendar's last good copy (JSON of [`GoodCopy`]).
pub fn meta_key(name: &str) -> String {
    format!("calendar:{name}")
}

/// Reads a calendar source (blocking): a file, relative to `base` unless
/// absolute, or an http(s) URL, within [`FETCH_TIMEOUT`] and [`MAX_BYTES`].
pub fn read_source(base: &Path, source: &str) -> Result<String, String> {
    let lower = source.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return fetch(source);
    }
    let path = base.join(source);
    let file = std::fs::File::open(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_BYTES + 1).read_to_string(&mut text).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if text.len() as u64 > MAX_BYTES {
        return Err(format!("`{}` is larger than {MAX_BYTES} bytes", path.display()));
    }
    Ok(text)
}

fn fetch(url: &str) -> Result<String, String> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .user_agent(concat!("signalbox/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut response = agent.get(url).call().map_err(|e| format!("cannot fetch `{url}`: {e}"))?;
    response
        .body_mut()
        .with_config()
        .limit(MAX_BYTES)
        .read_to_string()
        .map_err(|e| format!("cannot read `{url}` (at most {MAX_BYTES} bytes): {e}"))
}

/// Reads the configuration and its calendars and builds the runtime: what
/// start-up and a reload do. Calendars that cannot be read fall back on the
/// copy in `feeds` or in the store; one with neither is an error naming it.
pub async fn load_runtime(
    store: &Store,
    config_path: Option<&Path>,
    bootstrap: Option<&TokenEntry>,
    now: DateTime<Utc>,
    feeds: Arc<Feeds>,
) -> Result<Runtime> {
    let loaded = Loaded::read(config_path)?;
    let imported = import_all(store, &loaded, now, &feeds, |_| true).await?;
    build(loaded, imported, feeds, bootstrap.cloned()).await
}

/// [`Runtime::build`] on a blocking thread: preparing the evaluator takes a while.
async fn build(
    loaded: Loaded,
    imported: Vec<ImportedCalendar>,
    feeds: Arc<Feeds>,
    bootstrap: Option<TokenEntry>,
) -> Result<Runtime> {
    tokio::task::spawn_blocking(move || Runtime::build(loaded, &imported, feeds, bootstrap.as_ref()))
        .await
        .context("building the runtime failed")?
}

/// Imports every calendar of `loaded` at `now`, reading the sources `read`
/// selects and re-importing the copy in use for the others.
pub async fn import_all(
    store: &Store,
    loaded: &Loaded,
    now: DateTime<Utc>,
    feeds: &Feeds,
    read: impl Fn(&CalendarSpec) -> bool,
) -> Result<Vec<ImportedCalendar>> {
    let names: Vec<&str> = loaded.config.calendars.iter().map(|c| c.name.as_str()).collect();
    feeds.retain(&names);
    let mut imported = Vec::new();
    let mut never_loaded = Vec::new();
    for spec in &loaded.config.calendars {
        let mut feed = feeds.get(&spec.name).unwrap_or_default();
        if feed.copy.as_ref().is_some_and(|c| c.source != spec.source) {
            feed.copy = None;
        }
        let mut fresh = None;
        if read(spec) || feed.copy.is_none() {
            feed.last_attempt = Some(Instant::now());
            match read_and_import(loaded, spec, now).await {
                Ok((text, calendar)) => {
                    let copy = GoodCopy { source: spec.source.clone(), fetched_at: now, text };
                    if feed.copy.as_ref().is_none_or(|c| c.text != copy.text) {
                        keep_copy(store, &spec.name, &copy).await;
                    }
                    feed.copy = Some(copy);
                    feed.last_error = None;
                    fresh = Some(calendar);
                }
                Err(error) => {
                    tracing::warn!(calendar = %spec.name, source = %spec.source, %error, "calendar not read; its last good copy stays in use");
                    metrics::counter!("signalbox_calendar_errors_total", "calendar" => spec.name.clone()).increment(1);
                    feed.errors += 1;
                    feed.last_error = Some(error);
                }
            }
        }
        let calendar = match fresh {
            Some(calendar) => Some(calendar),
            None => last_good(store, spec, &mut feed, now),
        };
        match calendar {
            Some(calendar) => imported.push(calendar),
            None => never_loaded.push(format!(
                "calendar `{}` (line {}, source `{}`) has never been read and has no copy in the store: {}",
                spec.name,
                spec.line,
                spec.source,
                feed.last_error.as_deref().unwrap_or("not read")
            )),
        }
        feeds.set(&spec.name, feed);
    }
    if !never_loaded.is_empty() {
        bail!("{}", never_loaded.join("; "));
    }
    Ok(imported)
}

async fn read_and_import(
    loaded: &Loaded,
    spec: &CalendarSpec,
    now: DateTime<Utc>,
) -> Result<(String, ImportedCalendar), String> {
    let base = loaded.base.clone();
    let source = spec.source.clone();
    let text = tokio::task::spawn_blocking(move || read_source(&base, &source))
        .await
        .map_err(|e| format!("reading failed: {e}"))??;
    let imported = ical::import(&text, spec, now).map_err(|e| format!("`{}` {e}", spec.source))?;
    Ok((text, ImportedCalendar { name: spec.name.clone(), imported }))
}

/// The copy in use (or, when there is none, the store's) imported at `now`.
fn last_good(store: &Store, spec: &CalendarSpec, feed: &mut Feed, now: DateTime<Utc>) -> Option<ImportedCalendar> {
    if feed.copy.is_none() {
        feed.copy = stored_copy(store, spec);
    }
    let copy = feed.copy.as_ref()?;
    match ical::import(&copy.text, spec, now) {
        Ok(imported) => Some(ImportedCalendar { name: spec.name.clone(), imported }),
        Err(e) => {
            tracing::error!(calendar = %spec.name, error = %e, "the stored copy of a calendar no longer imports");
            None
        }
    }
}

/// The store's copy of a calendar, if it is of the same source.
fn stored_copy(store: &Store, spec: &CalendarSpec) -> Option<GoodCopy> {
    let key = meta_key(&spec.name);
    let text = match store.read(|tx| tx.get_meta(&key)) {
        Ok(text) => text?,
        Err(e) => {
            tracing::error!(calendar = %spec.name, error = %e, "cannot read the stored copy of a calendar");
            return None;
        }
    };
    let copy: GoodCopy = serde_json::from_str(&text).ok()?;
    (copy.source == spec.source).then_some(copy)
}

/// Stores a calendar's new good copy; if that fails the copy is still used, and the next read stores it.
async fn keep_copy(store: &Store, name: &str, copy: &GoodCopy) {
    let key = meta_key(name);
    let Ok(value) = serde_json::to_string(copy) else { return };
    if let Err(e) = store.write(move |tx| tx.set_meta(&key, &value)).await {
        tracing::error!(calendar = %name, error = %e, "cannot store the good copy of a calendar");
    }
}

/// What one refresh did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refreshed {
    /// Whether the imported freezes or holidays changed (and a new runtime serves).
    pub changed: bool,
    pub old_revision: String,
    pub new_revision: String,
}

/// Reads the calendars that are due (all of them with `all`), and when what
/// they import has changed, audits the change and swaps in a runtime built
/// from it. Tests call this instead of waiting for the schedule.
pub async fn refresh_now(app: &AppState, all: bool) -> Result<Refreshed> {
    let feeds = app.runtime().feeds.clone();
    let _swapping = feeds.swapping.lock().await;
    let runtime = app.runtime();
    let at = app.request(ACTOR).at;
    let due = |spec: &CalendarSpec| all || is_due(&feeds, spec);
    let imported = import_all(&app.store, &runtime.loaded, at, &feeds, due).await?;
    let old_revision = runtime.evaluator.revision().to_string();
    let changes = changes(&runtime.evaluator.config().imported, &imported);
    if changes.is_empty() {
        return Ok(Refreshed { changed: false, new_revision: old_revision.clone(), old_revision });
    }
    let new = build(runtime.loaded.clone(), imported, feeds.clone(), app.bootstrap_token().cloned()).await?;
    let new_revision = new.evaluator.revision().to_string();
    let detail = json!({ "calendars": changes, "old_revision": old_revision, "new_revision": new_revision });
    app.store
        .write(move |tx| {
            tx.append_audit(&NewAudit {
                at,
                actor: ACTOR.into(),
                action: AuditAction::CalendarRefresh,
                train_id: None,
                detail,
            })
            .map(|_| ())
        })
        .await
        .map_err(|e: StoreError| anyhow::anyhow!("cannot audit the calendar refresh: {e}"))?;
    app.swap_runtime(Arc::new(new));
    tracing::info!(old = %old_revision, new = %new_revision, "calendars changed; the new freezes and holidays are in force");
    Ok(Refreshed { changed: true, old_revision, new_revision })
}

/// A reload's runtime (the caller holds `Feeds::swapping` until it has swapped it in).
pub async fn reload_runtime(app: &AppState, now: DateTime<Utc>) -> Result<Runtime> {
    let feeds = app.runtime().feeds.clone();
    load_runtime(&app.store, app.config_path(), app.bootstrap_token(), now, feeds.clone()).await
}

fn is_due(feeds: &Feeds, spec: &CalendarSpec) -> bool {
    let every = spec.refresh.to_std().unwrap_or(Duration::from_secs(900));
    feeds.get(&spec.name).and_then(|f| f.last_attempt).is_none_or(|last| last.elapsed() >= every)
}

/// Refreshes each calendar every `refresh`, for as long as the server runs.
pub async fn refresh_periodically(app: AppState) {
    loop {
        tokio::time::sleep(until_next_due(&app)).await;
        if let Err(error) = refresh_now(&app, false).await {
            tracing::error!(error = %format!("{error:#}"), "calendar refresh failed; the current freezes stay in force");
        }
    }
}

/// How long until the next calendar is due: between 1 s and 60 s (a reload
/// may add calendars while we sleep).
fn until_next_due(app: &AppState) -> Duration {
    let runtime = app.runtime();
    let wait = runtime
        .loaded
        .config
        .calendars
        .iter()
        .map(|spec| {
            let every = spec.refresh.to_std().unwrap_or(Duration::from_secs(900));
            match runtime.feeds.get(&spec.name).and_then(|f| f.last_attempt) {
                Some(last) => every.saturating_sub(last.elapsed()),
                None => Duration::ZERO,
            }
        })
        .min()
        .unwrap_or(Duration::from_secs(60));
    wait.clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// What changed between two imports, per calendar: freezes and holidays added and removed.
pub fn changes(old: &[ImportedCalendar], new: &[ImportedCalendar]) -> serde_json::Map<String, Value> {
    let names: BTreeSet<&str> = old.iter().chain(new).map(|c| c.name.as_str()).collect();
    let mut out = serde_json::Map::new();
    for name in names {
        let find = |list: &[ImportedCalendar]| list.iter().find(|c| c.name == name).map(|c| c.imported.clone());
        let (before, after) = (find(old).unwrap_or_default(), find(new).unwrap_or_default());
        if before == after {
            continue;
        }
        let freezes = |a: &[Freeze], b: &[Freeze]| -> Vec<Value> {
            a.iter().filter(|f| !b.contains(f)).map(freeze_json).collect()
        };
        let days = |a: &BTreeSet<NaiveDate>, b: &BTreeSet<NaiveDate>| -> Vec<String> {
            a.difference(b).map(NaiveDate::to_string).collect()
        };
        out.insert(
            name.to_string(),
            json!({
                "freezes_added": freezes(&after.freezes, &before.freezes),
                "freezes_removed": freezes(&before.freezes, &after.freezes),
                "holidays_added": days(&after.holidays, &before.holidays),
                "holidays_removed": days(&before.holidays, &after.holidays),
            }),
        );
    }
    out
}

fn freeze_json(f: &Freeze) -> Value {
    json!({ "name": f.name, "start": rfc3339(f.start), "end": rfc3339(f.end) })
}

/// A calendar as `/readyz` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CalendarStatus {
    pub name: String,
    pub source: String,
    /// `ok`, or `stale` when the last read failed and an older copy is in use.
    pub state: &'static str,
    pub fetched_at: Option<String>,
    pub age_seconds: Option<i64>,
    pub last_error: Option<String>,
}

/// Every configured calendar's state at `now`; also sets the calendar gauges.
pub fn status(app: &AppState, now: DateTime<Utc>) -> Vec<CalendarStatus> {
    let runtime = app.runtime();
    runtime
        .loaded
        .config
        .calendars
        .iter()
        .map(|spec| {
            let feed = runtime.feeds.get(&spec.name).unwrap_or_default();
            let fetched_at = feed.copy.as_ref().map(|c| c.fetched_at);
            let age = fetched_at.map(|t| (now - t).max(TimeDelta::zero()).num_seconds());
            let name = spec.name.clone();
            if let Some(age) = age {
                metrics::gauge!("signalbox_calendar_age_seconds", "calendar" => name.clone()).set(age as f64);
            }
            let ok = feed.last_error.is_none();
            metrics::gauge!("signalbox_calendar_up", "calendar" => name.clone()).set(if ok { 1.0 } else { 0.0 });
            CalendarStatus {
                name,
                source: spec.source.clone(),
                state: if ok { "ok" } else { "stale" },
                fetched_at: fetched_at.map(rfc3339),
                age_seconds: age,
                last_error: feed.last_error,
            }
        })
        .collect()
}

/// `signalbox calendar check`: what a calendar file or URL would import from
/// `from` for `days` days, in UTC and in `timezone`. An error names the line.
pub fn check(
    source: &str,
    kind: CalendarKind,
    from: DateTime<Utc>,
    days: u32,
    timezone: chrono_tz::Tz,
    out: &mut impl std::io::Write,
) -> Result<()> {
    if i64::from(days) > ical::HORIZON_DAYS {
        bail!("`--days` may be at most {} (the horizon of an import)", ical::HORIZON_DAYS);
    }
    let text = read_source(Path::new("."), source).map_err(anyhow::Error::msg)?;
    let spec = CalendarSpec {
        name: "check".into(),
        source: source.into(),
        kind,
        environments: None,
        regions: None,
        refresh: TimeDelta::minutes(15),
        line: 0,
    };
    let imported = ical::import(&text, &spec, from).with_context(|| format!("`{source}` cannot be imported"))?;
    let until = from + TimeDelta::days(i64::from(days));
    let local = |t: DateTime<Utc>| t.with_timezone(&timezone).format("%Y-%m-%d %H:%M %Z").to_string();
    match kind {
        CalendarKind::Freeze => {
            let freezes: Vec<&Freeze> = imported.freezes.iter().filter(|f| f.start < until).collect();
            writeln!(out, "{} freezes from {} to {} ({timezone}):", freezes.len(), rfc3339(from), rfc3339(until))?;
            for f in freezes {
                writeln!(out, "{} to {}  {}", rfc3339(f.start), rfc3339(f.end), f.name)?;
                writeln!(out, "    {} to {}", local(f.start), local(f.end))?;
                if !f.reason.is_empty() {
                    writeln!(out, "    {}", f.reason.replace('\n', " "))?;
                }
            }
        }
        CalendarKind::Holidays => {
            let last = (until - TimeDelta::seconds(1)).date_naive();
            let dates: Vec<&NaiveDate> = imported.holidays.iter().filter(|d| **d <= last).collect();
            writeln!(out, "{} holidays from {} to {}:", dates.len(), from.date_naive(), last)?;
            for date in dates {
                writeln!(out, "{date} ({})", date.format("%A"))?;
            }
        }
    }
    Ok(())
}
