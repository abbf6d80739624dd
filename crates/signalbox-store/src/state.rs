//! The state decisions read besides the train: stops, holds, stage
//! deployments and exceptions (the types are the core's; see docs/chat.md and docs/api.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalbox_core::{Exception, Hold, Outcome, StageDeployment, Stop};

use crate::db::{ColumnError, DbRow};
use crate::error::StoreError;
use crate::shared::SharedState;
use crate::tx::{format_id, instant, parse_id, parse_instant, Tx};

/// The latest stage deployment of a squad's service and version completed by an instant.
pub(crate) const STAGE_BY_VERSION: &str = "SELECT train_id, squad, service, version, completed_at
    FROM stage_deployments INDEXED BY stage_by_version
    WHERE squad = ?1 AND service = ?2 AND version = ?3 AND completed_at <= ?4
    ORDER BY completed_at DESC, train_id DESC LIMIT 1";
/// The same, any version.
pub(crate) const STAGE_BY_SERVICE: &str = "SELECT train_id, squad, service, version, completed_at
    FROM stage_deployments INDEXED BY stage_by_service
    WHERE squad = ?1 AND service = ?2 AND completed_at <= ?3
    ORDER BY completed_at DESC, train_id DESC LIMIT 1";

/// Later, as text, than every stored instant (they are RFC 3339 in UTC, years of four digits).
const END_OF_TIME: &str = "9999-12-31T23:59:59.999999999Z";

const STOP_PREFIX: &str = "stop_";
const EXCEPTION_PREFIX: &str = "exc_";

/// The scope that every stop falls under.
pub const SCOPE_ALL: &str = "all";

/// An exception to create: every field of [`Exception`] but the id, which the store assigns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewException {
    pub result: Outcome,
    pub policy: String,
    pub configuration_item: Option<String>,
    pub squad: Option<String>,
    pub service: Option<String>,
    pub justification: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Tx<'_> {
    // ---- stops ----

    /// Records a stop; ids are `stop_1`, `stop_2`, … and never reused.
    pub fn insert_stop(
        &self,
        scope: &str,
        message: &str,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<Stop, StoreError> {
        self.touch();
        let seq: i64 = self.one(
            "insert_stop",
            "INSERT INTO stops (scope, message, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4) RETURNING seq",
            &[&scope, &message, &created_by, &instant(at)],
            |row| row.get(0),
        )?;
        Ok(Stop {
            id: format_id(STOP_PREFIX, seq),
            scope: scope.to_string(),
            message: message.to_string(),
            created_by: created_by.to_string(),
            created_at: at,
        })
    }

    /// The stops not lifted, oldest first.
    pub fn active_stops(&self) -> Result<Vec<Stop>, StoreError> {
        let rows = self.all(
            "active_stops",
            "SELECT seq, scope, message, created_by, created_at FROM stops
             WHERE lifted_at IS NULL ORDER BY seq",
            &[],
            StopRow::read,
        )?;
        rows.into_iter().map(StopRow::decode).collect()
    }

    /// Lifts the active stops of exactly `scope` (`all` lifts every active
    /// stop) and returns them, oldest first. Lifted stops keep their row.
    pub fn lift_stops(&self, scope: &str, by: &str, at: DateTime<Utc>) -> Result<Vec<Stop>, StoreError> {
        self.touch();
        // Active stops are few: no need for a plan per scope.
        let mut rows = self.all(
            "lift_stops",
            "UPDATE stops SET lifted_at = ?1, lifted_by = ?2
             WHERE lifted_at IS NULL AND (?3 = ?4 OR scope = ?3)
             RETURNING seq, scope, message, created_by, created_at",
            &[&instant(at), &by, &scope, &SCOPE_ALL],
            StopRow::read,
        )?;
        // RETURNING gives no order.
        rows.sort_by_key(|row| row.seq);
        rows.into_iter().map(StopRow::decode).collect()
    }

    // ---- holds ----

    /// Puts a hold on the train, replacing any hold it had.
    pub fn set_hold(&self, hold: &Hold) -> Result<(), StoreError> {
        self.touch();
        self.exec(
            "set_hold",
            "INSERT INTO holds (train_id, by, reason, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (train_id) DO UPDATE SET
                 by = excluded.by, reason = excluded.reason, at = excluded.at",
            &[&hold.train_id, &hold.by, &hold.reason, &instant(hold.at)],
        )
        .map(|_| ())
    }

    pub fn get_hold(&self, train_id: &str) -> Result<Option<Hold>, StoreError> {
        let row = self.first(
            "get_hold",
            "SELECT train_id, by, reason, at FROM holds WHERE train_id = ?1",
            &[&train_id],
            HoldRow::read,
        )?;
        row.map(HoldRow::decode).transpose()
    }

    /// Removes the train's hold and returns it, or `None` if it had none.
    pub fn clear_hold(&self, train_id: &str) -> Result<Option<Hold>, StoreError> {
        self.touch();
        let row = self.first(
            "clear_hold",
            "DELETE FROM holds WHERE train_id = ?1 RETURNING train_id, by, reason, at",
            &[&train_id],
            HoldRow::read,
        )?;
        row.map(HoldRow::decode).transpose()
    }

    /// The holds on any of these trains, in the order of `train_ids`.
    pub fn holds_for<S: AsRef<str>>(&self, train_ids: &[S]) -> Result<Vec<Hold>, StoreError> {
        let mut holds = Vec::new();
        for id in train_ids {
            holds.extend(self.get_hold(id.as_ref())?);
        }
        Ok(holds)
    }

    /// Every hold, by train id, if there are at most `limit`.
    pub(crate) fn holds_if_at_most(&self, limit: usize) -> Result<Option<Vec<Hold>>, StoreError> {
        let rows = self.hold_rows(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1))?;
        if rows.len() > limit {
            return Ok(None);
        }
        rows.into_iter().map(HoldRow::decode).collect::<Result<Vec<_>, _>>().map(Some)
    }

    /// The train's hold as a decision made with `shared` sees it: from memory
    /// when `shared` is of this transaction's generation and keeps the holds,
    /// else read (so a hold set earlier in this batch is seen).
    pub fn hold_for(&self, shared: &SharedState, train_id: &str) -> Result<Option<Hold>, StoreError> {
        match shared.holds() {
            Some(holds) if self.generation() == Some(shared.generation()) => Ok(holds.get(train_id).cloned()),
            _ => self.get_hold(train_id),
        }
    }

    /// Every hold, by train id.
    pub fn all_holds(&self) -> Result<Vec<Hold>, StoreError> {
        self.hold_rows(i64::MAX)?.into_iter().map(HoldRow::decode).collect()
    }

    /// The first `limit` holds by train id, undecoded.
    fn hold_rows(&self, limit: i64) -> Result<Vec<HoldRow>, StoreError> {
        self.all(
            "hold_rows",
            "SELECT train_id, by, reason, at FROM holds ORDER BY train_id LIMIT ?1",
            &[&limit],
            HoldRow::read,
        )
    }

    // ---- stage deployments ----

    /// Records a completed stage train; recording the same train again replaces it.
    pub fn record_stage_deployment(&self, deployment: &StageDeployment) -> Result<(), StoreError> {
        self.touch();
        self.exec(
            "record_stage_deployment",
            "INSERT INTO stage_deployments (train_id, squad, service, version, completed_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (train_id) DO UPDATE SET
                 squad = excluded.squad, service = excluded.service,
                 version = excluded.version, completed_at = excluded.completed_at",
            &[
                &deployment.train_id,
                &deployment.squad,
                &deployment.service,
                &deployment.version,
                &instant(deployment.completed_at),
            ],
        )
        .map(|_| ())
    }

    /// The latest stage deployment of `squad` and `service` completed by `at`,
    /// of exactly `version` when one is given (any version otherwise), as the
    /// `global.stage_bake` policy needs it (docs/policies.md).
    pub fn latest_stage_deployment(
        &self,
        squad: &str,
        service: &str,
        version: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<StageDeployment>, StoreError> {
        self.latest_stage_completed_by(squad, service, version, &instant(at))
    }

    /// [`Tx::latest_stage_deployment`] as a decision made with `shared` sees
    /// it: `shared` remembers the latest deployment of each key whenever it
    /// completed, for this transaction's generation; where that one completed
    /// after `at`, or `shared` is not of this generation, the table is read.
    pub fn stage_for(
        &self,
        shared: &SharedState,
        squad: &str,
        service: &str,
        version: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Option<StageDeployment>, StoreError> {
        if self.generation() != Some(shared.generation()) {
            return self.latest_stage_deployment(squad, service, version, at);
        }
        let key = (squad.to_string(), service.to_string(), version.map(str::to_string));
        let latest = match shared.remembered_stage(&key) {
            Some(latest) => latest,
            None => {
                let latest = self.latest_stage_completed_by(squad, service, version, END_OF_TIME)?;
                shared.remember_stage(key, latest.clone());
                latest
            }
        };
        match latest {
            Some(latest) if latest.completed_at > at => self.latest_stage_deployment(squad, service, version, at),
            latest => Ok(latest),
        }
    }

    /// The latest matching stage deployment whose `completed_at` text is at most `when`.
    fn latest_stage_completed_by(
        &self,
        squad: &str,
        service: &str,
        version: Option<&str>,
        when: &str,
    ) -> Result<Option<StageDeployment>, StoreError> {
        let op = "latest_stage_deployment";
        let row = match version {
            Some(version) => self.first(op, STAGE_BY_VERSION, &[&squad, &service, &version, &when], StageRow::read)?,
            None => self.first(op, STAGE_BY_SERVICE, &[&squad, &service, &when], StageRow::read)?,
        };
        row.map(StageRow::decode).transpose()
    }

    // ---- exceptions ----

    /// Creates an exception; ids are `exc_1`, `exc_2`, … and never reused.
    pub fn insert_exception(&self, new: &NewException) -> Result<Exception, StoreError> {
        self.touch();
        let seq: i64 = self.one(
            "insert_exception",
            "INSERT INTO exceptions (result, policy, configuration_item, squad, service,
                 justification, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING seq",
            &[
                &new.result.as_str(),
                &new.policy,
                &new.configuration_item,
                &new.squad,
                &new.service,
                &new.justification,
                &new.created_by,
                &instant(new.created_at),
                &instant(new.expires_at),
            ],
            |row| row.get(0),
        )?;
        Ok(Exception {
            id: format_id(EXCEPTION_PREFIX, seq),
            result: new.result,
            policy: new.policy.clone(),
            configuration_item: new.configuration_item.clone(),
            squad: new.squad.clone(),
            service: new.service.clone(),
            justification: new.justification.clone(),
            created_by: new.created_by.clone(),
            created_at: new.created_at,
            expires_at: new.expires_at,
        })
    }

    /// The exception with this id, deleted or expired ones included.
    pub fn get_exception(&self, id: &str) -> Result<Option<Exception>, StoreError> {
        let Some(seq) = parse_id(EXCEPTION_PREFIX, id) else {
            return Ok(None);
        };
        let sql = format!("SELECT {EXCEPTION_COLUMNS} FROM exceptions WHERE seq = ?1");
        let row = self.first("get_exception", &sql, &[&seq], ExceptionRow::read)?;
        row.map(ExceptionRow::decode).transpose()
    }

    /// Marks the exception deleted so it applies to nothing from now on; `None`
    /// when there is no such exception or it was already deleted.
    pub fn delete_exception(&self, id: &str, by: &str, at: DateTime<Utc>) -> Result<Option<Exception>, StoreError> {
        self.touch();
        let Some(seq) = parse_id(EXCEPTION_PREFIX, id) else {
            return Ok(None);
        };
        let sql = format!(
            "UPDATE exceptions SET deleted_at = ?1, deleted_by = ?2
             WHERE seq = ?3 AND deleted_at IS NULL RETURNING {EXCEPTION_COLUMNS}"
        );
        let row = self.first("delete_exception", &sql, &[&instant(at), &by, &seq], ExceptionRow::read)?;
        row.map(ExceptionRow::decode).transpose()
    }

    /// The exceptions not deleted and not expired at `at` (`expires_at > at`), by id.
    pub fn live_exceptions(&self, at: DateTime<Utc>) -> Result<Vec<Exception>, StoreError> {
        let sql = format!(
            "SELECT {EXCEPTION_COLUMNS} FROM exceptions
             WHERE deleted_at IS NULL AND expires_at > ?1 ORDER BY seq"
        );
        let rows = self.all("live_exceptions", &sql, &[&instant(at)], ExceptionRow::read)?;
        rows.into_iter().map(ExceptionRow::decode).collect()
    }
}

struct StopRow {
    seq: i64,
    scope: String,
    message: String,
    created_by: String,
    created_at: String,
}

impl StopRow {
    fn read(row: &DbRow<'_, '_>) -> Result<StopRow, ColumnError> {
        Ok(StopRow {
            seq: row.get(0)?,
            scope: row.get(1)?,
            message: row.get(2)?,
            created_by: row.get(3)?,
            created_at: row.get(4)?,
        })
    }

    fn decode(self) -> Result<Stop, StoreError> {
        let id = format_id(STOP_PREFIX, self.seq);
        Ok(Stop {
            created_at: parse_instant(&format!("stops.created_at of `{id}`"), &self.created_at)?,
            id,
            scope: self.scope,
            message: self.message,
            created_by: self.created_by,
        })
    }
}

struct HoldRow {
    train_id: String,
    by: String,
    reason: String,
    at: String,
}

impl HoldRow {
    fn read(row: &DbRow<'_, '_>) -> Result<HoldRow, ColumnError> {
        Ok(HoldRow { train_id: row.get(0)?, by: row.get(1)?, reason: row.get(2)?, at: row.get(3)? })
    }

    fn decode(self) -> Result<Hold, StoreError> {
        Ok(Hold {
            at: parse_instant(&format!("holds.at of `{}`", self.train_id), &self.at)?,
            train_id: self.train_id,
            by: self.by,
            reason: self.reason,
        })
    }
}

struct StageRow {
    train_id: String,
    squad: String,
    service: String,
    version: Option<String>,
    completed_at: String,
}

impl StageRow {
    fn read(row: &DbRow<'_, '_>) -> Result<StageRow, ColumnError> {
        Ok(StageRow {
            train_id: row.get(0)?,
            squad: row.get(1)?,
            service: row.get(2)?,
            version: row.get(3)?,
            completed_at: row.get(4)?,
        })
    }

    fn decode(self) -> Result<StageDeployment, StoreError> {
        let what = format!("stage_deployments.completed_at of `{}`", self.train_id);
        Ok(StageDeployment {
            completed_at: parse_instant(&what, &self.completed_at)?,
            train_id: self.train_id,
            squad: self.squad,
            service: self.service,
            version: self.version,
        })
    }
}

const EXCEPTION_COLUMNS: &str = "seq, result, policy, configuration_item, squad, service, \
     justification, created_by, created_at, expires_at";

struct ExceptionRow {
    seq: i64,
    result: String,
    policy: String,
    configuration_item: Option<String>,
    squad: Option<String>,
    service: Option<String>,
    justification: String,
    created_by: String,
    created_at: String,
    expires_at: String,
}

impl ExceptionRow {
    fn read(row: &DbRow<'_, '_>) -> Result<ExceptionRow, ColumnError> {
        Ok(ExceptionRow {
            seq: row.get(0)?,
            result: row.get(1)?,
            policy: row.get(2)?,
            configuration_item: row.get(3)?,
            squad: row.get(4)?,
            service: row.get(5)?,
            justification: row.get(6)?,
            created_by: row.get(7)?,
            created_at: row.get(8)?,
            expires_at: row.get(9)?,
        })
    }

    fn decode(self) -> Result<Exception, StoreError> {
        let id = format_id(EXCEPTION_PREFIX, self.seq);
        let what = |field: &str| format!("exceptions.{field} of `{id}`");
        let result = Outcome::parse(&self.result).ok_or_else(|| StoreError::Decode {
            what: what("result"),
            message: format!("unknown result `{}`", self.result),
        })?;
        Ok(Exception {
            created_at: parse_instant(&what("created_at"), &self.created_at)?,
            expires_at: parse_instant(&what("expires_at"), &self.expires_at)?,
            id,
            result,
            policy: self.policy,
            configuration_item: self.configuration_item,
            squad: self.squad,
            service: self.service,
            justification: self.justification,
            created_by: self.created_by,
        })
    }
}
