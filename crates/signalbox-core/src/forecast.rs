//! When a decision that is not approved could pass: `retry_at` and `suggested_window`.
//!
//! Both are found by evaluating the policies themselves at later instants, never
//! by repeating their rules in Rust. Only the *time-driven* policies (manifest
//! entries with `time_driven = true`: the shipped `change_freeze`,
//! `business_hours` and `stage_bake`) are evaluated at a candidate; each policy
//! is evaluated on its own with its own exception, so their findings are those
//! a full decision at that instant would give them. Stops, the hold and the
//! stage deployment are the ones the decision was made with; an exception
//! counts at a candidate only while it is live there.
//!
//! Rust only proposes the candidate instants: the edges where an input of a
//! time-driven policy changes. Between two edges nothing those policies read
//! changes but the instant itself, and the shipped ones only pass more as the
//! start moves later, so the earliest passing instant is one of:
//!
//! - the end of a business-hours interval of one of the train's regions
//!   (`calendar.rs`, in the region's time zone, holidays left out), and the
//!   local midnight where a day without business hours (a weekend day, a
//!   holiday) begins in one of them;
//! - the end of a freeze;
//! - the instant a stage bake completes: the recorded stage deployment, and the
//!   train's `stage_deployed_at`, plus the configured bake time;
//! - the instants an exception covering the train, on a time-driven policy,
//!   begins and expires.
//!
//! The local midnights are not needed by the shipped policies (a business-hours
//! end always comes first); they give a custom time-driven policy that depends
//! on the day a chance. The candidates are sorted and evaluated in order; the
//! first one at which no time-driven policy has a finding wins. At a candidate
//! the time-driven policies are tried one at a time, the one that failed last
//! first, and the candidate fails at the first finding. The work is bounded: at most
//! [`RETRY_EVALUATIONS`] evaluations for `retry_at` and [`WINDOW_EVALUATIONS`]
//! for `suggested_window`; past that the answer is `None`. An evaluation that
//! errors gives a finding (fail closed), so that candidate does not pass.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::calendar::business_intervals;
use crate::config::Region;
use crate::decision::{Finding, Window};
use crate::evaluate::{Evaluation, Evaluator};
use crate::state::TrainContext;
use crate::Train;

/// Most evaluations spent looking for `retry_at`.
pub const RETRY_EVALUATIONS: usize = 64;
/// Most evaluations spent looking for `suggested_window`.
pub const WINDOW_EVALUATIONS: usize = 256;
/// A suggested window starts within this many days of the evaluation instant.
pub const WINDOW_HORIZON_DAYS: i64 = 14;

/// The two forecasts of a decision; both `None` for an approved one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forecast {
    /// The earliest instant in `[at, planned_end)` at which a decision would
    /// have no finding from a time-driven policy.
    pub retry_at: Option<DateTime<Utc>>,
    /// The earliest window of the planned length starting in `[at, at + 14 days)`
    /// whose decision at its start would have no finding from a time-driven policy.
    pub suggested_window: Option<Window>,
}

impl Evaluator {
    /// The forecast of `evaluation`, the decision of `train` at `at` with `state`.
    ///
    /// Nothing to forecast when no time-driven policy has a finding (an approved
    /// decision, or one held back only by a stop, a hold, a missing SLA, a window
    /// that is over): waiting does not help there.
    pub fn forecast(
        &self,
        train: &Train,
        state: TrainContext<'_>,
        at: DateTime<Utc>,
        evaluation: &Evaluation,
    ) -> Forecast {
        if !self.any_time_driven(&evaluation.findings) {
            return Forecast::default();
        }
        let mut order = self.time_driven_order(&evaluation.findings);
        Forecast {
            retry_at: self.retry_at(train, state, at, &mut order),
            suggested_window: self.suggested_window(train, state, at, &mut order),
        }
    }

    /// The manifest indices of the time-driven policies, those with a finding first.
    fn time_driven_order(&self, findings: &[Finding]) -> Vec<usize> {
        let entries = self.policies().entries();
        let failed = |path: &str| findings.iter().any(|f| f.policy == path);
        let mut order: Vec<usize> = entries.iter().enumerate().filter(|(_, e)| e.time_driven).map(|(i, _)| i).collect();
        order.sort_by_key(|i| !entries.get(*i).is_some_and(|e| failed(&e.path)));
        order
    }

    /// Whether a time-driven policy is among those with a finding.
    fn any_time_driven(&self, findings: &[Finding]) -> bool {
        findings.iter().any(|f| self.policies().find(&f.policy).is_some_and(|e| e.time_driven))
    }

    /// The time-driven policies alone, evaluated as a full decision would
    /// evaluate them (the others are left out). Public for tests only.
    #[doc(hidden)]
    pub fn evaluate_time_driven(&self, train: &Train, state: TrainContext<'_>, at: DateTime<Utc>) -> Evaluation {
        self.evaluate_selected(train, state, at, |entry| entry.time_driven)
    }

    /// Whether a decision of `train` at `at` would have no finding from a
    /// time-driven policy. The policies are tried in `order`; one that fails
    /// moves to the front, as it is the likeliest to fail at the next candidate.
    fn clears(&self, train: &Train, state: TrainContext<'_>, at: DateTime<Utc>, order: &mut [usize]) -> bool {
        match self.first_finding(train, state, at, order) {
            None => true,
            Some(failed) => {
                let head = order.iter().position(|i| *i == failed).and_then(|p| order.get_mut(..=p));
                if let Some(head) = head {
                    head.rotate_right(1);
                }
                false
            }
        }
    }

    /// [`Evaluator::forecast`]'s test of one candidate, for tests: whether a
    /// decision of `train` at `at` would have no finding from a time-driven policy.
    #[doc(hidden)]
    pub fn clears_time_driven(&self, train: &Train, state: TrainContext<'_>, at: DateTime<Utc>) -> bool {
        self.clears(train, state, at, &mut self.time_driven_order(&[]))
    }

    /// The earliest edge in `(at, planned_end)` at which the train clears; `at`
    /// itself has a time-driven finding (that is why there is a forecast).
    fn retry_at(
        &self,
        train: &Train,
        state: TrainContext<'_>,
        at: DateTime<Utc>,
        order: &mut [usize],
    ) -> Option<DateTime<Utc>> {
        // What is left of the window starts at the later of planned_start and the instant.
        let hours_from = train.planned_start.max(at);
        self.edges(train, state, at, train.planned_end, hours_from)
            .into_iter()
            .filter(|t| *t > at)
            .take(RETRY_EVALUATIONS)
            .find(|t| self.clears(train, state, *t, order))
    }

    /// The earliest window of the planned length that clears when decided at its
    /// start, among those starting at `at` or at an edge before `at + 14 days`.
    fn suggested_window(
        &self,
        train: &Train,
        state: TrainContext<'_>,
        at: DateTime<Utc>,
        order: &mut [usize],
    ) -> Option<Window> {
        let length = train.planned_end - train.planned_start;
        let horizon = at.checked_add_signed(TimeDelta::days(WINDOW_HORIZON_DAYS))?;
        let edges = self.edges(train, state, at, horizon, at);
        let starts = std::iter::once(at).chain(edges.into_iter().filter(|t| *t > at));
        let mut candidate = train.clone();
        starts.take(WINDOW_EVALUATIONS).find_map(|start| {
            let end = start.checked_add_signed(length)?;
            candidate.planned_start = start;
            candidate.planned_end = end;
            self.clears(&candidate, state, start, order).then_some(Window { start, end })
        })
    }

    /// The instants in `[from, to)` where an input of a time-driven policy
    /// changes (see the module's documentation), sorted, each once. Business
    /// hours are spelled out from `hours_from`.
    fn edges(
        &self,
        train: &Train,
        state: TrainContext<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        hours_from: DateTime<Utc>,
    ) -> Vec<DateTime<Utc>> {
        let config = self.config();
        let mut edges = Vec::new();
        for region in train.regions.iter().filter_map(|name| config.regions.get(name)) {
            edges.extend(business_intervals(region, hours_from, to).into_iter().map(|i| i.end));
            edges.extend(days_off(region, from, to));
        }
        edges.extend(config.freezes.iter().map(|f| f.end));
        let bake = config.policies.stage_bake;
        let deployed = state.stage.map(|d| d.completed_at).into_iter().chain(train.stage_deployed_at);
        edges.extend(deployed.filter_map(|t| t.checked_add_signed(bake)));
        let time_driven = |policy: &str| self.policies().find(policy).is_some_and(|e| e.time_driven);
        for x in state.exceptions {
            if time_driven(&x.policy) && x.covers(&train.configuration_item, &train.squad, &train.service) {
                edges.extend([x.created_at, x.expires_at]);
            }
        }
        edges.retain(|t| from <= *t && *t < to);
        edges.sort_unstable();
        edges.dedup();
        edges
    }
}

/// The start of every local day of `region` without business hours (not one of
/// its business days, or a holiday) that touches `[from, to]`.
fn days_off(region: &Region, from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    let tz = region.timezone;
    let first = from.with_timezone(&tz).date_naive();
    let last = to.with_timezone(&tz).date_naive();
    let business = |d: &NaiveDate| {
        u8::try_from(d.weekday().num_days_from_monday()).is_ok_and(|day| region.business_hours.days.contains(&day))
            && !region.holidays.contains(d)
    };
    first
        .iter_days()
        .take_while(move |d| *d <= last)
        .filter(move |d| !business(d))
        .filter_map(move |d| day_start(tz, d))
}

/// The first instant of local day `day` in `tz` (a day may begin after a gap).
fn day_start(tz: Tz, day: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = day.and_hms_opt(0, 0, 0)?;
    (0..=180)
        .filter_map(|m| midnight.checked_add_signed(TimeDelta::minutes(m)))
        .find_map(|local| tz.from_local_datetime(&local).earliest())
        .map(|t| t.with_timezone(&Utc))
}
