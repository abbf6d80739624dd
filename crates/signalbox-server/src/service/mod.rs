//! What Signalbox does, whoever asks: every operation of the HTTP API and of
//! chat, over the store. Every change of state is one `store.write` closure
//! that makes the change and appends its audit record: both commit together,
//! and the caller hears of it only after the commit.
//!
//! Transports (`api`, `chat`, `slack`) call in with a [`Ctx`](crate::state::Ctx)
//! (who asks, and the request's instant) and typed arguments, and map
//! [`ServiceError`] to their own answers. Nothing here knows HTTP or chat.

mod admin;
mod audit;
mod board;
mod changes;
mod error;
mod exceptions;
pub mod notify;
mod round;
mod sessions;
mod stops;
mod trains;

pub use admin::{reload, Reloaded};
pub use audit::{audit_page, AuditPage};
pub use board::{board, BoardView, PendingTrain, RegionNow, FREEZE_HORIZON, MAX_PENDING};
pub use error::ServiceError;
pub use exceptions::{create_exception, delete_exception, list_exceptions, ExceptionCreated, ExceptionView};
pub use round::{train_id, TrainView};
pub use sessions::{session_user, sign_in, sign_out, SessionUser, SESSION_LIFETIME};
pub use stops::{create_stop, list_stops, start_trains, StartTrainsReport};
pub use trains::{act, dry_run, get_train, list_trains, reevaluate, submit, Action, Reevaluated};
