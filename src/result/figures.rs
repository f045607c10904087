//! The figures of `run.json` the recorder produces: per-transaction distributions, totals, the
//! per-second timeline and the load generator's health. Their shapes live here, with every
//! other persisted type; `metrics` fills them.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Percentiles of a distribution, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl LatencySummary {
    /// From a histogram of microseconds.
    pub fn from_micros(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| round3(us as f64 / 1000.0);
        LatencySummary {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: round3(h.mean() / 1000.0),
        }
    }
}

/// p50/p95/p99 in milliseconds, for the timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Quantiles {
    pub fn from_micros(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Quantiles::default();
        }
        let q = |x| round3(h.value_at_quantile(x) as f64 / 1000.0);
        Quantiles {
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
        }
    }
}

/// One step or one scenario's journeys over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// Requests (or journeys) finished, failed ones included.
    pub count: u64,
    /// Failures by kind (`connect`, `timeout`, `http_502`, an Odoo `data.name`, ...).
    pub errors: BTreeMap<String, u64>,
    /// From the intended start: what a user waited.
    pub latency_ms: LatencySummary,
    /// From the actual send: what the server took (journeys: same as latency minus start delay).
    pub service_ms: LatencySummary,
    /// Redirects followed by its page requests (their time is in the latency).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub redirects: u64,
    /// What the failures said: per kind, its first distinct messages (at most
    /// [`MESSAGES_PER_KIND`]), each with its count and the first and last second it was seen;
    /// secrets removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<ErrorMessage>,
}

/// Distinct messages kept per error kind of a step.
pub const MESSAGES_PER_KIND: usize = 5;
/// Error kinds kept per step; further kinds are counted as `other` (a target whose error
/// names vary must not grow the record with every request).
pub const KINDS_PER_STEP: usize = 16;
/// A message's length kept, in characters.
pub const MESSAGE_CHARS: usize = 300;

/// One distinct failure message of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub kind: String,
    pub message: String,
    pub count: u64,
    /// Seconds from the run's start.
    pub first_s: u64,
    pub last_s: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Counts over the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Journeys the plan asked for, up to when the load stopped.
    pub planned: u64,
    /// Journeys started.
    pub started: u64,
    /// Planned journeys not started because `max_in_flight` was reached.
    pub dropped: u64,
    /// Journeys that finished (all steps done, or stopped at a failure).
    pub journeys: u64,
    /// Journeys that stopped at a failed step.
    pub journeys_failed: u64,
    /// Requests that finished, failed ones included.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Sessions that expired (code 100) and were logged in again.
    pub reauthentications: u64,
}

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Seconds since t0 at the window's start.
    pub t: u64,
    pub planned: u64,
    pub started: u64,
    pub dropped: u64,
    /// Journeys that finished in this second.
    pub journeys: u64,
    /// Requests that finished in this second.
    pub requests: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Journeys in flight when the window closed.
    pub in_flight: u64,
    /// Latency of all requests that finished in this second.
    pub latency_ms: Quantiles,
    /// Per scenario: its requests' count, errors and latency in this second.
    pub scenarios: BTreeMap<String, ScenarioWindow>,
    /// The load generator's own health in this second.
    #[serde(default)]
    pub generator: GeneratorWindow,
}

/// The load generator's health in one second: did it send when the plan said, did the
/// recorder keep up, and was the machine it ran on free to run it. Host figures are absent
/// where `/proc` cannot be read (see `metrics::host`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorWindow {
    /// Scheduling lateness of the requests that finished in this second: actual send minus
    /// intended start, ms. The engine's own delay, before any network or server time.
    pub lateness_p99_ms: f64,
    pub lateness_max_ms: f64,
    /// How long after it happened the recorder took in an event, ms (the second's largest).
    pub recorder_lag_ms: f64,
    /// CPU cores peakgate used (the built-in stand-in included when it runs in-process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores: Option<f64>,
    /// Seconds per second peakgate's threads were runnable but waited for a CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runqueue_wait: Option<f64>,
    /// Share of the host's CPU time that was busy, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_busy: Option<f64>,
    /// Share of the host's CPU time stolen by a hypervisor, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_steal: Option<f64>,
    /// Share of the second some task on the host waited for a CPU (PSI `some`), 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pressure: Option<f64>,
    /// One-minute load average.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load1: Option<f64>,
}

/// The load generator's health over the whole run (`run.json` `generator`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSummary {
    /// Scheduling lateness of every request (actual send minus intended start), ms.
    pub lateness_ms: LatencySummary,
    /// The recorder's largest lag, ms.
    pub recorder_lag_max_ms: f64,
    /// CPUs the host offers to peakgate.
    pub cores: usize,
    /// Means and maxima over the run's seconds of the [`GeneratorWindow`] figures; absent
    /// where unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores_max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runqueue_wait_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_busy_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_steal_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pressure_mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load1_max: Option<f64>,
}

impl GeneratorSummary {
    /// The run's summary from its lateness histogram (µs), largest recorder lag and timeline.
    pub fn new(lateness: &Histogram<u64>, lag_max_ms: f64, timeline: &[TimelineEntry]) -> Self {
        let g: Vec<&GeneratorWindow> = timeline.iter().map(|e| &e.generator).collect();
        let mean = |f: fn(&GeneratorWindow) -> Option<f64>| {
            let v: Vec<f64> = g.iter().filter_map(|w| f(w)).collect();
            (!v.is_empty()).then(|| round3(v.iter().sum::<f64>() / v.len() as f64))
        };
        let max = |f: fn(&GeneratorWindow) -> Option<f64>| {
            g.iter().filter_map(|w| f(w)).reduce(f64::max).map(round3)
        };
        GeneratorSummary {
            lateness_ms: LatencySummary::from_micros(lateness),
            recorder_lag_max_ms: round3(lag_max_ms),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_cores_max: max(|w| w.cpu_cores),
            runqueue_wait_mean: mean(|w| w.runqueue_wait),
            host_busy_mean: mean(|w| w.host_busy),
            host_steal_mean: mean(|w| w.host_steal),
            cpu_pressure_mean: mean(|w| w.cpu_pressure),
            load1_max: max(|w| w.load1),
        }
    }
}

/// A scenario's requests within one second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioWindow {
    pub requests: u64,
    pub errors: u64,
    pub latency_ms: Quantiles,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
