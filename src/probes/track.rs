//! One probe's record: its series (counters turned into per-second rates), gaps and
//! coverage, and the `run.json` shape it ends as.

use std::collections::{BTreeMap, HashMap};

use crate::plan::ProbeKind;
use crate::result::{Gap, ProbeReport};

/// A value read by one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// A level, kept as read.
    Gauge(f64),
    /// A monotonic counter, kept as its per-second rate since the previous sample.
    Counter(f64),
}

/// Series name → value, from one sample.
pub type Readings = Vec<(String, Reading)>;

/// What a probe task accumulates while the run goes.
#[derive(Debug, Default)]
pub struct Track {
    series: BTreeMap<String, Vec<[f64; 2]>>,
    /// Last `(t, value)` of each counter, for its next rate.
    counters: HashMap<String, (f64, f64)>,
    gaps: Vec<Gap>,
    /// True from a failure until the next good sample: one gap per outage.
    in_gap: bool,
    /// Intervals sampled.
    pub sampled: u64,
}

impl Track {
    /// Stores one sample taken at `t` seconds since t0.
    pub fn record(&mut self, t: f64, readings: Readings) {
        for (name, reading) in readings {
            match reading {
                Reading::Gauge(v) if v.is_finite() => self.push(name, t, v),
                Reading::Gauge(_) => {}
                Reading::Counter(v) => {
                    if let Some((t_prev, v_prev)) = self.counters.insert(name.clone(), (t, v))
                        && t > t_prev
                    {
                        // A counter that went down was reset: it counted `v` since the reset.
                        let delta = if v >= v_prev { v - v_prev } else { v };
                        self.push(name, t, delta / (t - t_prev));
                    }
                }
            }
        }
        self.sampled += 1;
        self.in_gap = false;
    }

    /// Notes a failed interval; only the first failure of an outage is kept.
    pub fn fail(&mut self, t: f64, reason: String) {
        if !self.in_gap {
            self.gaps.push(Gap {
                t: round(t, 3),
                reason,
            });
            self.in_gap = true;
        }
    }

    fn push(&mut self, name: String, t: f64, v: f64) {
        self.series
            .entry(name)
            .or_default()
            .push([round(t, 3), round(v, 6)]);
    }

    /// The report, with `intervals` the number of intervals the run lasted.
    pub fn finish(
        self,
        kind: ProbeKind,
        target: String,
        interval_s: f64,
        intervals: u64,
        missing: Vec<String>,
    ) -> ProbeReport {
        let coverage = if intervals == 0 {
            0.0
        } else {
            (self.sampled as f64 / intervals as f64).min(1.0)
        };
        ProbeReport {
            kind,
            target,
            interval_s,
            coverage: round(coverage, 4),
            gaps: self.gaps,
            missing,
            series: self.series,
        }
    }
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_become_rates_and_resets_restart_them() {
        let mut t = Track::default();
        let c = |v| vec![("commits_per_s".to_string(), Reading::Counter(v))];
        t.record(0.0, c(100.0));
        t.record(2.0, c(160.0));
        t.record(3.0, c(10.0));
        let r = t.finish(ProbeKind::Postgres, "x".into(), 1.0, 4, vec![]);
        assert_eq!(r.series["commits_per_s"], vec![[2.0, 30.0], [3.0, 10.0]]);
        assert_eq!(r.coverage, 0.75);
    }

    #[test]
    fn an_outage_is_one_gap_and_a_good_sample_ends_it() {
        let mut t = Track::default();
        t.record(0.0, vec![("g".into(), Reading::Gauge(1.0))]);
        t.fail(1.0, "connection closed".into());
        t.fail(2.0, "connection refused".into());
        t.record(3.0, vec![("g".into(), Reading::Gauge(f64::NAN))]);
        t.fail(4.0, "timeout".into());
        let r = t.finish(ProbeKind::Redis, "x".into(), 1.0, 5, vec![]);
        assert_eq!(
            r.gaps,
            vec![
                Gap {
                    t: 1.0,
                    reason: "connection closed".into()
                },
                Gap {
                    t: 4.0,
                    reason: "timeout".into()
                }
            ]
        );
        assert_eq!(r.series["g"], vec![[0.0, 1.0]]);
        assert_eq!(r.coverage, 0.4);
    }
}
