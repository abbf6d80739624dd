//! Small text helpers the replies share: monospace tables, instants, plurals.

use chrono::{DateTime, TimeDelta, Utc};
use signalbox_core::time::format_duration;

/// A monospace table in a Slack code block; columns padded to their widest cell.
///
/// Cells are made one line, and backticks become `'` so no cell can close the block.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let headers: Vec<String> = headers.iter().map(|h| cell(h)).collect();
    let rows: Vec<Vec<String>> = rows.iter().map(|row| row.iter().map(|c| cell(c)).collect()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, c) in widths.iter_mut().zip(row) {
            *width = (*width).max(c.chars().count());
        }
    }
    let mut out = String::from("```\n");
    for row in std::iter::once(&headers).chain(&rows) {
        out.push_str(&table_row(row, &widths));
        out.push('\n');
    }
    out.push_str("```");
    out
}

fn table_row(row: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (i, (c, width)) in row.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(c);
        let pad = width.saturating_sub(c.chars().count());
        line.extend(std::iter::repeat_n(' ', pad));
    }
    line.trim_end().to_string()
}

/// One line, no backticks, trimmed.
pub fn cell(text: &str) -> String {
    one_line(text).replace('`', "'")
}

/// Line breaks become spaces, so free text cannot break a list or a row.
pub fn one_line(text: &str) -> String {
    text.split(['\n', '\r']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}

/// `Deploy razeeapi (e1176f to 81…` when longer than `max` characters.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `2026-11-23 15:00 UTC`.
pub fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2026-11-23 15:00–17:00 UTC`, or both dates when the window crosses midnight.
pub fn window(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    if start.date_naive() == end.date_naive() {
        format!("{}–{} UTC", start.format("%Y-%m-%d %H:%M"), end.format("%H:%M"))
    } else {
        format!("{} – {} UTC", start.format("%Y-%m-%d %H:%M"), end.format("%Y-%m-%d %H:%M"))
    }
}

/// Whole minutes left, like `3h12m`; `<1m` in the last minute, `expired` after.
pub fn time_left(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let left = expires_at - now;
    if left <= TimeDelta::zero() {
        return "expired".to_string();
    }
    let minutes = left.num_minutes();
    if minutes == 0 {
        return "<1m".to_string();
    }
    TimeDelta::try_minutes(minutes).map_or_else(|| "a long time".to_string(), format_duration)
}

/// `1 train`, `2 trains`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
