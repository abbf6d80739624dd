//! `signalbox`: the change-train approval service and its tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "signalbox", version, about = "Change-train approval policy engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Evaluate { config, at, state, train } => {
            signalbox_server::cli::evaluate(config.as_deref(), &at, &train, state.as_deref()).map(|()| true)
        }
        Command::Policy { command: PolicyCommand::Test { dir, verbose } } => signalbox_server::cli::policy_test(dir, verbose),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
