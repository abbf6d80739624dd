#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

//! Golden decision scenarios: every `fixtures/scenarios/*.toml` is one train, its
//! state and an instant, with the decision written by hand. One harness runs them
//! all, collects every mismatch and fails once, naming each failing file.
//!
//! Run one file (or every file whose name contains the text):
//! `GOLDEN=<part of the file name> cargo test -p signalbox-core --test golden -- --nocapture`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use signalbox_core::{Config, Decision, Evaluator, Outcome, PolicySet, PolicySource, State, Train, Window};

/// Fewer scenarios than this means files went missing.
const MIN_SCENARIOS: usize = 60;

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// Why this case matters (required: a scenario nobody can explain is not kept).
    description: String,
    /// `fixtures/configs/<name>.toml`.
    #[serde(default = "standard_config")]
    config: String,
    /// `fixtures/policy-overrides/<name>/`: files that replace or add to `policies/`.
    #[serde(default)]
    policy_overrides: Option<String>,
    /// The evaluation instant.
    at: DateTime<Utc>,
    train: Train,
    #[serde(default)]
    state: State,
    expect: Expect,
}

fn standard_config() -> String {
    "standard".to_string()
}

/// What the decision must be. Everything stated is compared; what is omitted is not.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    outcome: Outcome,
    /// Policy paths with a finding, in order.
    failing: Vec<String>,
    /// The exact summary line.
    #[serde(default)]
    summary: Option<String>,
    /// The exact list of exceptions applied.
    #[serde(default)]
    exceptions_applied: Option<Vec<String>>,
    /// Policy path -> text its finding's message must contain.
    #[serde(default)]
    messages: BTreeMap<String, String>,
    /// Policy path -> its finding's outcome.
    #[serde(default)]
    outcomes: BTreeMap<String, Outcome>,
    /// The decision's `retry_at`: an instant, or `"null"`.
    #[serde(default)]
    retry_at: Option<OrNull<DateTime<Utc>>>,
    /// The decision's `suggested_window`: `{ start, end }`, or `"null"`.
    #[serde(default)]
    suggested_window: Option<OrNull<ExpectedWindow>>,
}

/// A forecast as a scenario states it: the word `"null"` (TOML has no null), or a value.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OrNull<T> {
    Null(NullWord),
    Value(T),
}

impl<T: Copy> OrNull<T> {
    fn value(&self) -> Option<T> {
        match self {
            OrNull::Null(_) => None,
            OrNull::Value(v) => Some(*v),
        }
    }
}

#[derive(Debug, Deserialize)]
enum NullWord {
    #[serde(rename = "null")]
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedWindow {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl From<Window> for ExpectedWindow {
    fn from(w: Window) -> Self {
        ExpectedWindow { start: w.start, end: w.end }
    }
}

use common::{fixtures_dir, policies_dir, policy_files};

/// The evaluator for a configuration and an optional override set.
fn build_evaluator(config: &str, overrides: Option<&str>) -> Result<Evaluator, String> {
    let config_path = fixtures_dir().join("configs").join(format!("{config}.toml"));
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("cannot read config `{}`: {e}", config_path.display()))?;
    let mut config =
        Config::from_toml(&text, &config_path.display().to_string()).map_err(|e| format!("config: {e}"))?;
    // Debug builds on a loaded machine can exceed the 100 ms default per policy;
    // scenarios are about decisions, not about the time limit.
    config.policies.evaluation_timeout = std::time::Duration::from_secs(10);
    let mut files = policy_files(&policies_dir());
    if let Some(name) = overrides {
        let dir = fixtures_dir().join("policy-overrides").join(name);
        if !dir.is_dir() {
            return Err(format!("policy overrides `{}` is not a directory", dir.display()));
        }
        files.extend(policy_files(&dir));
    }
    let sources = files.into_iter().map(|(path, text)| PolicySource::new(path, text)).collect();
    let set = PolicySet::new(sources).map_err(|e| format!("policy set: {e}"))?;
    Evaluator::new(set, config).map_err(|e| format!("evaluator: {e}"))
}

/// Runs one scenario; `Err` lists every way the decision differs from the file.
fn check(scenario: &Scenario, evaluator: &Evaluator) -> Result<Decision, Vec<String>> {
    if scenario.description.trim().is_empty() {
        return Err(vec!["`description` is empty".to_string()]);
    }
    let train = &scenario.train;
    if let Err(e) = train.validate(evaluator.config()) {
        return Err(vec![format!("the train is invalid: {e}")]);
    }
    let at = scenario.at;
    let context = scenario.state.for_train(train, at);
    let got = evaluator.decide(train, context, at, "dec_golden".into(), "golden".into());
    let mut problems = forecast_holds(&got, scenario, evaluator);
    let expect = &scenario.expect;
    if got.outcome != expect.outcome {
        problems.push(format!("outcome: expected `{}`, got `{}`", expect.outcome, got.outcome));
    }
    let failing: Vec<&str> = got.findings.iter().map(|f| f.policy.as_str()).collect();
    if failing != expect.failing.iter().map(String::as_str).collect::<Vec<_>>() {
        problems.push(format!("failing: expected {:?}, got {:?}", expect.failing, failing));
    }
    if let Some(summary) = &expect.summary {
        if *summary != got.summary {
            problems.push(format!("summary:\n      expected `{summary}`\n      got      `{}`", got.summary));
        }
    }
    if let Some(applied) = &expect.exceptions_applied {
        if *applied != got.exceptions_applied {
            problems.push(format!("exceptions_applied: expected {applied:?}, got {:?}", got.exceptions_applied));
        }
    }
    for (policy, needle) in &expect.messages {
        match got.findings.iter().find(|f| f.policy == *policy) {
            Some(f) if f.message.contains(needle.as_str()) => {}
            Some(f) => {
                problems.push(format!("message of `{policy}`: expected it to contain `{needle}`, got `{}`", f.message))
            }
            None => problems
                .push(format!("message of `{policy}`: expected one containing `{needle}`, but it has no finding")),
        }
    }
    for (policy, outcome) in &expect.outcomes {
        match got.findings.iter().find(|f| f.policy == *policy) {
            Some(f) if f.outcome == *outcome => {}
            Some(f) => problems.push(format!("outcome of `{policy}`: expected `{outcome}`, got `{}`", f.outcome)),
            None => problems.push(format!("outcome of `{policy}`: expected `{outcome}`, but it has no finding")),
        }
    }
    if let Some(expected) = &expect.retry_at {
        if expected.value() != got.retry_at {
            problems.push(format!("retry_at: expected {:?}, got {:?}", expected.value(), got.retry_at));
        }
    }
    if let Some(expected) = &expect.suggested_window {
        let got_window = got.suggested_window.map(ExpectedWindow::from);
        if expected.value() != got_window {
            problems.push(format!("suggested_window: expected {:?}, got {got_window:?}", expected.value()));
        }
    }
    if problems.is_empty() {
        Ok(got)
    } else {
        problems.push(format!("actual summary: `{}`", got.summary));
        Err(problems)
    }
}

/// Whatever a scenario states, a forecast must hold when checked by a full
/// decision: at `retry_at`, and for the suggested window at its start, no
/// time-driven policy has a finding; and there is no forecast when no
/// time-driven policy failed.
fn forecast_holds(got: &Decision, scenario: &Scenario, evaluator: &Evaluator) -> Vec<String> {
    let time_driven = |findings: &[signalbox_core::Finding]| -> Vec<String> {
        findings
            .iter()
            .filter(|f| evaluator.policies().find(&f.policy).is_some_and(|e| e.time_driven))
            .map(|f| f.policy.clone())
            .collect()
    };
    let (train, at) = (&scenario.train, scenario.at);
    let context = scenario.state.for_train(train, at);
    let mut problems = Vec::new();
    if time_driven(&got.findings).is_empty() && (got.retry_at.is_some() || got.suggested_window.is_some()) {
        problems.push("a forecast although no time-driven policy failed".to_string());
    }
    if let Some(t) = got.retry_at {
        let failing = time_driven(&evaluator.evaluate(train, context, t).findings);
        if !failing.is_empty() || t < at || t >= train.planned_end {
            problems.push(format!("retry_at {t} does not hold: at it {failing:?} fail"));
        }
    }
    if let Some(w) = got.suggested_window {
        let mut moved = train.clone();
        (moved.planned_start, moved.planned_end) = (w.start, w.end);
        let failing = time_driven(&evaluator.evaluate(&moved, context, w.start).findings);
        let same_length = w.end - w.start == train.planned_end - train.planned_start;
        if !failing.is_empty() || !same_length || w.start < at {
            problems.push(format!("suggested_window {w:?} does not hold: at its start {failing:?} fail"));
        }
    }
    problems
}

fn scenario_files(filter: Option<&str>) -> Vec<PathBuf> {
    let dir = fixtures_dir().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter(|p| filter.is_none_or(|f| file_name(p).contains(f)))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[test]
fn golden_scenarios() {
    let filter = std::env::var("GOLDEN").ok().filter(|f| !f.is_empty());
    let files = scenario_files(filter.as_deref());
    let mut evaluators: BTreeMap<(String, Option<String>), Result<Evaluator, String>> = BTreeMap::new();
    let mut failures: Vec<(String, Vec<String>)> = Vec::new();
    for path in &files {
        let name = file_name(path);
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
        let scenario: Scenario = match toml::from_str(&text) {
            Ok(s) => s,
            Err(e) => {
                failures.push((name, vec![format!("cannot parse: {e}")]));
                continue;
            }
        };
        let key = (scenario.config.clone(), scenario.policy_overrides.clone());
        let evaluator = evaluators
            .entry(key)
            .or_insert_with(|| build_evaluator(&scenario.config, scenario.policy_overrides.as_deref()));
        let result = match evaluator {
            Ok(evaluator) => check(&scenario, evaluator),
            Err(e) => Err(vec![format!("cannot build the evaluator: {e}")]),
        };
        match result {
            Ok(got) => {
                if filter.is_some() {
                    println!("ok   {name}\n     {}", got.summary);
                }
            }
            Err(problems) => failures.push((name, problems)),
        }
    }
    println!("golden: {} scenarios ran, {} failed", files.len(), failures.len());
    let report: String = failures
        .iter()
        .map(|(name, problems)| {
            format!("FAIL {name}\n{}\n", problems.iter().map(|p| format!("  - {p}\n")).collect::<String>())
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} golden scenarios failed:\n{report}", failures.len(), files.len());
    match filter {
        Some(f) => assert!(!files.is_empty(), "GOLDEN={f} matches no scenario file"),
        None => assert!(
            files.len() >= MIN_SCENARIOS,
            "only {} scenarios found; expected at least {MIN_SCENARIOS}",
            files.len()
        ),
    }
}
