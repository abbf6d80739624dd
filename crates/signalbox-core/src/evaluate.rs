//! Evaluation: a train, its state and an instant in; findings and a decision out.
//!
//! The Rego engine is prepared once per policy set and configuration (parsed,
//! checked, data loaded, warmed by one evaluation). Policies whose modules were
//! audited for it are also compiled for regorus' RVM (see `fast_path.rs`), and a
//! decision runs them on a pooled VM; every other policy, and every policy the
//! VM does not answer cleanly, is evaluated by the interpreter on a clone of the
//! prepared engine, as it always was. Anything that goes wrong inside a policy
//! becomes a `manual` finding for that policy: there is no path from an error to
//! `approved`.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};
use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::calendar::business_intervals;
use crate::config::Config;
use crate::decision::{overall_outcome, sanitize_message, summary, Decision, Finding, Outcome};
use crate::fast_path::FastPath;
use crate::policy::{PolicyEntry, PolicyError, PolicySet};
use crate::state::{Exception, Stop, TrainContext};

/// The policy that says whether a stop covers a train.
const CIE_POLICY: &str = "global.cie";
use crate::time::{rfc3339, unix_ms};
use crate::Train;

/// A prepared policy set with its configuration: ready to decide.
#[derive(Debug, Clone)]
pub struct Evaluator {
    policies: PolicySet,
    config: Config,
    /// Environments each entry is limited to (same order as the entries).
    limited_to: Vec<Option<Vec<String>>>,
    engine: Engine,
    revision: String,
    /// The policies compiled for the RVM, if any (shared by clones).
    fast: Option<Arc<FastPath>>,
}

/// What the policies say about a train at an instant, before it gets an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub outcome: Outcome,
    pub summary: String,
    pub findings: Vec<Finding>,
    pub exceptions_applied: Vec<String>,
}

/// What one policy's rule gave.
#[derive(Debug, Clone, PartialEq)]
enum RuleResult {
    Pass,
    Finding { outcome: Outcome, message: String },
    Error(String),
}

impl Evaluator {
    /// Prepares the engine: every module parsed (errors name file and line), the
    /// configuration loaded as data, every policy evaluated once on a sample
    /// train so that a module that cannot run is refused now, not at decision time.
    pub fn new(policies: PolicySet, config: Config) -> Result<Evaluator, PolicyError> {
        let limited_to = policy_environments(&policies, &config)?;
        let mut engine = Engine::new();
        engine.set_strict_builtin_errors(true);
        for module in policies.modules() {
            engine
                .add_policy(module.path.clone(), module.text.clone())
                .map_err(|e| PolicyError::Rego { file: module.path.clone(), message: e.to_string() })?;
        }
        // Package paths of the modules, in the order they were added (for the fast path's checks).
        let packages: Vec<Vec<String>> = engine
            .get_policy_package_components()
            .map(|rows| rows.into_iter().map(|row| row.components).collect())
            .unwrap_or_default();
        let data = Value::from(json!({ "signalbox": { "config": config_data(&config) } }));
        engine
            .add_data(data.clone())
            .map_err(|e| PolicyError::Check { path: "data".into(), message: e.to_string() })?;
        let timer = ExecutionTimerConfig {
            limit: config.policies.evaluation_timeout,
            check_interval: NonZeroU32::MIN.saturating_add(31),
        };
        engine.set_execution_timer_config(timer);
        let revision = revision(&policies, &config);
        let mut evaluator = Evaluator { policies, config, limited_to, engine, revision, fast: None };
        let sample = evaluator.warm_up()?;
        // The fast path must agree with the interpreter on the sample, or it is not used at all.
        evaluator.fast = FastPath::prepare(&evaluator.policies, &packages, &data, timer)
            .filter(|fast| fast_path_agrees(fast, &sample))
            .map(Arc::new);
        Ok(evaluator)
    }

    /// Runs every policy once on a sample train; the warmed engine is what later
    /// clones start from. Returns the sample input and what each policy gave.
    fn warm_up(&mut self) -> Result<(Value, Vec<Value>), PolicyError> {
        let sample = sample_train(&self.config);
        let input = Value::from(build_input(&sample, TrainContext::default(), sample.planned_start, &self.config));
        self.engine.set_input(input.clone());
        let mut results = Vec::new();
        for entry in self.policies.entries() {
            let refuse = |message| PolicyError::Check { path: entry.path.clone(), message };
            let value = self.engine.eval_rule(entry.rule()).map_err(|e| refuse(e.to_string()))?;
            if let RuleResult::Error(message) = read_finding(&value) {
                return Err(refuse(message));
            }
            results.push(value);
        }
        Ok((input, results))
    }

    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `sha256:<hex>` over the policy files and the configuration.
    pub fn revision(&self) -> &str {
        &self.revision
    }

    /// Evaluates every applicable policy in priority order and applies exceptions.
    ///
    /// Compiled policies run on the RVM; the others, and any the RVM does not
    /// answer with a pass or a well-formed finding (an error, a time-out, a
    /// malformed value), are evaluated by the interpreter, so the result is what
    /// [`Evaluator::evaluate_interpreted`] gives.
    pub fn evaluate(&self, train: &Train, state: TrainContext<'_>, at: DateTime<Utc>) -> Evaluation {
        self.evaluate_selected(train, state, at, |_| true)
    }

    /// As [`Evaluator::evaluate`], with only the policies `selected` says yes to
    /// (the others are left out, as if they did not apply). Each policy is
    /// evaluated on its own and its exception picked on its own, so a selected
    /// policy's finding is exactly the one a full evaluation gives it.
    pub(crate) fn evaluate_selected(
        &self,
        train: &Train,
        state: TrainContext<'_>,
        at: DateTime<Utc>,
        selected: impl Fn(&PolicyEntry) -> bool,
    ) -> Evaluation {
        let wanted: Vec<bool> = self
            .applicable_in(&train.environment)
            .zip(self.policies.entries())
            .map(|(applies, entry)| applies && selected(entry))
            .collect();
        let Some(fast) = &self.fast else {
            return self.interpret(train, state, at, &wanted);
        };
        let input = input_value(train, state, at, &self.config);
        let answered = fast.run(input.clone(), wanted.iter().copied());
        let mut results: Vec<Slot> = wanted
            .iter()
            .zip(answered)
            .map(|(wanted, answer)| match (wanted, answer.as_ref().map(read_finding)) {
                (false, _) => Slot::Skip,
                // No answer, or a malformed value: the interpreter decides (and reports).
                (true, None | Some(RuleResult::Error(_))) => Slot::Pending,
                (true, Some(result)) => Slot::Done(result),
            })
            .collect();
        let mut engine: Option<Engine> = None;
        for (slot, entry) in results.iter_mut().zip(self.policies.entries()) {
            if *slot == Slot::Pending {
                let engine = engine.get_or_insert_with(|| {
                    let mut engine = self.engine.clone();
                    engine.set_input(input.clone());
                    engine
                });
                *slot = Slot::Done(eval_entry(engine, entry));
            }
        }
        self.assemble(train, state, at, results)
    }

    /// Evaluates with the interpreter alone: a clone of the prepared engine, one
    /// rule per applicable policy. This is the reference the fast path must match;
    /// it is public for tests and benchmarks, not for callers.
    #[doc(hidden)]
    pub fn evaluate_interpreted(&self, train: &Train, state: TrainContext<'_>, at: DateTime<Utc>) -> Evaluation {
        let wanted: Vec<bool> = self.applicable_in(&train.environment).collect();
        self.interpret(train, state, at, &wanted)
    }

    /// The interpreter on a clone of the prepared engine, for the `wanted` entries.
    fn interpret(&self, train: &Train, state: TrainContext<'_>, at: DateTime<Utc>, wanted: &[bool]) -> Evaluation {
        let mut engine = self.engine.clone();
        engine.set_input(Value::from(build_input(train, state, at, &self.config)));
        let results = wanted
            .iter()
            .zip(self.policies.entries())
            .map(|(wanted, entry)| if *wanted { Slot::Done(eval_entry(&mut engine, entry)) } else { Slot::Skip })
            .collect();
        self.assemble(train, state, at, results)
    }

    /// Paths of the policies that run on the RVM (for tests and benchmarks).
    #[doc(hidden)]
    pub fn fast_path_policies(&self) -> Vec<&str> {
        self.fast.as_ref().map(|f| f.compiled(self.policies.entries())).unwrap_or_default()
    }

    /// Caps the instructions one policy may run on the RVM, shared by every
    /// clone of this evaluator. Only tests lower it, to force the fallback.
    #[doc(hidden)]
    pub fn set_fast_path_instruction_limit(&self, limit: usize) {
        if let Some(fast) = &self.fast {
            fast.set_max_instructions(limit);
        }
    }

    /// Whether each entry applies in `environment` (priority order).
    fn applicable_in<'a>(&'a self, environment: &'a str) -> impl Iterator<Item = bool> + 'a {
        self.limited_to
            .iter()
            .map(move |limited_to| limited_to.as_ref().is_none_or(|envs| envs.iter().any(|e| e == environment)))
    }

    /// Turns each policy's result into findings, applying exceptions.
    fn assemble(&self, train: &Train, state: TrainContext<'_>, at: DateTime<Utc>, results: Vec<Slot>) -> Evaluation {
        let mut findings = Vec::new();
        let mut exceptions_applied = Vec::new();
        // The exceptions live now whose scope covers this train, found in one pass.
        let covering: Vec<&Exception> = state
            .exceptions
            .iter()
            .filter(|x| x.is_active_at(at) && x.covers(&train.configuration_item, &train.squad, &train.service))
            .collect();
        for (entry, slot) in self.policies.entries().iter().zip(results) {
            let result = match slot {
                Slot::Skip => continue,
                Slot::Done(result) => result,
                // Not reachable: every applicable slot is filled. Fail closed all the same.
                Slot::Pending => RuleResult::Error("the policy was not evaluated".into()),
            };
            let exception = if entry.exceptions { matching_exception(entry, &covering) } else { None };
            let (finding, applied) = resolve(entry, result, exception);
            exceptions_applied.extend(applied.map(|x| x.id.clone()));
            findings.extend(finding);
        }
        let outcome = overall_outcome(&findings);
        Evaluation { outcome, summary: summary(outcome, &findings), findings, exceptions_applied }
    }

    /// The first of the policies at `order` (indices into the manifest's
    /// entries) that has a finding at `at`, trying them in that order and
    /// stopping there; `None` when none has. Each is evaluated and its exception
    /// applied exactly as in [`Evaluator::evaluate`]; a policy that does not
    /// apply to the train's environment has no finding.
    pub(crate) fn first_finding(
        &self,
        train: &Train,
        state: TrainContext<'_>,
        at: DateTime<Utc>,
        order: &[usize],
    ) -> Option<usize> {
        let applicable: Vec<bool> = self.applicable_in(&train.environment).collect();
        let covering: Vec<&Exception> = state
            .exceptions
            .iter()
            .filter(|x| x.is_active_at(at) && x.covers(&train.configuration_item, &train.squad, &train.service))
            .collect();
        let input = input_value(train, state, at, &self.config);
        let mut engine: Option<Engine> = None;
        order.iter().copied().find(|index| {
            let (Some(entry), Some(true)) = (self.policies.entries().get(*index), applicable.get(*index)) else {
                return false;
            };
            let fast = self.fast.as_ref().and_then(|fast| {
                let wanted = (0..applicable.len()).map(|i| i == *index);
                fast.run(input.clone(), wanted).into_iter().nth(*index).flatten()
            });
            let result = match fast.as_ref().map(read_finding) {
                Some(result) if !matches!(result, RuleResult::Error(_)) => result,
                // No answer, or a malformed value: the interpreter decides (and reports).
                _ => {
                    let engine = engine.get_or_insert_with(|| {
                        let mut engine = self.engine.clone();
                        engine.set_input(input.clone());
                        engine
                    });
                    eval_entry(engine, entry)
                }
            };
            let exception = if entry.exceptions { matching_exception(entry, &covering) } else { None };
            resolve(entry, result, exception).0.is_some()
        })
    }

    /// The stops among `stops` that cover `train`, as the `global.cie` policy
    /// judges it: each stop alone is shown to that policy (without exceptions),
    /// and covers the train if the policy fails on it. A policy that errors on
    /// a stop counts it as covering (fail closed). With no `global.cie` in the
    /// policy set no stop covers anything, as in decisions.
    pub fn stops_covering<'s>(&self, train: &Train, stops: &'s [Stop], at: DateTime<Utc>) -> Vec<&'s Stop> {
        let Some(entry) = self.policies.find(CIE_POLICY) else {
            return Vec::new();
        };
        stops
            .iter()
            .filter(|stop| {
                let context = TrainContext { stops: std::slice::from_ref(*stop), ..TrainContext::default() };
                let mut engine = self.engine.clone();
                engine.set_input(Value::from(build_input(train, context, at, &self.config)));
                !matches!(eval_entry(&mut engine, entry), RuleResult::Pass)
            })
            .collect()
    }

    /// Evaluates and wraps the result as a decision record; a decision that is
    /// not approved carries its forecast ([`Evaluator::forecast`]).
    pub fn decide(
        &self,
        train: &Train,
        state: TrainContext<'_>,
        at: DateTime<Utc>,
        decision_id: String,
        actor: String,
    ) -> Decision {
        let e = self.evaluate(train, state, at);
        let forecast = self.forecast(train, state, at, &e);
        Decision {
            decision_id,
            train_id: train.id.clone(),
            outcome: e.outcome,
            summary: e.summary,
            findings: e.findings,
            exceptions_applied: e.exceptions_applied,
            evaluated_at: at,
            policy_revision: self.revision.clone(),
            actor,
            retry_at: forecast.retry_at,
            suggested_window: forecast.suggested_window,
        }
    }
}

/// One policy's result with its exception (if any) applied: its finding, and
/// the exception when it replaced the result. An error stays a finding unless
/// an exception makes it stricter-or-equal; there is no path from an error to a pass.
fn resolve<'x>(
    entry: &PolicyEntry,
    result: RuleResult,
    exception: Option<&'x Exception>,
) -> (Option<Finding>, Option<&'x Exception>) {
    let finding = |outcome, message: String, exception_id| Finding {
        policy: entry.path.clone(),
        priority: entry.priority,
        outcome,
        message: sanitize_message(&message),
        exception_id,
        policy_error: false,
    };
    let failed = |e: &str| Finding { policy_error: true, ..finding(Outcome::Manual, error_message(e), None) };
    match (result, exception) {
        (RuleResult::Error(e), Some(x)) if x.result == Outcome::Approved => (Some(failed(&e)), None),
        (_, Some(x)) if x.result == Outcome::Approved => (None, Some(x)),
        (_, Some(x)) => {
            let message = format!("exception {}: {}", x.id, x.justification);
            (Some(finding(x.result, message, Some(x.id.clone()))), Some(x))
        }
        (RuleResult::Pass, None) => (None, None),
        (RuleResult::Finding { outcome, message }, None) => (Some(finding(outcome, message, None)), None),
        (RuleResult::Error(e), None) => (Some(failed(&e)), None),
    }
}

/// Of the exceptions live and covering the train, the one that decides `entry`:
/// most named scope parts first, then the newest.
fn matching_exception<'a>(entry: &PolicyEntry, covering: &[&'a Exception]) -> Option<&'a Exception> {
    covering
        .iter()
        .copied()
        .filter(|x| entry.answers_to(&x.policy))
        .max_by(|a, b| (a.specificity(), a.created_at, &a.id).cmp(&(b.specificity(), b.created_at, &b.id)))
}

/// Whether every compiled policy gives on the sample exactly what the interpreter gave.
fn fast_path_agrees(fast: &FastPath, (input, expected): &(Value, Vec<Value>)) -> bool {
    let got = fast.run(input.clone(), expected.iter().map(|_| true));
    got.len() == expected.len()
        && got.iter().zip(expected).enumerate().all(|(index, (got, want))| match got {
            Some(got) => got == want,
            None => !fast.runs(index),
        })
}

/// One policy's place in a decision.
#[derive(Debug, PartialEq)]
enum Slot {
    /// The policy does not apply to the train's environment.
    Skip,
    /// Not evaluated yet.
    Pending,
    Done(RuleResult),
}

fn eval_entry(engine: &mut Engine, entry: &PolicyEntry) -> RuleResult {
    match engine.eval_rule(entry.rule()) {
        Ok(value) => read_finding(&value),
        Err(e) => RuleResult::Error(e.to_string()),
    }
}

/// A finding must be exactly `{"outcome": "manual"|"rejected", "message": "<text>"}`.
fn read_finding(value: &Value) -> RuleResult {
    if *value == Value::Undefined {
        return RuleResult::Pass;
    }
    let malformed = || {
        RuleResult::Error(format!(
            "malformed result {value}: expected {{\"outcome\": \"manual\"|\"rejected\", \"message\": \"...\"}}"
        ))
    };
    let Ok(object) = value.as_object() else {
        return malformed();
    };
    let field = |name: &str| object.get(&Value::from(name)).and_then(|v| v.as_string().ok());
    let outcome = field("outcome").and_then(|o| Outcome::parse(o));
    let message = field("message").map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
    match (outcome, message, object.len()) {
        (Some(outcome @ (Outcome::Manual | Outcome::Rejected)), Some(message), 2) => {
            RuleResult::Finding { outcome, message }
        }
        _ => malformed(),
    }
}

fn error_message(error: &str) -> String {
    let first: String = error.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    let short: String = first.chars().take(300).collect();
    format!("policy error, failing closed: {short}")
}

/// Checks `[policies] environments` names against the manifest, and returns the limit of each entry.
fn policy_environments(policies: &PolicySet, config: &Config) -> Result<Vec<Option<Vec<String>>>, PolicyError> {
    for p in &config.policies.environments {
        if policies.find(&p.policy).is_none() {
            let at = if p.line > 0 { format!(" (line {})", p.line) } else { String::new() };
            return Err(PolicyError::Check {
                path: p.policy.clone(),
                message: format!(
                    "`policies.environments.{}`{at} names no known policy; known: {}",
                    p.policy,
                    policies.known_names()
                ),
            });
        }
    }
    Ok(policies.entries().iter().map(|e| config.policy_environments(&e.names()).map(<[String]>::to_vec)).collect())
}

fn revision(policies: &PolicySet, config: &Config) -> String {
    let mut hasher = Sha256::new();
    hasher.update(policies.digest().as_bytes());
    hasher.update([0]);
    hasher.update(config.source.as_bytes());
    // Freezes and holidays imported from calendars are decision inputs too
    // (nothing is added without them, so such revisions stay as they were).
    let imported = config.imported_text();
    if !imported.is_empty() {
        hasher.update([0]);
        hasher.update(imported.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// `data.signalbox.config`: the configuration as policies read it (docs/policies.md).
pub fn config_data(config: &Config) -> Json {
    let regions: Map<String, Json> = config
        .regions
        .iter()
        .map(|(name, r)| {
            (name.clone(), json!({ "timezone": r.timezone.name(), "hours": r.business_hours.hours_text() }))
        })
        .collect();
    let freezes: Vec<Json> = config
        .freezes
        .iter()
        .map(|f| {
            json!({
                "name": f.name, "reason": f.reason,
                "start": rfc3339(f.start), "end": rfc3339(f.end),
                "start_ms": unix_ms(f.start), "end_ms": unix_ms(f.end),
                "environments": f.environments, "regions": f.regions,
            })
        })
        .collect();
    let freeze_index = freeze_index(config, &freezes);
    let mut slas: Map<String, Json> = Map::new();
    for s in &config.slas {
        let entry = json!({ "service": s.service, "environments": s.environments });
        if let Json::Array(list) = slas.entry(s.squad.clone()).or_insert_with(|| Json::Array(Vec::new())) {
            list.push(entry);
        }
    }
    let sla_index = sla_index(config);
    json!({
        "environments": config.environments,
        "regions": regions,
        "freezes": freezes,
        "freeze_index": freeze_index,
        "slas": slas,
        "sla_index": sla_index,
        "stage_bake": { "ms": config.policies.stage_bake.num_milliseconds(), "text": config.stage_bake_text() },
    })
}

/// What every SLA covers, so that `global.sla` answers with a look-up instead of
/// a scan of the squad's SLAs (docs/policies.md): `sla_index[squad][environment]
/// [service]` is `true` for each environment and service an SLA names, with
/// [`ANY`] standing for an SLA's "every environment" (`environments` null) or
/// "every service" (`service` null).
fn sla_index(config: &Config) -> Json {
    let mut index: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, bool>>> = BTreeMap::new();
    for sla in &config.slas {
        let squad = index.entry(&sla.squad).or_default();
        let service = sla.service.as_deref().unwrap_or(ANY);
        match &sla.environments {
            None => {
                squad.entry(ANY).or_default().insert(service, true);
            }
            Some(environments) => {
                for environment in environments {
                    squad.entry(environment).or_default().insert(service, true);
                }
            }
        }
    }
    json!(index)
}

/// The key of `sla_index` that stands for every environment or every service.
///
/// A train's environment or service spelt `*` looks up the entries of the SLAs
/// that cover everything, which cover it anyway: the look-up stays exact.
const ANY: &str = "*";

/// Milliseconds in a week: the bucket of `freeze_index`.
const WEEK_MS: i64 = 7 * 24 * 3_600_000;
/// Freezes touching more weeks than this are `long` (looked at for every window),
/// and windows spanning more than this look at every freeze.
const FREEZE_INDEX_MAX_WEEKS: i64 = 8;

/// The freezes by week, so that `scheduling.change_freeze` looks only at those
/// near the window instead of the whole calendar (docs/policies.md). A freeze
/// `[start, end)` is listed under each week `floor(ms / WEEK_MS)` of its first
/// and last millisecond and every week between; any interval that overlaps it
/// shares a millisecond with it, so shares a week.
fn freeze_index(config: &Config, freezes: &[Json]) -> Json {
    let mut weeks: BTreeMap<i64, Vec<Json>> = BTreeMap::new();
    let mut long = Vec::new();
    for (freeze, value) in config.freezes.iter().zip(freezes) {
        let (first, last) = week_span(unix_ms(freeze.start), unix_ms(freeze.end));
        if last - first > FREEZE_INDEX_MAX_WEEKS {
            long.push(value.clone());
        } else {
            for week in first..=last {
                weeks.entry(week).or_default().push(value.clone());
            }
        }
    }
    let weeks: Map<String, Json> =
        weeks.into_iter().map(|(week, list)| (week.to_string(), Json::Array(list))).collect();
    json!({ "week_ms": WEEK_MS, "max_weeks": FREEZE_INDEX_MAX_WEEKS, "weeks": weeks, "long": long })
}

/// `input.window.weeks`: the weeks (keys of `freeze_index.weeks`) that
/// `[effective_start, end)`, what is left of the window, touches; none when
/// nothing is left, `None` (every freeze is looked at) when it spans more than
/// `FREEZE_INDEX_MAX_WEEKS`.
fn remaining_weeks(effective_start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Vec<String>> {
    if effective_start >= end {
        return Some(Vec::new());
    }
    let (first, last) = week_span(unix_ms(effective_start), unix_ms(end));
    (last - first <= FREEZE_INDEX_MAX_WEEKS).then(|| (first..=last).map(|week| week.to_string()).collect())
}

/// The first and last week `[start_ms, end_ms)` touches (`end_ms > start_ms`).
fn week_span(start_ms: i64, end_ms: i64) -> (i64, i64) {
    (start_ms.div_euclid(WEEK_MS), (end_ms - 1).div_euclid(WEEK_MS))
}

/// `input`: the train, the instant and the state, as policies read it (docs/policies.md).
///
/// The fast path's audit (`fast_path.rs`) relies on these shapes and types; change
/// them together with [`input_value`], and re-audit.
pub fn build_input(train: &Train, state: TrainContext<'_>, at: DateTime<Utc>, config: &Config) -> Json {
    let effective_start = train.planned_start.max(at);
    let business_hours: Map<String, Json> = train
        .regions
        .iter()
        .filter_map(|name| config.regions.get(name).map(|r| (name, r)))
        .map(|(name, region)| {
            let intervals: Vec<Json> = business_intervals(region, effective_start, train.planned_end)
                .into_iter()
                .map(|i| json!({ "start_ms": unix_ms(i.start), "end_ms": unix_ms(i.end) }))
                .collect();
            (name.clone(), Json::Array(intervals))
        })
        .collect();
    let stops: Vec<Json> =
        state.stops.iter().map(|s| json!({ "id": s.id, "scope": s.scope, "message": s.message })).collect();
    let hold = state.hold.map(|h| json!({ "by": h.by, "reason": h.reason, "at": rfc3339(h.at) }));
    let recorded = state.stage.map(|d| {
        json!({
            "train_id": d.train_id, "version": d.version,
            "completed_at": rfc3339(d.completed_at), "completed_at_ms": unix_ms(d.completed_at),
        })
    });
    json!({
        "train": {
            "id": train.id,
            "squad": train.squad,
            "service": train.service,
            "configuration_item": train.configuration_item,
            "environment": train.environment,
            "regions": train.regions,
            "title": train.title,
            "version": train.version,
            "planned_start": rfc3339(train.planned_start),
            "planned_end": rfc3339(train.planned_end),
            "exception_justification": train.justification(),
            "crb_approved": train.crb_approved,
            "stage_deployed_at": train.stage_deployed_at.map(rfc3339),
        },
        "now": rfc3339(at),
        "now_ms": unix_ms(at),
        "window": {
            "start_ms": unix_ms(train.planned_start), "end_ms": unix_ms(train.planned_end),
            "weeks": remaining_weeks(train.planned_start.max(at), train.planned_end),
        },
        "stops": stops,
        "hold": hold,
        "stage": { "recorded": recorded, "reported_ms": train.stage_deployed_at.map(unix_ms) },
        "business_hours": business_hours,
    })
}

/// `input` as a regorus value, built directly: equal to `Value::from(build_input(..))`
/// (same numbers, same representation), without the trip through JSON.
pub fn input_value(train: &Train, state: TrainContext<'_>, at: DateTime<Utc>, config: &Config) -> Value {
    let shape = &*INPUT_SHAPE;
    let k = &shape.keys;
    let effective_start = train.planned_start.max(at);
    let business_hours: BTreeMap<Value, Value> = train
        .regions
        .iter()
        .filter_map(|name| config.regions.get(name).map(|r| (name, r)))
        .map(|(name, region)| {
            let intervals: Vec<Value> = business_intervals(region, effective_start, train.planned_end)
                .into_iter()
                .map(|i| fill(&shape.interval, [(&k.start_ms, ms(i.start)), (&k.end_ms, ms(i.end))]))
                .collect();
            (text(name), Value::from(intervals))
        })
        .collect();
    let stops: Vec<Value> = state
        .stops
        .iter()
        .map(|s| fill(&shape.stop, [(&k.id, text(&s.id)), (&k.scope, text(&s.scope)), (&k.message, text(&s.message))]))
        .collect();
    let hold = state.hold.map_or(Value::Null, |h| {
        fill(&shape.hold, [(&k.by, text(&h.by)), (&k.reason, text(&h.reason)), (&k.at, instant(h.at))])
    });
    let recorded = state.stage.map_or(Value::Null, |d| {
        fill(
            &shape.recorded,
            [
                (&k.train_id, text(&d.train_id)),
                (&k.version, optional_text(d.version.as_deref())),
                (&k.completed_at, instant(d.completed_at)),
                (&k.completed_at_ms, ms(d.completed_at)),
            ],
        )
    });
    let train_value = fill(
        &shape.train,
        [
            (&k.id, text(&train.id)),
            (&k.squad, text(&train.squad)),
            (&k.service, text(&train.service)),
            (&k.configuration_item, text(&train.configuration_item)),
            (&k.environment, text(&train.environment)),
            (&k.regions, Value::from(train.regions.iter().map(|r| text(r)).collect::<Vec<Value>>())),
            (&k.title, text(&train.title)),
            (&k.version, optional_text(train.version.as_deref())),
            (&k.planned_start, instant(train.planned_start)),
            (&k.planned_end, instant(train.planned_end)),
            (&k.exception_justification, optional_text(train.justification())),
            (&k.crb_approved, Value::from(train.crb_approved)),
            (&k.stage_deployed_at, train.stage_deployed_at.map_or(Value::Null, instant)),
        ],
    );
    fill(
        &shape.root,
        [
            (&k.train, train_value),
            (&k.now, instant(at)),
            (&k.now_ms, ms(at)),
            (
                &k.window,
                fill(
                    &shape.window,
                    [
                        (&k.start_ms, ms(train.planned_start)),
                        (&k.end_ms, ms(train.planned_end)),
                        (
                            &k.weeks,
                            remaining_weeks(effective_start, train.planned_end).map_or(Value::Null, |weeks| {
                                Value::from(weeks.iter().map(|w| text(w)).collect::<Vec<_>>())
                            }),
                        ),
                    ],
                ),
            ),
            (&k.stops, Value::from(stops)),
            (&k.hold, hold),
            (
                &k.stage,
                fill(
                    &shape.stage,
                    [(&k.recorded, recorded), (&k.reported_ms, train.stage_deployed_at.map_or(Value::Null, ms))],
                ),
            ),
            (&k.business_hours, Value::from(business_hours)),
        ],
    )
}

macro_rules! input_keys {
    ($($name:ident),* $(,)?) => {
        /// Every key of `input`, made once and shared.
        struct InputKeys { $($name: Value),* }

        impl InputKeys {
            fn new() -> InputKeys {
                InputKeys { $($name: Value::from(stringify!($name))),* }
            }
        }
    };
}

input_keys!(
    train,
    id,
    squad,
    service,
    configuration_item,
    environment,
    regions,
    title,
    version,
    planned_start,
    planned_end,
    exception_justification,
    crb_approved,
    stage_deployed_at,
    now,
    now_ms,
    window,
    start_ms,
    end_ms,
    weeks,
    stops,
    scope,
    message,
    hold,
    by,
    reason,
    at,
    stage,
    recorded,
    train_id,
    completed_at,
    completed_at_ms,
    reported_ms,
    business_hours,
);

/// The objects of `input` with their keys in place (values null): a decision
/// clones one and swaps the values in, which keeps regorus' compact sorted form
/// and shares the key strings.
struct InputShape {
    keys: InputKeys,
    root: Value,
    train: Value,
    window: Value,
    stage: Value,
    recorded: Value,
    stop: Value,
    hold: Value,
    interval: Value,
}

static INPUT_SHAPE: std::sync::LazyLock<InputShape> = std::sync::LazyLock::new(|| {
    let k = InputKeys::new();
    let shape = |keys: &[&Value]| {
        Value::from(keys.iter().map(|key| ((*key).clone(), Value::Null)).collect::<BTreeMap<Value, Value>>())
    };
    InputShape {
        root: shape(&[&k.train, &k.now, &k.now_ms, &k.window, &k.stops, &k.hold, &k.stage, &k.business_hours]),
        train: shape(&[
            &k.id,
            &k.squad,
            &k.service,
            &k.configuration_item,
            &k.environment,
            &k.regions,
            &k.title,
            &k.version,
            &k.planned_start,
            &k.planned_end,
            &k.exception_justification,
            &k.crb_approved,
            &k.stage_deployed_at,
        ]),
        window: shape(&[&k.start_ms, &k.end_ms, &k.weeks]),
        stage: shape(&[&k.recorded, &k.reported_ms]),
        recorded: shape(&[&k.train_id, &k.version, &k.completed_at, &k.completed_at_ms]),
        stop: shape(&[&k.id, &k.scope, &k.message]),
        hold: shape(&[&k.by, &k.reason, &k.at]),
        interval: shape(&[&k.start_ms, &k.end_ms]),
        keys: k,
    }
});

/// A copy of `shape` with `fields` set (a key missing from the shape is added).
/// The values are swapped in place, which finds each key without reordering.
fn fill<const N: usize>(shape: &Value, fields: [(&Value, Value); N]) -> Value {
    let mut object = shape.clone();
    if let Ok(map) = object.as_object_mut() {
        for (key, value) in fields {
            match map.get_mut(key) {
                Some(slot) => *slot = value,
                None => {
                    map.insert(key.clone(), value);
                }
            }
        }
    }
    object
}

fn text(s: &str) -> Value {
    Value::from(s)
}

fn optional_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, Value::from)
}

fn instant(at: DateTime<Utc>) -> Value {
    Value::from(rfc3339(at))
}

/// Milliseconds as JSON would carry them: non-negative numbers unsigned, as serde_json reads them.
fn ms(at: DateTime<Utc>) -> Value {
    let n = unix_ms(at);
    u64::try_from(n).map_or_else(|_| Value::from(n), Value::from)
}

/// A plausible production train used to check and warm policies at load.
fn sample_train(config: &Config) -> Train {
    let start = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap_or_default();
    Train {
        id: "CHG1".into(),
        squad: "sample".into(),
        service: "sample".into(),
        configuration_item: "sample".into(),
        environment: config.environments.last().cloned().unwrap_or_default(),
        regions: config.regions.keys().take(2).cloned().collect(),
        title: "load-time check".into(),
        version: Some("1".into()),
        planned_start: start,
        planned_end: start + chrono::TimeDelta::hours(2),
        exception_justification: Some("sample".into()),
        crb_approved: true,
        stage_deployed_at: Some(start - chrono::TimeDelta::hours(30)),
    }
}
