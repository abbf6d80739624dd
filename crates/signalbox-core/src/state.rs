//! The state a decision depends on besides the train: stops, holds, recorded
//! stage deployments and exceptions. The store supplies it; tests write it by hand.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::decision::Outcome;

/// A stop (CIE): while active, trains it covers get a `global.cie` finding.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    pub id: String,
    /// `all`, an environment or a region.
    pub scope: String,
    pub message: String,
    #[serde(default)]
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A conductor's hold on a train.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    pub train_id: String,
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// A stage train that completed, as recorded by Signalbox.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDeployment {
    pub train_id: String,
    pub squad: String,
    pub service: String,
    #[serde(default)]
    pub version: Option<String>,
    pub completed_at: DateTime<Utc>,
}

/// A temporary, scoped exception (docs/chat.md, `create exception`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub id: String,
    pub result: Outcome,
    /// The canonical policy path, e.g. `global.business_hours`.
    pub policy: String,
    /// Scope, narrowing left to right; `None` matches everything.
    #[serde(default)]
    pub configuration_item: Option<String>,
    #[serde(default)]
    pub squad: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    pub justification: String,
    #[serde(default)]
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Exception {
    /// Valid over `[created_at, expires_at)`.
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.created_at <= at && at < self.expires_at
    }

    /// How many scope parts are named (a `*` or missing part names nothing).
    pub fn specificity(&self) -> usize {
        [&self.configuration_item, &self.squad, &self.service].into_iter().filter(|p| named(p).is_some()).count()
    }

    /// Whether the scope covers a train with these names.
    pub fn covers(&self, configuration_item: &str, squad: &str, service: &str) -> bool {
        let fits = |part: &Option<String>, value: &str| named(part).is_none_or(|p| p == value);
        fits(&self.configuration_item, configuration_item) && fits(&self.squad, squad) && fits(&self.service, service)
    }
}

fn named(part: &Option<String>) -> Option<&str> {
    part.as_deref().filter(|p| *p != "*" && !p.is_empty())
}

/// An exception as a conductor asks for it: the store gives it an id, the
/// creation instant and, from `duration`, its expiry. The server checks the
/// path against the manifest and the duration against the configured maximum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionRequest {
    pub result: Outcome,
    /// The policy path or alias as typed, e.g. `business_hours`.
    pub policy: String,
    pub duration: chrono::TimeDelta,
    /// Scope, narrowing left to right; `None` when omitted, `Some("*")` when typed as `*`.
    pub configuration_item: Option<String>,
    pub squad: Option<String>,
    pub service: Option<String>,
    pub justification: String,
}

/// Everything a decision reads besides the train, the configuration and the instant.
///
/// `stops` are the active stops, and `exceptions` those not deleted; expiry is
/// judged at the evaluation instant, never by the supplier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    #[serde(default)]
    pub stops: Vec<Stop>,
    #[serde(default)]
    pub holds: Vec<Hold>,
    #[serde(default)]
    pub stage_deployments: Vec<StageDeployment>,
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

/// The part of [`State`] that concerns one train, as the store can look it up directly.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainContext<'a> {
    pub stops: &'a [Stop],
    pub hold: Option<&'a Hold>,
    /// The latest matching completed stage deployment, if any.
    pub stage: Option<&'a StageDeployment>,
    pub exceptions: &'a [Exception],
}

impl State {
    /// Picks out what concerns `train` at instant `at`.
    pub fn for_train<'a>(&'a self, train: &crate::Train, at: DateTime<Utc>) -> TrainContext<'a> {
        TrainContext {
            stops: &self.stops,
            hold: self.holds.iter().find(|h| h.train_id == train.id),
            stage: latest_stage_deployment(&self.stage_deployments, train, at),
            exceptions: &self.exceptions,
        }
    }
}

/// The latest completed stage deployment of the train's squad and service (and
/// version, when the train names one) that had completed by `at`.
pub fn latest_stage_deployment<'a>(
    deployments: &'a [StageDeployment],
    train: &crate::Train,
    at: DateTime<Utc>,
) -> Option<&'a StageDeployment> {
    deployments
        .iter()
        .filter(|d| d.squad == train.squad && d.service == train.service && d.completed_at <= at)
        .filter(|d| train.version.is_none() || d.version == train.version)
        .max_by(|a, b| a.recency().cmp(&b.recency()))
}

impl StageDeployment {
    /// What "latest" means between stage deployments: the later `completed_at`,
    /// and between two completed at the same instant the greater `train_id`.
    /// The store's queries order by the same key.
    pub fn recency(&self) -> (DateTime<Utc>, &str) {
        (self.completed_at, &self.train_id)
    }
}
