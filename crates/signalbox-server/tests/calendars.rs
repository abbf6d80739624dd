//! Calendar feeds in the server: a feed served on loopback that changes
//! between refreshes, goes down (its last good copy stays in force, across a
//! restart too) and comes back; the acceptance test (a freeze added to the
//! feed turns a production train from approved to manual after one refresh);
//! reload; readyz and metrics. In process, with the clock standing at
//! `common::monday_night()` (2026-11-23T03:00Z), so the events are absolute.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::http::Method;
use common::{config_text, ics, monday_night, night_train, Answer, Feed, TestApp};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{json, Value};
use signalbox_server::app::app;
use signalbox_server::calendars::{load_runtime, refresh_now, refresh_periodically};
use signalbox_server::state::AppState;

/// A freeze far from the night train's window (2026-11-23T04:00-05:00Z).
const LATER: (&str, &str, &str) = ("Later freeze", "20261210T000000Z", "20261211T000000Z");
/// A freeze covering the night train's window.
const EMERGENCY: (&str, &str, &str) = ("Emergency DB freeze", "20261123T000000Z", "20261124T000000Z");

fn config_with_calendar(source: &str, refresh: &str) -> String {
    format!(
        "{}\n[[calendars]]\nname = \"ops\"\nsource = {source:?}\nkind = \"freeze\"\nenvironments = [\"production\"]\nrefresh = {refresh:?}\n",
        config_text(None)
    )
}

/// The one metrics recorder of this test binary.
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| signalbox_server::metrics::install().expect("no recorder installed yet")).clone()
}

/// Starts the app over `dir` (config and data), reading its calendars as start-up does.
async fn start(dir: tempfile::TempDir, config: &str) -> Result<TestApp, String> {
    restart(dir, config, None).await
}

/// [`start`] again over the same store: the same data directory, or the same
/// PostgreSQL database when the run is against PostgreSQL.
async fn restart(
    dir: tempfile::TempDir,
    config: &str,
    database: Option<signalbox_store::testing::TestDatabase>,
) -> Result<TestApp, String> {
    let config_path = dir.path().join("signalbox.toml");
    std::fs::write(&config_path, config).unwrap();
    let (store, database) = match database {
        Some(database) => (signalbox_store::Store::open_postgres(&database.url).unwrap(), Some(database)),
        None => common::test_store(&dir.path().join("data")),
    };
    let runtime = load_runtime(&store, Some(&config_path), None, monday_night(), Arc::default())
        .await
        .map_err(|e| format!("{e:#}"))?;
    let state = AppState::new(store, runtime, Some(config_path.clone()), None, Some(metrics_handle()))
        .with_fixed_clock(monday_night());
    let router = app(state.clone());
    Ok(TestApp { state, router, dir, config_path, database })
}

/// The dry-run decision for the night train (production, us-south, 04:00-05:00Z).
async fn decide(app: &TestApp) -> Value {
    let (status, body) = app.post("/v1/evaluate", "viewer", json!({ "train": night_train("CHG1000001") })).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn freeze_message(decision: &Value) -> Option<String> {
    decision["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["policy"] == "scheduling.change_freeze")
        .map(|f| f["message"].as_str().unwrap().to_string())
}

async fn calendar_of_readyz(app: &TestApp) -> Value {
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 200, "a stale calendar leaves the server ready: {body}");
    body["calendars"][0].clone()
}

#[tokio::test]
async fn a_freeze_added_to_the_feed_turns_a_production_train_from_approved_to_manual_after_one_refresh() {
    let feed = Feed::start(Answer::Calendar(ics(&[LATER])));
    let app = start(tempfile::tempdir().unwrap(), &config_with_calendar(&feed.url, "15m")).await.unwrap();

    let submitted = app.submit(&night_train("CHG1000001")).await;
    assert_eq!(submitted["state"], "approved", "{submitted}");
    let before = submitted["decision"]["policy_revision"].as_str().unwrap().to_string();

    feed.set(Answer::Calendar(ics(&[LATER, EMERGENCY])));
    // Not yet refreshed: the feed's change is not in force.
    assert_eq!(decide(&app).await["outcome"], "approved");
    let refreshed = refresh_now(&app.state, true).await.unwrap();
    assert!(refreshed.changed);

    let mut train = night_train("CHG1000002");
    train["title"] = json!("the same train, submitted after the refresh");
    let view = app.submit(&train).await;
    assert_eq!(view["state"], "pending", "{view}");
    assert_eq!(view["decision"]["outcome"], "manual");
    assert_eq!(
        freeze_message(&view["decision"]).as_deref(),
        Some("there is a scheduled change freeze (Emergency DB freeze) and no exception justification supplied")
    );
    let after = view["decision"]["policy_revision"].as_str().unwrap();
    assert_ne!(after, before, "imported freezes are decision inputs: the revision changes");
    assert_eq!(after, refreshed.new_revision);

    // Audited, with what was added.
    let (_, audit) = app.get("/v1/audit", "viewer").await;
    let entry =
        audit["entries"].as_array().unwrap().iter().find(|e| e["action"] == "calendar.refresh").unwrap().clone();
    assert_eq!(
        entry["detail"]["calendars"]["ops"]["freezes_added"],
        json!([{ "name": "Emergency DB freeze", "start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z" }])
    );
    assert_eq!(entry["detail"]["calendars"]["ops"]["freezes_removed"], json!([]));

    // A refresh that finds nothing new changes nothing and audits nothing.
    let again = refresh_now(&app.state, true).await.unwrap();
    assert!(!again.changed);
    assert_eq!(again.new_revision, after);
}

#[tokio::test]
async fn a_feed_that_goes_down_keeps_its_last_good_copy_across_a_restart_and_comes_back() {
    let feed = Feed::start(Answer::Calendar(ics(&[EMERGENCY])));
    let config = config_with_calendar(&feed.url, "15m");
    let app = start(tempfile::tempdir().unwrap(), &config).await.unwrap();
    assert_eq!(decide(&app).await["outcome"], "manual");
    assert_eq!(calendar_of_readyz(&app).await["state"], "ok");

    // Down: the freeze stays in force, readyz and the metrics name the calendar.
    feed.set(Answer::Status(503));
    assert!(!refresh_now(&app.state, true).await.unwrap().changed);
    let message = freeze_message(&decide(&app).await).unwrap();
    assert!(message.contains("Emergency DB freeze"), "{message}");
    let ready = calendar_of_readyz(&app).await;
    assert_eq!((ready["name"].as_str(), ready["state"].as_str()), (Some("ops"), Some("stale")), "{ready}");
    assert!(ready["last_error"].as_str().unwrap().contains("503"), "{ready}");
    assert_eq!(ready["fetched_at"], "2026-11-23T03:00:00Z");
    let (_, metrics) = app.call(Method::GET, "/metrics", None, None).await;
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("signalbox_calendar_errors_total{calendar=\"ops\"}"), "{metrics}");
    assert!(metrics.contains("signalbox_calendar_age_seconds{calendar=\"ops\"}"), "{metrics}");
    assert!(metrics.contains("signalbox_calendar_up{calendar=\"ops\"} 0"), "{metrics}");

    // Broken content is no better than no content.
    feed.set(Answer::Calendar("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:tomorrow\r\n".into()));
    assert!(!refresh_now(&app.state, true).await.unwrap().changed);
    assert!(freeze_message(&decide(&app).await).is_some());
    assert!(calendar_of_readyz(&app).await["last_error"].as_str().unwrap().contains("line"));

    // Restart while the feed is down: the stored copy is used.
    feed.set(Answer::Status(503));
    let TestApp { state, router, dir, database, .. } = app;
    state.store.shutdown();
    drop((state, router));
    let app = restart(dir, &config, database).await.unwrap();
    let message = freeze_message(&decide(&app).await).unwrap();
    assert!(message.contains("Emergency DB freeze"), "after a restart: {message}");
    assert_eq!(calendar_of_readyz(&app).await["state"], "stale");

    // Back, without the freeze: approved again, and audited as removed.
    feed.set(Answer::Calendar(ics(&[LATER])));
    assert!(refresh_now(&app.state, true).await.unwrap().changed);
    assert_eq!(decide(&app).await["outcome"], "approved");
    let ready = calendar_of_readyz(&app).await;
    assert_eq!((ready["state"].as_str(), &ready["last_error"]), (Some("ok"), &Value::Null));
    let (_, audit) = app.get("/v1/audit", "viewer").await;
    let entry =
        audit["entries"].as_array().unwrap().iter().find(|e| e["action"] == "calendar.refresh").unwrap().clone();
    assert_eq!(entry["detail"]["calendars"]["ops"]["freezes_removed"][0]["name"], "Emergency DB freeze");
    assert_eq!(entry["detail"]["calendars"]["ops"]["freezes_added"][0]["name"], "Later freeze");
}

#[tokio::test]
async fn a_calendar_never_read_stops_the_start_naming_it() {
    let feed = Feed::start(Answer::Status(503));
    let error = start(tempfile::tempdir().unwrap(), &config_with_calendar(&feed.url, "15m")).await.err().unwrap();
    assert!(error.contains("calendar `ops`") && error.contains("never been read") && error.contains("503"), "{error}");
}

#[tokio::test]
async fn a_configuration_with_calendars_is_not_loaded_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signalbox.toml");
    std::fs::write(&path, config_with_calendar("ops.ics", "15m")).unwrap();
    let error = signalbox_server::runtime::Runtime::load(Some(&path), None).unwrap_err().to_string();
    assert!(error.contains("calendars") && error.contains("`ops`"), "{error}");
}

#[tokio::test]
async fn reload_reads_a_file_calendar_again_and_audits_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let file = |events: &[(&str, &str, &str)], dir: &Path| {
        std::fs::create_dir_all(dir.join("calendars")).unwrap();
        std::fs::write(dir.join("calendars/ops.ics"), ics(events)).unwrap();
    };
    file(&[LATER], dir.path());
    // Relative to the configuration file's folder.
    let app = start(dir, &config_with_calendar("calendars/ops.ics", "15m")).await.unwrap();
    assert_eq!(decide(&app).await["outcome"], "approved");

    file(&[LATER, EMERGENCY], app.dir.path());
    let (status, body) = app.call(Method::POST, "/v1/admin/reload", Some("conductor"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["old_revision"], body["new_revision"]);
    assert!(freeze_message(&decide(&app).await).unwrap().contains("Emergency DB freeze"));
    let (_, audit) = app.get("/v1/audit", "viewer").await;
    let entry = audit["entries"].as_array().unwrap().iter().find(|e| e["action"] == "reload").unwrap().clone();
    assert_eq!(entry["detail"]["calendars"]["ops"]["freezes_added"][0]["name"], "Emergency DB freeze");

    // A calendar file gone at reload keeps its copy; the reload goes through.
    std::fs::remove_file(app.dir.path().join("calendars/ops.ics")).unwrap();
    let (status, body) = app.call(Method::POST, "/v1/admin/reload", Some("conductor"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(freeze_message(&decide(&app).await).is_some());
    assert_eq!(calendar_of_readyz(&app).await["state"], "stale");
}

#[tokio::test]
async fn the_background_refresh_picks_up_a_change_within_its_period() {
    let feed = Feed::start(Answer::Calendar(ics(&[LATER])));
    let app = start(tempfile::tempdir().unwrap(), &config_with_calendar(&feed.url, "1s")).await.unwrap();
    assert_eq!(decide(&app).await["outcome"], "approved");
    feed.set(Answer::Calendar(ics(&[LATER, EMERGENCY])));
    let task = tokio::spawn(refresh_periodically(app.state.clone()));
    // Bounded wait on the observable condition: the freeze in force.
    let deadline = Instant::now() + Duration::from_secs(30);
    while decide(&app).await["outcome"] != "manual" {
        assert!(Instant::now() < deadline, "the refresh did not happen within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}

#[tokio::test]
async fn an_imported_holiday_closes_a_regions_business_hours() {
    let dir = tempfile::tempdir().unwrap();
    // Monday 23 November 2026, all day, as a holiday of us-south.
    let holiday = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:h@test\r\nDTSTART;VALUE=DATE:20261123\r\nDTEND;VALUE=DATE:20261124\r\nSUMMARY:Company holiday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    std::fs::write(dir.path().join("holidays.ics"), holiday).unwrap();
    let config = format!(
        "{}\n[[calendars]]\nname = \"us-holidays\"\nsource = \"holidays.ics\"\nkind = \"holidays\"\nregions = [\"us-south\"]\n",
        config_text(None)
    );
    let app = start(dir, &config).await.unwrap();
    // 15:00-16:00Z is 09:00-10:00 CST: inside business hours on any other Monday.
    let (status, decision) =
        app.post("/v1/evaluate", "viewer", json!({ "train": common::day_train("CHG1000003") })).await;
    assert_eq!(status, 200, "{decision}");
    assert_eq!(decision["outcome"], "approved", "{decision}");

    // The same without the calendar: business hours hold it.
    let plain = TestApp::new();
    let (_, decision) = plain.post("/v1/evaluate", "viewer", json!({ "train": common::day_train("CHG1000003") })).await;
    assert_eq!(decision["findings"][0]["policy"], "global.business_hours", "{decision}");
}
