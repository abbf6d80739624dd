//! The audit log, read a page at a time.

use serde::Serialize;
use signalbox_store::AuditRecord;

use super::error::ServiceError;
use super::round::train_id;
use crate::state::AppState;

/// A page of the audit log, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<crate::schema::AuditRecord>)]
    pub entries: Vec<AuditRecord>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

pub fn audit_page(
    app: &AppState,
    train: Option<&str>,
    before: Option<i64>,
    limit: usize,
) -> Result<AuditPage, ServiceError> {
    let train = train.map(train_id).transpose()?;
    let mut entries = app.store.read(|tx| tx.audit_page(train.as_deref(), before, limit + 1))?;
    let next_before = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(AuditPage { entries, next_before })
}
