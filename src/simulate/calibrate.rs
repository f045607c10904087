//! Calibration: each step's service-time law and failure rate, read from a measured run.
//!
//! The laws come from the run's `latency.hlog`, not from `run.json`: the log holds each step's
//! whole HDR histogram (every recorded value, 3 significant digits), where `run.json` keeps
//! only seven summary figures. A step's latency counts from its intended start, which for every
//! step but a journey's first is the moment it was sent (previous end + think time), and for the
//! first is the arrival, sent within the scheduler's lateness (microseconds). So in a run whose
//! server did not queue, the log's latency *is* the service time. A calibration run should
//! therefore be a light one; [`Calibration::queueing_hint`] estimates how much of its figures
//! is queueing, so the simulator can say so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use rand::{Rng, RngExt};

use crate::capacity::erlang;
use crate::metrics::hlog;
use crate::result::RunResult;

/// A service-time law drawn from an HDR histogram: a bucket is chosen by its count, and a value
/// uniformly within the bucket's range of equivalent values.
#[derive(Debug, Clone)]
pub struct ServiceLaw {
    /// (cumulative count, lowest value µs, highest value µs) per non-empty bucket.
    buckets: Vec<(u64, f64, f64)>,
    total: u64,
    /// Mean of the histogram, seconds.
    pub mean_s: f64,
    /// Measurements behind the law.
    pub count: u64,
}

impl ServiceLaw {
    /// From a histogram of microseconds; `None` when it is empty.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<ServiceLaw> {
        if h.is_empty() {
            return None;
        }
        let mut buckets = Vec::new();
        let mut cum = 0;
        for v in h.iter_recorded() {
            let value = v.value_iterated_to();
            cum += v.count_at_value();
            let low = h.lowest_equivalent(value) as f64;
            let high = h.highest_equivalent(value) as f64 + 1.0;
            buckets.push((cum, low, high));
        }
        Some(ServiceLaw {
            buckets,
            total: cum,
            mean_s: h.mean() / 1e6,
            count: h.len(),
        })
    }

    /// One service time, seconds.
    pub fn draw(&self, rng: &mut impl Rng) -> f64 {
        let k = rng.random_range(0..self.total);
        let i = self.buckets.partition_point(|(cum, _, _)| *cum <= k);
        let (_, low, high) = self.buckets[i.min(self.buckets.len() - 1)];
        (low + (high - low) * rng.random::<f64>()) / 1e6
    }
}

/// A step's failure rate and the failure kind it shows most.
#[derive(Debug, Clone, PartialEq)]
pub struct Failures {
    /// Failed requests / requests, 0..1.
    pub rate: f64,
    /// The most frequent error kind (what a simulated failure is labelled).
    pub kind: String,
}

/// Everything the simulator takes from a calibration run.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub run_id: String,
    pub dir: PathBuf,
    /// Step name (`scenario/step`) → service-time law.
    pub laws: BTreeMap<String, ServiceLaw>,
    /// Step name → failures, for steps that failed at all.
    pub failures: BTreeMap<String, Failures>,
    /// The calibration run itself, for its figures.
    pub run: RunResult,
}

/// Why a calibration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error(transparent)]
    Run(#[from] crate::result::ResultError),
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Log {
        path: PathBuf,
        source: hlog::HlogError,
    },
    #[error(
        "calibration run {run} has no measurements of step(s) {steps}: calibrate from a run of a profile with the same scenarios"
    )]
    MissingSteps { run: String, steps: String },
}

impl Calibration {
    /// Reads `run.json` and `latency.hlog` from a run folder.
    pub fn load(dir: &Path) -> Result<Calibration, CalibrationError> {
        let run = RunResult::load(dir)?;
        let path = dir.join("latency.hlog");
        let bytes = std::fs::read(&path).map_err(|source| CalibrationError::Read {
            path: path.clone(),
            source,
        })?;
        let merged = hlog::read_merged(&bytes).map_err(|source| CalibrationError::Log {
            path: path.clone(),
            source,
        })?;
        let laws = merged
            .iter()
            .filter_map(|(step, h)| ServiceLaw::from_histogram(h).map(|l| (step.clone(), l)))
            .collect();
        let failures = run
            .transactions
            .iter()
            .filter(|(name, _)| name.contains('/'))
            .filter_map(|(name, tx)| {
                let failed: u64 = tx.errors.values().sum();
                let (kind, _) = tx.errors.iter().max_by_key(|(_, n)| **n)?;
                (failed > 0 && tx.count > 0).then(|| {
                    (
                        name.clone(),
                        Failures {
                            rate: failed as f64 / tx.count as f64,
                            kind: kind.clone(),
                        },
                    )
                })
            })
            .collect();
        Ok(Calibration {
            run_id: run.run_id.clone(),
            dir: dir.to_path_buf(),
            laws,
            failures,
            run,
        })
    }

    /// The laws of `steps` in order; an error names every step the run did not measure.
    pub fn laws_for(&self, steps: &[String]) -> Result<Vec<Option<ServiceLaw>>, CalibrationError> {
        let missing: Vec<&str> = steps
            .iter()
            .enumerate()
            // The login step (id 0) is only needed when a scenario logs in.
            .filter(|(i, s)| *i != crate::plan::AUTH_STEP_ID && !self.laws.contains_key(*s))
            .map(|(_, s)| s.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(CalibrationError::MissingSteps {
                run: self.run_id.clone(),
                steps: missing.join(", "),
            });
        }
        Ok(steps.iter().map(|s| self.laws.get(s).cloned()).collect())
    }

    /// How much of the calibration's latency may be queueing: the Erlang C probability of
    /// waiting at the run's mean request rate and mean service time on `workers`, when the
    /// worker count is known.
    pub fn queueing_hint(&self, workers: Option<usize>) -> Option<erlang::Queue> {
        let workers = workers? as u32;
        let r = &self.run;
        let (mut n, mut busy_s) = (0u64, 0.0);
        for (name, tx) in r.transactions.iter().filter(|(k, _)| k.contains('/')) {
            if let Some(l) = self.laws.get(name) {
                n += tx.count;
                busy_s += tx.count as f64 * l.mean_s;
            }
        }
        if n == 0 || r.duration_s <= 0.0 {
            return None;
        }
        let rate = n as f64 / r.duration_s;
        Some(erlang::queue(workers, rate, busy_s / n as f64, 0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_follow_the_histogram() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        // 80% at ~10 ms, 20% at ~50 ms.
        h.record_n(10_000, 800).unwrap();
        h.record_n(50_000, 200).unwrap();
        let law = ServiceLaw::from_histogram(&h).unwrap();
        assert!((law.mean_s - 0.018).abs() < 1e-4, "{}", law.mean_s);
        let mut rng = crate::plan::generator::JourneyRng::seed_from_u64(7);
        let draws: Vec<f64> = (0..20_000).map(|_| law.draw(&mut rng)).collect();
        let slow = draws.iter().filter(|d| **d > 0.03).count() as f64 / draws.len() as f64;
        assert!((slow - 0.2).abs() < 0.015, "slow share {slow}");
        // Within the bucket's equivalent range (3 significant digits).
        assert!(
            draws
                .iter()
                .all(|d| (*d - 0.010).abs() < 2e-5 || (*d - 0.050).abs() < 1e-4)
        );
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.018).abs() < 0.0006, "mean {mean}");
    }
}
