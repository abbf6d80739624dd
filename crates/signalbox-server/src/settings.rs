//! Loading a configuration file and the policy set it points at.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use signalbox_core::{Config, Evaluator, PolicySet};

/// A configuration with its paths resolved against the file's own folder.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The folder relative paths in the file are read from (the working directory for the defaults).
    pub base: PathBuf,
}

impl Loaded {
    /// Reads `path`, or takes the built-in defaults when there is none.
    pub fn read(path: Option<&Path>) -> Result<Loaded> {
        match path {
            None => Ok(Loaded { config: Config::defaults()?, base: PathBuf::from(".") }),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read configuration file `{}`", path.display()))?;
                let config = Config::from_toml(&text, &path.display().to_string())?;
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                Ok(Loaded { config, base })
            }
        }
    }

    /// A path from the file, relative to the file's folder.
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.base.join(relative)
    }

    /// The policy set the configuration names: its `policies_dir`, or the embedded one.
    pub fn policy_set(&self) -> Result<PolicySet> {
        match &self.config.server.policies_dir {
            Some(dir) => crate::policies::read_dir(&self.resolve(dir)),
            None => crate::policies::embedded(),
        }
    }

    /// The prepared evaluator: policies checked against the configuration, as a set.
    pub fn evaluator(&self) -> Result<Evaluator> {
        let set = self.policy_set()?;
        Ok(Evaluator::new(set, self.config.clone())?)
    }
}
