//! The append-only audit log of every decision and action.
//!
//! Rows are only ever inserted: triggers in the schema refuse `UPDATE` and
//! `DELETE`, so not even a bug in this crate can rewrite history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::{ColumnError, DbRow, Param};
use crate::error::StoreError;
use crate::tx::{from_json, instant, parse_instant, sql_count, to_json, Tx};

/// What an audit entry records. Stored and served as its text, e.g.
/// `submit.decision` or `exception.create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum AuditAction {
    /// A new train, as submitted; then its decision.
    Submit,
    SubmitDecision,
    /// A pending train resubmitted with a changed body; then its decision.
    Update,
    UpdateDecision,
    Approve,
    Reject,
    Hold,
    HoldDecision,
    Release,
    ReleaseDecision,
    Start,
    Complete,
    Abort,
    ReevaluateDecision,
    ExceptionCreate,
    ExceptionDelete,
    Stop,
    StartTrains,
    StartTrainsDecision,
    Reload,
    ChatCommand,
    TokenBootstrap,
    /// A calendar feed's refresh changed the imported freezes or holidays.
    CalendarRefresh,
}

impl AuditAction {
    pub const ALL: [AuditAction; 23] = [
        AuditAction::Submit,
        AuditAction::SubmitDecision,
        AuditAction::Update,
        AuditAction::UpdateDecision,
        AuditAction::Approve,
        AuditAction::Reject,
        AuditAction::Hold,
        AuditAction::HoldDecision,
        AuditAction::Release,
        AuditAction::ReleaseDecision,
        AuditAction::Start,
        AuditAction::Complete,
        AuditAction::Abort,
        AuditAction::ReevaluateDecision,
        AuditAction::ExceptionCreate,
        AuditAction::ExceptionDelete,
        AuditAction::Stop,
        AuditAction::StartTrains,
        AuditAction::StartTrainsDecision,
        AuditAction::Reload,
        AuditAction::ChatCommand,
        AuditAction::TokenBootstrap,
        AuditAction::CalendarRefresh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Submit => "submit",
            AuditAction::SubmitDecision => "submit.decision",
            AuditAction::Update => "update",
            AuditAction::UpdateDecision => "update.decision",
            AuditAction::Approve => "approve",
            AuditAction::Reject => "reject",
            AuditAction::Hold => "hold",
            AuditAction::HoldDecision => "hold.decision",
            AuditAction::Release => "release",
            AuditAction::ReleaseDecision => "release.decision",
            AuditAction::Start => "start",
            AuditAction::Complete => "complete",
            AuditAction::Abort => "abort",
            AuditAction::ReevaluateDecision => "reevaluate.decision",
            AuditAction::ExceptionCreate => "exception.create",
            AuditAction::ExceptionDelete => "exception.delete",
            AuditAction::Stop => "stop",
            AuditAction::StartTrains => "start_trains",
            AuditAction::StartTrainsDecision => "start_trains.decision",
            AuditAction::Reload => "reload",
            AuditAction::ChatCommand => "chat.command",
            AuditAction::TokenBootstrap => "token.bootstrap",
            AuditAction::CalendarRefresh => "calendar.refresh",
        }
    }

    pub fn parse(text: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// Whether the entry records a decision (its detail holds `state` and `decision`).
    pub fn is_decision(self) -> bool {
        self.as_str().ends_with(".decision")
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<AuditAction> for &'static str {
    fn from(action: AuditAction) -> &'static str {
        action.as_str()
    }
}

impl TryFrom<String> for AuditAction {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        AuditAction::parse(&text).ok_or_else(|| format!("unknown audit action `{text}`"))
    }
}

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    /// Who did it, e.g. `pipeline:deploy-bot` or `chat:U024BE7LH`.
    pub actor: String,
    /// What was done.
    pub action: AuditAction,
    pub train_id: Option<String>,
    pub detail: serde_json::Value,
}

/// An audit entry as stored; `seq` grows with every entry and is never reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: AuditAction,
    pub train_id: Option<String>,
    pub detail: serde_json::Value,
}

const AUDIT_COLUMNS: &str = "seq, at, actor, action, train_id, detail";

impl Tx<'_> {
    /// Appends an entry and returns its sequence number.
    pub fn append_audit(&self, entry: &NewAudit) -> Result<i64, StoreError> {
        let detail = to_json("audit detail", &entry.detail)?;
        self.one(
            "append_audit",
            "INSERT INTO audit (at, actor, action, train_id, detail)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
            &[&instant(entry.at), &entry.actor, &entry.action.as_str(), &entry.train_id, &detail],
            |row| row.get(0),
        )
    }

    /// One page of the log, newest first: at most `limit` entries with a
    /// sequence number below `before_seq` (the last `seq` of the previous
    /// page), of one train when `train_id` is given.
    pub fn audit_page(
        &self,
        train_id: Option<&str>,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut conditions = Vec::new();
        let mut params: Vec<&dyn Param> = Vec::new();
        if let Some(train_id) = &train_id {
            params.push(train_id);
            conditions.push(format!("train_id = ?{}", params.len()));
        }
        if let Some(before) = &before_seq {
            params.push(before);
            conditions.push(format!("seq < ?{}", params.len()));
        }
        let limit = sql_count(limit);
        params.push(&limit);
        let where_clause =
            if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit {where_clause} ORDER BY seq DESC LIMIT ?{}", params.len());
        self.audit_query("audit_page", &sql, params.as_slice())
    }

    /// Everything that happened to one train, oldest first.
    pub fn train_history(&self, train_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE train_id = ?1 ORDER BY seq");
        self.audit_query("train_history", &sql, &[&train_id])
    }

    fn audit_query(&self, op: &'static str, sql: &str, params: &[&dyn Param]) -> Result<Vec<AuditRecord>, StoreError> {
        self.all(op, sql, params, AuditRow::read)?.into_iter().map(AuditRow::decode).collect()
    }
}

struct AuditRow {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    train_id: Option<String>,
    detail: String,
}

impl AuditRow {
    fn read(row: &DbRow<'_, '_>) -> Result<AuditRow, ColumnError> {
        Ok(AuditRow {
            seq: row.get(0)?,
            at: row.get(1)?,
            actor: row.get(2)?,
            action: row.get(3)?,
            train_id: row.get(4)?,
            detail: row.get(5)?,
        })
    }

    fn decode(self) -> Result<AuditRecord, StoreError> {
        let what = |field: &str| format!("audit.{field} of entry {}", self.seq);
        let action = AuditAction::parse(&self.action).ok_or_else(|| StoreError::Decode {
            what: what("action"),
            message: format!("unknown action `{}`", self.action),
        })?;
        Ok(AuditRecord {
            action,
            at: parse_instant(&what("at"), &self.at)?,
            detail: from_json(&what("detail"), &self.detail)?,
            seq: self.seq,
            actor: self.actor,
            train_id: self.train_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_their_text() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{action}\""));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).unwrap(), action);
        }
        assert_eq!(AuditAction::parse("launch"), None);
        assert!(serde_json::from_str::<AuditAction>("\"launch\"").is_err());
    }
}
