//! verdict: pure judgement of a stored run. (RunResult, Gate, optional baseline) → Verdict,
//! with every check's observed value, thresholds and evidence. Never sees the engine: it
//! works the same on a run in memory and on one loaded from disk (`peakgate verdict`).

pub mod abort;
pub mod annotations;
pub mod cause;
mod checks;
pub mod compare;
pub mod generator;
pub mod headroom;
pub mod neighbour;
mod probes;
pub mod server;
pub mod shards;
pub mod stats;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::plan::Gate;
use crate::plan::gate::{Limits, Worse};
use crate::result::{Check, Status, Verdict};
use crate::result::{RunResult, StoredRun};

/// Schema tag of `verdict.json`.
pub const SCHEMA: &str = "peakgate.verdict/1";

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Inconclusive => "inconclusive",
        })
    }
}

impl Check {
    /// A check graded against its limits.
    pub fn graded(
        name: String,
        observed: f64,
        limits: Limits,
        worse: Worse,
        message: String,
    ) -> Check {
        Check {
            name,
            status: grade(observed, limits, worse),
            observed: Some(round6(observed)),
            warn: limits.warn,
            fail: limits.fail,
            message,
        }
    }

    /// A check that could not be evaluated: reported as a warning, never as a pass.
    pub fn unmeasured(name: String, limits: Limits, message: String) -> Check {
        Check {
            name,
            status: Status::Warn,
            observed: None,
            warn: limits.warn,
            fail: limits.fail,
            message,
        }
    }
}

impl Verdict {
    /// Records what was judged: the run's release, profile and status, and this peakgate.
    pub fn describe_run(&mut self, run: &RunResult) {
        self.release = run.release.clone();
        self.profile = Some(run.profile.name.clone());
        self.status = Some(run.status);
        self.peakgate_version = Some(crate::result::PEAKGATE_VERSION.to_string());
    }

    /// The worst status of `checks` (pass when there are none).
    pub fn new(run_id: String, checks: Vec<Check>) -> Verdict {
        Verdict {
            schema: SCHEMA.into(),
            run_id,
            release: None,
            profile: None,
            status: None,
            peakgate_version: None,
            verdict: checks
                .iter()
                .map(|c| c.status)
                .max()
                .unwrap_or(Status::Pass),
            checks,
            percentiles: Vec::new(),
            comparisons: None,
            headroom: None,
            baseline_choice: None,
        }
    }
}

/// Judges a run. `candidate_latency` (the run's latency.hlog) gives percentile checks their
/// confidence intervals; a comparison needs it and `baseline`.
pub fn judge(
    run: &RunResult,
    gate: &Gate,
    candidate_latency: Option<&BTreeMap<String, Histogram<u64>>>,
    baseline: Option<&StoredRun>,
) -> Verdict {
    let (mut list, percentiles) = checks::evaluate(run, gate, candidate_latency);
    // Right after "run completed": a run whose generator did not keep its plan is judged
    // inconclusive whatever else it shows. Simulated runs and runs recorded before the
    // generator was measured (no core count) have nothing to judge here.
    if run.simulation.is_none() && run.generator.cores > 0 {
        list.insert(1.min(list.len()), generator::evaluate(run, gate));
    }
    // A merged run that lacks a shard is not the plan's load: said next to the generator.
    if let Some(c) = shards::evaluate(run) {
        list.insert(1.min(list.len()), c);
    }
    list.extend(probes::evaluate(run, gate));
    let mut comparisons = None;
    if let (Some(latency), Some(base)) = (candidate_latency, baseline) {
        let (c, found) = compare::compare(run, latency, base, &gate.compare);
        list.extend(c);
        comparisons = Some(found);
    }
    let mut v = Verdict::new(run.run_id.clone(), list);
    v.describe_run(run);
    v.percentiles = percentiles;
    v.comparisons = comparisons;
    v
}

/// Status of `observed` against `limits`.
pub fn grade(observed: f64, limits: Limits, worse: Worse) -> Status {
    let beyond = |t: f64| match worse {
        Worse::Higher => observed > t,
        Worse::Lower => observed < t,
    };
    if limits.fail.is_some_and(beyond) {
        Status::Fail
    } else if limits.warn.is_some_and(beyond) {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// Six significant decimals: enough for any threshold, stable in JSON.
pub fn round6(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1e6).round() / 1e6
    } else {
        x
    }
}

/// `what` of a limit pair, for messages: "warn above 800, fail above 1500".
pub fn describe_limits(limits: Limits, worse: Worse, unit: &str) -> String {
    let side = match worse {
        Worse::Higher => "above",
        Worse::Lower => "below",
    };
    let parts: Vec<String> = [("warn", limits.warn), ("fail", limits.fail)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k} {side} {}{unit}", fmt_limit(v))))
        .collect();
    parts.join(", ")
}

/// A threshold as the gate states it, never rounded: `0.005` stays `0.005` (a rate limit
/// rounded to `0.01` would read as twice what it is), `1500` stays `1500`.
pub fn fmt_limit(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// A number for people: up to 3 decimals, no trailing zeros.
pub fn fmt_num(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grading_follows_the_side_that_is_worse() {
        let l = Limits {
            warn: Some(800.0),
            fail: Some(1500.0),
        };
        assert_eq!(grade(700.0, l, Worse::Higher), Status::Pass);
        assert_eq!(grade(800.0, l, Worse::Higher), Status::Pass);
        assert_eq!(grade(801.0, l, Worse::Higher), Status::Warn);
        assert_eq!(grade(1501.0, l, Worse::Higher), Status::Fail);
        let l = Limits {
            warn: Some(0.99),
            fail: Some(0.95),
        };
        assert_eq!(grade(0.995, l, Worse::Lower), Status::Pass);
        assert_eq!(grade(0.97, l, Worse::Lower), Status::Warn);
        assert_eq!(grade(0.9, l, Worse::Lower), Status::Fail);
    }

    #[test]
    fn the_verdict_is_the_worst_check_and_pass_without_checks() {
        assert_eq!(Verdict::new("r".into(), vec![]).verdict, Status::Pass);
        let c = |s| Check {
            name: "x".into(),
            status: s,
            observed: None,
            warn: None,
            fail: None,
            message: String::new(),
        };
        let v = Verdict::new("r".into(), vec![c(Status::Pass), c(Status::Warn)]);
        assert_eq!(v.verdict, Status::Warn);
        assert_eq!(fmt_num(1500.0), "1500");
        assert_eq!(fmt_num(0.0125), "0.013");
    }
}

/// A hand-built run for the verdict's unit tests.
#[cfg(test)]
pub(crate) mod fixture {
    use std::collections::BTreeMap;

    use crate::config::profile::{ArrivalKind, ModelKind};
    use crate::result::{LatencySummary, Quantiles, TimelineEntry, Totals, Transaction};
    use crate::result::{PlanInfo, ProfileInfo, RunResult, RunStatus, TargetInfo};

    /// A latency histogram (µs) of `values`, growing to any value.
    pub fn hist(values: impl Iterator<Item = u64>) -> hdrhistogram::Histogram<u64> {
        let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
        h.auto(true);
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn tx(count: u64, errors: &[(&str, u64)], p95: f64) -> Transaction {
        let l = LatencySummary {
            p50: p95 / 2.0,
            p90: p95 * 0.9,
            p95,
            p99: p95 * 1.5,
            p999: p95 * 2.0,
            max: p95 * 3.0,
            mean: p95 / 2.0,
        };
        Transaction {
            count,
            errors: errors.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            latency_ms: l.clone(),
            service_ms: l,
            redirects: 0,
            messages: Vec::new(),
        }
    }

    /// 1000 planned journeys, 950 started, 50 dropped; 1000 requests, 30 failed; POS sync
    /// p95 120 ms, shop p95 80 ms; a timeline of four seconds at 50% errors.
    pub fn run() -> RunResult {
        let transactions = BTreeMap::from([
            (
                "pos_order_sync/create_from_ui".to_string(),
                tx(800, &[("odoo.exceptions.UserError", 20)], 120.0),
            ),
            (
                "ecommerce_cart/shop".to_string(),
                tx(200, &[("timeout", 10)], 80.0),
            ),
            ("pos_order_sync".to_string(), tx(400, &[], 500.0)),
        ]);
        let timeline = (0..4)
            .map(|t| TimelineEntry {
                t,
                requests: 10,
                errors: 5,
                latency_ms: Quantiles {
                    p50: 10.0,
                    p95: 20.0,
                    p99: 30.0,
                },
                ..Default::default()
            })
            .collect();
        RunResult {
            schema: crate::result::SCHEMA.into(),
            run_id: "20261126T150102Z-smoke-3fa2".into(),
            peakgate_version: "0.1.0".into(),
            status: RunStatus::Completed,
            profile: ProfileInfo {
                name: "smoke".into(),
                description: String::new(),
                path: "profiles/smoke.toml".into(),
                sha256: "0".repeat(64),
                environment: "staging".into(),
                base_dir: None,
            },
            release: Some("17.0.42".into()),
            target: TargetInfo {
                kind: "standin".into(),
                url: "http://127.0.0.1:1".into(),
                database: None,
                standin_release: Some("baseline".into()),
            },
            started_at: "2026-11-26T15:01:02.000Z".into(),
            duration_s: 10.0,
            plan: PlanInfo {
                model: ModelKind::Open,
                arrivals: ArrivalKind::Poisson,
                seed: 1,
                rate_scale: 1.0,
                max_in_flight: 100,
                timeout_ms: 10_000,
                pacing_ms: 0,
                stages: vec![],
                mix: BTreeMap::new(),
                scenarios: Vec::new(),
                expected_journeys: 1000.0,
                steps: vec![
                    "session/authenticate".into(),
                    "pos_order_sync/create_from_ui".into(),
                    "ecommerce_cart/shop".into(),
                ],
                odoo_version: "17.0".into(),
                events: Vec::new(),
                tenant: None,
                logins: None,
            },
            totals: Totals {
                planned: 1000,
                started: 950,
                dropped: 50,
                journeys: 950,
                journeys_failed: 30,
                requests: 1000,
                errors: 30,
                reauthentications: 0,
            },
            transactions,
            timeline,
            generator: Default::default(),
            probes: BTreeMap::new(),
            simulation: None,
            shard: None,
            merge: None,
        }
    }
}
