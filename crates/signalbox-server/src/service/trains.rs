//! Trains: submit (the approve endpoint), read, list, the conductors' and
//! pipelines' actions, re-evaluation and the dry run.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use signalbox_core::{Decision, Hold, StageDeployment, Train, TrainState};
use signalbox_store::{AuditAction, TrainFilter, TrainRecord, Tx};

use super::changes;
use super::error::ServiceError;
use super::round::{audit, get_record, train_id, view, Round, TrainView};
use crate::runtime::Runtime;
use crate::state::{AppState, Ctx};

/// Submit, with the idempotency rules of docs/api.md: the same body again
/// returns the train as it is; a changed body updates a pending train and
/// decides again; a changed body on any other state is a conflict.
///
/// The decision is made first on a read connection, outside the writer, which
/// is shared by every write of the server: the writer then checks that nothing
/// the decision read has changed since (the store's generation of decision
/// inputs: stops, exceptions, holds, stage deployments) and only writes. If
/// something did change, or the train was resubmitted meanwhile, the writer
/// decides again. Either way the decision is the one the committed state gives
/// at the request's instant.
pub async fn submit(app: &AppState, ctx: &Ctx, train: Train) -> Result<TrainView, ServiceError> {
    let runtime = app.runtime();
    train.validate(runtime.evaluator.config()).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let early = app.store.read(|tx| Ok(decide_early(tx, &runtime, &train, ctx)))??;
    let write_ctx = ctx.clone();
    let (view, recorded) = app
        .store
        .write(move |tx| {
            let ctx = write_ctx;
            let existing = tx.get_train(&train.id)?;
            match existing {
                Some(record) if record.train == train => Ok((view(tx, record)?, Vec::new())),
                Some(record) if record.state != TrainState::Pending => Err(ServiceError::Conflict(format!(
                    "train `{}` is {}; its body can change only while it is pending",
                    record.train.id, record.state
                ))),
                existing => {
                    let (created_at, action, decided_as) = match &existing {
                        Some(r) => (r.created_at, AuditAction::Update, AuditAction::UpdateDecision),
                        None => (ctx.at, AuditAction::Submit, AuditAction::SubmitDecision),
                    };
                    let submitted = audit(tx, &ctx, action, Some(&train.id), json!({ "train": train }))?;
                    let round = Round::new(tx, &runtime, &ctx)?;
                    let decided = match early {
                        Some(early) if tx.generation() == Some(early.generation) => (early.decision, early.held),
                        _ => round.decide(&train)?,
                    };
                    let (record, decided) = round.record_decided(train, created_at, decided_as, decided)?;
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
                    Ok((view, round.recorded()))
                }
            }
        })
        .await?;
    changes::trains_decided(app, ctx, recorded, Vec::new());
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
    ctx: &Ctx,
) -> Result<Option<EarlyDecision>, ServiceError> {
    let Some(generation) = tx.generation() else {
        return Ok(None);
    };
    let existing = tx.get_train(&train.id)?;
    if existing.as_ref().is_some_and(|r| r.train == *train || r.state != TrainState::Pending) {
        return Ok(None);
    }
    let (decision, held) = Round::new(tx, runtime, ctx)?.decide(train)?;
    Ok(Some(EarlyDecision { generation, decision, held }))
}

pub fn get_train(app: &AppState, id: &str) -> Result<TrainView, ServiceError> {
    let id = train_id(id)?;
    app.store.read(|tx| Ok(get_record(tx, &id).and_then(|r| view(tx, r))))?
}

pub fn list_trains(app: &AppState, filter: &TrainFilter) -> Result<Vec<TrainRecord>, ServiceError> {
    Ok(app.store.read(|tx| tx.list_trains(filter))?)
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
        self.audited().as_str()
    }

    fn audited(&self) -> AuditAction {
        match self {
            Action::Approve { .. } => AuditAction::Approve,
            Action::Reject { .. } => AuditAction::Reject,
            Action::Hold { .. } => AuditAction::Hold,
            Action::Release => AuditAction::Release,
            Action::Start => AuditAction::Start,
            Action::Complete => AuditAction::Complete,
            Action::Abort { .. } => AuditAction::Abort,
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

pub async fn act(app: &AppState, ctx: &Ctx, id: &str, action: Action) -> Result<TrainView, ServiceError> {
    let id = train_id(id)?;
    let runtime = app.runtime();
    let write_ctx = ctx.clone();
    let (view, recorded) = app
        .store
        .write(move |tx| {
            let ctx = write_ctx;
            let mut record = get_record(tx, &id)?;
            if !action.allowed_from().contains(&record.state) {
                let from: Vec<&str> = action.allowed_from().iter().map(|s| s.as_str()).collect();
                return Err(ServiceError::Conflict(format!(
                    "cannot {} train `{id}`: it is {}, and {} needs a train that is {}",
                    action.name(),
                    record.state,
                    action.name(),
                    from.join(" or ")
                )));
            }
            let detail = |extra: serde_json::Value| json!({ "from": record.state, "detail": extra });
            let audited = action.audited();
            match &action {
                Action::Approve { reason } => {
                    let lifted = tx.clear_hold(&id)?;
                    let extra = json!({ "reason": reason, "hold_lifted": lifted.is_some() });
                    audit(tx, &ctx, audited, Some(&id), detail(extra))?;
                    record.state = TrainState::Approved;
                }
                Action::Reject { reason } => {
                    tx.clear_hold(&id)?;
                    audit(tx, &ctx, audited, Some(&id), detail(json!({ "reason": reason })))?;
                    record.state = TrainState::Rejected;
                }
                Action::Hold { reason } => {
                    let hold = Hold { train_id: id.clone(), by: ctx.actor.clone(), reason: reason.clone(), at: ctx.at };
                    tx.set_hold(&hold)?;
                    audit(tx, &ctx, audited, Some(&id), detail(json!({ "reason": reason })))?;
                    let round = Round::new(tx, &runtime, &ctx)?;
                    let r = round.record(record.train, record.created_at, AuditAction::HoldDecision)?;
                    return Ok((view(tx, r)?, round.recorded()));
                }
                Action::Release => {
                    if tx.clear_hold(&id)?.is_none() {
                        return Err(ServiceError::Conflict(format!("train `{id}` is not on hold")));
                    }
                    audit(tx, &ctx, audited, Some(&id), detail(json!({})))?;
                    let round = Round::new(tx, &runtime, &ctx)?;
                    let r = round.record(record.train, record.created_at, AuditAction::ReleaseDecision)?;
                    return Ok((view(tx, r)?, round.recorded()));
                }
                Action::Start => {
                    let stops = tx.active_stops()?;
                    let covering = runtime.evaluator.stops_covering(&record.train, &stops, ctx.at);
                    if let Some(stop) = covering.first() {
                        return Err(ServiceError::Conflict(format!(
                            "train `{id}` may not start: stop `{}` ({}: {}) is in force; a conductor lifts it with `start trains {}`",
                            stop.id, stop.scope, stop.message, stop.scope
                        )));
                    }
                    audit(tx, &ctx, audited, Some(&id), detail(json!({})))?;
                    record.state = TrainState::Started;
                }
                Action::Complete => {
                    if record.train.environment == "stage" {
                        tx.record_stage_deployment(&StageDeployment {
                            train_id: id.clone(),
                            squad: record.train.squad.clone(),
                            service: record.train.service.clone(),
                            version: record.train.version.clone(),
                            completed_at: ctx.at,
                        })?;
                    }
                    audit(tx, &ctx, audited, Some(&id), detail(json!({})))?;
                    record.state = TrainState::Completed;
                }
                Action::Abort { reason } => {
                    audit(tx, &ctx, audited, Some(&id), detail(json!({ "reason": reason })))?;
                    record.state = TrainState::Aborted;
                }
            }
            record.updated_at = ctx.at;
            tx.put_train(&record)?;
            Ok((view(tx, record)?, Vec::new()))
        })
        .await?;
    if recorded.is_empty() {
        changes::train_changed(app, ctx, &view.train.id, view.state);
    }
    changes::trains_decided(app, ctx, recorded, Vec::new());
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

pub async fn reevaluate(app: &AppState, ctx: &Ctx, ids: Vec<String>) -> Result<Vec<Reevaluated>, ServiceError> {
    if ids.is_empty() {
        return Err(ServiceError::Invalid("`train_ids` must name at least one train".into()));
    }
    let runtime = app.runtime();
    let write_ctx = ctx.clone();
    let (results, recorded) = app
        .store
        .write(move |tx| {
            let round = Round::new(tx, &runtime, &write_ctx)?;
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
                        let r = round.record(r.train, r.created_at, AuditAction::ReevaluateDecision)?;
                        results.push(Reevaluated {
                            train_id: id,
                            state: Some(r.state),
                            decision: Some(r.decision),
                            error: None,
                        });
                    }
                }
            }
            Ok::<_, ServiceError>((results, round.recorded()))
        })
        .await?;
    changes::trains_decided(app, ctx, recorded, Vec::new());
    Ok(results)
}

/// The dry run: what would be decided at `at` (the request's instant when
/// `None`) with today's state. Stores nothing.
pub fn dry_run(app: &AppState, ctx: &Ctx, train: &Train, at: Option<DateTime<Utc>>) -> Result<Decision, ServiceError> {
    let runtime = app.runtime();
    train.validate(runtime.evaluator.config()).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let ctx = Ctx { actor: ctx.actor.clone(), at: at.unwrap_or(ctx.at) };
    app.store.read(|tx| Ok(Round::new(tx, &runtime, &ctx).and_then(|round| round.decide(train)).map(|(d, _)| d)))?
}
