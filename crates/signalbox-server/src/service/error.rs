//! The service's error: what went wrong, in terms every transport can map
//! (HTTP to a status, chat to a reply). No transport type appears here.

use signalbox_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed; the message names the field or word.
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state, and the message says with what.
    #[error("{0}")]
    Conflict(String),
    /// A configuration or policy set that does not load; the old one keeps serving.
    #[error("{0}")]
    Refused(String),
    /// The store cannot serve now (closed, stuck, busy): try again later.
    #[error("the store is unavailable: {0}")]
    Unavailable(StoreError),
    /// A bug or damaged data: logged in full, reported generically.
    #[error("{0}")]
    Internal(String),
}

impl From<signalbox_core::text::TextError> for ServiceError {
    fn from(e: signalbox_core::text::TextError) -> Self {
        ServiceError::Invalid(e.to_string())
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            ServiceError::Unavailable(e)
        } else {
            ServiceError::Internal(format!("store: {e}"))
        }
    }
}
