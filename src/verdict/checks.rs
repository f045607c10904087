//! Checks on the load itself: how the run ended, journeys achieved and dropped, error rates
//! and latency percentiles per selector. A percentile is judged on the lower bound of its
//! distribution-free confidence interval, so a p99 of a few samples cannot fail by chance.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::plan::Gate;
use crate::plan::gate::{Limits, Selector, Stat, Worse};
use crate::result::{LatencySummary, Transaction};
use crate::result::{RunResult, RunStatus};

use super::stats::{self};
use super::{abort, describe_limits, fmt_num, grade, round6};
use crate::result::PercentileEvidence;
use crate::result::QuantileInterval;
use crate::result::{Check, Status};

/// Confidence level of a percentile's interval; the check judges its lower bound, so a
/// percentile that is not above a threshold is called above it at most 2.5% of the time.
pub const PERCENTILE_CONFIDENCE: f64 = 0.95;

/// Every non-probe check of `gate` on `run`, in a stable order, with the evidence of each
/// percentile check. `latency` (step → histogram, µs, from latency.hlog) gives the
/// percentiles their confidence intervals; a transaction without one is judged on its point
/// estimate and the check says so.
pub fn evaluate(
    run: &RunResult,
    gate: &Gate,
    latency: Option<&BTreeMap<String, Histogram<u64>>>,
) -> (Vec<Check>, Vec<PercentileEvidence>) {
    let mut evidence = Vec::new();
    let mut out = vec![run_status(run, gate)];
    let t = &run.totals;
    if let Some(l) = gate.started_ratio {
        let name = "journeys started_ratio".to_string();
        out.push(if t.planned == 0 {
            Check::unmeasured(name, l, "no journey was planned".into())
        } else {
            let r = t.started as f64 / t.planned as f64;
            Check::graded(
                name,
                r,
                l,
                Worse::Lower,
                format!(
                    "{} of {} planned journeys started ({}%); {}",
                    t.started,
                    t.planned,
                    fmt_num(100.0 * r),
                    describe_limits(l, Worse::Lower, "")
                ),
            )
        });
    }
    if let Some(l) = gate.dropped {
        out.push(Check::graded(
            "journeys dropped".into(),
            t.dropped as f64,
            l,
            Worse::Higher,
            format!(
                "{} planned journeys dropped at max_in_flight {}; {}",
                t.dropped,
                run.plan.max_in_flight,
                describe_limits(l, Worse::Higher, "")
            ),
        ));
    }
    for (sel, e) in &gate.errors {
        if let Some(l) = e.rate {
            out.push(error_check(run, sel, None, l));
        }
        for (kind, l) in &e.kinds {
            out.push(error_check(run, sel, Some(kind), *l));
        }
    }
    for (sel, stats) in &gate.latency {
        for (stat, l) in stats {
            let (check, e) = latency_check(run, sel, *stat, *l, latency);
            out.push(check);
            evidence.extend(e);
        }
    }
    (out, evidence)
}

/// How the run ended: an aborted run fails, naming the condition; an interrupted one warns.
fn run_status(run: &RunResult, gate: &Gate) -> Check {
    let (status, message) = match run.status {
        RunStatus::Completed => (Status::Pass, "the whole plan ran".to_string()),
        RunStatus::Interrupted => (
            Status::Warn,
            format!(
                "interrupted by the user after {} s: the figures cover part of the plan",
                fmt_num(run.duration_s)
            ),
        ),
        RunStatus::Aborted => {
            let why = gate
                .abort
                .as_ref()
                .and_then(|a| abort::replay(a, &run.timeline))
                .map_or_else(
                    || "no [gate.abort] condition matches the stored timeline".to_string(),
                    |(_, reason)| reason,
                );
            (
                Status::Fail,
                format!("aborted after {} s: {why}", fmt_num(run.duration_s)),
            )
        }
    };
    Check {
        name: "run completed".into(),
        status,
        observed: None,
        warn: None,
        fail: None,
        message,
    }
}

/// Transactions a selector matches, with their names.
fn matching<'a>(run: &'a RunResult, sel: &str) -> Vec<(&'a String, &'a Transaction)> {
    let Ok(s) = Selector::new(sel) else {
        return Vec::new();
    };
    run.transactions
        .iter()
        .filter(|(name, _)| s.matches(name))
        .collect()
}

fn error_check(run: &RunResult, sel: &str, kind: Option<&String>, l: Limits) -> Check {
    let name = match kind {
        Some(k) => format!("error rate {k} in {sel}"),
        None => format!("error rate {sel}"),
    };
    let txs = matching(run, sel);
    // Requests a stop abandoned in flight (kind `interrupted`) are neither the release's
    // successes nor its failures: left out, unless that kind is the one judged.
    let interrupted = crate::odoo::ErrorKind::Interrupted.label();
    let abandoned: u64 = if kind.is_some_and(|k| *k == interrupted) {
        0
    } else {
        txs.iter()
            .map(|(_, t)| t.errors.get(&interrupted).copied().unwrap_or(0))
            .sum()
    };
    let requests: u64 = txs.iter().map(|(_, t)| t.count).sum::<u64>() - abandoned;
    if requests == 0 {
        return Check::unmeasured(name, l, format!("no request matches `{sel}`"));
    }
    let errors: u64 = txs
        .iter()
        .map(|(_, t)| match kind {
            Some(k) => t.errors.get(k).copied().unwrap_or(0),
            None => t.errors.values().sum(),
        })
        .sum::<u64>()
        - abandoned;
    let rate = errors as f64 / requests as f64;
    let what = kind.map_or("failed".to_string(), |k| format!("failed with {k}"));
    let left_out = if abandoned > 0 {
        format!(" ({abandoned} abandoned in flight by the stop, not counted)")
    } else {
        String::new()
    };
    Check::graded(
        name,
        rate,
        l,
        Worse::Higher,
        format!(
            "{errors} of {requests} requests in {} transaction(s) {what} ({}%){left_out}; {}",
            txs.len(),
            fmt_num(100.0 * rate),
            describe_limits(l, Worse::Higher, "")
        ),
    )
}

pub fn stat_of(s: &LatencySummary, stat: Stat) -> f64 {
    match stat {
        Stat::P50 => s.p50,
        Stat::P90 => s.p90,
        Stat::P95 => s.p95,
        Stat::P99 => s.p99,
        Stat::P999 => s.p999,
        Stat::Max => s.max,
        Stat::Mean => s.mean,
    }
}

/// One transaction's value for a latency check: the point estimate and, for a percentile
/// with a histogram, its interval; `judged` is what the thresholds are compared with.
struct Judged<'a> {
    name: &'a String,
    estimate: f64,
    interval: Option<QuantileInterval>,
    judged: f64,
    status: Status,
}

/// A glob applies the threshold to every matching transaction; the worst one is judged
/// (worst status, then highest estimate).
fn latency_check(
    run: &RunResult,
    sel: &str,
    stat: Stat,
    l: Limits,
    latency: Option<&BTreeMap<String, Histogram<u64>>>,
) -> (Check, Option<PercentileEvidence>) {
    let name = format!("latency {} {sel}", stat.name());
    let txs = matching(run, sel);
    let judged = txs.iter().map(|(n, t)| {
        let estimate = stat_of(&t.latency_ms, stat);
        let interval = stat
            .quantile()
            .zip(latency.and_then(|h| h.get(*n)))
            .map(|(q, h)| {
                let i = stats::quantile_interval(h, q, PERCENTILE_CONFIDENCE);
                QuantileInterval {
                    low: i.low.map(|us| us / 1000.0),
                    high: i.high.map(|us| us / 1000.0),
                    ..i
                }
            });
        // The lower bound, never above the estimate (bucket rounding), 0 when open below.
        let judged = interval.map_or(estimate, |i| i.low.unwrap_or(0.0).min(estimate));
        Judged {
            name: n,
            estimate,
            interval,
            judged,
            status: grade(judged, l, Worse::Higher),
        }
    });
    let worst = judged.max_by(|a, b| {
        a.status
            .cmp(&b.status)
            .then(a.estimate.total_cmp(&b.estimate))
    });
    let Some(w) = worst else {
        return (
            Check::unmeasured(name, l, format!("no transaction matches `{sel}`")),
            None,
        );
    };
    let limits = describe_limits(l, Worse::Higher, " ms");
    // The check keeps the point estimate as its observed value, whatever was judged.
    let check = |message: String| Check {
        name: name.clone(),
        status: w.status,
        observed: Some(round6(w.estimate)),
        warn: l.warn,
        fail: l.fail,
        message,
    };
    let Some(i) = w.interval else {
        let why = if stat.quantile().is_none() {
            String::new()
        } else {
            format!(
                " (no histogram of {} in latency.hlog: judged on the point estimate, without a confidence interval)",
                w.name
            )
        };
        let message = format!(
            "{} {} ms in {} (worst of {} matching){why}; {limits}",
            stat.name(),
            fmt_num(w.estimate),
            w.name,
            txs.len(),
        );
        return (check(message), None);
    };
    let bound = |b: Option<f64>, open: &str| b.map_or(open.to_string(), fmt_num);
    let above_but_unsure = w.status < grade(w.estimate, l, Worse::Higher);
    let message = format!(
        "{} {} ms in {} (worst of {} matching) over n = {} samples, {}% interval [{}, {}] ms; judged on its lower bound {} ms{}; {limits}",
        stat.name(),
        fmt_num(w.estimate),
        w.name,
        txs.len(),
        i.n,
        fmt_num(100.0 * i.confidence),
        bound(i.low, "0"),
        bound(i.high, "open: too few samples"),
        fmt_num(w.judged),
        if above_but_unsure {
            format!(
                ": the estimate is beyond a threshold but {} samples cannot show that the true {} is",
                i.n,
                stat.name()
            )
        } else {
            String::new()
        },
    );
    let evidence = PercentileEvidence {
        check: name.clone(),
        transaction: w.name.clone(),
        n: i.n,
        estimate_ms: round6(w.estimate),
        low_ms: i.low.map(round6),
        high_ms: i.high.map(round6),
        confidence: i.confidence,
        judged_ms: round6(w.judged),
    };
    (check(message), Some(evidence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::fixture::run;

    fn gate(text: &str) -> Gate {
        let f: crate::config::gate::GateFile = toml::from_str(text).unwrap();
        Gate::build(&f, &|_, m| panic!("{m}")).unwrap()
    }

    #[test]
    fn latency_globs_judge_the_worst_matching_step() {
        let r = run();
        let g = gate("[latency.\"pos_order_sync/*\"]\np95 = { warn = 100, fail = 150 }\n");
        let c = &evaluate(&r, &g, None).0[1];
        assert_eq!(c.name, "latency p95 pos_order_sync/*");
        assert_eq!(c.observed, Some(120.0));
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.message.contains("pos_order_sync/create_from_ui"),
            "{}",
            c.message
        );
    }

    #[test]
    fn a_percentile_of_few_samples_is_judged_on_the_lower_bound_of_its_interval() {
        // 150 samples of 1..=150 ms: the p99 is the second largest (149 ms); its 95% interval
        // starts at the 146th smallest, 146 ms, whose histogram bucket (128 µs wide at that
        // size) starts at 145.92 ms; it is open above.
        let mut r = run();
        let step = "pos_order_sync/create_from_ui";
        r.transactions.get_mut(step).unwrap().latency_ms.p99 = 149.0;
        let mut h = Histogram::<u64>::new(3).unwrap();
        for ms in 1..=150u64 {
            h.record(ms * 1000).unwrap();
        }
        let latency = BTreeMap::from([(step.to_string(), h)]);
        let judge = |text: &str| {
            let (checks, evidence) = evaluate(&r, &gate(text), Some(&latency));
            (checks[1].clone(), evidence)
        };
        // 149 ms is above a 148 ms limit, but 150 samples cannot show that the p99 is.
        let (c, e) = judge("[latency.\"pos_order_sync/*\"]\np99 = { warn = 140, fail = 148 }\n");
        assert_eq!(
            (c.status, c.observed),
            (Status::Warn, Some(149.0)),
            "{}",
            c.message
        );
        assert!(
            c.message
                .contains("n = 150 samples, 95% interval [145.92, open")
                && c.message.contains("cannot show"),
            "{}",
            c.message
        );
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].n, e[0].low_ms, e[0].high_ms, e[0].judged_ms),
            (150, Some(145.92), None, 145.92)
        );
        assert_eq!(e[0].transaction, step);
        // A lower bound above the fail limit fails.
        let (c, _) = judge("[latency.\"pos_order_sync/*\"]\np99 = { fail = 145 }\n");
        assert_eq!(c.status, Status::Fail, "{}", c.message);
        // Without a histogram the point estimate is judged, and the check says so.
        let (checks, evidence) = evaluate(
            &r,
            &gate("[latency.\"pos_order_sync/*\"]\np99 = { fail = 148 }\n"),
            None,
        );
        assert_eq!(checks[1].status, Status::Fail);
        assert!(evidence.is_empty());
        assert!(
            checks[1].message.contains("without a confidence interval"),
            "{}",
            checks[1].message
        );
    }

    #[test]
    fn a_selector_that_matches_nothing_warns_instead_of_passing() {
        let g = gate("[latency.\"nope/*\"]\np95 = { fail = 1 }\n");
        let c = &evaluate(&run(), &g, None).0[1];
        assert_eq!((c.status, c.observed), (Status::Warn, None));
    }

    #[test]
    fn error_rates_pool_the_matching_steps_and_filter_by_kind() {
        let g = gate(
            "[errors.\"*/*\"]\nrate = { warn = 0.01, fail = 0.05 }\nkinds.timeout = { fail = 0.001 }\n",
        );
        let checks = evaluate(&run(), &g, None).0;
        // 30 errors (20 + 10) of 1000 requests (800 + 200) across the steps.
        assert_eq!(checks[1].name, "error rate */*");
        assert_eq!(checks[1].observed, Some(0.03));
        assert_eq!(checks[1].status, Status::Warn);
        assert_eq!(checks[2].name, "error rate timeout in */*");
        assert_eq!(checks[2].observed, Some(0.01));
        assert_eq!(checks[2].status, Status::Fail);
    }

    #[test]
    fn journeys_started_and_dropped_are_judged() {
        let g = gate(
            "[journeys]\nstarted_ratio = { warn = 0.99, fail = 0.9 }\ndropped = { warn = 0, fail = 100 }\n",
        );
        let checks = evaluate(&run(), &g, None).0;
        assert_eq!(checks[1].observed, Some(0.95));
        assert_eq!(checks[1].status, Status::Warn);
        assert_eq!(
            (checks[2].observed, checks[2].status),
            (Some(50.0), Status::Warn)
        );
    }

    #[test]
    fn an_aborted_run_fails_and_names_the_condition() {
        let mut r = run();
        r.status = RunStatus::Aborted;
        let g = gate("[abort]\nwindow = \"2s\"\nerror_rate = 0.3\nmin_requests = 5\n");
        let c = &evaluate(&r, &g, None).0[0];
        assert_eq!(c.status, Status::Fail);
        assert!(c.message.contains("error rate 50%"), "{}", c.message);
    }

    #[test]
    fn requests_abandoned_by_a_stop_are_left_out_of_the_error_rate() {
        let mut r = run();
        let tx = r
            .transactions
            .get_mut("pos_order_sync/create_from_ui")
            .unwrap();
        let before = tx.errors.values().sum::<u64>();
        tx.errors.insert("interrupted".into(), 40);
        tx.count += 40;
        let g = gate("[errors.\"*/*\"]\nrate = { warn = 0.01, fail = 0.05 }\n");
        let c = &evaluate(&r, &g, None).0[1];
        // Same rate as without the 40 abandoned requests.
        assert_eq!(c.observed, Some(0.03), "{}", c.message);
        assert!(
            c.message.contains("40 abandoned in flight"),
            "{}",
            c.message
        );
        assert!(before > 0);
    }
}
