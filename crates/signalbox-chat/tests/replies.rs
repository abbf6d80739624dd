//! Every reply, snapshot-tested: these are read by people, so each snapshot
//! was reviewed by eye. Decisions are not snapshot-tested anywhere.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))] // tests: a panic is a failed test

use chrono::{DateTime, TimeDelta, Utc};
use insta::assert_snapshot;
use signalbox_chat::*;
use signalbox_core::{Decision, Exception, Finding, Hold, Outcome, Stop, Train, TrainState, Window};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn train(id: &str, squad: &str, title: &str) -> Train {
    Train {
        id: id.to_string(),
        squad: squad.to_string(),
        service: "auto-update".to_string(),
        configuration_item: "containers-kubernetes".to_string(),
        environment: "production".to_string(),
        regions: vec!["us-south".to_string(), "eu-de".to_string()],
        title: title.to_string(),
        version: Some("81ed70".to_string()),
        planned_start: at("2026-11-23T15:00:00Z"),
        planned_end: at("2026-11-23T17:00:00Z"),
        exception_justification: None,
        crb_approved: false,
        stage_deployed_at: None,
    }
}

fn finding(policy: &str, priority: u32, outcome: Outcome, message: &str) -> Finding {
    Finding {
        policy: policy.to_string(),
        priority,
        outcome,
        message: message.to_string(),
        exception_id: None,
        policy_error: false,
    }
}

fn decision(train_id: &str, findings: Vec<Finding>, evaluated_at: &str) -> Decision {
    let outcome = signalbox_core::decision::overall_outcome(&findings);
    Decision {
        decision_id: format!("dec_{train_id}"),
        train_id: train_id.to_string(),
        outcome,
        summary: signalbox_core::decision::summary(outcome, &findings),
        findings,
        exceptions_applied: vec![],
        evaluated_at: at(evaluated_at),
        policy_revision: "sha256:abc".to_string(),
        actor: "pipeline:deploy-bot".to_string(),
        retry_at: None,
        suggested_window: None,
    }
}

/// The time zones of the default train's regions, as the server hands them over.
fn zones() -> Vec<RegionZone> {
    [("us-south", "America/Chicago"), ("eu-de", "Europe/Berlin")]
        .map(|(region, timezone)| RegionZone { region: region.to_string(), timezone: timezone.to_string() })
        .to_vec()
}

/// A train in business hours that could pass later: its decision's forecast set.
fn waiting_train(retry_at: Option<&str>, suggested: Option<(&str, &str)>) -> DescribedTrain {
    let findings = vec![finding(
        "global.business_hours",
        3,
        Outcome::Manual,
        "the window overlaps business hours in us-south (08:00-18:00 America/Chicago) and no exception justification supplied",
    )];
    let mut t = train("CHG5550003", "tugboat-updater", "Deploy razeeapi (81ed70 to 9a0b1c)");
    t.planned_start = at("2026-12-07T22:00:00Z");
    t.planned_end = at("2026-12-08T02:00:00Z");
    let mut decision = decision("CHG5550003", findings, "2026-12-07T22:00:00Z");
    decision.retry_at = retry_at.map(at);
    decision.suggested_window = suggested.map(|(start, end)| Window { start: at(start), end: at(end) });
    DescribedTrain { decision, train: t, state: TrainState::Pending, history: vec![], hold: None, timezones: zones() }
}

fn history(at_text: &str, actor: &str, action: &str, detail: &str) -> HistoryLine {
    HistoryLine { at: at(at_text), actor: actor.to_string(), action: action.to_string(), detail: detail.to_string() }
}

/// A held production train failing three policies, history given newest first.
fn held_train() -> DescribedTrain {
    let findings = vec![
        // Out of order on purpose: describe lists them by priority.
        finding("global.sla", 6, Outcome::Manual, "no SLA defined"),
        finding(
            "scheduling.change_freeze",
            2,
            Outcome::Manual,
            "there is a scheduled change freeze (year-end) and no exception justification supplied",
        ),
        finding("global.on_hold", 5, Outcome::Manual, "held by U024BE7LH: waiting for the DB team"),
    ];
    let decision = decision("CHG7687021", findings, "2026-11-23T14:30:00Z");
    DescribedTrain {
        train: train("CHG7687021", "tugboat-updater", "Deploy razeeapi (e1176f to 81ed70)"),
        state: TrainState::Pending,
        history: vec![
            history("2026-11-23T14:30:00Z", "U024BE7LH", "held", "waiting for the DB team"),
            history(
                "2026-11-23T14:00:00Z",
                "pipeline:deploy-bot",
                "submitted",
                "manual => scheduling.change_freeze: there is a scheduled change freeze (year-end) and no exception justification supplied; global.sla: no SLA defined",
            ),
        ],
        hold: Some(Hold {
            train_id: "CHG7687021".to_string(),
            by: "U024BE7LH".to_string(),
            reason: "waiting for the DB team".to_string(),
            at: at("2026-11-23T14:30:00Z"),
        }),
        decision,
        timezones: zones(),
    }
}

/// A train that passed, with a justification and CRB approval.
fn approved_train() -> DescribedTrain {
    let mut t = train("CHG8147162", "netint", "Rotate cbr-subnet certificates");
    t.exception_justification = Some("CAB approved on 2026-11-20, see thread".to_string());
    t.crb_approved = true;
    t.version = None;
    t.planned_end = at("2026-11-24T01:00:00Z");
    DescribedTrain {
        decision: decision("CHG8147162", vec![], "2026-11-23T13:00:00Z"),
        train: t,
        state: TrainState::Approved,
        history: vec![history(
            "2026-11-23T13:00:00Z",
            "pipeline:deploy-bot",
            "submitted",
            "approved => all policies passed",
        )],
        hold: None,
        timezones: zones(),
    }
}

/// A train whose window was over when it was decided.
fn late_train() -> DescribedTrain {
    let findings = vec![finding(
        "scheduling.start_time",
        0,
        Outcome::Rejected,
        "the planned window ended at 2026-11-23T12:00:00Z",
    )];
    let mut t = train("CHG5550001", "razee", "Deploy razee-operator 2.4.1");
    t.planned_start = at("2026-11-23T10:00:00Z");
    t.planned_end = at("2026-11-23T12:00:00Z");
    DescribedTrain {
        decision: decision("CHG5550001", findings, "2026-11-23T12:30:00Z"),
        train: t,
        state: TrainState::Rejected,
        history: vec![history(
            "2026-11-23T12:30:00Z",
            "pipeline:razee-bot",
            "submitted",
            "rejected => scheduling.start_time: the planned window ended at 2026-11-23T12:00:00Z",
        )],
        hold: None,
        timezones: zones(),
    }
}

/// A pending stage train caught by a stop, submitted before the held one, with a long title.
fn stopped_train() -> DescribedTrain {
    let findings = vec![finding(
        "global.cie",
        1,
        Outcome::Manual,
        "trains are stopped (CIE 4321: us-south ingress down) and no exception justification supplied",
    )];
    let mut t = train(
        "CHG5550002",
        "razee",
        "A very long title that goes on and on about what this change does to the cluster",
    );
    t.environment = "stage".to_string();
    DescribedTrain {
        decision: decision("CHG5550002", findings, "2026-11-23T12:30:00Z"),
        train: t,
        state: TrainState::Pending,
        history: vec![history("2026-11-23T09:00:00Z", "pipeline:razee-bot", "submitted", "")],
        hold: None,
        timezones: zones(),
    }
}

fn exception_record(id: &str, scope: [Option<&str>; 3], created: &str, expires: &str) -> Exception {
    let [configuration_item, squad, service] = scope.map(|p| p.map(str::to_string));
    Exception {
        id: id.to_string(),
        result: Outcome::Approved,
        policy: "global.business_hours".to_string(),
        configuration_item,
        squad,
        service,
        justification: "CAB approved the after-hours window (CHG7687021)".to_string(),
        created_by: "U024BE7LH".to_string(),
        created_at: at(created),
        expires_at: at(expires),
    }
}

fn done(id: &str, state: TrainState, summary: Option<&str>) -> TrainResult {
    TrainResult {
        train_id: id.to_string(),
        outcome: TrainOutcome::Done { state, summary: summary.map(str::to_string) },
    }
}

fn refused(id: &str, reason: &str) -> TrainResult {
    TrainResult { train_id: id.to_string(), outcome: TrainOutcome::Refused { reason: reason.to_string() } }
}

#[test]
fn describe_a_held_train_failing_three_policies() {
    assert_snapshot!(render_describe(&held_train()));
}

#[test]
fn describe_a_train_that_could_pass_later() {
    let text = render_describe(&waiting_train(
        Some("2026-12-08T00:00:00Z"),
        Some(("2026-12-08T00:00:00Z", "2026-12-08T04:00:00Z")),
    ));
    // 00:00Z is Mon 2026-12-07 18:00 CST (UTC-6) and Tue 01:00 CET (UTC+1).
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(
        &"*Could pass:* if re-evaluated at 2026-12-08 00:00 UTC (2026-12-07 18:00 America/Chicago, 01:00 Europe/Berlin)"
    ), "{text}");
    assert!(lines.contains(
        &"*Suggested window:* 2026-12-08 00:00–04:00 UTC (2026-12-07 18:00–22:00 America/Chicago, 01:00–05:00 Europe/Berlin)"
    ), "{text}");
    assert_snapshot!(text);
}

#[test]
fn describe_a_train_that_could_pass_only_in_another_window() {
    // The window 2026-12-08 22:00Z to 02:00Z is 16:00-20:00 CST and crosses midnight in Berlin (23:00-03:00 CET).
    let text = render_describe(&waiting_train(None, Some(("2026-12-08T22:00:00Z", "2026-12-09T02:00:00Z"))));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"*Could pass:* not by re-evaluating within its window"), "{text}");
    assert!(lines.contains(
        &"*Suggested window:* 2026-12-08 22:00 – 2026-12-09 02:00 UTC (16:00–20:00 America/Chicago, 2026-12-08 23:00 – 2026-12-09 03:00 Europe/Berlin)"
    ), "{text}");
    let never = render_describe(&waiting_train(None, None));
    assert!(
        never.lines().any(|l| l == "*Could pass:* not by waiting (within its window or the next 14 days)"),
        "{never}"
    );
    assert!(!never.contains("*Suggested window:*"), "{never}");
}

#[test]
fn describe_an_approved_train_with_a_justification() {
    assert_snapshot!(render_describe(&approved_train()));
}

#[test]
fn describe_a_train_whose_window_is_over() {
    assert_snapshot!(render_describe(&late_train()));
}

#[test]
fn outstanding_lists_pending_trains_oldest_first() {
    assert_snapshot!(render_outstanding(&[held_train(), approved_train(), late_train(), stopped_train()]));
}

#[test]
fn outstanding_with_nothing_waiting() {
    assert_snapshot!(render_outstanding(&[approved_train()]));
}

#[test]
fn exceptions_list_with_time_left() {
    let now = at("2026-11-23T15:48:30Z");
    let exceptions = [
        exception_record(
            "exc_8",
            [Some("*"), Some("tugboat-updater"), None],
            "2026-11-23T15:00:00Z",
            "2026-11-23T19:00:00Z",
        ),
        exception_record("exc_7", [None, None, None], "2026-11-23T14:00:00Z", "2026-11-23T15:49:00Z"),
        Exception {
            result: Outcome::Manual,
            policy: "global.sla".to_string(),
            justification: "send netint back to review".to_string(),
            ..exception_record(
                "exc_9",
                [Some("containers-kubernetes"), Some("netint"), Some("cbr-subnet")],
                "2026-11-23T15:30:00Z",
                "2026-11-23T21:30:00Z",
            )
        },
    ];
    assert_snapshot!(render_exceptions(&exceptions, now));
}

#[test]
fn exceptions_list_when_empty() {
    assert_snapshot!(render_exceptions(&[], at("2026-11-23T15:00:00Z")));
}

#[test]
fn exception_created_with_trains_to_reevaluate() {
    let e = Exception {
        policy: "global.cie".to_string(),
        justification: "CIE 4321 does not touch containers-kubernetes".to_string(),
        ..exception_record(
            "exc_8",
            [Some("containers-kubernetes"), None, None],
            "2026-11-23T15:00:00Z",
            "2026-11-23T19:00:00Z",
        )
    };
    let mut later = stopped_train();
    later.train.id = "CHG5550003".to_string();
    later.train.squad = "tugboat-updater".to_string();
    later.train.environment = "production".to_string();
    later.train.title = "Deploy razeeapi (81ed70 to 9a0b1c)".to_string();
    later.history[0].at = at("2026-11-23T14:45:00Z");
    assert_snapshot!(render_exception_created(&e, &[later, stopped_train()]));
}

#[test]
fn exception_created_with_no_train_affected() {
    let e = exception_record("exc_7", [None, None, None], "2026-11-23T15:00:00Z", "2026-11-23T16:30:00Z");
    assert_snapshot!(render_exception_created(&e, &[]));
}

#[test]
fn exception_deleted() {
    let e = exception_record(
        "exc_8",
        [Some("*"), Some("tugboat-updater"), None],
        "2026-11-23T15:00:00Z",
        "2026-11-23T19:00:00Z",
    );
    assert_snapshot!(render_exception_deleted(&e));
}

#[test]
fn stop_trains() {
    let stop = Stop {
        id: "stop_3".to_string(),
        scope: "us-south".to_string(),
        message: "CIE 4321: us-south ingress down".to_string(),
        created_by: "incident:cie-bot".to_string(),
        created_at: at("2026-11-23T15:00:00Z"),
    };
    assert_snapshot!(render_stop(&stop));
}

#[test]
fn pending_notice_for_one_train() {
    assert_snapshot!(render_pending_notice(&[held_train()]));
}

#[test]
fn pending_notice_for_several_trains() {
    assert_snapshot!(render_pending_notice(&[held_train(), stopped_train()]));
}

#[test]
fn start_trains_everywhere() {
    assert_snapshot!(render_start_trains("all", 4, 1, 2));
}

#[test]
fn start_trains_in_a_region_with_nothing_pending() {
    assert_snapshot!(render_start_trains("us-south", 0, 0, 0));
}

#[test]
fn approve_confirms_each_train() {
    let results = [
        done("CHG7687021", TrainState::Approved, None),
        refused("CHG5550001", "it is rejected; only pending trains can be approved"),
        refused("CHG404", "no train CHG404 is recorded"),
    ];
    assert_snapshot!(render_approved(&results, Some("CAB said yes")));
}

#[test]
fn reject_confirms_with_the_reason() {
    let results = [done("CHG7687021", TrainState::Rejected, None), done("CHG8147162", TrainState::Rejected, None)];
    assert_snapshot!(render_rejected(&results, "not during the CIE"));
}

#[test]
fn hold_confirms_and_says_how_to_release() {
    let result = done(
        "CHG8147162",
        TrainState::Pending,
        Some("manual => global.on_hold: held by U024BE7LH: waiting for the DB team (CRB approval recorded)"),
    );
    assert_snapshot!(render_held(&result, "waiting for the DB team"));
}

#[test]
fn release_reports_the_new_decision() {
    let ok = done("CHG7687021", TrainState::Approved, Some("approved => all policies passed"));
    let not_held = refused("CHG8147162", "it is not on hold");
    assert_snapshot!(format!("{}\n---\n{}", render_released(&ok), render_released(&not_held)));
}

#[test]
fn reevaluate_reports_each_train() {
    let results = [
        done("CHG7687021", TrainState::Approved, Some("approved => all policies passed")),
        done(
            "CHG5550001",
            TrainState::Rejected,
            Some("rejected => scheduling.start_time: the planned window ended at 2026-11-23T12:00:00Z"),
        ),
        done("CHG6660002", TrainState::Pending, Some("manual => global.sla: no SLA defined")),
        refused("CHG8147162", "it is approved; only pending trains are re-evaluated"),
    ];
    assert_snapshot!(render_reevaluated(&results));
}

#[test]
fn help_lists_every_command() {
    let help = render_help();
    for verb in Verb::ALL {
        assert!(help.contains(verb.usage()), "{verb} missing from help");
    }
    assert_snapshot!(help);
}

#[test]
fn not_a_conductor() {
    assert_snapshot!(render_not_conductor("U0BADBEEF", Verb::CreateException));
}

#[test]
fn parse_errors_with_their_usage() {
    let replies: Vec<String> =
        ["create exception approved sla lasting soon because x", "reject CHG1", "descibe CHG1", ""]
            .iter()
            .map(|text| render_parse_error(&parse(text).unwrap_err()))
            .collect();
    assert_snapshot!(replies.join("\n---\n"));
}

#[test]
fn unknown_train() {
    assert_snapshot!(render_no_such_train("CHG404"));
}

#[test]
fn user_text_cannot_break_a_table_or_ping_a_channel() {
    let mut view = stopped_train();
    view.train.title = "evil ``` title\nsecond line <!channel>".to_string();
    let reply = render_outstanding(&[view]);
    assert_eq!(reply.matches("```").count(), 2, "{reply}");
    assert!(slack_escape(&reply).contains("&lt;!channel&gt;"));
    assert_eq!(slack_escape("a & <b>"), "a &amp; &lt;b&gt;");
}

#[test]
fn time_left_rounds_down_to_minutes() {
    let now = at("2026-11-23T15:00:00Z");
    let e = |minutes: i64, seconds: i64| Exception {
        expires_at: now + TimeDelta::try_minutes(minutes).unwrap() + TimeDelta::try_seconds(seconds).unwrap(),
        ..exception_record("exc_1", [None, None, None], "2026-11-23T14:00:00Z", "2026-11-23T14:00:00Z")
    };
    let left = |x: Exception| {
        let reply = render_exceptions(&[x], now);
        reply.lines().nth(3).unwrap().to_string()
    };
    assert!(left(e(192, 59)).contains("  3h12m  "), "{}", left(e(192, 59)));
    assert!(left(e(0, 30)).contains("  <1m  "));
    assert!(left(e(0, -1)).contains("  expired  "));
}
