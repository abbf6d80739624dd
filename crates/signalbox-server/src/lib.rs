//! The `signalbox` binary's library: configuration loading, the HTTP service,
//! and the command-line tools. The binary (`main.rs`) is a thin shell over it.
//!
//! Dependencies inside the server run one way: the transports (`app`, `api`,
//! `slack`, `chat`) call the `service`, which works over the store and the
//! core; `calendars` reads calendar feeds and swaps runtimes for the service
//! and start-up; `state` (what they all share), `runtime`, `feeds`, `settings`,
//! `policies`, `auth`, `metrics` and `slack_client` are leaves below them. No module
//! imports a module that imports it back.

// Tests may unwrap: a panic there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod api;
pub mod app;
pub mod auth;
pub mod board;
pub mod calendars;
pub mod chat;
pub mod cli;
pub mod client;
pub mod conn;
pub mod feeds;
pub mod metrics;
pub mod policies;
pub mod runtime;
pub mod schema;
pub mod serve;
pub mod service;
pub mod settings;
pub mod slack;
pub mod slack_client;
pub mod state;

/// Checks on the server's own source: the rules of the module docs above.
#[cfg(test)]
mod layering {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn src() -> (PathBuf, Vec<PathBuf>) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        (root, files)
    }

    /// The top-level module a file belongs to: `api` for `api/trains.rs`, `state` for `state.rs`.
    fn module_of(root: &Path, file: &Path) -> String {
        let rel = file.strip_prefix(root).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        first.trim_end_matches(".rs").to_string()
    }

    /// The import graph between top-level modules (`use crate::x...`) has no cycle.
    #[test]
    fn no_module_imports_a_module_that_imports_it_back() {
        let (root, files) = src();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let from = module_of(&root, file);
            let text = std::fs::read_to_string(file).unwrap();
            for rest in text.split("crate::").skip(1) {
                let to: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                let is_module = root.join(format!("{to}.rs")).exists() || root.join(&to).is_dir();
                if !to.is_empty() && to != from && is_module {
                    graph.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        // Depth-first search for a back edge.
        fn visit(
            node: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) {
            if let Some(at) = path.iter().position(|n| n == node) {
                panic!("import cycle: {} -> {node}", path[at..].join(" -> "));
            }
            if done.contains(node) {
                return;
            }
            path.push(node.to_string());
            for next in graph.get(node).into_iter().flatten() {
                visit(next, graph, path, done);
            }
            path.pop();
            done.insert(node.to_string());
        }
        let mut done = BTreeSet::new();
        for node in graph.keys() {
            visit(node, &graph, &mut Vec::new(), &mut done);
        }
        // The service knows nothing of the transports.
        for transport in ["api", "app", "board", "chat", "slack"] {
            assert!(!graph["service"].contains(transport), "service imports {transport}");
        }
        for leaf in ["state", "auth", "runtime", "settings", "policies", "metrics", "slack_client"] {
            let reaches: Vec<_> = graph
                .get(leaf)
                .into_iter()
                .flatten()
                .filter(|m| ["api", "app", "board", "chat", "slack", "service", "serve", "cli"].contains(&m.as_str()))
                .collect();
            assert!(reaches.is_empty(), "the leaf `{leaf}` imports {reaches:?}");
        }
    }

    /// The service has no HTTP in it: no axum, no status codes, no API errors.
    #[test]
    fn the_service_speaks_no_http() {
        let (root, files) = src();
        for file in files.iter().filter(|f| module_of(&root, f) == "service") {
            let text = std::fs::read_to_string(file).unwrap();
            for word in ["axum", "ApiError", "StatusCode"] {
                assert!(!text.contains(word), "{} mentions `{word}`", file.display());
            }
        }
    }

    /// The server reads the clock in one place (`Clock::now`); a request reads
    /// it once, when its transport makes its `Ctx`, and the service takes the
    /// instant from the `Ctx`.
    #[test]
    fn the_clock_is_read_in_one_place() {
        let (root, files) = src();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            let reads = ["Utc", "SystemTime"]
                .iter()
                .map(|clock| text.matches(&format!("{clock}::now()")).count())
                .sum::<usize>();
            let allowed = usize::from(file.ends_with("state.rs"));
            assert_eq!(reads, allowed, "{} reads the clock", file.display());
            if module_of(&root, file) == "service" {
                assert!(!text.contains(".request("), "{} starts a request of its own", file.display());
            }
        }
    }
}
