#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

//! Runs the shipped policies' Rego unit tests (`policies/**/*_test.rego`), as
//! `signalbox policy test policies` does, and checks every policy has tests.

use std::path::{Path, PathBuf};

use signalbox_core::rego_test::{report, run_tests};
use signalbox_core::{PolicySet, PolicySource};

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// Every `.rego` file and the manifest under `dir`, with paths relative to `root`.
fn collect(root: &Path, dir: &Path, files: &mut Vec<PolicySource>) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect(root, &path, files);
            continue;
        }
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        if rel.ends_with(".rego") || rel == "manifest.toml" {
            let text =
                std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
            files.push(PolicySource::new(rel, text));
        }
    }
}

fn shipped_policies() -> PolicySet {
    let root = policies_dir();
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    PolicySet::new(files).unwrap_or_else(|e| panic!("policies in `{}`: {e}", root.display()))
}

#[test]
fn every_rego_test_passes() {
    let set = shipped_policies();
    let results = run_tests(&set);
    let report = report(&results);
    println!("{report}");
    assert!(!results.is_empty(), "no Rego tests found under policies/");
    let failed: Vec<&str> = results.iter().filter(|r| !r.passed()).map(|r| r.name.as_str()).collect();
    assert!(failed.is_empty(), "failing Rego tests: {failed:?}\n{report}");
}

#[test]
fn every_policy_in_the_manifest_has_tests() {
    let set = shipped_policies();
    let results = run_tests(&set);
    for entry in set.entries() {
        let test_file = format!("{}_test.rego", entry.file.trim_end_matches(".rego"));
        let count = results.iter().filter(|r| r.file == test_file && r.name.contains(".test_")).count();
        assert!(count > 0, "policy `{}` has no `test_` rules in `{test_file}`", entry.path);
    }
}
