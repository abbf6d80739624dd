//! Loading shared by the data-driven tests: where fixtures and policies are, and
//! a policies directory read into `path -> text`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

pub fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// Every `.rego` file and `manifest.toml` under `dir`, by forward-slash path relative to it.
pub fn policy_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    collect(dir, dir, &mut files);
    files
}

fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read `{}`: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        if rel.ends_with(".rego") || rel == signalbox_core::policy::MANIFEST_FILE {
            let text =
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
            files.insert(rel, text);
        }
    }
}

/// Evaluates `rule` with the shipped policy files `files` (paths under
/// `policies/`) on the interpreter, with `config` as `data.signalbox.config`.
pub fn eval_shipped_rule(
    files: &[&str],
    config: &serde_json::Value,
    input: &serde_json::Value,
    rule: &str,
) -> regorus::Value {
    let mut engine = regorus::Engine::new();
    for file in files {
        let text = std::fs::read_to_string(policies_dir().join(file)).unwrap();
        engine.add_policy(file.to_string(), text).unwrap();
    }
    engine.add_data(regorus::Value::from(serde_json::json!({ "signalbox": { "config": config } }))).unwrap();
    engine.set_input(regorus::Value::from(input.clone()));
    engine.eval_rule(rule.to_string()).unwrap()
}
