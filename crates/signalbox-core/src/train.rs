//! The train: the change a pipeline asks to ship, as it arrives on the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::text::{self, TextError};

/// A change to ship, exactly the JSON fields of docs/api.md ("The train").
///
/// Unknown fields are refused by serde (`deny_unknown_fields`), so a typo in a
/// pipeline's payload is a clear error rather than a silently missing value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Train {
    pub id: String,
    pub squad: String,
    pub service: String,
    pub configuration_item: String,
    pub environment: String,
    pub regions: Vec<String>,
    pub title: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(deserialize_with = "crate::time::instant::deserialize")]
    pub planned_start: DateTime<Utc>,
    #[serde(deserialize_with = "crate::time::instant::deserialize")]
    pub planned_end: DateTime<Utc>,
    #[serde(default)]
    pub exception_justification: Option<String>,
    #[serde(default)]
    pub crb_approved: bool,
    #[serde(default, deserialize_with = "crate::time::instant::option::deserialize")]
    pub stage_deployed_at: Option<DateTime<Utc>>,
}

/// Why a train was refused before any policy ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrainError {
    #[error("`id` must look like CHG7687021 (2-10 capital letters then 1-12 digits), found `{0}`")]
    BadId(String),
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    #[error("`environment` `{found}` is not configured; known environments: {known}")]
    UnknownEnvironment { found: String, known: String },
    #[error("`regions` must name at least one region")]
    NoRegions,
    #[error("`regions` names `{found}`, which is not configured; known regions: {known}")]
    UnknownRegion { found: String, known: String },
    #[error("`regions` names `{0}` twice")]
    DuplicateRegion(String),
    #[error("`planned_end` ({end}) must be after `planned_start` ({start})")]
    WindowBackwards { start: String, end: String },
    /// Too long, or holding control characters.
    #[error(transparent)]
    Text(#[from] TextError),
}

/// Whether `id` is a change number: `^[A-Z]{2,10}[0-9]{1,12}$`.
pub fn is_train_id(id: &str) -> bool {
    let letters = id.bytes().take_while(u8::is_ascii_uppercase).count();
    let digits = id.len() - letters;
    (2..=10).contains(&letters) && (1..=12).contains(&digits) && id.bytes().skip(letters).all(|b| b.is_ascii_digit())
}

impl Train {
    /// Checks the train against the field rules and the configured environments and regions.
    pub fn validate(&self, config: &Config) -> Result<(), TrainError> {
        if !is_train_id(&self.id) {
            return Err(TrainError::BadId(text::excerpt(&self.id, 40)));
        }
        for (field, value) in [
            ("squad", &self.squad),
            ("service", &self.service),
            ("configuration_item", &self.configuration_item),
            ("title", &self.title),
        ] {
            if value.trim().is_empty() {
                return Err(TrainError::Empty(field));
            }
        }
        text::check_name("squad", &self.squad)?;
        text::check_name("service", &self.service)?;
        text::check_name("configuration_item", &self.configuration_item)?;
        // A title is one line, but as long as free text.
        text::check("title", &self.title, text::MAX_TEXT, false)?;
        if let Some(version) = &self.version {
            text::check_name("version", version)?;
        }
        if let Some(justification) = &self.exception_justification {
            text::check_text("exception_justification", justification)?;
        }
        // Checked before they are looked up, so an error never echoes a huge value.
        text::check_name("environment", &self.environment)?;
        for region in &self.regions {
            text::check_name("regions", region)?;
        }
        if !config.environments.iter().any(|e| e == &self.environment) {
            return Err(TrainError::UnknownEnvironment {
                found: self.environment.clone(),
                known: config.environments.join(", "),
            });
        }
        if self.regions.is_empty() {
            return Err(TrainError::NoRegions);
        }
        for (i, region) in self.regions.iter().enumerate() {
            if !config.regions.contains_key(region) {
                return Err(TrainError::UnknownRegion {
                    found: region.clone(),
                    known: config.region_names().join(", "),
                });
            }
            if self.regions.iter().take(i).any(|r| r == region) {
                return Err(TrainError::DuplicateRegion(region.clone()));
            }
        }
        if self.planned_end <= self.planned_start {
            return Err(TrainError::WindowBackwards {
                start: crate::time::rfc3339(self.planned_start),
                end: crate::time::rfc3339(self.planned_end),
            });
        }
        Ok(())
    }

    /// The justification, when one was given with any text in it.
    pub fn justification(&self) -> Option<&str> {
        self.exception_justification.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_ids_follow_the_change_number_pattern() {
        for good in ["CHG7687021", "CH1", "ABCDEFGHIJ123456789012"] {
            assert!(is_train_id(good), "{good}");
        }
        for bad in
            ["", "C1", "CHG", "chg7687021", "CHG-1", "ABCDEFGHIJK1", "CHG1234567890123", "CHG12a", "1CHG", "CHÉ12"]
        {
            assert!(!is_train_id(bad), "{bad}");
        }
    }
}

/// Where a train is in its life (docs/api.md, "States and transitions").
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainState {
    /// Waiting for a conductor.
    Pending,
    Approved,
    Rejected,
    Started,
    Completed,
    Aborted,
}

impl TrainState {
    pub const ALL: [TrainState; 6] = [
        TrainState::Pending,
        TrainState::Approved,
        TrainState::Rejected,
        TrainState::Started,
        TrainState::Completed,
        TrainState::Aborted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrainState::Pending => "pending",
            TrainState::Approved => "approved",
            TrainState::Rejected => "rejected",
            TrainState::Started => "started",
            TrainState::Completed => "completed",
            TrainState::Aborted => "aborted",
        }
    }

    pub fn parse(text: &str) -> Option<TrainState> {
        TrainState::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// The state a fresh decision puts a train in.
    pub fn after_decision(outcome: crate::Outcome) -> TrainState {
        match outcome {
            crate::Outcome::Approved => TrainState::Approved,
            crate::Outcome::Rejected => TrainState::Rejected,
            crate::Outcome::Manual => TrainState::Pending,
        }
    }
}

impl std::fmt::Display for TrainState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
