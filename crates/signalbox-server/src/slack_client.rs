//! The Slack client: the app's secrets (from the environment, never the
//! file, never logged) and posting with `chat.postMessage` and to
//! `response_url`. The transports (`slack.rs`) and the notices
//! (`service::notify`) use it; it imports neither.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use signalbox_chat::slack_escape;

use crate::metrics::count_slack_post as count_post;

/// The environment variable holding the Slack app's signing secret.
pub const SIGNING_SECRET_ENV: &str = "SIGNALBOX_SLACK_SIGNING_SECRET";
/// The environment variable holding the bot token (`xoxb-...`) replies are posted with.
pub const BOT_TOKEN_ENV: &str = "SIGNALBOX_SLACK_BOT_TOKEN";

/// How long a slash command may run before it is acknowledged and answered later;
/// Slack gives up on an answer after 3 s.
pub const COMMAND_DEADLINE: Duration = Duration::from_millis(2500);
/// A post to Slack that takes longer than this has failed.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// A secret from the environment; its `Debug` never shows it.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The Slack settings and the transport's memory: which events were seen and
/// which messages answered. One per server, shared by every request.
#[derive(Debug)]
pub struct Slack {
    signing_secret: Option<Secret>,
    bot_token: Option<Secret>,
    command_deadline: Duration,
    agent: ureq::Agent,
}

impl Slack {
    /// Settings from the two secrets; empty ones count as unset.
    pub fn new(signing_secret: Option<String>, bot_token: Option<String>) -> Slack {
        let secret = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).map(Secret);
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(POST_TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("signalbox/", env!("CARGO_PKG_VERSION")))
            .build();
        Slack {
            signing_secret: secret(signing_secret),
            bot_token: secret(bot_token),
            command_deadline: COMMAND_DEADLINE,
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Settings from [`SIGNING_SECRET_ENV`] and [`BOT_TOKEN_ENV`].
    pub fn from_env() -> Slack {
        Slack::new(std::env::var(SIGNING_SECRET_ENV).ok(), std::env::var(BOT_TOKEN_ENV).ok())
    }

    /// How long a slash command may run before it is answered through `response_url`
    /// (zero: always answered through it).
    pub fn with_command_deadline(mut self, deadline: Duration) -> Slack {
        self.command_deadline = deadline;
        self
    }

    /// Whether requests from Slack can be checked (a signing secret is set).
    pub fn receives(&self) -> bool {
        self.signing_secret.is_some()
    }

    /// Whether messages can be posted (a bot token is set).
    pub fn posts(&self) -> bool {
        self.bot_token.is_some()
    }

    /// Posts `text` to `channel`, in the thread `thread_ts` when given, escaped
    /// for Slack. A failure is logged and counted, never returned: a reply or a
    /// notice that does not arrive must not fail what caused it.
    pub async fn post_message(
        &self,
        api_base: &str,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
        purpose: &'static str,
    ) {
        let Some(token) = self.bot_token.clone() else {
            tracing::warn!(purpose, channel, "cannot post to Slack: {BOT_TOKEN_ENV} is not set");
            count_post(purpose, false);
            return;
        };
        let url = format!("{}/chat.postMessage", api_base.trim_end_matches('/'));
        let body = PostMessage {
            channel: channel.to_string(),
            text: slack_escape(text),
            thread_ts: thread_ts.map(str::to_string),
            unfurl_links: false,
            unfurl_media: false,
        };
        let agent = self.agent.clone();
        let result = tokio::task::spawn_blocking(move || web_api_call(&agent, &url, &token, &body)).await;
        report(purpose, channel, result);
    }

    /// Answers a slash command late, through the `response_url` Slack gave with it.
    pub async fn post_response(&self, response_url: String, text: &str) {
        let body = json!({ "response_type": "in_channel", "text": slack_escape(text) });
        let agent = self.agent.clone();
        let result = tokio::task::spawn_blocking(move || response_url_call(&agent, &response_url, &body)).await;
        report("response_url", "-", result);
    }
}

/// The body of `chat.postMessage`.
#[derive(Debug, Serialize)]
struct PostMessage {
    channel: String,
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_ts: Option<String>,
    unfurl_links: bool,
    unfurl_media: bool,
}

/// Why a post to Slack did not arrive. Never carries the token.
#[derive(Debug, thiserror::Error)]
enum PostError {
    #[error("cannot reach Slack: {0}")]
    Transport(#[from] ureq::Error),
    #[error("Slack answered HTTP {0}")]
    Status(u16),
    #[error("Slack refused the message: `{0}`")]
    Refused(String),
}

/// One Web API call: Slack answers 200 with `{"ok": false, "error": "..."}` when it refuses.
fn web_api_call(agent: &ureq::Agent, url: &str, token: &Secret, body: &PostMessage) -> Result<(), PostError> {
    let mut response = agent.post(url).header("Authorization", &format!("Bearer {}", token.0)).send_json(body)?;
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return Err(PostError::Status(status));
    }
    let answer: Value = response.body_mut().read_json()?;
    match answer.get("ok").and_then(Value::as_bool) {
        Some(true) => Ok(()),
        _ => Err(PostError::Refused(answer.get("error").and_then(Value::as_str).unwrap_or("no reason given").into())),
    }
}

fn response_url_call(agent: &ureq::Agent, url: &str, body: &Value) -> Result<(), PostError> {
    let response = agent.post(url).send_json(body)?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(PostError::Status(response.status().as_u16()))
    }
}

fn report(purpose: &'static str, channel: &str, result: Result<Result<(), PostError>, tokio::task::JoinError>) {
    match result {
        Ok(Ok(())) => count_post(purpose, true),
        Ok(Err(error)) => {
            tracing::warn!(purpose, channel, %error, "posting to Slack failed");
            count_post(purpose, false);
        }
        Err(error) => {
            tracing::error!(purpose, channel, %error, "the task posting to Slack failed");
            count_post(purpose, false);
        }
    }
}

impl Slack {
    /// The signing secret, to check a request's signature with.
    pub(crate) fn signing_secret(&self) -> Option<&str> {
        self.signing_secret.as_ref().map(|s| s.0.as_str())
    }

    /// How long a slash command may run before it is answered through `response_url`
    /// (zero: always answered through it).
    pub fn command_deadline(&self) -> Duration {
        self.command_deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let slack = Slack::new(Some("s3cr3t-signing".into()), Some("xoxb-s3cr3t".into()));
        let shown = format!("{slack:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(slack.receives() && slack.posts());
        let unset = Slack::new(Some("  ".into()), None);
        assert!(!unset.receives() && !unset.posts());
    }
}
