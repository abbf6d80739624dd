//! The command-line tools, run as a user would: `evaluate`, `policy test`, `token new`, `calendar check`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn signalbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signalbox")).current_dir(repo()).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn evaluate(at: &str, train: &str) -> Value {
    let out = signalbox(&[
        "evaluate",
        "--config",
        "docs/examples/signalbox.toml",
        "--at",
        at,
        train,
        "--state",
        "docs/examples/state.json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // stdout is the decision and nothing else.
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_monday_morning_train_in_chicago_waits_for_business_hours() {
    // 15:00Z on Monday 2026-11-23 is 09:00 CST.
    let decision = evaluate("2026-11-23T15:00:00Z", "docs/examples/train-monday-morning.json");
    assert_eq!(decision["outcome"], "manual");
    assert_eq!(decision["findings"].as_array().unwrap().len(), 1);
    assert_eq!(decision["findings"][0]["policy"], "global.business_hours");
    assert!(decision["findings"][0]["message"].as_str().unwrap().contains("us-south"));
    assert_eq!(decision["evaluated_at"], "2026-11-23T15:00:00Z");
    // In business hours to the window's end (11:00 CST); the first two hours after
    // them are 18:00-20:00 CST, the stage train of Sun 12:00Z baked by then.
    assert_eq!(decision["retry_at"], Value::Null);
    assert_eq!(
        decision["suggested_window"],
        serde_json::json!({ "start": "2026-11-24T00:00:00Z", "end": "2026-11-24T02:00:00Z" })
    );
}

#[test]
fn the_same_train_at_seven_in_the_evening_with_an_sla_and_a_baked_stage_is_approved() {
    // 01:00Z on Tuesday is 19:00 CST on Monday; the stage train completed 37h before.
    let decision = evaluate("2026-11-24T01:00:00Z", "docs/examples/train-monday-evening.json");
    assert_eq!(decision["outcome"], "approved");
    assert_eq!(decision["summary"], "approved => all policies passed");
    assert_eq!(decision["actor"], "cli");
    assert_eq!((&decision["retry_at"], &decision["suggested_window"]), (&Value::Null, &Value::Null));
}

#[test]
fn evaluate_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let bad_train = dir.path().join("train.json");
    let mut train: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("docs/examples/train-monday-morning.json")).unwrap())
            .unwrap();
    train["regions"] = serde_json::json!(["mars-1"]);
    std::fs::write(&bad_train, train.to_string()).unwrap();
    let out = signalbox(&["evaluate", "--at", "2026-11-23T15:00:00Z", bad_train.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("mars-1"), "{}", text(&out.stderr));

    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "[policies]\nstage_bake = \"a day\"\n").unwrap();
    let out = signalbox(&[
        "evaluate",
        "--config",
        bad_config.to_str().unwrap(),
        "--at",
        "2026-11-23T15:00:00Z",
        "docs/examples/train-monday-morning.json",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("policies.stage_bake") && stderr.contains("line 2"), "{stderr}");

    let out = signalbox(&["evaluate", "--at", "monday", "docs/examples/train-monday-morning.json"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--at"), "{}", text(&out.stderr));
}

/// Copies the shipped policies into a temporary directory, with a config pointing at them.
fn policies_copy(dir: &Path) -> PathBuf {
    let target = dir.join("policies");
    for entry in walk(&repo().join("policies")) {
        let rel = entry.strip_prefix(repo().join("policies")).unwrap();
        let dest = target.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, dest).unwrap();
    }
    let config = dir.join("signalbox.toml");
    std::fs::write(&config, "[server]\npolicies_dir = \"policies\"\n").unwrap();
    config
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn a_broken_policy_file_is_a_load_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = policies_copy(dir.path());
    let sla = dir.path().join("policies/global/sla.rego");
    let broken = std::fs::read_to_string(&sla).unwrap().replace("covered if {", "covered if {{ (");
    std::fs::write(&sla, broken).unwrap();
    let out = signalbox(&[
        "evaluate",
        "--config",
        config.to_str().unwrap(),
        "--at",
        "2026-11-23T15:00:00Z",
        "docs/examples/train-monday-morning.json",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("global/sla.rego"), "{stderr}");
    let line = std::fs::read_to_string(&sla).unwrap().lines().position(|l| l.contains("covered if {{ (")).unwrap() + 1;
    // The parser notices on the broken line or the one after it.
    let named = [line, line + 1].iter().any(|l| stderr.contains(&format!("global/sla.rego:{l}:")));
    assert!(named, "line {line}: {stderr}");
}

#[test]
fn policy_test_reports_like_opa_test() {
    let out = signalbox(&["policy", "test", "policies"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap();
    let (passed, total) = last.strip_prefix("PASS: ").unwrap().split_once('/').unwrap();
    assert_eq!(passed, total);
    assert!(total.parse::<usize>().unwrap() >= 60);

    // A test that does not hold fails the run and is named.
    let dir = tempfile::tempdir().unwrap();
    policies_copy(dir.path());
    let test = dir.path().join("policies/global/sla_test.rego");
    let mut text_of = std::fs::read_to_string(&test).unwrap();
    text_of.push_str("\ntest_deliberately_wrong if {\n\t1 == 2\n}\n");
    std::fs::write(&test, text_of).unwrap();
    let out = signalbox(&["policy", "test", dir.path().join("policies").to_str().unwrap()]);
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("test_deliberately_wrong") && stdout.contains("FAIL: 1/"), "{stdout}");
}

#[test]
fn token_new_prints_a_token_and_its_digest_for_the_config() {
    let out = signalbox(&["token", "new", "--name", "deploy-bot", "--role", "pipeline"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let token = stdout.split_whitespace().find(|w| w.starts_with("sbx_")).unwrap();
    let sha = stdout.lines().find_map(|l| l.strip_prefix("sha256 = ")).unwrap().trim_matches('"');
    assert_eq!(sha, signalbox_server::auth::sha256_hex(token));
    assert!(stdout.contains("role = \"pipeline\"") && stdout.contains("name = \"deploy-bot\""));
    // The printed lines are a valid configuration.
    let config: String =
        stdout.lines().skip_while(|l| !l.starts_with("[[auth.tokens]]")).collect::<Vec<_>>().join("\n");
    let parsed = signalbox_core::Config::from_toml(&config, "printed").unwrap();
    assert_eq!(parsed.tokens[0].sha256, sha);

    let out = signalbox(&["token", "new", "--name", "x", "--role", "admin"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("admin"));
}

#[test]
fn calendar_check_prints_what_an_outlook_export_would_import_in_utc_and_local_time() {
    let out = signalbox(&[
        "calendar",
        "check",
        "fixtures/calendars/outlook.ics",
        "--from",
        "2026-11-23",
        "--timezone",
        "America/Chicago",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Central Standard Time is UTC-6 in December; W. Europe Standard Time (Berlin) is UTC+1.
    // 2026-11-23 plus 400 days is 2027-12-28.
    assert_eq!(
        text(&out.stdout),
        "2 freezes from 2026-11-23T00:00:00Z to 2027-12-28T00:00:00Z (America/Chicago):\n\
         2026-12-02T02:00:00Z to 2026-12-02T08:00:00Z  Network maintenance freeze\n\
         \x20   2026-12-01 20:00 CST to 2026-12-02 02:00 CST\n\
         \x20   Core network upgrade in the Dallas data centers.\n\
         2026-12-10T21:00:00Z to 2026-12-11T05:00:00Z  Storage migration freeze\n\
         \x20   2026-12-10 15:00 CST to 2026-12-10 23:00 CST\n\
         \x20   Frankfurt storage migration\n"
    );
}

#[test]
fn calendar_check_names_the_line_of_a_broken_file() {
    let out = signalbox(&["calendar", "check", "fixtures/calendars/malformed.ics", "--from", "2026-11-23"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("malformed.ics") && stderr.contains("line 12") && stderr.contains("DTSTART"), "{stderr}");
}

#[test]
fn evaluate_imports_the_configurations_calendars() {
    let dir = tempfile::tempdir().unwrap();
    let google = repo().join("fixtures/calendars/google.ics");
    let config = dir.path().join("signalbox.toml");
    std::fs::write(
        &config,
        format!("[[calendars]]\nname = \"cloud\"\nsource = {:?}\nkind = \"freeze\"\n", google.display().to_string()),
    )
    .unwrap();
    // Inside the Thanksgiving freeze (2026-11-25T22:00Z to 2026-11-27T06:00Z).
    let train = dir.path().join("train.json");
    std::fs::write(
        &train,
        r#"{"id": "CHG1", "squad": "s", "service": "x", "configuration_item": "c", "environment": "production",
            "regions": ["us-south"], "title": "t", "planned_start": "2026-11-26T02:00:00Z", "planned_end": "2026-11-26T03:00:00Z"}"#,
    )
    .unwrap();
    let out = signalbox(&[
        "evaluate",
        "--config",
        config.to_str().unwrap(),
        "--at",
        "2026-11-23T03:00:00Z",
        train.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    let freeze = decision["findings"].as_array().unwrap().iter().find(|f| f["policy"] == "scheduling.change_freeze");
    assert!(freeze.unwrap()["message"].as_str().unwrap().contains("(Thanksgiving freeze)"), "{decision}");
}

/// Output piped into a reader that goes away (`| head`, `| true`): the
/// command ends quietly, with no panic on the closed pipe; a server whose
/// banner cannot be shown stops instead of serving unseen, and a bootstrap
/// token that could not be shown is not kept (the next start makes another).
/// Log lines written to a pipe carry no colour codes.
#[test]
fn a_closed_pipe_ends_quietly_and_logs_to_a_pipe_have_no_colours() {
    let bin = env!("CARGO_BIN_EXE_signalbox");
    let dir = tempfile::tempdir().unwrap();
    let piped = |command: &str| {
        let out = std::process::Command::new("bash")
            .current_dir(dir.path())
            .args(["-c", &format!("set -o pipefail; {command}")])
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, out, err) = piped(&format!("{bin} token new --name deploy-bot --role pipeline | head -n 1"));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("token (give it to `deploy-bot`"), "{out}");
    assert!(!err.contains("panicked"), "{err}");

    // `true` reads nothing and is gone long before the server has bound its port.
    let (code, _, err) = piped(&format!("{bin} serve --listen 127.0.0.1:0 | true"));
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let store = signalbox_store::Store::open(&dir.path().join("data")).unwrap();
    let kept = store.read(|tx| tx.get_meta("bootstrap_conductor_sha256")).unwrap();
    assert_eq!(kept, None, "a token nobody saw is not kept");
    store.shutdown();
    drop(store);

    // With a conductor token configured there is no bootstrap token: the server
    // logs, then stops at its banner.
    let config = dir.path().join("signalbox.toml");
    let sha = signalbox_server::auth::sha256_hex("t");
    std::fs::write(&config, format!("[[auth.tokens]]\nname = \"c\"\nrole = \"conductor\"\nsha256 = \"{sha}\"\n"))
        .unwrap();
    let (code, _, err) = piped(&format!("{bin} serve --listen 127.0.0.1:0 --config {} | true", config.display()));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("INFO") && !err.contains('\u{1b}'), "colour codes in a log written to a pipe: {err:?}");
}
