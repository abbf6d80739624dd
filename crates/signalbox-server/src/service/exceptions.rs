//! Temporary scoped exceptions: create (with the pending trains it would
//! change), list the live ones, delete one early.

use chrono::TimeDelta;
use serde::Serialize;
use serde_json::json;
use signalbox_core::time::format_duration;
use signalbox_core::{Exception, ExceptionRequest, TrainState};
use signalbox_store::{AuditAction, NewException, TrainFilter};

use super::changes;
use super::error::ServiceError;
use super::round::{audit, state_after, Round};
use crate::runtime::Runtime;
use crate::state::{AppState, Ctx};

/// A live exception and how long it has left.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExceptionView {
    #[serde(flatten)]
    pub exception: Exception,
    /// e.g. `3h12m`.
    pub time_left: String,
}

/// A new exception, and the pending trains it would change.
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
    ctx: &Ctx,
    req: ExceptionRequest,
) -> Result<ExceptionCreated, ServiceError> {
    let runtime = app.runtime();
    let policies = runtime.evaluator.policies();
    let entry = policies.find(&req.policy).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "`policy` `{}` is not a known policy; known: {}",
            req.policy,
            policies.known_names()
        ))
    })?;
    if !entry.exceptions {
        return Err(ServiceError::Invalid(format!(
            "`{}` takes no exceptions: a window that is over is over",
            entry.path
        )));
    }
    let max = runtime.evaluator.config().policies.max_exception;
    if req.duration > max {
        return Err(ServiceError::Invalid(format!(
            "`duration` {} is longer than the maximum of {} (`policies.max_exception`)",
            format_duration(req.duration),
            format_duration(max)
        )));
    }
    let justification = req.justification.trim().to_string();
    if justification.is_empty() {
        return Err(ServiceError::Invalid("`justification` is required".into()));
    }
    let scope = |part: Option<String>| part.map(|p| p.trim().to_string()).filter(|p| !p.is_empty() && p != "*");
    let new = NewException {
        result: req.result,
        policy: entry.path.clone(),
        configuration_item: scope(req.configuration_item),
        squad: scope(req.squad),
        service: scope(req.service),
        justification,
        created_by: ctx.actor.clone(),
        created_at: ctx.at,
        expires_at: ctx.at + req.duration,
    };
    let write_ctx = ctx.clone();
    let exception = app
        .store
        .write(move |tx| {
            let exception = tx.insert_exception(&new)?;
            audit(tx, &write_ctx, AuditAction::ExceptionCreate, None, json!({ "exception": exception }))?;
            Ok::<_, ServiceError>(exception)
        })
        .await?;
    changes::exception_changed(app, ctx, &exception, "live");
    // Which pending trains it would change is advice for the reply: worked out
    // after the commit, on a read connection, so it never holds up the writer.
    let affected_trains = affected_by(app, &runtime, &exception, ctx)?;
    let reevaluate = (!affected_trains.is_empty()).then(|| format!("reevaluate {}", affected_trains.join(" ")));
    Ok(ExceptionCreated { exception, affected_trains, reevaluate })
}

/// The pending trains in the exception's scope whose decision at the
/// request's instant differs with it and without it.
fn affected_by(
    app: &AppState,
    runtime: &Runtime,
    exception: &Exception,
    ctx: &Ctx,
) -> Result<Vec<String>, ServiceError> {
    let preview = Ctx { actor: "exception.preview".into(), at: ctx.at };
    app.store.read(|tx| {
        let round = match Round::new(tx, runtime, &preview) {
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

pub fn list_exceptions(app: &AppState, ctx: &Ctx) -> Result<Vec<ExceptionView>, ServiceError> {
    let at = ctx.at;
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

pub async fn delete_exception(app: &AppState, ctx: &Ctx, id: String) -> Result<Exception, ServiceError> {
    let write_ctx = ctx.clone();
    let deleted = app
        .store
        .write(move |tx| {
            let ctx = write_ctx;
            let deleted = tx
                .delete_exception(&id, &ctx.actor, ctx.at)?
                .ok_or_else(|| ServiceError::NotFound(format!("no live exception `{id}`")))?;
            audit(tx, &ctx, AuditAction::ExceptionDelete, None, json!({ "exception": deleted }))?;
            Ok::<_, ServiceError>(deleted)
        })
        .await?;
    changes::exception_changed(app, ctx, &deleted, "deleted");
    Ok(deleted)
}
