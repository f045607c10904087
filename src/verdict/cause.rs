//! Naming the cause of a regression. When several steps regress, the one that adds the most
//! server time is the likely cause and the others queued behind it. By Little's law the
//! busy workers a step keeps are its throughput × its mean service time, so a step adds
//! Δ mean service time × throughput worker-seconds per second.
//!
//! Service time is measured by the client from the actual send, so it includes the wait for
//! a free Odoo worker. That wait is shared: every request queues for the same workers. The
//! smallest rise in mean service time among the compared steps is taken as that shared wait
//! and removed from every step before ranking; what is left approximates the server time
//! each step adds.
//!
//! A step says where the time went, not why. The server-side comparisons say why: each one
//! that regressed names its mechanism (lock contention, idle in transaction, Redis memory per
//! session, rollbacks), and the conclusion leads with them.

use crate::result::RunResult;

use super::{fmt_num, round6};
use crate::plan::gate::ServerMetric;
use crate::result::LatencyComparison;
use crate::result::Status;
use crate::result::{Attribution, Mechanism, Role, RollbackComparison, ServerComparison, StepTime};

/// A step's share of the added worker time below which a regressed step is said to have
/// queued behind the cause rather than caused anything.
pub const QUEUED_BELOW_SHARE: f64 = 0.2;

/// The server-side mechanisms whose comparison did not pass, failures first, then in the
/// order of [`ServerMetric::ALL`] (connections in use, a symptom of any slowdown, last), then
/// rollbacks per commit.
pub fn mechanisms(server: &[ServerComparison], rollbacks: &[RollbackComparison]) -> Vec<Mechanism> {
    let rank = |metric: &str| {
        ServerMetric::ALL
            .iter()
            .position(|m| m.name() == metric)
            .unwrap_or(usize::MAX)
    };
    let mut found: Vec<(Status, usize, Mechanism)> = server
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| {
            (
                c.status,
                rank(&c.metric),
                Mechanism {
                    mechanism: c.mechanism.clone(),
                    check: super::server::check_name(&c.metric, &c.probe),
                    status: c.status,
                    evidence: format!(
                        "{} {} → {}",
                        c.metric,
                        fmt_num(c.baseline),
                        fmt_num(c.candidate)
                    ),
                },
            )
        })
        .chain(
            rollbacks
                .iter()
                .filter(|r| r.status != Status::Pass)
                .map(|r| {
                    (
                        r.status,
                        ServerMetric::ALL.len(),
                        Mechanism {
                            mechanism: "transactions rolled back".into(),
                            check: format!("compare rollbacks per commit ({})", r.probe),
                            status: r.status,
                            evidence: format!(
                                "rollbacks per commit {} → {}",
                                fmt_num(r.per_commit_baseline),
                                fmt_num(r.per_commit_candidate)
                            ),
                        },
                    )
                }),
        )
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    found.into_iter().map(|f| f.2).collect()
}

/// The cause when a step or a server-side series regressed (`None` otherwise): the
/// mechanisms, and the compared steps ranked when a step regressed.
pub fn attribute(
    candidate: &RunResult,
    baseline: &RunResult,
    compared: &[LatencyComparison],
    mechanisms: Vec<Mechanism>,
) -> Option<Attribution> {
    let step_regressed =
        compared.iter().any(|c| c.status != Status::Pass) && candidate.duration_s > 0.0;
    if !step_regressed && mechanisms.is_empty() {
        return None;
    }
    let compared = if step_regressed { compared } else { &[] };
    // (step, regressed, mean base, mean cand, throughput)
    let rows: Vec<(&LatencyComparison, f64, f64, f64)> = compared
        .iter()
        .filter_map(|c| {
            let (b, k) = (
                baseline.transactions.get(&c.step)?,
                candidate.transactions.get(&c.step)?,
            );
            Some((
                c,
                b.service_ms.mean,
                k.service_ms.mean,
                k.count as f64 / candidate.duration_s,
            ))
        })
        .collect();
    // With one step there is nothing to share the wait with: it is all its own.
    let shared_wait_ms = if rows.len() >= 2 {
        rows.iter()
            .map(|(_, b, k, _)| k - b)
            .fold(f64::INFINITY, f64::min)
            .max(0.0)
    } else {
        0.0
    };
    let mut steps: Vec<StepTime> = rows
        .iter()
        .map(|(c, b, k, tput)| StepTime {
            step: c.step.clone(),
            regressed: c.status != Status::Pass,
            service_mean_baseline_ms: round6(*b),
            service_mean_candidate_ms: round6(*k),
            throughput_per_s: round6(*tput),
            added_worker_s_per_s: ((k - b - shared_wait_ms).max(0.0) / 1000.0) * tput,
            share: 0.0,
            role: Role::NotRegressed,
        })
        .collect();
    let total: f64 = steps.iter().map(|s| s.added_worker_s_per_s).sum();
    steps.sort_by(|a, b| {
        b.added_worker_s_per_s
            .total_cmp(&a.added_worker_s_per_s)
            .then_with(|| a.step.cmp(&b.step))
    });
    for (i, s) in steps.iter_mut().enumerate() {
        s.share = if total > 0.0 {
            s.added_worker_s_per_s / total
        } else {
            0.0
        };
        s.role = if total > 0.0 && i == 0 {
            Role::Cause
        } else if s.share >= QUEUED_BELOW_SHARE {
            Role::AddsTime
        } else if s.regressed {
            Role::Queued
        } else {
            Role::NotRegressed
        };
        s.added_worker_s_per_s = round6(s.added_worker_s_per_s);
        s.share = round6(s.share);
    }
    let by_step = match steps.first() {
        _ if !step_regressed => None,
        Some(top) if total > 0.0 => Some(format!(
            "{}: {}% of the added worker time",
            top.step,
            fmt_num((100.0 * top.share).round())
        )),
        _ => Some(format!(
            "no step adds server time beyond a shared wait of {} ms: every compared step slowed by about as much (waiting for a worker, or a slowdown they all share)",
            fmt_num(shared_wait_ms)
        )),
    };
    let named = mechanisms
        .iter()
        .map(|m| format!("{} ({}: {})", m.mechanism, m.check, m.evidence))
        .chain(by_step)
        .collect::<Vec<_>>()
        .join("; ");
    Some(Attribution {
        method: "Δ mean service time (from the actual send) minus the shared wait, × the candidate's throughput of the step: worker-seconds added per second (Little's law); approximate, since client-side service time includes waiting for an Odoo worker".into(),
        shared_wait_ms: round6(shared_wait_ms),
        added_worker_s_per_s: round6(total),
        named,
        mechanisms,
        steps,
    })
}

/// What a step's `compare latency` message adds about its role, e.g.
/// "adds 1.6 worker-s/s, 81% of the added worker time: the likely cause".
pub fn describe(s: &StepTime, a: &Attribution) -> String {
    let cause = a
        .steps
        .iter()
        .find(|s| s.role == Role::Cause)
        .map_or("", |c| c.step.as_str());
    let added = format!(
        "mean service {} → {} ms at {}/s adds {} worker-s/s beyond the shared wait of {} ms, {}% of the added worker time",
        fmt_num(s.service_mean_baseline_ms),
        fmt_num(s.service_mean_candidate_ms),
        fmt_num(s.throughput_per_s),
        fmt_num(s.added_worker_s_per_s),
        fmt_num(a.shared_wait_ms),
        fmt_num((100.0 * s.share).round())
    );
    match s.role {
        Role::Cause => format!("{added}: the likely cause"),
        Role::AddsTime => format!("{added}: adds server time too"),
        Role::Queued if cause.is_empty() => format!("{added}: it queued behind a shared cause"),
        Role::Queued => format!("{added}: it queued behind {cause}"),
        Role::NotRegressed => added,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::Method;
    use crate::verdict::fixture::run;

    fn cmp(step: &str, status: Status) -> LatencyComparison {
        LatencyComparison {
            step: step.into(),
            test: "mann_whitney_u".into(),
            method: Method::Normal,
            n_baseline: 100,
            n_candidate: 100,
            u: 0.0,
            z: 0.0,
            p_value: 0.0,
            p_two_sided: 0.0,
            significant: true,
            p95_baseline_ms: 1.0,
            p95_candidate_ms: 1.0,
            p95_ratio: 1.0,
            shift_ms: 0.0,
            interval_ms: [0.0, 0.0],
            confidence: 0.95,
            status,
        }
    }

    /// Baseline and candidate with the given (step, count, mean service base, mean cand).
    fn runs(steps: &[(&str, u64, f64, f64)]) -> (RunResult, RunResult) {
        let (mut b, mut k) = (run(), run());
        let template = b.transactions["ecommerce_cart/shop"].clone();
        b.transactions.clear();
        k.transactions.clear();
        k.duration_s = 10.0;
        for (name, count, mb, mk) in steps {
            let mut t = template.clone();
            t.count = *count;
            t.service_ms.mean = *mb;
            b.transactions.insert(name.to_string(), t.clone());
            t.service_ms.mean = *mk;
            k.transactions.insert(name.to_string(), t);
        }
        (b, k)
    }

    #[test]
    fn the_step_that_adds_the_most_worker_time_is_named_and_the_others_queued() {
        // Every step waits ~40 ms more for a worker (the cart rose by exactly that); POS also
        // does 150 ms more work. Cart pages rise most in ratio (20 → 60 ms, ×3) but add no
        // work: POS is the cause. POS: (190 − 40) ms × 15/s = 2.25 worker-s/s.
        let (b, k) = runs(&[
            ("pos/sync", 150, 80.0, 270.0),
            ("cart/page", 400, 20.0, 60.0),
            ("sale/find", 50, 17.0, 67.0),
        ]);
        let compared = [
            cmp("pos/sync", Status::Fail),
            cmp("cart/page", Status::Fail),
            cmp("sale/find", Status::Pass),
        ];
        let a = attribute(&k, &b, &compared, Vec::new()).unwrap();
        assert_eq!(a.shared_wait_ms, 40.0);
        assert_eq!(a.steps[0].step, "pos/sync");
        assert_eq!(a.steps[0].role, Role::Cause);
        assert!((a.steps[0].added_worker_s_per_s - 2.25).abs() < 1e-9);
        // sale/find: (50 − 40) ms × 5/s = 0.05 worker-s/s; 2.25 / 2.3 = 97.8%.
        assert_eq!(a.named, "pos/sync: 98% of the added worker time");
        let cart = a.steps.iter().find(|s| s.step == "cart/page").unwrap();
        assert_eq!((cart.role, cart.added_worker_s_per_s), (Role::Queued, 0.0));
        assert!(describe(cart, &a).ends_with("it queued behind pos/sync"));
        let find = a.steps.iter().find(|s| s.step == "sale/find").unwrap();
        assert_eq!(find.role, Role::NotRegressed);
    }

    #[test]
    fn a_slowdown_every_step_shares_names_no_step_and_nothing_regressed_is_not_ranked() {
        let (b, k) = runs(&[("a/x", 100, 10.0, 30.0), ("b/y", 100, 50.0, 70.0)]);
        let compared = [cmp("a/x", Status::Fail), cmp("b/y", Status::Fail)];
        let a = attribute(&k, &b, &compared, Vec::new()).unwrap();
        assert_eq!(a.added_worker_s_per_s, 0.0);
        assert!(
            a.named.starts_with("no step adds server time"),
            "{}",
            a.named
        );
        assert!(a.steps.iter().all(|s| s.role == Role::Queued));
        let passed = [cmp("a/x", Status::Pass), cmp("b/y", Status::Pass)];
        assert!(attribute(&k, &b, &passed, Vec::new()).is_none());
        // One step alone keeps its whole rise: nothing to share a wait with.
        let a = attribute(&k, &b, &compared[..1], Vec::new()).unwrap();
        assert_eq!((a.shared_wait_ms, a.steps[0].role), (0.0, Role::Cause));
        assert!((a.steps[0].added_worker_s_per_s - 0.2).abs() < 1e-9);
    }

    #[test]
    fn a_server_side_mechanism_leads_the_conclusion_even_without_a_slower_step() {
        let (b, k) = runs(&[("pos/sync", 150, 80.0, 82.0)]);
        let server = |metric: &str, mechanism: &str, status| ServerComparison {
            probe: "pg".into(),
            metric: metric.into(),
            mechanism: mechanism.into(),
            test: "mann_whitney_u".into(),
            n_baseline: 15,
            n_candidate: 15,
            baseline: 0.0,
            candidate: 9.5,
            increase: 9.0,
            interval: [8.0, 11.0],
            confidence: 0.95,
            ratio: None,
            p_value: 0.0001,
            significant: true,
            status,
        };
        let found = mechanisms(
            &[
                server(
                    "connections_in_use",
                    "connections held longer",
                    Status::Warn,
                ),
                server("idle_in_transaction", "idle in transaction", Status::Fail),
                server("lock_wait_share", "lock contention", Status::Pass),
            ],
            &[],
        );
        // Failures first; what passed is no mechanism.
        let names: Vec<&str> = found.iter().map(|m| m.mechanism.as_str()).collect();
        assert_eq!(names, ["idle in transaction", "connections held longer"]);
        let a = attribute(&k, &b, &[cmp("pos/sync", Status::Pass)], found).unwrap();
        assert!(
            a.named.starts_with(
                "idle in transaction (compare idle_in_transaction (pg): idle_in_transaction 0 → 9.5)"
            ),
            "{}",
            a.named
        );
        // No step regressed: no ranking, and no step in the conclusion.
        assert!(
            a.steps.is_empty() && !a.named.contains("worker time"),
            "{a:?}"
        );
    }
}
