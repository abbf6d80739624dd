//! Findings, outcomes and the decision record (docs/policies.md).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a policy, an exception or a whole decision says.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Approved,
    Manual,
    Rejected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Manual => "manual",
            Outcome::Rejected => "rejected",
        }
    }

    /// Reads `approved`, `manual` or `rejected` in any case.
    pub fn parse(text: &str) -> Option<Outcome> {
        match text.to_ascii_lowercase().as_str() {
            "approved" => Some(Outcome::Approved),
            "manual" => Some(Outcome::Manual),
            "rejected" => Some(Outcome::Rejected),
            _ => None,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed policy.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub policy: String,
    pub priority: u32,
    /// `manual` or `rejected`; never `approved`.
    pub outcome: Outcome,
    pub message: String,
    /// The exception whose result this finding is, if any.
    pub exception_id: Option<String>,
    /// The policy failed to evaluate (an error, a time-out, a malformed result)
    /// and this finding fails closed in its place. Absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub policy_error: bool,
}

/// The decision record, exactly as stored and served.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: String,
    pub train_id: String,
    pub outcome: Outcome,
    pub summary: String,
    pub findings: Vec<Finding>,
    pub exceptions_applied: Vec<String>,
    pub evaluated_at: DateTime<Utc>,
    pub policy_revision: String,
    pub actor: String,
    /// The earliest instant in `[evaluated_at, planned_end)` at which a decision
    /// would have no finding from a time-driven policy (`forecast.rs`). Null on
    /// an approved decision, when only policies that are not time-driven fail,
    /// and when no such instant was found; absent in decisions stored before it existed.
    #[serde(default)]
    pub retry_at: Option<DateTime<Utc>>,
    /// The earliest window of the planned length, starting within 14 days of
    /// `evaluated_at`, whose decision at its start would have no finding from a
    /// time-driven policy. Null as `retry_at` is.
    #[serde(default)]
    pub suggested_window: Option<Window>,
}

/// A stretch of time `[start, end)`, such as a suggested window.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// `rejected` if any finding is, else `manual` if there is any, else `approved`.
pub fn overall_outcome(findings: &[Finding]) -> Outcome {
    findings.iter().map(|f| f.outcome).max().unwrap_or(Outcome::Approved)
}

/// `<outcome> => <path>: <message>; <path>: <message>`, or `approved => all policies passed`.
pub fn summary(outcome: Outcome, findings: &[Finding]) -> String {
    if findings.is_empty() {
        return format!("{outcome} => all policies passed");
    }
    let outcome = outcome.as_str();
    let length: usize = findings.iter().map(|f| f.policy.len() + f.message.len() + 4).sum();
    let mut text = String::with_capacity(outcome.len() + 4 + length);
    text.push_str(outcome);
    text.push_str(" => ");
    for (i, f) in findings.iter().enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        text.push_str(&f.policy);
        text.push_str(": ");
        text.push_str(&f.message);
    }
    text
}

/// Makes text safe inside a summary: `; ` separates findings, so it is written `, `;
/// line breaks become spaces so a summary stays one line.
pub fn sanitize_message(text: &str) -> String {
    // Most messages have nothing to rewrite.
    if !text.contains(['\n', '\r', ';']) {
        return text.to_string();
    }
    let one_line: String = text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    let mut out = one_line.replace("; ", ", ");
    while out.contains("; ") {
        out = out.replace("; ", ", ");
    }
    if out.ends_with(';') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(policy: &str, outcome: Outcome, message: &str) -> Finding {
        Finding {
            policy: policy.into(),
            priority: 0,
            outcome,
            message: message.into(),
            exception_id: None,
            policy_error: false,
        }
    }

    #[test]
    fn rejected_beats_manual_beats_approved() {
        assert_eq!(overall_outcome(&[]), Outcome::Approved);
        assert_eq!(overall_outcome(&[finding("a", Outcome::Manual, "m")]), Outcome::Manual);
        let both = [finding("a", Outcome::Manual, "m"), finding("b", Outcome::Rejected, "r")];
        assert_eq!(overall_outcome(&both), Outcome::Rejected);
    }

    #[test]
    fn the_summary_reads_like_the_documented_example() {
        let findings = [
            finding(
                "scheduling.change_freeze",
                Outcome::Manual,
                "there is a scheduled change freeze (year-end) and no exception justification supplied",
            ),
            finding("global.sla", Outcome::Manual, "no SLA defined"),
        ];
        assert_eq!(
            summary(Outcome::Manual, &findings),
            "manual => scheduling.change_freeze: there is a scheduled change freeze (year-end) and no exception justification supplied; global.sla: no SLA defined"
        );
        assert_eq!(summary(Outcome::Approved, &[]), "approved => all policies passed");
    }

    #[test]
    fn decisions_stored_before_the_forecast_still_read() {
        let old = r#"{"decision_id": "dec_1", "train_id": "CHG1", "outcome": "manual", "summary": "manual => global.sla: no SLA defined",
            "findings": [], "exceptions_applied": [], "evaluated_at": "2026-11-23T15:00:00Z",
            "policy_revision": "sha256:0", "actor": "cli"}"#;
        let d: Decision = serde_json::from_str(old).unwrap();
        assert_eq!((d.retry_at, d.suggested_window), (None, None));
        let back = serde_json::to_value(&d).unwrap();
        assert_eq!(back["retry_at"], serde_json::Value::Null, "written as null, not left out");
        assert_eq!(back["suggested_window"], serde_json::Value::Null);
    }

    #[test]
    fn messages_never_carry_the_finding_separator() {
        assert_eq!(sanitize_message("a; b;  c\nd;"), "a, b,  c d");
        assert_eq!(sanitize_message("a; ; b"), "a, , b");
    }
}
