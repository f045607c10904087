//! The typed release gate: every check with its thresholds, checked once. Built from a
//! profile's `[gate]` with a `--gate FILE` merged over it, stored beside a run as
//! `gate.json` so `peakgate verdict` judges a stored run by the gate it ran with.

mod build;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::ProbeKind;

/// A warn and a fail threshold. Which side is worse depends on the check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Beyond it the check warns; in the check's unit.
    pub warn: Option<f64>,
    /// Beyond it the check fails.
    pub fail: Option<f64>,
}

/// Whether a larger observed value is worse (latency) or better (coverage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worse {
    Higher,
    Lower,
}

/// A latency statistic of a transaction, as in `run.json`'s `latency_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stat {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
    Mean,
}

impl Stat {
    pub fn name(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
            Stat::Mean => "mean",
        }
    }

    /// The quantile a percentile stands for (`None` for max and mean).
    pub fn quantile(self) -> Option<f64> {
        match self {
            Stat::P50 => Some(0.5),
            Stat::P90 => Some(0.9),
            Stat::P95 => Some(0.95),
            Stat::P99 => Some(0.99),
            Stat::P999 => Some(0.999),
            Stat::Max | Stat::Mean => None,
        }
    }

    pub(super) fn parse(s: &str) -> Option<Stat> {
        [
            Stat::P50,
            Stat::P90,
            Stat::P95,
            Stat::P99,
            Stat::P999,
            Stat::Max,
            Stat::Mean,
        ]
        .into_iter()
        .find(|x| x.name() == s)
    }
}

/// What a probe-derived check measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeMetric {
    /// Peak of PostgreSQL `connections_total / max_connections` (0..1).
    PgConnectionsShare,
    /// Peak count of sessions idle in a transaction.
    PgIdleInTransaction,
    /// Peak count of backends waiting on a lock.
    PgLockWaits,
    /// Peak rollbacks per second. Depends on the load and on the probe interval; prefer
    /// `PgRollbacksPerCommit`.
    PgRollbacksPerS,
    /// Rollbacks per committed transaction over the run (Σ rollbacks / Σ commits).
    PgRollbacksPerCommit,
    /// Deadlocks over the run (a count).
    PgDeadlocks,
    /// Peak age of the oldest open transaction, seconds.
    PgOldestXactAgeS,
    /// Peak lag of the most overdue active cron, seconds.
    PgCronLagS,
    /// Peak `queue_job` backlog (pending + enqueued jobs).
    PgQueueJobBacklog,
    /// Peak Redis `used_memory / maxmemory` (0..1).
    RedisMemoryShare,
    /// Keys Redis evicted over the run.
    RedisEvictedKeys,
    /// Connections Redis rejected over the run.
    RedisRejectedConnections,
    /// A percentile of the canary's latency samples, ms (worker saturation seen from outside).
    CanaryLatencyMs,
    /// Lowest share of the run a probe covered (0..1).
    ProbeCoverage,
}

impl ProbeMetric {
    pub const ALL: [ProbeMetric; 14] = [
        ProbeMetric::PgConnectionsShare,
        ProbeMetric::PgIdleInTransaction,
        ProbeMetric::PgLockWaits,
        ProbeMetric::PgRollbacksPerS,
        ProbeMetric::PgRollbacksPerCommit,
        ProbeMetric::PgDeadlocks,
        ProbeMetric::PgOldestXactAgeS,
        ProbeMetric::PgCronLagS,
        ProbeMetric::PgQueueJobBacklog,
        ProbeMetric::RedisMemoryShare,
        ProbeMetric::RedisEvictedKeys,
        ProbeMetric::RedisRejectedConnections,
        ProbeMetric::CanaryLatencyMs,
        ProbeMetric::ProbeCoverage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProbeMetric::PgConnectionsShare => "pg_connections_share",
            ProbeMetric::PgIdleInTransaction => "pg_idle_in_transaction",
            ProbeMetric::PgLockWaits => "pg_lock_waits",
            ProbeMetric::PgRollbacksPerS => "pg_rollbacks_per_s",
            ProbeMetric::PgRollbacksPerCommit => "pg_rollbacks_per_commit",
            ProbeMetric::PgDeadlocks => "pg_deadlocks",
            ProbeMetric::PgOldestXactAgeS => "pg_oldest_xact_age_s",
            ProbeMetric::PgCronLagS => "pg_cron_lag_s",
            ProbeMetric::PgQueueJobBacklog => "pg_queue_job_backlog",
            ProbeMetric::RedisMemoryShare => "redis_memory_share",
            ProbeMetric::RedisEvictedKeys => "redis_evicted_keys",
            ProbeMetric::RedisRejectedConnections => "redis_rejected_connections",
            ProbeMetric::CanaryLatencyMs => "canary_latency_ms",
            ProbeMetric::ProbeCoverage => "probe_coverage",
        }
    }

    /// The kind of probe whose series it reads (`None`: any probe, for `probe_coverage`).
    pub fn probe_kind(self) -> Option<ProbeKind> {
        use ProbeMetric::*;
        match self {
            PgConnectionsShare | PgIdleInTransaction | PgLockWaits | PgRollbacksPerS
            | PgRollbacksPerCommit | PgDeadlocks | PgOldestXactAgeS | PgCronLagS
            | PgQueueJobBacklog => Some(ProbeKind::Postgres),
            RedisMemoryShare | RedisEvictedKeys | RedisRejectedConnections => {
                Some(ProbeKind::Redis)
            }
            CanaryLatencyMs => Some(ProbeKind::Canary),
            ProbeCoverage => None,
        }
    }

    pub fn worse(self) -> Worse {
        match self {
            ProbeMetric::ProbeCoverage => Worse::Lower,
            _ => Worse::Higher,
        }
    }

    /// True for checks whose value is a share between 0 and 1.
    pub(super) fn is_share(self) -> bool {
        matches!(
            self,
            ProbeMetric::PgConnectionsShare
                | ProbeMetric::RedisMemoryShare
                | ProbeMetric::ProbeCoverage
        )
    }
}

/// Error-rate checks of one selector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorLimits {
    /// All failures / requests.
    pub rate: Option<Limits>,
    /// Failures of one kind / requests.
    pub kinds: BTreeMap<String, Limits>,
}

/// A probe-derived check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeCheck {
    pub limits: Limits,
    /// Only this probe; `None`: every probe of the check's kind.
    pub probe: Option<String>,
    /// Canary latency: the percentile (p95 when `None`).
    pub percentile: Option<Stat>,
}

/// How a baseline comparison decides a regression. `None` fields take the defaults below.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Compare {
    /// Family-wise significance level, split over the steps compared.
    pub alpha: Option<f64>,
    /// Candidate p95 / baseline p95 a regression must exceed (`min_ratio` is its fail level).
    /// A level is reached only when the shift reaches it too.
    pub p95_ratio: Option<Limits>,
    /// Hodges-Lehmann shift a regression must exceed, ms (`min_shift_ms` is its fail level).
    pub shift_ms: Option<Limits>,
    /// Allowed error-rate increase (absolute, 0..1).
    pub error_rate_increase: Option<Limits>,
    /// Allowed increase of rollbacks per committed transaction (PostgreSQL probes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollbacks_per_commit_increase: Option<Limits>,
    /// Requests a step needs on each side to be compared.
    pub min_count: Option<u64>,
    /// Allowed increase of each server-side series (`[gate.compare.server]`); a metric not
    /// set takes [`ServerMetric::default_increase`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server: BTreeMap<ServerMetric, Limits>,
    /// Candidate / baseline mean a server-side regression must also exceed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_min_ratio: Option<f64>,
}

/// A server-side series compared with the baseline's (`[gate.compare.server]`): each names
/// the mechanism its regression points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerMetric {
    /// PostgreSQL: share of the working backends' time spent waiting for a lock (0..1),
    /// per probe interval, from the probe's 10 Hz wait-event samples.
    LockWaitShare,
    /// PostgreSQL: backends idle in transaction, per probe interval.
    IdleInTransaction,
    /// PostgreSQL: backends holding a connection busy (active, or idle in a transaction).
    ConnectionsInUse,
    /// Redis: memory the server grows by per key it gains over the run (bytes): what a
    /// session costs in Odoo's Redis session store.
    RedisBytesPerKey,
}

impl ServerMetric {
    pub const ALL: [ServerMetric; 4] = [
        ServerMetric::LockWaitShare,
        ServerMetric::IdleInTransaction,
        ServerMetric::ConnectionsInUse,
        ServerMetric::RedisBytesPerKey,
    ];
    pub const DEFAULT_MIN_RATIO: f64 = 1.5;

    /// The name in `[gate.compare.server]` and in `verdict.json`.
    pub fn name(self) -> &'static str {
        match self {
            ServerMetric::LockWaitShare => "lock_wait_share",
            ServerMetric::IdleInTransaction => "idle_in_transaction",
            ServerMetric::ConnectionsInUse => "connections_in_use",
            ServerMetric::RedisBytesPerKey => "redis_bytes_per_key",
        }
    }

    /// The probe kind whose series it reads.
    pub fn probe_kind(self) -> ProbeKind {
        match self {
            ServerMetric::RedisBytesPerKey => ProbeKind::Redis,
            _ => ProbeKind::Postgres,
        }
    }

    /// What a regression of it points at, as the cause names it.
    pub fn mechanism(self) -> &'static str {
        match self {
            ServerMetric::LockWaitShare => "lock contention",
            ServerMetric::IdleInTransaction => "idle in transaction",
            ServerMetric::ConnectionsInUse => "connections held longer",
            ServerMetric::RedisBytesPerKey => "Redis memory per session",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            ServerMetric::LockWaitShare => "",
            ServerMetric::IdleInTransaction | ServerMetric::ConnectionsInUse => " backends",
            ServerMetric::RedisBytesPerKey => " B",
        }
    }

    /// The increase (candidate − baseline: Hodges-Lehmann shift of the per-interval values,
    /// or the difference of the bytes-per-key slopes) beyond which a significant rise warns
    /// and fails. More connections in use follow from any slowdown, so they only warn.
    pub fn default_increase(self) -> Limits {
        let (warn, fail) = match self {
            ServerMetric::LockWaitShare => (Some(0.05), Some(0.10)),
            ServerMetric::IdleInTransaction => (Some(1.0), Some(2.0)),
            ServerMetric::ConnectionsInUse => (Some(2.0), None),
            ServerMetric::RedisBytesPerKey => (Some(2048.0), Some(8192.0)),
        };
        Limits { warn, fail }
    }
}

impl Compare {
    pub const DEFAULT_ALPHA: f64 = 0.01;
    pub const DEFAULT_P95_RATIO: Limits = Limits {
        warn: None,
        fail: Some(1.10),
    };
    pub const DEFAULT_SHIFT_MS: Limits = Limits {
        warn: None,
        fail: Some(20.0),
    };
    pub const DEFAULT_ERROR_RATE_INCREASE: Limits = Limits {
        warn: Some(0.005),
        fail: Some(0.02),
    };
    pub const DEFAULT_MIN_COUNT: u64 = 20;
    pub const DEFAULT_ROLLBACKS_PER_COMMIT_INCREASE: Limits = Limits {
        warn: Some(0.05),
        fail: Some(0.25),
    };

    pub fn alpha(&self) -> f64 {
        self.alpha.unwrap_or(Self::DEFAULT_ALPHA)
    }
    pub fn p95_ratio(&self) -> Limits {
        self.p95_ratio.unwrap_or(Self::DEFAULT_P95_RATIO)
    }
    pub fn shift_ms(&self) -> Limits {
        self.shift_ms.unwrap_or(Self::DEFAULT_SHIFT_MS)
    }
    pub fn error_rate_increase(&self) -> Limits {
        self.error_rate_increase
            .unwrap_or(Self::DEFAULT_ERROR_RATE_INCREASE)
    }
    pub fn rollbacks_per_commit_increase(&self) -> Limits {
        self.rollbacks_per_commit_increase
            .unwrap_or(Self::DEFAULT_ROLLBACKS_PER_COMMIT_INCREASE)
    }
    pub fn min_count(&self) -> u64 {
        self.min_count.unwrap_or(Self::DEFAULT_MIN_COUNT)
    }
    pub fn server_increase(&self, m: ServerMetric) -> Limits {
        self.server
            .get(&m)
            .copied()
            .unwrap_or_else(|| m.default_increase())
    }
    pub fn server_min_ratio(&self) -> f64 {
        self.server_min_ratio
            .unwrap_or(ServerMetric::DEFAULT_MIN_RATIO)
    }
}

/// Conditions that stop a run while it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Abort {
    /// Seconds the conditions are evaluated over.
    pub window_s: u64,
    /// Failed / finished requests over the window above which the load stops.
    pub error_rate: Option<f64>,
    /// Request p95 above which, in every second of the window, the load stops, ms.
    pub p95_ms: Option<f64>,
    /// Requests the window needs before its error rate counts.
    pub min_requests: u64,
}

/// The release gate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    /// Selector → statistic → thresholds in ms.
    pub latency: BTreeMap<String, BTreeMap<Stat, Limits>>,
    /// Selector → error-rate thresholds.
    pub errors: BTreeMap<String, ErrorLimits>,
    /// Journeys started / planned (lower is worse).
    pub started_ratio: Option<Limits>,
    /// Journeys dropped at the in-flight cap.
    pub dropped: Option<Limits>,
    /// Probe-derived checks by what they measure.
    pub probes: BTreeMap<ProbeMetric, ProbeCheck>,
    /// How `--baseline` decides a regression.
    pub compare: Compare,
    /// Conditions that stop the load while it runs.
    pub abort: Option<Abort>,
    /// Highest passing multiplier of a `--scale` run (lower is worse); default fail below 1.
    pub headroom: Option<Limits>,
    /// When the load generator counts as unable to keep its plan.
    #[serde(default)]
    pub generator: Generator,
}

/// `[gate.generator]`: past any of these the load generator did not keep its plan and the
/// run is inconclusive. `None` fields take the defaults below.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    pub lateness_p99_ms: Option<f64>,
    pub runqueue_wait: Option<f64>,
    pub cpu_pressure: Option<f64>,
    pub recorder_lag_ms: Option<f64>,
}

impl Generator {
    /// p99 of scheduling lateness over the run, ms: ten times the engine's own on a busy
    /// 2-core host (3–10 ms in a debug build; see README).
    pub const DEFAULT_LATENESS_P99_MS: f64 = 50.0;
    /// With `runqueue_wait` set: the host's CPU pressure above which its wait counts.
    pub const DEFAULT_CPU_PRESSURE: f64 = 0.5;
    /// The recorder took in an event more than a second after it happened: the second it
    /// belongs to had closed.
    pub const DEFAULT_RECORDER_LAG_MS: f64 = 1000.0;

    pub fn lateness_p99_ms(&self) -> f64 {
        self.lateness_p99_ms
            .unwrap_or(Self::DEFAULT_LATENESS_P99_MS)
    }
    /// The starvation rule, judged only when set: a target on the same host that keeps its
    /// CPUs busy starves the generator as much as a stray process does, so it is the
    /// profile's call.
    pub fn runqueue_wait(&self) -> Option<f64> {
        self.runqueue_wait
    }
    pub fn cpu_pressure(&self) -> f64 {
        self.cpu_pressure.unwrap_or(Self::DEFAULT_CPU_PRESSURE)
    }
    pub fn recorder_lag_ms(&self) -> f64 {
        self.recorder_lag_ms
            .unwrap_or(Self::DEFAULT_RECORDER_LAG_MS)
    }
}

impl Gate {
    pub const DEFAULT_HEADROOM: Limits = Limits {
        warn: None,
        fail: Some(1.0),
    };

    /// `other`'s checks replace this gate's checks of the same name; the rest stay.
    pub fn merge(&mut self, other: Gate) {
        for (sel, stats) in other.latency {
            self.latency.entry(sel).or_default().extend(stats);
        }
        for (sel, e) in other.errors {
            let into = self.errors.entry(sel).or_default();
            if e.rate.is_some() {
                into.rate = e.rate;
            }
            into.kinds.extend(e.kinds);
        }
        self.started_ratio = other.started_ratio.or(self.started_ratio);
        self.dropped = other.dropped.or(self.dropped);
        self.probes.extend(other.probes);
        let c = other.compare;
        self.compare.alpha = c.alpha.or(self.compare.alpha);
        self.compare.p95_ratio = c.p95_ratio.or(self.compare.p95_ratio);
        self.compare.shift_ms = c.shift_ms.or(self.compare.shift_ms);
        self.compare.error_rate_increase =
            c.error_rate_increase.or(self.compare.error_rate_increase);
        self.compare.min_count = c.min_count.or(self.compare.min_count);
        self.compare.rollbacks_per_commit_increase = c
            .rollbacks_per_commit_increase
            .or(self.compare.rollbacks_per_commit_increase);
        self.compare.server.extend(c.server);
        self.compare.server_min_ratio = c.server_min_ratio.or(self.compare.server_min_ratio);
        if other.abort.is_some() {
            self.abort = other.abort;
        }
        self.headroom = other.headroom.or(self.headroom);
        let g = other.generator;
        self.generator.lateness_p99_ms = g.lateness_p99_ms.or(self.generator.lateness_p99_ms);
        self.generator.runqueue_wait = g.runqueue_wait.or(self.generator.runqueue_wait);
        self.generator.cpu_pressure = g.cpu_pressure.or(self.generator.cpu_pressure);
        self.generator.recorder_lag_ms = g.recorder_lag_ms.or(self.generator.recorder_lag_ms);
    }

    pub fn headroom(&self) -> Limits {
        self.headroom.unwrap_or(Self::DEFAULT_HEADROOM)
    }
}

/// A compiled selector.
pub struct Selector(globset::GlobMatcher);

impl Selector {
    pub fn new(sel: &str) -> Result<Selector, String> {
        globset::GlobBuilder::new(sel)
            .literal_separator(true)
            .build()
            .map(|g| Selector(g.compile_matcher()))
            .map_err(|e| format!("`{sel}` is not a valid selector: {e}"))
    }

    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_do_not_cross_the_step_separator() {
        let s = Selector::new("*").unwrap();
        assert!(s.matches("pos_order_sync") && !s.matches("pos_order_sync/create_from_ui"));
        let s = Selector::new("pos_order_sync/*").unwrap();
        assert!(s.matches("pos_order_sync/create_from_ui") && !s.matches("ecommerce_cart/shop"));
    }
}
