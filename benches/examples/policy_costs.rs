//! What each shipped policy costs inside one decision, on the realistic configuration.
//!
//! Each line limits every policy but one to the `stage` environment (through
//! `[policies] environments`) and times whole decisions of production trains, so
//! the line is the fixed cost of a decision (the `(none)` line: input, exceptions,
//! summary) plus that one policy. Then `scheduling.change_freeze` alone with the
//! first N of the 50 freezes, to show how its cost grows. Public API only.
//!
//! Run: `cargo run --release -p signalbox-benches --example policy_costs [POLICY|none|all SECONDS | quick [ROUNDS]]`

// A measuring tool: a broken setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::Instant;

use signalbox_benches::{bench_now, evaluator, shipped_policies_dir, Case, Realistic, POLICIES};
use signalbox_core::{Config, Evaluator};

fn main() {
    let realistic = Realistic::new(bench_now(), 42).unwrap();
    let all = evaluator(&shipped_policies_dir(), &realistic.config).unwrap();
    let cases: Vec<Case> =
        realistic.cases(Some(&all), 1_000, 5, 1).into_iter().filter(|c| c.train.environment == "production").collect();
    // Best of five passes over the cases: the least disturbed by other work on the machine.
    let time = |e: &Evaluator| {
        (0..5)
            .map(|_| {
                let started = Instant::now();
                for c in &cases {
                    black_box(e.evaluate(&c.train, c.context(&realistic.exceptions), c.at));
                }
                started.elapsed().as_secs_f64() * 1e6 / cases.len() as f64
            })
            .fold(f64::MAX, f64::min)
    };
    // The configuration with only `keep` applying to production, and the first `freezes` freezes.
    let only_with = |keep: Option<&str>, freezes: usize| {
        let limits: Vec<String> = POLICIES
            .iter()
            .map(|p| format!("{p:?} = [{:?}]", if Some(*p) == keep { "production" } else { "stage" }))
            .collect();
        let mut kept = 0;
        let text: Vec<&str> = realistic
            .config_text
            .split("\n[")
            .filter(|block| {
                let freeze = block.starts_with("[freezes]]");
                kept += usize::from(freeze);
                !freeze || kept <= freezes
            })
            .collect();
        let text = text
            .join("\n[")
            .replace("[policies]\n", &format!("[policies]\nenvironments = {{ {} }}\n", limits.join(", ")));
        evaluator(&shipped_policies_dir(), &Config::from_toml(&text, "policy_costs").unwrap()).unwrap()
    };
    let only = |keep: Option<&str>| only_with(keep, usize::MAX);
    // `policy_costs <policy> <seconds>`: decide with only that policy applying, in a
    // loop, for a profiler to watch (`perf record -g`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `policy_costs quick [ROUNDS]`: only the "all seven" line, ROUNDS times (3 by
    // default), for comparing two builds by alternating them.
    if args.first().is_some_and(|a| a == "quick") {
        let rounds: usize = args.get(1).map_or(3, |n| n.parse().unwrap());
        let passes: Vec<String> = (0..rounds).map(|_| format!("{:.1}", time(&all))).collect();
        println!("all seven: {}", passes.join(" "));
        return;
    }
    if let [policy, seconds] = args.as_slice() {
        let e = if policy == "all" { all.clone() } else { only(Some(policy.as_str()).filter(|p| *p != "none")) };
        let until = Instant::now() + std::time::Duration::from_secs_f64(seconds.parse().unwrap());
        while Instant::now() < until {
            for c in &cases {
                black_box(e.evaluate(&c.train, c.context(&realistic.exceptions), c.at));
            }
        }
        return;
    }
    println!("{} production trains, mean µs per decision (best of 5 passes):", cases.len());
    println!("  {:<26} {:7.1}", "all seven policies", time(&all));
    println!("  {:<26} {:7.1}", "(none)", time(&only(None)));
    for policy in POLICIES {
        println!("  {policy:<26} {:7.1}", time(&only(Some(policy))));
    }
    println!("scheduling.change_freeze alone, by the number of freezes configured:");
    for n in [0, 6, 12, 25, 50] {
        println!("  {n:>2} freezes                 {:7.1}", time(&only_with(Some("scheduling.change_freeze"), n)));
    }
}
