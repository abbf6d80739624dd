//! The commands a conductor can type (docs/chat.md), as values.

pub use signalbox_core::ExceptionRequest;

/// One parsed chat command.
///
/// Train ids are upper-cased and checked with [`signalbox_core::train::is_train_id`];
/// everything the parser cannot check without configuration (policy paths,
/// scopes, exception ids) is kept as typed for the server to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `help`: the command list.
    Help,
    /// `describe <id>`.
    Describe { id: String },
    /// `oa` / `outstanding approvals`.
    Outstanding,
    /// `approve <id>... [because <text>]`.
    Approve { ids: Vec<String>, reason: Option<String> },
    /// `reject <id>... because <text>` (or `comment: <text>`).
    Reject { ids: Vec<String>, reason: String },
    /// `reevaluate <id>...`.
    Reevaluate { ids: Vec<String> },
    /// `create exception <result> <path> lasting <duration> [for <ci> [<squad> [<service>]]] because <text>`.
    CreateException(ExceptionRequest),
    /// `list exceptions`.
    ListExceptions,
    /// `delete exception <id>`.
    DeleteException { id: String },
    /// `stop trains <scope> <message>`.
    StopTrains { scope: String, message: String },
    /// `start trains <scope>`.
    StartTrains { scope: String },
    /// `hold <id> because <text>`.
    Hold { id: String, reason: String },
    /// `release <id> [because <text>]`.
    Release { id: String, reason: Option<String> },
}

/// The name of a command, without its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    Help,
    Describe,
    Outstanding,
    Approve,
    Reject,
    Reevaluate,
    CreateException,
    ListExceptions,
    DeleteException,
    StopTrains,
    StartTrains,
    Hold,
    Release,
}

impl Verb {
    /// Every verb, in the order `help` lists them.
    pub const ALL: [Verb; 13] = [
        Verb::Help,
        Verb::Describe,
        Verb::Outstanding,
        Verb::Approve,
        Verb::Reject,
        Verb::Reevaluate,
        Verb::Hold,
        Verb::Release,
        Verb::CreateException,
        Verb::ListExceptions,
        Verb::DeleteException,
        Verb::StopTrains,
        Verb::StartTrains,
    ];

    /// The words that name the command, e.g. `create exception`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Help => "help",
            Verb::Describe => "describe",
            Verb::Outstanding => "oa",
            Verb::Approve => "approve",
            Verb::Reject => "reject",
            Verb::Reevaluate => "reevaluate",
            Verb::CreateException => "create exception",
            Verb::ListExceptions => "list exceptions",
            Verb::DeleteException => "delete exception",
            Verb::StopTrains => "stop trains",
            Verb::StartTrains => "start trains",
            Verb::Hold => "hold",
            Verb::Release => "release",
        }
    }

    /// The full syntax, as `help` shows it.
    pub fn usage(self) -> &'static str {
        match self {
            Verb::Help => "help",
            Verb::Describe => "describe <id>",
            Verb::Outstanding => "oa | outstanding approvals",
            Verb::Approve => "approve <id>... [because <text>]",
            Verb::Reject => "reject <id>... because <text>",
            Verb::Reevaluate => "reevaluate <id>...",
            Verb::CreateException => {
                "create exception <approved|rejected|manual> <path> lasting <duration> [for <configuration item> [<squad> [<service>]]] because <justification>"
            }
            Verb::ListExceptions => "list exceptions",
            Verb::DeleteException => "delete exception <id>",
            Verb::StopTrains => "stop trains <all|environment|region> <message>",
            Verb::StartTrains => "start trains <all|environment|region>",
            Verb::Hold => "hold <id> because <text>",
            Verb::Release => "release <id> [because <text>]",
        }
    }

    /// One line saying what the command does.
    pub fn summary(self) -> &'static str {
        match self {
            Verb::Help => "this list",
            Verb::Describe => "why a train is where it is: failed policies, window, history",
            Verb::Outstanding => "trains waiting for a conductor, oldest first",
            Verb::Approve => "approve pending trains",
            Verb::Reject => "reject pending trains (a reason is required; `comment: <text>` works too)",
            Verb::Reevaluate => "re-run pending trains against today's configuration, exceptions and stops",
            Verb::CreateException => {
                "a temporary exception: its result replaces the policy's for matching trains (`*` matches any value)"
            }
            Verb::ListExceptions => "exceptions in force, with the time each has left",
            Verb::DeleteException => "end an exception early",
            Verb::StopTrains => "stop trains during an incident (CIE)",
            Verb::StartTrains => "lift the stops of exactly that scope and re-evaluate pending trains",
            Verb::Hold => "hold a pending or approved train (an approved one goes back to pending)",
            Verb::Release => "lift a hold and re-evaluate the train",
        }
    }

    /// Whether the command changes anything, so needs a conductor.
    pub fn is_mutating(self) -> bool {
        !matches!(self, Verb::Help | Verb::Describe | Verb::Outstanding | Verb::ListExceptions)
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Command {
    /// The command's name, e.g. to say which command needs a conductor.
    pub fn verb(&self) -> Verb {
        match self {
            Command::Help => Verb::Help,
            Command::Describe { .. } => Verb::Describe,
            Command::Outstanding => Verb::Outstanding,
            Command::Approve { .. } => Verb::Approve,
            Command::Reject { .. } => Verb::Reject,
            Command::Reevaluate { .. } => Verb::Reevaluate,
            Command::CreateException(_) => Verb::CreateException,
            Command::ListExceptions => Verb::ListExceptions,
            Command::DeleteException { .. } => Verb::DeleteException,
            Command::StopTrains { .. } => Verb::StopTrains,
            Command::StartTrains { .. } => Verb::StartTrains,
            Command::Hold { .. } => Verb::Hold,
            Command::Release { .. } => Verb::Release,
        }
    }

    /// Whether the command changes anything; only conductors may run those.
    /// `describe`, `oa`, `list exceptions` and `help` are open to anyone.
    pub fn is_mutating(&self) -> bool {
        self.verb().is_mutating()
    }
}
