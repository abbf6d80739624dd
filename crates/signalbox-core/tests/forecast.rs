#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

//! The forecast (`retry_at`, `suggested_window`) against a brute-force search.
//!
//! On the standard configuration every edge a time-driven policy can pass at
//! lies on a quarter hour (business hours, freezes, the 24h bake, and the
//! generated instants, stage deployments and exceptions), so the earliest
//! passing instant is the first quarter hour at which a full decision
//! (`Evaluator::evaluate`, every policy) has no time-driven finding. The
//! forecast, which evaluates only the time-driven policies at candidate edges,
//! must find exactly that instant, on generated trains, states and instants.
//!
//! `FORECAST_CASES=<n>` changes how many cases are generated (default 40).

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use signalbox_core::forecast::WINDOW_HORIZON_DAYS;
use signalbox_core::{
    Config, Evaluator, Exception, Finding, Outcome, PolicySet, PolicySource, StageDeployment, State, Train,
    TrainContext, Window,
};

use common::{fixtures_dir, policies_dir, policy_files};

const QUARTER: i64 = 15;

fn config() -> Config {
    let path = fixtures_dir().join("configs").join("standard.toml");
    let mut config = Config::from_toml(&std::fs::read_to_string(&path).unwrap(), &path.display().to_string()).unwrap();
    // Debug builds on a loaded machine: a time-out would be a test artefact.
    config.policies.evaluation_timeout = std::time::Duration::from_secs(10);
    config
}

fn evaluator_with(extra: &[(&str, &str)]) -> Evaluator {
    let mut files = policy_files(&policies_dir());
    for (path, text) in extra {
        files.insert((*path).to_string(), (*text).to_string());
    }
    let set = PolicySet::new(files.into_iter().map(|(p, t)| PolicySource::new(p, t)).collect()).unwrap();
    Evaluator::new(set, config()).unwrap()
}

fn time_driven(evaluator: &Evaluator, findings: &[Finding]) -> Vec<Finding> {
    findings.iter().filter(|f| evaluator.policies().find(&f.policy).is_some_and(|e| e.time_driven)).cloned().collect()
}

/// Whether a full decision of `train` at `t` has no time-driven finding.
fn clears(evaluator: &Evaluator, train: &Train, context: TrainContext<'_>, t: DateTime<Utc>) -> bool {
    time_driven(evaluator, &evaluator.evaluate(train, context, t).findings).is_empty()
}

fn quarters(from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> {
    (0..).map(move |i| from + Duration::minutes(QUARTER * i)).take_while(move |t| *t < to)
}

/// The earliest quarter hour in `(at, planned_end)` at which the train clears.
fn brute_retry(
    evaluator: &Evaluator,
    train: &Train,
    context: TrainContext<'_>,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    quarters(at, train.planned_end).skip(1).find(|t| clears(evaluator, train, context, *t))
}

/// The earliest quarter hour in `[at, at + 14 days)` starting a window of the planned length that clears.
fn brute_window(evaluator: &Evaluator, train: &Train, context: TrainContext<'_>, at: DateTime<Utc>) -> Option<Window> {
    let length = train.planned_end - train.planned_start;
    quarters(at, at + Duration::days(WINDOW_HORIZON_DAYS)).find_map(|start| {
        let mut moved = train.clone();
        (moved.planned_start, moved.planned_end) = (start, start + length);
        clears(evaluator, &moved, context, start).then_some(Window { start, end: start + length })
    })
}

// ---- generating ----------------------------------------------------------------

/// splitmix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + i64::try_from(self.next() % u64::try_from(high - low + 1).unwrap()).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.next() % items.len() as u64).unwrap()]
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

/// Near daylight-saving switches, holidays and freezes of the standard configuration.
const ANCHORS: [(i32, u32, u32, u32); 8] = [
    (2026, 3, 8, 8),
    (2026, 3, 29, 1),
    (2026, 10, 30, 20),
    (2026, 11, 23, 15),
    (2026, 11, 26, 12),
    (2026, 12, 17, 12),
    (2026, 12, 31, 12),
    (2026, 6, 15, 9),
];

fn quarter_near(rng: &mut Rng, base: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    base + Duration::minutes(QUARTER * rng.range(-hours * 4, hours * 4))
}

fn generate(rng: &mut Rng, index: usize) -> (Train, State, DateTime<Utc>) {
    let regions = ["us-south", "us-east", "eu-gb", "eu-de", "jp-tok", "au-syd", "in-che"];
    let mut train_regions = vec![rng.pick(&regions).to_string()];
    if rng.range(0, 2) == 0 {
        let other = rng.pick(&regions).to_string();
        if !train_regions.contains(&other) {
            train_regions.push(other);
        }
    }
    let &(y, m, d, h) = rng.pick(&ANCHORS);
    let start = quarter_near(rng, utc(y, m, d, h), 48);
    let length = Duration::minutes(QUARTER * *rng.pick(&[4, 8, 16, 32, 56]));
    let at = start - Duration::minutes(QUARTER * rng.range(-2, 24));
    let squad = rng.pick(&["tugboat-updater", "ghost-squad"]).to_string();
    let train = Train {
        id: format!("CHG{}", 2_000_000 + index),
        squad: squad.clone(),
        service: "auto-update".into(),
        configuration_item: "containers-kubernetes".into(),
        environment: "production".into(),
        regions: train_regions,
        title: "Deploy".into(),
        version: None,
        planned_start: start,
        planned_end: start + length,
        exception_justification: None,
        crb_approved: false,
        stage_deployed_at: (rng.range(0, 3) > 0).then(|| quarter_near(rng, at, 36)),
    };
    let mut state = State::default();
    if rng.range(0, 2) == 0 {
        state.stage_deployments.push(StageDeployment {
            train_id: "CHG900".into(),
            squad: squad.clone(),
            service: "auto-update".into(),
            version: None,
            completed_at: at - Duration::minutes(QUARTER * rng.range(0, 30 * 4)),
        });
    }
    for i in 0..rng.range(0, 2) {
        let created_at = quarter_near(rng, at, 4);
        state.exceptions.push(Exception {
            id: format!("exc_{i}"),
            result: *rng.pick(&[Outcome::Approved, Outcome::Manual]),
            policy: rng.pick(&["global.business_hours", "scheduling.change_freeze", "global.stage_bake"]).to_string(),
            configuration_item: None,
            squad: None,
            service: None,
            justification: "generated".into(),
            created_by: String::new(),
            created_at,
            expires_at: created_at + Duration::minutes(QUARTER * rng.range(1, 24)),
        });
    }
    (train, state, at)
}

#[test]
fn the_forecast_finds_the_earliest_instants_a_brute_force_search_finds() {
    let evaluator = evaluator_with(&[]);
    let cases: usize = std::env::var("FORECAST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(40);
    let mut rng = Rng(0x5eed_f0ca);
    let (mut forecasts, mut retries, mut windows) = (0, 0, 0);
    let mut failures = Vec::new();
    for index in 0..cases {
        let (train, state, at) = generate(&mut rng, index);
        let context = state.for_train(&train, at);
        let decision = evaluator.decide(&train, context, at, "dec".into(), "test".into());
        if time_driven(&evaluator, &decision.findings).is_empty() {
            if decision.retry_at.is_some() || decision.suggested_window.is_some() {
                failures.push(format!("case {index}: a forecast with no time-driven finding: {decision:?}"));
            }
            continue;
        }
        forecasts += 1;
        let retry = brute_retry(&evaluator, &train, context, at);
        let window = brute_window(&evaluator, &train, context, at);
        retries += usize::from(retry.is_some());
        windows += usize::from(window.is_some());
        if (decision.retry_at, decision.suggested_window) != (retry, window) {
            failures.push(format!(
                "case {index} at {at}: {train:?} {state:?}\n  forecast {:?} {:?}\n  search   {retry:?} {window:?}",
                decision.retry_at, decision.suggested_window
            ));
        }
    }
    println!("{cases} cases, {forecasts} with a forecast: {retries} retry_at, {windows} suggested_window found");
    assert!(failures.is_empty(), "{} cases differ:\n{}", failures.len(), failures.join("\n"));
    assert!(cases < 20 || (retries > 0 && windows > 0 && forecasts > retries), "the cases should cover both answers");
}

#[test]
fn the_time_driven_policies_alone_give_the_findings_a_full_decision_gives_them() {
    let evaluator = evaluator_with(&[]);
    let mut rng = Rng(0x0dd5);
    for index in 0..60 {
        let (train, state, at) = generate(&mut rng, index);
        for t in [at, at + Duration::hours(1), train.planned_start, train.planned_end - Duration::minutes(15)] {
            let context = state.for_train(&train, t);
            let full = time_driven(&evaluator, &evaluator.evaluate(&train, context, t).findings);
            let alone = evaluator.evaluate_time_driven(&train, context, t).findings;
            assert_eq!(alone, full, "case {index} at {t}");
            assert_eq!(evaluator.clears_time_driven(&train, context, t), full.is_empty(), "case {index} at {t}");
        }
    }
}

/// A policy marked `time_driven` in the manifest counts: here, one that fails
/// on weekdays (UTC, as `input.now_ms` counts them) passes from Saturday 00:00Z,
/// where a day without business hours begins in Europe/London (GMT in winter).
#[test]
fn a_custom_time_driven_policy_is_forecast_too() {
    let manifest = std::fs::read_to_string(policies_dir().join("manifest.toml")).unwrap()
        + "\n[[policy]]\npath = \"global.weekends\"\npriority = 7\nfile = \"global/weekends.rego\"\ntime_driven = true\n";
    // Days since the epoch (a Thursday): 2 and 3 mod 7 are Saturday and Sunday.
    let module = "package signalbox.global.weekends\n\nimport data.signalbox.lib\nimport rego.v1\n\nweekend if (floor(lib.effective_start_ms / 86400000) % 7) in {2, 3}\n\nfinding := {\"outcome\": \"manual\", \"message\": \"weekends only\"} if not weekend\n";
    let evaluator = evaluator_with(&[("manifest.toml", &manifest), ("global/weekends.rego", module)]);
    // Thu 2026-11-19 20:00-22:00Z, after London's hours; only the custom policy fails.
    let train = Train {
        id: "CHG3000001".into(),
        squad: "tugboat-updater".into(),
        service: "auto-update".into(),
        configuration_item: "containers-kubernetes".into(),
        environment: "production".into(),
        regions: vec!["eu-gb".into()],
        title: "Deploy".into(),
        version: None,
        planned_start: utc(2026, 11, 19, 20),
        planned_end: utc(2026, 11, 19, 22),
        exception_justification: None,
        crb_approved: false,
        stage_deployed_at: Some(utc(2026, 11, 10, 0)),
    };
    let at = utc(2026, 11, 19, 20);
    let decision = evaluator.decide(&train, TrainContext::default(), at, "dec".into(), "test".into());
    let failing: Vec<&str> = decision.findings.iter().map(|f| f.policy.as_str()).collect();
    assert_eq!(failing, ["global.weekends"]);
    assert_eq!(decision.retry_at, None, "no weekend inside the window");
    // Saturday 2026-11-21 00:00Z (00:00 GMT in London): no business hours, a weekend.
    assert_eq!(decision.suggested_window, Some(Window { start: utc(2026, 11, 21, 0), end: utc(2026, 11, 21, 2) }));
}

/// A time-driven policy that errors never passes (fail closed): no instant
/// and no window is forecast.
#[test]
fn a_time_driven_policy_that_errors_has_no_forecast() {
    let manifest = std::fs::read_to_string(policies_dir().join("manifest.toml")).unwrap()
        + "\n[[policy]]\npath = \"global.broken\"\npriority = 7\nfile = \"global/broken.rego\"\ntime_driven = true\n";
    // The sample train checked at load has version "1"; this train's version is not a number.
    let module = "package signalbox.global.broken\n\nimport rego.v1\n\nfinding := {\"outcome\": \"manual\", \"message\": \"x\"} if {\n\tto_number(input.train.version) > 0\n}\n";
    let evaluator = evaluator_with(&[("manifest.toml", &manifest), ("global/broken.rego", module)]);
    let train = Train {
        id: "CHG3000002".into(),
        squad: "tugboat-updater".into(),
        service: "auto-update".into(),
        configuration_item: "containers-kubernetes".into(),
        environment: "production".into(),
        regions: vec!["us-south".into()],
        title: "Deploy".into(),
        version: Some("x".into()),
        planned_start: utc(2026, 11, 24, 2),
        planned_end: utc(2026, 11, 24, 6),
        exception_justification: None,
        crb_approved: false,
        stage_deployed_at: Some(utc(2026, 11, 20, 0)),
    };
    let at = utc(2026, 11, 24, 2);
    let decision = evaluator.decide(&train, TrainContext::default(), at, "dec".into(), "test".into());
    assert!(decision.findings.iter().any(|f| f.policy == "global.broken" && f.policy_error), "{decision:?}");
    assert_eq!((decision.retry_at, decision.suggested_window), (None, None));
}
