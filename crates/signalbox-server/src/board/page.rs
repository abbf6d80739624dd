//! The board's HTML. Every state is written in words as well as shown in
//! colour, every action is a plain form (it works by keyboard and without the
//! script), and all text is escaped by the templates.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{html, Markup, DOCTYPE};
use signalbox_chat::when::{instant, local_instant, local_window, time_left, window};
use signalbox_core::config::Role;
use signalbox_core::{Finding, Outcome};

use crate::service::{BoardView, ExceptionView, PendingTrain, RegionNow, SessionUser, MAX_PENDING};

/// A message at the top of the page: what an action did, or why it was refused.
pub enum Notice {
    Done(String),
    Error(String),
}

fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                link rel="stylesheet" href="/board/static/board.css";
                script src="/board/static/board.js" defer {}
            }
            body { (body) }
        }
    }
}

fn notice(notice: Option<&Notice>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Done(text)) => p.notice.done role="status" { "Done: " (text) },
            Some(Notice::Error(text)) => p.notice.error role="alert" { "Refused: " (text) },
            None => {},
        }
    }
}

/// The sign-in form, with why the last attempt failed if it did.
pub fn sign_in(error: Option<&Notice>) -> Markup {
    document(
        "Sign in · Signalbox board",
        html! {
            main.signin {
                h1 { "Signalbox board" }
                (notice(error))
                form #signin method="post" action="/board/signin" {
                    label for="token" { "Bearer token" }
                    input #token type="password" name="token" autocomplete="off" required autofocus;
                    button type="submit" { "Sign in" }
                }
                p.hint { "Sign in once with a Signalbox token; the browser keeps a session for 12 hours. Conductors can act on trains; other roles can only read." }
            }
        },
    )
}

/// The whole page for a signed-in user.
pub fn board(user: &SessionUser, view: &BoardView, message: Option<&Notice>) -> Markup {
    document(
        "Signalbox board",
        html! {
            header {
                h1 { "Signalbox board" }
                p #who { "Signed in as " strong { (user.name) } " (" (user.role.as_str()) ")" }
                p #live role="status" aria-live="polite" { "not live: updates need JavaScript" }
                form #signout method="post" action="/board/signout" {
                    button type="submit" { "Sign out" }
                }
            }
            (notice(message))
            main #board data-at=(view.at.to_rfc3339()) { (content(user, view)) }
        },
    )
}

/// What the live updates replace: everything below the header.
pub fn content(user: &SessionUser, view: &BoardView) -> Markup {
    let conductor = user.role == Role::Conductor;
    html! {
        p.asof { "As of " (instant(view.at)) }
        (trains(view, conductor))
        (stops(view))
        (exceptions(view, conductor))
        (freezes(view))
        (regions(view))
    }
}

fn trains(view: &BoardView, conductor: bool) -> Markup {
    html! {
        section #trains aria-labelledby="trains-title" {
            h2 #trains-title { "Pending trains (" (view.pending_total) ")" }
            @if view.pending.is_empty() {
                p.empty { "No train is waiting." }
            }
            @for pending in &view.pending { (train(pending, view.at, conductor)) }
            @if view.pending_total > view.pending.len() as u64 {
                p.more { "Showing the oldest " (MAX_PENDING) "; use `oa` in chat or the API for the rest." }
            }
        }
    }
}

fn train(pending: &PendingTrain, at: DateTime<Utc>, conductor: bool) -> Markup {
    let t = &pending.record.train;
    let d = &pending.record.decision;
    let mut findings: Vec<&Finding> = d.findings.iter().collect();
    findings.sort_by_key(|f| f.priority);
    let id = &t.id;
    html! {
        article.train id={ "train-" (id) } data-train=(id) aria-labelledby={ "train-" (id) "-title" } {
            h3 id={ "train-" (id) "-title" } { (id) " · " (t.title) }
            p.meta {
                (t.squad) "/" (t.service) " · " (t.environment) " · " (t.regions.join(", "))
            }
            p.window {
                "Window " (window(t.planned_start, t.planned_end))
                @for tz in &pending.zones { " (" (local_window(t.planned_start, t.planned_end, *tz)) ")" }
                " · " span.time-left { (window_left(t.planned_start, t.planned_end, at)) }
            }
            @if let Some(j) = &t.exception_justification { p.justification { "Justification: " (j) } }
            @if let Some(hold) = &pending.hold {
                p.held { "On hold since " (instant(hold.at)) " by " (hold.by) ": " (hold.reason) }
            }
            p.outcome { "Decision: " strong { (outcome_word(d.outcome)) } " · " (d.summary) }
            ul.findings aria-label="Failed policies, in priority order" {
                @for f in findings {
                    li class={ "finding " (outcome_word(f.outcome)) } {
                        "⚠️ " strong { (outcome_word(f.outcome).to_uppercase()) } " " code { (f.policy) } ": " (f.message)
                        @if let Some(x) = &f.exception_id { " (exception " (x) ")" }
                    }
                }
            }
            (forecast(pending))
            @if conductor { (train_actions(id, pending.record.state == signalbox_core::TrainState::Pending)) }
        }
    }
}

fn forecast(pending: &PendingTrain) -> Markup {
    let d = &pending.record.decision;
    let local = |text: Vec<String>| if text.is_empty() { String::new() } else { format!(" ({})", text.join(", ")) };
    html! {
        @match (d.retry_at, d.suggested_window) {
            (None, None) => p.forecast { "Could pass: not by waiting (within its window or the next 14 days)" },
            (retry, suggested) => {
                p.forecast.retry {
                    @if let Some(at) = retry {
                        "Could pass if re-evaluated at " (instant(at))
                        (local(pending.zones.iter().map(|tz| local_instant(at, *tz)).collect()))
                    } @else { "Could pass: not by re-evaluating within its window" }
                }
                p.forecast.suggested {
                    @if let Some(w) = suggested {
                        "Suggested window: " (window(w.start, w.end))
                        (local(pending.zones.iter().map(|tz| local_window(w.start, w.end, *tz)).collect()))
                    } @else { "Suggested window: none starting within 14 days" }
                }
            }
        }
    }
}

fn train_actions(id: &str, pending: bool) -> Markup {
    html! {
        div.actions {
            @if pending {
                form method="post" action={ "/board/trains/" (id) "/approve" } {
                    button.approve type="submit" { "Approve " (id) }
                }
                form method="post" action={ "/board/trains/" (id) "/reject" } {
                    label { "Reason " input name="reason" required maxlength="1000"; }
                    button.reject type="submit" { "Reject " (id) }
                }
            }
            form method="post" action={ "/board/trains/" (id) "/hold" } {
                label { "Reason " input name="reason" required maxlength="1000"; }
                button.hold type="submit" { "Hold " (id) }
            }
            form method="post" action={ "/board/trains/" (id) "/reevaluate" } {
                button.reevaluate type="submit" { "Re-evaluate " (id) }
            }
        }
    }
}

fn stops(view: &BoardView) -> Markup {
    html! {
        section #stops aria-labelledby="stops-title" {
            h2 #stops-title { "Active stops (" (view.stops.len()) ")" }
            @if view.stops.is_empty() { p.empty { "No stop: trains are running." } }
            ul {
                @for s in &view.stops {
                    li.stop data-stop=(s.id) {
                        strong { "STOPPED " } code { (s.id) } " scope " code { (s.scope) } ": " (s.message)
                        " · by " (s.created_by) " since " (instant(s.created_at))
                    }
                }
            }
        }
    }
}

fn exceptions(view: &BoardView, conductor: bool) -> Markup {
    html! {
        section #exceptions aria-labelledby="exceptions-title" {
            h2 #exceptions-title { "Live exceptions (" (view.exceptions.len()) ")" }
            @if view.exceptions.is_empty() { p.empty { "No exception is live." } }
            ul { @for x in &view.exceptions { (exception(x, view.at, conductor)) } }
            @if conductor { (new_exception()) }
        }
    }
}

fn exception(view: &ExceptionView, at: DateTime<Utc>, conductor: bool) -> Markup {
    let x = &view.exception;
    let scope: Vec<&str> =
        [&x.configuration_item, &x.squad, &x.service].into_iter().map(|p| p.as_deref().unwrap_or("*")).collect();
    html! {
        li.exception data-exception=(x.id) {
            code { (x.id) } " " code { (x.policy) } " → " strong { (outcome_word(x.result)) }
            " for " code { (scope.join("/")) } " · " (time_left(x.expires_at, at)) " left · " (x.justification)
            " · by " (x.created_by)
            @if conductor {
                form.inline method="post" action={ "/board/exceptions/" (x.id) "/delete" } {
                    button.delete type="submit" { "Delete " (x.id) }
                }
            }
        }
    }
}

fn new_exception() -> Markup {
    html! {
        details.new-exception {
            summary { "Create an exception" }
            form #create-exception method="post" action="/board/exceptions" {
                label { "Policy " input name="policy" required placeholder="global.business_hours"; }
                label { "Result "
                    select name="result" {
                        option value="approved" { "approved" }
                        option value="manual" { "manual" }
                        option value="rejected" { "rejected" }
                    }
                }
                label { "Duration " input name="duration" required placeholder="4h"; }
                label { "Configuration item " input name="configuration_item" placeholder="* (any)"; }
                label { "Squad " input name="squad" placeholder="* (any)"; }
                label { "Service " input name="service" placeholder="* (any)"; }
                label { "Justification " input name="justification" required maxlength="1000"; }
                button type="submit" { "Create exception" }
            }
        }
    }
}

fn freezes(view: &BoardView) -> Markup {
    html! {
        section #freezes aria-labelledby="freezes-title" {
            h2 #freezes-title { "Freezes in the next 14 days (" (view.freezes.len()) ")" }
            @if view.freezes.is_empty() { p.empty { "No freeze." } }
            ul {
                @for f in &view.freezes {
                    li.freeze {
                        @if f.start <= view.at { strong { "IN FORCE " } } @else { strong { "COMING " } }
                        (f.name) " · " (window(f.start, f.end))
                        " · " (f.environments.as_ref().map_or("every environment".to_string(), |e| e.join(", ")))
                        " · " (f.regions.as_ref().map_or("every region".to_string(), |r| r.join(", ")))
                        @if !f.reason.is_empty() { " · " (f.reason) }
                    }
                }
            }
        }
    }
}

fn regions(view: &BoardView) -> Markup {
    html! {
        section #regions aria-labelledby="regions-title" {
            h2 #regions-title { "Regions" }
            table {
                thead { tr { th scope="col" { "Region" } th scope="col" { "Local time" } th scope="col" { "Business hours" } th scope="col" { "Now" } } }
                tbody { @for r in &view.regions { (region(r, view.at)) } }
            }
        }
    }
}

fn region(r: &RegionNow, at: DateTime<Utc>) -> Markup {
    let now = if r.holiday {
        "holiday"
    } else if r.open {
        "open"
    } else {
        "closed"
    };
    html! {
        tr.region data-region=(r.name) {
            th scope="row" { (r.name) }
            td { (local_time(at, r.timezone)) }
            td { (days(&r.hours.days)) " " (r.hours.hours_text()) }
            td class={ "hours " (now) } { (now) }
        }
    }
}

fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    format!("{} {}", at.with_timezone(&tz).format("%a %H:%M"), tz.name())
}

fn days(days: &std::collections::BTreeSet<u8>) -> String {
    const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    days.iter().filter_map(|d| NAMES.get(usize::from(*d)).copied()).collect::<Vec<_>>().join(" ")
}

fn outcome_word(outcome: Outcome) -> &'static str {
    outcome.as_str()
}

/// `starts in 2h`, `3h12m left`, `window over`.
fn window_left(start: DateTime<Utc>, end: DateTime<Utc>, at: DateTime<Utc>) -> String {
    if at < start {
        format!("starts in {}", time_left(start, at))
    } else if at < end {
        format!("{} left in its window", time_left(end, at))
    } else {
        "its window is over".to_string()
    }
}

/// A page that says only what went wrong, with a way back.
pub fn error(status: axum::http::StatusCode, text: &str) -> Markup {
    document(
        "Signalbox board",
        html! {
            main.signin {
                h1 { "Signalbox board" }
                p.notice.error role="alert" { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) ": " (text) }
                p { a href="/board" { "Back to the board" } }
            }
        },
    )
}
