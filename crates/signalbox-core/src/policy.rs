//! The policy set: the manifest, the Rego sources, and their load-time checks.
//!
//! A policy is one Rego module whose package is `signalbox.<path>` and whose
//! `finding` rule is either undefined (pass) or `{"outcome", "message"}`.
//! Which modules are policies, in what order, is the manifest's business alone:
//! adding a policy never needs a Rust change.

use std::collections::BTreeSet;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The manifest's file name inside a policies directory.
pub const MANIFEST_FILE: &str = "manifest.toml";

/// One Rego (or manifest) file, by its path relative to the policies directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySource {
    pub path: String,
    pub text: String,
}

impl PolicySource {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Self { path: path.into(), text: text.into() }
    }

    /// Rego tests (`*_test.rego`) run with `policy test`, never in decisions.
    pub fn is_test(&self) -> bool {
        self.path.ends_with("_test.rego")
    }

    pub fn is_rego(&self) -> bool {
        self.path.ends_with(".rego")
    }
}

/// A policy as the manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    /// Canonical path, e.g. `global.business_hours`.
    pub path: String,
    /// Other names users may type, e.g. `business_hours`, `global/sla`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Lower runs first and is listed first.
    pub priority: u32,
    /// The module's file, relative to the policies directory.
    pub file: String,
    /// Whether temporary exceptions may replace this policy's result.
    #[serde(default = "yes")]
    pub exceptions: bool,
    /// Whether waiting can change this policy's result: the forecast (`retry_at`,
    /// `suggested_window`) looks for the instants at which no time-driven policy
    /// has a finding. Default false.
    #[serde(default)]
    pub time_driven: bool,
}

fn yes() -> bool {
    true
}

impl PolicyEntry {
    /// The rule evaluated for this policy.
    pub fn rule(&self) -> String {
        format!("data.signalbox.{}.finding", self.path)
    }

    /// Whether `name` is this policy's path or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.path == name || self.aliases.iter().any(|a| a == name)
    }

    /// Path and aliases.
    pub fn names(&self) -> Vec<&str> {
        std::iter::once(self.path.as_str()).chain(self.aliases.iter().map(String::as_str)).collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    policy: Vec<PolicyEntry>,
}

/// Why a policy set could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("`{MANIFEST_FILE}` is missing from the policies directory")]
    NoManifest,
    #[error("`{MANIFEST_FILE}`: {0}")]
    Manifest(String),
    #[error("policy file `{file}`: {message}")]
    Rego { file: String, message: String },
    #[error("policy `{path}`: {message}")]
    Check { path: String, message: String },
}

/// The parsed manifest and the sources it refers to, checked for consistency.
#[derive(Debug, Clone)]
pub struct PolicySet {
    entries: Vec<PolicyEntry>,
    sources: Vec<PolicySource>,
    digest: String,
}

impl PolicySet {
    /// Checks the manifest against the files. `files` holds every file of the
    /// directory that matters: the manifest and all `.rego` files.
    pub fn new(files: Vec<PolicySource>) -> Result<PolicySet, PolicyError> {
        let manifest = files.iter().find(|f| f.path == MANIFEST_FILE).ok_or(PolicyError::NoManifest)?;
        let raw: RawManifest = toml::from_str(&manifest.text).map_err(|e| {
            let line = e
                .span()
                .and_then(|s| manifest.text.get(..s.start))
                .map_or(1, |h| h.bytes().filter(|b| *b == b'\n').count() + 1);
            PolicyError::Manifest(format!("line {line}: {}", e.message().trim_end()))
        })?;
        let mut entries = raw.policy;
        entries.sort_by_key(|e| e.priority);
        check_entries(&entries, &files)?;
        let mut sources: Vec<PolicySource> =
            files.into_iter().filter(|f| f.is_rego() || f.path == MANIFEST_FILE).collect();
        sources.sort_by(|a, b| a.path.cmp(&b.path));
        let digest = digest(&sources);
        Ok(PolicySet { entries, sources, digest })
    }

    /// Policies in priority order.
    pub fn entries(&self) -> &[PolicyEntry] {
        &self.entries
    }

    /// The policy answering to a path or alias.
    pub fn find(&self, name: &str) -> Option<&PolicyEntry> {
        self.entries.iter().find(|e| e.answers_to(name))
    }

    /// Every name a user may type, canonical paths first.
    pub fn known_names(&self) -> String {
        self.entries.iter().map(|e| e.names().join(" / ")).collect::<Vec<_>>().join(", ")
    }

    /// The Rego modules decisions run (tests left out).
    pub fn modules(&self) -> impl Iterator<Item = &PolicySource> {
        self.sources.iter().filter(|s| s.is_rego() && !s.is_test())
    }

    /// Every Rego file, tests included.
    pub fn rego_files(&self) -> impl Iterator<Item = &PolicySource> {
        self.sources.iter().filter(|s| s.is_rego())
    }

    /// SHA-256 over every file, in path order.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

fn check_entries(entries: &[PolicyEntry], files: &[PolicySource]) -> Result<(), PolicyError> {
    let manifest_err = |m: String| PolicyError::Manifest(m);
    if entries.is_empty() {
        return Err(manifest_err("declares no `[[policy]]`".into()));
    }
    let mut names = BTreeSet::new();
    let mut priorities = BTreeSet::new();
    for e in entries {
        if !valid_path(&e.path) {
            return Err(manifest_err(format!(
                "policy path `{}` must be dotted lower-case words like `global.sla`",
                e.path
            )));
        }
        for name in e.names() {
            if !names.insert(name.to_string()) {
                return Err(manifest_err(format!("the name `{name}` is used by two policies")));
            }
        }
        if !priorities.insert(e.priority) {
            return Err(manifest_err(format!("priority {} of `{}` is used by another policy", e.priority, e.path)));
        }
        if !files.iter().any(|f| f.path == e.file) {
            return Err(manifest_err(format!("policy `{}` names file `{}`, which does not exist", e.path, e.file)));
        }
        if !e.file.ends_with(".rego") || e.file.ends_with("_test.rego") {
            return Err(manifest_err(format!(
                "policy `{}` names file `{}`, which is not a policy module",
                e.path, e.file
            )));
        }
    }
    Ok(())
}

fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

fn digest(sources: &[PolicySource]) -> String {
    let mut hasher = Sha256::new();
    for s in sources {
        hasher.update(s.path.as_bytes());
        hasher.update([0]);
        hasher.update(s.text.len().to_le_bytes());
        hasher.update(s.text.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Vec<PolicySource> {
        vec![
            PolicySource::new(MANIFEST_FILE, text),
            PolicySource::new("a.rego", "package signalbox.global.a\n"),
            PolicySource::new("a_test.rego", "package signalbox.global.a_test\n"),
        ]
    }

    #[test]
    fn entries_come_out_in_priority_order() {
        let set = PolicySet::new(vec![
            PolicySource::new(MANIFEST_FILE, "[[policy]]\npath = \"global.b\"\npriority = 5\nfile = \"b.rego\"\n[[policy]]\npath = \"global.a\"\naliases = [\"a\"]\npriority = 1\nfile = \"a.rego\"\n"),
            PolicySource::new("a.rego", ""),
            PolicySource::new("b.rego", ""),
        ])
        .unwrap();
        let paths: Vec<_> = set.entries().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["global.a", "global.b"]);
        assert_eq!(set.find("a").map(|e| e.path.as_str()), Some("global.a"));
        assert!(set.digest().len() == 64);
        assert!(set.entries().iter().all(|e| !e.time_driven), "time_driven defaults to false");
    }

    #[test]
    fn time_driven_is_read_from_the_manifest() {
        let set = PolicySet::new(manifest(
            "[[policy]]\npath = \"global.a\"\npriority = 1\nfile = \"a.rego\"\ntime_driven = true\n",
        ))
        .unwrap();
        assert_eq!(set.entries().iter().map(|e| e.time_driven).collect::<Vec<_>>(), [true]);
        let e = PolicySet::new(manifest(
            "[[policy]]\npath = \"global.a\"\npriority = 1\nfile = \"a.rego\"\ntime_driven = \"yes\"\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 5"), "{e}");
    }

    #[test]
    fn manifest_mistakes_are_named() {
        let cases = [
            ("[[policy]]\npath = \"global.a\"\npriority = 1\nfile = \"missing.rego\"\n", "missing.rego"),
            ("[[policy]]\npath = \"Global.A\"\npriority = 1\nfile = \"a.rego\"\n", "Global.A"),
            ("[[policy]]\npath = \"global.a\"\npriority = 1\nfile = \"a_test.rego\"\n", "not a policy module"),
            ("[[policy]]\npath = \"global.a\"\npriority = 1\nfile = \"a.rego\"\nprio = 3\n", "line 5"),
            ("[[policy]]\npath = \"global.a\"\npriority = 1\nfile = \"a.rego\"\n[[policy]]\npath = \"global.b\"\npriority = 1\nfile = \"a.rego\"\n", "priority 1"),
        ];
        for (text, needle) in cases {
            let e = PolicySet::new(manifest(text)).unwrap_err().to_string();
            assert!(e.contains(needle), "{e} should name {needle}");
        }
    }
}
