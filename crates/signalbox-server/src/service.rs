//! What the API does, over the store. Every change of state is one
//! `store.write` closure that makes the change and appends its audit record:
//! both commit together, and the caller hears of it only after the commit.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::json;
use signalbox_core::time::{format_duration, parse_duration};
use signalbox_core::{Decision, Exception, Hold, Outcome, StageDeployment, Stop, Train, TrainContext, TrainState};
use signalbox_store::{AuditRecord, NewAudit, NewException, SharedState, TrainFilter, TrainRecord, Tx};

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::notify::{self, Notice};
use crate::runtime::Runtime;

/// The train view: what submit and `GET /v1/trains/{id}` return.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrainView {
    pub train: Train,
    pub state: TrainState,
    pub decision: Decision,
    /// Decisions and actions, oldest first (audit records).
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<AuditRecord>,
}

/// The state a train's decision leaves it in. A held train never becomes approved by policy.
fn state_after(outcome: Outcome, held: bool) -> TrainState {
    match TrainState::after_decision(outcome) {
        TrainState::Approved if held => TrainState::Pending,
        other => other,
    }
}

pub fn new_decision_id() -> String {
    format!("dec_{}", ulid::Ulid::new())
}

/// One round of decisions inside a transaction: the instant, the actor, and
/// the state every train of the round shares (active stops, live exceptions,
/// and the holds and stage deployments looked up; from the store's in-memory
/// copy when it is current, see `SharedState`).
struct Round<'a, 't> {
    tx: &'a Tx<'t>,
    runtime: &'a Runtime,
    shared: Arc<SharedState>,
    at: DateTime<Utc>,
    actor: &'a str,
    /// Trains this round left pending, announced once the round has committed.
    left_pending: RefCell<Vec<TrainRecord>>,
}

impl<'a, 't> Round<'a, 't> {
    fn new(tx: &'a Tx<'t>, runtime: &'a Runtime, at: DateTime<Utc>, actor: &'a str) -> Result<Self, ApiError> {
        Ok(Round { tx, runtime, shared: tx.shared_state(at)?, at, actor, left_pending: RefCell::default() })
    }

    /// The trains this round's decisions left waiting for a conductor.
    fn left_pending(self) -> Vec<TrainRecord> {
        self.left_pending.into_inner()
    }

    /// Decides `train` against what the store holds; also says whether it is held.
    fn decide(&self, train: &Train) -> Result<(Decision, bool), ApiError> {
        self.decide_with(train, &self.shared.exceptions)
    }

    /// As [`Round::decide`], with the live exceptions given.
    fn decide_with(&self, train: &Train, exceptions: &[Exception]) -> Result<(Decision, bool), ApiError> {
        let hold = self.tx.hold_for(&self.shared, &train.id)?;
        let stage = self.tx.stage_for(&self.shared, &train.squad, &train.service, train.version.as_deref(), self.at)?;
        // Exceptions that expired since the shared state was read are in the
        // list; the evaluator applies only those active at `self.at`.
        let context =
            TrainContext { stops: &self.shared.stops, hold: hold.as_ref(), stage: stage.as_ref(), exceptions };
        let decision =
            self.runtime.evaluator.decide(train, context, self.at, new_decision_id(), self.actor.to_string());
        Ok((decision, hold.is_some()))
    }

    /// Decides and records: the train's new state, the decision, and its audit record.
    fn record(&self, train: Train, created_at: DateTime<Utc>, action: &str) -> Result<TrainRecord, ApiError> {
        let decided = self.decide(&train)?;
        self.record_decided(train, created_at, action, decided).map(|(record, _)| record)
    }

    /// Records a decision made for `train` in this round's state (see
    /// [`Round::decide`]); also gives the decision's audit entry.
    fn record_decided(
        &self,
        train: Train,
        created_at: DateTime<Utc>,
        action: &str,
        (decision, held): (Decision, bool),
    ) -> Result<(TrainRecord, AuditRecord), ApiError> {
        let record = TrainRecord {
            state: state_after(decision.outcome, held),
            train,
            decision,
            created_at,
            updated_at: self.at,
        };
        self.tx.put_train(&record)?;
        self.tx.insert_decision(&record.decision)?;
        crate::metrics::record_decision(&record.decision);
        let detail = json!({ "state": record.state, "decision": record.decision });
        let entry = audit(self.tx, self.at, self.actor, action, Some(&record.train.id), detail)?;
        if record.state == TrainState::Pending && record.decision.outcome == Outcome::Manual {
            self.left_pending.borrow_mut().push(record.clone());
        }
        Ok((record, entry))
    }
}

/// Appends an audit entry and gives it back as stored.
fn audit(
    tx: &Tx<'_>,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    train_id: Option<&str>,
    detail: serde_json::Value,
) -> Result<AuditRecord, ApiError> {
    let entry = NewAudit {
        at,
        actor: actor.to_string(),
        action: action.to_string(),
        train_id: train_id.map(str::to_string),
        detail,
    };
    let seq = tx.append_audit(&entry)?;
    let NewAudit { at, actor, action, train_id, detail } = entry;
    Ok(AuditRecord { seq, at, actor, action, train_id, detail })
}

fn view(tx: &Tx<'_>, record: TrainRecord) -> Result<TrainView, ApiError> {
    let history = tx.train_history(&record.train.id)?;
    Ok(TrainView { train: record.train, state: record.state, decision: record.decision, history })
}

fn get_record(tx: &Tx<'_>, id: &str) -> Result<TrainRecord, ApiError> {
    tx.get_train(id)?.ok_or_else(|| ApiError::NotFound(format!("no train `{id}`")))
}

/// Normalises a train id from a path: ids are case-insensitive.
pub fn train_id(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim().to_ascii_uppercase();
    if signalbox_core::train::is_train_id(&id) {
        Ok(id)
    } else {
        Err(ApiError::BadRequest(format!("`{raw}` is not a train id like CHG7687021")))
    }
}

/// Submit (the approve endpoint), with the idempotency rules of DESIGN section 2.
///
/// The decision is made first on a read connection, outside the writer, which
/// is shared by every write of the server: the writer then checks that nothing
/// the decision read has changed since (the store's generation of decision
/// inputs: stops, exceptions, holds, stage deployments) and only writes. If
/// something did change, or the train was resubmitted meanwhile, the writer
/// decides again. Either way the decision is the one the
/// committed state gives at `at`.
pub async fn submit(app: &AppState, actor: String, train: Train) -> Result<TrainView, ApiError> {
    let runtime = app.runtime();
    train.validate(runtime.evaluator.config()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let at = app.now();
    let early = app.store.read(|tx| Ok(decide_early(tx, &runtime, &train, at, &actor)))??;
    let (view, pending) = app
        .store
        .write(move |tx| {
            let existing = tx.get_train(&train.id)?;
            match existing {
                Some(record) if record.train == train => Ok((view(tx, record)?, Vec::new())),
                Some(record) if record.state != TrainState::Pending => Err(ApiError::Conflict(format!(
                    "train `{}` is {}; its body can change only while it is pending",
                    record.train.id, record.state
                ))),
                existing => {
                    let (created_at, action) = match &existing {
                        Some(r) => (r.created_at, "update"),
                        None => (at, "submit"),
                    };
                    let submitted = audit(tx, at, &actor, action, Some(&train.id), json!({ "train": train }))?;
                    let round = Round::new(tx, &runtime, at, &actor)?;
                    let decided = match early {
                        Some(early) if tx.generation() == Some(early.generation) => (early.decision, early.held),
                        _ => round.decide(&train)?,
                    };
                    let (record, decided) =
                        round.record_decided(train, created_at, &format!("{action}.decision"), decided)?;
                    let view = match existing {
                        // A new train's history is the two entries just written.
                        None => TrainView {
                            train: record.train,
                            state: record.state,
                            decision: record.decision,
                            history: vec![submitted, decided],
                        },
                        Some(_) => view(tx, record)?,
                    };
                    Ok((view, round.left_pending()))
                }
            }
        })
        .await?;
    notify::announce(app, vec![Notice::Pending(pending)]);
    Ok(view)
}

/// A submission's decision made on a read connection, and the generation of
/// decision inputs it read. It depends on nothing else but the train's body and
/// the instant, which the writer shares (a hold is a decision input, so a train
/// held or released meanwhile changed the generation): the writer may record it
/// while its transaction sees that same generation.
struct EarlyDecision {
    generation: u64,
    decision: Decision,
    held: bool,
}

/// Decides a submission on a read connection; `None` when the train is stored
/// unchanged (nothing to decide) or the snapshot has no single generation.
fn decide_early(
    tx: &Tx<'_>,
    runtime: &Runtime,
    train: &Train,
    at: DateTime<Utc>,
    actor: &str,
) -> Result<Option<EarlyDecision>, ApiError> {
    let Some(generation) = tx.generation() else {
        return Ok(None);
    };
    let existing = tx.get_train(&train.id)?;
    if existing.as_ref().is_some_and(|r| r.train == *train || r.state != TrainState::Pending) {
        return Ok(None);
    }
    let (decision, held) = Round::new(tx, runtime, at, actor)?.decide(train)?;
    Ok(Some(EarlyDecision { generation, decision, held }))
}

pub fn get_train(app: &AppState, id: &str) -> Result<TrainView, ApiError> {
    let id = train_id(id)?;
    app.store.read(|tx| Ok(get_record(tx, &id).and_then(|r| view(tx, r))))?
}

pub fn list_trains(app: &AppState, filter: TrainFilter) -> Result<Vec<TrainRecord>, ApiError> {
    Ok(app.store.read(|tx| tx.list_trains(&filter))?)
}

/// A conductor's or pipeline's action on one train.
#[derive(Debug, Clone)]
pub enum Action {
    Approve { reason: Option<String> },
    Reject { reason: String },
    Hold { reason: String },
    Release,
    Start,
    Complete,
    Abort { reason: Option<String> },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Approve { .. } => "approve",
            Action::Reject { .. } => "reject",
            Action::Hold { .. } => "hold",
            Action::Release => "release",
            Action::Start => "start",
            Action::Complete => "complete",
            Action::Abort { .. } => "abort",
        }
    }

    fn allowed_from(&self) -> &'static [TrainState] {
        match self {
            Action::Approve { .. } | Action::Reject { .. } | Action::Release => &[TrainState::Pending],
            Action::Hold { .. } => &[TrainState::Pending, TrainState::Approved],
            Action::Start => &[TrainState::Approved],
            Action::Complete => &[TrainState::Started],
            Action::Abort { .. } => &[TrainState::Pending, TrainState::Approved, TrainState::Started],
        }
    }
}

/// Whether a stop covers a train: scope all, its environment, or one of its regions.
pub fn stop_covers(stop: &Stop, train: &Train) -> bool {
    stop.scope == "all" || stop.scope == train.environment || train.regions.contains(&stop.scope)
}

pub async fn act(app: &AppState, actor: String, id: &str, action: Action) -> Result<TrainView, ApiError> {
    let id = train_id(id)?;
    let runtime = app.runtime();
    let at = app.now();
    let (view, pending) = app
        .store
        .write(move |tx| {
            let mut record = get_record(tx, &id)?;
            if !action.allowed_from().contains(&record.state) {
                let from: Vec<&str> = action.allowed_from().iter().map(|s| s.as_str()).collect();
                return Err(ApiError::Conflict(format!(
                    "cannot {} train `{id}`: it is {}, and {} needs a train that is {}",
                    action.name(),
                    record.state,
                    action.name(),
                    from.join(" or ")
                )));
            }
            let detail = |extra: serde_json::Value| json!({ "from": record.state, "detail": extra });
            match &action {
                Action::Approve { reason } => {
                    let lifted = tx.clear_hold(&id)?;
                    audit(tx, at, &actor, "approve", Some(&id), detail(json!({ "reason": reason, "hold_lifted": lifted.is_some() })))?;
                    record.state = TrainState::Approved;
                }
                Action::Reject { reason } => {
                    tx.clear_hold(&id)?;
                    audit(tx, at, &actor, "reject", Some(&id), detail(json!({ "reason": reason })))?;
                    record.state = TrainState::Rejected;
                }
                Action::Hold { reason } => {
                    tx.set_hold(&Hold { train_id: id.clone(), by: actor.clone(), reason: reason.clone(), at })?;
                    audit(tx, at, &actor, "hold", Some(&id), detail(json!({ "reason": reason })))?;
                    let round = Round::new(tx, &runtime, at, &actor)?;
                    let r = round.record(record.train, record.created_at, "hold.decision")?;
                    return Ok((view(tx, r)?, round.left_pending()));
                }
                Action::Release => {
                    if tx.clear_hold(&id)?.is_none() {
                        return Err(ApiError::Conflict(format!("train `{id}` is not on hold")));
                    }
                    audit(tx, at, &actor, "release", Some(&id), detail(json!({})))?;
                    let round = Round::new(tx, &runtime, at, &actor)?;
                    let r = round.record(record.train, record.created_at, "release.decision")?;
                    return Ok((view(tx, r)?, round.left_pending()));
                }
                Action::Start => {
                    let stops = tx.active_stops()?;
                    if let Some(stop) = stops.iter().find(|s| stop_covers(s, &record.train)) {
                        return Err(ApiError::Conflict(format!(
                            "train `{id}` may not start: stop `{}` ({}: {}) is in force; a conductor lifts it with `start trains {}`",
                            stop.id, stop.scope, stop.message, stop.scope
                        )));
                    }
                    audit(tx, at, &actor, "start", Some(&id), detail(json!({})))?;
                    record.state = TrainState::Started;
                }
                Action::Complete => {
                    if record.train.environment == "stage" {
                        tx.record_stage_deployment(&StageDeployment {
                            train_id: id.clone(),
                            squad: record.train.squad.clone(),
                            service: record.train.service.clone(),
                            version: record.train.version.clone(),
                            completed_at: at,
                        })?;
                    }
                    audit(tx, at, &actor, "complete", Some(&id), detail(json!({})))?;
                    record.state = TrainState::Completed;
                }
                Action::Abort { reason } => {
                    audit(tx, at, &actor, "abort", Some(&id), detail(json!({ "reason": reason })))?;
                    record.state = TrainState::Aborted;
                }
            }
            record.updated_at = at;
            tx.put_train(&record)?;
            Ok((view(tx, record)?, Vec::new()))
        })
        .await?;
    notify::announce(app, vec![Notice::Pending(pending)]);
    Ok(view)
}

/// One train's result in a re-evaluation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reevaluated {
    pub train_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<TrainState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub async fn reevaluate(app: &AppState, actor: String, ids: Vec<String>) -> Result<Vec<Reevaluated>, ApiError> {
    if ids.is_empty() {
        return Err(ApiError::BadRequest("`train_ids` must name at least one train".into()));
    }
    let runtime = app.runtime();
    let at = app.now();
    let (results, pending) = app
        .store
        .write(move |tx| {
            let round = Round::new(tx, &runtime, at, &actor)?;
            let mut results = Vec::new();
            for raw in ids {
                let failed = |train_id: String, error: String| Reevaluated {
                    train_id,
                    state: None,
                    decision: None,
                    error: Some(error),
                };
                let id = match train_id(&raw) {
                    Ok(id) => id,
                    Err(e) => {
                        results.push(failed(raw, e.to_string()));
                        continue;
                    }
                };
                match tx.get_train(&id)? {
                    None => results.push(failed(id.clone(), format!("no train `{id}`"))),
                    Some(r) if r.state != TrainState::Pending => results
                        .push(failed(id, format!("not re-evaluated: it is {}, and only pending trains are", r.state))),
                    Some(r) => {
                        let r = round.record(r.train, r.created_at, "reevaluate.decision")?;
                        results.push(Reevaluated {
                            train_id: id,
                            state: Some(r.state),
                            decision: Some(r.decision),
                            error: None,
                        });
                    }
                }
            }
            Ok::<_, ApiError>((results, round.left_pending()))
        })
        .await?;
    notify::announce(app, vec![Notice::Pending(pending)]);
    Ok(results)
}

/// The dry run: what would be decided at `at` with today's state. Stores nothing.
pub fn dry_run(app: &AppState, actor: String, train: Train, at: Option<DateTime<Utc>>) -> Result<Decision, ApiError> {
    let runtime = app.runtime();
    train.validate(runtime.evaluator.config()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let at = at.unwrap_or_else(|| app.now());
    app.store
        .read(|tx| Ok(Round::new(tx, &runtime, at, &actor).and_then(|round| round.decide(&train)).map(|(d, _)| d)))?
}

/// A request to create an exception (DESIGN section 4).
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExceptionRequest {
    pub result: String,
    pub policy: String,
    pub duration: String,
    #[serde(default)]
    pub configuration_item: Option<String>,
    #[serde(default)]
    pub squad: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    pub justification: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExceptionView {
    #[serde(flatten)]
    pub exception: Exception,
    /// e.g. `3h12m`.
    pub time_left: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExceptionCreated {
    #[serde(flatten)]
    pub exception: Exception,
    /// Pending trains whose decision this exception would change.
    pub affected_trains: Vec<String>,
    /// The chat line that applies it to them, when there are any.
    pub reevaluate: Option<String>,
}

pub async fn create_exception(
    app: &AppState,
    actor: String,
    req: ExceptionRequest,
) -> Result<ExceptionCreated, ApiError> {
    let runtime = app.runtime();
    let policies = runtime.evaluator.policies();
    let result = Outcome::parse(&req.result).ok_or_else(|| {
        ApiError::BadRequest(format!("`result` must be approved, rejected or manual, found `{}`", req.result))
    })?;
    let entry = policies.find(&req.policy).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`policy` `{}` is not a known policy; known: {}",
            req.policy,
            policies.known_names()
        ))
    })?;
    if !entry.exceptions {
        return Err(ApiError::BadRequest(format!(
            "`{}` takes no exceptions: a window that is over is over",
            entry.path
        )));
    }
    let duration = parse_duration(&req.duration).map_err(|e| ApiError::BadRequest(format!("`duration`: {e}")))?;
    let max = runtime.evaluator.config().policies.max_exception;
    if duration > max {
        return Err(ApiError::BadRequest(format!(
            "`duration` {} is longer than the maximum of {} (`policies.max_exception`)",
            req.duration,
            format_duration(max)
        )));
    }
    let justification = req.justification.trim().to_string();
    if justification.is_empty() {
        return Err(ApiError::BadRequest("`justification` is required".into()));
    }
    let scope = |part: Option<String>| part.map(|p| p.trim().to_string()).filter(|p| !p.is_empty() && p != "*");
    let at = app.now();
    let new = NewException {
        result,
        policy: entry.path.clone(),
        configuration_item: scope(req.configuration_item),
        squad: scope(req.squad),
        service: scope(req.service),
        justification,
        created_by: actor.clone(),
        created_at: at,
        expires_at: at + duration,
    };
    let exception = app
        .store
        .write(move |tx| {
            let exception = tx.insert_exception(&new)?;
            audit(tx, at, &actor, "exception.create", None, json!({ "exception": exception }))?;
            Ok::<_, ApiError>(exception)
        })
        .await?;
    // Which pending trains it would change is advice for the reply: worked out
    // after the commit, on a read connection, so it never holds up the writer.
    let affected_trains = affected_by(app, &runtime, &exception, at)?;
    let reevaluate = (!affected_trains.is_empty()).then(|| format!("reevaluate {}", affected_trains.join(" ")));
    Ok(ExceptionCreated { exception, affected_trains, reevaluate })
}

/// The pending trains in the exception's scope whose decision at `at` differs
/// with it and without it.
fn affected_by(
    app: &AppState,
    runtime: &Runtime,
    exception: &Exception,
    at: DateTime<Utc>,
) -> Result<Vec<String>, ApiError> {
    app.store.read(|tx| {
        let round = match Round::new(tx, runtime, at, "exception.preview") {
            Ok(round) => round,
            Err(e) => return Ok(Err(e)),
        };
        let others: Vec<Exception> = round.shared.exceptions.iter().filter(|x| x.id != exception.id).cloned().collect();
        let pending = tx.list_trains(&TrainFilter { state: Some(TrainState::Pending), ..TrainFilter::default() })?;
        let mut affected = Vec::new();
        for r in pending {
            let t = &r.train;
            if !exception.covers(&t.configuration_item, &t.squad, &t.service) {
                continue;
            }
            let with = round.decide(t).map(|(d, held)| (state_after(d.outcome, held), d.findings));
            let without = round.decide_with(t, &others).map(|(d, held)| (state_after(d.outcome, held), d.findings));
            match (with, without) {
                (Ok(with), Ok(without)) if with != without => affected.push(r.train.id),
                (Ok(_), Ok(_)) => {}
                (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
            }
        }
        Ok(Ok(affected))
    })?
}

pub fn list_exceptions(app: &AppState) -> Result<Vec<ExceptionView>, ApiError> {
    let at = app.now();
    let live = app.store.read(|tx| tx.live_exceptions(at))?;
    Ok(live
        .into_iter()
        .filter(|x| x.is_active_at(at))
        .map(|exception| {
            let left = exception.expires_at - at;
            ExceptionView { time_left: format_duration(left.max(TimeDelta::zero())), exception }
        })
        .collect())
}

pub async fn delete_exception(app: &AppState, actor: String, id: String) -> Result<Exception, ApiError> {
    let at = app.now();
    app.store
        .write(move |tx| {
            let deleted = tx
                .delete_exception(&id, &actor, at)?
                .ok_or_else(|| ApiError::NotFound(format!("no live exception `{id}`")))?;
            audit(tx, at, &actor, "exception.delete", None, json!({ "exception": deleted }))?;
            Ok(deleted)
        })
        .await
}

fn check_scope(runtime: &Runtime, scope: &str) -> Result<(), ApiError> {
    let config = runtime.evaluator.config();
    if scope == "all" || config.environments.iter().any(|e| e == scope) || config.regions.contains_key(scope) {
        return Ok(());
    }
    Err(ApiError::BadRequest(format!(
        "`scope` `{scope}` is not `all`, an environment ({}) or a region ({})",
        config.environments.join(", "),
        config.region_names().join(", ")
    )))
}

pub async fn create_stop(app: &AppState, actor: String, scope: String, message: String) -> Result<Stop, ApiError> {
    let scope = scope.trim().to_string();
    check_scope(&app.runtime(), &scope)?;
    let message = message.trim().to_string();
    if message.is_empty() {
        return Err(ApiError::BadRequest("`message` is required: say why trains are stopped".into()));
    }
    let at = app.now();
    let stop = app
        .store
        .write(move |tx| {
            let stop = tx.insert_stop(&scope, &message, &actor, at)?;
            audit(tx, at, &actor, "stop", None, json!({ "stop": stop }))?;
            Ok::<_, ApiError>(stop)
        })
        .await?;
    notify::announce(app, vec![Notice::Stopped(stop.clone())]);
    Ok(stop)
}

pub fn list_stops(app: &AppState) -> Result<Vec<Stop>, ApiError> {
    Ok(app.store.read(|tx| tx.active_stops())?)
}

/// What `start trains` did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Started {
    pub lifted: Vec<String>,
    pub approved: usize,
    pub rejected: usize,
    pub pending: usize,
}

pub async fn start_trains(app: &AppState, actor: String, scope: String) -> Result<Started, ApiError> {
    let scope = scope.trim().to_string();
    let runtime = app.runtime();
    check_scope(&runtime, &scope)?;
    let at = app.now();
    let notice = (scope.clone(), actor.clone());
    let (started, pending) = app
        .store
        .write(move |tx| {
            let lifted = tx.lift_stops(&scope, &actor, at)?;
            let mut started = Started { lifted: lifted.iter().map(|s| s.id.clone()).collect(), ..Started::default() };
            audit(tx, at, &actor, "start_trains", None, json!({ "scope": scope, "lifted": lifted }))?;
            let round = Round::new(tx, &runtime, at, &actor)?;
            let pending =
                tx.list_trains(&TrainFilter { state: Some(TrainState::Pending), ..TrainFilter::default() })?;
            for r in pending {
                let r = round.record(r.train, r.created_at, "start_trains.decision")?;
                match r.state {
                    TrainState::Approved => started.approved += 1,
                    TrainState::Rejected => started.rejected += 1,
                    _ => started.pending += 1,
                }
            }
            Ok::<_, ApiError>((started, round.left_pending()))
        })
        .await?;
    let (scope, actor) = notice;
    notify::announce(app, vec![Notice::Started { scope, actor, started: started.clone() }, Notice::Pending(pending)]);
    Ok(started)
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<AuditRecord>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

pub fn audit_page(
    app: &AppState,
    train_id: Option<String>,
    before: Option<i64>,
    limit: usize,
) -> Result<AuditPage, ApiError> {
    let train_id = train_id.map(|t| self::train_id(&t)).transpose()?;
    let entries = app.store.read(|tx| tx.audit_page(train_id.as_deref(), before, limit + 1))?;
    let mut entries = entries;
    let next_before = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(AuditPage { entries, next_before })
}

/// Reload: the new configuration and policies are checked as a set before they serve.
pub async fn reload(app: &AppState, actor: String) -> Result<serde_json::Value, ApiError> {
    let runtime = match Runtime::load(app.config_path(), app.bootstrap_token()) {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), %actor, "reload refused; the previous configuration keeps serving");
            return Err(ApiError::Invalid(format!("{e:#}")));
        }
    };
    let current = app.runtime();
    let (old_server, new_server) = (&current.loaded.config.server, &runtime.loaded.config.server);
    if old_server.listen != new_server.listen || old_server.data_dir != new_server.data_dir {
        tracing::warn!("`server.listen` and `server.data_dir` changes take effect only at the next start");
    }
    let revision = runtime.evaluator.revision().to_string();
    let old = current.evaluator.revision().to_string();
    let at = app.now();
    let detail = json!({ "old_revision": old, "new_revision": revision });
    let reply = detail.clone();
    app.store.write(move |tx| audit(tx, at, &actor, "reload", None, detail)).await?;
    app.swap_runtime(Arc::new(runtime));
    tracing::info!(%reply, "reloaded configuration and policies");
    Ok(reply)
}
