//! Command-line subcommands other than `serve`: `evaluate`, `policy test`, `store check`, `calendar check`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use signalbox_core::config::CalendarKind;
use signalbox_core::ical::{self, ImportedCalendar};
use signalbox_core::time::parse_instant;
use signalbox_core::{rego_test, Evaluator, State, Train};

use crate::settings::Loaded;

/// `signalbox evaluate`: prints the decision record as JSON on stdout.
pub fn evaluate(config: Option<&Path>, at: &str, train: &Path, state: Option<&Path>) -> Result<()> {
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("`--at` must be an RFC 3339 instant like 2026-11-23T15:00:00Z, found `{at}`"))?;
    let loaded = Loaded::read(config)?;
    let evaluator = evaluator_with_calendars(&loaded, at)?;
    let train: Train = read_json(train, "train")?;
    train.validate(evaluator.config()).with_context(|| "invalid train")?;
    let state: State = match state {
        Some(path) => read_json(path, "state")?,
        None => State::default(),
    };
    for exception in &state.exceptions {
        if evaluator.policies().find(&exception.policy).is_none() {
            bail!(
                "state: exception `{}` names policy `{}`; known policies: {}",
                exception.id,
                exception.policy,
                evaluator.policies().known_names()
            );
        }
    }
    let decision_id = format!("dec_{}", ulid::Ulid::new());
    let decision = evaluator.decide(&train, state.for_train(&train, at), at, decision_id, "cli".to_string());
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &decision)?;
    writeln!(out)?;
    Ok(())
}

/// The evaluator of `loaded` with its calendars imported at `at`, read from their
/// sources now (there is no store here to fall back on: a source that cannot be
/// read is an error).
fn evaluator_with_calendars(loaded: &Loaded, at: DateTime<Utc>) -> Result<Evaluator> {
    let mut imported = Vec::new();
    for spec in &loaded.config.calendars {
        let text = crate::calendars::read_source(&loaded.base, &spec.source)
            .map_err(|e| anyhow::anyhow!("calendar `{}`: {e}", spec.name))?;
        let calendar =
            ical::import(&text, spec, at).with_context(|| format!("calendar `{}` (`{}`)", spec.name, spec.source))?;
        imported.push(ImportedCalendar { name: spec.name.clone(), imported: calendar });
    }
    Ok(Evaluator::new(loaded.policy_set()?, loaded.config.with_calendars(&imported)?)?)
}

/// `signalbox calendar check`: `from` is a date (midnight UTC) or an instant; none is now.
pub fn calendar_check(source: &str, from: Option<&str>, days: u32, kind: CalendarKind, timezone: &str) -> Result<()> {
    let from = match from {
        None => crate::state::Clock::System.now(),
        Some(text) => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(date) => date.and_time(chrono::NaiveTime::MIN).and_utc(),
            Err(_) => parse_instant(text).map_err(|e| anyhow::anyhow!("`--from`: {e} or a date like 2026-12-01"))?,
        },
    };
    let zone: chrono_tz::Tz = timezone
        .parse()
        .map_err(|_| anyhow::anyhow!("`--timezone` `{timezone}` is not an IANA time zone (e.g. America/Chicago)"))?;
    let mut out = std::io::stdout().lock();
    crate::calendars::check(source, kind, from, days, zone, &mut out)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {what} file `{}`", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{what} file `{}` is not a valid {what}", path.display()))
}

/// `signalbox policy test [DIR]`: runs the Rego unit tests; false when any fails.
pub fn policy_test(dir: Option<PathBuf>, verbose: bool) -> Result<bool> {
    let set = match &dir {
        Some(dir) => crate::policies::read_dir(dir)?,
        None => crate::policies::read_dir(Path::new("policies")).or_else(|_| crate::policies::embedded())?,
    };
    let results = rego_test::run_tests(&set);
    let mut out = std::io::stdout().lock();
    if verbose {
        for r in &results {
            writeln!(out, "{}: {}", r.name, if r.passed() { "PASS" } else { "FAIL" })?;
        }
    }
    write!(out, "{}", rego_test::report(&results))?;
    Ok(results.iter().all(rego_test::TestResult::passed))
}

/// `signalbox store check`: the full integrity check and the row counts; false when a problem is found.
pub fn store_check(config: Option<&Path>, data_dir: Option<&Path>) -> Result<bool> {
    let dir = match data_dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            let loaded = Loaded::read(config)?;
            loaded.resolve(&loaded.config.server.data_dir)
        }
    };
    let report =
        signalbox_store::check(&dir).with_context(|| format!("cannot check the store in `{}`", dir.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "store: {}", dir.join(signalbox_store::DB_FILE).display())?;
    for (table, n) in &report.counts {
        writeln!(out, "{table:>18}: {n}")?;
    }
    if report.ok() {
        writeln!(out, "integrity: ok")?;
    } else {
        writeln!(out, "integrity: {} problem(s)", report.problems.len())?;
        for problem in report.problems.iter().take(20) {
            writeln!(out, "  {problem}")?;
        }
    }
    Ok(report.ok())
}

/// `signalbox store copy`: the whole store at `from` into the empty store at
/// `to`, with a progress line a second on stderr once it runs for more than a
/// second, and the row counts (checked on both sides) at the end.
pub fn store_copy(from: &str, to: &str) -> Result<()> {
    let (source, target) = (signalbox_store::Location::parse(from)?, signalbox_store::Location::parse(to)?);
    let started = std::time::Instant::now();
    let mut last_line = started;
    let mut progress = |p: signalbox_store::Progress<'_>| {
        if last_line.elapsed() >= std::time::Duration::from_secs(1) {
            last_line = std::time::Instant::now();
            let _ = writeln!(
                std::io::stderr(),
                "copying `{}`: {} of {} rows ({} s)",
                p.table,
                p.copied,
                p.total,
                started.elapsed().as_secs()
            );
        }
    };
    let report = signalbox_store::copy(&source, &target, &mut progress)
        .with_context(|| format!("cannot copy {} to {}", source.describe(), target.describe()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "copied {} to {}", source.describe(), target.describe())?;
    for (table, n) in &report.counts {
        writeln!(out, "{table:>18}: {n}")?;
    }
    let total: u64 = report.counts.iter().map(|(_, n)| n).sum();
    writeln!(out, "{total} rows in {:.1} s; every table's count matches the source", started.elapsed().as_secs_f64())?;
    Ok(())
}
