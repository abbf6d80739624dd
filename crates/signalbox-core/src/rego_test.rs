//! Runs Rego unit tests the way `opa test` does: every rule whose name starts
//! with `test_` in a `*_test.rego` file must evaluate to `true`.

use regorus::{Engine, Value};

use crate::policy::PolicySet;

/// The result of one `test_` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub file: String,
    /// `data.<package>.<rule>`.
    pub name: String,
    /// `None` when it passed; otherwise what it gave instead of `true`.
    pub failure: Option<String>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Runs every test file of the set against all of its policy modules.
/// A test file that does not load is reported as one failing test.
pub fn run_tests(set: &PolicySet) -> Vec<TestResult> {
    let mut base = Engine::new();
    base.set_strict_builtin_errors(true);
    // A test that never ends must fail, not hang the run.
    base.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
        limit: std::time::Duration::from_secs(5),
        check_interval: std::num::NonZeroU32::MIN.saturating_add(31),
    });
    let mut results = Vec::new();
    for module in set.modules() {
        if let Err(e) = base.add_policy(module.path.clone(), module.text.clone()) {
            results.push(TestResult { file: module.path.clone(), name: "(load)".into(), failure: Some(e.to_string()) });
            return results;
        }
    }
    for test in set.rego_files().filter(|f| f.is_test()) {
        let mut engine = base.clone();
        let package = match engine.add_policy(test.path.clone(), test.text.clone()) {
            Ok(package) => package,
            Err(e) => {
                results.push(TestResult {
                    file: test.path.clone(),
                    name: "(load)".into(),
                    failure: Some(e.to_string()),
                });
                continue;
            }
        };
        let names = test_rule_names(&test.text);
        if names.is_empty() {
            results.push(TestResult {
                file: test.path.clone(),
                name: package.clone(),
                failure: Some("no `test_` rules found".into()),
            });
        }
        for rule in names {
            let name = format!("{package}.{rule}");
            let failure = match engine.eval_rule(name.clone()) {
                Ok(Value::Bool(true)) => None,
                Ok(Value::Undefined) => Some("undefined (a condition did not hold)".to_string()),
                Ok(other) => Some(format!("gave {other}, not true")),
                Err(e) => Some(format!("error: {e}")),
            };
            results.push(TestResult { file: test.path.clone(), name, failure });
        }
    }
    results
}

/// Rule names starting with `test_` at the start of a line, each once.
fn test_rule_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in text.lines() {
        if !line.starts_with("test_") {
            continue;
        }
        let name: String = line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `opa test`-like report: failures with their reason, then `PASS: n/m` or `FAIL: k/m`.
pub fn report(results: &[TestResult]) -> String {
    let mut out = String::new();
    for r in results.iter().filter(|r| !r.passed()) {
        out.push_str(&format!("{}:\ndata: {}: FAIL ({})\n", r.file, r.name, r.failure.as_deref().unwrap_or_default()));
    }
    let failed = results.iter().filter(|r| !r.passed()).count();
    if !out.is_empty() {
        out.push_str("--------------------------------------------------------------------------------\n");
    }
    if failed == 0 {
        out.push_str(&format!("PASS: {}/{}\n", results.len(), results.len()));
    } else {
        out.push_str(&format!(
            "PASS: {}/{}\nFAIL: {}/{}\n",
            results.len() - failed,
            results.len(),
            failed,
            results.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicySource, MANIFEST_FILE};

    #[test]
    fn passing_failing_and_broken_tests_are_told_apart() {
        let set = PolicySet::new(vec![
            PolicySource::new(MANIFEST_FILE, "[[policy]]\npath = \"global.a\"\npriority = 0\nfile = \"a.rego\"\n"),
            PolicySource::new("a.rego", "package signalbox.global.a\n\nfinding := {\"outcome\": \"manual\", \"message\": \"x\"} if input.x == 1\n"),
            PolicySource::new(
                "a_test.rego",
                "package signalbox.global.a_test\n\nimport data.signalbox.global.a\n\ntest_fails_on_one if a.finding with input as {\"x\": 1}\n\ntest_wrongly_expects_a_pass if not a.finding with input as {\"x\": 1}\n",
            ),
            PolicySource::new("b_test.rego", "package b_test\n\ntest_broken if {\n"),
        ])
        .unwrap();
        let results = run_tests(&set);
        let outcome: Vec<(&str, bool)> = results.iter().map(|r| (r.name.as_str(), r.passed())).collect();
        assert_eq!(
            outcome,
            [
                ("data.signalbox.global.a_test.test_fails_on_one", true),
                ("data.signalbox.global.a_test.test_wrongly_expects_a_pass", false),
                ("(load)", false),
            ]
        );
        assert!(report(&results).ends_with("PASS: 1/3\nFAIL: 2/3\n"));
    }
}
