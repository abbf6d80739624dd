//! Trains with their latest decision, and the log of every decision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalbox_core::{Decision, Train, TrainState};

use crate::db::{ColumnError, DbRow, Param};
use crate::error::StoreError;
use crate::tx::{from_json, instant, parse_instant, sql_count, to_json, Tx};

/// A train as stored: the submitted train, where it is in its life, and its latest decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainRecord {
    pub train: Train,
    pub state: TrainState,
    /// The latest decision; every decision is also kept in the decision log.
    pub decision: Decision,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which trains [`Tx::list_trains`] returns. The default is every train.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrainFilter {
    pub state: Option<TrainState>,
    pub environment: Option<String>,
    pub squad: Option<String>,
    /// At most this many; `None` for all.
    pub limit: Option<usize>,
    /// Skip this many first; `None` for none.
    pub offset: Option<usize>,
}

const TRAIN_COLUMNS: &str = "id, state, created_at, updated_at, train, decision";

impl Tx<'_> {
    pub fn get_train(&self, id: &str) -> Result<Option<TrainRecord>, StoreError> {
        let sql = format!("SELECT {TRAIN_COLUMNS} FROM trains WHERE id = ?1");
        self.first("get_train", &sql, &[&id], TrainRow::read)?.map(TrainRow::decode).transpose()
    }

    /// Inserts the train, or replaces the stored one with the same id.
    ///
    /// The decision log is separate: record the decision with [`Tx::insert_decision`].
    pub fn put_train(&self, record: &TrainRecord) -> Result<(), StoreError> {
        let train = to_json("train", &record.train)?;
        let decision = to_json("decision", &record.decision)?;
        self.exec(
            "put_train",
            "INSERT INTO trains (id, state, environment, squad, created_at, updated_at, train, decision)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET
                 state = excluded.state, environment = excluded.environment,
                 squad = excluded.squad, created_at = excluded.created_at,
                 updated_at = excluded.updated_at, train = excluded.train,
                 decision = excluded.decision",
            &[
                &record.train.id,
                &record.state.as_str(),
                &record.train.environment,
                &record.train.squad,
                &instant(record.created_at),
                &instant(record.updated_at),
                &train,
                &decision,
            ],
        )
        .map(|_| ())
    }

    /// The trains the filter matches, oldest first (by `created_at`, then id).
    pub fn list_trains(&self, filter: &TrainFilter) -> Result<Vec<TrainRecord>, StoreError> {
        let mut conditions = Vec::new();
        let mut params: Vec<&dyn Param> = Vec::new();
        let state = filter.state.map(TrainState::as_str);
        let environment = filter.environment.as_deref();
        let squad = filter.squad.as_deref();
        for (column, value) in [("state", &state), ("environment", &environment), ("squad", &squad)] {
            if let Some(value) = value {
                params.push(value);
                conditions.push(format!("{column} = ?{}", params.len()));
            }
        }
        // No limit is the largest one: both databases take it.
        let limit = filter.limit.map_or(i64::MAX, sql_count);
        let offset = sql_count(filter.offset.unwrap_or(0));
        params.push(&limit);
        params.push(&offset);
        let where_clause =
            if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        let sql = format!(
            "SELECT {TRAIN_COLUMNS} FROM trains {where_clause}
             ORDER BY created_at, id LIMIT ?{} OFFSET ?{}",
            params.len() - 1,
            params.len()
        );
        self.all("list_trains", &sql, &params, TrainRow::read)?.into_iter().map(TrainRow::decode).collect()
    }

    pub fn count_trains(&self) -> Result<u64, StoreError> {
        let count: i64 = self.one("count_trains", "SELECT COUNT(*) FROM trains", &[], |row| row.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// How many trains are in `state`.
    pub fn count_trains_in(&self, state: TrainState) -> Result<u64, StoreError> {
        let count: i64 =
            self.one("count_trains_in", "SELECT COUNT(*) FROM trains WHERE state = ?1", &[&state.as_str()], |row| {
                row.get(0)
            })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Adds a decision to the log. Decisions are immutable: the same
    /// `decision_id` twice is an error.
    pub fn insert_decision(&self, decision: &Decision) -> Result<(), StoreError> {
        let json = to_json("decision", decision)?;
        self.exec(
            "insert_decision",
            "INSERT INTO decisions (decision_id, train_id, evaluated_at, decision)
             VALUES (?1, ?2, ?3, ?4)",
            &[&decision.decision_id, &decision.train_id, &instant(decision.evaluated_at), &json],
        )
        .map(|_| ())
    }

    pub fn get_decision(&self, decision_id: &str) -> Result<Option<Decision>, StoreError> {
        let json: Option<String> = self.first(
            "get_decision",
            "SELECT decision FROM decisions WHERE decision_id = ?1",
            &[&decision_id],
            |row| row.get(0),
        )?;
        json.map(|text| from_json(&format!("decision `{decision_id}`"), &text)).transpose()
    }

    /// Every decision made for the train, oldest first.
    pub fn decisions_for(&self, train_id: &str) -> Result<Vec<Decision>, StoreError> {
        let texts: Vec<String> = self.all(
            "decisions_for",
            "SELECT decision FROM decisions WHERE train_id = ?1
             ORDER BY evaluated_at, decision_id",
            &[&train_id],
            |row| row.get(0),
        )?;
        texts.iter().map(|text| from_json(&format!("a decision of train `{train_id}`"), text)).collect()
    }
}

/// A `trains` row as read, before its JSON is decoded.
struct TrainRow {
    id: String,
    state: String,
    created_at: String,
    updated_at: String,
    train: String,
    decision: String,
}

impl TrainRow {
    fn read(row: &DbRow<'_, '_>) -> Result<TrainRow, ColumnError> {
        Ok(TrainRow {
            id: row.get(0)?,
            state: row.get(1)?,
            created_at: row.get(2)?,
            updated_at: row.get(3)?,
            train: row.get(4)?,
            decision: row.get(5)?,
        })
    }

    fn decode(self) -> Result<TrainRecord, StoreError> {
        let what = |field: &str| format!("trains.{field} of `{}`", self.id);
        let state = TrainState::parse(&self.state).ok_or_else(|| StoreError::Decode {
            what: what("state"),
            message: format!("unknown state `{}`", self.state),
        })?;
        Ok(TrainRecord {
            train: from_json(&what("train"), &self.train)?,
            state,
            decision: from_json(&what("decision"), &self.decision)?,
            created_at: parse_instant(&what("created_at"), &self.created_at)?,
            updated_at: parse_instant(&what("updated_at"), &self.updated_at)?,
        })
    }
}
