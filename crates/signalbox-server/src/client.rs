//! `signalbox chat`: a terminal client that sends chat commands to a server
//! through `POST /v1/chat`, with line editing and history (rustyline).

use signalbox_chat::render::visible;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use serde_json::{json, Value};

pub struct ChatOptions {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// Bearer token (role `chat`, or `conductor`).
    pub token: String,
    /// Chat user id the commands are run as.
    pub user: String,
    /// One command to run instead of an interactive session.
    pub command: Option<String>,
}

/// A reply, and whether the command was done (`status` is `done`).
pub struct Reply {
    pub text: String,
    pub done: bool,
}

/// Sends one command and returns the reply.
pub fn send(options: &ChatOptions, text: &str) -> Result<Reply> {
    let url = format!("{}/v1/chat", options.server.trim_end_matches('/'));
    let response = ureq::post(&url)
        .header("Authorization", &format!("Bearer {}", options.token))
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(json!({ "user": options.user, "text": text }))
        .with_context(|| format!("cannot reach `{url}`"))?;
    let status = response.status();
    let body: Value =
        response.into_body().read_json().with_context(|| format!("`{url}` answered {status} with no JSON"))?;
    if !status.is_success() {
        let message = body.pointer("/error/message").and_then(Value::as_str).unwrap_or("no message");
        bail!("the server answered {status}: {}", visible(message));
    }
    // What the server says is shown on a terminal: never a raw control character.
    let text = visible(body.get("text").and_then(Value::as_str).unwrap_or_default());
    let done = body.get("status").and_then(Value::as_str) == Some("done");
    Ok(Reply { text, done })
}

/// Runs the interactive session, or the one command given; false when that
/// one command was refused or not understood (its reply is printed all the same).
pub fn run(options: &ChatOptions) -> Result<bool> {
    if let Some(command) = &options.command {
        let reply = send(options, command)?;
        writeln!(std::io::stdout(), "{}", reply.text)?;
        return Ok(reply.done);
    }
    let mut editor = DefaultEditor::new().context("cannot open the terminal for line editing")?;
    let history = history_file();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    writeln!(
        std::io::stdout(),
        "Connected to {} as {}. Type `help` for the commands, Ctrl-D to leave.",
        options.server,
        options.user
    )?;
    loop {
        match editor.readline("signalbox> ") {
            Ok(line) => {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                if matches!(line, "exit" | "quit") {
                    break;
                }
                let _ = editor.add_history_entry(line);
                match send(options, line) {
                    Ok(reply) => writeln!(std::io::stdout(), "{}\n", reply.text)?,
                    Err(e) => eprintln!("error: {e:#}\n"),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(path);
    }
    Ok(true)
}

/// `~/.local/share/signalbox/chat_history` (or `$XDG_DATA_HOME/signalbox/...`).
fn history_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("signalbox").join("chat_history"))
}
