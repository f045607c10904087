//! Checks on the load itself: how the run ended, journeys achieved and dropped, error rates
//! and latency percentiles per selector.

use crate::plan::Gate;
use crate::plan::gate::{Limits, Selector, Stat, Worse};
use crate::result::{LatencySummary, Transaction};
use crate::result::{RunResult, RunStatus};

use super::{Check, Status, abort, describe_limits, fmt_num};

/// Every non-probe check of `gate` on `run`, in a stable order.
pub fn evaluate(run: &RunResult, gate: &Gate) -> Vec<Check> {
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
            out.push(latency_check(run, sel, *stat, *l));
        }
    }
    out
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
    let requests: u64 = txs.iter().map(|(_, t)| t.count).sum();
    if requests == 0 {
        return Check::unmeasured(name, l, format!("no request matches `{sel}`"));
    }
    let errors: u64 = txs
        .iter()
        .map(|(_, t)| match kind {
            Some(k) => t.errors.get(k).copied().unwrap_or(0),
            None => t.errors.values().sum(),
        })
        .sum();
    let rate = errors as f64 / requests as f64;
    let what = kind.map_or("failed".to_string(), |k| format!("failed with {k}"));
    Check::graded(
        name,
        rate,
        l,
        Worse::Higher,
        format!(
            "{errors} of {requests} requests in {} transaction(s) {what} ({}%); {}",
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

/// A glob applies the threshold to every matching transaction; the worst one is judged.
fn latency_check(run: &RunResult, sel: &str, stat: Stat, l: Limits) -> Check {
    let name = format!("latency {} {sel}", stat.name());
    let txs = matching(run, sel);
    let worst = txs
        .iter()
        .map(|(n, t)| (*n, stat_of(&t.latency_ms, stat)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let Some((which, value)) = worst else {
        return Check::unmeasured(name, l, format!("no transaction matches `{sel}`"));
    };
    Check::graded(
        name,
        value,
        l,
        Worse::Higher,
        format!(
            "{} {} ms in {which} (worst of {} matching); {}",
            stat.name(),
            fmt_num(value),
            txs.len(),
            describe_limits(l, Worse::Higher, " ms")
        ),
    )
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
        let c = &evaluate(&r, &g)[1];
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
    fn a_selector_that_matches_nothing_warns_instead_of_passing() {
        let g = gate("[latency.\"nope/*\"]\np95 = { fail = 1 }\n");
        let c = &evaluate(&run(), &g)[1];
        assert_eq!((c.status, c.observed), (Status::Warn, None));
    }

    #[test]
    fn error_rates_pool_the_matching_steps_and_filter_by_kind() {
        let g = gate(
            "[errors.\"*/*\"]\nrate = { warn = 0.01, fail = 0.05 }\nkinds.timeout = { fail = 0.001 }\n",
        );
        let checks = evaluate(&run(), &g);
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
        let checks = evaluate(&run(), &g);
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
        let c = &evaluate(&r, &g)[0];
        assert_eq!(c.status, Status::Fail);
        assert!(c.message.contains("error rate 50%"), "{}", c.message);
    }
}
