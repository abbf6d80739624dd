//! `docs/slack-app-manifest.yaml`, the Slack app docs/chat.md has operators
//! create, matches the server: it points Slack at the routes `src/slack.rs`
//! serves, declares the slash command docs/chat.md uses, subscribes to the
//! events the server handles, and asks for no scope the server does not need.
//!
//! Read by text (std only, no YAML parser): the manifest is small and written
//! one key or list item a line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The routes Slack calls, as docs/chat.md lists them: the Events API request
/// URL and the slash command's URL (`slack::router`).
const ROUTES: [&str; 2] = ["/slack/events", "/slack/commands"];

/// The slash command docs/chat.md documents.
const SLASH_COMMAND: &str = "/signalbox";

/// The host docs/chat.md tells operators to replace.
const PLACEHOLDER: &str = "https://signalbox.example.com";

/// Every bot scope the app may ask for, and what needs it. Anything else is
/// more than Signalbox uses: leave it out (least privilege).
const ALLOWED_SCOPES: [(&str, &str); 6] = [
    ("chat:write", "chat.postMessage: command replies and the notices to the [chat] channels (slack_client.rs)"),
    ("app_mentions:read", "the app_mention event: a mention of the bot is always answered (slack.rs)"),
    ("channels:history", "the message.channels event: commands in public channels the bot is in"),
    ("groups:history", "the message.groups event: commands in private channels the bot is in"),
    ("im:history", "the message.im event: commands sent to the bot as direct messages"),
    ("commands", "the /signalbox slash command (POST /slack/commands)"),
];

/// The bot events the app may subscribe to, with the scope each needs. All
/// are `message` or `app_mention` events, the two types `slack.rs` reads.
const ALLOWED_EVENTS: [(&str, &str); 4] = [
    ("app_mention", "app_mentions:read"),
    ("message.channels", "channels:history"),
    ("message.groups", "groups:history"),
    ("message.im", "im:history"),
];

/// The Slack Web API methods `slack_client.rs` may call, with the scope each needs.
const WEB_API_METHODS: [(&str, &str); 1] = [("chat.postMessage", "chat:write")];

fn read(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn manifest() -> String {
    read("../../docs/slack-app-manifest.yaml")
}

/// A manifest line without its comment (a `#` at the start or after a space).
fn uncommented(line: &str) -> &str {
    let cut = line.char_indices().find(|&(i, c)| c == '#' && (i == 0 || line[..i].ends_with(char::is_whitespace)));
    line[..cut.map_or(line.len(), |(i, _)| i)].trim_end()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The items of the block list under `key:` (e.g. `bot:` or `bot_events:`),
/// which must occur exactly once; comments and blank lines are skipped.
fn list_under(text: &str, key: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(uncommented).filter(|l| !l.trim().is_empty()).collect();
    let heads: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].trim() == format!("{key}:")).collect();
    assert_eq!(heads.len(), 1, "`{key}:` should occur once in the manifest, as the head of a list");
    let head = heads[0];
    let mut items = Vec::new();
    for line in &lines[head + 1..] {
        if indent(line) < indent(lines[head]) || !line.trim_start().starts_with("- ") {
            break;
        }
        items.push(line.trim_start().trim_start_matches("- ").trim().to_string());
    }
    assert!(!items.is_empty(), "`{key}:` lists nothing");
    items
}

/// The values of every `key: value` line, comments removed.
fn values_of(text: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}:");
    text.lines()
        .map(uncommented)
        .filter_map(|l| l.trim_start().trim_start_matches("- ").strip_prefix(prefix.as_str()))
        .map(|v| v.trim().trim_matches('"').to_string())
        .collect()
}

#[test]
fn the_routes_slack_calls_are_the_routes_the_server_serves() {
    let slack_rs = read("src/slack.rs");
    for route in ROUTES {
        assert!(
            slack_rs.contains(&format!(".route(\"{route}\"")),
            "src/slack.rs no longer routes {route}: update ROUTES, docs/chat.md and docs/slack-app-manifest.yaml"
        );
    }
    assert_eq!(
        slack_rs.matches(".route(").count(),
        ROUTES.len(),
        "src/slack.rs serves a route this test does not know: does Slack call it (add it to ROUTES and the manifest)?"
    );
    let manifest = manifest();
    let events_url = values_of(&manifest, "request_url");
    assert_eq!(events_url, [format!("{PLACEHOLDER}/slack/events")], "the Events API request URL");
    let command_urls = values_of(&manifest, "url");
    assert_eq!(command_urls, [format!("{PLACEHOLDER}/slack/commands")], "the slash command's URL");
    for route in ROUTES {
        assert!(manifest.contains(&format!("{PLACEHOLDER}{route}")), "the manifest never points Slack at {route}");
    }
    // Interactivity would need a route of its own, and there is none.
    assert!(values_of(&manifest, "interactivity").is_empty(), "no route serves interactivity");
}

#[test]
fn the_slash_command_is_the_one_the_docs_use() {
    let manifest = manifest();
    assert_eq!(values_of(&manifest, "command"), [SLASH_COMMAND]);
    let chat_md = read("../../docs/chat.md");
    assert!(chat_md.contains(&format!("`{SLASH_COMMAND}`")), "docs/chat.md should name the slash command");
    assert!(chat_md.contains("docs/slack-app-manifest.yaml"), "docs/chat.md should point at the manifest");
    for route in ROUTES {
        assert!(chat_md.contains(route), "docs/chat.md should name {route}");
    }
}

#[test]
fn the_app_asks_for_the_scopes_it_needs_and_no_other() {
    let manifest = manifest();
    let scopes = list_under(&manifest, "bot");
    let allowed: BTreeSet<&str> = ALLOWED_SCOPES.iter().map(|(scope, _)| *scope).collect();
    for scope in &scopes {
        assert!(allowed.contains(scope.as_str()), "`{scope}` is not a scope Signalbox needs (ALLOWED_SCOPES)");
    }
    let asked: BTreeSet<&str> = scopes.iter().map(String::as_str).collect();
    assert_eq!(asked.len(), scopes.len(), "a scope is listed twice: {scopes:?}");
    for (scope, why) in ALLOWED_SCOPES {
        assert!(asked.contains(scope), "the manifest lacks `{scope}`, needed for {why}");
    }
    assert!(values_of(&manifest, "user").is_empty(), "Signalbox acts as its bot only: no user scopes");
}

#[test]
fn the_events_are_the_ones_the_server_handles_with_their_scopes() {
    let manifest = manifest();
    let scopes = list_under(&manifest, "bot");
    let events = list_under(&manifest, "bot_events");
    for event in &events {
        let (_, scope) = ALLOWED_EVENTS
            .iter()
            .find(|(name, _)| name == event)
            .unwrap_or_else(|| panic!("`{event}` is not an event Signalbox handles (ALLOWED_EVENTS)"));
        assert!(scopes.iter().any(|s| s == scope), "`{event}` needs the scope `{scope}`");
    }
    for (event, _) in ALLOWED_EVENTS {
        assert!(events.iter().any(|e| e == event), "the manifest does not subscribe to `{event}`");
    }
    let slack_rs = read("src/slack.rs");
    for kind in ["\"app_mention\"", "\"message\""] {
        assert!(slack_rs.contains(kind), "src/slack.rs no longer reads {kind} events");
    }
}

#[test]
fn every_web_api_method_called_is_covered_by_a_scope() {
    let client = read("src/slack_client.rs");
    let scopes = list_under(&manifest(), "bot");
    // Calls are built as `format!("{}/<method>", api_base)`.
    let called: Vec<&str> = client
        .match_indices("\"{}/")
        .map(|(i, m)| {
            let rest = &client[i + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert!(!called.is_empty(), "found no Web API call in src/slack_client.rs");
    for method in called {
        let (_, scope) = WEB_API_METHODS
            .iter()
            .find(|(name, _)| *name == method)
            .unwrap_or_else(|| panic!("src/slack_client.rs calls {method}: add it and its scope to WEB_API_METHODS"));
        assert!(scopes.iter().any(|s| s == scope), "{method} needs the scope `{scope}`");
    }
}

#[test]
fn the_app_is_a_plain_http_app() {
    let manifest = manifest();
    assert_eq!(values_of(&manifest, "major_version"), ["1"]);
    assert_eq!(values_of(&manifest, "minor_version"), ["1"]);
    for key in ["org_deploy_enabled", "socket_mode_enabled", "token_rotation_enabled"] {
        assert_eq!(values_of(&manifest, key), ["false"], "{key}");
    }
    // Direct messages are commands (message.im): the Messages tab must accept them.
    assert_eq!(values_of(&manifest, "messages_tab_enabled"), ["true"]);
    assert_eq!(values_of(&manifest, "messages_tab_read_only_enabled"), ["false"]);
    // Every URL is on the host docs/chat.md says to replace.
    for line in manifest.lines().map(uncommented) {
        if let Some(at) = line.find("https://") {
            assert!(line[at..].starts_with(PLACEHOLDER), "a URL not on the placeholder host: {line}");
        }
    }
}
