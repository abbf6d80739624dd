//! Business hours as plain facts: the UTC intervals a region is open, worked out
//! with chrono-tz so that policies only compare numbers.
//!
//! Daylight-saving edges are resolved to the wider interval: a local start time
//! that falls in a spring-forward gap starts at the end of the gap, and an
//! ambiguous (repeated) local time starts at its first occurrence and ends at
//! its last. Wider business hours can only cost a conductor a look, never let a
//! change through.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::Region;

/// How many days of a remaining window are spelled out; a window longer than
/// this is judged on its first days only (see docs/policies.md).
pub const MAX_WINDOW_DAYS: i64 = 32;

/// One stretch of business hours, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The business-hours intervals of `region` on every local day that touches
/// `[from, to)` (one day of margin each side), holidays left out.
pub fn business_intervals(region: &Region, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Interval> {
    let tz = region.timezone;
    let to = to.min(from + Duration::days(MAX_WINDOW_DAYS));
    let first = from.with_timezone(&tz).date_naive().pred_opt().unwrap_or(NaiveDate::MIN);
    let last = to.with_timezone(&tz).date_naive().succ_opt().unwrap_or(NaiveDate::MAX);
    let hours = &region.business_hours;
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .filter(|d| hours.days.contains(&weekday_index(*d)) && !region.holidays.contains(d))
        .filter_map(|d| {
            let start = local_instant(tz, d, hours.start_minute, Edge::Start)?;
            let end = local_instant(tz, d, hours.end_minute, Edge::End)?;
            (end > start).then_some(Interval { start, end })
        })
        .collect()
}

fn weekday_index(d: NaiveDate) -> u8 {
    u8::try_from(d.weekday().num_days_from_monday()).unwrap_or(0)
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

/// The instant of `minute` after local midnight on `day` in `tz` (`24:00` is the next midnight).
fn local_instant(tz: Tz, day: NaiveDate, minute: u32, edge: Edge) -> Option<DateTime<Utc>> {
    let local: NaiveDateTime = day.and_hms_opt(0, 0, 0)? + Duration::minutes(i64::from(minute));
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(early, late) => Some(match edge {
            Edge::Start => early.with_timezone(&Utc),
            Edge::End => late.with_timezone(&Utc),
        }),
        // In a spring-forward gap: the first valid local instant after it.
        LocalResult::None => (1..=180).find_map(|m| {
            tz.from_local_datetime(&(local + Duration::minutes(m))).earliest().map(|t| t.with_timezone(&Utc))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BusinessHours;
    use std::collections::BTreeSet;

    fn region(tz: &str, start: u32, end: u32) -> Region {
        Region {
            timezone: tz.parse().unwrap(),
            business_hours: BusinessHours { days: (0..5).collect(), start_minute: start, end_minute: end },
            holidays: BTreeSet::new(),
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn chicago_hours_follow_daylight_saving() {
        let r = region("America/Chicago", 8 * 60, 18 * 60);
        // Friday 2026-10-30 is CDT (UTC-5); Monday 2026-11-02 is CST (UTC-6).
        let got = business_intervals(&r, utc("2026-10-30T12:00:00Z"), utc("2026-11-02T20:00:00Z"));
        assert!(got.contains(&Interval { start: utc("2026-10-30T13:00:00Z"), end: utc("2026-10-30T23:00:00Z") }));
        assert!(got.contains(&Interval { start: utc("2026-11-02T14:00:00Z"), end: utc("2026-11-03T00:00:00Z") }));
        assert!(!got.iter().any(|i| i.start.date_naive() == utc("2026-10-31T12:00:00Z").date_naive()), "no Saturday");
    }

    #[test]
    fn a_start_in_the_spring_gap_begins_after_the_gap() {
        // Berlin skips 02:00-03:00 on Sunday 2026-03-29.
        let mut r = region("Europe/Berlin", 2 * 60 + 30, 4 * 60);
        r.business_hours.days = (0..7).collect();
        let got = business_intervals(&r, utc("2026-03-29T00:00:00Z"), utc("2026-03-29T03:00:00Z"));
        assert!(
            got.contains(&Interval { start: utc("2026-03-29T01:00:00Z"), end: utc("2026-03-29T02:00:00Z") }),
            "{got:?}"
        );
    }

    #[test]
    fn holidays_have_no_business_hours() {
        let mut r = region("America/Chicago", 8 * 60, 18 * 60);
        r.holidays.insert(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
        let got = business_intervals(&r, utc("2026-12-25T12:00:00Z"), utc("2026-12-25T20:00:00Z"));
        assert!(got.iter().all(|i| i.start.date_naive() != NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()));
        assert!(!got.is_empty(), "the days around it are still there");
    }
}
