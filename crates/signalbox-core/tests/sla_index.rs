#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

//! `data.signalbox.config.sla_index` lets `global.sla` look a train up instead
//! of scanning its squad's SLAs. It must cover exactly the trains the scan
//! covers: for generated SLA tables (with and without a service, with and
//! without environments, several per squad) and trains (squads with and
//! without SLAs, services named or not, a service or environment spelt `*`,
//! an environment no SLA names), whether the policy finds "no SLA defined" with
//! the index, without it (the policy then scans `slas`), and as computed here
//! from the definition (some SLA of the squad names the service or none, and
//! names the environment or none) is the same.

mod common;

use proptest::prelude::*;
use regorus::Value;
use serde_json::{json, Value as Json};
use signalbox_core::evaluate::{build_input, config_data};
use signalbox_core::{Config, Train, TrainContext};

use common::{eval_shipped_rule, fixtures_dir};

const SQUADS: [&str; 3] = ["netint", "razee", "tugboat"];
const SERVICES: [&str; 3] = ["api", "web", "*"];
const ENVIRONMENTS: [&str; 2] = ["stage", "production"];

/// An SLA: squad, service (`None`: every service), environments (`None`: every environment).
type Sla = (usize, Option<usize>, Option<Vec<usize>>);

fn sla() -> impl Strategy<Value = Sla> {
    (
        0..SQUADS.len(),
        prop::option::of(0..2_usize),
        prop::option::of(prop::collection::vec(0..ENVIRONMENTS.len(), 1..3)),
    )
}

/// The standard configuration with its SLAs replaced by `slas`.
fn config(slas: &[Sla]) -> Config {
    let path = fixtures_dir().join("configs/standard.toml");
    let standard = std::fs::read_to_string(path).unwrap();
    // Its SLAs come together, right before `[policies]`: keep what is around them.
    let (first, policies) = (standard.find("[[slas]]").unwrap(), standard.find("[policies]").unwrap());
    let mut text = standard[..first].to_string();
    for (squad, service, environments) in slas {
        text.push_str(&format!("\n[[slas]]\nsquad = \"{}\"\n", SQUADS[*squad]));
        if let Some(service) = service {
            text.push_str(&format!("service = \"{}\"\n", SERVICES[*service]));
        }
        if let Some(environments) = environments {
            let names: Vec<String> = environments.iter().map(|e| format!("\"{}\"", ENVIRONMENTS[*e])).collect();
            text.push_str(&format!("environments = [{}]\n", names.join(", ")));
        }
    }
    text.push('\n');
    text.push_str(&standard[policies..]);
    Config::from_toml(&text, "sla_index").unwrap()
}

fn train(squad: &str, service: &str, environment: &str) -> Train {
    Train {
        id: "CHG1".into(),
        squad: squad.into(),
        service: service.into(),
        configuration_item: "ci".into(),
        environment: environment.into(),
        regions: vec!["us-south".into()],
        title: "generated".into(),
        version: None,
        planned_start: "2026-11-23T15:00:00Z".parse().unwrap(),
        planned_end: "2026-11-23T17:00:00Z".parse().unwrap(),
        exception_justification: None,
        crb_approved: false,
        stage_deployed_at: None,
    }
}

/// Whether `global.sla` finds "no SLA defined" for `input`, with `data` as the configuration.
fn no_sla(data: &Json, input: &Json) -> bool {
    let finding =
        eval_shipped_rule(&["lib/window.rego", "global/sla.rego"], data, input, "data.signalbox.global.sla.finding");
    if finding == Value::Undefined {
        return false;
    }
    assert_eq!(finding, Value::from(json!({ "outcome": "manual", "message": "no SLA defined" })));
    true
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_index_covers_the_trains_a_scan_covers(
        slas in prop::collection::vec(sla(), 0..6),
        squad in prop_oneof![(0..SQUADS.len()).prop_map(|i| SQUADS[i]), Just("ovn")],
        service in prop_oneof![(0..SERVICES.len()).prop_map(|i| SERVICES[i]), Just("cli")],
        environment in prop_oneof![(0..ENVIRONMENTS.len()).prop_map(|i| ENVIRONMENTS[i]), Just("*"), Just("qa")],
    ) {
        let config = config(&slas);
        prop_assert_eq!(config.slas.len(), slas.len());
        let covered = config.slas.iter().any(|s| {
            s.squad == squad
                && s.service.as_ref().is_none_or(|v| v == service)
                && s.environments.as_ref().is_none_or(|e| e.iter().any(|e| e == environment))
        });

        let indexed = config_data(&config);
        prop_assert!(indexed.get("sla_index").is_some());
        let mut scanned = indexed.clone();
        scanned.as_object_mut().unwrap().remove("sla_index");

        let input = build_input(&train(squad, service, environment), TrainContext::default(), "2026-11-23T15:00:00Z".parse().unwrap(), &config);
        prop_assert_eq!(no_sla(&indexed, &input), !covered, "with the index");
        prop_assert_eq!(no_sla(&scanned, &input), !covered, "scanning the SLAs");
    }
}

/// The index itself: what each SLA covers, `*` for every service or environment.
#[test]
fn slas_are_listed_under_what_they_cover() {
    // razee: `api` in stage and production; every service in production. netint: `web` everywhere.
    let data = config_data(&config(&[(1, Some(0), Some(vec![0, 1])), (1, None, Some(vec![1])), (0, Some(1), None)]));
    assert_eq!(
        data["sla_index"],
        json!({
            "razee": { "stage": { "api": true }, "production": { "api": true, "*": true } },
            "netint": { "*": { "web": true } },
        })
    );
}
