//! Stops (a customer-impacting event) and `start trains`, which lifts them and
//! re-evaluates every pending train.

use serde::Serialize;
use serde_json::json;
use signalbox_core::{Stop, TrainState};
use signalbox_store::{AuditAction, TrainFilter};

use super::changes;
use super::error::ServiceError;
use super::notify::{self, Notice};
use super::round::{audit, Round};
use crate::runtime::Runtime;
use crate::state::{AppState, Ctx};

fn check_scope(runtime: &Runtime, scope: &str) -> Result<(), ServiceError> {
    let config = runtime.evaluator.config();
    if scope == "all" || config.environments.iter().any(|e| e == scope) || config.regions.contains_key(scope) {
        return Ok(());
    }
    Err(ServiceError::Invalid(format!(
        "`scope` `{scope}` is not `all`, an environment ({}) or a region ({})",
        config.environments.join(", "),
        config.region_names().join(", ")
    )))
}

pub async fn create_stop(app: &AppState, ctx: &Ctx, scope: &str, message: &str) -> Result<Stop, ServiceError> {
    let scope = scope.trim().to_string();
    check_scope(&app.runtime(), &scope)?;
    let message = message.trim().to_string();
    if message.is_empty() {
        return Err(ServiceError::Invalid("`message` is required: say why trains are stopped".into()));
    }
    let write_ctx = ctx.clone();
    let stop = app
        .store
        .write(move |tx| {
            let ctx = write_ctx;
            let stop = tx.insert_stop(&scope, &message, &ctx.actor, ctx.at)?;
            audit(tx, &ctx, AuditAction::Stop, None, json!({ "stop": stop }))?;
            Ok::<_, ServiceError>(stop)
        })
        .await?;
    changes::stop_changed(app, ctx, &stop, "active");
    notify::announce(app, vec![Notice::Stopped(stop.clone())]);
    Ok(stop)
}

pub fn list_stops(app: &AppState) -> Result<Vec<Stop>, ServiceError> {
    Ok(app.store.read(|tx| tx.active_stops())?)
}

/// What `start trains` did: the stops lifted and what re-evaluation made of
/// the pending trains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StartTrainsReport {
    pub lifted: Vec<String>,
    pub approved: usize,
    pub rejected: usize,
    pub pending: usize,
}

pub async fn start_trains(app: &AppState, ctx: &Ctx, scope: &str) -> Result<StartTrainsReport, ServiceError> {
    let scope = scope.trim().to_string();
    let runtime = app.runtime();
    check_scope(&runtime, &scope)?;
    let write_ctx = ctx.clone();
    let write_scope = scope.clone();
    let (report, lifted, recorded) = app
        .store
        .write(move |tx| {
            let (ctx, scope) = (write_ctx, write_scope);
            let lifted = tx.lift_stops(&scope, &ctx.actor, ctx.at)?;
            let mut report =
                StartTrainsReport { lifted: lifted.iter().map(|s| s.id.clone()).collect(), ..Default::default() };
            audit(tx, &ctx, AuditAction::StartTrains, None, json!({ "scope": scope, "lifted": lifted }))?;
            let round = Round::new(tx, &runtime, &ctx)?;
            let pending =
                tx.list_trains(&TrainFilter { state: Some(TrainState::Pending), ..TrainFilter::default() })?;
            for r in pending {
                let r = round.record(r.train, r.created_at, AuditAction::StartTrainsDecision)?;
                match r.state {
                    TrainState::Approved => report.approved += 1,
                    TrainState::Rejected => report.rejected += 1,
                    _ => report.pending += 1,
                }
            }
            Ok::<_, ServiceError>((report, lifted, round.recorded()))
        })
        .await?;
    let started = Notice::Started {
        scope,
        actor: ctx.actor.clone(),
        approved: report.approved,
        rejected: report.rejected,
        pending: report.pending,
    };
    for stop in &lifted {
        changes::stop_changed(app, ctx, stop, "lifted");
    }
    changes::trains_decided(app, ctx, recorded, vec![started]);
    Ok(report)
}
