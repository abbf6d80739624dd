//! Signalbox's chat language: chat text to a [`Command`], and results to reply text.
//!
//! The commands are those of docs/chat.md (`describe`, `oa`, `approve`,
//! `create exception`, `stop trains`, ...). [`parse()`] reads what a conductor
//! typed, as Slack or any bridge delivers it, and either returns a command or a
//! [`ParseError`] whose message says what was expected where. The `render_*`
//! functions turn what the server found or did into plain text that reads well
//! in Slack.
//!
//! ```
//! use signalbox_chat::{parse, Command};
//!
//! let command = parse("<@U024BE7LH> describe chg7687021.");
//! assert_eq!(command, Ok(Command::Describe { id: "CHG7687021".into() }));
//! let error = parse("create exception approved sla lasting soon because CAB ok");
//! assert_eq!(
//!     error.map_err(|e| e.to_string()),
//!     Err(r#"expected a duration like 4h after "lasting", found "soon""#.to_string())
//! );
//! ```
//!
//! **Architecture invariant:** this crate is pure. No IO, no async runtime, no
//! clock: instants are parameters, and the server fills the [`view`] structs
//! from its store. It knows no configuration either, so policy paths, scopes
//! and exception ids are kept as typed for the server to resolve.

pub mod command;
pub mod error;
mod normalize;
pub mod parse;
pub mod render;
mod text;
pub mod view;

pub use command::{Command, ExceptionRequest, Verb};
pub use error::ParseError;
pub use parse::parse;
pub use render::{
    render_approved, render_describe, render_exception_created, render_exception_deleted, render_exceptions,
    render_held, render_help, render_no_such_train, render_not_conductor, render_outstanding, render_parse_error,
    render_pending_notice, render_reevaluated, render_rejected, render_released, render_start_trains, render_stop,
    slack_escape,
};
/// Instants, windows and time left as every transport writes them (chat, the board).
pub mod when {
    pub use crate::render::{local_instant, local_window};
    pub use crate::text::{instant, time_left, window};
}
pub use view::{DescribedTrain, HistoryLine, RegionZone, TrainOutcome, TrainResult};
