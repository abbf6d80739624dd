//! Limits on text that comes from outside (trains, chat, the API): how long it
//! may be, which characters it may hold, and how it is shown back safely.
//!
//! Control characters (ESC, NUL, the C1 range, bidirectional overrides) are
//! refused on the way in, so nothing stored can drive a terminal or hide text;
//! text shown back is passed through [`escape`] anyway, for what was stored
//! before these checks.

use std::borrow::Cow;

/// Messages, reasons, justifications, titles.
pub const MAX_TEXT: usize = 4096;
/// Ids and names: squads, services, configuration items, environments, regions, scopes, users.
pub const MAX_NAME: usize = 128;
/// One chat command.
pub const MAX_CHAT: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("`{field}` is {len} characters long; at most {max} are accepted")]
    TooLong { field: String, len: usize, max: usize },
    #[error("`{field}` contains the control character {code}; control characters are not accepted{allowed}")]
    Control { field: String, code: String, allowed: &'static str },
}

/// An id or a name: at most [`MAX_NAME`] characters, on one line, no control characters.
pub fn check_name(field: &str, value: &str) -> Result<(), TextError> {
    check(field, value, MAX_NAME, false)
}

/// Free text: at most [`MAX_TEXT`] characters; newlines and tabs are kept.
pub fn check_text(field: &str, value: &str) -> Result<(), TextError> {
    check(field, value, MAX_TEXT, true)
}

/// A chat command: at most [`MAX_CHAT`] characters; newlines and tabs are kept.
pub fn check_chat(field: &str, value: &str) -> Result<(), TextError> {
    check(field, value, MAX_CHAT, true)
}

/// At most `max` characters, and no control character (but newline, carriage
/// return and tab when `multiline`).
pub fn check(field: &str, value: &str, max: usize, multiline: bool) -> Result<(), TextError> {
    // Counting stops past the limit: a huge value costs no more than a long one.
    let len = value.chars().take(max + 1).count();
    if len > max {
        return Err(TextError::TooLong { field: field.to_string(), len: value.chars().count(), max });
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if let Some(c) = value.chars().find(|&c| is_forbidden(c) && !allowed(c)) {
        return Err(TextError::Control {
            field: field.to_string(),
            code: format!("U+{:04X}", u32::from(c)),
            allowed: if multiline { " (newline and tab are)" } else { "" },
        });
    }
    Ok(())
}

/// Control characters, and the invisible marks that reorder text on screen
/// (bidirectional overrides and isolates).
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character but newline and tab written as a
/// visible escape (`\u{1b}`), so output never carries a raw ESC or NUL.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_forbidden(c) && !matches!(c, '\n' | '\t')) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_forbidden(c) && !matches!(c, '\n' | '\t') {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The first `max` characters of `text`, escaped, with `…` when cut: how an
/// error echoes a value it refuses.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    escape(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_control_characters_and_length() {
        assert!(check_name("squad", "tugboat-updater").is_ok());
        let e = check_name("squad", "a\u{1b}[31mred").unwrap_err().to_string();
        assert_eq!(e, "`squad` contains the control character U+001B; control characters are not accepted");
        assert!(check_name("squad", "a\nb").is_err(), "a name is one line");
        assert!(check_name("squad", "a\u{202E}b").is_err(), "no bidirectional override");
        let e = check_name("squad", &"x".repeat(129)).unwrap_err().to_string();
        assert_eq!(e, "`squad` is 129 characters long; at most 128 are accepted");
        assert!(check_name("squad", &"é".repeat(128)).is_ok(), "characters, not bytes");
    }

    #[test]
    fn text_keeps_newlines_and_tabs_only() {
        assert!(check_text("reason", "line one\n\tline two\r\n").is_ok());
        assert!(check_text("reason", "nul\0").unwrap_err().to_string().contains("U+0000"));
        assert!(check_text("reason", "c1\u{9b}").is_err());
        assert!(check_text("reason", &"x".repeat(4097)).is_err());
    }

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(excerpt("CHG1", 40), "CHG1");
        assert_eq!(excerpt(&"x".repeat(50), 3), "xxx…");
        assert_eq!(excerpt("a\u{1b}", 3), "a\\u{1b}");
    }

    #[test]
    fn escape_makes_controls_visible() {
        assert_eq!(escape("plain\n\ttext"), "plain\n\ttext");
        assert_eq!(escape("a\u{1b}[2Jb\0"), "a\\u{1b}[2Jb\\u{0}");
        assert_eq!(escape("\r"), "\\u{d}");
    }
}
