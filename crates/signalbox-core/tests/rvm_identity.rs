#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

//! The compiled fast path (`Evaluator::evaluate`) must decide exactly as the
//! interpreter alone (`Evaluator::evaluate_interpreted`): on every golden
//! scenario, on thousands of generated trains, states and instants, with the
//! shipped policies and with the broken overrides of `fixtures/policy-overrides`,
//! and when the fast path fails at run time and hands policies back.
//!
//! Reproduce a generated case: the seed and index are in the failure message;
//! `RVM_IDENTITY_CASES=<n>` changes how many cases each configuration gets.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Duration, TimeZone, Utc};
use regorus::Value;
use serde::Deserialize;
use signalbox_core::evaluate::{build_input, input_value};
use signalbox_core::{
    Config, Evaluation, Evaluator, Exception, Hold, Outcome, PolicySet, PolicySource, StageDeployment, State, Stop,
    Train,
};

// ---- loading (as tests/golden.rs does) --------------------------------------

use common::{fixtures_dir, policies_dir, policy_files};

fn config(name: &str) -> Config {
    let path = fixtures_dir().join("configs").join(format!("{name}.toml"));
    let mut config = Config::from_toml(&std::fs::read_to_string(&path).unwrap(), &path.display().to_string()).unwrap();
    // Debug builds on a loaded machine can take longer than the 100 ms default
    // per policy; a time-out here would be a test artefact, not a difference.
    config.policies.evaluation_timeout = std::time::Duration::from_secs(10);
    config
}

/// The shipped policies with `overrides` laid over them, and `extra` files added.
fn policy_set(overrides: Option<&str>, extra: &[(&str, &str)]) -> PolicySet {
    let mut files = policy_files(&policies_dir());
    if let Some(name) = overrides {
        files.extend(policy_files(&fixtures_dir().join("policy-overrides").join(name)));
    }
    for (path, text) in extra {
        files.insert((*path).to_string(), (*text).to_string());
    }
    PolicySet::new(files.into_iter().map(|(path, text)| PolicySource::new(path, text)).collect()).unwrap()
}

fn evaluator(config_name: &str, overrides: Option<&str>) -> Evaluator {
    Evaluator::new(policy_set(overrides, &[]), config(config_name)).unwrap()
}

/// A golden scenario, read loosely: only what a decision needs.
#[derive(Deserialize)]
struct Scenario {
    #[serde(default = "standard")]
    config: String,
    #[serde(default)]
    policy_overrides: Option<String>,
    at: DateTime<Utc>,
    train: Train,
    #[serde(default)]
    state: State,
}

fn standard() -> String {
    "standard".into()
}

// ---- comparing ---------------------------------------------------------------

/// Both paths on one case, and the input built both ways; `Err` says how they differ.
fn compare(evaluator: &Evaluator, train: &Train, state: &State, at: DateTime<Utc>) -> Result<Evaluation, String> {
    let context = state.for_train(train, at);
    let direct = input_value(train, context, at, evaluator.config());
    let via_json = Value::from(build_input(train, context, at, evaluator.config()));
    if direct != via_json || format!("{direct:?}") != format!("{via_json:?}") {
        return Err(format!("input differs:\n  direct   {direct:?}\n  via json {via_json:?}"));
    }
    let fast = evaluator.evaluate(train, context, at);
    let interpreted = evaluator.evaluate_interpreted(train, context, at);
    if fast != interpreted {
        return Err(format!("evaluation differs:\n  fast        {fast:?}\n  interpreted {interpreted:?}"));
    }
    Ok(fast)
}

/// How often each thing happened, to show (and check) what the cases covered.
#[derive(Default)]
struct Tally {
    cases: usize,
    outcomes: BTreeMap<String, usize>,
    failing: BTreeMap<String, usize>,
    errors: BTreeMap<String, usize>,
    exceptions_applied: usize,
}

impl Tally {
    fn add(&mut self, e: &Evaluation) {
        self.cases += 1;
        *self.outcomes.entry(e.outcome.to_string()).or_default() += 1;
        for f in &e.findings {
            *self.failing.entry(f.policy.clone()).or_default() += 1;
            if f.message.starts_with("policy error") {
                *self.errors.entry(f.policy.clone()).or_default() += 1;
            }
        }
        self.exceptions_applied += usize::from(!e.exceptions_applied.is_empty());
    }
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

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + i64::try_from(self.below(u64::try_from(high - low + 1).unwrap())).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap()]
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

/// Days that matter: daylight-saving switches (US, EU, Sydney), holidays, freezes, a plain week.
fn anchors() -> Vec<DateTime<Utc>> {
    vec![
        utc(2026, 3, 8, 8, 0),   // US spring forward
        utc(2026, 3, 29, 1, 0),  // EU spring forward
        utc(2026, 4, 5, 16, 0),  // Sydney to AEST
        utc(2026, 10, 4, 16, 0), // Sydney to AEDT
        utc(2026, 10, 25, 1, 0), // EU fall back
        utc(2026, 11, 1, 7, 0),  // US fall back
        utc(2026, 11, 23, 15, 0),
        utc(2026, 11, 26, 12, 0), // Thanksgiving, black-friday freeze next
        utc(2026, 12, 18, 0, 0),  // year-end freeze starts
        utc(2026, 12, 24, 12, 0),
        utc(2027, 1, 4, 0, 0), // year-end freeze ends
        utc(2026, 1, 26, 0, 0),
        utc(2026, 6, 15, 9, 30),
    ]
}

/// A random instant near an anchor, on a quarter hour most of the time (to land on boundaries).
fn instant(rng: &mut Rng, anchors: &[DateTime<Utc>]) -> DateTime<Utc> {
    let base = *rng.pick(anchors);
    if rng.chance(80) {
        base + Duration::minutes(15 * rng.range(-4 * 24 * 4, 4 * 24 * 4))
    } else {
        base + Duration::seconds(rng.range(-4 * 86_400, 4 * 86_400))
    }
}

fn text(rng: &mut Rng, plain: &str) -> String {
    match rng.below(10) {
        0 => format!("{plain}; with a separator"),
        1 => format!("{plain}\nsecond line"),
        2 => format!("  {plain}  "),
        _ => plain.to_string(),
    }
}

/// Names the configuration knows (SLA squads and services), and some it does not.
fn squads_and_services(config: &Config) -> (Vec<String>, Vec<String>) {
    let mut squads: Vec<String> = config.slas.iter().map(|s| s.squad.clone()).collect();
    let mut services: Vec<String> = config.slas.iter().filter_map(|s| s.service.clone()).collect();
    squads.extend(["nosla".to_string(), "tugboat-updater".to_string()]);
    services.extend(["auto-update".to_string(), "other-service".to_string()]);
    (squads, services)
}

fn generate(rng: &mut Rng, config: &Config, policy_names: &[String], index: usize) -> (Train, State, DateTime<Utc>) {
    let anchors = anchors();
    let (squads, services) = squads_and_services(config);
    let regions: Vec<String> = config.regions.keys().cloned().collect();
    let environment = if rng.chance(70) {
        config.environments.last().cloned().unwrap()
    } else {
        rng.pick(&config.environments).clone()
    };
    let mut train_regions = Vec::new();
    for _ in 0..rng.range(1, 3) {
        let r = rng.pick(&regions).clone();
        if !train_regions.contains(&r) {
            train_regions.push(r);
        }
    }
    // Now and then a train that validation would refuse: both paths must still agree.
    if rng.chance(3) {
        train_regions.push("xx-unknown".into());
    }
    let environment = if rng.chance(2) { "qa".to_string() } else { environment };
    let start = instant(rng, &anchors);
    let length = match rng.below(8) {
        0 => Duration::minutes(15),
        1 => Duration::hours(1),
        2 => Duration::hours(2),
        3 => Duration::hours(8),
        4 => Duration::days(1),
        5 => Duration::days(3),
        6 => Duration::days(rng.range(20, 40)),
        _ => Duration::minutes(rng.range(1, 3 * 24 * 60)),
    };
    let end = start + length;
    let at = match rng.below(10) {
        0 => start,
        1 => end,
        2 => end + Duration::minutes(rng.range(1, 24 * 60)),
        3 | 4 => start + Duration::seconds(rng.range(0, length.num_seconds())),
        _ => start - Duration::minutes(rng.range(1, 3 * 24 * 60)),
    };
    let squad = if rng.chance(70) { rng.pick(&config.slas).squad.clone() } else { rng.pick(&squads).clone() };
    let service = rng.pick(&services).clone();
    let version = match rng.below(4) {
        0 => None,
        1 => Some("81ed70".to_string()),
        2 => Some("1.2".to_string()),
        _ => Some("x; y".to_string()),
    };
    let train = Train {
        id: format!("CHG{}", 1_000_000 + index),
        squad: squad.clone(),
        service: service.clone(),
        configuration_item: rng.pick(&["containers-kubernetes", "ci-2"]).to_string(),
        environment: environment.clone(),
        regions: train_regions.clone(),
        title: text(rng, "Deploy something"),
        version: version.clone(),
        planned_start: start,
        planned_end: end,
        exception_justification: match rng.below(6) {
            0 => Some(String::new()),
            1 => Some("   ".into()),
            2 => Some(text(rng, "CHG approved in RFC-12")),
            3 => Some("approved; twice".into()),
            _ => None,
        },
        crb_approved: rng.chance(30),
        stage_deployed_at: rng.chance(50).then(|| at - Duration::minutes(rng.range(-120, 3 * 24 * 60))),
    };
    let mut state = State::default();
    for i in 0..rng.below(6).saturating_sub(2) {
        let scope = match rng.below(5) {
            0 => "all".to_string(),
            1 => environment.clone(),
            2 => rng.pick(&config.environments).clone(),
            3 => rng.pick(&train_regions).clone(),
            _ => rng.pick(&regions).clone(),
        };
        state.stops.push(Stop {
            id: format!("stop_{i}"),
            scope,
            message: text(rng, &format!("CIE {i}: ingress down")),
            created_by: "U1".into(),
            created_at: at - Duration::hours(1),
        });
    }
    if rng.chance(30) {
        state.holds.push(Hold {
            train_id: if rng.chance(85) { train.id.clone() } else { "CHG1".into() },
            by: "U024BE7LH".into(),
            reason: text(rng, "waiting on DB team"),
            at: at - Duration::minutes(30),
        });
    }
    for i in 0..rng.below(4) {
        state.stage_deployments.push(StageDeployment {
            train_id: format!("CHG9{i}"),
            squad: if rng.chance(80) { squad.clone() } else { "other".into() },
            service: if rng.chance(80) { service.clone() } else { "other".into() },
            version: match rng.below(3) {
                0 => version.clone(),
                1 => None,
                _ => Some("old".into()),
            },
            completed_at: at - Duration::minutes(rng.range(-600, 3 * 24 * 60)),
        });
    }
    let results = [Outcome::Approved, Outcome::Manual, Outcome::Rejected];
    for i in 0..rng.below(4) {
        let part = |rng: &mut Rng, value: &str| match rng.below(4) {
            0 => None,
            1 => Some("*".to_string()),
            2 => Some("mismatch".to_string()),
            _ => Some(value.to_string()),
        };
        let created_at = at - Duration::minutes(rng.range(-60, 6 * 60));
        state.exceptions.push(Exception {
            id: format!("exc_{i}"),
            result: *rng.pick(&results),
            policy: rng.pick(policy_names).clone(),
            configuration_item: part(rng, &train.configuration_item),
            squad: part(rng, &squad),
            service: part(rng, &service),
            justification: text(rng, "because"),
            created_by: "U1".into(),
            created_at,
            expires_at: created_at + Duration::minutes(rng.range(1, 6 * 60)),
        });
    }
    (train, state, at)
}

/// Every name an exception may give: paths, aliases, and one no policy answers to.
fn policy_names(evaluator: &Evaluator) -> Vec<String> {
    let mut names: Vec<String> =
        evaluator.policies().entries().iter().flat_map(|e| e.names().into_iter().map(String::from)).collect();
    names.push("global.nothing".into());
    names
}

fn cases_per_configuration() -> usize {
    std::env::var("RVM_IDENTITY_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(750)
}

/// Runs `count` generated cases through `evaluator`; panics naming the first difference.
fn run_generated(evaluator: &Evaluator, seed: u64, count: usize, tally: &mut Tally) {
    let names = policy_names(evaluator);
    let mut rng = Rng(seed);
    for index in 0..count {
        let (train, state, at) = generate(&mut rng, evaluator.config(), &names, index);
        match compare(evaluator, &train, &state, at) {
            Ok(e) => tally.add(&e),
            Err(problem) => panic!(
                "seed {seed}, case {index}: {problem}\n  train {train:?}\n  state {state:?}\n  at {at}\n  fast path: {:?}",
                evaluator.fast_path_policies()
            ),
        }
    }
}

// ---- the tests -------------------------------------------------------------------

#[test]
fn golden_scenarios_decide_the_same_on_both_paths() {
    let dir = fixtures_dir().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut evaluators: BTreeMap<(String, Option<String>), Evaluator> = BTreeMap::new();
    let mut tally = Tally::default();
    for path in &files {
        let scenario: Scenario = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let evaluator = evaluators
            .entry((scenario.config.clone(), scenario.policy_overrides.clone()))
            .or_insert_with(|| evaluator(&scenario.config, scenario.policy_overrides.as_deref()));
        match compare(evaluator, &scenario.train, &scenario.state, scenario.at) {
            Ok(e) => tally.add(&e),
            Err(problem) => panic!("{}: {problem}", path.display()),
        }
    }
    println!(
        "golden: {} scenarios identical on both paths; outcomes {:?}; policy errors {:?}",
        tally.cases, tally.outcomes, tally.errors
    );
    assert!(files.len() >= 60, "only {} scenarios found", files.len());
    assert_eq!(tally.cases, files.len());
}

#[test]
fn generated_cases_decide_the_same_on_both_paths() {
    let count = cases_per_configuration();
    let mut total = Tally::default();
    for (seed, config_name) in [(1_u64, "standard"), (2, "dst-edges"), (3, "stage-business-hours"), (4, "bake-90m")] {
        let evaluator = evaluator(config_name, None);
        assert_eq!(evaluator.fast_path_policies().len(), evaluator.policies().entries().len(), "{config_name}");
        let mut tally = Tally::default();
        run_generated(&evaluator, seed, count, &mut tally);
        println!(
            "{config_name}: {} cases identical; outcomes {:?}; failing {:?}; with an exception applied {}",
            tally.cases, tally.outcomes, tally.failing, tally.exceptions_applied
        );
        total.cases += tally.cases;
        for (k, v) in tally.outcomes {
            *total.outcomes.entry(k).or_default() += v;
        }
        for (k, v) in tally.failing {
            *total.failing.entry(k).or_default() += v;
        }
        total.exceptions_applied += tally.exceptions_applied;
    }
    assert!(total.cases >= 1_000 || count < 250, "{} cases", total.cases);
    // The cases must exercise every outcome and every policy, or they prove little.
    for outcome in ["approved", "manual", "rejected"] {
        assert!(total.outcomes.get(outcome).copied().unwrap_or(0) > 5, "too few `{outcome}`: {:?}", total.outcomes);
    }
    for entry in evaluator("standard", None).policies().entries() {
        assert!(
            total.failing.get(&entry.path).copied().unwrap_or(0) > 5,
            "too few findings of `{}`: {:?}",
            entry.path,
            total.failing
        );
    }
    assert!(total.exceptions_applied > 20, "too few exceptions applied: {}", total.exceptions_applied);
}

#[test]
fn broken_overrides_decide_the_same_on_both_paths() {
    // Each override replaces or adds one policy that misbehaves for some inputs; that
    // policy stays on the interpreter (it is not an audited module), the others run
    // compiled, and errors keep their attribution and wording.
    let count = (cases_per_configuration() / 2).max(50);
    for (seed, overrides, interpreted) in [
        (11_u64, "conflict", "global.stage_bake"),
        (12, "builtin-error", "global.version_check"),
        (13, "approved-outcome", "global.on_hold"),
        (14, "extra-key", "global.cie"),
    ] {
        let evaluator = evaluator("standard", Some(overrides));
        let fast = evaluator.fast_path_policies();
        assert!(!fast.contains(&interpreted), "{overrides}: `{interpreted}` must not be compiled: {fast:?}");
        let shipped = evaluator.policies().entries().len() - 1;
        assert_eq!(fast.len(), shipped, "{overrides}: every other policy runs compiled: {fast:?}");
        let mut tally = Tally::default();
        run_generated(&evaluator, seed, count, &mut tally);
        println!("{overrides}: {} cases identical; policy errors {:?}", tally.cases, tally.errors);
        assert!(tally.errors.get(interpreted).copied().unwrap_or(0) > 0, "{overrides}: no error came out");
    }
}

#[test]
fn a_run_time_error_in_an_override_gives_the_same_error_finding() {
    // fixtures/scenarios/096: a recorded and a reported stage deployment make the
    // broken `deployed_ms` conflict. The RVM would make it undefined and report "no
    // stage deployment found"; the decision must carry the interpreter's error.
    let evaluator = evaluator("standard", Some("conflict"));
    let path = fixtures_dir().join("scenarios/096-broken-policy-conflicting-values.toml");
    let scenario: Scenario = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let got = compare(&evaluator, &scenario.train, &scenario.state, scenario.at).unwrap();
    let finding = got.findings.iter().find(|f| f.policy == "global.stage_bake").expect("a stage_bake finding");
    assert_eq!(finding.outcome, Outcome::Manual);
    assert!(finding.message.starts_with("policy error, failing closed:"), "{}", finding.message);
    assert!(finding.message.contains("conflicts"), "{}", finding.message);
}

#[test]
fn when_the_compiled_run_fails_the_interpreter_decides() {
    // A tiny instruction limit makes the RVM fail part-way (or at once): every
    // policy it does not answer goes to the interpreter, and nothing changes.
    let names = policy_names(&evaluator("standard", None));
    for (seed, limit) in [(21_u64, 0_usize), (22, 15), (23, 60), (24, 200), (25, 800)] {
        let evaluator = evaluator("standard", None);
        evaluator.set_fast_path_instruction_limit(limit);
        let mut rng = Rng(seed);
        for index in 0..60 {
            let (train, state, at) = generate(&mut rng, evaluator.config(), &names, index);
            if let Err(problem) = compare(&evaluator, &train, &state, at) {
                panic!("instruction limit {limit}, case {index}: {problem}");
            }
        }
    }
}

#[test]
fn the_time_limit_holds_on_the_fast_path() {
    // 300,000 stops: `global.cie` loops far longer than a 20ms limit on either engine
    // (the rest of the policies, and the warm-up, take well under it, even in debug).
    // The RVM stops at the limit, hands the policy to the interpreter, which stops
    // at the limit too: a time-out finding for `global.cie`, everything else as usual.
    let path = fixtures_dir().join("configs/standard.toml");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "[policies]\n",
        "[policies]\nevaluation_timeout = \"20ms\"\n",
        1,
    );
    let evaluator = Evaluator::new(policy_set(None, &[]), Config::from_toml(&text, "20ms").unwrap()).unwrap();
    assert_eq!(evaluator.fast_path_policies().len(), 7);
    let names = policy_names(&evaluator);
    let (train, mut state, at) = generate(&mut Rng(51), evaluator.config(), &names, 0);
    state.exceptions.clear();
    state.stops = (0..300_000)
        .map(|i| Stop {
            id: format!("stop_{i}"),
            scope: if i % 2 == 0 { "all".into() } else { "nowhere".into() },
            message: format!("stop {i}"),
            created_by: String::new(),
            created_at: at,
        })
        .collect();
    let context = state.for_train(&train, at);
    let started = std::time::Instant::now();
    let fast = evaluator.evaluate(&train, context, at);
    let took = started.elapsed();
    let interpreted = evaluator.evaluate_interpreted(&train, context, at);
    let timed_out = |e: &Evaluation| {
        e.findings.iter().any(|f| f.policy == "global.cie" && f.message.contains("exceeded time limit"))
    };
    assert!(timed_out(&fast), "{fast:?}");
    assert!(timed_out(&interpreted), "{interpreted:?}");
    let others = |e: &Evaluation| e.findings.iter().filter(|f| f.policy != "global.cie").cloned().collect::<Vec<_>>();
    assert_eq!(others(&fast), others(&interpreted));
    assert_eq!(fast.outcome, interpreted.outcome);
    println!("300,000 stops, 20ms limit: decided in {took:?}");
}

#[test]
fn shipped_policies_take_the_fast_path() {
    // If this fails after a shipped policy was edited, the edited module is no
    // longer the audited text: decisions are still right, but slower. Re-audit it
    // (see crates/signalbox-core/src/fast_path.rs) and update its digest there.
    let evaluator = evaluator("standard", None);
    let all: Vec<&str> = evaluator.policies().entries().iter().map(|e| e.path.as_str()).collect();
    assert_eq!(evaluator.fast_path_policies(), all);
}

#[test]
fn modules_that_touch_audited_packages_keep_policies_on_the_interpreter() {
    let extra_helper = "package signalbox.lib\n\nimport rego.v1\n\nextra := 1\n";
    let whole_tree = "package signalbox\n\nimport rego.v1\n\nanything := 1\n";
    let config_rule = "package signalbox.config.more\n\nimport rego.v1\n\nx := 1\n";
    let nested = "package signalbox.global.cie.inner\n\nimport rego.v1\n\nx := 1\n";
    // A custom policy with a construct the RVM cannot compile (`with`).
    let custom = "package signalbox.global.custom\n\nimport rego.v1\n\nfinding := {\"outcome\": \"manual\", \"message\": \"custom\"} if {\n\tx := input.train.squad with input.train.squad as \"nosla\"\n\tx == input.train.squad\n}\n";
    let mut manifest = std::fs::read_to_string(policies_dir().join("manifest.toml")).unwrap();
    manifest.push_str("\n[[policy]]\npath = \"global.custom\"\npriority = 9\nfile = \"global/custom.rego\"\n");
    let cases: [(&[(&str, &str)], usize); 5] = [
        (&[("lib/extra.rego", extra_helper)], 0),
        (&[("root.rego", whole_tree)], 0),
        (&[("config.rego", config_rule)], 0),
        (&[("global/cie_inner.rego", nested)], 6),
        (&[("global/custom.rego", custom), ("manifest.toml", &manifest)], 7),
    ];
    for (seed, (extra, compiled)) in (31_u64..).zip(cases) {
        let evaluator = Evaluator::new(policy_set(None, extra), config("standard")).unwrap();
        assert_eq!(evaluator.fast_path_policies().len(), compiled, "{extra:?}: {:?}", evaluator.fast_path_policies());
        let mut tally = Tally::default();
        run_generated(&evaluator, seed, 40, &mut tally);
        assert_eq!(tally.cases, 40);
    }
}

#[test]
fn evaluators_are_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Evaluator>();
    let evaluator = evaluator("standard", None);
    let names = policy_names(&evaluator);
    let mut rng = Rng(41);
    let cases: Vec<_> = (0..40).map(|i| generate(&mut rng, evaluator.config(), &names, i)).collect();
    let expected: Vec<Evaluation> =
        cases.iter().map(|(t, s, at)| evaluator.evaluate_interpreted(t, s.for_train(t, *at), *at)).collect();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..3 {
                    for ((t, s, at), want) in cases.iter().zip(&expected) {
                        assert_eq!(evaluator.evaluate(t, s.for_train(t, *at), *at), *want);
                    }
                }
            });
        }
    });
}
