//! Chat text to [`Command`]: a cursor over the words, one small function per command.
//!
//! Every command ends with `Cursor::finish` or with free text (a reason,
//! justification or message) that takes the rest of the line, so stray words
//! are an error rather than silently ignored.

use chrono::TimeDelta;
use signalbox_core::time::parse_duration;
use signalbox_core::train::is_train_id;
use signalbox_core::Outcome;

use crate::command::{Command, ExceptionRequest, Verb};
use crate::error::ParseError;
use crate::normalize::normalize;

/// Longest command accepted, in characters; a justification fits many times over.
pub const MAX_COMMAND_CHARS: usize = 8000;

/// Words longer than this are cut in error messages.
const SHOWN_WORD_CHARS: usize = 40;

const TRAIN_ID: &str = "a train id like CHG7687021";

/// Reads one chat command. Never panics, whatever the text.
///
/// Verbs and train ids are case-insensitive; a leading bot mention, Slack
/// markup, smart quotes and trailing punctuation on ids are tolerated.
pub fn parse(text: &str) -> Result<Command, ParseError> {
    let text = normalize(text);
    let len = text.chars().count();
    if len > MAX_COMMAND_CHARS {
        return Err(ParseError::TooLong { len, max: MAX_COMMAND_CHARS });
    }
    let words = split_words(&text);
    let Some(verb_word) = words.first() else {
        return Err(ParseError::Empty);
    };
    let name = verb_word.text.trim_end_matches(['?', '!', '.', ':', ',']).to_lowercase();
    let cursor = |verb| Cursor { source: &text, words: &words, pos: 1, verb };
    match name.as_str() {
        "help" => Ok(Command::Help),
        "describe" => describe(cursor(Verb::Describe)),
        "oa" => cursor(Verb::Outstanding).finish("\"oa\"").map(|()| Command::Outstanding),
        "outstanding" => outstanding(cursor(Verb::Outstanding)),
        "approve" => approve(cursor(Verb::Approve)),
        "reject" => reject(cursor(Verb::Reject)),
        "reevaluate" | "re-evaluate" => reevaluate(cursor(Verb::Reevaluate)),
        "hold" => hold(cursor(Verb::Hold)),
        "release" => release(cursor(Verb::Release)),
        "create" => create_exception(cursor(Verb::CreateException), verb_word.text),
        "list" => list_exceptions(cursor(Verb::ListExceptions), verb_word.text),
        "delete" => delete_exception(cursor(Verb::DeleteException), verb_word.text),
        "stop" => stop_trains(cursor(Verb::StopTrains), verb_word.text),
        "start" => start_trains(cursor(Verb::StartTrains), verb_word.text),
        _ => Err(ParseError::UnknownCommand { found: shown(verb_word.text), suggestion: closest_verb(&name) }),
    }
}

/// A word and where it starts in the normalized text, so free text can be
/// taken exactly as typed from there on.
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    text: &'a str,
    start: usize,
}

fn split_words(text: &str) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    let mut start = None;
    for (at, ch) in text.char_indices() {
        match (ch.is_whitespace(), start) {
            (true, Some(from)) => {
                words.extend(text.get(from..at).map(|w| Word { text: w, start: from }));
                start = None;
            }
            (false, None) => start = Some(at),
            _ => {}
        }
    }
    if let Some(from) = start {
        words.extend(text.get(from..).map(|w| Word { text: w, start: from }));
    }
    words
}

/// Walks the words of one command; errors it raises name that command.
struct Cursor<'a> {
    source: &'a str,
    words: &'a [Word<'a>],
    pos: usize,
    verb: Verb,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).map(|w| w.text)
    }

    fn next_word(&mut self) -> Option<&'a str> {
        let word = self.peek();
        if word.is_some() {
            self.pos += 1;
        }
        word
    }

    /// Everything from the current word to the end, as typed, trimmed.
    fn rest(&self) -> &'a str {
        self.words.get(self.pos).and_then(|w| self.source.get(w.start..)).unwrap_or("").trim()
    }

    /// Everything after `skip` bytes of the current word (e.g. past `comment:`).
    fn rest_after(&self, skip: usize) -> &'a str {
        self.words.get(self.pos).and_then(|w| self.source.get(w.start + skip..)).unwrap_or("").trim()
    }

    /// The end of a command: any word left is an error.
    fn finish(&self, after: &str) -> Result<(), ParseError> {
        match self.peek() {
            None => Ok(()),
            Some(word) => Err(ParseError::Trailing { verb: self.verb, found: shown(word), after: after.to_string() }),
        }
    }

    fn expected(&self, what: &str, after: &str, found: Option<&str>) -> ParseError {
        ParseError::Expected {
            verb: self.verb,
            what: what.to_string(),
            after: after.to_string(),
            found: found.map(shown),
        }
    }

    fn missing(&self, what: &'static str) -> ParseError {
        ParseError::MissingText { verb: self.verb, what }
    }

    /// The second word of a two-word verb such as `create exception`.
    fn second_word(&mut self, first: &str, accepted: &[&'static str]) -> Result<(), ParseError> {
        let word = self.next_word();
        let fits = word.is_some_and(|w| {
            let w = w.trim_end_matches(['?', '!', '.', ':', ',']);
            accepted.iter().any(|a| a.eq_ignore_ascii_case(w))
        });
        if fits {
            return Ok(());
        }
        Err(ParseError::SecondWord {
            verb: self.verb,
            first: shown(first),
            expected: accepted.first().copied().unwrap_or(""),
            found: word.map(shown),
        })
    }

    /// One train id, upper-cased; `after` says where it was expected.
    fn train_id(&mut self, after: &str) -> Result<String, ParseError> {
        let word = self.peek();
        match word.map(clean_id) {
            Some(id) if is_train_id(&id) => {
                self.pos += 1;
                Ok(id)
            }
            _ => Err(self.expected(TRAIN_ID, after, word)),
        }
    }

    /// One or more train ids, separated by spaces or commas, up to a reason
    /// keyword or the end. Duplicates are dropped.
    fn train_ids(&mut self, reason_allowed: bool) -> Result<Vec<String>, ParseError> {
        let mut ids: Vec<String> = Vec::new();
        let mut after = quoted(self.verb.as_str());
        while let Some(word) = self.peek() {
            if reason_keyword(word).is_some() {
                break;
            }
            for piece in word.split(',').map(clean_id).filter(|p| !p.is_empty()) {
                if !is_train_id(&piece) {
                    let what = if ids.is_empty() || !reason_allowed {
                        TRAIN_ID.to_string()
                    } else {
                        format!("{TRAIN_ID} or \"because <text>\"")
                    };
                    return Err(self.expected(&what, &after, Some(word)));
                }
                if !ids.contains(&piece) {
                    ids.push(piece);
                }
            }
            after = quoted(word);
            self.pos += 1;
        }
        if ids.is_empty() {
            return Err(self.expected(TRAIN_ID, &after, self.peek()));
        }
        Ok(ids)
    }

    /// `because <text>` or `comment: <text>` from here to the end, if present.
    ///
    /// `Ok(None)` when the text has ended; `Err(found)` when another word is here.
    fn reason(&mut self) -> Result<Option<String>, &'a str> {
        let Some(word) = self.peek() else {
            return Ok(None);
        };
        let Some(skip) = reason_keyword(word) else {
            return Err(word);
        };
        let text = unquote(self.rest_after(skip));
        self.pos = self.words.len();
        Ok(Some(text.to_string()).filter(|t| !t.is_empty()))
    }
}

/// If `word` starts a reason (`because`, `because:`, `comment`, `comment:...`),
/// how many bytes of it are the keyword.
fn reason_keyword(word: &str) -> Option<usize> {
    let lower = word.to_ascii_lowercase();
    if lower == "because" || lower == "because:" || lower == "comment" {
        return Some(word.len());
    }
    lower.starts_with("comment:").then_some("comment:".len())
}

/// Strips decoration people put around ids (`*CHG1*`, `` `CHG1` ``, `CHG1.`, `(CHG1)`).
fn clean_word(word: &str) -> &str {
    word.trim_matches(['`', '*', '_', '"', '\'', '(', ')', '[', ']', '{', '}'])
        .trim_end_matches(['.', ',', '?', '!', ':', ';'])
        .trim_matches(['`', '*', '_', '"', '\'', '(', ')', '[', ']', '{', '}'])
}

fn clean_id(word: &str) -> String {
    clean_word(word).to_uppercase()
}

/// A scope part keeps `*` (any value); only quotes and a trailing comma go.
fn clean_scope_part(word: &str) -> &str {
    word.trim_matches(['`', '"', '\'']).trim_end_matches(',')
}

/// `"approved by CAB"` -> `approved by CAB`, when the quotes enclose it all.
fn unquote(text: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            if !inner.contains(q) {
                return inner.trim();
            }
        }
    }
    text
}

fn quoted(word: &str) -> String {
    format!("\"{}\"", shown(word))
}

/// A word as an error message shows it: cut when very long.
fn shown(word: &str) -> String {
    if word.chars().count() <= SHOWN_WORD_CHARS {
        return word.to_string();
    }
    let mut cut: String = word.chars().take(SHOWN_WORD_CHARS).collect();
    cut.push('…');
    cut
}

/// The verb a mistyped first word most likely meant.
fn closest_verb(word: &str) -> Option<Verb> {
    const NAMES: [(&str, Verb); 14] = [
        ("help", Verb::Help),
        ("describe", Verb::Describe),
        ("oa", Verb::Outstanding),
        ("outstanding", Verb::Outstanding),
        ("approve", Verb::Approve),
        ("reject", Verb::Reject),
        ("reevaluate", Verb::Reevaluate),
        ("hold", Verb::Hold),
        ("release", Verb::Release),
        ("create", Verb::CreateException),
        ("list", Verb::ListExceptions),
        ("delete", Verb::DeleteException),
        ("stop", Verb::StopTrains),
        ("start", Verb::StartTrains),
    ];
    if is_train_id(&clean_id(word)) {
        return Some(Verb::Describe);
    }
    if word.chars().count() >= 3 {
        if let Some((_, verb)) = NAMES.iter().find(|(name, _)| name.starts_with(word)) {
            return Some(*verb);
        }
    }
    let allowed = if word.chars().count() <= 4 { 1 } else { 2 };
    NAMES
        .iter()
        .map(|(name, verb)| (strsim::damerau_levenshtein(word, name), *verb))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, verb)| verb)
}

fn describe(mut c: Cursor<'_>) -> Result<Command, ParseError> {
    let id = c.train_id("\"describe\"")?;
    c.finish(&quoted(&id))?;
    Ok(Command::Describe { id })
}

fn outstanding(mut c: Cursor<'_>) -> Result<Command, ParseError> {
    if c.peek().is_some_and(|w| ["approvals", "approval"].contains(&w.to_lowercase().as_str())) {
        c.pos += 1;
        c.finish("\"outstanding approvals\"")?;
    } else {
        c.finish("\"outstanding\"")?;
    }
    Ok(Command::Outstanding)
}

fn approve(mut c: Cursor<'_>) -> Result<Command, ParseError> {
    let ids = c.train_ids(true)?;
    let reason = c.reason().map_err(|found| unreachable_word(&c, found))?;
    Ok(Command::Approve { ids, reason })
}

fn reject(mut c: Cursor<'_>) -> Result<Command, ParseError> {
    let ids = c.train_ids(true)?;
    match c.reason() {
        Ok(Some(reason)) => Ok(Command::Reject { ids, reason }),
        Ok(None) => Err(c.missing("a reason")),
        Err(found) => Err(unreachable_word(&c, found)),
    }
}

/// `train_ids` stops only at a reason keyword or the end, so `reason` never
/// meets another word after it; report one anyway rather than trust that.
fn unreachable_word(c: &Cursor<'_>, found: &str) -> ParseError {
    c.expected("\"because <text>\"", "the train ids", Some(found))
}

fn reevaluate(mut c: Cursor<'_>) -> Result<Command, ParseError> {
    if let Some(word) = c.peek().filter(|w| reason_keyword(w).is_some()) {
        return Err(c.expected(TRAIN_ID, "\"reevaluate\"", Some(word)));
    }
    let ids = c.train_ids(false)?;
    // `train_ids` stopped at a reason keyword, which reevaluate does not take.
    let after = ids.last().map(|id| quoted(id)).unwrap_or_default();
    c.finish(&after)?;
    Ok(Command::Reevaluate { ids })
}

fn hold(mut c: Cursor<'_>) -> Result<Command, ParseError> {
    let id = c.train_id("\"hold\"")?;
    match c.reason() {
        Ok(Some(reason)) => Ok(Command::Hold { id, reason }),
        Ok(None) => Err(c.missing("a reason")),
        Err(found) => Err(c.expected("\"because <text>\"", &quoted(&id), Some(found))),
    }
}

fn release(mut c: Cursor<'_>) -> Result<Command, ParseError> {
    let id = c.train_id("\"release\"")?;
    match c.reason() {
        Ok(reason) => Ok(Command::Release { id, reason }),
        Err(found) => Err(c.expected("\"because <text>\" or nothing", &quoted(&id), Some(found))),
    }
}

fn list_exceptions(mut c: Cursor<'_>, first: &str) -> Result<Command, ParseError> {
    c.second_word(first, &["exceptions", "exception"])?;
    c.finish("\"list exceptions\"")?;
    Ok(Command::ListExceptions)
}

fn delete_exception(mut c: Cursor<'_>, first: &str) -> Result<Command, ParseError> {
    c.second_word(first, &["exception", "exceptions"])?;
    let word = c.next_word();
    let id = word.map(clean_word).filter(|id| !id.is_empty());
    let Some(id) = id else {
        return Err(c.expected("an exception id (\"list exceptions\" shows them)", "\"delete exception\"", word));
    };
    c.finish(&quoted(id))?;
    Ok(Command::DeleteException { id: id.to_string() })
}

/// `all`, an environment or a region: kept as typed (only `all` is
/// canonical), since the configuration decides which names exist.
fn scope(c: &mut Cursor<'_>, after: &str) -> Result<String, ParseError> {
    let word = c.peek();
    let scope = word.map(clean_word).filter(|s| !s.is_empty());
    let Some(scope) = scope else {
        return Err(c.expected("a scope (all, an environment or a region)", after, word));
    };
    c.pos += 1;
    if scope.eq_ignore_ascii_case("all") {
        return Ok("all".to_string());
    }
    Ok(scope.to_string())
}

fn stop_trains(mut c: Cursor<'_>, first: &str) -> Result<Command, ParseError> {
    c.second_word(first, &["trains", "train"])?;
    let scope = scope(&mut c, "\"stop trains\"")?;
    let message = match reason_keyword(c.peek().unwrap_or("")) {
        Some(skip) => c.rest_after(skip),
        None => c.rest(),
    };
    let message = unquote(message);
    if message.is_empty() {
        return Err(c.missing("a message"));
    }
    Ok(Command::StopTrains { scope, message: message.to_string() })
}

fn start_trains(mut c: Cursor<'_>, first: &str) -> Result<Command, ParseError> {
    c.second_word(first, &["trains", "train"])?;
    let scope = scope(&mut c, "\"start trains\"")?;
    c.finish(&quoted(&scope))?;
    Ok(Command::StartTrains { scope })
}

fn create_exception(mut c: Cursor<'_>, first: &str) -> Result<Command, ParseError> {
    c.second_word(first, &["exception"])?;
    let word = c.next_word();
    let Some(result) = word.and_then(parse_result) else {
        return Err(c.expected("the result approved, rejected or manual", "\"create exception\"", word));
    };
    let result_word = word.unwrap_or(result.as_str());

    let word = c.peek();
    let policy = word.filter(|w| !w.eq_ignore_ascii_case("lasting")).map(clean_word).filter(|p| !p.is_empty());
    let Some(policy) = policy else {
        return Err(c.expected("a policy path like global.business_hours", &quoted(result_word), word));
    };
    c.pos += 1;

    let word = c.next_word();
    if !word.is_some_and(|w| w.eq_ignore_ascii_case("lasting")) {
        return Err(c.expected("\"lasting <duration>\"", &quoted(policy), word));
    }
    let (duration, typed) = duration(&mut c)?;

    let mut scope: Vec<String> = Vec::new();
    if c.peek().is_some_and(|w| w.eq_ignore_ascii_case("for")) {
        c.pos += 1;
        while let Some(word) = c.peek() {
            if reason_keyword(word).is_some() || scope.len() == 3 {
                break;
            }
            let part = clean_scope_part(word);
            if !part.is_empty() {
                scope.push(part.to_string());
            }
            c.pos += 1;
        }
        if scope.is_empty() {
            return Err(c.expected("a configuration item (or *)", "\"for\"", c.peek()));
        }
    }
    let has_reason = c.peek().is_some_and(|w| reason_keyword(w).is_some());
    let justification = match c.reason() {
        Ok(Some(text)) => text,
        _ if has_reason => return Err(c.missing("a justification")),
        _ if !scope.is_empty() => return Err(c.expected("\"because <justification>\"", "the scope", c.peek())),
        _ => {
            return Err(c.expected(
                "\"for <configuration item>\" or \"because <justification>\"",
                &format!("the duration \"{typed}\""),
                c.peek(),
            ))
        }
    };
    let mut parts = scope.into_iter();
    Ok(Command::CreateException(ExceptionRequest {
        result,
        policy: policy.to_string(),
        duration,
        configuration_item: parts.next(),
        squad: parts.next(),
        service: parts.next(),
        justification,
    }))
}

/// `approved`, `rejected`, `manual`; `approve` and `reject` are read the same.
fn parse_result(word: &str) -> Option<Outcome> {
    let word = clean_word(word);
    Outcome::parse(word).or_else(|| match word.to_ascii_lowercase().as_str() {
        "approve" => Some(Outcome::Approved),
        "reject" => Some(Outcome::Rejected),
        _ => None,
    })
}

/// A duration after `lasting`: `4h`, `1h30m`, or `4 hours` as two words.
fn duration(c: &mut Cursor<'_>) -> Result<(TimeDelta, String), ParseError> {
    let word = c.next_word();
    let Some(typed) = word.map(|w| w.trim_end_matches([',', '.'])) else {
        return Err(c.expected("a duration like 4h", "\"lasting\"", None));
    };
    if let Ok(d) = parse_duration(typed) {
        return Ok((d, typed.to_string()));
    }
    let unit = c.peek().and_then(unit_letter);
    if let Some(unit) = unit.filter(|_| typed.bytes().all(|b| b.is_ascii_digit())) {
        let joined = format!("{typed}{unit}");
        if let Ok(d) = parse_duration(&joined) {
            c.pos += 1;
            return Ok((d, joined));
        }
    }
    Err(c.expected("a duration like 4h", "\"lasting\"", Some(typed)))
}

/// `hours` -> `h`, so `lasting 4 hours` reads as `4h`.
fn unit_letter(word: &str) -> Option<char> {
    match word.trim_end_matches([',', '.']).to_lowercase().as_str() {
        "d" | "day" | "days" => Some('d'),
        "h" | "hr" | "hrs" | "hour" | "hours" => Some('h'),
        "m" | "min" | "mins" | "minute" | "minutes" => Some('m'),
        _ => None,
    }
}
