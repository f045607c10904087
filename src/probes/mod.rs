//! probes: server-side evidence on the run's clock. Each probe (PostgreSQL, Redis, a canary
//! call, a Prometheus endpoint) samples at its interval on its own task, on a thread and
//! runtime of their own so a slow server never slows the load, and ends as a
//! [`ProbeReport`](crate::result::ProbeReport) (`run.json` `probes.<name>`) with times in seconds since the run's t0.

mod canary;
mod postgres;
mod prometheus;
mod redis;
mod runner;
mod track;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

pub use runner::{Finished, ProbeSet, StartError, try_connect};
pub use track::{Reading, Readings, Track};

/// What the probes read from the rest of the run (and share among themselves) without a lock.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The engine's in-flight journeys (the canary records it beside its latency).
    pub in_flight: Arc<AtomicUsize>,
    /// Odoo worker backends last seen by the postgres probe.
    pub odoo_backends: OdooBackends,
}

/// The latest count of `odoo%` backends the postgres probe saw, or none while it has no
/// fresh sample. One atomic: the canary reads it without waiting on the postgres probe.
#[derive(Debug, Clone)]
pub struct OdooBackends(Arc<AtomicU64>);

impl Default for OdooBackends {
    fn default() -> Self {
        OdooBackends(Arc::new(AtomicU64::new(u64::MAX)))
    }
}

impl OdooBackends {
    pub fn set(&self, n: Option<u64>) {
        self.0.store(n.unwrap_or(u64::MAX), Ordering::Relaxed);
    }
    pub fn get(&self) -> Option<u64> {
        let n = self.0.load(Ordering::Relaxed);
        (n != u64::MAX).then_some(n)
    }
}
