//! Notices to the conductors' Slack channels (`[chat] channels`): trains a
//! decision has left waiting for a conductor, and trains stopped or started.
//!
//! The service announces a change only after it has committed, and the posts
//! happen in a spawned task: a notice never delays or fails the request that
//! caused it. Nothing is sent when Slack has no bot token, or to an
//! environment without a channel.

use std::collections::{BTreeMap, BTreeSet};

use signalbox_chat::{render_pending_notice, render_start_trains, render_stop, DescribedTrain};
use signalbox_core::{Config, Stop};
use signalbox_store::TrainRecord;

use crate::state::AppState;

/// Something the conductors' channels should hear about.
#[derive(Debug, Clone)]
pub enum Notice {
    /// Trains a decision (submit, update, re-evaluation, hold, release, start
    /// trains) has just left pending: they wait for a conductor.
    Pending(Vec<TrainRecord>),
    /// A stop was recorded.
    Stopped(Stop),
    /// `start trains <scope>`: stops lifted, pending trains re-evaluated, and what became of them.
    Started { scope: String, actor: String, approved: usize, rejected: usize, pending: usize },
}

/// One message for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub channel: String,
    pub text: String,
}

/// Posts the notices, in order, from a task of its own. Returns at once.
pub fn announce(app: &AppState, notices: Vec<Notice>) {
    let Some(slack) = app.slack().filter(|s| s.posts()) else {
        return;
    };
    let runtime = app.runtime();
    let config = runtime.evaluator.config();
    let messages = messages(config, &notices);
    if messages.is_empty() {
        return;
    }
    let base = config.chat.slack_api_base.clone();
    tokio::spawn(async move {
        for m in messages {
            let text = signalbox_chat::render::visible(&m.text);
            slack.post_message(&base, &m.channel, None, &text, "notice").await;
        }
    });
}

/// What to post where: pending trains to the channel of their environment (one
/// message per channel), stops and starts to the channel of their environment,
/// or to every channel when the scope is `all` or a region.
pub fn messages(config: &Config, notices: &[Notice]) -> Vec<Message> {
    let mut out = Vec::new();
    for notice in notices {
        match notice {
            Notice::Pending(records) => {
                let mut by_channel: BTreeMap<&str, Vec<DescribedTrain>> = BTreeMap::new();
                for r in records {
                    if let Some(channel) = config.chat.channels.get(&r.train.environment) {
                        by_channel.entry(channel).or_default().push(chat_view(r));
                    }
                }
                out.extend(
                    by_channel.into_iter().map(|(channel, views)| Message {
                        channel: channel.into(),
                        text: render_pending_notice(&views),
                    }),
                );
            }
            Notice::Stopped(stop) => {
                let text = render_stop(stop);
                out.extend(channels_for(config, &stop.scope).map(|channel| Message { channel, text: text.clone() }));
            }
            Notice::Started { scope, actor, approved, rejected, pending } => {
                let text = format!("{}\n_(by {actor})_", render_start_trains(scope, *approved, *rejected, *pending));
                out.extend(channels_for(config, scope).map(|channel| Message { channel, text: text.clone() }));
            }
        }
    }
    out
}

/// The channel of an environment scope; every configured channel for `all` or a region.
fn channels_for<'a>(config: &'a Config, scope: &str) -> impl Iterator<Item = String> + 'a {
    let channels = &config.chat.channels;
    let chosen: BTreeSet<&String> = if config.environments.iter().any(|e| e == scope) {
        channels.get(scope).into_iter().collect()
    } else {
        channels.values().collect()
    };
    chosen.into_iter().cloned()
}

fn chat_view(record: &TrainRecord) -> DescribedTrain {
    DescribedTrain {
        train: record.train.clone(),
        state: record.state,
        decision: record.decision.clone(),
        history: Vec::new(),
        hold: None,
        // Notices do not show the forecast.
        timezones: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let text = r##"
environments = ["stage", "production"]
[chat]
channels = { production = "#cfs-prod-trains", stage = "#cfs-stage-trains" }
[regions.us-south]
timezone = "America/Chicago"
"##;
        Config::from_toml(text, "test.toml").unwrap()
    }

    fn stop(scope: &str) -> Stop {
        Stop {
            id: "stop_1".into(),
            scope: scope.into(),
            message: "CIE 1".into(),
            created_by: "incident:cie-bot".into(),
            created_at: "2026-11-23T03:00:00Z".parse().unwrap(),
        }
    }

    fn channels(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(|m| m.channel.as_str()).collect()
    }

    #[test]
    fn stops_go_to_their_environment_or_everywhere() {
        let config = config();
        assert_eq!(channels(&messages(&config, &[Notice::Stopped(stop("production"))])), ["#cfs-prod-trains"]);
        assert_eq!(
            channels(&messages(&config, &[Notice::Stopped(stop("all"))])),
            ["#cfs-prod-trains", "#cfs-stage-trains"]
        );
        assert_eq!(
            channels(&messages(&config, &[Notice::Stopped(stop("us-south"))])),
            ["#cfs-prod-trains", "#cfs-stage-trains"]
        );
        let started =
            Notice::Started { scope: "stage".into(), actor: "chat:U1".into(), approved: 0, rejected: 0, pending: 0 };
        let sent = messages(&config, &[started]);
        assert_eq!(channels(&sent), ["#cfs-stage-trains"]);
        assert!(sent[0].text.contains("Lifted the stops on *stage*") && sent[0].text.contains("chat:U1"));
    }

    #[test]
    fn an_environment_without_a_channel_hears_nothing() {
        let mut config = config();
        config.chat.channels.remove("stage");
        assert!(messages(&config, &[Notice::Stopped(stop("stage"))]).is_empty());
        assert!(messages(&config, &[Notice::Pending(Vec::new())]).is_empty());
    }
}
