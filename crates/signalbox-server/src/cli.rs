//! Command-line subcommands other than `serve`: `evaluate`, `policy test`, `store check`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use signalbox_core::{rego_test, State, Train};

use crate::settings::Loaded;

/// `signalbox evaluate`: prints the decision record as JSON on stdout.
pub fn evaluate(config: Option<&Path>, at: &str, train: &Path, state: Option<&Path>) -> Result<()> {
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("`--at` must be an RFC 3339 instant like 2026-11-23T15:00:00Z, found `{at}`"))?;
    let loaded = Loaded::read(config)?;
    let evaluator = loaded.evaluator()?;
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
