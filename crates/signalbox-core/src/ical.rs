//! iCalendar (RFC 5545) files turned into freezes and holidays (docs/operations.md,
//! "Calendar feeds").
//!
//! The file's structure is read by `icalendar`'s parser and recurrences are
//! expanded by `rrule`; this module decides what an event means for Signalbox.
//! Like the rest of the core it does no IO and never reads the clock: the text
//! and the instant of import are parameters.
//!
//! - A timed event with `TZID` is read in that zone (IANA names, or Windows
//!   names such as `Central Standard Time` mapped to IANA; a custom `TZID`
//!   whose `VTIMEZONE` carries `X-LIC-LOCATION` uses that IANA name). The
//!   zone's rules come from chrono-tz, not from the `VTIMEZONE` itself.
//! - A time with `Z` is UTC; a floating time (neither) is taken as UTC.
//! - An all-day event (`VALUE=DATE`, `DTEND` exclusive, one day without
//!   `DTEND`) freezes from 00:00 UTC of its first day to 00:00 UTC after its
//!   last, and in a holiday calendar makes each of its dates a holiday.
//! - `RRULE`, `RDATE` and `EXDATE` are expanded; an occurrence moved or
//!   cancelled by a `RECURRENCE-ID` event is taken from that event.
//! - `STATUS:CANCELLED` events are skipped.
//! - Only what overlaps the next [`HORIZON_DAYS`] days from the instant of
//!   import is kept.

use std::collections::{BTreeMap, BTreeSet};

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use icalendar::parser::{read_calendar_simple, unfold, Component, Property};
use rrule::{RRule, Unvalidated};

use crate::config::{CalendarKind, CalendarSpec, Freeze};

/// How far ahead of the instant of import events are kept.
pub const HORIZON_DAYS: i64 = 400;

/// Most occurrences one event may have within the horizon (a minutely rule would
/// otherwise make a calendar of hundreds of thousands of freezes).
const MAX_OCCURRENCES: u16 = 5_000;

/// Why a calendar could not be imported, with the line of the file it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct IcalError {
    /// 1-based line of the original (folded) file.
    pub line: usize,
    pub message: String,
}

/// What one calendar gives: freezes (a `freeze` calendar) or dates (a `holidays` one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Imported {
    /// Sorted by start, end and name.
    pub freezes: Vec<Freeze>,
    pub holidays: BTreeSet<NaiveDate>,
}

/// A calendar's import, named as in `[[calendars]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedCalendar {
    pub name: String,
    pub imported: Imported,
}

/// Imports an iCalendar file as the calendar `spec` describes, keeping what
/// overlaps `[now, now + HORIZON_DAYS)`.
pub fn import(text: &str, spec: &CalendarSpec, now: DateTime<Utc>) -> Result<Imported, IcalError> {
    let unfolded = unfold(text);
    let lines = LineMap::new(text, &unfolded);
    let components = read_calendar_simple(&unfolded).map_err(|e| {
        // The parser stops at the component it could not read; the line to
        // blame is the first in it that is not a content line, if there is one.
        let bad = e.input.lines().find(|l| !l.trim().is_empty() && !is_content_line(l)).unwrap_or(e.input);
        IcalError { line: lines.line_at(bad), message: format!("not valid iCalendar here: `{}`", first_line(bad)) }
    })?;
    let calendar = components.iter().find(|c| c.name.as_str().eq_ignore_ascii_case("VCALENDAR")).ok_or_else(|| {
        IcalError { line: 1, message: "not an iCalendar file: there is no BEGIN:VCALENDAR".to_string() }
    })?;
    let zones = custom_zones(calendar);
    let reader = Reader { lines: &lines, zones: &zones };

    let mut events = Vec::new();
    for component in calendar.components.iter().filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT")) {
        events.push(reader.event(component)?);
    }
    // Occurrences replaced by a RECURRENCE-ID event (moved or cancelled) are not the master's.
    let mut replaced: BTreeMap<&str, BTreeSet<DateTime<Utc>>> = BTreeMap::new();
    for event in &events {
        if let (Some(uid), Some(id)) = (&event.uid, &event.recurrence_id) {
            replaced.entry(uid.as_str()).or_default().insert(id.instant());
        }
    }

    let window = (now, now + TimeDelta::days(HORIZON_DAYS));
    let mut imported = Imported::default();
    for event in events.iter().filter(|e| !e.cancelled) {
        let skip = match (&event.uid, &event.recurrence_id) {
            (Some(uid), None) => replaced.get(uid.as_str()),
            _ => None,
        };
        for (start, end) in event.occurrences(window, skip)? {
            match spec.kind {
                CalendarKind::Freeze => imported.freezes.push(Freeze {
                    name: event.summary.clone(),
                    start,
                    end,
                    environments: spec.environments.clone(),
                    regions: spec.regions.clone(),
                    reason: event.description.clone(),
                }),
                CalendarKind::Holidays => imported.holidays.extend(event.dates(start, end)),
            }
        }
    }
    imported.freezes.sort_by(|a, b| (a.start, a.end, &a.name).cmp(&(b.start, b.end, &b.name)));
    imported.freezes.dedup();
    Ok(imported)
}

/// The start (or end) of an event as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// `VALUE=DATE`: a whole day.
    Date(NaiveDate),
    /// A date-time in its zone (UTC for `Z` and floating times).
    Time(DateTime<Tz>),
}

impl When {
    /// The instant it stands for: 00:00 UTC for a date.
    fn instant(&self) -> DateTime<Utc> {
        match self {
            When::Date(date) => date.and_time(chrono::NaiveTime::MIN).and_utc(),
            When::Time(t) => t.with_timezone(&Utc),
        }
    }
}

/// An occurrence: `[start, end)` in UTC.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// One VEVENT, read.
#[derive(Debug)]
struct Event {
    uid: Option<String>,
    summary: String,
    description: String,
    cancelled: bool,
    start: When,
    /// Exact for timed events; whole days for all-day ones.
    length: TimeDelta,
    rrule: Option<(RRule<Unvalidated>, usize)>,
    rdates: Vec<When>,
    exdates: Vec<When>,
    recurrence_id: Option<When>,
}

impl Event {
    /// Each occurrence as a UTC interval, those overlapping `window` only.
    fn occurrences(
        &self,
        window: (DateTime<Utc>, DateTime<Utc>),
        replaced: Option<&BTreeSet<DateTime<Utc>>>,
    ) -> Result<Vec<Span>, IcalError> {
        let starts: Vec<DateTime<Utc>> = match &self.rrule {
            None => std::iter::once(self.start).chain(self.rdates.iter().copied()).map(|w| w.instant()).collect(),
            Some((rule, line)) => self.expand(rule.clone(), *line, window)?,
        };
        let exdates: BTreeSet<DateTime<Utc>> = self.exdates.iter().map(When::instant).collect();
        let mut out: Vec<Span> = starts
            .into_iter()
            .filter(|s| !exdates.contains(s) && !replaced.is_some_and(|r| r.contains(s)))
            .map(|s| (s, s + self.length))
            .filter(|(s, e)| *e > window.0 && *s < window.1)
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The starts the RRULE (with RDATEs) gives near `window`.
    fn expand(
        &self,
        rule: RRule<Unvalidated>,
        line: usize,
        window: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Vec<DateTime<Utc>>, IcalError> {
        let to_rrule = |w: &When| -> DateTime<rrule::Tz> {
            match w {
                When::Date(_) => w.instant().with_timezone(&rrule::Tz::UTC),
                When::Time(t) => t.with_timezone(&rrule::Tz::from(t.timezone())),
            }
        };
        let set = rule
            .build(to_rrule(&self.start))
            .map_err(|e| IcalError { line, message: format!("`RRULE` cannot be expanded: {e}") })?;
        let set = self.rdates.iter().fold(set, |set, d| set.rdate(to_rrule(d)));
        // An occurrence that began before the window may still overlap it.
        let from = (window.0 - self.length - TimeDelta::seconds(1)).with_timezone(&rrule::Tz::UTC);
        let result = set.after(from).before(window.1.with_timezone(&rrule::Tz::UTC)).all(MAX_OCCURRENCES);
        // `limited`: the expansion stopped early (too many occurrences, or
        // rrule's own loop limit); a partial list would drop freezes silently.
        if result.limited {
            return Err(IcalError {
                line,
                message: format!(
                    "`RRULE` gives {MAX_OCCURRENCES} or more occurrences in the next {HORIZON_DAYS} days, or cannot be expanded within rrule's limits"
                ),
            });
        }
        Ok(result.dates.iter().map(|d| d.with_timezone(&Utc)).collect())
    }

    /// The dates an occurrence makes holidays: an all-day event's days; a timed
    /// event's local dates from its start to just before its end.
    fn dates(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<NaiveDate> {
        let (first, last) = match self.start {
            When::Date(_) => (start.date_naive(), (end - TimeDelta::seconds(1)).date_naive()),
            When::Time(t) => {
                let tz = t.timezone();
                let last = if end > start { end - TimeDelta::seconds(1) } else { end };
                (start.with_timezone(&tz).date_naive(), last.with_timezone(&tz).date_naive())
            }
        };
        first.iter_days().take_while(|d| *d <= last).collect()
    }
}

/// Reads properties, with what is needed to name their lines and zones.
struct Reader<'a> {
    lines: &'a LineMap<'a>,
    /// Custom TZIDs of the file's VTIMEZONEs mapped to the IANA zone they name.
    zones: &'a BTreeMap<String, Tz>,
}

impl Reader<'_> {
    fn event(&self, c: &Component<'_>) -> Result<Event, IcalError> {
        let line = self.lines.line_at(c.name.as_str());
        let text = |name: &str| c.find_prop(name).map(|p| unescape(p.val.as_str()));
        let start_prop =
            c.find_prop("DTSTART").ok_or_else(|| IcalError { line, message: "VEVENT has no `DTSTART`".to_string() })?;
        let start = self.when(start_prop)?;
        let length = self.length(c, start, line)?;
        let rrule = match c.find_prop("RRULE") {
            Some(p) => {
                let at = self.line_of(p);
                let rule = p.val.as_str().trim().parse::<RRule<Unvalidated>>().map_err(|e| IcalError {
                    line: at,
                    message: format!("`RRULE` `{}` is not a recurrence rule: {e}", p.val.as_str()),
                })?;
                Some((rule, at))
            }
            None => None,
        };
        let summary = text("SUMMARY").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(Event {
            uid: text("UID"),
            // `; ` separates findings in a decision's summary; a name never holds one.
            summary: summary.unwrap_or_else(|| "untitled event".to_string()).replace("; ", ", "),
            description: text("DESCRIPTION").unwrap_or_default().trim().replace("; ", ", "),
            cancelled: text("STATUS").is_some_and(|s| s.trim().eq_ignore_ascii_case("CANCELLED")),
            start,
            length,
            rrule,
            rdates: self.list(c, "RDATE")?,
            exdates: self.list(c, "EXDATE")?,
            recurrence_id: c.find_prop("RECURRENCE-ID").map(|p| self.when(p)).transpose()?,
        })
    }

    /// From `DTEND` or `DURATION`; an all-day event without either lasts one day.
    fn length(&self, c: &Component<'_>, start: When, line: usize) -> Result<TimeDelta, IcalError> {
        let length = if let Some(p) = c.find_prop("DTEND") {
            let end = self.when(p)?;
            match (start, end) {
                (When::Date(s), When::Date(e)) => TimeDelta::days((e - s).num_days()),
                (When::Time(_), When::Time(_)) => end.instant() - start.instant(),
                _ => {
                    return Err(IcalError {
                        line: self.line_of(p),
                        message: "`DTEND` must be a date when `DTSTART` is a date, and a date-time when it is one"
                            .to_string(),
                    })
                }
            }
        } else if let Some(p) = c.find_prop("DURATION") {
            parse_duration(p.val.as_str()).ok_or_else(|| IcalError {
                line: self.line_of(p),
                message: format!("`DURATION` `{}` is not a duration like PT1H or P2D", p.val.as_str()),
            })?
        } else if matches!(start, When::Date(_)) {
            TimeDelta::days(1)
        } else {
            return Err(IcalError { line, message: "a timed VEVENT needs `DTEND` or `DURATION`".to_string() });
        };
        if length <= TimeDelta::zero() {
            return Err(IcalError { line, message: "VEVENT ends before it starts (or as it starts)".to_string() });
        }
        Ok(length)
    }

    /// Every value of a list property (`EXDATE`, `RDATE`), each line with its own parameters.
    fn list(&self, c: &Component<'_>, name: &str) -> Result<Vec<When>, IcalError> {
        let mut out = Vec::new();
        for p in c.properties.iter().filter(|p| p.name.as_str().eq_ignore_ascii_case(name)) {
            for value in p.val.as_str().split(',').map(str::trim).filter(|v| !v.is_empty()) {
                out.push(self.value(p, value)?);
            }
        }
        Ok(out)
    }

    fn when(&self, p: &Property<'_>) -> Result<When, IcalError> {
        self.value(p, p.val.as_str().trim())
    }

    /// One date or date-time value of `p`, in `p`'s `TZID`.
    fn value(&self, p: &Property<'_>, value: &str) -> Result<When, IcalError> {
        let line = self.line_of(p);
        let name = p.name.as_str();
        let bad = || IcalError {
            line,
            message: format!(
                "`{name}` `{value}` is not a date (20261218) or a date-time (20261218T090000, with Z for UTC)"
            ),
        };
        let is_date = param(p, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE")) || value.len() == 8;
        if is_date {
            return NaiveDate::parse_from_str(value, "%Y%m%d").map(When::Date).map_err(|_| bad());
        }
        if let Some(utc) = value.strip_suffix('Z') {
            let naive = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
            return Ok(When::Time(naive.and_utc().with_timezone(&Tz::UTC)));
        }
        let naive = NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
        let zone = match param(p, "TZID") {
            // Floating time: documented as UTC.
            None => Tz::UTC,
            Some(tzid) => self.zone(tzid).ok_or_else(|| IcalError {
                line,
                message: format!(
                    "`{name}` has TZID `{tzid}`, which is neither an IANA time zone nor a known Windows time zone name"
                ),
            })?,
        };
        Ok(When::Time(local(zone, naive)))
    }

    fn zone(&self, tzid: &str) -> Option<Tz> {
        let tzid = tzid.trim().trim_matches('"');
        // Some producers prefix IANA names with a path (`/mozilla.org/20050126_1/Europe/Berlin`).
        let iana = |name: &str| name.parse::<Tz>().ok();
        iana(tzid)
            .or_else(|| self.zones.get(tzid).copied())
            .or_else(|| windows_zone(tzid))
            .or_else(|| tzid.trim_start_matches('/').splitn(3, '/').nth(2).and_then(iana))
    }

    fn line_of(&self, p: &Property<'_>) -> usize {
        self.lines.line_at(p.name.as_str())
    }
}

/// A local date-time in `zone`: the earlier of two when the clocks go back; in
/// a gap when they go forward, the instant an hour later on the wall clock
/// (RFC 5545 3.3.5: the offset from before the gap).
fn local(zone: Tz, naive: NaiveDateTime) -> DateTime<Tz> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t,
        LocalResult::None => match zone.from_local_datetime(&(naive + TimeDelta::hours(1))) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t,
            // No zone in tzdata has a gap longer than an hour at a time we could meet.
            LocalResult::None => naive.and_utc().with_timezone(&zone),
        },
    }
}

fn param<'p>(p: &'p Property<'_>, key: &str) -> Option<&'p str> {
    p.params.iter().find(|x| x.key.as_str().eq_ignore_ascii_case(key)).and_then(|x| x.val.as_ref()).map(|v| v.as_str())
}

/// VTIMEZONEs whose TZID is not a zone name themselves but which say which IANA zone they are.
fn custom_zones(calendar: &Component<'_>) -> BTreeMap<String, Tz> {
    calendar
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VTIMEZONE"))
        .filter_map(|c| {
            let tzid = c.find_prop("TZID")?.val.as_str().trim().to_string();
            let zone = c.find_prop("X-LIC-LOCATION")?.val.as_str().trim().parse::<Tz>().ok()?;
            Some((tzid, zone))
        })
        .collect()
}

/// TEXT values: `\n`, `\,`, `\;` and `\\` as RFC 5545 3.3.11 writes them.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// RFC 5545 3.3.6 durations: `P2D`, `PT1H30M`, `P1W`, `P1DT12H` (no sign, nothing negative).
fn parse_duration(text: &str) -> Option<TimeDelta> {
    let body = text.trim().strip_prefix('+').unwrap_or(text.trim()).strip_prefix('P')?;
    let mut total = TimeDelta::zero();
    let mut number = String::new();
    let mut in_time = false;
    let mut any = false;
    for c in body.chars() {
        match c {
            '0'..='9' => number.push(c),
            'T' if !in_time && number.is_empty() => in_time = true,
            unit => {
                let n: i64 = number.parse().ok()?;
                number.clear();
                any = true;
                total += match (unit, in_time) {
                    ('W', false) => TimeDelta::weeks(n),
                    ('D', false) => TimeDelta::days(n),
                    ('H', true) => TimeDelta::hours(n),
                    ('M', true) => TimeDelta::minutes(n),
                    ('S', true) => TimeDelta::seconds(n),
                    _ => return None,
                };
            }
        }
    }
    (any && number.is_empty()).then_some(total)
}

/// `NAME[;PARAM=...]:value`, the shape of every line of a file once unfolded.
fn is_content_line(line: &str) -> bool {
    let name_end = line.find([':', ';']).unwrap_or(0);
    name_end > 0
        && line.get(..name_end).is_some_and(|n| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && line.contains(':')
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().chars().take(60).collect()
}

/// Lines of the unfolded text back to lines of the file as written: unfolding
/// joins each continuation line (one starting with a space or a tab) to the
/// line before it, so the n-th unfolded line is the n-th line that is not one.
struct LineMap<'a> {
    unfolded: &'a str,
    /// The original line number of each unfolded line.
    starts: Vec<usize>,
}

impl<'a> LineMap<'a> {
    fn new(original: &str, unfolded: &'a str) -> LineMap<'a> {
        let starts = original
            .split('\n')
            .enumerate()
            .filter(|(i, l)| *i == 0 || !(l.starts_with(' ') || l.starts_with('\t')))
            .map(|(i, _)| i + 1)
            .collect();
        LineMap { unfolded, starts }
    }

    /// The original line of a slice of the unfolded text (1 if it is not one).
    fn line_at(&self, slice: &str) -> usize {
        let base = self.unfolded.as_ptr() as usize;
        let at = (slice.as_ptr() as usize).checked_sub(base).filter(|o| *o <= self.unfolded.len());
        let Some(offset) = at else { return 1 };
        let index = self.unfolded.get(..offset).map_or(0, |head| head.bytes().filter(|b| *b == b'\n').count());
        self.starts.get(index).copied().unwrap_or(index + 1)
    }
}

/// Windows time-zone names (as Outlook and Exchange write `TZID`) to IANA, after
/// the CLDR `windowsZones` table (territory `001`).
pub fn windows_zone(name: &str) -> Option<Tz> {
    WINDOWS_ZONES.iter().find(|(windows, _)| windows.eq_ignore_ascii_case(name)).and_then(|(_, iana)| iana.parse().ok())
}

/// CLDR `windowsZones.xml`, the `001` (default) mapping of each Windows zone.
pub const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("Dateline Standard Time", "Etc/GMT+12"),
    ("UTC-11", "Etc/GMT+11"),
    ("Aleutian Standard Time", "America/Adak"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Marquesas Standard Time", "Pacific/Marquesas"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("UTC-09", "Etc/GMT+9"),
    ("Pacific Standard Time (Mexico)", "America/Tijuana"),
    ("UTC-08", "Etc/GMT+8"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Mountain Standard Time (Mexico)", "America/Mazatlan"),
    ("Mountain Standard Time", "America/Denver"),
    ("Yukon Standard Time", "America/Whitehorse"),
    ("Central America Standard Time", "America/Guatemala"),
    ("Central Standard Time", "America/Chicago"),
    ("Easter Island Standard Time", "Pacific/Easter"),
    ("Central Standard Time (Mexico)", "America/Mexico_City"),
    ("Canada Central Standard Time", "America/Regina"),
    ("SA Pacific Standard Time", "America/Bogota"),
    ("Eastern Standard Time (Mexico)", "America/Cancun"),
    ("Eastern Standard Time", "America/New_York"),
    ("Haiti Standard Time", "America/Port-au-Prince"),
    ("Cuba Standard Time", "America/Havana"),
    ("US Eastern Standard Time", "America/Indianapolis"),
    ("Turks And Caicos Standard Time", "America/Grand_Turk"),
    ("Paraguay Standard Time", "America/Asuncion"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Venezuela Standard Time", "America/Caracas"),
    ("Central Brazilian Standard Time", "America/Cuiaba"),
    ("SA Western Standard Time", "America/La_Paz"),
    ("Pacific SA Standard Time", "America/Santiago"),
    ("Newfoundland Standard Time", "America/St_Johns"),
    ("Tocantins Standard Time", "America/Araguaina"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("SA Eastern Standard Time", "America/Cayenne"),
    ("Argentina Standard Time", "America/Buenos_Aires"),
    ("Greenland Standard Time", "America/Godthab"),
    ("Montevideo Standard Time", "America/Montevideo"),
    ("Magallanes Standard Time", "America/Punta_Arenas"),
    ("Saint Pierre Standard Time", "America/Miquelon"),
    ("Bahia Standard Time", "America/Bahia"),
    ("UTC-02", "Etc/GMT+2"),
    ("Azores Standard Time", "Atlantic/Azores"),
    ("Cape Verde Standard Time", "Atlantic/Cape_Verde"),
    ("UTC", "Etc/UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("Sao Tome Standard Time", "Africa/Sao_Tome"),
    ("Morocco Standard Time", "Africa/Casablanca"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("W. Central Africa Standard Time", "Africa/Lagos"),
    ("Jordan Standard Time", "Asia/Amman"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Middle East Standard Time", "Asia/Beirut"),
    ("Egypt Standard Time", "Africa/Cairo"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("Syria Standard Time", "Asia/Damascus"),
    ("West Bank Standard Time", "Asia/Hebron"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Sudan Standard Time", "Africa/Juba"),
    ("Kaliningrad Standard Time", "Europe/Kaliningrad"),
    ("Sudan Standard Time", "Africa/Khartoum"),
    ("Libya Standard Time", "Africa/Tripoli"),
    ("Namibia Standard Time", "Africa/Windhoek"),
    ("Arabic Standard Time", "Asia/Baghdad"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Arab Standard Time", "Asia/Riyadh"),
    ("Belarus Standard Time", "Europe/Minsk"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("E. Africa Standard Time", "Africa/Nairobi"),
    ("Volgograd Standard Time", "Europe/Volgograd"),
    ("Iran Standard Time", "Asia/Tehran"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("Astrakhan Standard Time", "Europe/Astrakhan"),
    ("Azerbaijan Standard Time", "Asia/Baku"),
    ("Russia Time Zone 3", "Europe/Samara"),
    ("Mauritius Standard Time", "Indian/Mauritius"),
    ("Saratov Standard Time", "Europe/Saratov"),
    ("Georgian Standard Time", "Asia/Tbilisi"),
    ("Caucasus Standard Time", "Asia/Yerevan"),
    ("Afghanistan Standard Time", "Asia/Kabul"),
    ("West Asia Standard Time", "Asia/Tashkent"),
    ("Ekaterinburg Standard Time", "Asia/Yekaterinburg"),
    ("Pakistan Standard Time", "Asia/Karachi"),
    ("Qyzylorda Standard Time", "Asia/Qyzylorda"),
    ("India Standard Time", "Asia/Calcutta"),
    ("Sri Lanka Standard Time", "Asia/Colombo"),
    ("Nepal Standard Time", "Asia/Katmandu"),
    ("Central Asia Standard Time", "Asia/Bishkek"),
    ("Bangladesh Standard Time", "Asia/Dhaka"),
    ("Omsk Standard Time", "Asia/Omsk"),
    ("Myanmar Standard Time", "Asia/Rangoon"),
    ("SE Asia Standard Time", "Asia/Bangkok"),
    ("Altai Standard Time", "Asia/Barnaul"),
    ("W. Mongolia Standard Time", "Asia/Hovd"),
    ("North Asia Standard Time", "Asia/Krasnoyarsk"),
    ("N. Central Asia Standard Time", "Asia/Novosibirsk"),
    ("Tomsk Standard Time", "Asia/Tomsk"),
    ("China Standard Time", "Asia/Shanghai"),
    ("North Asia East Standard Time", "Asia/Irkutsk"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("Taipei Standard Time", "Asia/Taipei"),
    ("Ulaanbaatar Standard Time", "Asia/Ulaanbaatar"),
    ("Aus Central W. Standard Time", "Australia/Eucla"),
    ("Transbaikal Standard Time", "Asia/Chita"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("North Korea Standard Time", "Asia/Pyongyang"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Yakutsk Standard Time", "Asia/Yakutsk"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("AUS Central Standard Time", "Australia/Darwin"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("West Pacific Standard Time", "Pacific/Port_Moresby"),
    ("Tasmania Standard Time", "Australia/Hobart"),
    ("Vladivostok Standard Time", "Asia/Vladivostok"),
    ("Lord Howe Standard Time", "Australia/Lord_Howe"),
    ("Bougainville Standard Time", "Pacific/Bougainville"),
    ("Russia Time Zone 10", "Asia/Srednekolymsk"),
    ("Magadan Standard Time", "Asia/Magadan"),
    ("Norfolk Standard Time", "Pacific/Norfolk"),
    ("Sakhalin Standard Time", "Asia/Sakhalin"),
    ("Central Pacific Standard Time", "Pacific/Guadalcanal"),
    ("Russia Time Zone 11", "Asia/Kamchatka"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("UTC+12", "Etc/GMT-12"),
    ("Fiji Standard Time", "Pacific/Fiji"),
    ("Chatham Islands Standard Time", "Pacific/Chatham"),
    ("UTC+13", "Etc/GMT-13"),
    ("Tonga Standard Time", "Pacific/Tongatapu"),
    ("Samoa Standard Time", "Pacific/Apia"),
    ("Line Islands Standard Time", "Pacific/Kiritimati"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_windows_zone_maps_to_a_zone_chrono_tz_knows() {
        for (windows, iana) in WINDOWS_ZONES {
            assert!(iana.parse::<Tz>().is_ok(), "{windows} -> {iana}");
        }
    }

    #[test]
    fn durations_as_rfc_5545_writes_them() {
        assert_eq!(parse_duration("PT1H30M"), Some(TimeDelta::minutes(90)));
        assert_eq!(parse_duration("P2D"), Some(TimeDelta::days(2)));
        assert_eq!(parse_duration("P1W"), Some(TimeDelta::weeks(1)));
        assert_eq!(parse_duration("P1DT12H"), Some(TimeDelta::hours(36)));
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("-PT1H"), None);
        assert_eq!(parse_duration("P1H"), None);
    }

    #[test]
    fn text_values_are_unescaped() {
        assert_eq!(unescape(r"a\, b\; c\nd\\e"), "a, b; c\nd\\e");
    }
}
