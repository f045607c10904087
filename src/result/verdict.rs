//! `verdict.json`: the verdict, every check with its evidence, the baseline comparison, the
//! named cause, and a stepped run's headroom. The `verdict` module computes them.

use serde::Serialize;

/// A check's outcome; ordered from best to worst. `Inconclusive` outranks `Fail`: when the
/// load generator could not keep its plan, no other figure of the run can fail the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// The load generator did not keep its plan: neither passed nor failed.
    Inconclusive,
}

/// One gate check.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Check {
    /// What is checked and on what, e.g. `latency p95 pos_order_sync/*`; unique in a verdict.
    pub name: String,
    pub status: Status,
    /// The value judged (unit in the name or message); `null` when it could not be measured.
    pub observed: Option<f64>,
    /// Thresholds, in the unit of `observed`; which side is worse depends on the check.
    pub warn: Option<f64>,
    pub fail: Option<f64>,
    /// The evidence, in a sentence.
    pub message: String,
}

/// One step of a `--scale` run.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ScaleStep {
    /// The multiplier of the profile's rates.
    pub scale: f64,
    /// The step's run folder, relative to the parent's.
    pub dir: String,
    pub verdict: Status,
    /// Journeys started / planned (`None` when none was planned).
    pub started_ratio: Option<f64>,
    /// Requests finished, failed ones included.
    pub requests: u64,
    /// Failed / finished requests (0..1).
    pub error_rate: f64,
    /// The slowest step's p95 and its name.
    pub worst_p95_ms: f64,
    pub worst_p95_step: String,
    /// Checks that did not pass.
    pub not_passed: Vec<String>,
}

/// The outcome of a `--scale` run.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Headroom {
    /// The highest multiplier whose gate passed (0 when none did).
    pub multiplier: f64,
    pub steps: Vec<ScaleStep>,
}

/// `verdict.json`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Verdict {
    /// [`SCHEMA`].
    pub schema: String,
    /// The run judged (the parent's id for a `--scale` run).
    pub run_id: String,
    /// What was judged, so the file stands on its own in a pipeline's archive: the release
    /// label (`--release`), the profile's name, how the run ended (a `--scale` parent: the
    /// step shown), and the peakgate version that judged it. Absent in verdicts written
    /// before they were recorded.
    #[serde(default)]
    pub release: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub status: Option<super::RunStatus>,
    #[serde(default)]
    pub peakgate_version: Option<String>,
    /// The worst status of `checks`.
    pub verdict: Status,
    /// Every check, in a stable order: run, journeys, errors, latency, probes, comparisons.
    pub checks: Vec<Check>,
    /// The confidence interval behind each percentile check (`latency p99 ...`) whose
    /// transaction has a histogram in latency.hlog.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<PercentileEvidence>,
    /// With `--baseline`: the statistics behind each `compare ...` check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparisons: Option<Comparisons>,
    /// For a `--scale` parent: the headroom and each step's key figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headroom: Option<Headroom>,
    /// With `--baseline last-accepted`: the run the results store gave, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_choice: Option<BaselineChoice>,
}

/// `baseline_choice` of `verdict.json`: which stored run `--baseline last-accepted` chose.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct BaselineChoice {
    /// `last-accepted`: the newest completed run of the same profile, target and tenant
    /// whose verdict was pass or warn.
    pub rule: String,
    /// The results store's address (never credentials).
    pub store: String,
    pub run_id: String,
    pub release: Option<String>,
    /// The chosen run's start (RFC 3339, UTC) and verdict.
    pub started_at: String,
    pub verdict: Status,
}

/// The `comparisons` of `verdict.json`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Comparisons {
    /// The baseline's run id.
    pub baseline: String,
    pub baseline_release: Option<String>,
    /// The baseline's own verdict when it was compared with (`null` when it had none): a
    /// baseline that failed is no accepted release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_verdict: Option<Status>,
    /// Family-wise significance level, and the per-step level after Bonferroni.
    pub alpha: f64,
    pub alpha_per_step: f64,
    pub latency: Vec<LatencyComparison>,
    pub errors: Vec<ErrorComparison>,
    /// Rollbacks per committed transaction, per PostgreSQL probe both runs had.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollbacks: Vec<RollbackComparison>,
    /// Server-side series of the probes both runs had, candidate vs baseline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server: Vec<ServerComparison>,
    /// When a step or a server-side series regressed: the mechanisms the server-side
    /// comparisons point at, and the compared steps ranked by the worker time each adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Attribution>,
    /// Steps present in only one of the runs, or with too few requests to compare.
    pub not_compared: Vec<String>,
}

/// One server-side series of one probe, candidate vs baseline (`comparisons.server`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ServerComparison {
    /// The probe's name (both runs had a probe of that name and kind).
    pub probe: String,
    /// `lock_wait_share`, `idle_in_transaction`, `connections_in_use` or
    /// `redis_bytes_per_key` (README, "Baseline comparison").
    pub metric: String,
    /// What a regression of it points at, e.g. "lock contention".
    pub mechanism: String,
    /// `mann_whitney_u` over the per-interval values, alternative "candidate higher"; or
    /// `slope_z` for `redis_bytes_per_key` (least-squares slope of used memory on keys, the
    /// difference of the two slopes over its standard error).
    pub test: String,
    /// Intervals (or, for a slope, samples) on each side.
    pub n_baseline: u64,
    pub n_candidate: u64,
    /// Mean per-interval value (or the slope) on each side, in the metric's unit.
    pub baseline: f64,
    pub candidate: f64,
    /// The increase judged: Hodges-Lehmann shift of the per-interval values (or the slope
    /// difference), with its confidence interval.
    pub increase: f64,
    pub interval: [f64; 2],
    pub confidence: f64,
    /// candidate / baseline mean; `None` when the baseline's is 0.
    pub ratio: Option<f64>,
    pub p_value: f64,
    pub significant: bool,
    pub status: Status,
}

/// Rollbacks per committed transaction of one PostgreSQL probe, candidate vs baseline.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RollbackComparison {
    /// The probe's name (both runs had a postgres probe of that name).
    pub probe: String,
    /// `two_proportion_z` on rollbacks / (commits + rollbacks), alternative "candidate
    /// rolls back more".
    pub test: String,
    pub commits_baseline: f64,
    pub rollbacks_baseline: f64,
    pub commits_candidate: f64,
    pub rollbacks_candidate: f64,
    pub per_commit_baseline: f64,
    pub per_commit_candidate: f64,
    /// Candidate − baseline rollbacks per committed transaction: the effect judged.
    pub increase: f64,
    pub z: f64,
    pub p_value: f64,
    pub significant: bool,
    pub status: Status,
}

/// One step's latency, candidate vs baseline.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LatencyComparison {
    pub step: String,
    /// `mann_whitney_u`, alternative "candidate slower".
    pub test: String,
    pub method: Method,
    pub n_baseline: u64,
    pub n_candidate: u64,
    /// U of the baseline sample (baseline value above candidate value).
    pub u: f64,
    pub z: f64,
    /// One-sided p-value (candidate slower).
    pub p_value: f64,
    pub p_two_sided: f64,
    pub significant: bool,
    pub p95_baseline_ms: f64,
    pub p95_candidate_ms: f64,
    pub p95_ratio: f64,
    /// Hodges-Lehmann shift candidate − baseline, ms, with its interval.
    pub shift_ms: f64,
    pub interval_ms: [f64; 2],
    pub confidence: f64,
    pub status: Status,
}

/// One step's error rate, candidate vs baseline.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ErrorComparison {
    pub step: String,
    /// `two_proportion_z`, alternative "candidate fails more".
    pub test: String,
    pub n_baseline: u64,
    pub n_candidate: u64,
    pub errors_baseline: u64,
    pub errors_candidate: u64,
    pub z: f64,
    pub p_value: f64,
    pub significant: bool,
    /// Candidate rate − baseline rate, with its interval.
    pub increase: f64,
    pub interval: [f64; 2],
    pub confidence: f64,
    pub status: Status,
}

/// What a compared step did to the server's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The step that adds the most worker time: the named cause.
    Cause,
    /// Adds a large share of worker time too (at least [`QUEUED_BELOW_SHARE`]).
    AddsTime,
    /// Its latency regressed, but it adds little worker time: it waited behind the cause.
    Queued,
    /// Its latency comparison passed.
    NotRegressed,
}

/// One compared step's added server time.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StepTime {
    pub step: String,
    /// Whether its `compare latency` check did not pass.
    pub regressed: bool,
    /// Mean service time (from the actual send), ms.
    pub service_mean_baseline_ms: f64,
    pub service_mean_candidate_ms: f64,
    /// The candidate's requests of this step per second of the run.
    pub throughput_per_s: f64,
    /// (Δ mean service time − shared wait, at least 0) × throughput: worker-seconds added
    /// per second of the run.
    pub added_worker_s_per_s: f64,
    /// Share of the added worker time of every compared step (0..1).
    pub share: f64,
    pub role: Role,
}

/// `comparisons.cause` in `verdict.json`: the compared steps ranked by added worker time.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Attribution {
    /// How the figures are computed, in a sentence.
    pub method: String,
    /// The rise in mean service time every step shows (the smallest among the compared
    /// steps), taken as time spent waiting for a worker and removed, ms.
    pub shared_wait_ms: f64,
    /// Σ added worker-seconds per second over the compared steps.
    pub added_worker_s_per_s: f64,
    /// The conclusion: the mechanisms, then the step, e.g. "lock contention (compare
    /// lock_wait_share (pg): 0.01 → 0.31); pos_order_sync/create_from_ui: 81% of the added
    /// worker time".
    pub named: String,
    /// The server-side mechanisms whose comparison regressed, most severe first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mechanisms: Vec<Mechanism>,
    /// The compared steps, most added worker time first.
    pub steps: Vec<StepTime>,
}

/// A server-side mechanism named as a cause: `comparisons.cause.mechanisms[]`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Mechanism {
    /// E.g. "lock contention", "idle in transaction", "Redis memory per session".
    pub mechanism: String,
    /// The check that found it, e.g. `compare lock_wait_share (pg)`.
    pub check: String,
    pub status: Status,
    /// Baseline → candidate, in a few words.
    pub evidence: String,
}

/// How a p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The exact permutation distribution of U (small samples without ties).
    Exact,
    /// Normal approximation with tie correction and continuity correction.
    Normal,
}

/// A percentile's distribution-free confidence interval, read from a histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct QuantileInterval {
    /// Samples the percentile is taken over.
    pub n: u64,
    /// Lower bound, in the histogram's unit: the lowest value of the bucket holding the
    /// `low`-th smallest sample (rounding down keeps the bound conservative); `None`: open.
    pub low: Option<f64>,
    /// Upper bound: the highest value of the bucket holding the `high`-th smallest sample;
    /// `None`: open above (too few samples to bound it).
    pub high: Option<f64>,
    /// Confidence level of [low, high], e.g. 0.95.
    pub confidence: f64,
}

/// The evidence behind a percentile check: `verdict.json` `percentiles`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PercentileEvidence {
    /// The check's name, e.g. `latency p99 pos_order_sync/*`.
    pub check: String,
    /// The transaction judged (the worst of those the selector matches).
    pub transaction: String,
    /// Samples the percentile is taken over.
    pub n: u64,
    /// The point estimate from run.json, ms.
    pub estimate_ms: f64,
    /// The confidence interval, ms; `null` where too few samples bound that side.
    pub low_ms: Option<f64>,
    pub high_ms: Option<f64>,
    pub confidence: f64,
    /// What the thresholds were compared with: the lower bound (0 when open below).
    pub judged_ms: f64,
}
