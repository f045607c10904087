//! result: every shape peakgate writes to disk, in one place, and the run folder they go to:
//! `run.json` (the [`RunResult`], with its figures and typed probe reports), `verdict.json`,
//! `target-data.json`, `annotations.json`, the simulator's queue, and `change-record.json` (what `peakgate gate`
//! judged about a change). Every stage before it fills these shapes and every stage after it
//! (verdict, report, capacity, simulate, change) reads them, from memory or through
//! [`StoredRun`]. Its logic is limited to building them from the plan and reading them
//! back. Three artifacts keep their types with their one writer: `gate.json` is the plan's
//! `Gate` serialized, `latency.hlog` is the HdrHistogram log format (`metrics::hlog`), and
//! `capacity.json` is the capacity report's own (`capacity::report`).

pub mod annotations;
pub mod artifacts;
pub mod change_record;
pub mod figures;
pub mod probe;
pub mod stored;
pub mod target_data;
pub mod tenants;
pub mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use annotations::{ANNOTATIONS, Annotations, GrafanaAnnotation, Outcome, OutcomeStatus};
pub use artifacts::{RunDir, new_run_id, write_atomic};
pub mod merge;
pub use figures::{
    ErrorMessage, GeneratorSummary, GeneratorWindow, LatencySummary, Quantiles, ScenarioWindow,
    TimelineEntry, Totals, Transaction,
};
pub use probe::{Gap, ProbeReport};
pub use stored::{
    OpenError, StoredRun, read_annotations, read_gate, read_latency, read_verdict, stored_profile,
};
pub use target_data::{PreparedAction, StoredTable, TARGET_DATA_SCHEMA, TargetData};
pub use verdict::{
    Attribution, BaselineChoice, Check, Comparisons, ErrorComparison, Headroom, LatencyComparison,
    Mechanism, Method, PercentileEvidence, QuantileInterval, Role, RollbackComparison, ScaleStep,
    ServerComparison, Status, StepTime, Verdict,
};

use crate::config::profile::{ArrivalKind, ModelKind};
use crate::plan::{Plan, Stage, Target};

/// The version of peakgate, recorded in run.json and verdict.json.
pub const PEAKGATE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Schema tag of `run.json`.
pub const SCHEMA: &str = "peakgate.run/1";
/// The copy of the profile that ran, in a run folder: what `capacity` plans from, whatever
/// happened to the original since.
pub const PROFILE_COPY: &str = "profile.toml";
/// The built-in stand-in's request log in a run folder, in Odoo's own format
/// (`standin::access_log`): what the simulator calibrates from.
pub const ODOO_LOG: &str = "odoo.log";
/// A shard's whole-run histograms beside `latency.hlog` (service times, journeys, lateness):
/// what `peakgate merge` needs to merge shards exactly. Written only by `run --shard`.
pub const SHARD_LOG: &str = "shard.hlog";

/// Whether a `transactions` key is a scenario's whole journeys (think time included) rather
/// than one step's requests (`scenario/step`, `session/authenticate`): a scenario's name is
/// a file name, so it never holds a `/`.
pub fn is_journey(transaction: &str) -> bool {
    !transaction.contains('/')
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// The whole plan ran.
    Completed,
    /// Stopped by the user (ctrl-c).
    Interrupted,
    /// Stopped by an abort condition.
    Aborted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunStatus::Completed => "completed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Aborted => "aborted",
        })
    }
}

/// A run, as stored in `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub schema: String,
    pub run_id: String,
    /// The peakgate version that made the run (empty in runs made before it was recorded).
    #[serde(default)]
    pub peakgate_version: String,
    pub status: RunStatus,
    pub profile: ProfileInfo,
    /// The release under test (`--release`).
    pub release: Option<String>,
    pub target: TargetInfo,
    /// Wall-clock start (RFC 3339, UTC); t0 of the timeline and the probes.
    pub started_at: String,
    /// Seconds from t0 to the end of the load.
    pub duration_s: f64,
    pub plan: PlanInfo,
    pub totals: Totals,
    /// Per step (`scenario/step`) and per scenario (whole journeys).
    pub transactions: BTreeMap<String, Transaction>,
    /// One entry per second from t0.
    pub timeline: Vec<TimelineEntry>,
    /// The load generator's own health over the run (absent in runs made before it was
    /// recorded, and all zero in a simulated run).
    #[serde(default)]
    pub generator: GeneratorSummary,
    /// Probe time series by probe name (empty when the profile has no probes).
    #[serde(default)]
    pub probes: BTreeMap<String, ProbeReport>,
    /// Present only when `peakgate simulate` made this run: nothing here was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<SimulationInfo>,
    /// Present when the run is one shard of a sharded run (`run --shard I/N`): it ran every
    /// N-th journey of the plan, starting with journey I.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::plan::shard::Shard>,
    /// Present when `peakgate merge` made this run from shards: which were merged and which
    /// were missing or did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeInfo>,
}

/// How a merged run was made from its shards.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeInfo {
    /// Shards the run was split into (the N of `--shard I/N`).
    pub count: u32,
    /// The shard folders merged, by index.
    pub shards: Vec<MergedShard>,
    /// Indexes of shards with no run folder among those given.
    pub missing: Vec<u32>,
    /// Latest start minus earliest start of the merged shards, seconds.
    pub start_spread_s: f64,
    /// The shard whose probe series the merged run carries.
    pub probes_from: Option<u32>,
}

/// One shard in a merged run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    pub index: u32,
    pub run_id: String,
    pub dir: String,
    pub status: RunStatus,
    pub started_at: String,
}

/// How a simulated run was made, so every figure in it can be traced to its calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationInfo {
    /// Run id and folder of the measured run the service times were drawn from.
    pub calibration_run: String,
    pub calibration_dir: String,
    /// Where the service-time laws came from: `odoo.log` (Odoo's request log: time in the
    /// worker), `latency.hlog less the mean wait` (measured latency less the Erlang C wait),
    /// `latency.hlog` (measured latency, queueing included), joined by ` + ` when steps differ.
    pub service_source: String,
    /// Step name → where its law came from, with the figures used (requests read, wait removed).
    #[serde(default)]
    pub service_by_step: std::collections::BTreeMap<String, String>,
    /// Odoo HTTP workers simulated.
    pub workers: usize,
    /// Database connections shared by the workers (`null`: never short).
    pub db_connections: Option<usize>,
    /// Events the simulation processed, the wall-clock seconds it took, and their ratio.
    pub events: u64,
    pub wall_s: f64,
    pub events_per_s: f64,
    /// Cautions about the calibration (e.g. queueing in the calibration run).
    pub warnings: Vec<String>,
    /// How the simulated Odoo queued: waits, utilization and the per-second queue.
    #[serde(default)]
    pub queueing: Queueing,
}

/// Queueing figures of a simulated run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Queueing {
    /// Wait for a worker (and a connection) before service, over every request, ms.
    pub wait_ms: LatencySummary,
    /// Share of requests that waited at all.
    pub waited_share: f64,
    /// Longest queue for a worker.
    pub max_queue: usize,
    /// Busy worker time / (workers × simulated duration).
    pub worker_utilization: f64,
    /// Most connections in use at once.
    pub peak_connections: usize,
    /// Per second: `[t, value]` of the longest worker queue and the busiest worker count.
    pub queue_series: Vec<[f64; 2]>,
    pub busy_series: Vec<[f64; 2]>,
}

/// The profile that ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileInfo {
    pub name: String,
    pub description: String,
    pub path: String,
    /// sha256 of the profile file's text.
    pub sha256: String,
    pub environment: String,
    /// Absolute folder the profile's relative paths (scenarios, data files) resolved
    /// against when it ran, and so do those of its copy in the run folder (`profile.toml`).
    /// Absent in runs made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_dir: Option<String>,
}

/// Where the load went (never with credentials).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `standin` or `odoo`.
    pub kind: String,
    pub url: String,
    pub database: Option<String>,
    /// The stand-in's release variant, when the target is the built-in stand-in.
    pub standin_release: Option<String>,
}

/// The plan as run, enough to compare two runs of one profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanInfo {
    pub model: ModelKind,
    pub arrivals: ArrivalKind,
    pub seed: u64,
    pub rate_scale: f64,
    pub max_in_flight: usize,
    pub timeout_ms: u64,
    pub pacing_ms: u64,
    pub stages: Vec<Stage>,
    /// Scenario → weight.
    pub mix: BTreeMap<String, f64>,
    /// Scenario names in the plan's order: the order of a stage's own `mix` weights. Empty
    /// in runs made before it was recorded (see [`PlanInfo::scenario_order`]).
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// Journeys the curve expects (open model).
    pub expected_journeys: f64,
    /// Step names in measurement order.
    pub steps: Vec<String>,
    /// Odoo version of the target the scenarios were planned for.
    #[serde(default)]
    pub odoo_version: String,
    /// Named calendar events on the run's clock.
    #[serde(default)]
    pub events: Vec<crate::plan::calendar::PlannedEvent>,
    /// In a multi-tenant run, the tenant this run drove: `name`, `database`, `url` (when it
    /// has its own Odoo) and `load` (`{"share": x}` or `{"steady": level}`). Absent in a
    /// single-tenant run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<crate::plan::tenants::TenantSpec>,
    /// Open model: the `[load] logins` pool of sessions the journeys share (absent in runs
    /// made before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logins: Option<usize>,
}

impl PlanInfo {
    pub fn from_plan(plan: &Plan) -> Self {
        PlanInfo {
            model: plan.load.model,
            arrivals: plan.load.arrivals,
            seed: plan.seed,
            rate_scale: plan.rate_scale,
            max_in_flight: plan.load.max_in_flight,
            timeout_ms: plan.load.timeout_ms,
            pacing_ms: plan.load.pacing_ms,
            stages: plan.load.curve.stages.clone(),
            mix: plan
                .scenarios
                .iter()
                .zip(&plan.weights)
                .map(|(s, w)| (s.name.clone(), *w))
                .collect(),
            scenarios: plan.scenarios.iter().map(|s| s.name.clone()).collect(),
            expected_journeys: (plan.expected_journeys() * 10.0).round() / 10.0,
            steps: plan.step_names.clone(),
            odoo_version: plan.odoo_version.clone(),
            events: plan.events.clone(),
            tenant: plan.tenant.clone(),
            logins: Some(plan.load.logins),
        }
    }
}

impl PlanInfo {
    /// Scenario names in the order of a stage's `mix` weights. A run made before the order
    /// was recorded had the `[mix]` names in sorted order, which is the map's.
    pub fn scenario_order(&self) -> Vec<String> {
        if self.scenarios.is_empty() {
            self.mix.keys().cloned().collect()
        } else {
            self.scenarios.clone()
        }
    }
}

impl ProfileInfo {
    pub fn from_plan(plan: &Plan) -> Self {
        ProfileInfo {
            name: plan.name.clone(),
            description: plan.description.clone(),
            path: plan.profile_path.display().to_string(),
            sha256: plan.profile_sha256.clone(),
            environment: plan.environment.clone(),
            base_dir: Some(absolute(&plan.profile_base).display().to_string()),
        }
    }
}

/// `path` made absolute, without requiring it to exist.
fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

impl TargetInfo {
    /// Describes the target; `url` is the address actually driven.
    pub fn from_plan(plan: &Plan, url: &str) -> Self {
        match &plan.target {
            Target::StandIn { release, .. } => TargetInfo {
                kind: "standin".into(),
                url: url.to_string(),
                // One stand-in hosts every tenant's database: name the one driven.
                database: plan.tenant.as_ref().map(|t| t.database.clone()),
                standin_release: Some(release.clone().unwrap_or_else(|| "baseline".into())),
            },
            Target::Odoo { database, .. } => TargetInfo {
                kind: "odoo".into(),
                url: url.to_string(),
                database: database.clone(),
                standin_release: None,
            },
        }
    }
}

impl RunResult {
    /// The failure messages of every step, the most frequent first: (transaction, message).
    pub fn top_errors(&self, n: usize) -> Vec<(&str, &ErrorMessage)> {
        let mut all: Vec<(&str, &ErrorMessage)> = self
            .transactions
            .iter()
            .flat_map(|(name, tx)| tx.messages.iter().map(move |m| (name.as_str(), m)))
            .collect();
        all.sort_by(|a, b| {
            b.1.count
                .cmp(&a.1.count)
                .then(a.1.first_s.cmp(&b.1.first_s))
        });
        all.truncate(n);
        all
    }

    /// Reads `run.json` from a run folder (or the file itself).
    pub fn load(path: &std::path::Path) -> Result<RunResult, ResultError> {
        let file = if path.is_dir() {
            path.join("run.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| ResultError::Read {
            path: file.clone(),
            source,
        })?;
        // The schema first: a run.json of another shape is said as such, not as a field
        // this peakgate happens not to find.
        #[derive(serde::Deserialize)]
        struct Schema {
            schema: Option<String>,
        }
        if let Ok(Schema {
            schema: Some(found),
        }) = serde_json::from_str::<Schema>(&text)
            && found != SCHEMA
        {
            return Err(ResultError::Schema { path: file, found });
        }
        serde_json::from_str(&text).map_err(|source| ResultError::Parse { path: file, source })
    }
}

/// Errors reading stored runs.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a peakgate run.json: {source}", path.display())]
    Parse {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: schema `{found}`, and this peakgate {} reads `{SCHEMA}`: judge it with the peakgate that wrote it", path.display(), env!("CARGO_PKG_VERSION"))]
    Schema {
        path: std::path::PathBuf,
        found: String,
    },
}

impl ResultError {
    /// A run.json of another schema is input to mend (another peakgate's run), not damage.
    pub fn is_input(&self) -> bool {
        matches!(self, ResultError::Schema { .. })
    }
}
