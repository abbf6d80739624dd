//! Evaluation: a train, its state and an instant in; findings and a decision out.
//!
//! The Rego engine is prepared once per policy set and configuration (parsed,
//! checked, data loaded, warmed by one evaluation) and cloned for each decision.
//! Anything that goes wrong inside a policy becomes a `manual` finding for that
//! policy: there is no path from an error to `approved`.

use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value};
use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::calendar::business_intervals;
use crate::config::Config;
use crate::decision::{overall_outcome, sanitize_message, summary, Decision, Finding, Outcome};
use crate::policy::{PolicyEntry, PolicyError, PolicySet};
use crate::state::{Exception, TrainContext};
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
        engine
            .add_data(Value::from(json!({ "signalbox": { "config": config_data(&config) } })))
            .map_err(|e| PolicyError::Check { path: "data".into(), message: e.to_string() })?;
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: config.policies.evaluation_timeout,
            check_interval: NonZeroU32::MIN.saturating_add(31),
        });
        let revision = revision(&policies, &config);
        let mut evaluator = Evaluator { policies, config, limited_to, engine, revision };
        evaluator.warm_up()?;
        Ok(evaluator)
    }

    /// Runs every policy once on a sample train; the warmed engine is what later clones start from.
    fn warm_up(&mut self) -> Result<(), PolicyError> {
        let sample = sample_train(&self.config);
        let input = build_input(&sample, TrainContext::default(), sample.planned_start, &self.config);
        self.engine.set_input(Value::from(input));
        for entry in self.policies.entries() {
            if let RuleResult::Error(message) = eval_entry(&mut self.engine, entry) {
                return Err(PolicyError::Check { path: entry.path.clone(), message });
            }
        }
        Ok(())
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
    pub fn evaluate(&self, train: &Train, state: TrainContext<'_>, at: DateTime<Utc>) -> Evaluation {
        let mut engine = self.engine.clone();
        engine.set_input(Value::from(build_input(train, state, at, &self.config)));
        let mut findings = Vec::new();
        let mut exceptions_applied = Vec::new();
        for (entry, limited_to) in self.policies.entries().iter().zip(&self.limited_to) {
            if limited_to.as_ref().is_some_and(|envs| !envs.contains(&train.environment)) {
                continue;
            }
            let result = eval_entry(&mut engine, entry);
            let exception =
                if entry.exceptions { self.matching_exception(entry, train, state.exceptions, at) } else { None };
            let finding = |outcome, message: String, exception_id| Finding {
                policy: entry.path.clone(),
                priority: entry.priority,
                outcome,
                message: sanitize_message(&message),
                exception_id,
            };
            match (result, exception) {
                // An error stays a finding unless an exception makes it stricter-or-equal.
                (RuleResult::Error(e), Some(x)) if x.result == Outcome::Approved => {
                    findings.push(finding(Outcome::Manual, error_message(&e), None));
                }
                (_, Some(x)) => {
                    exceptions_applied.push(x.id.clone());
                    if x.result != Outcome::Approved {
                        let message = format!("exception {}: {}", x.id, x.justification);
                        findings.push(finding(x.result, message, Some(x.id.clone())));
                    }
                }
                (RuleResult::Pass, None) => {}
                (RuleResult::Finding { outcome, message }, None) => findings.push(finding(outcome, message, None)),
                (RuleResult::Error(e), None) => findings.push(finding(Outcome::Manual, error_message(&e), None)),
            }
        }
        let outcome = overall_outcome(&findings);
        Evaluation { outcome, summary: summary(outcome, &findings), findings, exceptions_applied }
    }

    /// Evaluates and wraps the result as a decision record.
    pub fn decide(
        &self,
        train: &Train,
        state: TrainContext<'_>,
        at: DateTime<Utc>,
        decision_id: String,
        actor: String,
    ) -> Decision {
        let e = self.evaluate(train, state, at);
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
        }
    }

    /// The exception that decides `entry` for this train at `at`: most named
    /// scope parts first, then the newest.
    pub fn matching_exception<'a>(
        &self,
        entry: &PolicyEntry,
        train: &Train,
        exceptions: &'a [Exception],
        at: DateTime<Utc>,
    ) -> Option<&'a Exception> {
        exceptions
            .iter()
            .filter(|x| entry.answers_to(&x.policy))
            .filter(|x| x.is_active_at(at))
            .filter(|x| x.covers(&train.configuration_item, &train.squad, &train.service))
            .max_by(|a, b| (a.specificity(), a.created_at, &a.id).cmp(&(b.specificity(), b.created_at, &b.id)))
    }
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
    let mut slas: Map<String, Json> = Map::new();
    for s in &config.slas {
        let entry = json!({ "service": s.service, "environments": s.environments });
        if let Json::Array(list) = slas.entry(s.squad.clone()).or_insert_with(|| Json::Array(Vec::new())) {
            list.push(entry);
        }
    }
    json!({
        "environments": config.environments,
        "regions": regions,
        "freezes": freezes,
        "slas": slas,
        "stage_bake": { "ms": config.policies.stage_bake.num_milliseconds(), "text": config.stage_bake_text() },
    })
}

/// `input`: the train, the instant and the state, as policies read it (docs/policies.md).
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
        "window": { "start_ms": unix_ms(train.planned_start), "end_ms": unix_ms(train.planned_end) },
        "stops": stops,
        "hold": hold,
        "stage": { "recorded": recorded, "reported_ms": train.stage_deployed_at.map(unix_ms) },
        "business_hours": business_hours,
    })
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
