//! `change-record.json`: what `peakgate gate` judged about one change (release, risk class,
//! calendar, load evidence, rollback readiness) and where every piece of evidence is. The
//! `change` module fills it; `change-record.md` is the same record for a change request.

use serde::{Deserialize, Serialize};

use super::{Check, Status};

/// Windows listed in `calendar.upcoming`.
pub const UPCOMING: usize = 3;

/// Schema tag of `change-record.json`.
pub const CHANGE_RECORD_SCHEMA: &str = "peakgate.change-record/1";

/// How much evidence a change needs, from the least to the most: the policy maps every change
/// type to one, and a change with several types takes the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskClass {
    Low,
    Standard,
    High,
    /// An urgent fix: judged like the others, and the only class that may pass a freeze
    /// (with `--emergency REASON`).
    Emergency,
}

impl RiskClass {
    pub const ALL: [RiskClass; 4] = [
        RiskClass::Low,
        RiskClass::Standard,
        RiskClass::High,
        RiskClass::Emergency,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RiskClass::Low => "low",
            RiskClass::Standard => "standard",
            RiskClass::High => "high",
            RiskClass::Emergency => "emergency",
        }
    }
}

impl std::fmt::Display for RiskClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `change-record.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// [`CHANGE_RECORD_SCHEMA`].
    pub schema: String,
    /// The peakgate version that judged the change.
    pub peakgate_version: String,
    /// The release the change deploys (change.toml `release`).
    pub release: String,
    /// Each change type with the class the policy gives it.
    pub types: Vec<TypedChange>,
    /// The highest class of the types: the evidence the change needs.
    pub risk_class: RiskClass,
    /// When the change is planned.
    pub planned: Planned,
    /// The instant the change was judged at (UTC, RFC 3339): now, or `gate --as-of`. A
    /// planned time before it is a warning (`planned time`).
    #[serde(default)]
    pub judged_at: String,
    /// Stores and regions the change touches (both empty: every store).
    pub scope: Scope,
    /// The worst check, failures first (a failure outranks an inconclusive run here: a
    /// change in a freeze stays refused whatever a rerun shows).
    pub verdict: Status,
    /// Every check, in a stable order: calendar, planned time (only when in the past), rollback plan, release, profiles, baseline,
    /// headroom, pre-flight.
    pub checks: Vec<Check>,
    /// The calendar's verdict and the freeze windows of the change's class.
    pub calendar: CalendarVerdict,
    /// The load evidence: one entry per run given with `--runs`, and one per required profile
    /// that had none.
    pub loads: Vec<LoadEvidence>,
    /// What a rollback would go back to.
    pub rollback: Rollback,
    /// The pre-flight checks the class requires, by name.
    pub preflight: Vec<String>,
    /// What the pre-flight checks read: the live PostgreSQL's settings and the deployment's
    /// configuration with what it was reviewed against; `null` when nothing was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Configuration>,
    /// The input files, with their versions.
    pub inputs: Inputs,
}

/// `configuration` of the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    pub postgres: Option<PostgresRead>,
    pub odoo_conf: Option<OdooConfRead>,
    pub kubernetes: Option<KubernetesRead>,
    pub traefik: Option<TraefikRead>,
    pub measured: Option<MeasuredRead>,
}

/// The live PostgreSQL (`target` without its password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostgresRead {
    pub target: String,
    pub archive_mode: String,
    pub max_connections: u32,
    pub superuser_reserved_connections: u32,
    pub reserved_connections: u32,
    pub connections_in_use: u32,
    pub replicas: u32,
}

/// odoo.conf `[options]`, Odoo's defaults where a key is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OdooConfRead {
    /// Relative to the record's folder.
    pub path: String,
    pub workers: u32,
    pub db_maxconn: u32,
    pub max_cron_threads: u32,
    pub limit_time_real_s: f64,
    pub limit_memory_soft_bytes: f64,
    pub limit_memory_hard_bytes: f64,
}

/// The Odoo Deployment, its container and its autoscaler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KubernetesRead {
    pub deployment_file: String,
    pub deployment: String,
    pub replicas: u32,
    pub container: String,
    pub memory_request_bytes: Option<f64>,
    pub memory_limit_bytes: Option<f64>,
    /// `null` when no HorizontalPodAutoscaler targets the Deployment.
    pub hpa_file: Option<String>,
    pub hpa: Option<String>,
    pub min_replicas: Option<u32>,
    pub max_replicas: Option<u32>,
    /// The most pods there can be: `max_replicas`, else `replicas`.
    pub max_pods: u32,
    /// Extra pods a rollout starts at `max_pods` (`spec.strategy.rollingUpdate.maxSurge`,
    /// default 25% rounded up; 0 for `Recreate`).
    pub surge_pods: u32,
}

/// Traefik's dynamic configuration: `[key, value]` pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraefikRead {
    pub path: String,
    /// `responseHeaderTimeout` keys and seconds.
    pub timeouts_s: Vec<(String, f64)>,
    /// `rateLimit` keys and requests per second.
    pub rate_limits_per_s: Vec<(String, f64)>,
}

/// What the review compared the configuration with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredRead {
    /// capacity.json, relative to the record's folder.
    pub capacity: Option<String>,
    pub workers_needed: Option<u32>,
    pub at_scale: Option<f64>,
    pub peak_request_rate_per_s: Option<f64>,
    /// The slowest step of the runs: `[run_id, step, p99.9 ms]`.
    pub slowest_step: Option<(String, String, f64)>,
    /// The memory series' highest value: `[run_id, series, bytes]`.
    pub memory_peak: Option<(String, String, f64)>,
}

/// A change type and its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypedChange {
    #[serde(rename = "type")]
    pub kind: String,
    pub class: RiskClass,
}

/// The planned deployment time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    /// RFC 9557, in the change's own zone: `2026-12-14T22:00:00+01:00[Europe/Paris]`.
    pub at: String,
    /// The same instant in UTC (RFC 3339).
    pub utc: String,
    /// The IANA zone, or the fixed offset the change gave.
    pub time_zone: String,
}

/// Stores and regions; empty lists mean every store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    pub stores: Vec<String>,
    pub regions: Vec<String>,
}

/// `calendar` of the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalendarVerdict {
    /// The `calendar freeze` check's status.
    pub status: Status,
    /// Its message: the window the change falls in, or that it falls in none.
    pub message: String,
    /// The windows holding the planned time (in the change's scope).
    pub frozen_by: Vec<FreezeWindow>,
    /// The next windows in the change's scope that begin after the planned time (at most
    /// [`UPCOMING`]): what a postponed change would run into.
    pub upcoming: Vec<FreezeWindow>,
    /// Every freeze window of the change's class from the calendar, earliest first.
    pub windows: Vec<FreezeWindow>,
    /// `--emergency REASON`, when given.
    pub emergency: Option<String>,
}

/// A freeze window derived from one calendar event by one freeze rule of the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreezeWindow {
    /// The event's name and kind (`promotion`, `month_end_close`, `inventory_count`,
    /// `peak_season`).
    pub event: String,
    pub kind: String,
    /// The event's own start and end, RFC 9557 in its zone.
    pub event_start: String,
    pub event_end: String,
    /// The rule, e.g. "from 7d before the event until it ends".
    pub rule: String,
    /// The window, RFC 9557 in the event's zone: `start` ≤ planned < `end` is frozen.
    pub start: String,
    pub end: String,
    /// Whether the event's scope reaches the change's, and why.
    pub in_scope: bool,
    pub scope_note: String,
}

/// One run of load evidence, or a required profile with none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadEvidence {
    pub profile: String,
    /// Whether the class requires this profile.
    pub required: bool,
    /// `null` when no run of a required profile was given.
    pub run_id: Option<String>,
    /// The run folder, relative to the record's folder.
    pub dir: Option<String>,
    /// The release label the run tested (`--release`).
    pub release: Option<String>,
    /// The run's verdict (verdict.json), `fail` for a missing required run.
    pub verdict: Status,
    /// `--scale` runs: the highest passing multiplier.
    pub headroom: Option<f64>,
    /// The accepted run it was compared with (`--baseline`), from its verdict.json.
    pub baseline: Option<BaselineRef>,
    /// Every artifact of the run, relative to the record's folder.
    pub artifacts: Vec<String>,
}

/// An accepted run a candidate was compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRef {
    pub run_id: String,
    pub release: Option<String>,
    /// The baseline's verdict when it was compared with (`null`: not recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Status>,
}

/// `rollback` of the record: the plan, and the accepted release each profile was compared
/// with (what a rollback returns to, and the load it is known to carry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// change.toml `rollback`.
    pub plan: Option<String>,
    /// Whether the class requires a plan.
    pub plan_required: bool,
    /// Per run compared with a baseline: profile, run, and the accepted baseline.
    pub baselines: Vec<RollbackBaseline>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackBaseline {
    pub profile: String,
    pub run_id: String,
    pub baseline: BaselineRef,
}

/// The three input files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inputs {
    pub change: FileVersion,
    pub policy: FileVersion,
    pub calendar: Option<FileVersion>,
}

/// An input file and its version: the last git commit that touched it when it is in a
/// repository, and always the sha256 of what was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileVersion {
    /// Relative to the record's folder.
    pub path: String,
    pub sha256: String,
    /// `git log -1 --format=%H -- FILE`; `null` outside a repository or when never committed.
    pub commit: Option<String>,
    /// The file differs from that commit, or is in a repository but was never committed
    /// (`commit` null): the repository does not hold what was read.
    pub uncommitted: bool,
}

impl FileVersion {
    /// The version in a few words: the commit (marked when the file differs from it, or
    /// when the repository holds no commit of it), and always the sha256 of what was read.
    pub fn describe(&self) -> String {
        match (&self.commit, self.uncommitted) {
            (Some(c), true) => format!(
                "git {} with uncommitted changes (sha256 {})",
                short(c),
                self.sha256
            ),
            (Some(c), false) => format!("git {c} (sha256 {})", self.sha256),
            (None, true) => format!(
                "not committed to its git repository (sha256 {})",
                self.sha256
            ),
            (None, false) => format!("sha256 {}", self.sha256),
        }
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
