//! The Slack transports (docs/chat.md): the Events API (`POST /slack/events`)
//! and slash commands (`POST /slack/commands`). Replies are posted with the
//! Slack client (`slack_client.rs`).
//!
//! Slack authenticates itself with a signature over each request's raw body
//! (no bearer token): `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256, keyed
//! by the app's signing secret, of `v0:<X-Slack-Request-Timestamp>:<body>`.
//! Requests whose timestamp is more than five minutes from our clock are
//! refused, so a captured request cannot be replayed later.
//!
//! Slack wants an answer within three seconds and retries otherwise, so events
//! are acknowledged at once and their commands run in a spawned task that posts
//! the reply in the thread of the command. Retries are dropped by event id, and
//! a mention, which Slack delivers both as `message` and as `app_mention`, is
//! answered once (by channel and message ts).
//!
//! The signing secret and the bot token come from the environment
//! ([`SIGNING_SECRET_ENV`], [`BOT_TOKEN_ENV`]), never from the file, and are
//! never logged.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use signalbox_chat::{parse, slack_escape};

use crate::api::error::ApiError;
pub use crate::slack_client::{Slack, BOT_TOKEN_ENV, SIGNING_SECRET_ENV};
use crate::state::AppState;

/// Requests signed further than this from our clock are refused (Slack's advice).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 5 * 60;

/// The Slack routes, authenticated by Slack's request signature instead of a bearer token.
pub fn router() -> Router<AppState> {
    Router::new().route("/slack/events", post(events)).route("/slack/commands", post(commands))
}

/// Why a request is not from Slack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the `{0}` header is missing; requests to /slack/* must be signed by Slack")]
    Missing(&'static str),
    #[error("the `X-Slack-Request-Timestamp` header is not a Unix time in seconds")]
    BadTimestamp,
    #[error("the request was signed {0} seconds away from the server's clock; at most {MAX_CLOCK_SKEW_SECONDS} are accepted")]
    Stale(i64),
    #[error("the `X-Slack-Signature` header is not `v0=` and a hex digest")]
    Malformed,
    #[error("the Slack signature does not match the request")]
    Mismatch,
}

/// Checks a Slack request signature: `signature` must be `v0=` and the hex
/// HMAC-SHA256 of `v0:<timestamp>:<body>` keyed by `secret`, and `timestamp`
/// within [`MAX_CLOCK_SKEW_SECONDS`] of `now`. The digests are compared in
/// constant time (`Mac::verify_slice`).
pub fn verify_signature(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let sent: i64 = timestamp.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    let skew = now.timestamp().saturating_sub(sent).saturating_abs();
    if skew > MAX_CLOCK_SKEW_SECONDS {
        return Err(SignatureError::Stale(skew));
    }
    let digest = signature.trim().strip_prefix("v0=").ok_or(SignatureError::Malformed)?;
    let digest = hex::decode(digest).map_err(|_| SignatureError::Malformed)?;
    signature_mac(secret, timestamp.trim(), body).verify_slice(&digest).map_err(|_| SignatureError::Mismatch)
}

/// `X-Slack-Signature` for a body signed at `timestamp`: what Slack sends (and tests sign with).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!("v0={}", hex::encode(signature_mac(secret, timestamp, body).finalize().into_bytes()))
}

fn signature_mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; the error case cannot happen but is not unwrapped.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The Slack settings of a request that proved it comes from Slack: 503 when
/// Slack is not configured, 401 when the signature does not hold.
fn verified(app: &AppState, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Result<Arc<Slack>, ApiError> {
    verified_signature(app, headers, body, now).map(|(slack, _)| slack)
}

/// As [`verified`], with the request's signature (what a replay repeats).
fn verified_signature(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(Arc<Slack>, String), ApiError> {
    let slack = app.slack().filter(|s| s.receives()).ok_or_else(|| {
        ApiError::Unavailable(format!("Slack is not configured: set {SIGNING_SECRET_ENV} (and {BOT_TOKEN_ENV})"))
    })?;
    let secret = slack.signing_secret().unwrap_or_default();
    // Header lookup ignores case; the error names the header as Slack spells it.
    let header =
        |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok()).ok_or(SignatureError::Missing(name));
    let signature = header("X-Slack-Request-Timestamp")
        .and_then(|timestamp| {
            let signature = header("X-Slack-Signature")?;
            verify_signature(secret, timestamp, body, signature, now).map(|()| signature.trim().to_string())
        })
        .map_err(|e| {
            tracing::warn!(error = %e, "refused a request to /slack/*");
            ApiError::Unauthorized(e.to_string())
        })?;
    Ok((slack, signature))
}

/// How long a Slack request is remembered as handled: past the signature
/// window (a replay is refused as stale after it) and Slack's retries.
const REMEMBER_FOR: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// Whether each key is seen for the first time, remembered in the store so
/// that every replica sees the same answer. An error is answered 503: Slack
/// retries later rather than a command running twice.
async fn first_sightings(app: &AppState, keys: Vec<String>, at: DateTime<Utc>) -> Result<Vec<bool>, ApiError> {
    app.store
        .write(move |tx| keys.iter().map(|key| tx.first_sighting(key, at, at + REMEMBER_FOR)).collect())
        .await
        .map_err(|e: signalbox_store::StoreError| {
            tracing::warn!(error = %e, "cannot remember a Slack request; asking Slack to retry");
            ApiError::StoreUnavailable("cannot record this request just now; retry".into())
        })
}

/// What the Events API sends (the parts we read).
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    challenge: Option<String>,
    event_id: Option<String>,
    event: Option<Value>,
    #[serde(default)]
    authorizations: Vec<Authorization>,
}

#[derive(Debug, Deserialize)]
struct Authorization {
    user_id: Option<String>,
}

/// A `message` or `app_mention` event (the parts we read).
#[derive(Debug, Default, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    subtype: Option<String>,
    user: Option<String>,
    bot_id: Option<String>,
    text: Option<String>,
    channel: Option<String>,
    ts: Option<String>,
    thread_ts: Option<String>,
}

/// A command to run from an event, and where its reply goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Incoming {
    user: String,
    text: String,
    channel: String,
    /// The thread the reply goes in: the command's thread, or the command itself.
    thread_ts: String,
    /// `channel:ts`: the message, whichever event type delivered it.
    message: String,
}

/// The command an event carries, if it carries one for us. `bot_user` is our
/// own user id, from the event's authorizations.
fn incoming(event: &Event, bot_user: Option<&str>) -> Option<Incoming> {
    let mention = match event.kind.as_str() {
        "app_mention" => true,
        "message" => false,
        _ => return None,
    };
    // Our own replies, other bots, edits, deletions, joins: none is a command.
    let plain = matches!(event.subtype.as_deref(), None | Some("thread_broadcast"));
    if event.bot_id.is_some() || !plain {
        return None;
    }
    let user = event.user.as_deref().filter(|u| !u.is_empty() && Some(*u) != bot_user)?;
    let (text, channel, ts) = (event.text.as_deref()?, event.channel.as_deref()?, event.ts.as_deref()?);
    if !mention && (addressed_to_someone_else(text, bot_user) || is_ordinary_chat(text)) {
        return None;
    }
    Some(Incoming {
        user: user.to_string(),
        text: text.to_string(),
        channel: channel.to_string(),
        thread_ts: event.thread_ts.as_deref().unwrap_or(ts).to_string(),
        message: format!("{channel}:{ts}"),
    })
}

/// Channel chatter that does not start with a command verb. A near-miss such as
/// `create exeption` is a command with a typo, and gets an answer.
fn is_ordinary_chat(text: &str) -> bool {
    // The first words decide; judged whole, a long paste would be "too long", not chatter.
    let start: String = text.chars().take(200).collect();
    parse(&start).err().is_some_and(|e| e.is_not_a_command())
}

/// `<@U123> describe CHG1` said to a person, not to us.
fn addressed_to_someone_else(text: &str, bot_user: Option<&str>) -> bool {
    let Some(bot_user) = bot_user else {
        return false;
    };
    let Some(rest) = text.trim_start().strip_prefix("<@") else {
        return false;
    };
    let id = rest.split(['>', '|']).next().unwrap_or_default();
    id != bot_user
}

#[utoipa::path(post, path = "/slack/events", tag = "slack",
    request_body(content = crate::schema::SlackEvent, description = "A Slack Events API request: `url_verification`, or an `event_callback` carrying a `message` or `app_mention` event. Authenticated by Slack's signature (`X-Slack-Signature`, `X-Slack-Request-Timestamp`), not by a bearer token."),
    responses((status = 200, body = crate::schema::SlackAck, description = "`{\"challenge\": ...}` for url_verification; otherwise accepted at once (an empty body), and the reply is posted with chat.postMessage in the command's thread"),
        (status = 401, description = "Missing or wrong signature, or a timestamp more than 5 minutes from the server's clock"),
        (status = 503, description = "Slack is not configured (no SIGNALBOX_SLACK_SIGNING_SECRET)")))]
pub async fn events(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let now = app.request("slack").at;
    let slack = verified(&app, &headers, &body, now)?;
    let envelope: Envelope = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not a Slack Events API request: {e}")))?;
    match envelope.kind.as_str() {
        "url_verification" => Ok(Json(json!({ "challenge": envelope.challenge.unwrap_or_default() })).into_response()),
        "event_callback" => {
            on_event(&app, slack, envelope, now).await?;
            Ok(StatusCode::OK.into_response())
        }
        // app_rate_limited and types we do not use: acknowledged, nothing to do.
        _ => Ok(StatusCode::OK.into_response()),
    }
}

/// Runs the command an event carries, once, in a task of its own: a retried
/// event (same id) and a message delivered twice (as `message` and as
/// `app_mention`) are recognised in the store, across replicas.
async fn on_event(app: &AppState, slack: Arc<Slack>, envelope: Envelope, at: DateTime<Utc>) -> Result<(), ApiError> {
    let bot_user = envelope.authorizations.iter().find_map(|a| a.user_id.as_deref());
    let event = envelope.event.as_ref().and_then(|e| serde_json::from_value::<Event>(e.clone()).ok());
    let incoming = event.and_then(|event| incoming(&event, bot_user));
    let mut keys: Vec<String> = envelope.event_id.iter().map(|id| format!("slack.event:{id}")).collect();
    if let Some(incoming) = &incoming {
        keys.push(format!("slack.message:{}", incoming.message));
    }
    if keys.is_empty() {
        return Ok(());
    }
    let first = first_sightings(app, keys, at).await?;
    if !first.iter().all(|f| *f) {
        tracing::debug!(
            event_id = envelope.event_id.as_deref().unwrap_or("-"),
            "dropped a Slack event already handled"
        );
        return Ok(());
    }
    let Some(incoming) = incoming else {
        return Ok(());
    };
    if !slack.posts() {
        tracing::warn!("a Slack command arrived but {BOT_TOKEN_ENV} is not set to answer it; ignored");
        return Ok(());
    }
    let app = app.clone();
    tokio::spawn(async move {
        let reply = crate::chat::execute(&app, at, &incoming.user, &incoming.text).await;
        let base = app.runtime().evaluator.config().chat.slack_api_base.clone();
        slack.post_message(&base, &incoming.channel, Some(&incoming.thread_ts), &reply.text, "reply").await;
    });
    Ok(())
}

/// A slash command as Slack posts it (the fields we read).
#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub response_url: Option<String>,
    #[serde(default)]
    pub ssl_check: Option<String>,
}

/// Reads a slash command's form body (`application/x-www-form-urlencoded`).
pub fn parse_slash_command(body: &[u8]) -> Result<SlashCommand, String> {
    serde_urlencoded::from_bytes(body).map_err(|e| format!("not a Slack slash command: {e}"))
}

#[utoipa::path(post, path = "/slack/commands", tag = "slack",
    request_body(content = crate::schema::SlashCommand, content_type = "application/x-www-form-urlencoded", description = "A Slack slash command (`user_id`, `text`, `response_url`, `command`, ...), e.g. `/signalbox oa`. Authenticated by Slack's signature, not by a bearer token."),
    responses((status = 200, body = crate::schema::SlashReply, description = "`{\"response_type\": \"in_channel\", \"text\": ...}` when the command finished within 2.5 s; otherwise an ephemeral acknowledgement, and the reply is posted to `response_url` when it is done"),
        (status = 401, description = "Missing or wrong signature, or a stale timestamp"),
        (status = 503, description = "Slack is not configured")))]
pub async fn commands(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let at = app.request("slack").at;
    let (slack, signature) = verified_signature(&app, &headers, &body, at)?;
    let command = parse_slash_command(&body).map_err(ApiError::BadRequest)?;
    if command.ssl_check.is_some() {
        return Ok(StatusCode::OK.into_response());
    }
    if command.user_id.trim().is_empty() {
        return Err(ApiError::BadRequest("a slash command needs `user_id`".into()));
    }
    // The same signed request again, within the signature window, is a replay.
    if first_sightings(&app, vec![format!("slack.command:{signature}")], at).await? != [true] {
        tracing::warn!("refused a replayed Slack slash command");
        return Ok(ephemeral("This exact command was already received; it is not run twice."));
    }
    let mut task = {
        let app = app.clone();
        tokio::spawn(async move { crate::chat::execute(&app, at, command.user_id.trim(), &command.text).await.text })
    };
    // A zero deadline answers at once, always through `response_url`.
    let deadline = slack.command_deadline();
    let finished = if deadline.is_zero() { None } else { tokio::time::timeout(deadline, &mut task).await.ok() };
    match finished {
        Some(Ok(reply)) => {
            Ok(Json(json!({ "response_type": "in_channel", "text": slack_escape(&reply) })).into_response())
        }
        Some(Err(e)) => Err(ApiError::Internal(format!("the slash command task failed: {e}"))),
        None => {
            let Some(response_url) = command.response_url.filter(|u| !u.trim().is_empty()) else {
                return Ok(ephemeral("⏳ Still working on it, and Slack gave no response_url to answer through; `oa` or `describe` will show the result."));
            };
            tokio::spawn(async move {
                let reply = match task.await {
                    Ok(reply) => reply,
                    Err(e) => {
                        tracing::error!(error = %e, "the slash command task failed");
                        "❌ Signalbox could not do that just now; the details are in its log.".to_string()
                    }
                };
                slack.post_response(response_url, &reply).await;
            });
            Ok(ephemeral("⏳ Working on it; the reply will follow in this channel."))
        }
    }
}

fn ephemeral(text: &str) -> Response {
    Json(json!({ "response_type": "ephemeral", "text": text })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_531_420_618, 0).unwrap()
    }

    /// The worked example of Slack's "Verifying requests from Slack" guide.
    #[test]
    fn slacks_own_example_verifies() {
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(SECRET, "1531420618", body), expected);
        assert_eq!(verify_signature(SECRET, "1531420618", body, expected, now()), Ok(()));
    }

    #[test]
    fn a_wrong_secret_body_or_digest_is_a_mismatch() {
        let body = b"{\"type\":\"url_verification\"}";
        let good = sign(SECRET, "1531420618", body);
        assert_eq!(verify_signature("other", "1531420618", body, &good, now()), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(SECRET, "1531420618", b"{}", &good, now()), Err(SignatureError::Mismatch));
        let mut flipped = good.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(verify_signature(SECRET, "1531420618", body, &flipped, now()), Err(SignatureError::Mismatch));
        // A truncated digest is refused too: verify_slice compares whole digests.
        let short = &good[..good.len() - 2];
        assert_eq!(verify_signature(SECRET, "1531420618", body, short, now()), Err(SignatureError::Mismatch));
        // Signed for another timestamp: the timestamp is part of what is signed.
        assert_eq!(verify_signature(SECRET, "1531420619", body, &good, now()), Err(SignatureError::Mismatch));
    }

    #[test]
    fn malformed_signatures_and_timestamps_are_refused() {
        let body = b"x";
        let good = sign(SECRET, "1531420618", body);
        assert_eq!(
            verify_signature(SECRET, "1531420618", body, good.trim_start_matches("v0="), now()),
            Err(SignatureError::Malformed)
        );
        assert_eq!(verify_signature(SECRET, "1531420618", body, "v0=zz", now()), Err(SignatureError::Malformed));
        assert_eq!(verify_signature(SECRET, "yesterday", body, &good, now()), Err(SignatureError::BadTimestamp));
    }

    #[test]
    fn timestamps_more_than_five_minutes_away_are_stale() {
        let body = b"x";
        for (offset, ok) in [(0, true), (-300, true), (300, true), (-301, false), (301, false), (-360, false)] {
            let ts = (now().timestamp() + offset).to_string();
            let result = verify_signature(SECRET, &ts, body, &sign(SECRET, &ts, body), now());
            assert_eq!(result.is_ok(), ok, "{offset}: {result:?}");
            if !ok {
                assert_eq!(result, Err(SignatureError::Stale(offset.abs())));
            }
        }
    }

    fn event(kind: &str, text: &str) -> Event {
        Event {
            kind: kind.into(),
            user: Some("U024BE7LH".into()),
            text: Some(text.into()),
            channel: Some("C1".into()),
            ts: Some("1700000000.000100".into()),
            ..Event::default()
        }
    }

    #[test]
    fn which_events_are_commands() {
        let bot = Some("UBOT");
        let got = incoming(&event("message", "describe CHG1"), bot).unwrap();
        assert_eq!(got.thread_ts, "1700000000.000100");
        assert_eq!(got.message, "C1:1700000000.000100");
        assert!(incoming(&event("message", "start the deploy after lunch"), bot).is_none(), "ordinary chat");
        assert!(incoming(&event("message", "create exeption"), bot).is_some(), "a typo gets an answer");
        let paste = format!("here is the log {}", "x".repeat(9000));
        assert!(incoming(&event("message", &paste), bot).is_none(), "a long paste is chatter too");
        let long = format!("reject CHG1 because {}", "x".repeat(9000));
        assert!(incoming(&event("message", &long), bot).is_some(), "a long command is answered (too long)");
        assert!(incoming(&event("message", "<@UBOT> oa"), bot).is_some());
        assert!(incoming(&event("message", "<@UALICE> describe CHG1"), bot).is_none(), "said to someone else");
        assert!(incoming(&event("app_mention", "<@UBOT> hello"), bot).is_some(), "a mention is always answered");
        assert!(incoming(&event("reaction_added", "oa"), bot).is_none());

        let mut threaded = event("message", "oa");
        threaded.thread_ts = Some("1699999999.000001".into());
        assert_eq!(incoming(&threaded, bot).unwrap().thread_ts, "1699999999.000001");

        let mut from_bot = event("message", "oa");
        from_bot.bot_id = Some("B1".into());
        assert!(incoming(&from_bot, bot).is_none());
        let mut bot_message = event("message", "oa");
        bot_message.subtype = Some("bot_message".into());
        assert!(incoming(&bot_message, bot).is_none());
        let mut ourselves = event("message", "oa");
        ourselves.user = Some("UBOT".into());
        assert!(incoming(&ourselves, bot).is_none());
        let mut edited = event("message", "oa");
        edited.subtype = Some("message_changed".into());
        assert!(incoming(&edited, bot).is_none());
    }
}
