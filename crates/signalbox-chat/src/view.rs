//! What the replies are rendered from: small structs the server fills from its store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use signalbox_core::{Decision, Hold, Train, TrainState};

/// A train as `describe` and `oa` show it: the API's train view (docs/api.md) plus its hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribedTrain {
    pub train: Train,
    pub state: TrainState,
    /// The latest decision.
    pub decision: Decision,
    /// Decisions and actions; rendered oldest first whatever the order here.
    #[serde(default)]
    pub history: Vec<HistoryLine>,
    #[serde(default)]
    pub hold: Option<Hold>,
    /// The time zone of each of the train's regions, so that `describe` shows
    /// the forecast in local time too; the server fills it from its configuration.
    #[serde(default)]
    pub timezones: Vec<RegionZone>,
}

/// A region and its IANA time zone, e.g. `us-south`, `America/Chicago`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionZone {
    pub region: String,
    pub timezone: String,
}

impl DescribedTrain {
    /// When the train arrived: its first history entry, or else its latest decision.
    pub fn submitted_at(&self) -> DateTime<Utc> {
        self.history.iter().map(|h| h.at).min().unwrap_or(self.decision.evaluated_at)
    }
}

/// One entry of a train's history: a decision or a conductor's action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub at: DateTime<Utc>,
    /// Who: `pipeline:deploy-bot`, a chat user id, `incident:cie-bot`.
    pub actor: String,
    /// What: `submitted`, `decided`, `approved`, `held`, `re-evaluated`...
    pub action: String,
    /// The decision summary or the reason given; may be empty.
    #[serde(default)]
    pub detail: String,
}

/// What became of one train a command named (approve, reject, hold, release, reevaluate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainResult {
    pub train_id: String,
    pub outcome: TrainOutcome,
}

/// Done, with the state the train is now in, or refused with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainOutcome {
    /// Recorded; `summary` is the new decision's one-line summary when one was made.
    Done {
        state: TrainState,
        #[serde(default)]
        summary: Option<String>,
    },
    /// Not done, e.g. `no train CHG1 is recorded` or `it is rejected; only pending trains can be approved`.
    Refused { reason: String },
}
