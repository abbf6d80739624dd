//! Time one decision over the shipped policies, single thread (release build):
//! `cargo run --release -p signalbox-core --example scratch_time [n] [fast|interpreted|both]`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
use std::time::{Duration, Instant};

use signalbox_core::*;

fn walk(d: &std::path::Path, root: &std::path::Path, files: &mut Vec<PolicySource>) {
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, root, files)
        } else {
            files.push(PolicySource::new(
                p.strip_prefix(root).unwrap().to_string_lossy(),
                std::fs::read_to_string(&p).unwrap(),
            ))
        }
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    let total: Duration = samples.iter().sum();
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "{name:12} mean {:>9.2?}  p50 {:>9.2?}  p90 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}",
        total / samples.len() as u32,
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let mode = args.get(2).map(String::as_str).unwrap_or("both");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let mut files = vec![];
    walk(&root, &root, &mut files);
    let config =
        Config::from_toml(&std::fs::read_to_string(root.join("../docs/examples/signalbox.toml")).unwrap(), "x")
            .unwrap();
    let ev = Evaluator::new(PolicySet::new(files).unwrap(), config).unwrap();
    println!("fast path: {:?}", ev.fast_path_policies());
    let train: Train = serde_json::from_str(
        &std::fs::read_to_string(root.join("../docs/examples/train-monday-morning.json")).unwrap(),
    )
    .unwrap();
    let at = "2026-11-23T15:00:00Z".parse().unwrap();
    assert_eq!(
        ev.evaluate(&train, TrainContext::default(), at),
        ev.evaluate_interpreted(&train, TrainContext::default(), at)
    );
    let run = |name: &str, n: usize, f: &dyn Fn() -> Evaluation| {
        for _ in 0..n / 10 {
            std::hint::black_box(f());
        }
        let samples = (0..n)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect();
        report(name, samples);
    };
    if mode == "parts" {
        let config = ev.config();
        run("input_value", n, &|| {
            std::hint::black_box(signalbox_core::evaluate::input_value(&train, TrainContext::default(), at, config));
            ev.evaluate(&train, TrainContext::default(), at)
        });
        run("intervals", n, &|| {
            for r in &train.regions {
                if let Some(region) = config.regions.get(r) {
                    std::hint::black_box(signalbox_core::calendar::business_intervals(
                        region,
                        train.planned_start.max(at),
                        train.planned_end,
                    ));
                }
            }
            ev.evaluate(&train, TrainContext::default(), at)
        });
        run("rfc3339x4", n, &|| {
            for _ in 0..4 {
                std::hint::black_box(signalbox_core::time::rfc3339(at));
            }
            ev.evaluate(&train, TrainContext::default(), at)
        });
        return;
    }
    if mode != "interpreted" {
        run("fast", n, &|| ev.evaluate(&train, TrainContext::default(), at));
    }
    if mode != "fast" {
        run("interpreted", n.min(5_000), &|| ev.evaluate_interpreted(&train, TrainContext::default(), at));
    }
}
