//! `signalbox.toml`: the one door configuration comes through (docs/operations.md).
//!
//! The file is parsed into raw serde structs that keep source spans, then checked
//! and turned into [`Config`]. Every error names the key and the line, and every
//! name a policy could trip over later (a time zone, a region, an environment) is
//! checked here, at load, rather than at evaluation.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::ical::ImportedCalendar;
use crate::time::{format_duration, parse_duration};

/// The configuration shipped in the binary: used when no file is given, and for
/// the regions of a file that names none.
pub const DEFAULT_CONFIG: &str = include_str!("default_config.toml");

/// An error in the configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// The file (or `built-in defaults`).
    pub origin: String,
    /// What is wrong, naming the key and the line.
    pub message: String,
}

/// Who a bearer token acts as (docs/api.md, "Authentication and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Pipeline,
    Conductor,
    Incident,
    Viewer,
    Chat,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pipeline => "pipeline",
            Role::Conductor => "conductor",
            Role::Incident => "incident",
            Role::Viewer => "viewer",
            Role::Chat => "chat",
        }
    }
}

/// A configured bearer token: only its SHA-256 is ever kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    pub name: String,
    pub role: Role,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: String,
    /// As written; relative paths are relative to the file's folder (the caller resolves them).
    pub data_dir: String,
    /// `None` means the policies built into the binary.
    pub policies_dir: Option<String>,
    /// Most connections open at once; past it the oldest idle one is closed,
    /// and when none is idle a new one is answered 503.
    pub max_connections: usize,
    /// A client must send a request's headers within this time.
    pub header_timeout: TimeDelta,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: TimeDelta,
}

/// `[store]`: where the state lives when not in the embedded SQLite of `server.data_dir`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreConfig {
    /// `postgres://…`: several replicas share this PostgreSQL database. The
    /// environment variable `SIGNALBOX_DATABASE_URL` wins over it (the caller applies it).
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatConfig {
    pub conductors: Vec<String>,
    pub slack_api_base: String,
    /// Environment name to channel.
    pub channels: BTreeMap<String, String>,
}

/// Business hours of a region: on these weekdays, from `start` to `end` local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    /// Monday = 0 … Sunday = 6.
    pub days: BTreeSet<u8>,
    /// Minutes after local midnight.
    pub start_minute: u32,
    /// Minutes after local midnight, at most 24 × 60.
    pub end_minute: u32,
}

impl BusinessHours {
    /// `08:00-18:00` as it reads in messages.
    pub fn hours_text(&self) -> String {
        let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        format!("{}-{}", hm(self.start_minute), hm(self.end_minute))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub timezone: Tz,
    pub business_hours: BusinessHours,
    pub holidays: BTreeSet<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub name: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// `None`: every environment.
    pub environments: Option<Vec<String>>,
    /// `None`: every region.
    pub regions: Option<Vec<String>>,
    pub reason: String,
}

/// What a `[[calendars]]` feed holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CalendarKind {
    /// Each event is a change freeze.
    Freeze,
    /// Each event's dates are holidays of the calendar's regions.
    Holidays,
}

impl CalendarKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarKind::Freeze => "freeze",
            CalendarKind::Holidays => "holidays",
        }
    }
}

/// A `[[calendars]]` entry: an iCalendar file or feed of freezes or holidays
/// (docs/operations.md, "Calendar feeds"). Reading it is the server's job;
/// [`crate::ical::import`] turns its text into freezes or dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarSpec {
    pub name: String,
    /// A path (relative to the configuration file's folder) or an http(s) URL, as written.
    pub source: String,
    pub kind: CalendarKind,
    /// Freezes: `None` is every environment. Always `None` for holidays.
    pub environments: Option<Vec<String>>,
    /// Freezes: `None` is every region. Holidays: the regions whose holidays these are.
    pub regions: Option<Vec<String>>,
    /// How often the source is read again.
    pub refresh: TimeDelta,
    /// Where it is in the file, for messages.
    pub line: usize,
}

impl CalendarSpec {
    /// Whether the source is fetched over HTTP rather than read from a file.
    pub fn is_url(&self) -> bool {
        let lower = self.source.to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sla {
    pub squad: String,
    /// `None`: every service of the squad.
    pub service: Option<String>,
    /// `None`: every environment.
    pub environments: Option<Vec<String>>,
}

/// A policy name as written in `[policies] environments`, with its line, so
/// that the check against the manifest can still point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEnvironments {
    pub policy: String,
    pub environments: Vec<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    pub stage_bake: TimeDelta,
    pub max_exception: TimeDelta,
    /// Wall-clock limit for evaluating one policy.
    pub evaluation_timeout: std::time::Duration,
    /// Where a policy applies; a policy not named applies everywhere.
    pub environments: Vec<PolicyEnvironments>,
}

/// The checked configuration. Build it with [`Config::from_toml`] or [`Config::defaults`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where it came from, for messages.
    pub origin: String,
    /// The text it was read from: part of the policy revision.
    pub source: String,
    pub environments: Vec<String>,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub tokens: Vec<TokenConfig>,
    pub chat: ChatConfig,
    pub regions: BTreeMap<String, Region>,
    pub freezes: Vec<Freeze>,
    pub slas: Vec<Sla>,
    pub policies: PolicySettings,
    /// `[[calendars]]` as configured.
    pub calendars: Vec<CalendarSpec>,
    /// What [`Config::with_calendars`] merged in (empty for a configuration
    /// as read from its file): part of the policy revision.
    pub imported: Vec<ImportedCalendar>,
}

impl Config {
    /// The built-in defaults.
    pub fn defaults() -> Result<Config, ConfigError> {
        Config::from_toml(DEFAULT_CONFIG, "built-in defaults")
    }

    /// Parses and checks a configuration file's text. `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError { origin: origin.to_string(), message };
        let raw: RawConfig = toml::from_str(text).map_err(|e| err(toml_error(text, &e)))?;
        let checker = Checker { text };
        checker.build(raw, origin, text).map_err(err)
    }

    /// Whether the file this came from holds no setting at all (empty, or only comments).
    pub fn is_empty_file(&self) -> bool {
        toml::from_str::<toml::Table>(&self.source).is_ok_and(|table| table.is_empty())
    }

    pub fn region_names(&self) -> Vec<&str> {
        self.regions.keys().map(String::as_str).collect()
    }

    /// The environments a policy (named by canonical path or alias) is limited to, if any.
    pub fn policy_environments(&self, names: &[&str]) -> Option<&[String]> {
        self.policies
            .environments
            .iter()
            .find(|p| names.contains(&p.policy.as_str()))
            .map(|p| p.environments.as_slice())
    }

    /// The stage bake as written, e.g. `24h`.
    pub fn stage_bake_text(&self) -> String {
        format_duration(self.policies.stage_bake)
    }

    /// The effective configuration: this one with the imported calendars'
    /// freezes added to `freezes` and their dates added to their regions'
    /// holidays. Imported freezes are [`Freeze`]s like those of the file, so
    /// policies see them the same way.
    pub fn with_calendars(&self, imported: &[ImportedCalendar]) -> Result<Config, ConfigError> {
        let err = |message: String| ConfigError { origin: self.origin.clone(), message };
        let mut merged = self.clone();
        for calendar in imported {
            let spec = self
                .calendars
                .iter()
                .find(|c| c.name == calendar.name)
                .ok_or_else(|| err(format!("calendar `{}` is not in `calendars`", calendar.name)))?;
            merged.freezes.extend(calendar.imported.freezes.iter().cloned());
            if !calendar.imported.holidays.is_empty() {
                for region in spec.regions.iter().flatten() {
                    let entry = merged.regions.get_mut(region).ok_or_else(|| {
                        err(format!("calendar `{}` names region `{region}`, which is not configured", spec.name))
                    })?;
                    entry.holidays.extend(calendar.imported.holidays.iter().copied());
                }
            }
        }
        merged.imported = imported.to_vec();
        Ok(merged)
    }

    /// A canonical text of what was imported from calendars, for the policy revision.
    pub fn imported_text(&self) -> String {
        let mut text = String::new();
        for calendar in &self.imported {
            text.push_str(&format!("calendar\t{}\n", calendar.name));
            for f in &calendar.imported.freezes {
                text.push_str(&format!(
                    "freeze\t{}\t{}\t{}\t{:?}\t{:?}\t{}\n",
                    f.name,
                    crate::time::rfc3339(f.start),
                    crate::time::rfc3339(f.end),
                    f.environments,
                    f.regions,
                    f.reason
                ));
            }
            for day in &calendar.imported.holidays {
                text.push_str(&format!("holiday\t{day}\n"));
            }
        }
        text
    }
}

// ---- raw file shape -------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    environments: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    chat: RawChat,
    business_hours: Option<RawHours>,
    regions: Option<BTreeMap<Spanned<String>, RawRegion>>,
    #[serde(default)]
    freezes: Vec<RawFreeze>,
    #[serde(default)]
    slas: Vec<RawSla>,
    #[serde(default)]
    policies: RawPolicies,
    #[serde(default)]
    calendars: Vec<RawCalendar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    name: Spanned<String>,
    source: Spanned<String>,
    kind: Spanned<String>,
    environments: Option<Vec<Spanned<String>>>,
    regions: Option<Vec<Spanned<String>>>,
    refresh: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    data_dir: Option<String>,
    policies_dir: Option<String>,
    max_connections: Option<Spanned<i64>>,
    header_timeout: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    #[serde(default)]
    tokens: Vec<RawToken>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: Spanned<String>,
    role: Role,
    sha256: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawChat {
    #[serde(default)]
    conductors: Vec<String>,
    slack_api_base: Option<String>,
    #[serde(default)]
    channels: BTreeMap<Spanned<String>, String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawHours {
    days: Vec<Spanned<String>>,
    start: Spanned<String>,
    end: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegion {
    timezone: Spanned<String>,
    business_hours: Option<RawHours>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFreeze {
    name: Spanned<String>,
    start: Spanned<String>,
    end: Spanned<String>,
    environments: Option<Vec<Spanned<String>>>,
    regions: Option<Vec<Spanned<String>>>,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    squad: Spanned<String>,
    service: Option<String>,
    environments: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicies {
    stage_bake: Option<Spanned<String>>,
    max_exception: Option<Spanned<String>>,
    evaluation_timeout: Option<Spanned<String>>,
    environments: Option<BTreeMap<Spanned<String>, Vec<Spanned<String>>>>,
}

// ---- checking --------------------------------------------------------------

/// Turns a toml error into `line N: message` with the key it was about.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => format!("line {}: {message}", line_of(text, span.start)),
        None => message.to_string(),
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |head| head.bytes().filter(|b| *b == b'\n').count() + 1)
}

struct Checker<'a> {
    text: &'a str,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Checker<'_> {
    fn at<T>(&self, spanned: &Spanned<T>) -> String {
        format!("line {}", line_of(self.text, spanned.span().start))
    }

    fn build(&self, raw: RawConfig, origin: &str, text: &str) -> Result<Config, String> {
        let environments = match &raw.environments {
            Some(list) => {
                if list.get_ref().is_empty() {
                    return Err(format!("`environments` ({}) must name at least one environment", self.at(list)));
                }
                let mut seen = BTreeSet::new();
                for env in list.get_ref() {
                    self.check_name("environments", env)?;
                    if !seen.insert(env.get_ref().clone()) {
                        return Err(format!("`environments` ({}) names `{}` twice", self.at(env), env.get_ref()));
                    }
                }
                list.get_ref().iter().map(|e| e.get_ref().clone()).collect()
            }
            None => vec!["stage".to_string(), "production".to_string()],
        };
        let known_env = |key: &str, env: &Spanned<String>| -> Result<String, String> {
            if environments.contains(env.get_ref()) {
                Ok(env.get_ref().clone())
            } else {
                Err(format!(
                    "`{key}` ({}) names environment `{}`, which is not in `environments` ({})",
                    self.at(env),
                    env.get_ref(),
                    environments.join(", ")
                ))
            }
        };

        let default_hours = match &raw.business_hours {
            Some(h) => self.hours("business_hours", h)?,
            None => BusinessHours { days: (0..5).collect(), start_minute: 8 * 60, end_minute: 18 * 60 },
        };
        let regions = match raw.regions {
            Some(regions) => self.regions(regions, &default_hours)?,
            None => default_regions(&default_hours)?,
        };
        if regions.is_empty() {
            return Err("`regions` must configure at least one region".to_string());
        }
        let known_region = |key: &str, region: &Spanned<String>| -> Result<String, String> {
            if regions.contains_key(region.get_ref()) {
                Ok(region.get_ref().clone())
            } else {
                Err(format!(
                    "`{key}` ({}) names region `{}`, which is not configured; known regions: {}",
                    self.at(region),
                    region.get_ref(),
                    regions.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            }
        };

        let mut freezes = Vec::new();
        for f in raw.freezes {
            let start = self.instant("freezes.start", &f.start)?;
            let end = self.instant("freezes.end", &f.end)?;
            if end <= start {
                return Err(format!(
                    "`freezes.end` ({}) of freeze `{}` must be after its start",
                    self.at(&f.end),
                    f.name.get_ref()
                ));
            }
            self.check_name("freezes.name", &f.name)?;
            let environments = f
                .environments
                .map(|list| list.iter().map(|e| known_env("freezes.environments", e)).collect::<Result<Vec<_>, _>>())
                .transpose()?;
            let regions = f
                .regions
                .map(|list| list.iter().map(|r| known_region("freezes.regions", r)).collect::<Result<Vec<_>, _>>())
                .transpose()?;
            freezes.push(Freeze {
                name: f.name.into_inner(),
                start,
                end,
                environments,
                regions,
                reason: f.reason.unwrap_or_default(),
            });
        }

        let mut slas = Vec::new();
        for s in raw.slas {
            self.check_name("slas.squad", &s.squad)?;
            let environments = s
                .environments
                .map(|list| list.iter().map(|e| known_env("slas.environments", e)).collect::<Result<Vec<_>, _>>())
                .transpose()?;
            slas.push(Sla { squad: s.squad.into_inner(), service: s.service.filter(|v| v != "*"), environments });
        }

        let policies = self.policies(raw.policies, &known_env)?;
        let calendars = self.calendars(raw.calendars, &known_env, &known_region)?;
        let server = self.server(raw.server)?;
        let store = self.store(raw.store)?;
        let mut tokens = Vec::new();
        for t in raw.auth.tokens {
            let hash = t.sha256.get_ref().to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "`auth.tokens.sha256` ({}) of token `{}` must be 64 hex digits (the SHA-256 of the token, never the token itself)",
                    self.at(&t.sha256),
                    t.name.get_ref()
                ));
            }
            if tokens.iter().any(|x: &TokenConfig| &x.name == t.name.get_ref()) {
                return Err(format!("`auth.tokens.name` ({}) `{}` is used twice", self.at(&t.name), t.name.get_ref()));
            }
            // One token, two entries: which role it has would depend on the order.
            if let Some(first) = tokens.iter().find(|x: &&TokenConfig| x.sha256 == hash) {
                return Err(format!(
                    "`auth.tokens.sha256` ({}) of token `{}` is the same as that of token `{}`: one token cannot be two entries",
                    self.at(&t.sha256),
                    t.name.get_ref(),
                    first.name
                ));
            }
            tokens.push(TokenConfig { name: t.name.into_inner(), role: t.role, sha256: hash });
        }
        let mut channels = BTreeMap::new();
        for (env, channel) in raw.chat.channels {
            channels.insert(known_env("chat.channels", &env)?, channel);
        }

        Ok(Config {
            origin: origin.to_string(),
            source: text.to_string(),
            environments,
            server,
            store,
            tokens,
            chat: ChatConfig {
                conductors: raw.chat.conductors,
                slack_api_base: raw.chat.slack_api_base.unwrap_or_else(|| "https://slack.com/api".to_string()),
                channels,
            },
            regions,
            freezes,
            slas,
            policies,
            calendars,
            imported: Vec::new(),
        })
    }

    fn calendars(
        &self,
        raw: Vec<RawCalendar>,
        known_env: &KnownEnv<'_>,
        known_region: &KnownEnv<'_>,
    ) -> Result<Vec<CalendarSpec>, String> {
        let mut calendars: Vec<CalendarSpec> = Vec::new();
        for c in raw {
            self.check_name("calendars.name", &c.name)?;
            let name = c.name.get_ref().clone();
            if calendars.iter().any(|x| x.name == name) {
                return Err(format!("`calendars.name` ({}) `{name}` is used twice", self.at(&c.name)));
            }
            self.check_name("calendars.source", &c.source)?;
            let kind = match c.kind.get_ref().as_str() {
                "freeze" => CalendarKind::Freeze,
                "holidays" => CalendarKind::Holidays,
                other => {
                    return Err(format!(
                        "`calendars.kind` ({}) of calendar `{name}` must be `freeze` or `holidays`, found `{other}`",
                        self.at(&c.kind)
                    ))
                }
            };
            let environments = c
                .environments
                .as_ref()
                .map(|list| list.iter().map(|e| known_env("calendars.environments", e)).collect::<Result<Vec<_>, _>>())
                .transpose()?;
            let regions = c
                .regions
                .as_ref()
                .map(|list| list.iter().map(|r| known_region("calendars.regions", r)).collect::<Result<Vec<_>, _>>())
                .transpose()?;
            if kind == CalendarKind::Holidays {
                if let Some(first) = c.environments.as_ref().and_then(|l| l.first()) {
                    return Err(format!(
                        "`calendars.environments` ({}) of calendar `{name}`: holidays belong to regions, not environments",
                        self.at(first)
                    ));
                }
                if regions.as_ref().is_none_or(Vec::is_empty) {
                    return Err(format!(
                        "`calendars.regions` of calendar `{name}` ({}) is required for `kind = \"holidays\"`: the regions whose holidays these are",
                        self.at(&c.kind)
                    ));
                }
            }
            let refresh = match &c.refresh {
                Some(v) => self.duration("calendars.refresh", v)?,
                None => TimeDelta::minutes(15),
            };
            if refresh < TimeDelta::seconds(1) {
                return Err(format!("`calendars.refresh` of calendar `{name}` must be at least 1s"));
            }
            let line = line_of(self.text, c.name.span().start);
            calendars.push(CalendarSpec {
                name,
                source: c.source.into_inner(),
                kind,
                environments,
                regions,
                refresh,
                line,
            });
        }
        Ok(calendars)
    }

    fn check_name(&self, key: &str, name: &Spanned<String>) -> Result<(), String> {
        if name.get_ref().trim().is_empty() {
            return Err(format!("`{key}` ({}) must not be empty", self.at(name)));
        }
        Ok(())
    }

    fn instant(&self, key: &str, value: &Spanned<String>) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(value.get_ref()).map(|d| d.with_timezone(&Utc)).map_err(|e| {
            format!(
                "`{key}` ({}) must be an RFC 3339 instant like 2026-12-18T00:00:00Z, found `{}`: {e}",
                self.at(value),
                value.get_ref()
            )
        })
    }

    fn duration(&self, key: &str, value: &Spanned<String>) -> Result<TimeDelta, String> {
        parse_duration(value.get_ref()).map_err(|e| format!("`{key}` ({}): {e}", self.at(value)))
    }

    fn clock(&self, key: &str, value: &Spanned<String>) -> Result<u32, String> {
        let bad = || format!("`{key}` ({}) must be a time like 08:00, found `{}`", self.at(value), value.get_ref());
        let (h, m) = value.get_ref().split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u32 = h.parse().map_err(|_| bad())?;
        let m: u32 = m.parse().map_err(|_| bad())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(h * 60 + m)
    }

    fn hours(&self, key: &str, raw: &RawHours) -> Result<BusinessHours, String> {
        let mut days = BTreeSet::new();
        for day in &raw.days {
            let name = day.get_ref().to_ascii_lowercase();
            let index = DAYS.iter().position(|d| *d == name).ok_or_else(|| {
                format!(
                    "`{key}.days` ({}) names `{}`; days are written {}",
                    self.at(day),
                    day.get_ref(),
                    DAYS.join(", ")
                )
            })?;
            days.insert(u8::try_from(index).unwrap_or(0));
        }
        let start_minute = self.clock(&format!("{key}.start"), &raw.start)?;
        let end_minute = self.clock(&format!("{key}.end"), &raw.end)?;
        if end_minute <= start_minute {
            return Err(format!("`{key}.end` ({}) must be after `{key}.start`", self.at(&raw.end)));
        }
        Ok(BusinessHours { days, start_minute, end_minute })
    }

    fn regions(
        &self,
        raw: BTreeMap<Spanned<String>, RawRegion>,
        default_hours: &BusinessHours,
    ) -> Result<BTreeMap<String, Region>, String> {
        let mut regions = BTreeMap::new();
        for (name, r) in raw {
            let timezone: Tz = r.timezone.get_ref().parse().map_err(|_| {
                format!(
                    "`regions.{}.timezone` ({}) `{}` is not an IANA time zone (e.g. America/Chicago)",
                    name.get_ref(),
                    self.at(&r.timezone),
                    r.timezone.get_ref()
                )
            })?;
            let key = format!("regions.{}", name.get_ref());
            let business_hours = match &r.business_hours {
                Some(h) => self.hours(&format!("{key}.business_hours"), h)?,
                None => default_hours.clone(),
            };
            let mut holidays = BTreeSet::new();
            for day in &r.holidays {
                let date = NaiveDate::parse_from_str(day.get_ref(), "%Y-%m-%d").map_err(|_| {
                    format!(
                        "`{key}.holidays` ({}) must hold dates like 2026-12-25, found `{}`",
                        self.at(day),
                        day.get_ref()
                    )
                })?;
                holidays.insert(date);
            }
            regions.insert(name.into_inner(), Region { timezone, business_hours, holidays });
        }
        Ok(regions)
    }

    fn server(&self, raw: RawServer) -> Result<ServerConfig, String> {
        let max_connections = match &raw.max_connections {
            None => 1024,
            Some(n) => usize::try_from(*n.get_ref()).ok().filter(|n| (2..=1_000_000).contains(n)).ok_or_else(|| {
                format!(
                    "`server.max_connections` ({}) must be between 2 and 1000000, found {}",
                    self.at(n),
                    n.get_ref()
                )
            })?,
        };
        let timeout = |key: &str, value: &Option<Spanned<String>>, default: i64| match value {
            None => Ok(TimeDelta::seconds(default)),
            Some(v) => self.duration(key, v),
        };
        Ok(ServerConfig {
            listen: raw.listen.unwrap_or_else(|| "127.0.0.1:8080".to_string()),
            data_dir: raw.data_dir.unwrap_or_else(|| "data".to_string()),
            policies_dir: raw.policies_dir,
            max_connections,
            header_timeout: timeout("server.header_timeout", &raw.header_timeout, 10)?,
            idle_timeout: timeout("server.idle_timeout", &raw.idle_timeout, 60)?,
        })
    }

    fn store(&self, raw: RawStore) -> Result<StoreConfig, String> {
        let url = match raw.url {
            None => None,
            Some(url) if url.get_ref().starts_with("postgres://") || url.get_ref().starts_with("postgresql://") => {
                Some(url.into_inner())
            }
            Some(url) => {
                return Err(format!(
                "`store.url` ({}) must be a PostgreSQL URL like postgres://user@host:5432/database; leave it out for \
                     the embedded SQLite of `server.data_dir`",
                self.at(&url)
            ))
            }
        };
        Ok(StoreConfig { url })
    }

    fn policies(&self, raw: RawPolicies, known_env: &KnownEnv<'_>) -> Result<PolicySettings, String> {
        let stage_bake = match &raw.stage_bake {
            Some(v) => self.duration("policies.stage_bake", v)?,
            None => TimeDelta::hours(24),
        };
        let max_exception = match &raw.max_exception {
            Some(v) => self.duration("policies.max_exception", v)?,
            None => TimeDelta::hours(6),
        };
        let evaluation_timeout = match &raw.evaluation_timeout {
            Some(v) => parse_timeout(v.get_ref()).ok_or_else(|| {
                format!(
                    "`policies.evaluation_timeout` ({}) must be like 100ms or 1s (at most 10s), found `{}`",
                    self.at(v),
                    v.get_ref()
                )
            })?,
            None => std::time::Duration::from_millis(100),
        };
        // The defaults apply per policy; a policy named in the file replaces its default.
        let mut environments = vec![
            PolicyEnvironments { policy: "business_hours".into(), environments: vec!["production".into()], line: 0 },
            PolicyEnvironments { policy: "stage_bake".into(), environments: vec!["production".into()], line: 0 },
        ];
        for (policy, envs) in raw.environments.unwrap_or_default() {
            let line = line_of(self.text, policy.span().start);
            let envs = envs
                .iter()
                .map(|e| known_env(&format!("policies.environments.{}", policy.get_ref()), e))
                .collect::<Result<Vec<_>, _>>()?;
            let short = policy.get_ref().rsplit(['.', '/']).next().unwrap_or_default().to_string();
            environments.retain(|p| p.policy != *policy.get_ref() && p.policy != short);
            environments.push(PolicyEnvironments { policy: policy.into_inner(), environments: envs, line });
        }
        Ok(PolicySettings { stage_bake, max_exception, evaluation_timeout, environments })
    }
}

/// Checks an environment name where a key uses one.
type KnownEnv<'a> = dyn Fn(&str, &Spanned<String>) -> Result<String, String> + 'a;

/// `100ms`, `2s`: a policy evaluation limit.
fn parse_timeout(text: &str) -> Option<std::time::Duration> {
    let d = if let Some(ms) = text.strip_suffix("ms") {
        std::time::Duration::from_millis(ms.parse().ok()?)
    } else {
        std::time::Duration::from_secs(text.strip_suffix('s')?.parse().ok()?)
    };
    (d > std::time::Duration::ZERO && d <= std::time::Duration::from_secs(10)).then_some(d)
}

/// The well-known regions used when a file configures none.
fn default_regions(hours: &BusinessHours) -> Result<BTreeMap<String, Region>, String> {
    let mut regions = BTreeMap::new();
    for (name, tz) in WELL_KNOWN_REGIONS {
        let timezone: Tz = tz.parse().map_err(|_| format!("built-in region `{name}` has a bad time zone `{tz}`"))?;
        regions.insert(name.to_string(), Region { timezone, business_hours: hours.clone(), holidays: BTreeSet::new() });
    }
    Ok(regions)
}

/// Regions and their IANA time zones known without configuration.
pub const WELL_KNOWN_REGIONS: [(&str, &str); 14] = [
    ("us-south", "America/Chicago"),
    ("us-east", "America/New_York"),
    ("us-west", "America/Los_Angeles"),
    ("ca-tor", "America/Toronto"),
    ("ca-mon", "America/Toronto"),
    ("br-sao", "America/Sao_Paulo"),
    ("eu-gb", "Europe/London"),
    ("eu-de", "Europe/Berlin"),
    ("eu-es", "Europe/Madrid"),
    ("eu-fr2", "Europe/Paris"),
    ("in-che", "Asia/Kolkata"),
    ("jp-tok", "Asia/Tokyo"),
    ("jp-osa", "Asia/Tokyo"),
    ("au-syd", "Australia/Sydney"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match Config::from_toml(text, "test.toml") {
            Ok(_) => String::from("<no error>"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_store_is_sqlite_unless_a_postgres_url_is_given() {
        assert_eq!(Config::defaults().unwrap().store.url, None);
        let config = Config::from_toml("[store]\nurl = \"postgres://signalbox@db:5432/signalbox\"\n", "t").unwrap();
        assert_eq!(config.store.url.as_deref(), Some("postgres://signalbox@db:5432/signalbox"));
        let message = err("[store]\nurl = \"mysql://db/signalbox\"\n");
        assert!(message.contains("`store.url`") && message.contains("line 2"), "{message}");
        assert!(err("[store]\npath = \"x\"\n").contains("path"));
    }

    #[test]
    fn the_built_in_defaults_load() {
        let config = Config::defaults().unwrap();
        assert_eq!(config.environments, ["stage", "production"]);
        assert!(config.regions.len() >= 12);
        assert_eq!(config.policies.stage_bake, TimeDelta::hours(24));
        assert_eq!(
            config.policy_environments(&["global.business_hours", "business_hours"]),
            Some(&["production".to_string()][..])
        );
    }

    #[test]
    fn the_documented_example_loads() {
        let text = r##"
environments = ["stage", "production"]
[server]
listen = "127.0.0.1:8080"
data_dir = "data"
policies_dir = "policies"
[[auth.tokens]]
name = "deploy-bot"
role = "pipeline"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
[chat]
conductors = ["U024BE7LH"]
channels = { production = "#cfs-prod-trains", stage = "#cfs-stage-trains" }
[regions.us-south]
timezone = "America/Chicago"
business_hours = { days = ["mon", "tue", "wed", "thu", "fri"], start = "08:00", end = "18:00" }
holidays = ["2026-12-25"]
[[freezes]]
name = "year-end"
start = "2026-12-18T00:00:00Z"
end = "2027-01-04T00:00:00Z"
environments = ["production"]
regions = ["us-south"]
reason = "end of year change freeze"
[[slas]]
squad = "netint"
service = "cbr-subnet"
environments = ["production"]
[policies]
stage_bake = "24h"
max_exception = "6h"
environments = { business_hours = ["production"], stage_bake = ["production"] }
"##;
        let config = Config::from_toml(text, "example.toml").unwrap();
        assert_eq!(config.regions.len(), 1);
        assert_eq!(config.freezes.len(), 1);
        assert_eq!(config.tokens[0].role, Role::Pipeline);
        assert_eq!(config.chat.channels.get("production").map(String::as_str), Some("#cfs-prod-trains"));
    }

    #[test]
    fn errors_name_the_key_and_the_line() {
        let e = err("[regions.us-south]\ntimezone = \"America/Chicgo\"\n");
        assert!(e.contains("regions.us-south.timezone") && e.contains("line 2") && e.contains("America/Chicgo"), "{e}");

        let e = err("[[freezes]]\nname = \"x\"\nstart = \"2026-12-18T00:00:00Z\"\nend = \"2027-01-04T00:00:00Z\"\nregions = [\"mars-1\"]\n");
        assert!(e.contains("freezes.regions") && e.contains("line 5") && e.contains("mars-1"), "{e}");

        let e = err("[policies]\nstage_bake = \"a day\"\n");
        assert!(e.contains("policies.stage_bake") && e.contains("line 2"), "{e}");

        let e = err("[server]\nlisten = \"x\"\nport = 3\n");
        assert!(e.contains("line 3") && e.contains("port"), "{e}");

        let e = err("[[slas]]\nsquad = \"a\"\nenvironments = [\"prod\"]\n");
        assert!(e.contains("slas.environments") && e.contains("`prod`") && e.contains("line 3"), "{e}");

        let e = err("[business_hours]\ndays = [\"monday\"]\nstart = \"08:00\"\nend = \"18:00\"\n");
        assert!(e.contains("business_hours.days") && e.contains("line 2"), "{e}");

        let e = err("[business_hours]\ndays = [\"mon\"]\nstart = \"18:00\"\nend = \"08:00\"\n");
        assert!(e.contains("business_hours.end") && e.contains("line 4"), "{e}");
    }

    #[test]
    fn calendars_are_checked_naming_the_key_and_the_line() {
        let text = "[[calendars]]\nname = \"freezes\"\nsource = \"calendars/freezes.ics\"\nkind = \"freeze\"\nenvironments = [\"production\"]\n";
        let config = Config::from_toml(text, "t").unwrap();
        let spec = &config.calendars[0];
        assert_eq!((spec.kind, spec.refresh, spec.line), (CalendarKind::Freeze, TimeDelta::minutes(15), 2));
        assert_eq!(spec.environments, Some(vec!["production".to_string()]));
        assert_eq!(spec.regions, None);
        assert!(!spec.is_url());

        let e = err("[[calendars]]\nname = \"h\"\nsource = \"h.ics\"\nkind = \"holiday\"\n");
        assert!(e.contains("calendars.kind") && e.contains("line 4") && e.contains("`holiday`"), "{e}");
        let e = err("[[calendars]]\nname = \"h\"\nsource = \"h.ics\"\nkind = \"holidays\"\n");
        assert!(e.contains("calendars.regions") && e.contains("required"), "{e}");
        let e = err("[[calendars]]\nname = \"h\"\nsource = \"h.ics\"\nkind = \"freeze\"\nregions = [\"mars-1\"]\n");
        assert!(e.contains("calendars.regions") && e.contains("line 5") && e.contains("mars-1"), "{e}");
        let e = err("[[calendars]]\nname = \"h\"\nsource = \"h.ics\"\nkind = \"freeze\"\nrefresh = \"often\"\n");
        assert!(e.contains("calendars.refresh") && e.contains("line 5"), "{e}");
        let e = err("[[calendars]]\nname = \"h\"\nsource = \"h.ics\"\nkind = \"freeze\"\n[[calendars]]\nname = \"h\"\nsource = \"i.ics\"\nkind = \"freeze\"\n");
        assert!(e.contains("calendars.name") && e.contains("line 6") && e.contains("twice"), "{e}");
    }

    #[test]
    fn imported_calendars_add_freezes_and_holidays() {
        use crate::ical::{Imported, ImportedCalendar};
        let text = "[regions.us-south]\ntimezone = \"America/Chicago\"\n[[calendars]]\nname = \"f\"\nsource = \"https://example.com/f.ics\"\nkind = \"freeze\"\n[[calendars]]\nname = \"h\"\nsource = \"h.ics\"\nkind = \"holidays\"\nregions = [\"us-south\"]\n";
        let config = Config::from_toml(text, "t").unwrap();
        assert!(config.calendars[0].is_url());
        let freeze = Freeze {
            name: "imported".into(),
            start: "2026-12-01T00:00:00Z".parse().unwrap(),
            end: "2026-12-02T00:00:00Z".parse().unwrap(),
            environments: None,
            regions: None,
            reason: String::new(),
        };
        let christmas = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        let imported = [
            ImportedCalendar {
                name: "f".into(),
                imported: Imported { freezes: vec![freeze.clone()], holidays: BTreeSet::new() },
            },
            ImportedCalendar {
                name: "h".into(),
                imported: Imported { freezes: vec![], holidays: BTreeSet::from([christmas]) },
            },
        ];
        let merged = config.with_calendars(&imported).unwrap();
        assert_eq!(merged.freezes, [freeze]);
        assert!(merged.regions["us-south"].holidays.contains(&christmas));
        assert!(merged.imported_text().contains("freeze\timported"));
        assert!(config.imported_text().is_empty());

        let unknown = [ImportedCalendar { name: "nope".into(), imported: Imported::default() }];
        assert!(config.with_calendars(&unknown).unwrap_err().to_string().contains("`nope`"));
    }

    #[test]
    fn one_token_digest_in_two_entries_is_refused_naming_both() {
        let digest = "ab".repeat(32);
        let text = format!(
            "[[auth.tokens]]\nname = \"deploy-bot\"\nrole = \"pipeline\"\nsha256 = \"{digest}\"\n\n\
             [[auth.tokens]]\nname = \"oncall\"\nrole = \"conductor\"\nsha256 = \"{}\"\n",
            digest.to_uppercase()
        );
        let e = err(&text);
        assert!(e.contains("`deploy-bot`") && e.contains("`oncall`") && e.contains("line 9"), "{e}");
    }

    #[test]
    fn a_file_of_comments_is_empty() {
        assert!(Config::from_toml("# nothing\n\n", "t").unwrap().is_empty_file());
        assert!(!Config::from_toml("[chat]\nconductors = []\n", "t").unwrap().is_empty_file());
        assert!(!Config::defaults().unwrap().is_empty_file());
    }

    #[test]
    fn a_policy_named_in_the_file_replaces_only_its_own_default() {
        let config =
            Config::from_toml("[policies]\nenvironments = { business_hours = [\"stage\", \"production\"] }\n", "t")
                .unwrap();
        assert_eq!(config.policy_environments(&["business_hours"]).map(<[String]>::len), Some(2));
        assert_eq!(config.policy_environments(&["stage_bake"]).map(<[String]>::len), Some(1));
    }
}
