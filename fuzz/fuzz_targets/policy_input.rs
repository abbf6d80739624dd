//! A train (any JSON that reads as one) through the policy input builder and a
//! whole decision on the built-in defaults, at a fixed instant: never a panic,
//! and a decision with a policy error is never approved (fail closed).
#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use signalbox_core::{Evaluator, Outcome, TrainContext};

fn evaluator() -> &'static Evaluator {
    static EVALUATOR: OnceLock<Evaluator> = OnceLock::new();
    EVALUATOR.get_or_init(|| {
        let config = signalbox_core::Config::defaults().unwrap();
        let set = signalbox_server::policies::embedded().unwrap();
        Evaluator::new(set, config).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(train) = serde_json::from_slice::<signalbox_core::Train>(data) else {
        return;
    };
    let at: DateTime<Utc> = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
    let evaluator = evaluator();
    let _ = signalbox_core::evaluate::build_input(&train, TrainContext::default(), at, evaluator.config());
    let decision = evaluator.decide(&train, TrainContext::default(), at, "dec_fuzz".into(), "fuzz".into());
    if decision.findings.iter().any(|f| f.policy_error) {
        assert_ne!(decision.outcome, Outcome::Approved);
    }
});
