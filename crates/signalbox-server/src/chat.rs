//! Chat commands, executed: text from a chat user in, reply text out. Shared by
//! `POST /v1/chat`, the Slack transports and `signalbox chat`.
//!
//! Anyone may run read-only commands; mutating ones need a user listed under
//! `[chat] conductors`. Every command is recorded in the audit log with the
//! chat user id, and a change is confirmed only after it is committed.

use serde_json::json;
use signalbox_chat::{
    parse, render_approved, render_describe, render_exception_created, render_exception_deleted, render_exceptions,
    render_held, render_help, render_no_such_train, render_not_conductor, render_outstanding, render_parse_error,
    render_reevaluated, render_rejected, render_released, render_start_trains, render_stop, Command, HistoryLine,
    TrainOutcome, TrainResult,
};
use signalbox_core::time::format_duration;
use signalbox_core::TrainState;
use signalbox_store::{AuditRecord, NewAudit, TrainFilter};

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::service::{self, Action, ExceptionRequest, TrainView};

/// Runs one chat command for `user` and returns the reply; `user` is a
/// conductor when listed under `[chat] conductors`.
pub async fn execute(app: &AppState, user: &str, text: &str) -> String {
    execute_as(app, user, text, false).await
}

/// As [`execute`], with `conductor` granting conductor rights whatever the list says
/// (a conductor's own bearer token).
pub async fn execute_as(app: &AppState, user: &str, text: &str, conductor: bool) -> String {
    let command = match parse(text) {
        Ok(command) => command,
        Err(e) => return render_parse_error(&e),
    };
    let verb = command.verb();
    let conductor = conductor || app.runtime().evaluator.config().chat.conductors.iter().any(|c| c == user);
    let allowed = conductor || !command.is_mutating();
    if let Err(e) = record_command(app, user, text, verb.as_str(), allowed).await {
        return failure(&e);
    }
    if !allowed {
        return render_not_conductor(user, verb);
    }
    match run(app, &format!("chat:{user}"), command).await {
        Ok(reply) => reply,
        Err(e) => failure(&e),
    }
}

fn failure(e: &ApiError) -> String {
    match e {
        ApiError::Internal(_) | ApiError::Unavailable(_) => {
            tracing::error!(error = %e, "chat command failed");
            "❌ Signalbox could not do that just now (nothing was changed); the details are in its log.".to_string()
        }
        other => format!("❌ {other}"),
    }
}

async fn record_command(app: &AppState, user: &str, text: &str, verb: &str, allowed: bool) -> Result<(), ApiError> {
    let at = app.now();
    let entry = NewAudit {
        at,
        actor: format!("chat:{user}"),
        action: "chat.command".into(),
        train_id: None,
        detail: json!({ "user": user, "verb": verb, "text": text, "allowed": allowed }),
    };
    app.store.write(move |tx| tx.append_audit(&entry).map(|_| ()).map_err(ApiError::from)).await
}

async fn run(app: &AppState, actor: &str, command: Command) -> Result<String, ApiError> {
    let actor = actor.to_string();
    Ok(match command {
        Command::Help => render_help(),
        Command::Describe { id } => match service::get_train(app, &id) {
            Ok(view) => render_describe(&chat_view(app, view)?),
            Err(ApiError::NotFound(_)) => render_no_such_train(&id),
            Err(e) => return Err(e),
        },
        Command::Outstanding => {
            let filter = TrainFilter { state: Some(TrainState::Pending), ..TrainFilter::default() };
            let views = service::list_trains(app, filter)?
                .into_iter()
                .map(|r| service::get_train(app, &r.train.id).and_then(|v| chat_view(app, v)))
                .collect::<Result<Vec<_>, _>>()?;
            render_outstanding(&views)
        }
        Command::Approve { ids, reason } => {
            let mut results = Vec::new();
            for id in ids {
                let action = Action::Approve { reason: reason.clone() };
                results.push(result_of(&id, service::act(app, actor.clone(), &id, action).await, false)?);
            }
            render_approved(&results, reason.as_deref())
        }
        Command::Reject { ids, reason } => {
            let mut results = Vec::new();
            for id in ids {
                let action = Action::Reject { reason: reason.clone() };
                results.push(result_of(&id, service::act(app, actor.clone(), &id, action).await, false)?);
            }
            render_rejected(&results, &reason)
        }
        Command::Hold { id, reason } => {
            let action = Action::Hold { reason: reason.clone() };
            render_held(&result_of(&id, service::act(app, actor, &id, action).await, true)?, &reason)
        }
        Command::Release { id, .. } => {
            render_released(&result_of(&id, service::act(app, actor, &id, Action::Release).await, true)?)
        }
        Command::Reevaluate { ids } => {
            let results = service::reevaluate(app, actor, ids).await?;
            let results: Vec<TrainResult> = results
                .into_iter()
                .map(|r| TrainResult {
                    train_id: r.train_id,
                    outcome: match (r.state, r.decision, r.error) {
                        (Some(state), decision, _) => {
                            TrainOutcome::Done { state, summary: decision.map(|d| d.summary) }
                        }
                        (None, _, error) => TrainOutcome::Refused { reason: error.unwrap_or_default() },
                    },
                })
                .collect();
            render_reevaluated(&results)
        }
        Command::CreateException(req) => {
            let request = ExceptionRequest {
                result: req.result.as_str().to_string(),
                policy: req.policy,
                duration: format_duration(req.duration),
                configuration_item: req.configuration_item,
                squad: req.squad,
                service: req.service,
                justification: req.justification,
            };
            let created = service::create_exception(app, actor, request).await?;
            let affected = created
                .affected_trains
                .iter()
                .map(|id| service::get_train(app, id).and_then(|v| chat_view(app, v)))
                .collect::<Result<Vec<_>, _>>()?;
            render_exception_created(&created.exception, &affected)
        }
        Command::ListExceptions => {
            let live: Vec<_> = service::list_exceptions(app)?.into_iter().map(|v| v.exception).collect();
            render_exceptions(&live, app.now())
        }
        Command::DeleteException { id } => render_exception_deleted(&service::delete_exception(app, actor, id).await?),
        Command::StopTrains { scope, message } => {
            render_stop(&service::create_stop(app, actor, scope.to_ascii_lowercase(), message).await?)
        }
        Command::StartTrains { scope } => {
            let scope = scope.to_ascii_lowercase();
            let started = service::start_trains(app, actor, scope.clone()).await?;
            render_start_trains(&scope, started.approved, started.rejected, started.pending)
        }
    })
}

/// A per-train outcome; refusals about the train (404, 409, 400) become a line
/// of the reply, anything else fails the command.
fn result_of(id: &str, result: Result<TrainView, ApiError>, with_summary: bool) -> Result<TrainResult, ApiError> {
    let train_id = id.to_ascii_uppercase();
    let outcome = match result {
        Ok(view) => TrainOutcome::Done { state: view.state, summary: with_summary.then_some(view.decision.summary) },
        Err(ApiError::NotFound(m) | ApiError::Conflict(m) | ApiError::BadRequest(m)) => {
            TrainOutcome::Refused { reason: m }
        }
        Err(e) => return Err(e),
    };
    Ok(TrainResult { train_id, outcome })
}

/// The chat crate's view of a train: history as lines, and its hold.
fn chat_view(app: &AppState, view: TrainView) -> Result<signalbox_chat::TrainView, ApiError> {
    let hold = app.store.read(|tx| tx.get_hold(&view.train.id))?;
    Ok(signalbox_chat::TrainView {
        history: view.history.iter().map(history_line).collect(),
        train: view.train,
        state: view.state,
        decision: view.decision,
        hold,
    })
}

fn history_line(record: &AuditRecord) -> HistoryLine {
    let detail = &record.detail;
    let text = detail
        .pointer("/decision/summary")
        .and_then(|v| v.as_str())
        .or_else(|| detail.pointer("/detail/reason").and_then(|v| v.as_str()))
        .unwrap_or_default()
        .to_string();
    HistoryLine { at: record.at, actor: record.actor.clone(), action: record.action.clone(), detail: text }
}
