//! The profile file: the traffic a run offers, where it goes, and the scenarios it mixes.
//!
//! These types mirror the TOML one to one (`deny_unknown_fields`) and keep source spans for
//! the values that are checked after parsing, so a bad value is reported at its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;

/// A profile as written in `profiles/*.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// Short name, used in run ids and reports.
    pub name: String,
    /// One line saying what business moment the profile models.
    #[serde(default)]
    pub description: String,
    /// Which environment the target is; anything that is not a pre-production name is refused
    /// unless the user passes `--allow-production`.
    pub environment: Spanned<String>,
    /// Where scenario files live, relative to the profile file (default `../scenarios`).
    pub scenarios_dir: Option<String>,
    /// Odoo version the profile is written for (`"16.0"`, `"17.0"`, `"18.0"`). Absent: the
    /// target's own version (read before the load) picks the version-specific steps; present:
    /// a target of another version is refused before the load.
    pub odoo_version: Option<Spanned<String>>,
    /// The Odoo to drive; absent means the built-in stand-in.
    pub target: Option<TargetFile>,
    /// Settings for the built-in stand-in when it is the target.
    #[serde(default)]
    pub standin: StandinFile,
    /// The arrival process and its stages.
    pub load: LoadFile,
    /// A business day described by demand per slot and named events, compressed into stages
    /// (instead of `[[load.stage]]`).
    pub calendar: Option<CalendarFile>,
    /// Scenario name → relative weight.
    pub mix: Spanned<BTreeMap<String, Spanned<f64>>>,
    /// The release gate: checks with warn and fail thresholds (see `config::gate`).
    pub gate: Option<super::gate::GateFile>,
    /// Probes that watch the servers while the load runs.
    #[serde(default)]
    pub probes: super::probes::ProbesFile,
    /// Dashboards the run marks itself on (a region from start to end, tagged with the
    /// verdict).
    #[serde(default)]
    pub annotations: super::annotations::AnnotationsFile,
    /// Target data sets replaced by CSV files (relative to this file): data set name → file,
    /// with the data set's columns in its header.
    #[serde(default)]
    pub data: BTreeMap<String, Spanned<String>>,
    /// `[[tenant]]`: the tenants the run drives, each its own database (on the profile's
    /// target, or its own `url`) with its own share of the load and its own target data.
    /// Absent: one run against the profile's target, as always.
    #[serde(rename = "tenant", default)]
    pub tenants: Vec<TenantFile>,
    /// `[noisy_neighbour]`: a canary tenant's latency, quiet phase against loaded phase.
    pub noisy_neighbour: Option<NoisyNeighbourFile>,
}

/// One `[[tenant]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFile {
    /// Short name (letters, digits, `-`, `_`): the tenant's folder in the run folder.
    pub name: Spanned<String>,
    /// Odoo database the tenant's sessions log in to (default: the tenant's name).
    pub database: Option<String>,
    /// The tenant's own Odoo (default: the profile's target, or the built-in stand-in).
    pub url: Option<Spanned<String>>,
    /// Multiplier on every level of the profile's stages (default 1).
    pub share: Option<Spanned<f64>>,
    /// A steady level through every stage instead (journeys/s or terminals): a canary.
    pub rate: Option<Spanned<f64>>,
}

/// `[noisy_neighbour]`: the canary's latency in the `quiet` stages against the `loaded` ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoisyNeighbourFile {
    /// The tenant kept at a steady low level (`rate`).
    pub canary: Spanned<String>,
    /// Stage names where the other tenants are quiet.
    pub quiet: Spanned<Vec<String>>,
    /// Stage names where they are loaded.
    pub loaded: Spanned<Vec<String>>,
}

/// `[target]`: a real Odoo.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Base URL, e.g. `https://staging.example.com` (no credentials in it).
    pub url: Spanned<String>,
    /// Odoo database name sent with `/web/session/authenticate` (`--database` overrides it).
    /// Absent: the one database the server lists.
    pub database: Option<String>,
    /// Login of the load-test user.
    #[serde(default = "default_login")]
    pub login: String,
    /// Name of the environment variable holding that user's password.
    pub password_env: Option<Spanned<String>>,
    /// Hosts this profile may drive (globs, e.g. `*.staging.example.com`); loopback always.
    /// Absent: the host of `url`.
    pub allowed_hosts: Option<Vec<String>>,
}

/// `[standin]`: how the in-process stand-in behaves when no target is given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandinFile {
    /// HTTP workers (requests served at once), like Odoo's `--workers`.
    pub workers: Option<usize>,
    /// Release variant to simulate (see `peakgate standin --help`).
    pub release: Option<String>,
    /// A stand-in config file, relative to the profile file.
    pub config: Option<String>,
}

/// `[load]`: the arrival process.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadFile {
    /// `open` (journeys started per second) or `closed` (terminals looping).
    #[serde(default)]
    pub model: ModelKind,
    /// Inter-arrival law of the open model.
    #[serde(default)]
    pub arrivals: ArrivalKind,
    /// In-flight journeys above which a planned arrival is dropped (open model).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: Spanned<i64>,
    /// Open model: logged-in sessions the journeys share. A journey logs in only while fewer
    /// exist (real Odoo spends about a second of a worker on a login).
    #[serde(default = "default_logins")]
    pub logins: Spanned<i64>,
    /// Per-request timeout, e.g. `"30s"`.
    #[serde(default = "default_timeout")]
    pub timeout: Spanned<String>,
    /// Largest answer body read, e.g. `"16 MiB"`; a larger one counts as `body_too_large`.
    pub max_body: Option<Spanned<String>>,
    /// Pause a closed-model terminal takes between two journeys, e.g. `"2s"`.
    pub pacing: Option<Spanned<String>>,
    /// Closed model: a scenario each terminal runs once when it opens (e.g. loading its POS
    /// session), before its first journey of the mix.
    pub setup: Option<Spanned<String>>,
    /// Closed model: a scenario each terminal runs once when it closes (e.g. closing its POS
    /// session), when the curve retires it or the run ends.
    pub teardown: Option<Spanned<String>>,
    /// The stages, in order.
    #[serde(rename = "stage", default)]
    pub stages: Vec<StageFile>,
}

/// One `[[load.stage]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageFile {
    /// Optional label shown in plans and reports.
    pub name: Option<String>,
    /// How long the stage lasts, e.g. `"30s"`, `"2m"`.
    pub duration: Spanned<String>,
    /// Journeys per second (open model): a constant or `{ from, to }` ramp.
    pub rate: Option<Spanned<Level>>,
    /// Active terminals (closed model): a constant or `{ from, to }` ramp.
    pub terminals: Option<Spanned<Level>>,
    /// The scenario mix during this stage, over the profile's `[mix]`.
    pub mix: Option<Spanned<BTreeMap<String, f64>>>,
}

/// `[calendar]`: a trading day as demand per slot, with named events, compressed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFile {
    /// Length of one slot of the real day, e.g. `"1h"` or `"15m"`.
    #[serde(default = "default_slot")]
    pub slot: Spanned<String>,
    /// Clock time of the first slot, `"HH:MM"`.
    #[serde(default = "default_start")]
    pub start: Spanned<String>,
    /// `"24h -> 20m"`: that much real time runs in that much test time.
    pub compress: Spanned<String>,
    /// What compression keeps: `rate` (the real journeys/s, each slot shorter) or `journeys`
    /// (each slot's journeys, at a proportionally higher rate).
    #[serde(default)]
    pub keep: CompressKeep,
    /// Demand per slot: journeys per hour of the real day (open model) or terminals (closed).
    pub demand: Spanned<Vec<f64>>,
    /// Named moments of the day.
    #[serde(rename = "event", default)]
    pub events: Vec<EventFile>,
}

/// What a compressed calendar keeps from the real day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressKeep {
    #[default]
    Rate,
    Journeys,
}

/// `[[calendar.event]]`: a window of the day whose demand is multiplied, with its own mix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFile {
    pub name: String,
    /// Clock time it starts, `"HH:MM"`.
    pub at: Spanned<String>,
    /// How long it lasts in the real day.
    pub duration: Spanned<String>,
    /// Multiplier on the demand during the event.
    #[serde(default = "one_f64")]
    pub factor: f64,
    /// The scenario mix during the event.
    pub mix: Option<Spanned<BTreeMap<String, f64>>>,
}

fn default_slot() -> Spanned<String> {
    Spanned::new(0..0, "1h".into())
}
fn default_start() -> Spanned<String> {
    Spanned::new(0..0, "00:00".into())
}
fn one_f64() -> f64 {
    1.0
}

/// A level that is constant over a stage or ramps linearly across it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum Level {
    Constant(f64),
    Ramp { from: f64, to: f64 },
}

impl Level {
    /// `(from, to)` of the stage.
    pub fn ends(self) -> (f64, f64) {
        match self {
            Level::Constant(v) => (v, v),
            Level::Ramp { from, to } => (from, to),
        }
    }
}

/// Open or closed workload model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    #[default]
    Open,
    Closed,
}

/// How arrivals are spread within the planned rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalKind {
    /// Non-homogeneous Poisson process: what independent shoppers produce.
    #[default]
    Poisson,
    /// Evenly spaced: the same count every run.
    Uniform,
}

fn default_login() -> String {
    "admin".into()
}
fn default_max_in_flight() -> Spanned<i64> {
    Spanned::new(0..0, 1000)
}
fn default_logins() -> Spanned<i64> {
    Spanned::new(0..0, 8)
}
fn default_timeout() -> Spanned<String> {
    Spanned::new(0..0, "30s".into())
}

/// A profile file read and parsed, with its source kept for located errors.
#[derive(Debug)]
pub struct ProfileSource {
    /// Where it was read from.
    pub path: PathBuf,
    /// The folder its relative paths (`scenarios_dir`, `[data]` files, the stand-in's
    /// `config`) resolve against: its own folder, or for the copy stored in a run folder,
    /// the folder of the profile that ran.
    pub base: PathBuf,
    /// Its text, for error positions and the profile's sha256.
    pub text: String,
    /// The parsed content.
    pub file: ProfileFile,
}

impl ProfileSource {
    /// Reads and parses a profile; shape errors carry line and column.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: ProfileFile =
            toml::from_str(&text).map_err(|e| ConfigError::toml(path, &text, &e))?;
        Ok(ProfileSource {
            path: path.to_path_buf(),
            base: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            text,
            file,
        })
    }

    /// Reads a copy of a profile (the one stored in a run folder) whose relative paths
    /// resolve against `base`, the original's folder.
    pub fn read_copy(path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let mut src = ProfileSource::read(path)?;
        src.base = base.to_path_buf();
        Ok(src)
    }

    /// A located error at a spanned value of this profile.
    pub fn error_at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        if value.span().end == 0 {
            // A defaulted value has no place in the file.
            return ConfigError::key(&self.path, "(default)", message);
        }
        ConfigError::at(&self.path, &self.text, value.span().start, message)
    }

    /// The scenarios folder this profile uses.
    pub fn scenarios_dir(&self) -> PathBuf {
        let base = &self.base;
        match &self.file.scenarios_dir {
            Some(dir) => base.join(dir),
            None => base.join("..").join("scenarios"),
        }
    }
}

/// Parses a duration such as `"30s"` or `"1m 30s"` held in a spanned string.
pub fn parse_duration(
    src: &ProfileSource,
    value: &Spanned<String>,
) -> Result<std::time::Duration, ConfigError> {
    humantime::parse_duration(value.get_ref().trim()).map_err(|e| {
        src.error_at(
            value,
            format!("`{}` is not a duration: {e}", value.get_ref()),
        )
    })
}
