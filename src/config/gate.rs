//! The `[gate]` section as written, in a profile or in a `--gate FILE` (which holds a
//! `[gate]` section of its own and is merged over the profile's). Shapes only; `plan::gate`
//! checks the values and builds the typed gate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;

/// A warn and a fail threshold; either may be left out.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    pub warn: Option<f64>,
    pub fail: Option<f64>,
}

/// `[gate]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateFile {
    /// Selector (a step `scenario/step`, a scenario, or a glob of them) → percentiles in ms.
    #[serde(default)]
    pub latency: BTreeMap<Spanned<String>, Spanned<LatencyFile>>,
    /// Selector (`*` for every step) → error-rate limits.
    #[serde(default)]
    pub errors: BTreeMap<Spanned<String>, ErrorsFile>,
    /// Achieved and dropped journeys.
    #[serde(default)]
    pub journeys: JourneysFile,
    /// Checks on the probes' time series, by check name.
    #[serde(default)]
    pub probes: BTreeMap<String, Spanned<ProbeFile>>,
    /// How a `--baseline` comparison decides a regression.
    #[serde(default)]
    pub compare: CompareFile,
    /// Conditions that stop the load while it runs.
    pub abort: Option<AbortFile>,
    /// The stepped run (`--scale`).
    #[serde(default)]
    pub scale: ScaleFile,
    /// The load generator's own health: past these limits the run is inconclusive.
    #[serde(default)]
    pub generator: GeneratorFile,
}

impl GateFile {
    /// Where selector `sel` of `table` (`latency` or `errors`) is written, if it is.
    pub fn selector_span(&self, table: &str, sel: &str) -> Option<std::ops::Range<usize>> {
        let keys: Box<dyn Iterator<Item = &Spanned<String>>> = match table {
            "latency" => Box::new(self.latency.keys()),
            "errors" => Box::new(self.errors.keys()),
            _ => return None,
        };
        keys.into_iter()
            .find(|k| k.get_ref() == sel)
            .map(|k| k.span())
    }
}

/// `[gate.generator]`: when the load generator counts as unable to keep its plan.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorFile {
    /// Largest p99 of scheduling lateness (send minus intended start) over the run, ms.
    pub lateness_p99_ms: Option<Spanned<f64>>,
    /// Largest mean time peakgate's threads waited for a CPU, seconds per second (judged only
    /// when set)...
    pub runqueue_wait: Option<Spanned<f64>>,
    /// ...while the host's CPU pressure (share of time some task waited for a CPU) was above
    /// this mean, 0..1 (default 0.5).
    pub cpu_pressure: Option<Spanned<f64>>,
    /// Largest delay between an event and its recording, ms.
    pub recorder_lag_ms: Option<Spanned<f64>>,
}

/// `[gate.latency."<selector>"]`: thresholds in milliseconds per statistic.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyFile {
    pub p50: Option<Spanned<LimitsFile>>,
    pub p90: Option<Spanned<LimitsFile>>,
    pub p95: Option<Spanned<LimitsFile>>,
    pub p99: Option<Spanned<LimitsFile>>,
    pub p999: Option<Spanned<LimitsFile>>,
    pub max: Option<Spanned<LimitsFile>>,
    pub mean: Option<Spanned<LimitsFile>>,
}

/// `[gate.errors."<selector>"]`: failed requests as a share of requests (0..1).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsFile {
    /// Every failure.
    pub rate: Option<Spanned<LimitsFile>>,
    /// Failures of one kind (`timeout`, `http_502`, an Odoo exception name...).
    #[serde(default)]
    pub kinds: BTreeMap<String, Spanned<LimitsFile>>,
}

/// `[gate.journeys]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JourneysFile {
    /// Journeys started / planned; lower is worse.
    pub started_ratio: Option<Spanned<LimitsFile>>,
    /// Planned journeys dropped at the in-flight cap (a count).
    pub dropped: Option<Spanned<LimitsFile>>,
}

/// `[gate.probes.<check>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeFile {
    pub warn: Option<f64>,
    pub fail: Option<f64>,
    /// The probe (by its name in the profile); default: every probe of the check's kind.
    pub probe: Option<String>,
    /// `canary_latency_ms` only: which percentile of the canary's samples (default p95).
    pub percentile: Option<String>,
}

/// `[gate.compare]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareFile {
    /// Family-wise significance level, split over the steps compared (Bonferroni).
    pub alpha: Option<Spanned<f64>>,
    /// Candidate p95 / baseline p95 of a step: the relative change a regression needs.
    pub p95_ratio: Option<Spanned<LimitsFile>>,
    /// Hodges-Lehmann shift of a step's latency, ms: the absolute change a regression needs.
    pub shift_ms: Option<Spanned<LimitsFile>>,
    /// The smallest p95 ratio that fails (the fail level of `p95_ratio`, as one number).
    pub min_ratio: Option<Spanned<f64>>,
    /// The smallest Hodges-Lehmann shift that fails, ms (the fail level of `shift_ms`).
    pub min_shift_ms: Option<Spanned<f64>>,
    /// Increase of a step's error rate (absolute, 0..1).
    pub error_rate_increase: Option<Spanned<LimitsFile>>,
    /// Increase of rollbacks per committed transaction (PostgreSQL probes, 0..1).
    pub rollbacks_per_commit_increase: Option<Spanned<LimitsFile>>,
    /// Steps with fewer requests than this on either side are not compared.
    pub min_count: Option<Spanned<i64>>,
    /// The server-side series compared with the baseline's.
    pub server: Option<ServerCompareFile>,
}

/// `[gate.compare.server]`: the allowed increase of each server-side series, and the ratio a
/// regression must also exceed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerCompareFile {
    /// Share of working backends' time waiting for a lock (0..1).
    pub lock_wait_share: Option<Spanned<LimitsFile>>,
    /// Backends idle in transaction.
    pub idle_in_transaction: Option<Spanned<LimitsFile>>,
    /// Backends active or idle in a transaction.
    pub connections_in_use: Option<Spanned<LimitsFile>>,
    /// Redis memory growth per key gained, bytes.
    pub redis_bytes_per_key: Option<Spanned<LimitsFile>>,
    /// Candidate / baseline mean a regression must also exceed (default 1.5).
    pub min_ratio: Option<Spanned<f64>>,
}

/// `[gate.abort]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortFile {
    /// Sliding window the conditions hold over, e.g. `"10s"` (whole seconds).
    pub window: Spanned<String>,
    /// Stop when failed / finished requests over the window is above this (0..1).
    pub error_rate: Option<Spanned<f64>>,
    /// Stop when every second of the window has a request p95 above this, ms.
    pub p95_ms: Option<Spanned<f64>>,
    /// Requests the window needs before the error rate counts (default 20).
    pub min_requests: Option<Spanned<i64>>,
}

/// `[gate.scale]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleFile {
    /// The highest passing multiplier; lower is worse (default fail below 1).
    pub headroom: Option<Spanned<LimitsFile>>,
}

/// A `--gate FILE`: a `[gate]` section on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GateDocument {
    gate: GateFile,
}

/// A gate file read and parsed, with its text for located errors.
#[derive(Debug)]
pub struct GateSource {
    pub path: PathBuf,
    pub text: String,
    pub file: GateFile,
}

impl GateSource {
    /// Reads a `--gate FILE`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let doc: GateDocument =
            toml::from_str(&text).map_err(|e| ConfigError::toml(path, &text, &e))?;
        Ok(GateSource {
            path: path.to_path_buf(),
            text,
            file: doc.gate,
        })
    }
}
