//! The swappable part of the server: configuration, policies and tokens. A
//! reload builds a new `Runtime` beside the old one and swaps it in only when
//! the whole set is valid.

use std::path::Path;

use anyhow::Result;
use signalbox_core::Evaluator;

use crate::auth::TokenEntry;
use crate::settings::Loaded;

#[derive(Debug)]
pub struct Runtime {
    pub loaded: Loaded,
    pub evaluator: Evaluator,
    /// Configured tokens plus the bootstrap conductor token, if one was made.
    pub tokens: Vec<TokenEntry>,
}

impl Runtime {
    /// Loads configuration and policies as one set; any error refuses the whole set.
    pub fn load(config_path: Option<&Path>, bootstrap: Option<&TokenEntry>) -> Result<Runtime> {
        let loaded = Loaded::read(config_path)?;
        let evaluator = loaded.evaluator()?;
        let mut tokens: Vec<TokenEntry> = loaded
            .config
            .tokens
            .iter()
            .map(|t| TokenEntry { name: t.name.clone(), role: t.role, sha256: t.sha256.clone() })
            .collect();
        tokens.extend(bootstrap.cloned());
        Ok(Runtime { loaded, evaluator, tokens })
    }
}
