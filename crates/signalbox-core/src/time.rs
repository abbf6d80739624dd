//! Instants and durations as Signalbox writes and reads them.
//!
//! Nothing here reads the clock: every instant is handed in by the caller.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

/// An instant as RFC 3339 in UTC with a `Z`, seconds precision unless finer is present.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// What an instant in a request must look like.
pub const INSTANT_FORMAT: &str = "an RFC 3339 instant like 2026-11-23T15:00:00Z";

/// Reads an RFC 3339 instant with an offset (`Z` or `+02:00`), years 0001-9999.
/// The error says what was expected and what was found, for users.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| (1..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(|| format!("expected {INSTANT_FORMAT}, found `{text}`"))
}

/// `#[serde(deserialize_with)]` for instants in requests: [`parse_instant`]'s rules and message.
pub mod instant {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_instant(&text).map_err(serde::de::Error::custom)
    }

    /// The same for an optional instant (`null` or absent is `None`).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer};

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(text) => super::super::parse_instant(&text).map(Some).map_err(serde::de::Error::custom),
            }
        }
    }
}

/// Milliseconds since the Unix epoch: the unit instants have inside policies.
pub fn unix_ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Why a duration such as `1h30m` was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a duration like 40m, 4h or 1h30m, found `{0}`")]
pub struct DurationError(pub String);

/// Parses `40m`, `4h`, `1h30m`, `2d`, `90s`: whole numbers with units d, h, m, s,
/// largest unit first, each at most once. Zero is refused.
pub fn parse_duration(text: &str) -> Result<TimeDelta, DurationError> {
    let err = || DurationError(text.to_string());
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut last_rank = usize::MAX;
    for ch in text.trim().chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let (rank, seconds) = match ch.to_ascii_lowercase() {
            'd' => (3, 86_400),
            'h' => (2, 3_600),
            'm' => (1, 60),
            's' => (0, 1),
            _ => return Err(err()),
        };
        if digits.is_empty() || rank >= last_rank {
            return Err(err());
        }
        let n: i64 = digits.parse().map_err(|_| err())?;
        total = n.checked_mul(seconds).and_then(|s| total.checked_add(s)).ok_or_else(err)?;
        digits.clear();
        last_rank = rank;
    }
    if !digits.is_empty() || total == 0 || total > 366 * 86_400 {
        return Err(err());
    }
    TimeDelta::try_seconds(total).ok_or_else(err)
}

/// Writes a duration the way it is typed: `1h30m`, `24h`, `45s`.
pub fn format_duration(d: TimeDelta) -> String {
    let mut secs = d.num_seconds().max(0);
    if secs == 0 {
        return "0m".to_string();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600), ("m", 60), ("s", 1)] {
        let n = secs / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            secs -= n * size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_typed() {
        let cases = [("40m", 2_400), ("4h", 14_400), ("1h30m", 5_400), ("2d", 172_800), ("90s", 90), ("1H", 3_600)];
        for (text, secs) in cases {
            assert_eq!(parse_duration(text).map(|d| d.num_seconds()), Ok(secs), "{text}");
        }
    }

    #[test]
    fn malformed_durations_are_refused() {
        for text in ["", "soon", "4", "h", "30m1h", "1h1h", "0m", "-4h", "4h 30m", "1.5h", "999999999999999999999h"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn durations_format_back_to_their_typed_form() {
        for text in ["40m", "4h", "1h30m", "24h", "45s"] {
            let d = parse_duration(text).unwrap_or_default();
            assert_eq!(format_duration(d), text);
        }
    }
}

#[cfg(test)]
mod instant_tests {
    use super::*;

    #[test]
    fn instants_name_the_expected_format_and_keep_to_four_digit_years() {
        assert_eq!(rfc3339(parse_instant("2026-12-07T15:00:00+01:00").unwrap()), "2026-12-07T14:00:00Z");
        for bad in ["2026-12-07T15:00:00", "tomorrow", "", "+10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z"] {
            let e = parse_instant(bad).unwrap_err();
            assert_eq!(e, format!("expected an RFC 3339 instant like 2026-11-23T15:00:00Z, found `{bad}`"));
        }
    }
}
