#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

//! iCalendar import on real-world shapes (`fixtures/calendars/`). Every
//! expected instant is worked out by hand in the comment beside it, from the
//! file's local times and the zone's offset on that date.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use signalbox_core::config::{CalendarKind, CalendarSpec, Freeze};
use signalbox_core::ical::{import, Imported};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(common::fixtures_dir().join("calendars").join(name)).unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn spec(kind: CalendarKind) -> CalendarSpec {
    CalendarSpec {
        name: "test".into(),
        source: "test.ics".into(),
        kind,
        environments: (kind == CalendarKind::Freeze).then(|| vec!["production".to_string()]),
        regions: (kind == CalendarKind::Holidays).then(|| vec!["us-south".to_string()]),
        refresh: TimeDelta::minutes(15),
        line: 1,
    }
}

fn freezes(text: &str, now: &str) -> Vec<Freeze> {
    import(text, &spec(CalendarKind::Freeze), at(now)).unwrap().freezes
}

/// A freeze as the calendar `spec(Freeze)` makes it: production, every region.
fn freeze(name: &str, start: &str, end: &str, reason: &str) -> Freeze {
    Freeze {
        name: name.into(),
        start: at(start),
        end: at(end),
        environments: Some(vec!["production".into()]),
        regions: None,
        reason: reason.into(),
    }
}

/// Monday 2026-11-23 03:00Z, the instant the server tests stand at.
const NOW: &str = "2026-11-23T03:00:00Z";

#[test]
fn a_google_calendar_export() {
    assert_eq!(
        freezes(&fixture("google.ics"), NOW),
        [
            // DTSTART/DTEND with Z: UTC as written.
            freeze("Thanksgiving freeze", "2026-11-25T22:00:00Z", "2026-11-27T06:00:00Z", ""),
            // 17:00 CST (UTC-6) on 18 December is 23:00Z; 08:00 CST on 4 January is 14:00Z.
            // The description is unescaped (`\,`) and unfolded (its second line starts with a space).
            freeze(
                "Year-end freeze",
                "2026-12-18T23:00:00Z",
                "2027-01-04T14:00:00Z",
                "End of year change freeze, approved by the CAB. Exceptions need a VP sign-off."
            ),
            // The Labor day freeze (1-8 September 2026) ended before NOW: not imported.
        ]
    );
}

#[test]
fn an_outlook_export_with_windows_time_zone_names() {
    assert_eq!(
        freezes(&fixture("outlook.ics"), NOW),
        [
            // `Central Standard Time` is America/Chicago: 20:00 CST (UTC-6) on 1 December is
            // 02:00Z on the 2nd; 02:00 CST on the 2nd is 08:00Z.
            freeze(
                "Network maintenance freeze",
                "2026-12-02T02:00:00Z",
                "2026-12-02T08:00:00Z",
                "Core network upgrade in the Dallas data centers."
            ),
            // `W. Europe Standard Time` (quoted) is Europe/Berlin: 22:00 CET (UTC+1) on
            // 10 December is 21:00Z; 06:00 CET on the 11th is 05:00Z.
            freeze(
                "Storage migration freeze",
                "2026-12-10T21:00:00Z",
                "2026-12-11T05:00:00Z",
                "Frankfurt storage migration"
            ),
        ]
    );
}

#[test]
fn an_all_day_freeze_covers_its_days_from_utc_midnight_to_utc_midnight() {
    assert_eq!(
        freezes(&fixture("all-day.ics"), NOW),
        [
            // DTSTART 24 December, DTEND 27 December (exclusive): the 24th, 25th and 26th.
            freeze("Winter holidays", "2026-12-24T00:00:00Z", "2026-12-27T00:00:00Z", "Offices closed"),
            // No DTEND: one day.
            freeze("New Year's Day", "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z", ""),
        ]
    );
}

#[test]
fn an_all_day_event_in_a_holiday_calendar_makes_its_dates_holidays() {
    let imported = import(&fixture("all-day.ics"), &spec(CalendarKind::Holidays), at(NOW)).unwrap();
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    assert_eq!(
        imported,
        Imported {
            freezes: vec![],
            holidays: BTreeSet::from([day(2026, 12, 24), day(2026, 12, 25), day(2026, 12, 26), day(2027, 1, 1)]),
        }
    );
}

#[test]
fn a_weekly_maintenance_freeze_with_an_exdate_across_the_end_of_daylight_saving_time() {
    // Mondays 22:00-24:00 New York, four times from 26 October 2026, without 2 November.
    // US daylight saving time ends on Sunday 1 November 2026.
    let reason = "Weekly database patching window";
    assert_eq!(
        freezes(&fixture("weekly-dst.ics"), "2026-10-20T00:00:00Z"),
        [
            // 26 October 22:00 EDT (UTC-4) is 02:00Z on the 27th.
            freeze("Database maintenance", "2026-10-27T02:00:00Z", "2026-10-27T04:00:00Z", reason),
            // 2 November 22:00 EST (UTC-5), 03:00Z on the 3rd, is the EXDATE: skipped.
            // 9 November 22:00 EST (UTC-5) is 03:00Z on the 10th: the wall-clock time holds across the switch.
            freeze("Database maintenance", "2026-11-10T03:00:00Z", "2026-11-10T05:00:00Z", reason),
            freeze("Database maintenance", "2026-11-17T03:00:00Z", "2026-11-17T05:00:00Z", reason),
        ]
    );
    // Imported during the second: it still overlaps what is ahead, the first does not.
    assert_eq!(
        freezes(&fixture("weekly-dst.ics"), "2026-11-10T04:00:00Z"),
        [
            freeze("Database maintenance", "2026-11-10T03:00:00Z", "2026-11-10T05:00:00Z", reason),
            freeze("Database maintenance", "2026-11-17T03:00:00Z", "2026-11-17T05:00:00Z", reason),
        ]
    );
}

#[test]
fn cancelled_events_and_cancelled_occurrences_are_skipped() {
    assert_eq!(
        freezes(&fixture("cancelled.ics"), NOW),
        [
            // Weekly from Tuesday 1 December, three times; the 8 December one is
            // cancelled by its RECURRENCE-ID event.
            freeze("Tuesday window", "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", ""),
            freeze("Kept freeze", "2026-12-03T00:00:00Z", "2026-12-03T06:00:00Z", ""),
            // The `Called-off freeze` has STATUS:CANCELLED.
            freeze("Tuesday window", "2026-12-15T09:00:00Z", "2026-12-15T10:00:00Z", ""),
        ]
    );
}

#[test]
fn a_malformed_file_is_refused_naming_the_line() {
    let e = import(&fixture("malformed.ics"), &spec(CalendarKind::Freeze), at(NOW)).unwrap_err();
    assert_eq!(e.line, 12, "{e}");
    assert!(e.to_string().contains("DTSTART") && e.to_string().contains("2026-12-04 00:00"), "{e}");
}

#[test]
fn a_broken_structure_is_refused_naming_the_line_of_the_file_as_written() {
    // Line 4 is folded over lines 4-5, so the bad line 7 is the 6th once unfolded.
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDESCRIPTION:a long\r\n  description\r\nDTSTART:20261203T000000Z\r\nthis line is not a property\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let e = import(text, &spec(CalendarKind::Freeze), at(NOW)).unwrap_err();
    assert_eq!(e.line, 7, "{e}");

    let e = import("hello\n", &spec(CalendarKind::Freeze), at(NOW)).unwrap_err();
    assert_eq!(e.line, 1, "{e}");
}

#[test]
fn an_unknown_time_zone_is_refused_naming_it_and_the_line() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:x\nDTSTART;TZID=Mars Standard Time:20261203T000000\nDTEND:20261203T060000Z\nEND:VEVENT\nEND:VCALENDAR\n";
    let e = import(text, &spec(CalendarKind::Freeze), at(NOW)).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.contains("Mars Standard Time"), "{e}");
}

#[test]
fn a_floating_time_is_taken_as_utc() {
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Floating\nDTSTART:20261203T010000\nDURATION:PT2H\nEND:VEVENT\nEND:VCALENDAR\n";
    assert_eq!(freezes(text, NOW), [freeze("Floating", "2026-12-03T01:00:00Z", "2026-12-03T03:00:00Z", "")]);
}

#[test]
fn recurrences_are_kept_for_the_next_400_days_only() {
    // Daily 12:00-13:00Z since 1 January 2026. From NOW (23 November 2026 03:00Z) the
    // first that has not ended is 23 November 12:00Z; NOW + 400 days is 28 December
    // 2027 03:00Z, so the last is 27 December 2027 12:00Z. 23-30 November (8) +
    // December (31) + 1 January to 27 December 2027 (361) = 400 occurrences.
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Daily\nDTSTART:20260101T120000Z\nDTEND:20260101T130000Z\nRRULE:FREQ=DAILY\nEND:VEVENT\nEND:VCALENDAR\n";
    let imported = freezes(text, NOW);
    assert_eq!(imported.len(), 400);
    assert_eq!(imported.first().unwrap().start, at("2026-11-23T12:00:00Z"));
    assert_eq!(imported.last().unwrap().start, at("2027-12-27T12:00:00Z"));
}

#[test]
fn a_timed_holiday_counts_for_its_local_dates() {
    // 18:00 Chicago on 31 December to 02:00 on 1 January: both dates.
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:NYE\nDTSTART;TZID=America/Chicago:20261231T180000\nDTEND;TZID=America/Chicago:20270101T020000\nEND:VEVENT\nEND:VCALENDAR\n";
    let imported = import(text, &spec(CalendarKind::Holidays), at(NOW)).unwrap();
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    assert_eq!(imported.holidays, BTreeSet::from([day(2026, 12, 31), day(2027, 1, 1)]));
}

#[test]
fn a_rule_with_too_many_occurrences_is_refused_not_cut_short() {
    // Every minute: 576,000 occurrences in 400 days.
    let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Noisy\nDTSTART:20261101T000000Z\nDURATION:PT1M\nRRULE:FREQ=MINUTELY\nEND:VEVENT\nEND:VCALENDAR\n";
    let e = import(text, &spec(CalendarKind::Freeze), at(NOW)).unwrap_err();
    assert_eq!(e.line, 6, "{e}");
    assert!(e.message.contains("RRULE"), "{e}");
}
