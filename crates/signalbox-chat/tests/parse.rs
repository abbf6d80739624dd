//! The chat grammar, one table of accepted texts and one of refused texts with
//! the exact message each gets.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))] // tests: a panic is a failed test

use chrono::TimeDelta;
use signalbox_chat::{parse, Command, ExceptionRequest, ParseError, Verb};
use signalbox_core::Outcome;

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn s(text: &str) -> String {
    text.to_string()
}

fn exception(result: Outcome, policy: &str, hours: i64, scope: [Option<&str>; 3], justification: &str) -> Command {
    let [ci, squad, service] = scope.map(|p| p.map(str::to_string));
    Command::CreateException(ExceptionRequest {
        result,
        policy: policy.to_string(),
        duration: TimeDelta::try_minutes(hours * 60).unwrap(),
        configuration_item: ci,
        squad,
        service,
        justification: justification.to_string(),
    })
}

/// Each text, and the command it is.
fn accepted() -> Vec<(&'static str, Command)> {
    use Command::*;
    vec![
        ("help", Help),
        ("HELP", Help),
        ("help?", Help),
        ("help me with create exception", Help),
        ("describe CHG7687021", Describe { id: s("CHG7687021") }),
        ("describe chg7687021", Describe { id: s("CHG7687021") }),
        ("Describe   CHG7687021 ", Describe { id: s("CHG7687021") }),
        ("describe CHG7687021?", Describe { id: s("CHG7687021") }),
        ("describe CHG7687021.", Describe { id: s("CHG7687021") }),
        ("describe `CHG7687021`", Describe { id: s("CHG7687021") }),
        ("describe *CHG7687021*", Describe { id: s("CHG7687021") }),
        ("<@U024BE7LH> describe CHG7687021", Describe { id: s("CHG7687021") }),
        ("<@U024BE7LH|signalbox>: describe CHG7687021", Describe { id: s("CHG7687021") }),
        ("describe <https://sn.example/CHG7687021|CHG7687021>", Describe { id: s("CHG7687021") }),
        ("oa", Outstanding),
        ("OA", Outstanding),
        ("oa?", Outstanding),
        ("outstanding approvals", Outstanding),
        ("Outstanding Approvals", Outstanding),
        ("outstanding", Outstanding),
        ("<@U1> oa", Outstanding),
        ("approve CHG1", Approve { ids: ids(&["CHG1"]), reason: None }),
        ("approve chg1 CHG2", Approve { ids: ids(&["CHG1", "CHG2"]), reason: None }),
        ("approve CHG1, CHG2, CHG3.", Approve { ids: ids(&["CHG1", "CHG2", "CHG3"]), reason: None }),
        ("approve CHG1,CHG2", Approve { ids: ids(&["CHG1", "CHG2"]), reason: None }),
        ("approve CHG1 CHG1", Approve { ids: ids(&["CHG1"]), reason: None }),
        (
            "approve CHG1 because CAB said yes",
            Approve { ids: ids(&["CHG1"]), reason: Some(s("CAB said yes")) },
        ),
        (
            "approve CHG1 CHG2 BECAUSE:   see  <https://x.y|x.y>",
            Approve { ids: ids(&["CHG1", "CHG2"]), reason: Some(s("see  x.y")) },
        ),
        (
            "approve CHG1 because \u{201C}CAB approved\u{201D}",
            Approve { ids: ids(&["CHG1"]), reason: Some(s("CAB approved")) },
        ),
        ("approve CHG1 because", Approve { ids: ids(&["CHG1"]), reason: None }),
        (
            "approve CHG1 comment: fine by me",
            Approve { ids: ids(&["CHG1"]), reason: Some(s("fine by me")) },
        ),
        (
            "reject CHG1 because window too wide",
            Reject { ids: ids(&["CHG1"]), reason: s("window too wide") },
        ),
        (
            "reject CHG1 CHG2 comment: not during the CIE",
            Reject { ids: ids(&["CHG1", "CHG2"]), reason: s("not during the CIE") },
        ),
        ("reject CHG1 comment:no", Reject { ids: ids(&["CHG1"]), reason: s("no") }),
        ("reject CHG1 Comment no thanks", Reject { ids: ids(&["CHG1"]), reason: s("no thanks") }),
        (
            "reject CHG1 because it's \u{2018}risky\u{2019}\nsee thread",
            Reject { ids: ids(&["CHG1"]), reason: s("it's 'risky'\nsee thread") },
        ),
        ("reevaluate CHG1", Reevaluate { ids: ids(&["CHG1"]) }),
        ("reevaluate chg1 chg2 CHG3", Reevaluate { ids: ids(&["CHG1", "CHG2", "CHG3"]) }),
        ("re-evaluate CHG1", Reevaluate { ids: ids(&["CHG1"]) }),
        (
            "create exception approved global.business_hours lasting 4h because CAB approved",
            exception(Outcome::Approved, "global.business_hours", 4, [None, None, None], "CAB approved"),
        ),
        (
            "Create Exception MANUAL sla lasting 2h for containers-kubernetes tugboat-updater auto-update because review SLA squads",
            exception(
                Outcome::Manual,
                "sla",
                2,
                [Some("containers-kubernetes"), Some("tugboat-updater"), Some("auto-update")],
                "review SLA squads",
            ),
        ),
        (
            "create exception rejected stage_bake lasting 1h for * tugboat-updater because bad build",
            exception(Outcome::Rejected, "stage_bake", 1, [Some("*"), Some("tugboat-updater"), None], "bad build"),
        ),
        (
            "create exception approved business_hours lasting 4 hours for containers-kubernetes because \u{201C}CAB 123\u{201D}",
            exception(Outcome::Approved, "business_hours", 4, [Some("containers-kubernetes"), None, None], "CAB 123"),
        ),
        (
            "create exception approve cie lasting 3h because: incident over",
            exception(Outcome::Approved, "cie", 3, [None, None, None], "incident over"),
        ),
        ("list exceptions", ListExceptions),
        ("LIST EXCEPTIONS", ListExceptions),
        ("list exception", ListExceptions),
        ("delete exception exc_7", DeleteException { id: s("exc_7") }),
        ("delete exception exc_01J9ZK.", DeleteException { id: s("exc_01J9ZK") }),
        (
            "stop trains all CIE 4321: us-south ingress down",
            StopTrains { scope: s("all"), message: s("CIE 4321: us-south ingress down") },
        ),
        (
            "stop trains ALL because CIE 4321",
            StopTrains { scope: s("all"), message: s("CIE 4321") },
        ),
        ("stop trains us-south ingress", StopTrains { scope: s("us-south"), message: s("ingress") }),
        ("stop train production db failover", StopTrains { scope: s("production"), message: s("db failover") }),
        ("start trains all", StartTrains { scope: s("all") }),
        ("start trains All.", StartTrains { scope: s("all") }),
        ("start trains us-south", StartTrains { scope: s("us-south") }),
        ("hold CHG1 because waiting for DB team", Hold { id: s("CHG1"), reason: s("waiting for DB team") }),
        ("hold chg1 comment: see thread", Hold { id: s("CHG1"), reason: s("see thread") }),
        ("release CHG1", Release { id: s("CHG1"), reason: None }),
        ("release CHG1 because DB team is done", Release { id: s("CHG1"), reason: Some(s("DB team is done")) }),
    ]
}

#[test]
fn every_command_parses() {
    for (text, want) in accepted() {
        assert_eq!(parse(text), Ok(want), "{text:?}");
    }
}

/// Each text, and the exact message it gets.
fn refused() -> Vec<(&'static str, &'static str)> {
    vec![
        ("", "say a command, e.g. \"oa\" or \"describe CHG7687021\"; \"help\" lists them all"),
        ("   ", "say a command, e.g. \"oa\" or \"describe CHG7687021\"; \"help\" lists them all"),
        ("<@U024BE7LH>", "say a command, e.g. \"oa\" or \"describe CHG7687021\"; \"help\" lists them all"),
        ("descibe CHG1", "unknown command \"descibe\"; did you mean \"describe\"? \"help\" lists every command"),
        ("aprove CHG1", "unknown command \"aprove\"; did you mean \"approve\"? \"help\" lists every command"),
        ("reeval CHG1", "unknown command \"reeval\"; did you mean \"reevaluate\"? \"help\" lists every command"),
        ("CHG7687021", "unknown command \"CHG7687021\"; did you mean \"describe\"? \"help\" lists every command"),
        ("deploy everything", "unknown command \"deploy\"; \"help\" lists every command"),
        ("describe", "expected a train id like CHG7687021 after \"describe\", found nothing"),
        ("describe foo", "expected a train id like CHG7687021 after \"describe\", found \"foo\""),
        ("describe C1", "expected a train id like CHG7687021 after \"describe\", found \"C1\""),
        (
            "describe CHG1 CHG2",
            "unexpected \"CHG2\" after \"CHG1\"; describe is written: describe <id>",
        ),
        ("oa please", "unexpected \"please\" after \"oa\"; oa is written: oa | outstanding approvals"),
        (
            "outstanding approvals now",
            "unexpected \"now\" after \"outstanding approvals\"; oa is written: oa | outstanding approvals",
        ),
        ("approve", "expected a train id like CHG7687021 after \"approve\", found nothing"),
        ("approve because fine", "expected a train id like CHG7687021 after \"approve\", found \"because\""),
        (
            "approve CHG1 looks fine",
            "expected a train id like CHG7687021 or \"because <text>\" after \"CHG1\", found \"looks\"",
        ),
        ("reject CHG1", "reject needs a reason: reject <id>... because <text>"),
        ("reject CHG1 because ", "reject needs a reason: reject <id>... because <text>"),
        ("reject CHG1 comment:", "reject needs a reason: reject <id>... because <text>"),
        (
            "reject CHG1 too risky",
            "expected a train id like CHG7687021 or \"because <text>\" after \"CHG1\", found \"too\"",
        ),
        ("reject", "expected a train id like CHG7687021 after \"reject\", found nothing"),
        ("reevaluate", "expected a train id like CHG7687021 after \"reevaluate\", found nothing"),
        ("reevaluate all", "expected a train id like CHG7687021 after \"reevaluate\", found \"all\""),
        (
            "reevaluate CHG1 because x",
            "unexpected \"because\" after \"CHG1\"; reevaluate is written: reevaluate <id>...",
        ),
        ("reevaluate because x", "expected a train id like CHG7687021 after \"reevaluate\", found \"because\""),
        ("hold", "expected a train id like CHG7687021 after \"hold\", found nothing"),
        ("hold CHG1", "hold needs a reason: hold <id> because <text>"),
        ("hold CHG1 because", "hold needs a reason: hold <id> because <text>"),
        ("hold CHG1 db migration", "expected \"because <text>\" after \"CHG1\", found \"db\""),
        ("release", "expected a train id like CHG7687021 after \"release\", found nothing"),
        ("release CHG1 CHG2", "expected \"because <text>\" or nothing after \"CHG1\", found \"CHG2\""),
        ("create", "expected \"exception\" after \"create\", found nothing"),
        ("create exeption approved", "expected \"exception\" after \"create\", found \"exeption\""),
        (
            "create exception",
            "expected the result approved, rejected or manual after \"create exception\", found nothing",
        ),
        (
            "create exception allowed sla lasting 4h because x",
            "expected the result approved, rejected or manual after \"create exception\", found \"allowed\"",
        ),
        (
            "create exception approved",
            "expected a policy path like global.business_hours after \"approved\", found nothing",
        ),
        (
            "create exception approved lasting 4h because x",
            "expected a policy path like global.business_hours after \"approved\", found \"lasting\"",
        ),
        (
            "create exception approved sla for 4h because x",
            "expected \"lasting <duration>\" after \"sla\", found \"for\"",
        ),
        ("create exception approved sla", "expected \"lasting <duration>\" after \"sla\", found nothing"),
        (
            "create exception approved sla lasting soon because x",
            "expected a duration like 4h after \"lasting\", found \"soon\"",
        ),
        ("create exception approved sla lasting", "expected a duration like 4h after \"lasting\", found nothing"),
        (
            "create exception approved sla lasting 4 because x",
            "expected a duration like 4h after \"lasting\", found \"4\"",
        ),
        (
            "create exception approved sla lasting 4h",
            "expected \"for <configuration item>\" or \"because <justification>\" after the duration \"4h\", found nothing",
        ),
        (
            "create exception approved sla lasting 4h since CAB ok",
            "expected \"for <configuration item>\" or \"because <justification>\" after the duration \"4h\", found \"since\"",
        ),
        (
            "create exception approved sla lasting 4h for ci squad",
            "expected \"because <justification>\" after the scope, found nothing",
        ),
        (
            "create exception approved sla lasting 4h for ci squad service extra because x",
            "expected \"because <justification>\" after the scope, found \"extra\"",
        ),
        (
            "create exception approved sla lasting 4h for because x",
            "expected a configuration item (or *) after \"for\", found \"because\"",
        ),
        (
            "create exception approved sla lasting 4h because",
            "create exception needs a justification: create exception <approved|rejected|manual> <path> lasting <duration> [for <configuration item> [<squad> [<service>]]] because <justification>",
        ),
        ("list", "expected \"exceptions\" after \"list\", found nothing"),
        ("list trains", "expected \"exceptions\" after \"list\", found \"trains\""),
        (
            "list exceptions now",
            "unexpected \"now\" after \"list exceptions\"; list exceptions is written: list exceptions",
        ),
        ("delete exc_7", "expected \"exception\" after \"delete\", found \"exc_7\""),
        (
            "delete exception",
            "expected an exception id (\"list exceptions\" shows them) after \"delete exception\", found nothing",
        ),
        (
            "delete exception exc_7 exc_8",
            "unexpected \"exc_8\" after \"exc_7\"; delete exception is written: delete exception <id>",
        ),
        ("stop", "expected \"trains\" after \"stop\", found nothing"),
        ("stop the deploy", "expected \"trains\" after \"stop\", found \"the\""),
        (
            "stop trains",
            "expected a scope (all, an environment or a region) after \"stop trains\", found nothing",
        ),
        (
            "stop trains all",
            "stop trains needs a message: stop trains <all|environment|region> <message>",
        ),
        (
            "stop trains all because",
            "stop trains needs a message: stop trains <all|environment|region> <message>",
        ),
        (
            "start trains",
            "expected a scope (all, an environment or a region) after \"start trains\", found nothing",
        ),
        (
            "start trains all now",
            "unexpected \"now\" after \"all\"; start trains is written: start trains <all|environment|region>",
        ),
    ]
}

#[test]
fn every_error_says_what_was_expected_where() {
    for (text, want) in refused() {
        match parse(text) {
            Err(e) => assert_eq!(e.to_string(), want, "{text:?}"),
            Ok(command) => panic!("{text:?} parsed as {command:?}"),
        }
    }
}

#[test]
fn errors_name_their_command_and_its_usage() {
    let e = parse("create exception approved sla lasting soon because x").unwrap_err();
    assert_eq!(e.verb(), Some(Verb::CreateException));
    assert_eq!(e.usage(), Some(Verb::CreateException.usage()));
    assert_eq!(parse("frobnicate").unwrap_err().verb(), None);
}

#[test]
fn only_ordinary_chat_counts_as_not_a_command() {
    for text in ["", "deploy everything", "start the deploy after lunch", "stop", "list of things"] {
        assert!(parse(text).unwrap_err().is_not_a_command(), "{text:?}");
    }
    for text in ["create exeption approved", "describe foo", "reject CHG1", "stop trian all x"] {
        assert!(!parse(text).unwrap_err().is_not_a_command(), "{text:?}");
    }
}

#[test]
fn over_long_text_is_refused_not_parsed() {
    let text = format!("approve CHG1 because {}", "x".repeat(9000));
    assert!(matches!(parse(&text), Err(ParseError::TooLong { max: 8000, .. })));
}

#[test]
fn long_words_are_cut_in_messages() {
    let word = "y".repeat(100);
    let e = parse(&format!("describe {word}")).unwrap_err().to_string();
    assert!(e.ends_with(&format!("found \"{}…\"", "y".repeat(40))), "{e}");
}

#[test]
fn only_reading_commands_are_open_to_everyone() {
    let reading = ["help", "describe CHG1", "oa", "outstanding approvals", "list exceptions"];
    for text in reading {
        assert!(!parse(text).unwrap().is_mutating(), "{text}");
    }
    for (text, _) in accepted() {
        let command = parse(text).unwrap();
        let reads = matches!(command.verb(), Verb::Help | Verb::Describe | Verb::Outstanding | Verb::ListExceptions);
        assert_eq!(command.is_mutating(), !reads, "{text}");
    }
}

#[test]
fn every_verb_has_a_case_in_the_tables() {
    let parsed: Vec<Verb> = accepted().into_iter().map(|(_, c)| c.verb()).collect();
    for verb in Verb::ALL {
        assert!(parsed.contains(&verb), "{verb} has no accepted case");
    }
}
