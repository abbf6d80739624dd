//! Where policy sources come from: a directory on disk, or the set built into the binary.

use std::path::Path;

use anyhow::{Context, Result};
use signalbox_core::{PolicySet, PolicySource};

include!(concat!(env!("OUT_DIR"), "/embedded_policies.rs"));

/// The shipped policies, as built into this binary.
pub fn embedded() -> Result<PolicySet> {
    let files = EMBEDDED_POLICIES.iter().map(|(path, text)| PolicySource::new(*path, *text)).collect();
    Ok(PolicySet::new(files)?)
}

/// Every `.rego` file and the manifest under `dir`, with paths relative to it.
pub fn read_dir(dir: &Path) -> Result<PolicySet> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    PolicySet::new(files).with_context(|| format!("policies in `{}`", dir.display()))
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<PolicySource>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read policies directory `{}`", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, files)?;
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        if rel.ends_with(".rego") || rel == signalbox_core::policy::MANIFEST_FILE {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
            files.push(PolicySource::new(rel, text));
        }
    }
    Ok(())
}
