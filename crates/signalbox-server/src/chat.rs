//! Chat commands, executed: text from a chat user in, reply text out. Shared by
//! `POST /v1/chat`, the Slack transports and `signalbox chat`.
//!
//! Anyone may run read-only commands; mutating ones need a user listed under
//! `[chat] conductors`. Every command is recorded in the audit log with the
//! chat user id, and a change is confirmed only after it is committed.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use signalbox_chat::{
    parse, render_approved, render_describe, render_exception_created, render_exception_deleted, render_exceptions,
    render_held, render_help, render_no_such_train, render_not_conductor, render_outstanding, render_parse_error,
    render_reevaluated, render_rejected, render_released, render_start_trains, render_stop, Command, DescribedTrain,
    HistoryLine, RegionZone, TrainOutcome, TrainResult,
};
use signalbox_core::TrainState;
use signalbox_store::{AuditAction, AuditRecord, NewAudit, TrainFilter};

use crate::service::{self, Action, ServiceError, TrainView};
use crate::state::{AppState, Ctx};

/// A reply, and whether the command did what it asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatReply {
    pub text: String,
    pub status: ChatStatus,
}

/// How a command ended, for clients that act on it (`signalbox chat -c` exits non-zero unless `done`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatStatus {
    /// Done (for several trains: done for every one).
    Done,
    /// Understood, but refused: not a conductor, a train in the wrong state, a bad value.
    Refused,
    /// Not a command, or not written as the command expects.
    NotUnderstood,
    /// Signalbox could not do it just now (the store); nothing was changed.
    Failed,
}

impl ChatReply {
    /// Every reply leaves through here: control characters in it (from text
    /// stored before they were refused) are made visible, never sent raw.
    fn new(text: String, status: ChatStatus) -> ChatReply {
        ChatReply { text: signalbox_chat::render::visible(&text), status }
    }
}

/// Runs one chat command for `user`, received at `at`; `user` is a conductor
/// when listed under `[chat] conductors`.
pub async fn execute(app: &AppState, at: DateTime<Utc>, user: &str, text: &str) -> ChatReply {
    execute_as(app, at, user, text, false).await
}

/// As [`execute`], with `conductor` granting conductor rights whatever the list says
/// (a conductor's own bearer token).
pub async fn execute_as(app: &AppState, at: DateTime<Utc>, user: &str, text: &str, conductor: bool) -> ChatReply {
    let command = match parse(text) {
        Ok(command) => command,
        Err(e) => return ChatReply::new(render_parse_error(&e), ChatStatus::NotUnderstood),
    };
    let ctx = Ctx { actor: format!("chat:{user}"), at };
    let verb = command.verb();
    let conductor = conductor || app.runtime().evaluator.config().chat.conductors.iter().any(|c| c == user);
    let allowed = conductor || !command.is_mutating();
    if let Err(e) = record_command(app, &ctx, user, text, verb.as_str(), allowed).await {
        // A command that changes nothing is still answered (a conductor needs
        // `describe` and `oa` most when the store is in trouble); one that
        // would change something is not run without its record.
        if command.is_mutating() {
            return failure(&e);
        }
        tracing::warn!(error = %e, verb = verb.as_str(), "could not record a read-only chat command; answering anyway");
    }
    if !allowed {
        return ChatReply::new(render_not_conductor(user, verb), ChatStatus::Refused);
    }
    match run(app, &ctx, command).await {
        Ok(reply) => reply,
        Err(e) => failure(&e),
    }
}

fn failure(e: &ServiceError) -> ChatReply {
    match e {
        ServiceError::Internal(_) | ServiceError::Unavailable(_) => {
            tracing::error!(error = %e, "chat command failed");
            let text = "❌ Signalbox could not do that just now (nothing was changed); the details are in its log.";
            ChatReply::new(text.to_string(), ChatStatus::Failed)
        }
        other => ChatReply::new(format!("❌ {other}"), ChatStatus::Refused),
    }
}

async fn record_command(
    app: &AppState,
    ctx: &Ctx,
    user: &str,
    text: &str,
    verb: &str,
    allowed: bool,
) -> Result<(), ServiceError> {
    let entry = NewAudit {
        at: ctx.at,
        actor: ctx.actor.clone(),
        action: AuditAction::ChatCommand,
        train_id: None,
        detail: json!({ "user": user, "verb": verb, "text": text, "allowed": allowed }),
    };
    app.store.write(move |tx| tx.append_audit(&entry).map(|_| ()).map_err(ServiceError::from)).await
}

async fn run(app: &AppState, ctx: &Ctx, command: Command) -> Result<ChatReply, ServiceError> {
    let done = |text: String| ChatReply::new(text, ChatStatus::Done);
    Ok(match command {
        Command::Help => done(render_help()),
        Command::Describe { id } => match service::get_train(app, &id) {
            Ok(view) => done(render_describe(&described(app, view)?)),
            Err(ServiceError::NotFound(_)) => ChatReply::new(render_no_such_train(&id), ChatStatus::Refused),
            Err(e) => return Err(e),
        },
        Command::Outstanding => {
            let filter = TrainFilter { state: Some(TrainState::Pending), ..TrainFilter::default() };
            let views = service::list_trains(app, &filter)?
                .into_iter()
                .map(|r| service::get_train(app, &r.train.id).and_then(|v| described(app, v)))
                .collect::<Result<Vec<_>, _>>()?;
            done(render_outstanding(&views))
        }
        Command::Approve { ids, reason } => {
            let mut results = Vec::new();
            for id in ids {
                let action = Action::Approve { reason: reason.clone() };
                results.push(result_of(&id, service::act(app, ctx, &id, action).await, false)?);
            }
            by_results(render_approved(&results, reason.as_deref()), &results)
        }
        Command::Reject { ids, reason } => {
            let mut results = Vec::new();
            for id in ids {
                let action = Action::Reject { reason: reason.clone() };
                results.push(result_of(&id, service::act(app, ctx, &id, action).await, false)?);
            }
            by_results(render_rejected(&results, &reason), &results)
        }
        Command::Hold { id, reason } => {
            let action = Action::Hold { reason: reason.clone() };
            let result = result_of(&id, service::act(app, ctx, &id, action).await, true)?;
            by_results(render_held(&result, &reason), std::slice::from_ref(&result))
        }
        Command::Release { id, .. } => {
            let result = result_of(&id, service::act(app, ctx, &id, Action::Release).await, true)?;
            by_results(render_released(&result), std::slice::from_ref(&result))
        }
        Command::Reevaluate { ids } => {
            let results: Vec<TrainResult> = service::reevaluate(app, ctx, ids)
                .await?
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
            by_results(render_reevaluated(&results), &results)
        }
        Command::CreateException(request) => {
            let created = service::create_exception(app, ctx, request).await?;
            let affected = created
                .affected_trains
                .iter()
                .map(|id| service::get_train(app, id).and_then(|v| described(app, v)))
                .collect::<Result<Vec<_>, _>>()?;
            done(render_exception_created(&created.exception, &affected))
        }
        Command::ListExceptions => {
            let live: Vec<_> = service::list_exceptions(app, ctx)?.into_iter().map(|v| v.exception).collect();
            done(render_exceptions(&live, ctx.at))
        }
        Command::DeleteException { id } => {
            done(render_exception_deleted(&service::delete_exception(app, ctx, id).await?))
        }
        Command::StopTrains { scope, message } => {
            done(render_stop(&service::create_stop(app, ctx, &scope.to_ascii_lowercase(), &message).await?))
        }
        Command::StartTrains { scope } => {
            let scope = scope.to_ascii_lowercase();
            let report = service::start_trains(app, ctx, &scope).await?;
            done(render_start_trains(&scope, report.approved, report.rejected, report.pending))
        }
    })
}

/// Done when every train's part was done, else refused.
fn by_results(text: String, results: &[TrainResult]) -> ChatReply {
    let all_done = results.iter().all(|r| matches!(r.outcome, TrainOutcome::Done { .. }));
    ChatReply::new(text, if all_done { ChatStatus::Done } else { ChatStatus::Refused })
}

/// A per-train outcome; refusals about the train (not found, conflict, bad
/// id) become a line of the reply, anything else fails the command.
fn result_of(
    id: &str,
    result: Result<TrainView, ServiceError>,
    with_summary: bool,
) -> Result<TrainResult, ServiceError> {
    let train_id = id.to_ascii_uppercase();
    let outcome = match result {
        Ok(view) => TrainOutcome::Done { state: view.state, summary: with_summary.then_some(view.decision.summary) },
        Err(ServiceError::NotFound(m) | ServiceError::Conflict(m) | ServiceError::Invalid(m)) => {
            TrainOutcome::Refused { reason: m }
        }
        Err(e) => return Err(e),
    };
    Ok(TrainResult { train_id, outcome })
}

/// The chat crate's view of a train: history as lines, and its hold.
fn described(app: &AppState, view: TrainView) -> Result<DescribedTrain, ServiceError> {
    let hold = app.store.read(|tx| tx.get_hold(&view.train.id))?;
    let runtime = app.runtime();
    let regions = &runtime.evaluator.config().regions;
    let timezones = view
        .train
        .regions
        .iter()
        .filter_map(|name| regions.get(name).map(|r| (name, r)))
        .map(|(name, r)| RegionZone { region: name.clone(), timezone: r.timezone.name().to_string() })
        .collect();
    Ok(DescribedTrain {
        history: view.history.iter().map(history_line).collect(),
        train: view.train,
        state: view.state,
        decision: view.decision,
        hold,
        timezones,
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
    HistoryLine { at: record.at, actor: record.actor.clone(), action: record.action.to_string(), detail: text }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text stored before control characters were refused is shown escaped.
    #[test]
    fn a_reply_never_carries_a_raw_control_character() {
        let reply = ChatReply::new("🚆 CHG1 Deploy \u{1b}[2J\u{1b}]0;x\u{7}\0\n\tok".into(), ChatStatus::Done);
        assert_eq!(reply.text, "🚆 CHG1 Deploy \\u{1b}[2J\\u{1b}]0;x\\u{7}\\u{0}\n\tok");
    }
}
