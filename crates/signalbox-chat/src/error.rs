//! Why chat text is not a command, said so that the reader can fix it.

use crate::command::Verb;

/// A command that could not be read. Each message says what was expected where,
/// e.g. `expected a duration like 4h after "lasting", found "soon"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace (or only a mention of the bot).
    #[error("say a command, e.g. \"oa\" or \"describe CHG7687021\"; \"help\" lists them all")]
    Empty,
    /// Longer than any command needs to be.
    #[error("that message is {len} characters long; a command is at most {max}")]
    TooLong { len: usize, max: usize },
    /// The first word is not a command.
    #[error("unknown command \"{found}\"{}", suggest(*.suggestion))]
    UnknownCommand { found: String, suggestion: Option<Verb> },
    /// The first word of a two-word command without its second, e.g. `create exeption`.
    #[error("expected \"{expected}\" after \"{first}\", found {}", found_text(.found.as_deref()))]
    SecondWord {
        verb: Verb,
        /// The first word as typed.
        first: String,
        expected: &'static str,
        found: Option<String>,
    },
    /// A word in the wrong place, or a missing one.
    #[error("expected {what} after {after}, found {}", found_text(.found.as_deref()))]
    Expected {
        verb: Verb,
        /// What should have come, e.g. `a train id like CHG7687021`.
        what: String,
        /// Where, e.g. `"describe"` (quoted word) or `the scope`.
        after: String,
        /// The word found instead; `None` when the text ended.
        found: Option<String>,
    },
    /// A required reason, justification or message is missing.
    #[error("{verb} needs {what}: {}", .verb.usage())]
    MissingText { verb: Verb, what: &'static str },
    /// Words left over after a complete command.
    #[error("unexpected \"{found}\" after {after}; {verb} is written: {}", .verb.usage())]
    Trailing { verb: Verb, found: String, after: String },
}

impl ParseError {
    /// The command the error is about, when the first word was one.
    pub fn verb(&self) -> Option<Verb> {
        match self {
            ParseError::Expected { verb, .. }
            | ParseError::SecondWord { verb, .. }
            | ParseError::MissingText { verb, .. }
            | ParseError::Trailing { verb, .. } => Some(*verb),
            ParseError::Empty | ParseError::TooLong { .. } | ParseError::UnknownCommand { .. } => None,
        }
    }

    /// The syntax of the command the error is about, to show under the message.
    pub fn usage(&self) -> Option<&'static str> {
        self.verb().map(Verb::usage)
    }

    /// Whether the text does not start with a command at all. A transport that
    /// sees every channel message uses this to stay quiet about ordinary chat.
    ///
    /// `start the deploy after lunch` is not a command, but `create exeption`
    /// is a typo worth answering: a wrong second word counts as "not a command"
    /// only when it is not close to the expected one.
    pub fn is_not_a_command(&self) -> bool {
        match self {
            ParseError::Empty | ParseError::UnknownCommand { .. } => true,
            ParseError::SecondWord { expected, found, .. } => {
                found.as_deref().is_none_or(|word| strsim::damerau_levenshtein(&word.to_lowercase(), expected) > 2)
            }
            _ => false,
        }
    }
}

fn suggest(suggestion: Option<Verb>) -> String {
    match suggestion {
        Some(verb) => format!("; did you mean \"{verb}\"? \"help\" lists every command"),
        None => "; \"help\" lists every command".to_string(),
    }
}

fn found_text(found: Option<&str>) -> String {
    match found {
        Some(word) => format!("\"{word}\""),
        None => "nothing".to_string(),
    }
}
