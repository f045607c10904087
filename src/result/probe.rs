//! `probes.<name>` in `run.json`: one probe's series on the run's clock, its gaps and coverage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::ProbeKind;

/// A stretch where a probe could not sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// Seconds since t0 of the first interval that was missed.
    pub t: f64,
    /// Why, in the server's or client's words.
    pub reason: String,
}

/// `probes.<name>` in `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub kind: ProbeKind,
    /// The URL probed, without its password.
    #[serde(default)]
    pub target: String,
    /// Seconds between two samples.
    pub interval_s: f64,
    /// Fraction of the run's intervals that were sampled, 0..=1.
    pub coverage: f64,
    /// One entry per outage: when it started and why.
    #[serde(default)]
    pub gaps: Vec<Gap>,
    /// What the probe looked for and did not find (Odoo tables, Prometheus series).
    #[serde(default)]
    pub missing: Vec<String>,
    /// Series name → `[seconds since t0, value]` points, in time order.
    #[serde(default)]
    pub series: BTreeMap<String, Vec<[f64; 2]>>,
}

impl ProbeReport {
    /// The `[t, value]` points of a series, when the probe collected it.
    pub fn points(&self, name: &str) -> Option<&[[f64; 2]]> {
        self.series.get(name).map(Vec::as_slice)
    }
}
