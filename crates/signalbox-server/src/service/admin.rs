//! Reloading configuration and policies.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use signalbox_store::AuditAction;

use super::error::ServiceError;
use super::round::audit;
use crate::runtime::Runtime;
use crate::state::{AppState, Ctx};

/// The policy revisions before and after a reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    pub old_revision: String,
    pub new_revision: String,
}

/// Why a configuration that loads must still not serve: a file that holds
/// nothing (an empty or truncated file would swap every setting and token for
/// the built-in defaults), or no conductor token left (the bootstrap token
/// counts), which would lock every conductor out with no way back but a restart.
fn locks_out(runtime: &Runtime) -> Result<(), String> {
    let config = &runtime.loaded.config;
    if config.is_empty_file() {
        return Err(format!(
            "`{}` holds no settings (an empty or truncated file?); a reload needs the whole configuration",
            config.origin
        ));
    }
    if !runtime.tokens.iter().any(|t| t.role == signalbox_core::config::Role::Conductor) {
        return Err(format!(
            "`{}` leaves no conductor token (`[[auth.tokens]]` with role \"conductor\"): every conductor would be locked out",
            config.origin
        ));
    }
    Ok(())
}

/// Reload: the new configuration and policies are checked as a set before
/// they serve; an invalid set is refused and the old one keeps serving.
pub async fn reload(app: &AppState, ctx: &Ctx) -> Result<Reloaded, ServiceError> {
    // Calendars are read again too; one that cannot be keeps its last good copy.
    // No calendar refresh runs between reading them and the swap.
    let feeds = app.runtime().feeds.clone();
    let _swapping = feeds.swapping.lock().await;
    let runtime = match crate::calendars::reload_runtime(app, ctx.at).await {
        Ok(runtime) => runtime,
        Err(e) => {
            let error = format!("{e:#}");
            tracing::error!(%error, actor = %ctx.actor, "reload refused; the previous configuration keeps serving");
            return Err(ServiceError::Refused(error));
        }
    };
    if let Err(why) = locks_out(&runtime) {
        tracing::error!(%why, actor = %ctx.actor, "reload refused; the previous configuration keeps serving");
        return Err(ServiceError::Refused(why));
    }
    let current = app.runtime();
    let (old_server, new_server) = (&current.loaded.config.server, &runtime.loaded.config.server);
    let store_moved = current.loaded.config.store != runtime.loaded.config.store;
    if old_server.listen != new_server.listen || old_server.data_dir != new_server.data_dir || store_moved {
        tracing::warn!("`server.listen`, `server.data_dir` and `store.url` changes take effect only at the next start");
    }
    let reloaded = Reloaded {
        old_revision: current.evaluator.revision().to_string(),
        new_revision: runtime.evaluator.revision().to_string(),
    };
    let calendars =
        crate::calendars::changes(&current.evaluator.config().imported, &runtime.evaluator.config().imported);
    let mut detail = serde_json::Map::new();
    detail.insert("old_revision".into(), json!(reloaded.old_revision));
    detail.insert("new_revision".into(), json!(reloaded.new_revision));
    if !calendars.is_empty() {
        detail.insert("calendars".into(), serde_json::Value::Object(calendars));
    }
    let detail = serde_json::Value::Object(detail);
    let ctx = ctx.clone();
    app.store.write(move |tx| audit(tx, &ctx, AuditAction::Reload, None, detail)).await?;
    app.swap_runtime(Arc::new(runtime));
    tracing::info!(old = %reloaded.old_revision, new = %reloaded.new_revision, "reloaded configuration and policies");
    Ok(reloaded)
}
