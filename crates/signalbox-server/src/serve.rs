//! `signalbox serve`: start-up, the bootstrap token, signals and graceful shutdown.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;
use signalbox_core::config::Role;
use signalbox_store::{AuditAction, NewAudit, Store};

use crate::auth::{new_token, sha256_hex, TokenEntry};
use crate::feeds::Feeds;
use crate::runtime::Runtime;
use crate::settings::Loaded;
use crate::state::{AppState, Clock};

/// The meta key under which the bootstrap conductor token's digest is kept.
const BOOTSTRAP_KEY: &str = "bootstrap_conductor_sha256";

pub struct ServeOptions {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
}

/// Runs the server until SIGTERM or Ctrl-C; SIGHUP reloads configuration and policies.
pub async fn serve(options: ServeOptions) -> Result<()> {
    let started = Instant::now();
    raise_open_file_limit();
    let config_path = options.config.clone();
    // Read and check configuration and policies first, to learn where the data lives.
    let first = Loaded::read(config_path.as_deref())?;
    first.evaluator()?;
    // Taken at start-up: the listener is not rebuilt on reload.
    let limits = crate::conn::Limits::from_config(&first.config.server);
    let data_dir = options.data_dir.clone().unwrap_or_else(|| first.resolve(&first.config.server.data_dir));
    let (store, data_in) = open_store(&first, &data_dir)?;
    // Bind before making a bootstrap token, so a token is never printed by a server that cannot start.
    let listen = options.listen.clone().unwrap_or_else(|| first.config.server.listen.clone());
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on `{listen}`"))?;
    // Calendars before the bootstrap token too: one never read stops the start.
    let feeds = Arc::<Feeds>::default();
    let imported = crate::calendars::import_all(&store, &first, Clock::System.now(), &feeds, |_| true).await?;
    let bootstrap = bootstrap_token(&store, &first).await?;
    let token = bootstrap.clone();
    let runtime =
        tokio::task::spawn_blocking(move || Runtime::build(first, &imported, feeds, token.as_ref())).await??;
    let revision = runtime.evaluator.revision().to_string();
    let state = AppState::new(store.clone(), runtime, config_path, bootstrap, crate::metrics::install());
    state.relay_other_replicas().context("cannot listen for the other replicas' changes")?;
    let slack = crate::slack_client::Slack::from_env();
    tracing::info!(
        receives = slack.receives(),
        posts = slack.posts(),
        "Slack transport (secrets from the environment)"
    );
    state.set_slack(Some(slack));

    // Signal handlers are in place before anyone is told where we listen: a
    // SIGHUP or SIGTERM from then on is never the default (which ends the process).
    let hangups = hangup_signals();
    let shutdown = shutdown_signal()?;
    let address = listener.local_addr()?;
    tracing::info!(%address, store = %data_in, policy_revision = %revision, ready_ms = started.elapsed().as_millis() as u64, "signalbox is ready");
    writeln!(std::io::stdout(), "signalbox listening on http://{address} (data in {data_in})")?;

    tokio::spawn(reload_on_sighup(state.clone(), hangups));
    tokio::spawn(crate::calendars::refresh_periodically(state.clone()));
    let router = crate::app::app(state);
    crate::conn::serve(listener, router, limits, shutdown).await?;
    // In-flight requests have finished; let queued writes commit before exit.
    store.shutdown();
    tracing::info!("signalbox stopped");
    Ok(())
}

/// The environment variable naming the PostgreSQL database; it wins over `store.url`.
pub const DATABASE_URL_VARIABLE: &str = "SIGNALBOX_DATABASE_URL";

/// Opens the store: PostgreSQL when `SIGNALBOX_DATABASE_URL` or `store.url`
/// names a database (any number of replicas share it), else the embedded
/// SQLite of the data directory (one process). Also says where, without a password.
fn open_store(loaded: &Loaded, data_dir: &std::path::Path) -> Result<(Store, String)> {
    let from_env = std::env::var(DATABASE_URL_VARIABLE).ok().filter(|url| !url.trim().is_empty());
    let url = match (from_env, &loaded.config.store.url) {
        (Some(url), _) => {
            if !signalbox_store::pg::is_url(&url) {
                anyhow::bail!(
                    "`{DATABASE_URL_VARIABLE}` must be a PostgreSQL URL like postgres://user@host:5432/database"
                );
            }
            Some(url)
        }
        (None, url) => url.clone(),
    };
    match url {
        Some(url) => {
            let shown = signalbox_store::pg::redact(&url);
            let store = Store::open_postgres(&url).with_context(|| format!("cannot open the store in {shown}"))?;
            Ok((store, shown))
        }
        None => {
            let store =
                Store::open(data_dir).with_context(|| format!("cannot open the store in `{}`", data_dir.display()))?;
            Ok((store, data_dir.display().to_string()))
        }
    }
}

/// Every connection is a descriptor: take all the system allows this process
/// (the soft limit up to the hard one), so the connection cap, not the
/// default soft limit of often 1024, is what bounds them.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open file limit"),
    }
}

/// On first start (no conductor token configured, none made before), makes a
/// conductor token, prints it once, and keeps only its digest. The token is
/// printed before its digest is stored: if it cannot be shown (a closed
/// pipe), it is never valid, and the next start makes another.
async fn bootstrap_token(store: &Store, loaded: &Loaded) -> Result<Option<TokenEntry>> {
    let entry = |sha256: String| TokenEntry { name: "bootstrap".into(), role: Role::Conductor, sha256 };
    if let Some(sha256) = store.read(|tx| tx.get_meta(BOOTSTRAP_KEY))? {
        return Ok(Some(entry(sha256)));
    }
    if loaded.config.tokens.iter().any(|t| t.role == Role::Conductor) {
        return Ok(None);
    }
    let token = new_token().map_err(|e| anyhow::anyhow!("cannot make a random token: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Created a conductor token named `bootstrap`. It is shown only this once; keep it:")?;
    writeln!(out, "\n    {token}\n")?;
    writeln!(out, "Use it as `Authorization: Bearer {token}`. Make more with `signalbox token new`.")?;
    out.flush()?;
    drop(out);
    let sha256 = sha256_hex(&token);
    let digest = sha256.clone();
    let at = Clock::System.now();
    // Replicas starting at once on an empty database may each make one: the
    // first stored wins (writes are serialised), the others keep theirs unused.
    let stored = store
        .write(move |tx| {
            if let Some(first) = tx.get_meta(BOOTSTRAP_KEY)? {
                return Ok::<_, signalbox_store::StoreError>(first);
            }
            tx.set_meta(BOOTSTRAP_KEY, &digest)?;
            tx.append_audit(&NewAudit {
                at,
                actor: "signalbox".into(),
                action: AuditAction::TokenBootstrap,
                train_id: None,
                detail: json!({ "name": "bootstrap", "role": "conductor" }),
            })?;
            Ok(digest)
        })
        .await?;
    if stored != sha256 {
        tracing::warn!(
            "another replica made the bootstrap token at the same moment: the token printed above is NOT valid; use \
             the one that replica printed, or make one with `signalbox token new`"
        );
    }
    Ok(Some(entry(stored)))
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

fn hangup_signals() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let hangups = signal(SignalKind::hangup()).ok();
        if hangups.is_none() {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /v1/admin/reload");
        }
        hangups
    }
    #[cfg(not(unix))]
    None
}

async fn reload_on_sighup(state: AppState, hangups: Hangups) {
    #[cfg(unix)]
    if let Some(mut hangups) = hangups {
        while hangups.recv().await.is_some() {
            // `reload` logs its own outcome.
            let _ = crate::service::reload(&state, &state.request("signal:SIGHUP")).await;
        }
    }
    #[cfg(not(unix))]
    let _ = (state, hangups);
}

/// Resolves at SIGTERM or Ctrl-C; the handlers are installed when this is called.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    Ok(async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = async move {
            terminate.recv().await;
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

/// `signalbox token new`: prints a token and the lines to paste into the configuration.
pub fn token_new(name: &str, role: Role) -> Result<()> {
    let token = new_token().map_err(|e| anyhow::anyhow!("cannot make a random token: {e}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "token (give it to `{name}`; it is not stored anywhere): {token}")?;
    writeln!(out, "\nAdd to signalbox.toml:\n")?;
    writeln!(out, "[[auth.tokens]]")?;
    writeln!(out, "name = {name:?}")?;
    writeln!(out, "role = {:?}", role.as_str())?;
    writeln!(out, "sha256 = {:?}", sha256_hex(&token))?;
    Ok(())
}
