//! `signalbox`: the change-train approval service and its tools.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use signalbox_core::config::Role;

#[derive(Parser)]
#[command(name = "signalbox", version, about = "Change-train approval policy engine")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (built-in defaults when no --config is given).
    Serve {
        /// Configuration file (signalbox.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on, overriding `server.listen`.
        #[arg(long)]
        listen: Option<String>,
        /// Data directory, overriding `server.data_dir`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Print the decision for a train at an instant, as JSON (a what-if tool).
    Evaluate {
        /// Configuration file; the built-in defaults when omitted.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The evaluation instant, RFC 3339.
        #[arg(long)]
        at: String,
        /// State file: active stops, holds, recorded stage deployments, exceptions.
        #[arg(long)]
        state: Option<PathBuf>,
        /// The train, as the JSON a pipeline submits.
        train: PathBuf,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Talk to a server as a conductor would in chat (line editing, history).
    Chat {
        /// Server base URL.
        #[arg(long, env = "SIGNALBOX_URL", default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Bearer token: role `chat` (a bridge vouching for --user) or `conductor`.
        #[arg(long, env = "SIGNALBOX_TOKEN", hide_env_values = true)]
        token: String,
        /// Chat user id to act as (with a `chat` token).
        #[arg(long, env = "SIGNALBOX_CHAT_USER", default_value = "terminal")]
        user: String,
        /// Run this one command and exit, e.g. `-c oa`.
        #[arg(short, long)]
        command: Option<String>,
    },
    /// iCalendar files and feeds (`[[calendars]]`).
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The store.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Check the database in full (SQLite's integrity check) and count its rows;
    /// exits 1 when it finds a problem. Safe while the server runs.
    Check {
        /// Configuration file whose `server.data_dir` to check.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory, overriding the configuration's.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Copy a whole store into an empty one: `sqlite://<data_dir>` or
    /// `postgres://user@host:5432/database`, either way. Refuses a target that
    /// holds anything; checks every table's row count before committing.
    Copy {
        /// The store to copy, e.g. `sqlite://data`.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The empty store to fill, e.g. `postgres://signalbox@db:5432/signalbox`.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Run the Rego unit tests (`*_test.rego`, rules named `test_*`) like `opa test`.
    Test {
        /// Policies directory (default: ./policies, else the built-in set).
        dir: Option<PathBuf>,
        /// List every test.
        #[arg(short, long)]
        verbose: bool,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Print the freezes or holidays a calendar would import, in UTC and in local time;
    /// a file that cannot be imported is an error naming its line.
    Check {
        /// An .ics file or an http(s) URL.
        source: String,
        /// Where to start: a date (midnight UTC) like 2026-12-01 or an RFC 3339 instant.
        /// Default: now, so give it for output that does not change from day to day.
        #[arg(long)]
        from: Option<String>,
        /// How many days from --from to show (at most 400).
        #[arg(long, default_value_t = 400)]
        days: u32,
        /// What the calendar holds.
        #[arg(long, value_enum, default_value_t = CalendarKindArg::Freeze)]
        kind: CalendarKindArg,
        /// IANA time zone for the local times, e.g. America/Chicago.
        #[arg(long, default_value = "UTC")]
        timezone: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum CalendarKindArg {
    Freeze,
    Holidays,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token and print the configuration lines holding its SHA-256.
    New {
        #[arg(long)]
        name: String,
        /// pipeline, conductor, incident, viewer or chat.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    match text {
        "pipeline" => Ok(Role::Pipeline),
        "conductor" => Ok(Role::Conductor),
        "incident" => Ok(Role::Incident),
        "viewer" => Ok(Role::Viewer),
        "chat" => Ok(Role::Chat),
        other => Err(format!("`{other}` is not a role; roles are pipeline, conductor, incident, viewer, chat")),
    }
}

/// Log targets whose trace level is never logged, whatever `RUST_LOG` says:
/// there the HTTP client dumps every byte it sends, the Slack bot token in
/// `Authorization` included (its debug level redacts headers).
const SECRET_BEARING_TARGETS: [&str; 2] = ["ureq", "ureq_proto"];

fn secret_bearing(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == tracing::Level::TRACE
        && SECRET_BEARING_TARGETS
            .iter()
            .any(|t| meta.target().strip_prefix(t).is_some_and(|rest| rest.is_empty() || rest.starts_with("::")))
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    // A filter of its own, beside `RUST_LOG`'s: it only ever removes events.
    let no_secrets = tracing_subscriber::filter::filter_fn(|meta| !secret_bearing(meta));
    // Colour codes only for a person at a terminal, never into files or pipes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().finish().with(no_secrets).init(),
        LogFormat::Text => builder.finish().with(no_secrets).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Serve { config, listen, data_dir } => {
            run_server(signalbox_server::serve::ServeOptions { config, listen, data_dir })
        }
        Command::Evaluate { config, at, state, train } => {
            signalbox_server::cli::evaluate(config.as_deref(), &at, &train, state.as_deref()).map(|()| true)
        }
        Command::Policy { command: PolicyCommand::Test { dir, verbose } } => {
            signalbox_server::cli::policy_test(dir, verbose)
        }
        Command::Chat { server, token, user, command } => {
            signalbox_server::client::run(&signalbox_server::client::ChatOptions { server, token, user, command })
        }
        Command::Calendar { command: CalendarCommand::Check { source, from, days, kind, timezone } } => {
            let kind = match kind {
                CalendarKindArg::Freeze => signalbox_core::config::CalendarKind::Freeze,
                CalendarKindArg::Holidays => signalbox_core::config::CalendarKind::Holidays,
            };
            signalbox_server::cli::calendar_check(&source, from.as_deref(), days, kind, &timezone).map(|()| true)
        }
        Command::Token { command: TokenCommand::New { name, role } } => {
            signalbox_server::serve::token_new(&name, role).map(|()| true)
        }
        Command::Store { command: StoreCommand::Check { config, data_dir } } => {
            signalbox_server::cli::store_check(config.as_deref(), data_dir.as_deref())
        }
        Command::Store { command: StoreCommand::Copy { from, to } } => {
            signalbox_server::cli::store_copy(&from, &to).map(|()| true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // Whoever read our output stopped reading (`| head`): nothing to say, and no one to say it to.
        Err(e) if is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn run_server(options: signalbox_server::serve::ServeOptions) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(signalbox_server::serve::serve(options))?;
    Ok(true)
}
