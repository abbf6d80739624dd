//! Results to reply text: plain text that reads well in Slack.
//!
//! Tables are monospace in code blocks, each failed policy gets a ⚠️, free
//! text from users is kept to one line inside tables. Replies carry no Slack
//! control sequences (`<@U…>`, `<!here>`), so a Slack transport may pass the
//! whole reply through [`slack_escape`] and a terminal client may print it as is.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use signalbox_core::{Exception, Finding, Outcome, Stop, TrainState};

use crate::command::Verb;
use crate::error::ParseError;
use crate::text::{count, instant, one_line, table, time_left, truncate, window};
use crate::view::{DescribedTrain, TrainOutcome, TrainResult};

/// The `describe` and `oa` columns, as docs/chat.md shows them.
const TRAIN_HEADERS: [&str; 6] = ["Train", "Who", "State", "Env", "Title", "Policy"];

/// Longest title `oa` and exception replies show before cutting it.
const TITLE_CHARS: usize = 50;

/// `describe <id>`: failed policies first, then the train's row, its
/// justification, CRB approval, window, hold, latest decision and history.
pub fn render_describe(view: &DescribedTrain) -> String {
    let mut out = Vec::new();
    let findings = sorted_findings(&view.decision.findings);
    if findings.is_empty() {
        out.push("✅ all policies passed".to_string());
    }
    for f in &findings {
        out.push(finding_line(f));
    }
    out.push(table(&TRAIN_HEADERS, &[train_row(view, usize::MAX)]));
    let train = &view.train;
    out.push(format!("*Justification:* {}", train.justification().map_or_else(|| "none".to_string(), one_line)));
    out.push(format!("*CRB approval:* {}", if train.crb_approved { "yes" } else { "no" }));
    out.push(format!("*Window:* {}", window(train.planned_start, train.planned_end)));
    if view.decision.outcome != Outcome::Approved {
        out.extend(forecast_lines(view));
    }
    out.push(format!(
        "*Regions:* {} · *Service:* {} · *Configuration item:* {}",
        train.regions.join(", "),
        train.service,
        train.configuration_item
    ));
    if let Some(version) = train.version.as_deref() {
        out.push(format!("*Version:* {version}"));
    }
    if let Some(hold) = &view.hold {
        out.push(format!("*On hold:* since {} by {}: {}", instant(hold.at), hold.by, one_line(&hold.reason)));
    }
    out.push(decision_line(view));
    out.push(history(view));
    out.join("\n")
}

/// When the train could pass (the decision's `retry_at` and `suggested_window`),
/// in UTC and in the local time of each of its regions' time zones.
fn forecast_lines(view: &DescribedTrain) -> Vec<String> {
    let zones = time_zones(view);
    let d = &view.decision;
    let local = |text: Vec<String>| if text.is_empty() { String::new() } else { format!(" ({})", text.join(", ")) };
    let retry = d.retry_at.map(|at| {
        let text = zones.iter().map(|tz| local_instant(at, *tz)).collect();
        format!("*Could pass:* if re-evaluated at {}{}", instant(at), local(text))
    });
    let suggested = d.suggested_window.map(|w| {
        let text = zones.iter().map(|tz| local_window(w.start, w.end, *tz)).collect();
        format!("*Suggested window:* {}{}", window(w.start, w.end), local(text))
    });
    match (retry, suggested) {
        (None, None) => vec!["*Could pass:* not by waiting (within its window or the next 14 days)".to_string()],
        (retry, suggested) => vec![
            retry.unwrap_or_else(|| "*Could pass:* not by re-evaluating within its window".to_string()),
            suggested.unwrap_or_else(|| "*Suggested window:* none starting within 14 days".to_string()),
        ],
    }
}

/// The time zones of the train's regions, each once, in the order of its regions.
fn time_zones(view: &DescribedTrain) -> Vec<Tz> {
    let mut zones: Vec<Tz> = Vec::new();
    for region in &view.train.regions {
        let zone = view.timezones.iter().find(|z| z.region == *region).and_then(|z| z.timezone.parse::<Tz>().ok());
        if let Some(zone) = zone.filter(|z| !zones.contains(z)) {
            zones.push(zone);
        }
    }
    zones
}

/// `18:00 America/Chicago`, with the local date when it is not the UTC date.
pub fn local_instant(at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    let format = if local.date_naive() == at.date_naive() { "%H:%M" } else { "%Y-%m-%d %H:%M" };
    format!("{} {}", local.format(format), tz.name())
}

/// `18:00–20:00 America/Chicago` as [`window`] writes UTC: the local date when it
/// is not the UTC start's date, both dates when the window crosses local midnight.
pub fn local_window(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let (from, to) = (start.with_timezone(&tz), end.with_timezone(&tz));
    if from.date_naive() != to.date_naive() {
        return format!("{} – {} {}", from.format("%Y-%m-%d %H:%M"), to.format("%Y-%m-%d %H:%M"), tz.name());
    }
    let format = if from.date_naive() == start.date_naive() { "%H:%M" } else { "%Y-%m-%d %H:%M" };
    format!("{}–{} {}", from.format(format), to.format("%H:%M"), tz.name())
}

/// `⚠️ *global.sla*: no SLA defined`, with the outcome when it is a rejection.
fn finding_line(f: &Finding) -> String {
    let outcome = match f.outcome {
        Outcome::Rejected => " (rejected)",
        Outcome::Manual | Outcome::Approved => "",
    };
    format!("⚠️ *{}*{outcome}: {}", f.policy, one_line(&f.message))
}

fn sorted_findings(findings: &[Finding]) -> Vec<&Finding> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| f.priority);
    sorted
}

fn train_row(view: &DescribedTrain, title_chars: usize) -> Vec<String> {
    let findings = sorted_findings(&view.decision.findings);
    let policies = if findings.is_empty() {
        "-".to_string()
    } else {
        findings.iter().map(|f| f.policy.as_str()).collect::<Vec<_>>().join(", ")
    };
    vec![
        view.train.id.clone(),
        view.train.squad.clone(),
        view.state.to_string(),
        view.train.environment.clone(),
        truncate(&view.train.title, title_chars),
        policies,
    ]
}

fn decision_line(view: &DescribedTrain) -> String {
    let d = &view.decision;
    let applied = if d.exceptions_applied.is_empty() {
        String::new()
    } else {
        format!("; exceptions applied: {}", d.exceptions_applied.join(", "))
    };
    format!("*Decision:* {} at {} by {} ({}{applied})", d.outcome, instant(d.evaluated_at), d.actor, d.decision_id)
}

fn history(view: &DescribedTrain) -> String {
    if view.history.is_empty() {
        return "*History:* none recorded".to_string();
    }
    let mut lines: Vec<_> = view.history.iter().collect();
    // Stable: entries at the same instant keep the order they were given in.
    lines.sort_by_key(|h| h.at);
    let mut out = vec!["*History:*".to_string()];
    for h in lines {
        let detail = one_line(&h.detail);
        let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
        out.push(format!("• {} · {} · {}{detail}", instant(h.at), h.actor, h.action));
    }
    out.join("\n")
}

/// `oa`: pending trains, oldest first, one row each.
pub fn render_outstanding(trains: &[DescribedTrain]) -> String {
    let pending = pending_oldest_first(trains);
    if pending.is_empty() {
        return "✅ No trains are waiting for a conductor.".to_string();
    }
    let rows: Vec<Vec<String>> = pending.iter().map(|v| train_row(v, TITLE_CHARS)).collect();
    [
        format!("*{} waiting for a conductor*, oldest first:", count(pending.len(), "train")),
        table(&TRAIN_HEADERS, &rows),
        "`describe <id>` says why; `approve <id>...` or `reject <id>... because <text>` decides.".to_string(),
    ]
    .join("\n")
}

fn pending_oldest_first(trains: &[DescribedTrain]) -> Vec<&DescribedTrain> {
    let mut pending: Vec<&DescribedTrain> = trains.iter().filter(|v| v.state == TrainState::Pending).collect();
    pending.sort_by(|a, b| (a.submitted_at(), &a.train.id).cmp(&(b.submitted_at(), &b.train.id)));
    pending
}

/// A notice for a conductors' channel: trains a decision has left waiting for
/// a conductor, each with its row and its failed policies, and how to decide.
pub fn render_pending_notice(trains: &[DescribedTrain]) -> String {
    let mut out = Vec::new();
    let several = trains.len() > 1;
    match trains {
        [one] => out.push(format!("⏳ *{}* is waiting for a conductor:", one.train.id)),
        _ => out.push(format!("⏳ *{} waiting for a conductor:*", count(trains.len(), "train"))),
    }
    let rows: Vec<Vec<String>> = trains.iter().map(|v| train_row(v, TITLE_CHARS)).collect();
    out.push(table(&TRAIN_HEADERS, &rows));
    for view in trains {
        for f in sorted_findings(&view.decision.findings) {
            let line = finding_line(f);
            out.push(if several { line.replacen("⚠️ ", &format!("⚠️ {} ", view.train.id), 1) } else { line });
        }
    }
    let id = match trains {
        [one] => one.train.id.as_str(),
        _ => "<id>",
    };
    out.push(format!("`describe {id}` says more; `approve {id}` or `reject {id} because <text>` decides."));
    out.join("\n")
}

/// `list exceptions`: id, result, path, scope, who, time left, justification.
pub fn render_exceptions(exceptions: &[Exception], now: DateTime<Utc>) -> String {
    if exceptions.is_empty() {
        return "No exceptions are in force. `help` shows how to create one.".to_string();
    }
    let mut sorted: Vec<&Exception> = exceptions.iter().collect();
    sorted.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.result.to_string(),
                e.policy.clone(),
                scope_column(e),
                e.created_by.clone(),
                time_left(e.expires_at, now),
                e.justification.clone(),
            ]
        })
        .collect();
    [
        format!("*{} in force:*", count(sorted.len(), "exception")),
        table(&["Id", "Result", "Path", "Scope", "Who", "Left", "Justification"], &rows),
    ]
    .join("\n")
}

/// `containers-kubernetes/tugboat-updater/*`: configuration item, squad, service.
fn scope_column(e: &Exception) -> String {
    [&e.configuration_item, &e.squad, &e.service]
        .iter()
        .map(|part| part.as_deref().filter(|p| !p.is_empty()).unwrap_or("*"))
        .collect::<Vec<_>>()
        .join("/")
}

/// `every train`, or the named scope parts in words.
fn scope_phrase(e: &Exception) -> String {
    let named: Vec<String> =
        [("configuration item", &e.configuration_item), ("squad", &e.squad), ("service", &e.service)]
            .iter()
            .filter_map(|(label, part)| {
                part.as_deref().filter(|p| !p.is_empty() && *p != "*").map(|p| format!("{label} {p}"))
            })
            .collect();
    if named.is_empty() {
        "every train".to_string()
    } else {
        format!("trains of {}", named.join(", "))
    }
}

/// The reply to `create exception`: what it does, until when, and which pending
/// trains it would change with the `reevaluate` line that applies it to them.
pub fn render_exception_created(exception: &Exception, affected: &[DescribedTrain]) -> String {
    let e = exception;
    let lasting = signalbox_core::time::format_duration(e.expires_at - e.created_at);
    let mut out = vec![
        format!(
            "✅ Exception *{}* created: `{}` is *{}* for {}, for {lasting} (until {}).",
            e.id,
            e.policy,
            e.result,
            scope_phrase(e),
            instant(e.expires_at)
        ),
        format!("*Justification:* {}", one_line(&e.justification)),
    ];
    let pending = pending_oldest_first(affected);
    if pending.is_empty() {
        out.push("No pending train would change; it applies to every evaluation from now on.".to_string());
        return out.join("\n");
    }
    let rows: Vec<Vec<String>> = pending.iter().map(|v| train_row(v, TITLE_CHARS)).collect();
    let ids: Vec<&str> = pending.iter().map(|v| v.train.id.as_str()).collect();
    out.push(format!(
        "Once re-evaluated, {} would change (exceptions are not retroactive):",
        count(pending.len(), "pending train")
    ));
    out.push(table(&TRAIN_HEADERS, &rows));
    out.push("To apply it to them, send:".to_string());
    out.push(format!("```\nreevaluate {}\n```", ids.join(" ")));
    out.join("\n")
}

/// The reply to `delete exception <id>`.
pub fn render_exception_deleted(exception: &Exception) -> String {
    format!(
        "🗑️ Exception *{}* ({} `{}` for {}) deleted: it applies to no evaluation from now on. \
         Trains decided under it keep their decision until re-evaluated.",
        exception.id,
        exception.result,
        exception.policy,
        scope_phrase(exception)
    )
}

/// The reply to `stop trains <scope> <message>`.
pub fn render_stop(stop: &Stop) -> String {
    let by = if stop.created_by.is_empty() { String::new() } else { format!(" by {}", stop.created_by) };
    format!(
        "🛑 Trains stopped for *{}* (stop {}{by}): {}\n\
         Trains it covers cannot start, and while it lasts their evaluations need a conductor (`global.cie`). \
         `start trains {}` lifts it after triage.",
        stop.scope,
        stop.id,
        one_line(&stop.message),
        stop.scope
    )
}

/// The reply to `start trains <scope>`, counting what re-evaluation did.
pub fn render_start_trains(scope: &str, approved: usize, rejected: usize, pending: usize) -> String {
    let mut out = vec![format!("🚦 Lifted the stops on *{scope}*.")];
    if scope != "all" {
        out.push("Stops on other scopes, `all` included, stay in place.".to_string());
    }
    let total = approved + rejected + pending;
    if total == 0 {
        out.push("No pending trains needed re-evaluating.".to_string());
    } else {
        out.push(format!(
            "Re-evaluated {}: {approved} approved, {rejected} rejected, {pending} still pending.",
            count(total, "pending train")
        ));
    }
    if pending > 0 {
        out.push("`oa` lists the ones still waiting.".to_string());
    }
    out.join("\n")
}

/// The reply to `approve <id>...`.
pub fn render_approved(results: &[TrainResult], reason: Option<&str>) -> String {
    let mut out = results_lines(results, "✅", "approved", "not approved");
    if let Some(reason) = reason {
        out.push(format!("*Reason:* {}", one_line(reason)));
    }
    out.join("\n")
}

/// The reply to `reject <id>... because <text>`.
pub fn render_rejected(results: &[TrainResult], reason: &str) -> String {
    let mut out = results_lines(results, "⛔", "rejected", "not rejected");
    out.push(format!("*Reason:* {}", one_line(reason)));
    out.join("\n")
}

/// The reply to `hold <id> because <text>`.
pub fn render_held(result: &TrainResult, reason: &str) -> String {
    let mut out = results_lines(std::slice::from_ref(result), "✋", "on hold", "not held");
    out.push(format!("*Reason:* {}", one_line(reason)));
    out.push(format!("`release {}` lifts the hold.", result.train_id));
    out.join("\n")
}

/// The reply to `release <id>`: the hold is lifted and the train re-evaluated.
pub fn render_released(result: &TrainResult) -> String {
    let line = match &result.outcome {
        TrainOutcome::Done { state, summary } => format!(
            "▶️ {} released and re-evaluated: {}",
            result.train_id,
            state_and_summary(*state, summary.as_deref())
        ),
        TrainOutcome::Refused { reason } => {
            format!("❌ {} not released: {}", result.train_id, one_line(reason))
        }
    };
    line
}

/// The reply to `reevaluate <id>...`: each train's new state and decision, or why not.
pub fn render_reevaluated(results: &[TrainResult]) -> String {
    results
        .iter()
        .map(|r| match &r.outcome {
            TrainOutcome::Done { state, summary } => {
                format!("{} {}: {}", state_icon(*state), r.train_id, state_and_summary(*state, summary.as_deref()))
            }
            TrainOutcome::Refused { reason } => {
                format!("❌ {} not re-evaluated: {}", r.train_id, one_line(reason))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn results_lines(results: &[TrainResult], icon: &str, done: &str, refused: &str) -> Vec<String> {
    results
        .iter()
        .map(|r| match &r.outcome {
            TrainOutcome::Done { state, .. } => {
                let now = if state.as_str() == done { String::new() } else { format!(", now {state}") };
                format!("{icon} {} {done}{now}", r.train_id)
            }
            TrainOutcome::Refused { reason } => {
                format!("❌ {} {refused}: {}", r.train_id, one_line(reason))
            }
        })
        .collect()
}

fn state_and_summary(state: TrainState, summary: Option<&str>) -> String {
    let still = if state == TrainState::Pending { "still " } else { "" };
    match summary {
        Some(s) => format!("{still}{state} ({})", one_line(s)),
        None => format!("{still}{state}"),
    }
}

fn state_icon(state: TrainState) -> &'static str {
    match state {
        TrainState::Approved => "✅",
        TrainState::Rejected => "⛔",
        TrainState::Pending => "⏳",
        TrainState::Started | TrainState::Completed | TrainState::Aborted => "•",
    }
}

/// Every command with its syntax.
pub fn render_help() -> String {
    let mut out =
        vec!["*Signalbox commands.* Verbs and train ids are case-insensitive; `<id>...` takes one or more train ids."
            .to_string()];
    for verb in Verb::ALL {
        out.push(format!("• `{}` — {}", verb.usage(), verb.summary()));
    }
    out.push(
        "Example: `create exception approved business_hours lasting 4h for containers-kubernetes tugboat-updater because CAB approved CHG7687021`"
            .to_string(),
    );
    out.push(
        "Anyone may use `help`, `describe`, `oa` and `list exceptions`; the other commands need a conductor."
            .to_string(),
    );
    out.join("\n")
}

/// The reply to a mutating command from someone who is not a conductor.
pub fn render_not_conductor(user: &str, verb: Verb) -> String {
    format!(
        "🔒 `{verb}` needs a conductor, and {user} is not one. \
         Conductors are the chat user ids listed under `[chat] conductors` in signalbox.toml: \
         ask whoever runs Signalbox to add {user} there. \
         Anyone may use `help`, `describe`, `oa` and `list exceptions`."
    )
}

/// The reply to text that is not a command: the error, then the command's syntax.
pub fn render_parse_error(error: &ParseError) -> String {
    match error.usage() {
        Some(usage) => format!("🤔 {error}\nUsage: `{usage}`"),
        None => format!("🤔 {error}"),
    }
}

/// The reply when a command names a train that is not recorded.
pub fn render_no_such_train(id: &str) -> String {
    format!("❓ No train {id} is recorded. `oa` lists the pending ones.")
}

/// `text` with every control character but newline and tab written as a
/// visible escape (`\u{1b}`): what a reply may carry to a terminal or to
/// Slack. The transports pass every rendered reply through it.
pub fn visible(text: &str) -> String {
    signalbox_core::text::escape(text).into_owned()
}

/// Escapes the three characters Slack treats as markup (`&`, `<`, `>`), so
/// text from users and pipelines cannot mention people or forge links.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
