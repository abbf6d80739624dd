//! A realistic configuration and workload for Signalbox's benchmarks and load tools.
//!
//! [`Realistic::new`] builds, from a seed and a base instant `now`, what a large
//! installation holds: 30 regions in many IANA zones (their own business hours
//! and holidays), 50 freezes (six of them in the next two weeks), 1,000 SLAs
//! over 400 squads, 100 exceptions live from just before `now` for five hours,
//! and 10,000 recorded stage deployments. [`Realistic::cases`] then makes trains,
//! with the state and the instant each is decided at, aimed at a spread of
//! results: about 30 % approved, about half failing exactly one policy (each of
//! the seven in turn), the rest failing several. When an evaluator is given,
//! every case is checked against it (before exceptions) and regenerated until it
//! fails exactly the policies it was aimed at, so the spread is what it says.
//!
//! Everything is deterministic for a seed: the same seed and `now` give the same
//! configuration text, state and trains (the decision benchmark, the OPA
//! comparison and the load generator all rely on that).

// Benchmark tooling: a broken setup should stop the run loudly, and picks index
// ranges they have just checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use serde_json::json;
use signalbox_core::{
    Config, Decision, Evaluator, Exception, Hold, Outcome, StageDeployment, Stop, Train, TrainContext, TrainState,
};
use signalbox_store::{NewAudit, NewException, Store, StoreError, TrainRecord};

/// Policy paths in the shipped manifest's priority order; a case's mask has bit
/// `i` set when `POLICIES[i]` fails.
pub const POLICIES: [&str; 7] = [
    "scheduling.start_time",
    "global.cie",
    "scheduling.change_freeze",
    "global.business_hours",
    "global.stage_bake",
    "global.on_hold",
    "global.sla",
];
const START: u8 = 0;
const CIE: u8 = 1;
const FREEZE: u8 = 2;
const HOURS: u8 = 3;
const BAKE: u8 = 4;
const HOLD: u8 = 5;
const SLA: u8 = 6;

/// Bearer tokens of the benchmark configuration (their SHA-256 is in the file).
pub const PIPELINE_TOKEN: &str = "bench-pipeline-token";
pub const CONDUCTOR_TOKEN: &str = "bench-conductor-token";
pub const INCIDENT_TOKEN: &str = "bench-incident-token";
pub const VIEWER_TOKEN: &str = "bench-viewer-token";

/// The instant the in-process benchmarks decide around: Monday 2027-03-15 10:00Z.
pub fn bench_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 15, 10, 0, 0).single().expect("a valid instant")
}

/// The shipped `policies/` directory of this repository.
pub fn shipped_policies_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    dir.canonicalize().unwrap_or(dir)
}

/// Reads the shipped policies and prepares an evaluator for `config`.
pub fn evaluator(policies_dir: &Path, config: &Config) -> Result<Evaluator> {
    let set = signalbox_server::policies::read_dir(policies_dir)?;
    Evaluator::new(set, config.clone()).context("preparing the evaluator")
}

// ---- a small deterministic random number generator --------------------------

/// SplitMix64: tiny, fast, and the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below(u64::try_from(hi - lo).unwrap_or(1)) as i64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
}

// ---- the configuration -------------------------------------------------------

struct RegionSpec {
    name: &'static str,
    timezone: &'static str,
    /// Own business hours (days, start, end), or the default Mon-Fri 08:00-18:00.
    hours: Option<(&'static str, &'static str, &'static str)>,
}

const fn region(name: &'static str, timezone: &'static str) -> RegionSpec {
    RegionSpec { name, timezone, hours: None }
}

const fn region_with(
    name: &'static str,
    timezone: &'static str,
    hours: (&'static str, &'static str, &'static str),
) -> RegionSpec {
    RegionSpec { name, timezone, hours: Some(hours) }
}

const WEEKDAYS: &str = r#"["mon", "tue", "wed", "thu", "fri"]"#;

/// 30 regions over 27 time zones, with half-hour and 45-minute offsets, both
/// hemispheres' daylight-saving rules, and Sunday-Thursday and Sunday-Friday weeks.
const REGIONS: [RegionSpec; 30] = [
    region("us-south", "America/Chicago"),
    region("us-east", "America/New_York"),
    region("us-west", "America/Los_Angeles"),
    region("us-mtn", "America/Denver"),
    region("us-phx", "America/Phoenix"),
    region_with("us-hnl", "Pacific/Honolulu", (WEEKDAYS, "09:00", "17:00")),
    region("ca-tor", "America/Toronto"),
    region("ca-van", "America/Vancouver"),
    region("mx-qro", "America/Mexico_City"),
    region("br-sao", "America/Sao_Paulo"),
    region("ar-bue", "America/Argentina/Buenos_Aires"),
    region("cl-scl", "America/Santiago"),
    region("eu-gb", "Europe/London"),
    region("eu-ie", "Europe/Dublin"),
    region("eu-de", "Europe/Berlin"),
    region("eu-fr", "Europe/Paris"),
    region_with("eu-es", "Europe/Madrid", (WEEKDAYS, "09:00", "19:00")),
    region("eu-it", "Europe/Rome"),
    region("eu-fi", "Europe/Helsinki"),
    region("tr-ist", "Europe/Istanbul"),
    region("za-jnb", "Africa/Johannesburg"),
    region_with("sa-ruh", "Asia/Riyadh", (r#"["sun", "mon", "tue", "wed", "thu"]"#, "08:00", "17:00")),
    region_with("in-che", "Asia/Kolkata", (WEEKDAYS, "09:30", "18:30")),
    region_with("np-ktm", "Asia/Kathmandu", (r#"["sun", "mon", "tue", "wed", "thu", "fri"]"#, "10:00", "17:00")),
    region("sg-sin", "Asia/Singapore"),
    region_with("jp-tok", "Asia/Tokyo", (WEEKDAYS, "09:00", "18:00")),
    region("kr-seo", "Asia/Seoul"),
    region("au-syd", "Australia/Sydney"),
    region("au-adl", "Australia/Adelaide"),
    region("nz-akl", "Pacific/Auckland"),
];

/// European regions: a weekday window at 13:00-16:00Z is inside their business hours.
const EUROPE: [&str; 7] = ["eu-gb", "eu-ie", "eu-de", "eu-fr", "eu-es", "eu-it", "eu-fi"];

const SERVICES: [&str; 12] = [
    "api",
    "worker",
    "ui",
    "db-operator",
    "ingress",
    "auth",
    "billing",
    "search",
    "scheduler",
    "metrics",
    "auto-update",
    "cbr-subnet",
];

const SQUADS: usize = 500;
/// Squads `0..SLA_SQUADS` have SLAs; the others have none.
const SLA_SQUADS: usize = 400;
const SLAS: usize = 1_000;
const FREEZES: usize = 50;
const EXCEPTIONS: usize = 100;
const STAGE_DEPLOYMENTS: usize = 10_000;
const CONFIGURATION_ITEMS: u64 = 100;

#[derive(Debug, Clone)]
struct FreezeSpec {
    name: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    environments: Option<Vec<&'static str>>,
    regions: Option<Vec<&'static str>>,
}

impl FreezeSpec {
    fn covers_env(&self, env: &str) -> bool {
        self.environments.as_ref().is_none_or(|e| e.contains(&env))
    }

    fn region_list(&self) -> Vec<&'static str> {
        self.regions.clone().unwrap_or_else(|| REGIONS.iter().map(|r| r.name).collect())
    }
}

#[derive(Debug, Clone)]
struct SlaSpec {
    squad: usize,
    service: Option<&'static str>,
    environments: Option<Vec<&'static str>>,
}

/// The configuration, the state and the catalogue trains are drawn from.
pub struct Realistic {
    /// The base instant: trains are decided within four hours after it.
    pub now: DateTime<Utc>,
    /// `signalbox.toml` as written (without `[server]`; see [`Realistic::config_toml`]).
    pub config_text: String,
    pub config: Config,
    /// 10,000 completed stage trains.
    pub stage_deployments: Vec<StageDeployment>,
    /// 100 exceptions, live over `[now - 1h, now + 5h)` at least.
    pub exceptions: Vec<Exception>,
    squad_services: Vec<Vec<&'static str>>,
    slas: Vec<SlaSpec>,
    /// The next two Saturdays at 00:00Z, at least a day after `now`.
    saturdays: [DateTime<Utc>; 2],
    near_freezes: Vec<FreezeSpec>,
    /// Stage deployments by (squad, service), oldest first.
    stage_index: HashMap<(String, String), Vec<usize>>,
}

fn squad_name(i: usize) -> String {
    format!("squad-{i:03}")
}

fn day_start(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_time(NaiveTime::MIN).single().unwrap_or(at)
}

fn toml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

impl Realistic {
    pub fn new(now: DateTime<Utc>, seed: u64) -> Result<Realistic> {
        let mut rng = Rng::new(seed);
        let squad_services: Vec<Vec<&'static str>> = (0..SQUADS)
            .map(|_| {
                let mut services: Vec<&'static str> = Vec::new();
                let n = 1 + rng.index(4);
                while services.len() < n {
                    let s = *rng.pick(&SERVICES);
                    if !services.contains(&s) {
                        services.push(s);
                    }
                }
                services
            })
            .collect();

        // 1,000 SLAs: three for squads 0..200, two for 200..400.
        let mut slas = Vec::with_capacity(SLAS);
        for (squad, services) in squad_services.iter().enumerate().take(SLA_SQUADS) {
            let count = if squad < 200 { 3 } else { 2 };
            for k in 0..count {
                let service = if k == 0 && rng.chance(0.5) { None } else { Some(*rng.pick(services)) };
                let environments = match rng.below(10) {
                    0..=3 => None,
                    4..=7 => Some(vec!["production"]),
                    _ => Some(vec!["stage"]),
                };
                slas.push(SlaSpec { squad, service, environments });
            }
        }

        // The next two Saturdays, at least a day away.
        let mut saturday = day_start(now + Duration::days(1));
        while saturday.weekday() != Weekday::Sat || saturday < now + Duration::days(1) {
            saturday += Duration::days(1);
        }
        let saturdays = [saturday, saturday + Duration::days(7)];
        let [s1, s2] = saturdays;
        let near =
            |name: &str, start, end, environments: Option<Vec<&'static str>>, regions: Option<Vec<&'static str>>| {
                FreezeSpec { name: name.to_string(), start, end, environments, regions }
            };
        let near_freezes = vec![
            near(
                "near-0",
                s1 - Duration::days(1),
                s1 + Duration::days(2),
                Some(vec!["production"]),
                Some(vec!["eu-de", "eu-fr", "us-east"]),
            ),
            near("near-1", s2 + Duration::days(2), s2 + Duration::days(4), Some(vec!["production"]), None),
            near(
                "near-2",
                s1 - Duration::days(4),
                s1 - Duration::days(2),
                None,
                Some(vec!["jp-tok", "kr-seo", "sg-sin"]),
            ),
            near("near-3", s2, s2 + Duration::days(1), Some(vec!["production"]), Some(vec!["br-sao", "ar-bue"])),
            near("near-4", s1 + Duration::days(3), s1 + Duration::days(5), Some(vec!["stage"]), None),
            near(
                "near-5",
                s2 - Duration::days(3),
                s2 - Duration::days(1),
                Some(vec!["production"]),
                Some(vec!["in-che", "np-ktm", "sa-ruh"]),
            ),
        ];
        let mut freezes = near_freezes.clone();
        let today = day_start(now);
        for i in 0..FREEZES - near_freezes.len() {
            let (start, length) = if i < 14 {
                (today - Duration::days(rng.range(20, 300)), Duration::days(rng.range(1, 8)))
            } else {
                (today + Duration::days(rng.range(16, 366)), Duration::days(rng.range(1, 11)))
            };
            let environments = match rng.below(10) {
                0..=5 => Some(vec!["production"]),
                6 => Some(vec!["stage"]),
                _ => None,
            };
            let regions = if rng.chance(0.4) {
                None
            } else {
                let mut list: Vec<&'static str> = Vec::new();
                for _ in 0..1 + rng.index(4) {
                    let r = rng.pick(&REGIONS).name;
                    if !list.contains(&r) {
                        list.push(r);
                    }
                }
                Some(list)
            };
            freezes.push(FreezeSpec {
                name: format!("freeze-{i:02}"),
                start,
                end: start + length,
                environments,
                regions,
            });
        }

        let config_text = render_config(&mut rng, now, &freezes, &slas);
        let config = Config::from_toml(&config_text, "benchmark configuration")
            .map_err(|e| anyhow::anyhow!("the generated configuration is invalid: {e}"))?;

        let mut stage_deployments = Vec::with_capacity(STAGE_DEPLOYMENTS);
        for i in 0..STAGE_DEPLOYMENTS {
            let squad = rng.index(SQUADS);
            let service = *rng.pick(&squad_services[squad]);
            stage_deployments.push(StageDeployment {
                train_id: format!("STG{i:07}"),
                squad: squad_name(squad),
                service: service.to_string(),
                version: Some(format!("{:07x}", rng.below(1 << 28))),
                completed_at: now - Duration::seconds(rng.range(3_600, 30 * 86_400)),
            });
        }
        stage_deployments.sort_by_key(|d| d.completed_at);
        let mut stage_index: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, d) in stage_deployments.iter().enumerate() {
            stage_index.entry((d.squad.clone(), d.service.clone())).or_default().push(i);
        }

        let exceptionable = &POLICIES[1..];
        let exceptions = (0..EXCEPTIONS)
            .map(|i| {
                let squad = rng.index(SQUADS);
                let with_squad = rng.chance(0.5);
                let created_at = now - Duration::seconds(rng.range(0, 3_600));
                Exception {
                    id: format!("exc_{}", i + 1),
                    result: match rng.below(20) {
                        0..=13 => Outcome::Approved,
                        14..=18 => Outcome::Manual,
                        _ => Outcome::Rejected,
                    },
                    policy: rng.pick(exceptionable).to_string(),
                    configuration_item: (rng.chance(0.7) || !with_squad)
                        .then(|| format!("ci-{:03}", rng.below(CONFIGURATION_ITEMS))),
                    squad: with_squad.then(|| squad_name(squad)),
                    service: (with_squad && rng.chance(0.4)).then(|| rng.pick(&squad_services[squad]).to_string()),
                    justification: format!("approved in RFC-{}", 1000 + i),
                    created_by: "U024BE7LH".into(),
                    created_at,
                    expires_at: created_at + Duration::hours(6),
                }
            })
            .collect();

        Ok(Realistic {
            now,
            config_text,
            config,
            stage_deployments,
            exceptions,
            squad_services,
            slas,
            saturdays,
            near_freezes,
            stage_index,
        })
    }

    /// The whole `signalbox.toml` for a server: `[server]` with `policies_dir`
    /// (absolute) and the benchmark tokens, then the generated configuration.
    pub fn config_toml(&self, policies_dir: &Path) -> String {
        let sha = signalbox_server::auth::sha256_hex;
        let mut text = format!(
            "environments = [\"stage\", \"production\"]\n\n[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\npolicies_dir = {:?}\n",
            policies_dir.display().to_string()
        );
        for (name, role, token) in [
            ("deploy-bot", "pipeline", PIPELINE_TOKEN),
            ("oncall", "conductor", CONDUCTOR_TOKEN),
            ("incident-bot", "incident", INCIDENT_TOKEN),
            ("dashboard", "viewer", VIEWER_TOKEN),
        ] {
            text.push_str(&format!("\n[[auth.tokens]]\nname = {name:?}\nrole = {role:?}\nsha256 = {:?}\n", sha(token)));
        }
        // The generated text starts with its own `environments` line; drop it.
        let body = self.config_text.split_once('\n').map_or("", |(_, rest)| rest);
        text.push_str(body);
        text
    }

    /// The latest stage deployment of the train's squad and service (and version,
    /// if it names one) completed by `at`: what the store would look up.
    pub fn latest_stage(&self, train: &Train, at: DateTime<Utc>) -> Option<StageDeployment> {
        let list = self.stage_index.get(&(train.squad.clone(), train.service.clone()))?;
        list.iter()
            .rev()
            .map(|&i| &self.stage_deployments[i])
            .filter(|d| d.completed_at <= at)
            .find(|d| train.version.is_none() || d.version == train.version)
            .cloned()
    }

    /// Whether an SLA covers the squad's service in `env`.
    fn sla_covers(&self, squad: usize, service: &str, env: &str) -> bool {
        self.slas.iter().any(|s| {
            s.squad == squad
                && s.service.is_none_or(|x| x == service)
                && s.environments.as_ref().is_none_or(|e| e.contains(&env))
        })
    }

    /// `n` cases aimed at the spread (see the module docs), ids `CHG<first_id + i>`.
    /// With an evaluator, each is regenerated until its policies (before
    /// exceptions) fail exactly as aimed, up to 200 tries.
    pub fn cases(&self, evaluator: Option<&Evaluator>, n: usize, seed: u64, first_id: u64) -> Vec<Case> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|i| {
                let target = target_mask(&mut rng);
                let id = format!("CHG{:07}", first_id + i as u64);
                let mut case = self.candidate(&mut rng, target, &id);
                if let Some(evaluator) = evaluator {
                    for _ in 0..200 {
                        case.mask = failing_mask(evaluator, &case);
                        if case.mask == target {
                            break;
                        }
                        case = self.candidate(&mut rng, target, &id);
                    }
                    case.mask = failing_mask(evaluator, &case);
                }
                case
            })
            .collect()
    }

    fn regions(&self, rng: &mut Rng, count: usize, include: Option<&'static str>, exclude: &[&str]) -> Vec<String> {
        let mut list: Vec<String> = include.map(str::to_string).into_iter().collect();
        for _ in 0..40 {
            if list.len() >= count {
                break;
            }
            let r = rng.pick(&REGIONS).name;
            if !exclude.contains(&r) && !list.iter().any(|x| x == r) {
                list.push(r.to_string());
            }
        }
        if list.is_empty() {
            list.push("za-jnb".into());
        }
        list
    }

    /// A weekday (Mon-Fri) between tomorrow and `now + 13 days`, at 00:00Z.
    fn weekday(&self, rng: &mut Rng) -> DateTime<Utc> {
        loop {
            let day = day_start(self.now) + Duration::days(rng.range(1, 14));
            if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                return day;
            }
        }
    }

    /// Regions frozen (for `env`) at some point of `[start, end)`.
    fn frozen_regions(&self, env: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<&'static str> {
        self.near_freezes
            .iter()
            .filter(|f| f.covers_env(env) && f.start < end && start < f.end)
            .flat_map(FreezeSpec::region_list)
            .collect()
    }

    fn candidate(&self, rng: &mut Rng, mask: u8, id: &str) -> Case {
        let fails = |p: u8| mask & (1 << p) != 0;
        let env = if !fails(HOURS) && !fails(BAKE) && rng.chance(0.25) { "stage" } else { "production" };
        let at = self.now + Duration::seconds(rng.range(0, 4 * 3_600));
        let region_count = 1 + rng.index(3);

        // The window, and the regions that fit it.
        let (start, end, regions) = if fails(START) {
            let end = at - Duration::seconds(rng.range(300, 3 * 86_400));
            (end - Duration::minutes(rng.range(60, 240)), end, self.regions(rng, region_count, None, &[]))
        } else if fails(FREEZE) {
            let freeze = if env == "stage" {
                self.near_freezes.iter().find(|f| f.name == if rng.chance(0.5) { "near-4" } else { "near-2" })
            } else if fails(HOURS) {
                self.near_freezes.iter().find(|f| f.name == "near-1")
            } else {
                self.near_freezes.iter().find(|f| f.name == if rng.chance(0.5) { "near-0" } else { "near-3" })
            };
            let freeze = freeze.unwrap_or(&self.near_freezes[0]);
            let day = if freeze.name == "near-1" || env == "stage" {
                day_start(freeze.start) + Duration::days(rng.range(0, 2))
            } else if freeze.name == "near-0" {
                self.saturdays[0]
            } else {
                self.saturdays[1]
            };
            let start = if fails(HOURS) {
                day + Duration::minutes(13 * 60 + rng.range(0, 90))
            } else {
                day + Duration::minutes(6 * 60 + rng.range(0, 240))
            };
            let include = *rng.pick(&freeze.region_list());
            let mut regions = self.regions(rng, region_count, Some(include), &[]);
            if fails(HOURS) && !regions.iter().any(|r| EUROPE.contains(&r.as_str())) {
                regions.push(rng.pick(&EUROPE).to_string());
            }
            (start, start + Duration::minutes(rng.range(60, 150)), regions)
        } else if fails(HOURS) {
            let start = self.weekday(rng) + Duration::minutes(13 * 60 + rng.range(0, 90));
            let end = start + Duration::minutes(rng.range(60, 120));
            let frozen = self.frozen_regions(env, start, end);
            let include = *rng.pick(&EUROPE);
            (start, end, self.regions(rng, region_count, Some(include), &frozen))
        } else if env == "stage" {
            let start = self.weekday(rng) + Duration::minutes(rng.range(0, 20 * 60));
            let end = start + Duration::minutes(rng.range(30, 180));
            let frozen = self.frozen_regions(env, start, end);
            (start, end, self.regions(rng, region_count, None, &frozen))
        } else {
            let saturday = *rng.pick(&self.saturdays);
            let start = saturday + Duration::minutes(6 * 60 + rng.range(0, 240));
            let end = start + Duration::minutes(rng.range(60, 120));
            let frozen = self.frozen_regions(env, start, end);
            (start, end, self.regions(rng, region_count, None, &frozen))
        };

        // Squad and service: covered by an SLA in this environment, or not.
        let (squad, service) = if fails(SLA) {
            let mut pick = None;
            if rng.chance(0.3) {
                for _ in 0..20 {
                    let squad = rng.index(SLA_SQUADS);
                    let service = *rng.pick(&self.squad_services[squad]);
                    if !self.sla_covers(squad, service, env) {
                        pick = Some((squad, service));
                        break;
                    }
                }
            }
            pick.unwrap_or_else(|| {
                let squad = SLA_SQUADS + rng.index(SQUADS - SLA_SQUADS);
                (squad, *rng.pick(&self.squad_services[squad]))
            })
        } else {
            loop {
                let sla = rng.pick(&self.slas);
                if sla.environments.as_ref().is_none_or(|e| e.contains(&env)) {
                    break (sla.squad, sla.service.unwrap_or_else(|| *rng.pick(&self.squad_services[sla.squad])));
                }
            }
        };

        let mut train = Train {
            id: id.to_string(),
            squad: squad_name(squad),
            service: service.to_string(),
            configuration_item: format!("ci-{:03}", rng.below(CONFIGURATION_ITEMS)),
            environment: env.to_string(),
            regions,
            title: format!("Deploy {service} ({:06x} to {:06x})", rng.below(1 << 24), rng.below(1 << 24)),
            version: None,
            planned_start: start,
            planned_end: end,
            exception_justification: match rng.below(20) {
                0..=7 => Some(format!("CHG approved in RFC-{}", rng.range(100, 999))),
                8 => Some("   ".into()),
                _ => None,
            },
            crb_approved: rng.chance(0.3),
            stage_deployed_at: None,
        };

        // Stage evidence: baked (recorded, or reported) or not.
        let effective_start = start.max(at);
        let baked_by = effective_start - Duration::hours(25);
        if fails(BAKE) {
            train.version = Some(format!("unreleased-{:05x}", rng.below(1 << 20)));
            if rng.chance(0.5) {
                train.stage_deployed_at = Some(effective_start - Duration::minutes(rng.range(60, 20 * 60)));
            }
        } else {
            let candidates: Vec<&StageDeployment> = self
                .stage_index
                .get(&(train.squad.clone(), train.service.clone()))
                .map(|list| {
                    list.iter().map(|&i| &self.stage_deployments[i]).filter(|d| d.completed_at <= baked_by).collect()
                })
                .unwrap_or_default();
            if candidates.is_empty() || rng.chance(0.1) {
                train.version = Some(format!("reported-{:05x}", rng.below(1 << 20)));
                train.stage_deployed_at = Some(baked_by - Duration::hours(rng.range(0, 72)));
            } else {
                let d = rng.pick(&candidates);
                train.version = d.version.clone();
                if rng.chance(0.3) {
                    // Any version: fine if the latest of the service is baked too.
                    let mut any = train.clone();
                    any.version = None;
                    if self.latest_stage(&any, at).is_some_and(|l| l.completed_at <= baked_by) {
                        train.version = None;
                    }
                }
            }
        }
        let stage = self.latest_stage(&train, at);

        // Stops: one that covers the train, or (sometimes) some that do not.
        let mut stops = Vec::new();
        let stop = |n: usize, scope: String| Stop {
            id: format!("stop_{n}"),
            message: format!("CIE {}: {scope} ingress down", 4000 + n),
            scope,
            created_by: "incident-bot".into(),
            created_at: at - Duration::minutes(20),
        };
        if fails(CIE) {
            let scope = match rng.below(10) {
                0..=2 => "all".to_string(),
                3..=4 => env.to_string(),
                _ => rng.pick(&train.regions).clone(),
            };
            stops.push(stop(1, scope));
        }
        if rng.chance(0.3) {
            for _ in 0..1 + rng.index(2) {
                let r = rng.pick(&REGIONS).name;
                if !train.regions.iter().any(|x| x == r) {
                    stops.push(stop(stops.len() + 1, r.to_string()));
                }
            }
        }
        let hold = fails(HOLD).then(|| Hold {
            train_id: id.to_string(),
            by: "U024BE7LH".into(),
            reason: "waiting on the DB team".into(),
            at: at - Duration::minutes(30),
        });
        Case { train, at, stops, hold, stage, target: mask, mask }
    }
}

fn render_config(rng: &mut Rng, now: DateTime<Utc>, freezes: &[FreezeSpec], slas: &[SlaSpec]) -> String {
    let mut t = String::from("environments = [\"stage\", \"production\"]\n\n");
    t.push_str(
        "[business_hours]\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\nstart = \"08:00\"\nend = \"18:00\"\n",
    );
    for r in &REGIONS {
        t.push_str(&format!("\n[regions.{}]\ntimezone = {:?}\n", r.name, r.timezone));
        if let Some((days, start, end)) = r.hours {
            t.push_str(&format!("business_hours = {{ days = {days}, start = {start:?}, end = {end:?} }}\n"));
        }
        let mut holidays: Vec<String> = (0..3 + rng.index(4))
            .map(|_| (day_start(now) + Duration::days(rng.range(-30, 330))).format("%Y-%m-%d").to_string())
            .collect();
        holidays.sort();
        holidays.dedup();
        let refs: Vec<&str> = holidays.iter().map(String::as_str).collect();
        t.push_str(&format!("holidays = {}\n", toml_list(&refs)));
    }
    for f in freezes {
        t.push_str(&format!(
            "\n[[freezes]]\nname = {:?}\nstart = {:?}\nend = {:?}\nreason = \"{} change freeze\"\n",
            f.name,
            f.start.to_rfc3339(),
            f.end.to_rfc3339(),
            f.name
        ));
        if let Some(envs) = &f.environments {
            t.push_str(&format!("environments = {}\n", toml_list(envs)));
        }
        if let Some(regions) = &f.regions {
            t.push_str(&format!("regions = {}\n", toml_list(regions)));
        }
    }
    for s in slas {
        t.push_str(&format!("\n[[slas]]\nsquad = {:?}\n", squad_name(s.squad)));
        if let Some(service) = s.service {
            t.push_str(&format!("service = {service:?}\n"));
        }
        if let Some(envs) = &s.environments {
            t.push_str(&format!("environments = {}\n", toml_list(envs)));
        }
    }
    t.push_str("\n[policies]\nstage_bake = \"24h\"\nmax_exception = \"6h\"\n");
    t
}

/// One train to decide, with the state and the instant it is decided at.
#[derive(Debug, Clone)]
pub struct Case {
    pub train: Train,
    pub at: DateTime<Utc>,
    pub stops: Vec<Stop>,
    pub hold: Option<Hold>,
    /// The latest matching recorded stage deployment, as the store would find it.
    pub stage: Option<StageDeployment>,
    /// The policies the case was aimed to fail (bit `i`: `POLICIES[i]`).
    pub target: u8,
    /// The policies it does fail before exceptions (equal to `target` when verified).
    pub mask: u8,
}

impl Case {
    /// The decision's state, with the given exceptions.
    pub fn context<'a>(&'a self, exceptions: &'a [Exception]) -> TrainContext<'a> {
        TrainContext { stops: &self.stops, hold: self.hold.as_ref(), stage: self.stage.as_ref(), exceptions }
    }

    /// `approved`, the one failing policy's path, or `several`.
    pub fn label(&self) -> &'static str {
        label(self.mask)
    }
}

/// `approved`, the one failing policy's path, or `several`.
pub fn label(mask: u8) -> &'static str {
    match mask.count_ones() {
        0 => "approved",
        1 => POLICIES[mask.trailing_zeros() as usize],
        _ => "several",
    }
}

/// Every label in report order.
pub fn labels() -> Vec<&'static str> {
    std::iter::once("approved").chain(POLICIES).chain(std::iter::once("several")).collect()
}

/// How many cases fall under each label.
pub fn spread(cases: &[Case]) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for c in cases {
        *counts.entry(c.label()).or_insert(0) += 1;
    }
    counts
}

/// The spread as one line, in report order.
pub fn spread_line(cases: &[Case]) -> String {
    let counts = spread(cases);
    labels().into_iter().map(|l| format!("{l} {}", counts.get(l).copied().unwrap_or(0))).collect::<Vec<_>>().join(", ")
}

/// 30 % approved, 49 % one policy (each 7 %), 21 % several.
fn target_mask(rng: &mut Rng) -> u8 {
    let r = rng.below(100);
    if r < 30 {
        0
    } else if r < 79 {
        1 << rng.below(7)
    } else if rng.chance(0.15) {
        // A window that is over, with what can still fail then.
        let mut mask: u8 = 1 << START;
        for p in [CIE, BAKE, HOLD, SLA] {
            if rng.chance(0.5) {
                mask |= 1 << p;
            }
        }
        if mask.count_ones() < 2 {
            mask |= 1 << SLA;
        }
        mask
    } else {
        let mut mask = 0u8;
        let wanted = 2 + rng.below(3);
        while u64::from(mask.count_ones()) < wanted {
            mask |= 1 << (1 + rng.below(6));
        }
        mask
    }
}

/// The policies a case fails before exceptions, by the evaluator's own findings.
pub fn failing_mask(evaluator: &Evaluator, case: &Case) -> u8 {
    let evaluation = evaluator.evaluate(&case.train, case.context(&[]), case.at);
    evaluation
        .findings
        .iter()
        .filter_map(|f| POLICIES.iter().position(|p| *p == f.policy))
        .fold(0u8, |mask, i| mask | (1 << i))
}

// ---- latency statistics ------------------------------------------------------

/// A latency histogram in nanoseconds (1 ns to 1 hour, 3 significant digits).
pub fn histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// `p50 12.3 µs, p90 …, p99 …, max …, mean …` for a histogram in nanoseconds.
pub fn describe_us(h: &hdrhistogram::Histogram<u64>) -> String {
    let us = |ns: u64| ns as f64 / 1_000.0;
    format!(
        "mean {:.1} µs, p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, max {:.1} µs (n = {})",
        h.mean() / 1_000.0,
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.9)),
        us(h.value_at_quantile(0.99)),
        us(h.max()),
        h.len()
    )
}

// ---- the store ---------------------------------------------------------------

/// Records the 10,000 stage deployments and the 100 exceptions (ids `exc_1`…).
pub async fn seed_state(store: &Store, realistic: &Realistic) -> Result<()> {
    for chunk in realistic.stage_deployments.chunks(2_000) {
        let chunk = chunk.to_vec();
        store
            .write(move |tx| {
                for d in &chunk {
                    tx.record_stage_deployment(d)?;
                }
                Ok::<_, StoreError>(())
            })
            .await?;
    }
    let exceptions = realistic.exceptions.clone();
    store
        .write(move |tx| {
            for x in &exceptions {
                tx.insert_exception(&NewException {
                    result: x.result,
                    policy: x.policy.clone(),
                    configuration_item: x.configuration_item.clone(),
                    squad: x.squad.clone(),
                    service: x.service.clone(),
                    justification: x.justification.clone(),
                    created_by: x.created_by.clone(),
                    created_at: x.created_at,
                    expires_at: x.expires_at,
                })?;
            }
            Ok::<_, StoreError>(())
        })
        .await?;
    Ok(())
}

/// Stores trains with their decisions and audit records, as `submit` would
/// (the train's state follows its decision unless `force` gives one), and the
/// holds of the cases that have one. 1,000 trains per transaction.
pub async fn seed_trains(
    store: &Store,
    evaluator: &Evaluator,
    realistic: &Realistic,
    cases: &[Case],
    extra_stops: &[Stop],
    force: Option<TrainState>,
) -> Result<()> {
    for chunk in cases.chunks(1_000) {
        let mut records = Vec::with_capacity(chunk.len());
        for case in chunk {
            // Decided before its window ended, with the extra stops in force.
            let decided_at = case.at.min(case.train.planned_end - Duration::minutes(1));
            let mut stops = case.stops.clone();
            stops.extend_from_slice(extra_stops);
            let context = TrainContext {
                stops: &stops,
                hold: case.hold.as_ref(),
                stage: case.stage.as_ref(),
                exceptions: &realistic.exceptions,
            };
            let decision: Decision = evaluator.decide(
                &case.train,
                context,
                decided_at,
                format!("dec_seed{}", case.train.id),
                "pipeline:deploy-bot".into(),
            );
            let state = force.unwrap_or_else(|| match TrainState::after_decision(decision.outcome) {
                TrainState::Approved if case.hold.is_some() => TrainState::Pending,
                other => other,
            });
            records.push((
                TrainRecord {
                    train: case.train.clone(),
                    state,
                    decision,
                    created_at: decided_at,
                    updated_at: decided_at,
                },
                case.hold.clone(),
            ));
        }
        store
            .write(move |tx| {
                for (record, hold) in &records {
                    let id = Some(record.train.id.clone());
                    let at = record.created_at;
                    let actor = "pipeline:deploy-bot".to_string();
                    tx.append_audit(&NewAudit {
                        at,
                        actor: actor.clone(),
                        action: signalbox_store::AuditAction::Submit,
                        train_id: id.clone(),
                        detail: json!({ "train": record.train }),
                    })?;
                    tx.put_train(record)?;
                    tx.insert_decision(&record.decision)?;
                    tx.append_audit(&NewAudit {
                        at,
                        actor,
                        action: signalbox_store::AuditAction::SubmitDecision,
                        train_id: id,
                        detail: json!({ "state": record.state, "decision": record.decision }),
                    })?;
                    if let Some(hold) = hold {
                        tx.set_hold(hold)?;
                    }
                }
                Ok::<_, StoreError>(())
            })
            .await?;
    }
    Ok(())
}

/// Records a stop, as `stop trains <scope>` would (without its audit record).
pub async fn seed_stop(store: &Store, scope: &str, at: DateTime<Utc>) -> Result<Stop> {
    let scope = scope.to_string();
    Ok(store.write(move |tx| tx.insert_stop(&scope, "CIE 4321: benchmark stop", "incident:incident-bot", at)).await?)
}
