//! The append-only audit log of every decision and action.
//!
//! Rows are only ever inserted: triggers in the schema refuse `UPDATE` and
//! `DELETE`, so not even a bug in this crate can rewrite history.

use chrono::{DateTime, Utc};
use rusqlite::{Row, ToSql};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::tx::{from_json, instant, parse_instant, sql_count, to_json, Tx};

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    /// Who did it, e.g. `pipeline:deploy-bot` or `chat:U024BE7LH`.
    pub actor: String,
    /// What was done, e.g. `submit`, `approve`, `stop`.
    pub action: String,
    pub train_id: Option<String>,
    pub detail: serde_json::Value,
}

/// An audit entry as stored; `seq` grows with every entry and is never reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub train_id: Option<String>,
    pub detail: serde_json::Value,
}

const AUDIT_COLUMNS: &str = "seq, at, actor, action, train_id, detail";

impl Tx<'_> {
    /// Appends an entry and returns its sequence number.
    pub fn append_audit(&self, entry: &NewAudit) -> Result<i64, StoreError> {
        let detail = to_json("audit detail", &entry.detail)?;
        self.conn
            .prepare_cached(
                "INSERT INTO audit (at, actor, action, train_id, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING seq",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    rusqlite::params![instant(entry.at), entry.actor, entry.action, entry.train_id, detail],
                    |row| row.get(0),
                )
            })
            .map_err(StoreError::query("append_audit"))
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
        let mut params: Vec<&dyn ToSql> = Vec::new();
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

    fn audit_query(&self, op: &'static str, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_map(params, AuditRow::read)?.collect::<Result<Vec<_>, _>>())
            .map_err(StoreError::query(op))?;
        rows.into_iter().map(AuditRow::decode).collect()
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
    fn read(row: &Row<'_>) -> rusqlite::Result<AuditRow> {
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
        Ok(AuditRecord {
            at: parse_instant(&what("at"), &self.at)?,
            detail: from_json(&what("detail"), &self.detail)?,
            seq: self.seq,
            actor: self.actor,
            action: self.action,
            train_id: self.train_id,
        })
    }
}
