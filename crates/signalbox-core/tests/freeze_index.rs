#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

//! `data.signalbox.config.freeze_index` and `input.window.weeks` let
//! `scheduling.change_freeze` look only at the freezes near the window. It must
//! find exactly the freezes a scan of the whole calendar finds: for generated
//! calendars (short, week-long and long freezes, edges on week boundaries) and
//! windows (short, across weeks, longer than the index serves, already over),
//! the policy's set of freezes with the index, without it (the policy then
//! scans every freeze), and as computed here from the definition (what is left
//! of the window, `[max(planned_start, now), planned_end)`, overlaps
//! `[start, end)`) are the same.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use signalbox_core::evaluate::{build_input, config_data};
use signalbox_core::{Config, Train, TrainContext};

use common::{eval_shipped_rule, fixtures_dir};

const WEEK_MS: i64 = 7 * 24 * 3_600_000;
/// A Thursday 00:00Z, the start of a week counted from the epoch (weeks start on Thursdays).
const BASE_MS: i64 = 2_968 * WEEK_MS;

/// A freeze or window edge: some week from the base, then on the week's boundary, a
/// millisecond either side of it, or anywhere in the week.
fn edge(weeks: std::ops::Range<i64>) -> impl Strategy<Value = i64> {
    (weeks, prop_oneof![Just(0), Just(1), Just(-1), 0..WEEK_MS]).prop_map(|(w, d)| BASE_MS + w * WEEK_MS + d)
}

/// A length: minutes, days, or weeks (up to beyond the index's eight).
fn length() -> impl Strategy<Value = i64> {
    prop_oneof![
        (1..600_i64).prop_map(|m| m * 60_000),
        (1..30_i64).prop_map(|d| d * 86_400_000),
        (1..14_i64).prop_map(|w| w * WEEK_MS),
        (1..14_i64).prop_map(|w| w * WEEK_MS + 1),
    ]
}

fn instant(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

/// The standard configuration with the given freezes `(start_ms, end_ms)` added, unscoped.
fn config(freezes: &[(i64, i64)]) -> Config {
    let path = fixtures_dir().join("configs/standard.toml");
    let mut text = std::fs::read_to_string(path).unwrap();
    for (i, (start, end)) in freezes.iter().enumerate() {
        text.push_str(&format!(
            "\n[[freezes]]\nname = \"f{i}\"\nstart = \"{}\"\nend = \"{}\"\nreason = \"generated\"\n",
            instant(*start).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            instant(*end).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ));
    }
    Config::from_toml(&text, "freeze_index").unwrap()
}

/// A production train in us-south planned for `[start_ms, end_ms)`.
fn train(start_ms: i64, end_ms: i64) -> Train {
    Train {
        id: "CHG1".into(),
        squad: "netint".into(),
        service: "cbr-subnet".into(),
        configuration_item: "ci".into(),
        environment: "production".into(),
        regions: vec!["us-south".into()],
        title: "generated".into(),
        version: None,
        planned_start: instant(start_ms),
        planned_end: instant(end_ms),
        exception_justification: None,
        crb_approved: false,
        stage_deployed_at: None,
    }
}

/// `scheduling.change_freeze`'s set of freeze names for `input`, with `data` as the configuration.
fn policy_freezes(data: &Json, input: &Json) -> BTreeSet<String> {
    let files = ["lib/window.rego", "scheduling/change_freeze.rego"];
    let names = eval_shipped_rule(&files, data, input, "data.signalbox.scheduling.change_freeze.freezes");
    let names = names.as_set().unwrap();
    names.iter().map(|n| n.as_string().unwrap().to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_index_finds_the_freezes_a_full_scan_finds(
        freezes in prop::collection::vec((edge(-12..12), length()), 0..10),
        window_start in edge(-14..14),
        window_length in length(),
        now_offset in prop_oneof![Just(0_i64), -3 * WEEK_MS..15 * WEEK_MS],
    ) {
        let freezes: Vec<(i64, i64)> = freezes.into_iter().map(|(start, length)| (start, start + length)).collect();
        let config = config(&freezes);
        let (start_ms, end_ms, now_ms) = (window_start, window_start + window_length, window_start + now_offset);

        let effective = start_ms.max(now_ms);
        let expected: BTreeSet<String> = config
            .freezes
            .iter()
            .filter(|f| f.environments.as_ref().is_none_or(|e| e.iter().any(|e| e == "production")))
            .filter(|f| f.regions.as_ref().is_none_or(|r| r.iter().any(|r| r == "us-south")))
            .filter(|f| effective < end_ms && f.start.timestamp_millis() < end_ms && effective < f.end.timestamp_millis())
            .map(|f| f.name.clone())
            .collect();

        let indexed = config_data(&config);
        prop_assert!(indexed.get("freeze_index").is_some());
        let mut scanned = indexed.clone();
        scanned.as_object_mut().unwrap().remove("freeze_index");

        let input = build_input(&train(start_ms, end_ms), TrainContext::default(), instant(now_ms), &config);
        let weeks = &input["window"]["weeks"];
        prop_assert!(weeks.is_array() || (weeks.is_null() && end_ms - effective > 8 * WEEK_MS), "{weeks}");

        prop_assert_eq!(&policy_freezes(&indexed, &input), &expected);
        prop_assert_eq!(&policy_freezes(&scanned, &input), &expected);
    }
}

/// The index itself: a freeze is listed under each week it touches, a long one
/// (more than eight weeks apart from first to last) only in `long`.
#[test]
fn freezes_are_listed_under_the_weeks_they_touch() {
    let short = (BASE_MS + WEEK_MS - 1, BASE_MS + WEEK_MS + 1); // the last ms of one week, the first of the next
    let exact = (BASE_MS, BASE_MS + WEEK_MS); // one whole week: its end is exclusive
    let long = (BASE_MS, BASE_MS + 9 * WEEK_MS + 1);
    let data = config_data(&config(&[short, exact, long]));
    let index = &data["freeze_index"];
    let names = |week: i64| -> Vec<&str> {
        index["weeks"][(BASE_MS / WEEK_MS + week).to_string()]
            .as_array()
            .map(|list| list.iter().filter_map(|f| f["name"].as_str()).filter(|n| n.starts_with('f')).collect())
            .unwrap_or_default()
    };
    assert_eq!(names(0), ["f0", "f1"]);
    assert_eq!(names(1), ["f0"]);
    assert!(names(2).is_empty());
    let long_names: Vec<&str> = index["long"].as_array().unwrap().iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(long_names, ["f2"]);
    assert_eq!(index["week_ms"], json!(WEEK_MS));
    assert_eq!(index["max_weeks"], json!(8));
}
