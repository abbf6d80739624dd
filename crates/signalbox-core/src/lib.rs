//! Signalbox's decision core: trains, configuration, policies and their evaluation.
//!
//! Time is always a parameter: nothing in this crate reads the clock, opens a
//! socket or a database, or looks at environment variables. Callers hand in the
//! instant, the state and the policy sources.

// Tests may unwrap: a panic there is a failed test, which is what we want.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod calendar;
pub mod config;
pub mod decision;
pub mod evaluate;
mod fast_path;
pub mod forecast;
pub mod ical;
pub mod policy;
pub mod rego_test;
pub mod state;
pub mod text;
pub mod time;
pub mod train;

pub use config::Config;
pub use decision::{Decision, Finding, Outcome, Window};
pub use evaluate::{Evaluation, Evaluator};
pub use forecast::Forecast;
pub use policy::{PolicyEntry, PolicyError, PolicySet, PolicySource};
pub use state::{Exception, ExceptionRequest, Hold, StageDeployment, State, Stop, TrainContext};
pub use train::{Train, TrainError, TrainState};
