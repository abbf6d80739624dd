//! Deciding inside a store transaction, and what every operation shares:
//! audit entries, train views, train ids.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use signalbox_core::{Decision, Exception, Outcome, Train, TrainContext, TrainState};
use signalbox_store::{AuditAction, AuditRecord, NewAudit, SharedState, TrainRecord, Tx};

use super::error::ServiceError;
use crate::runtime::Runtime;
use crate::state::Ctx;

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
pub(super) fn state_after(outcome: Outcome, held: bool) -> TrainState {
    match TrainState::after_decision(outcome) {
        TrainState::Approved if held => TrainState::Pending,
        other => other,
    }
}

fn new_decision_id() -> String {
    format!("dec_{}", ulid::Ulid::new())
}

/// One round of decisions inside a transaction: the request, and the state
/// every train of the round shares (active stops, live exceptions, and the
/// holds and stage deployments looked up; from the store's in-memory copy
/// when it is current, see `SharedState`).
pub(super) struct Round<'a, 't> {
    tx: &'a Tx<'t>,
    runtime: &'a Runtime,
    pub(super) shared: Arc<SharedState>,
    ctx: &'a Ctx,
    /// Every train this round recorded a decision for, announced once the round has committed.
    recorded: RefCell<Vec<TrainRecord>>,
}

impl<'a, 't> Round<'a, 't> {
    pub(super) fn new(tx: &'a Tx<'t>, runtime: &'a Runtime, ctx: &'a Ctx) -> Result<Self, ServiceError> {
        Ok(Round { tx, runtime, shared: tx.shared_state(ctx.at)?, ctx, recorded: RefCell::default() })
    }

    /// The trains this round recorded decisions for.
    pub(super) fn recorded(self) -> Vec<TrainRecord> {
        self.recorded.into_inner()
    }

    /// Decides `train` against what the store holds; also says whether it is held.
    pub(super) fn decide(&self, train: &Train) -> Result<(Decision, bool), ServiceError> {
        self.decide_with(train, &self.shared.exceptions)
    }

    /// As [`Round::decide`], with the live exceptions given.
    pub(super) fn decide_with(
        &self,
        train: &Train,
        exceptions: &[Exception],
    ) -> Result<(Decision, bool), ServiceError> {
        let at = self.ctx.at;
        let hold = self.tx.hold_for(&self.shared, &train.id)?;
        let stage = self.tx.stage_for(&self.shared, &train.squad, &train.service, train.version.as_deref(), at)?;
        // Exceptions that expired since the shared state was read are in the
        // list; the evaluator applies only those active at `at`.
        let context =
            TrainContext { stops: &self.shared.stops, hold: hold.as_ref(), stage: stage.as_ref(), exceptions };
        let decision = self.runtime.evaluator.decide(train, context, at, new_decision_id(), self.ctx.actor.clone());
        Ok((decision, hold.is_some()))
    }

    /// Decides and records: the train's new state, the decision, and its audit record.
    pub(super) fn record(
        &self,
        train: Train,
        created_at: DateTime<Utc>,
        action: AuditAction,
    ) -> Result<TrainRecord, ServiceError> {
        let decided = self.decide(&train)?;
        self.record_decided(train, created_at, action, decided).map(|(record, _)| record)
    }

    /// Records a decision made for `train` in this round's state (see
    /// [`Round::decide`]); also gives the decision's audit entry.
    pub(super) fn record_decided(
        &self,
        train: Train,
        created_at: DateTime<Utc>,
        action: AuditAction,
        (decision, held): (Decision, bool),
    ) -> Result<(TrainRecord, AuditRecord), ServiceError> {
        let record = TrainRecord {
            state: state_after(decision.outcome, held),
            train,
            decision,
            created_at,
            updated_at: self.ctx.at,
        };
        self.tx.put_train(&record)?;
        self.tx.insert_decision(&record.decision)?;
        crate::metrics::record_decision(&record.decision);
        let detail = json!({ "state": record.state, "decision": record.decision });
        let entry = audit(self.tx, self.ctx, action, Some(&record.train.id), detail)?;
        self.recorded.borrow_mut().push(record.clone());
        Ok((record, entry))
    }
}

/// Appends an audit entry for the request and gives it back as stored.
pub(super) fn audit(
    tx: &Tx<'_>,
    ctx: &Ctx,
    action: AuditAction,
    train_id: Option<&str>,
    detail: serde_json::Value,
) -> Result<AuditRecord, ServiceError> {
    let entry =
        NewAudit { at: ctx.at, actor: ctx.actor.clone(), action, train_id: train_id.map(str::to_string), detail };
    let seq = tx.append_audit(&entry)?;
    let NewAudit { at, actor, action, train_id, detail } = entry;
    Ok(AuditRecord { seq, at, actor, action, train_id, detail })
}

pub(super) fn view(tx: &Tx<'_>, record: TrainRecord) -> Result<TrainView, ServiceError> {
    let history = tx.train_history(&record.train.id)?;
    Ok(TrainView { train: record.train, state: record.state, decision: record.decision, history })
}

pub(super) fn get_record(tx: &Tx<'_>, id: &str) -> Result<TrainRecord, ServiceError> {
    tx.get_train(id)?.ok_or_else(|| ServiceError::NotFound(format!("no train `{id}`")))
}

/// Normalises a train id as typed: ids are case-insensitive.
pub fn train_id(raw: &str) -> Result<String, ServiceError> {
    let id = raw.trim().to_ascii_uppercase();
    if signalbox_core::train::is_train_id(&id) {
        Ok(id)
    } else {
        Err(ServiceError::Invalid(format!("`{raw}` is not a train id like CHG7687021")))
    }
}
