//! Wire shapes the OpenAPI document names that no handler defines as a type:
//! the records the store returns, the health answers, the Slack payloads and
//! the error body. They exist for the document only, and
//! `tests/openapi.rs` holds them to the real answers. A leaf: it uses only
//! the core types, so any module may name it.
#![allow(dead_code)] // never built: each type only describes JSON for the OpenAPI document

use chrono::{DateTime, Utc};
use signalbox_core::{Decision, Train, TrainState};

/// Every error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(utoipa::ToSchema)]
pub struct Error {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
pub struct ErrorDetail {
    /// bad_request, unauthorized, forbidden, not_found, method_not_allowed,
    /// conflict, too_large, invalid, store_unavailable, unavailable or internal.
    code: String,
    /// What went wrong, naming the field or word (never internals, for a 5xx).
    message: String,
}

/// A train as listed: `GET /v1/trains`.
#[derive(utoipa::ToSchema)]
pub struct TrainRecord {
    train: Train,
    state: TrainState,
    /// The latest decision.
    decision: Decision,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// One entry of the append-only audit log.
#[derive(utoipa::ToSchema)]
pub struct AuditRecord {
    /// Sequence number: entries are ordered by it.
    seq: i64,
    at: DateTime<Utc>,
    /// Who: `pipeline:deploy-bot`, a chat user, `signalbox`.
    actor: String,
    /// e.g. `submit`, `submit.decision`, `approve`, `stop`, `reload`.
    action: String,
    train_id: Option<String>,
    /// What the action recorded (a decision, a reason, a stop...), as JSON.
    #[schema(value_type = Object, additional_properties = true)]
    detail: serde_json::Value,
}

/// What `POST /v1/trains/{id}/{action}` does.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TrainAction {
    Approve,
    Reject,
    Hold,
    Release,
    Start,
    Complete,
    Abort,
}

/// `GET /healthz`.
#[derive(utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    status: String,
}

/// `GET /readyz` when ready.
#[derive(utoipa::ToSchema)]
pub struct Ready {
    /// `ready`.
    status: String,
    policy_revision: String,
    /// How many policies are loaded.
    policies: u64,
}

/// A Slack Events API request (the fields Signalbox reads; Slack sends more).
#[derive(utoipa::ToSchema)]
pub struct SlackEvent {
    /// `url_verification` or `event_callback`.
    #[schema(rename = "type")]
    kind: String,
    /// url_verification only.
    challenge: Option<String>,
    /// event_callback only: the id Slack's retries share.
    event_id: Option<String>,
    /// event_callback only: a `message` or `app_mention` event (`type`, `user`, `text`, `channel`, `ts`, ...).
    #[schema(value_type = Option<Object>, additional_properties = true)]
    event: Option<serde_json::Value>,
}

/// The answer to a Slack event: the challenge for url_verification, else empty.
#[derive(utoipa::ToSchema)]
pub struct SlackAck {
    challenge: Option<String>,
}

/// A Slack slash command, form-encoded (the fields Signalbox reads; Slack sends more).
#[derive(utoipa::ToSchema)]
pub struct SlashCommand {
    user_id: String,
    text: String,
    response_url: Option<String>,
    command: Option<String>,
    channel_id: Option<String>,
}

/// The answer to a slash command.
#[derive(utoipa::ToSchema)]
pub struct SlashReply {
    /// `in_channel` for a finished command, `ephemeral` for an acknowledgement.
    response_type: String,
    text: String,
}
