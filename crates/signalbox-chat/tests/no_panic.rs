//! The parser never panics, whatever arrives from chat, and what it accepts is well formed.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))] // tests: a panic is a failed test

use proptest::prelude::*;
use signalbox_chat::{parse, render_parse_error, Command};
use signalbox_core::train::is_train_id;

/// Words of the grammar and the things around them, so random sequences reach
/// deep into each command instead of stopping at an unknown verb.
const VOCABULARY: &[&str] = &[
    "help",
    "describe",
    "oa",
    "outstanding",
    "approvals",
    "approve",
    "reject",
    "reevaluate",
    "re-evaluate",
    "create",
    "exception",
    "exceptions",
    "list",
    "delete",
    "stop",
    "start",
    "trains",
    "train",
    "hold",
    "release",
    "because",
    "because:",
    "comment:",
    "comment:x",
    "comment",
    "lasting",
    "for",
    "*",
    "all",
    "us-south",
    "production",
    "approved",
    "rejected",
    "manual",
    "global.sla",
    "business_hours",
    "4h",
    "1h30m",
    "4",
    "hours",
    "soon",
    "0m",
    "CHG1",
    "chg7687021",
    "CHG7687021.",
    "CHG1,CHG2",
    ",",
    "C1",
    "exc_7",
    "<@U1>",
    "<@U1|bot>",
    "<https://x.y|x.y>",
    "<mailto:a@b|a@b>",
    "<#C1|chan>",
    "<!here>",
    "<",
    ">",
    "|",
    "&amp;",
    "&lt;",
    "\u{201C}",
    "\u{201D}",
    "\u{2018}",
    "\u{2019}",
    "\"",
    "'",
    "`",
    "\u{200B}",
    "é",
    "🚂",
    "\u{0301}",
    "?",
    ".",
    ":",
    "",
];

const SEPARATORS: &[&str] = &[" ", "  ", "\n", "\t", "", "\u{00A0}", ", "];

fn command_words() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(VOCABULARY), prop::sample::select(SEPARATORS)), 0..16)
        .prop_map(|words| words.into_iter().map(|(w, sep)| format!("{w}{sep}")).collect())
}

/// Parsing is total and deterministic; what it accepts carries valid train ids
/// and non-empty required text; what it refuses renders to a message.
fn check(text: &str) {
    let first = parse(text);
    assert_eq!(first, parse(text));
    match first {
        Ok(command) => check_command(&command),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert!(!render_parse_error(&e).is_empty());
        }
    }
}

fn check_command(command: &Command) {
    let _ = command.verb();
    let _ = command.is_mutating();
    match command {
        Command::Describe { id } | Command::Hold { id, .. } | Command::Release { id, .. } => {
            assert!(is_train_id(id), "{id}");
        }
        Command::Approve { ids, .. } | Command::Reject { ids, .. } | Command::Reevaluate { ids } => {
            assert!(!ids.is_empty());
            assert!(ids.iter().all(|id| is_train_id(id)), "{ids:?}");
        }
        _ => {}
    }
    match command {
        Command::Reject { reason, .. } | Command::Hold { reason, .. } => assert!(!reason.trim().is_empty()),
        Command::StopTrains { scope, message } => {
            assert!(!scope.is_empty());
            assert!(!message.trim().is_empty());
        }
        Command::CreateException(request) => {
            assert!(!request.justification.trim().is_empty());
            assert!(!request.policy.is_empty());
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(text in ".*") {
        check(&text);
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn sequences_of_command_words_never_panic(text in command_words()) {
        check(&text);
    }

    #[test]
    fn a_mention_and_odd_spacing_change_nothing(text in command_words()) {
        // A leading `@x`, `:` or `,` is read as part of the mention itself.
        let start = text.trim_start().chars().next();
        prop_assume!(!matches!(start, Some('@' | ':' | ',' | '<' | '\u{200B}')));
        let plain = parse(&text);
        prop_assert_eq!(parse(&format!("<@U024BE7LH>  {text}  ")), plain.clone());
        prop_assert_eq!(parse(&format!(" \n{text}\t")), plain);
    }
}
