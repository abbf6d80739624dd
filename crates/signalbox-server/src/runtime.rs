//! The swappable part of the server: configuration, policies and tokens. A
//! reload builds a new `Runtime` beside the old one and swaps it in only when
//! the whole set is valid.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use signalbox_core::ical::ImportedCalendar;
use signalbox_core::Evaluator;

use crate::auth::TokenEntry;
use crate::feeds::Feeds;
use crate::settings::Loaded;

#[derive(Debug)]
pub struct Runtime {
    /// The configuration as read from its file.
    pub loaded: Loaded,
    /// Built from the effective configuration: the file's, with the imported
    /// calendars merged in (`evaluator.config()`).
    pub evaluator: Evaluator,
    /// Configured tokens plus the bootstrap conductor token, if one was made.
    pub tokens: Vec<TokenEntry>,
    /// The calendar feeds the imports came from; shared with the runtimes that replace this one.
    pub feeds: Arc<Feeds>,
}

impl Runtime {
    /// Loads configuration and policies as one set; any error refuses the whole set.
    /// A configuration with `[[calendars]]` is refused here: its calendars must
    /// be read first (`calendars::load_runtime`), never skipped.
    pub fn load(config_path: Option<&Path>, bootstrap: Option<&TokenEntry>) -> Result<Runtime> {
        let loaded = Loaded::read(config_path)?;
        if let Some(first) = loaded.config.calendars.first() {
            bail!(
                "the configuration has calendars (`{}`, line {}): they are read by `calendars::load_runtime`",
                first.name,
                first.line
            );
        }
        Runtime::build(loaded, &[], Arc::default(), bootstrap)
    }

    /// A runtime from a configuration and what its calendars imported.
    pub fn build(
        loaded: Loaded,
        imported: &[ImportedCalendar],
        feeds: Arc<Feeds>,
        bootstrap: Option<&TokenEntry>,
    ) -> Result<Runtime> {
        let effective = loaded.config.with_calendars(imported)?;
        let evaluator = Evaluator::new(loaded.policy_set()?, effective)?;
        let mut tokens: Vec<TokenEntry> = loaded
            .config
            .tokens
            .iter()
            .map(|t| TokenEntry { name: t.name.clone(), role: t.role, sha256: t.sha256.clone() })
            .collect();
        tokens.extend(bootstrap.cloned());
        Ok(Runtime { loaded, evaluator, tokens, feeds })
    }
}
