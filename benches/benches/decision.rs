//! Decision benchmarks on the realistic configuration (see `signalbox_benches`).
//!
//! - `decision/<label>`: one decision (`Evaluator::evaluate`, all seven shipped
//!   policies, 100 live exceptions) over generated trains: the whole spread
//!   (`mixed`), then the approved ones, those failing each policy, those failing several.
//! - `forecast/<set>_plain` and `forecast/<set>_with_forecast`: the same manual
//!   decisions evaluated alone (`Evaluator::evaluate`) and decided with their
//!   forecast (`Evaluator::decide`: `retry_at` and `suggested_window`), over
//!   every manual case (`manual`) and over those failing a time-driven policy
//!   (`time_driven`, where the forecast searches); in `--bench` mode followed
//!   by their per-decision percentiles.
//! - `policy_set_load/evaluator_new`: preparing the shipped policy set with the
//!   realistic configuration (`Evaluator::new`: parse, data, warm-up, RVM compile).
//! - `reevaluate/start_trains_10000_pending`: `POST /v1/stops/start {"scope":"all"}`
//!   through the in-process router on a store holding 10,000 pending trains:
//!   every one re-evaluated and recorded (train, decision, audit) and committed.
//! - Then, in `--bench` mode only, per-decision latency percentiles (p50/p99),
//!   which criterion does not report.
//!
//! Run: `cargo bench -p signalbox-benches --bench decision -- --measurement-time 3`
//! (a name filter after `--` runs a subset, e.g. `-- reevaluate`).

// Benchmark code: a broken fixture should stop the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration as Span;
use criterion::{Criterion, SamplingMode};
use signalbox_benches::{
    bench_now, describe_us, evaluator, histogram, labels, seed_state, seed_stop, seed_trains, shipped_policies_dir,
    spread_line, Case, Realistic, CONDUCTOR_TOKEN,
};
use signalbox_core::{Decision, Evaluation, Evaluator, Outcome, TrainState};
use signalbox_server::app::app;
use signalbox_server::runtime::Runtime;
use signalbox_server::state::AppState;
use signalbox_store::Store;
use tower::ServiceExt;

const PENDING: usize = 10_000;

struct Fixture {
    realistic: Realistic,
    evaluator: Evaluator,
    cases: Vec<Case>,
}

fn fixture() -> Fixture {
    let realistic = Realistic::new(bench_now(), 42).unwrap();
    let evaluator = evaluator(&shipped_policies_dir(), &realistic.config).unwrap();
    let cases = realistic.cases(Some(&evaluator), 2_000, 7, 1);
    let with_exception = cases
        .iter()
        .filter(|c| !evaluator.evaluate(&c.train, c.context(&realistic.exceptions), c.at).exceptions_applied.is_empty())
        .count();
    println!("decision cases: {} ({with_exception} with an exception applied)", spread_line(&cases));
    Fixture { realistic, evaluator, cases }
}

fn decisions(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("decision");
    let exceptions = &fx.realistic.exceptions;
    let sets: Vec<(&str, Vec<&Case>)> = std::iter::once(("mixed", fx.cases.iter().collect()))
        .chain(labels().into_iter().map(|l| (l, fx.cases.iter().filter(|c| c.label() == l).collect())))
        .filter(|(_, cases): &(&str, Vec<&Case>)| !cases.is_empty())
        .collect();
    for (label, cases) in &sets {
        group.bench_function(*label, |b| {
            let mut i = 0;
            b.iter(|| {
                let case = cases[i % cases.len()];
                i += 1;
                black_box(fx.evaluator.evaluate(&case.train, case.context(exceptions), case.at))
            });
        });
    }
    group.finish();
}

/// The manual cases (after exceptions), and those of them failing a time-driven policy.
fn manual_sets(fx: &Fixture) -> Vec<(&'static str, Vec<&Case>)> {
    let exceptions = &fx.realistic.exceptions;
    let evaluator = &fx.evaluator;
    let time_driven =
        |e: &Evaluation| e.findings.iter().any(|f| evaluator.policies().find(&f.policy).is_some_and(|p| p.time_driven));
    let manual: Vec<(&Case, Evaluation)> = fx
        .cases
        .iter()
        .map(|c| (c, evaluator.evaluate(&c.train, c.context(exceptions), c.at)))
        .filter(|(_, e)| e.outcome == Outcome::Manual)
        .collect();
    let searching: Vec<&Case> = manual.iter().filter(|(_, e)| time_driven(e)).map(|(c, _)| *c).collect();
    vec![("manual", manual.iter().map(|(c, _)| *c).collect()), ("time_driven", searching)]
}

fn decide(fx: &Fixture, case: &Case) -> Decision {
    fx.evaluator.decide(&case.train, case.context(&fx.realistic.exceptions), case.at, "dec".into(), "bench".into())
}

fn forecasts(c: &mut Criterion, fx: &Fixture) {
    let exceptions = &fx.realistic.exceptions;
    let sets = manual_sets(fx);
    let mut group = c.benchmark_group("forecast");
    for (label, cases) in &sets {
        println!("forecast/{label}: {} cases", cases.len());
        group.bench_function(format!("{label}_plain"), |b| {
            let mut i = 0;
            b.iter(|| {
                let case = cases[i % cases.len()];
                i += 1;
                black_box(fx.evaluator.evaluate(&case.train, case.context(exceptions), case.at))
            });
        });
        group.bench_function(format!("{label}_with_forecast"), |b| {
            let mut i = 0;
            b.iter(|| {
                let case = cases[i % cases.len()];
                i += 1;
                black_box(decide(fx, case))
            });
        });
    }
    group.finish();
}

/// Per-decision percentiles of the manual decisions, plain and with their forecast, in one run.
fn forecast_percentiles(fx: &Fixture) {
    let exceptions = &fx.realistic.exceptions;
    for (label, cases) in manual_sets(fx) {
        let (mut plain, mut with, mut one) = (histogram(), histogram(), histogram());
        let (mut retry, mut window) = (0, 0);
        for case in &cases {
            let d = decide(fx, case);
            retry += usize::from(d.retry_at.is_some());
            window += usize::from(d.suggested_window.is_some());
        }
        for _ in 0..5 {
            for case in &cases {
                let started = Instant::now();
                black_box(fx.evaluator.evaluate(&case.train, case.context(exceptions), case.at));
                plain.record((started.elapsed().as_nanos() as u64).max(1)).unwrap();
                let started = Instant::now();
                black_box(decide(fx, case));
                with.record((started.elapsed().as_nanos() as u64).max(1)).unwrap();
                let started = Instant::now();
                black_box(fx.evaluator.clears_time_driven(&case.train, case.context(exceptions), case.at));
                one.record((started.elapsed().as_nanos() as u64).max(1)).unwrap();
            }
        }
        println!("forecast/{label} ({} cases: {retry} with retry_at, {window} with suggested_window):", cases.len());
        println!("  plain decision          {}", describe_us(&plain));
        println!("  decision with forecast  {}", describe_us(&with));
        println!("  one forecast candidate  {}", describe_us(&one));
    }
}

fn policy_set_load(c: &mut Criterion, fx: &Fixture) {
    let set = signalbox_server::policies::read_dir(&shipped_policies_dir()).unwrap();
    let config = fx.evaluator.config().clone();
    let mut group = c.benchmark_group("policy_set_load");
    group.sample_size(10);
    group.bench_function("evaluator_new", |b| {
        b.iter(|| black_box(Evaluator::new(set.clone(), config.clone()).unwrap()));
    });
    group.finish();
}

/// A data directory with the realistic state and 10,000 pending trains, stopped by a stop `all`.
struct Template {
    _dir: tempfile::TempDir,
    data: PathBuf,
    config_path: PathBuf,
}

fn template(fx: &Fixture, rt: &tokio::runtime::Runtime) -> Template {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config_path = dir.path().join("signalbox.toml");
    std::fs::write(&config_path, fx.realistic.config_toml(&shipped_policies_dir())).unwrap();
    let store = Store::open(&data).unwrap();
    let cases = fx.realistic.cases(None, PENDING, 11, 100_000);
    rt.block_on(async {
        seed_state(&store, &fx.realistic).await.unwrap();
        let stop = seed_stop(&store, "all", fx.realistic.now - Span::hours(1)).await.unwrap();
        seed_trains(&store, &fx.evaluator, &fx.realistic, &cases, &[stop], Some(TrainState::Pending)).await.unwrap();
    });
    store.shutdown();
    drop(store);
    println!(
        "reevaluate fixture: {PENDING} pending trains (aimed at: {}) stored in {:.1} s",
        spread_line(&cases),
        started.elapsed().as_secs_f64()
    );
    Template { _dir: dir, data, config_path }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// One `start trains all` on a fresh copy of the template; returns its duration and reply.
fn start_trains_once(template: &Template, fx: &Fixture, rt: &tokio::runtime::Runtime) -> (Duration, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&template.data, &data);
    let store = Store::open(&data).unwrap();
    let runtime = Runtime::load(Some(&template.config_path), None).unwrap();
    // Four hours after the base instant: every case's instant has passed, the exceptions still live.
    let state = AppState::new(store.clone(), runtime, Some(template.config_path.clone()), None, None)
        .with_fixed_clock(fx.realistic.now + Span::hours(4) + Span::minutes(1));
    let router = app(state);
    let request = Request::post("/v1/stops/start")
        .header("authorization", format!("Bearer {CONDUCTOR_TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"scope": "all"}"#))
        .unwrap();
    let (elapsed, status, body) = rt.block_on(async {
        let started = Instant::now();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (started.elapsed(), status, body)
    });
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let reply: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let counted: u64 = ["approved", "rejected", "pending"].iter().filter_map(|k| reply[*k].as_u64()).sum();
    assert_eq!(counted, PENDING as u64, "{reply}");
    store.shutdown();
    (elapsed, reply)
}

fn reevaluate(c: &mut Criterion, fx: &Fixture) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let template = template(fx, &rt);
    let (first, reply) = start_trains_once(&template, fx, &rt);
    println!(
        "start trains all: {PENDING} pending trains re-evaluated and committed in {:.2} s: approved {}, rejected {}, pending {}",
        first.as_secs_f64(),
        reply["approved"],
        reply["rejected"],
        reply["pending"]
    );
    let mut group = c.benchmark_group("reevaluate");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("start_trains_10000_pending", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| start_trains_once(&template, fx, &rt).0).sum());
    });
    group.finish();
}

/// Per-decision latency percentiles, overall and per label (criterion reports means and medians only).
fn latency_percentiles(fx: &Fixture) {
    let exceptions = &fx.realistic.exceptions;
    for case in &fx.cases {
        black_box(fx.evaluator.evaluate(&case.train, case.context(exceptions), case.at));
    }
    let mut all = histogram();
    let mut by_label: Vec<(&str, hdrhistogram::Histogram<u64>)> =
        labels().into_iter().map(|l| (l, histogram())).collect();
    for _ in 0..5 {
        for case in &fx.cases {
            let started = Instant::now();
            black_box(fx.evaluator.evaluate(&case.train, case.context(exceptions), case.at));
            let ns = (started.elapsed().as_nanos() as u64).max(1);
            all.record(ns).unwrap();
            if let Some((_, h)) = by_label.iter_mut().find(|(l, _)| *l == case.label()) {
                h.record(ns).unwrap();
            }
        }
    }
    println!("one decision, latency over {} timed decisions: {}", all.len(), describe_us(&all));
    for (label, h) in &by_label {
        if !h.is_empty() {
            println!("  {label:<26} {}", describe_us(h));
        }
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-') && a.parse::<f64>().is_err());
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f) || f.contains(name));
    let fx = fixture();
    if wanted("decision") {
        decisions(&mut c, &fx);
    }
    if wanted("forecast") {
        forecasts(&mut c, &fx);
        if bench_mode {
            forecast_percentiles(&fx);
        }
    }
    if wanted("policy_set_load") {
        policy_set_load(&mut c, &fx);
    }
    if wanted("reevaluate") {
        reevaluate(&mut c, &fx);
    }
    if bench_mode && wanted("latency") {
        latency_percentiles(&fx);
    }
    c.final_summary();
}
