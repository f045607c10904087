//! Candidate against baseline, step by step. A latency regression needs all three: a
//! significant Mann-Whitney U test (one-sided, Bonferroni over the steps compared), a
//! Hodges-Lehmann shift above `shift_ms` and a p95 ratio above `p95_ratio`; an error-rate
//! regression needs a significant two-proportion test and an increase above the allowed one.
//! The probes' series are compared the same way (`server`).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::plan::gate::{Compare, Worse};
use crate::result::{ProbeReport, RunResult, StoredRun};

use super::cause::{self};
use super::probes::transactions;
use super::stats::{self};
use super::{describe_limits, fmt_num, grade, round6};
use crate::result::{Check, Status};
use crate::result::{Comparisons, ErrorComparison, LatencyComparison, RollbackComparison};

/// Confidence level of every reported interval.
pub const CONFIDENCE: f64 = 0.95;

/// Compares every step both runs measured; returns one check per comparison and the details.
pub fn compare(
    run: &RunResult,
    latency: &BTreeMap<String, Histogram<u64>>,
    base: &StoredRun,
    c: &Compare,
) -> (Vec<Check>, Comparisons) {
    let min = c.min_count();
    let mut not_compared = Vec::new();
    let mut pairs = Vec::new();
    let mut checks = vec![same_load(run, &base.result)];
    let steps: std::collections::BTreeSet<&String> =
        latency.keys().chain(base.latency.keys()).collect();
    for step in steps {
        match (base.latency.get(step), latency.get(step)) {
            (Some(b), Some(k)) if b.len() >= min && k.len() >= min => pairs.push((step, b, k)),
            (Some(b), Some(k)) => not_compared.push(format!(
                "{step}: too few requests (baseline {}, candidate {}; need {min})",
                b.len(),
                k.len()
            )),
            (None, _) => not_compared.push(format!("{step}: not in the baseline")),
            (_, None) => not_compared.push(format!("{step}: not in the candidate")),
        }
    }
    let alpha_per_step = c.alpha() / pairs.len().max(1) as f64;
    let mut lat = Vec::new();
    for (step, b, k) in pairs {
        let cmp = latency_comparison(step, b, k, alpha_per_step, c);
        checks.push(latency_check(&cmp, c));
        lat.push(cmp);
    }
    let mut errs = Vec::new();
    let err_steps: Vec<(&String, u64, u64, u64, u64)> = run
        .plan
        .steps
        .iter()
        .filter_map(|s| {
            let (b, k) = (base.result.transactions.get(s)?, run.transactions.get(s)?);
            (b.count >= min && k.count >= min).then(|| {
                (
                    s,
                    b.count,
                    b.errors.values().sum(),
                    k.count,
                    k.errors.values().sum(),
                )
            })
        })
        .collect();
    let err_alpha = c.alpha() / err_steps.len().max(1) as f64;
    for (step, nb, eb, nk, ek) in err_steps {
        let t = stats::two_proportions(eb, nb, ek, nk, CONFIDENCE);
        let significant = t.p_greater < err_alpha;
        let limits = c.error_rate_increase();
        let status = if significant {
            grade(t.difference, limits, Worse::Higher)
        } else {
            Status::Pass
        };
        let cmp = ErrorComparison {
            step: step.clone(),
            test: "two_proportion_z".into(),
            n_baseline: nb,
            n_candidate: nk,
            errors_baseline: eb,
            errors_candidate: ek,
            z: round6(t.z),
            p_value: round6(t.p_greater),
            significant,
            increase: round6(t.difference),
            interval: [round6(t.low), round6(t.high)],
            confidence: CONFIDENCE,
            status,
        };
        checks.push(Check {
            name: format!("compare errors {step}"),
            status,
            observed: Some(cmp.increase),
            warn: limits.warn,
            fail: limits.fail,
            message: format!(
                "error rate {}% → {}% ({eb}/{nb} → {ek}/{nk}), increase {} points [{}, {}], two-proportion z = {}, one-sided p = {} ({}significant at {}); {}",
                fmt_num(100.0 * t.rate_a),
                fmt_num(100.0 * t.rate_b),
                fmt_num(100.0 * t.difference),
                fmt_num(100.0 * t.low),
                fmt_num(100.0 * t.high),
                fmt_num(t.z),
                fmt_p(t.p_greater),
                if significant { "" } else { "not " },
                fmt_p(err_alpha),
                describe_limits(limits, Worse::Higher, "")
            ),
        });
        errs.push(cmp);
    }
    let mut rollbacks = Vec::new();
    for (probe, v) in &run.probes {
        let pg = |v: &ProbeReport| v.kind == crate::plan::ProbeKind::Postgres;
        let Some(bv) = base.result.probes.get(probe).filter(|b| pg(b) && pg(v)) else {
            continue;
        };
        let (Ok(tb), Ok(tk)) = (transactions(bv), transactions(v)) else {
            continue;
        };
        if tb.commits <= 0.0 || tk.commits <= 0.0 {
            continue;
        }
        let (cmp, check) = rollback_comparison(probe, tb, tk, c);
        checks.push(check);
        rollbacks.push(cmp);
    }
    let (server_checks, server, server_not_compared) = super::server::compare(run, &base.result, c);
    checks.extend(server_checks);
    not_compared.extend(server_not_compared);
    let mechanisms = cause::mechanisms(&server, &rollbacks);
    let cause = cause::attribute(run, &base.result, &lat, mechanisms);
    if let Some(a) = &cause {
        for s in &a.steps {
            let name = format!("compare latency {}", s.step);
            if let Some(check) = checks.iter_mut().find(|c| c.name == name) {
                check.message = format!("{}; {}", check.message, cause::describe(s, a));
            }
        }
    }
    let covered = |steps: &mut dyn Iterator<Item = &Histogram<u64>>| {
        steps.fold(Covered::default(), |c, k| Covered {
            steps: c.steps + 1,
            requests: c.requests + k.len(),
        })
    };
    let eligible = covered(&mut latency.values().filter(|k| k.len() >= min));
    let compared = covered(&mut lat.iter().filter_map(|l| latency.get(&l.step)));
    checks.push(coverage(
        base,
        compared,
        errs.len(),
        eligible,
        &not_compared,
    ));
    checks.push(baseline_fit(&base.result, base.verdict_status));
    let comparisons = Comparisons {
        baseline: base.result.run_id.clone(),
        baseline_release: base.result.release.clone(),
        baseline_verdict: base.verdict_status,
        alpha: c.alpha(),
        alpha_per_step: round6(alpha_per_step),
        latency: lat,
        errors: errs,
        rollbacks,
        server,
        cause,
        not_compared,
    };
    (checks, comparisons)
}

/// Share of the candidate's requests (in steps it measured enough of) whose step must be
/// compared for the comparison to stand for the release: half.
const MIN_COVERAGE: f64 = 0.5;

/// The steps a comparison could cover: each step the candidate measured at least `min_count`
/// times, with its number of requests.
#[derive(Debug, Clone, Copy, Default)]
struct Covered {
    steps: usize,
    requests: u64,
}

/// How much of the candidate the comparison covered: `warn` when nothing could be compared,
/// or when the compared steps hold under half of the requests of the steps the candidate
/// measured enough of (`min_count`), e.g. against a baseline stopped after its first steps.
/// Requests, not steps, so a step near `min_count` on one side of an A/A pair does not tip
/// it. A thin comparison never passes silently; `pass` says how much was compared.
fn coverage(
    base: &StoredRun,
    compared: Covered,
    errors_compared: usize,
    eligible: Covered,
    not_compared: &[String],
) -> Check {
    let why = || {
        if not_compared.is_empty() {
            "neither run measured a step".to_string()
        } else {
            not_compared.join("; ")
        }
    };
    let id = &base.result.run_id;
    let share = compared.requests as f64 / eligible.requests.max(1) as f64;
    let what = format!(
        "{} of the {} steps the candidate measured ({}% of their requests)",
        compared.steps,
        eligible.steps,
        fmt_num((100.0 * share).round())
    );
    let (status, message) = if compared.steps == 0 && errors_compared == 0 {
        (
            Status::Warn,
            format!("no step could be compared with baseline {id}: {}", why()),
        )
    } else if share < MIN_COVERAGE {
        (
            Status::Warn,
            format!(
                "only {what} could be compared with baseline {id} (at least half of the requests must be): {}",
                why()
            ),
        )
    } else {
        (
            Status::Pass,
            format!("{what} were compared with baseline {id}"),
        )
    };
    Check {
        name: "compare coverage".into(),
        status,
        observed: Some(round6(share)),
        warn: None,
        fail: None,
        message,
    }
}

/// A baseline stands for an accepted release only if it ran its whole plan and its own
/// verdict passed (or warned): one that failed, was inconclusive, aborted or interrupted
/// makes every comparison against it meaningless, so the comparison warns and says why. The
/// change gate goes further and fails such a baseline (`comparisons.baseline_verdict`).
fn baseline_fit(base: &RunResult, verdict: Option<Status>) -> Check {
    let mut problems = Vec::new();
    match base.status {
        crate::result::RunStatus::Completed => {}
        other => problems.push(format!(
            "it was {other} after {}s of its plan",
            fmt_num(base.duration_s)
        )),
    }
    match verdict {
        Some(v @ (Status::Fail | Status::Inconclusive)) => {
            problems.push(format!("its own verdict was {v}"))
        }
        None => problems.push("it has no verdict.json (judge it with `peakgate verdict`)".into()),
        Some(_) => {}
    }
    let id = &base.run_id;
    pass_unless(
        "compare baseline",
        &problems,
        format!(
            "baseline {id} completed its plan and its own verdict was {}",
            verdict.map_or_else(String::new, |v| v.to_string())
        ),
        format!("baseline {id} is no accepted release to compare with: "),
        ", ",
    )
}

/// A check about the comparison itself: `pass` with `passed`, or `warn` with `why` followed
/// by the problems found.
fn pass_unless(name: &str, problems: &[String], passed: String, why: String, sep: &str) -> Check {
    Check {
        name: name.into(),
        status: if problems.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        },
        observed: None,
        warn: None,
        fail: None,
        message: if problems.is_empty() {
            passed
        } else {
            why + &problems.join(sep)
        },
    }
}

/// Rollbacks per committed transaction: a significant rise in the share of transactions that
/// rolled back, judged on the increase per commit.
fn rollback_comparison(
    probe: &str,
    b: super::probes::Transactions,
    k: super::probes::Transactions,
    c: &Compare,
) -> (RollbackComparison, Check) {
    let count = |x: f64| x.max(0.0).round() as u64;
    let t = stats::two_proportions(
        count(b.rollbacks),
        count(b.rollbacks + b.commits),
        count(k.rollbacks),
        count(k.rollbacks + k.commits),
        CONFIDENCE,
    );
    let (pb, pk) = (b.rollbacks / b.commits, k.rollbacks / k.commits);
    let increase = pk - pb;
    let significant = t.p_greater < c.alpha();
    let limits = c.rollbacks_per_commit_increase();
    let status = if significant {
        grade(increase, limits, Worse::Higher)
    } else {
        Status::Pass
    };
    let cmp = RollbackComparison {
        probe: probe.to_string(),
        test: "two_proportion_z".into(),
        commits_baseline: b.commits,
        rollbacks_baseline: b.rollbacks,
        commits_candidate: k.commits,
        rollbacks_candidate: k.rollbacks,
        per_commit_baseline: round6(pb),
        per_commit_candidate: round6(pk),
        increase: round6(increase),
        z: round6(t.z),
        p_value: round6(t.p_greater),
        significant,
        status,
    };
    let check = Check {
        name: format!("compare rollbacks per commit ({probe})"),
        status,
        observed: Some(cmp.increase),
        warn: limits.warn,
        fail: limits.fail,
        message: format!(
            "rollbacks per committed transaction {} → {} ({}/{} → {}/{}), increase {}, two-proportion z = {}, one-sided p = {} ({}significant at {}); {}",
            fmt_num(pb),
            fmt_num(pk),
            fmt_num(b.rollbacks),
            fmt_num(b.commits),
            fmt_num(k.rollbacks),
            fmt_num(k.commits),
            fmt_num(increase),
            fmt_num(t.z),
            fmt_p(t.p_greater),
            if significant { "" } else { "not " },
            fmt_p(c.alpha()),
            describe_limits(limits, Worse::Higher, "")
        ),
    };
    (cmp, check)
}

/// Two runs compare only if they offered the same load: same profile text, rate scale and
/// stages. A mismatch warns, since every figure below compares different traffic.
fn same_load(run: &RunResult, base: &RunResult) -> Check {
    let mut differences = Vec::new();
    if run.profile.name != base.profile.name || run.profile.sha256 != base.profile.sha256 {
        differences.push(format!(
            "profile {} ({}…) vs baseline {} ({}…)",
            run.profile.name,
            &run.profile.sha256[..run.profile.sha256.len().min(8)],
            base.profile.name,
            &base.profile.sha256[..base.profile.sha256.len().min(8)]
        ));
    }
    if run.plan.rate_scale != base.plan.rate_scale {
        differences.push(format!(
            "rate scale {} vs {}",
            fmt_num(run.plan.rate_scale),
            fmt_num(base.plan.rate_scale)
        ));
    }
    if run.plan.stages != base.plan.stages {
        differences.push("different stages (e.g. another --duration)".into());
    }
    if run.plan.odoo_version != base.plan.odoo_version {
        differences.push(format!(
            "Odoo {} vs {}",
            run.plan.odoo_version, base.plan.odoo_version
        ));
    }
    if run.target.kind != base.target.kind {
        differences.push(format!(
            "target {} vs {}",
            run.target.kind, base.target.kind
        ));
    }
    pass_unless(
        "compare same load",
        &differences,
        format!(
            "baseline {} ran the same profile and stages (seeds {} and {})",
            base.run_id, base.plan.seed, run.plan.seed
        ),
        format!("baseline {} offered a different load: ", base.run_id),
        "; ",
    )
}

pub(super) fn latency_comparison(
    step: &str,
    b: &Histogram<u64>,
    k: &Histogram<u64>,
    alpha: f64,
    c: &Compare,
) -> LatencyComparison {
    let mw = stats::mann_whitney_hist(b, k);
    let shift = stats::hodges_lehmann(b, k, CONFIDENCE).expect("both sides are non-empty");
    let ms = |us: f64| round6(us / 1000.0);
    let (p95_b, p95_k) = (
        b.value_at_quantile(0.95) as f64,
        k.value_at_quantile(0.95) as f64,
    );
    let ratio = if p95_b > 0.0 { p95_k / p95_b } else { 1.0 };
    let significant = mw.p_greater < alpha;
    // Each level needs both effects beyond it: a noisy p95 ratio on a step of a few ms, or a
    // large shift that is a small share of a slow step, is not a regression by itself.
    let status = if significant {
        grade(ratio, c.p95_ratio(), Worse::Higher).min(grade(
            shift.estimate / 1000.0,
            c.shift_ms(),
            Worse::Higher,
        ))
    } else {
        Status::Pass
    };
    LatencyComparison {
        step: step.to_string(),
        test: "mann_whitney_u".into(),
        method: mw.method,
        n_baseline: mw.n_a,
        n_candidate: mw.n_b,
        u: mw.u_a,
        z: round6(mw.z),
        p_value: round6(mw.p_greater),
        p_two_sided: round6(mw.p_two_sided),
        significant,
        p95_baseline_ms: ms(p95_b),
        p95_candidate_ms: ms(p95_k),
        p95_ratio: round6(ratio),
        shift_ms: ms(shift.estimate),
        interval_ms: [ms(shift.low), ms(shift.high)],
        confidence: shift.confidence,
        status,
    }
}

pub(super) fn latency_check(cmp: &LatencyComparison, c: &Compare) -> Check {
    let l = c.p95_ratio();
    Check {
        name: format!("compare latency {}", cmp.step),
        status: cmp.status,
        observed: Some(cmp.p95_ratio),
        warn: l.warn,
        fail: l.fail,
        message: format!(
            "p95 {} → {} ms (×{}), Hodges-Lehmann shift {} ms [{}, {}] ({}%), Mann-Whitney U = {}, one-sided p = {} ({}significant); a regression needs significance, a shift and a ratio both beyond a level: p95 ratio {}; shift {}",
            fmt_num(cmp.p95_baseline_ms),
            fmt_num(cmp.p95_candidate_ms),
            fmt_num(cmp.p95_ratio),
            fmt_num(cmp.shift_ms),
            fmt_num(cmp.interval_ms[0]),
            fmt_num(cmp.interval_ms[1]),
            fmt_num(100.0 * cmp.confidence),
            fmt_num(cmp.u),
            fmt_p(cmp.p_value),
            if cmp.significant { "" } else { "not " },
            describe_limits(l, Worse::Higher, ""),
            describe_limits(c.shift_ms(), Worse::Higher, " ms"),
        ),
    }
}

/// p-values span many orders of magnitude: scientific below 0.001.
pub(super) fn fmt_p(p: f64) -> String {
    // verdict.json keeps six decimals (`round6`): below that a p-value reads as a bound, not
    // as `0.00e0`.
    if p < 1e-6 {
        "< 1e-6".into()
    } else if p < 0.001 {
        format!("{p:.2e}")
    } else {
        fmt_num(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::fixture::{hist, run};

    fn stored(shift_us: u64, errors: u64) -> (StoredRun, BTreeMap<String, Histogram<u64>>) {
        let mut r = run();
        let step = "pos_order_sync/create_from_ui".to_string();
        r.transactions.get_mut(&step).unwrap().errors =
            BTreeMap::from([("timeout".to_string(), errors)]);
        let lat = BTreeMap::from([(
            step,
            hist((0..800u64).map(|i| 30_000 + (i * 7919) % 40_000 + shift_us)),
        )]);
        let mut stored = StoredRun::from_parts(std::path::PathBuf::new(), r, lat.clone(), None);
        // Judged, and passed: an accepted baseline.
        stored.verdict_status = Some(Status::Pass);
        (stored, lat)
    }

    /// A baseline that failed its own gate, or stopped early, stands for no accepted release:
    /// the comparison warns and says why, and its coverage says how little it covered.
    #[test]
    fn a_failed_or_aborted_baseline_warns() {
        let find = |checks: &[Check], name: &str| {
            checks
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("no {name} in {checks:?}"))
                .clone()
        };
        let (cand, lat) = stored(0, 20);
        let (mut base, _) = stored(0, 20);
        let (checks, _) = compare(&cand.result, &lat, &base, &Compare::default());
        assert_eq!(find(&checks, "compare baseline").status, Status::Pass);
        base.verdict_status = Some(Status::Fail);
        base.result.status = crate::result::RunStatus::Aborted;
        let (checks, c) = compare(&cand.result, &lat, &base, &Compare::default());
        let fit = find(&checks, "compare baseline");
        assert_eq!(fit.status, Status::Warn);
        assert!(
            fit.message.contains("it was aborted after")
                && fit.message.contains("its own verdict was fail"),
            "{}",
            fit.message
        );
        assert_eq!(c.baseline_verdict, Some(Status::Fail));
        base.verdict_status = None;
        base.result.status = crate::result::RunStatus::Completed;
        let (checks, _) = compare(&cand.result, &lat, &base, &Compare::default());
        assert!(
            find(&checks, "compare baseline")
                .message
                .contains("no verdict.json")
        );

        // The candidate measured three steps; an early-stopped baseline only the first.
        let mut lat3 = lat.clone();
        for extra in ["backoffice_sale/action_confirm", "ecommerce_cart/shop"] {
            lat3.insert(extra.to_string(), lat.values().next().unwrap().clone());
        }
        let (base, _) = stored(0, 20);
        let (checks, _) = compare(&cand.result, &lat3, &base, &Compare::default());
        let coverage = find(&checks, "compare coverage");
        assert_eq!(coverage.status, Status::Warn);
        assert!(
            coverage.message.starts_with("only 1 of the 3 steps")
                && coverage
                    .message
                    .contains("ecommerce_cart/shop: not in the baseline"),
            "{}",
            coverage.message
        );
        let (checks, _) = compare(&cand.result, &lat, &base, &Compare::default());
        assert_eq!(find(&checks, "compare coverage").status, Status::Pass);
    }

    #[test]
    fn identical_runs_are_not_flagged() {
        let (base, _) = stored(0, 20);
        let (cand, lat) = stored(0, 20);
        let (checks, c) = compare(&cand.result, &lat, &base, &Compare::default());
        assert!(
            checks.iter().all(|c| c.status == Status::Pass),
            "{checks:?}"
        );
        assert_eq!(c.latency[0].shift_ms, 0.0);
        assert!(c.latency[0].p_value > 0.4);
        assert!(c.not_compared.is_empty());
    }

    #[test]
    fn a_large_significant_slowdown_fails_and_reports_its_shift() {
        let (base, _) = stored(0, 20);
        let (cand, lat) = stored(25_000, 20);
        let (checks, c) = compare(&cand.result, &lat, &base, &Compare::default());
        let l = &c.latency[0];
        assert!(l.significant && l.p_value < 1e-10, "{l:?}");
        assert!((l.shift_ms - 25.0).abs() < 0.1, "{l:?}");
        assert!(l.interval_ms[0] <= l.shift_ms && l.shift_ms <= l.interval_ms[1]);
        assert_eq!(
            checks[1].name,
            "compare latency pos_order_sync/create_from_ui"
        );
        assert_eq!(checks[1].status, Status::Fail);
    }

    #[test]
    fn a_significant_but_small_slowdown_passes() {
        // 3 ms on ~50 ms: significant with 800 samples, but ×1.04 and 3 ms are allowed.
        let (base, _) = stored(0, 20);
        let (cand, lat) = stored(3_000, 20);
        let (checks, c) = compare(&cand.result, &lat, &base, &Compare::default());
        assert!(c.latency[0].significant);
        assert_eq!(checks[1].status, Status::Pass);
    }

    #[test]
    fn a_significant_ratio_with_a_shift_under_min_shift_ms_passes_and_both_above_fail() {
        // A fast step (~5 ms) that got 4 ms slower: ×1.8 on the p95, significant, but 4 ms is
        // under the 20 ms shift a regression needs.
        let fast =
            |shift_us: u64| hist((0..800u64).map(move |i| 4_000 + (i * 7919) % 2_000 + shift_us));
        let step = "pos_order_sync/create_from_ui".to_string();
        let (mut base, _) = stored(0, 20);
        base.latency = BTreeMap::from([(step.clone(), fast(0))]);
        let (cand, _) = stored(0, 20);
        let lat = BTreeMap::from([(step.clone(), fast(4_000))]);
        let (checks, c) = compare(&cand.result, &lat, &base, &Compare::default());
        let l = &c.latency[0];
        assert!(
            l.significant && l.p95_ratio > 1.5 && l.shift_ms < 5.0,
            "{l:?}"
        );
        assert_eq!(checks[1].status, Status::Pass, "{}", checks[1].message);
        // With the shift limit lowered under the shift, all three hold: it fails.
        let strict = Compare {
            shift_ms: Some(crate::plan::gate::Limits {
                warn: None,
                fail: Some(2.0),
            }),
            ..Compare::default()
        };
        let (checks, _) = compare(&cand.result, &lat, &base, &strict);
        assert_eq!(checks[1].status, Status::Fail, "{}", checks[1].message);
        // And a large shift with a ratio under min_ratio passes.
        let loose_ratio = Compare {
            p95_ratio: Some(crate::plan::gate::Limits {
                warn: None,
                fail: Some(3.0),
            }),
            ..strict
        };
        let (checks, _) = compare(&cand.result, &lat, &base, &loose_ratio);
        assert_eq!(checks[1].status, Status::Pass, "{}", checks[1].message);
    }

    #[test]
    fn rollbacks_per_commit_are_compared_with_the_baseline() {
        let pg = |commits: f64, rollbacks: f64| -> ProbeReport {
            serde_json::from_value(serde_json::json!({
                "kind": "postgres", "interval_s": 1.0, "coverage": 1.0,
                "series": {
                    "commits_per_s": [[0.0, commits], [1.0, commits]],
                    "rollbacks_per_s": [[0.0, rollbacks], [1.0, rollbacks]]
                }
            }))
            .unwrap()
        };
        let (mut base, _) = stored(0, 20);
        base.result.probes.insert("pg".into(), pg(500.0, 25.0));
        // The same share at twice the load: no rise, whatever the rate per second.
        let (mut cand, lat) = stored(0, 20);
        cand.result.probes.insert("pg".into(), pg(1000.0, 50.0));
        let (checks, c) = compare(&cand.result, &lat, &base, &Compare::default());
        let check = checks
            .iter()
            .find(|c| c.name == "compare rollbacks per commit (pg)")
            .unwrap();
        assert_eq!(check.status, Status::Pass, "{}", check.message);
        assert_eq!(c.rollbacks[0].per_commit_candidate, 0.05);
        // 0.05 → 0.4 rollbacks per commit: significant and above the 0.25 fail level.
        cand.result.probes.insert("pg".into(), pg(1000.0, 400.0));
        let (checks, c) = compare(&cand.result, &lat, &base, &Compare::default());
        let r = &c.rollbacks[0];
        assert!(r.significant && (r.increase - 0.35).abs() < 1e-9, "{r:?}");
        let check = checks
            .iter()
            .find(|c| c.name == "compare rollbacks per commit (pg)")
            .unwrap();
        assert_eq!(check.status, Status::Fail, "{}", check.message);
    }

    #[test]
    fn a_baseline_of_another_load_warns() {
        let (mut base, _) = stored(0, 20);
        let (cand, lat) = stored(0, 20);
        let (checks, _) = compare(&cand.result, &lat, &base, &Compare::default());
        assert_eq!(
            (checks[0].name.as_str(), checks[0].status),
            ("compare same load", Status::Pass)
        );
        base.result.plan.rate_scale = 2.0;
        let (checks, _) = compare(&cand.result, &lat, &base, &Compare::default());
        assert_eq!(checks[0].status, Status::Warn);
        assert!(
            checks[0].message.contains("rate scale 1 vs 2"),
            "{}",
            checks[0].message
        );
    }

    #[test]
    fn an_error_rate_increase_must_be_significant_and_large() {
        let (base, _) = stored(0, 2);
        let (cand, lat) = stored(0, 60);
        let (checks, c) = compare(&cand.result, &lat, &base, &Compare::default());
        let e = &c.errors[0];
        assert_eq!(e.step, "pos_order_sync/create_from_ui");
        assert!(e.significant && (e.increase - 0.0725).abs() < 1e-9, "{e:?}");
        let check = checks
            .iter()
            .find(|c| c.name.starts_with("compare errors pos"))
            .unwrap();
        assert_eq!(check.status, Status::Fail);
        // A few more errors on a small base is not significant.
        let (cand, lat) = stored(0, 4);
        let (checks, _) = compare(&cand.result, &lat, &base, &Compare::default());
        assert!(checks.iter().all(|c| c.status == Status::Pass));
    }

    #[test]
    fn a_comparison_that_compared_nothing_warns() {
        let (base, _) = stored(0, 20);
        let (mut cand, _) = stored(0, 20);
        // Another version's steps: nothing in common with the baseline.
        cand.result.transactions = std::mem::take(&mut cand.result.transactions)
            .into_iter()
            .map(|(name, t)| (name.replace("create_from_ui", "sync_from_ui") + "_18", t))
            .collect();
        cand.result.plan.odoo_version = "18.0".into();
        let (checks, c) = compare(&cand.result, &BTreeMap::new(), &base, &Compare::default());
        assert!(c.latency.is_empty() && c.errors.is_empty());
        let coverage = checks
            .iter()
            .find(|c| c.name == "compare coverage")
            .expect("a coverage check");
        assert_eq!(coverage.status, Status::Warn);
        assert!(
            coverage.message.contains(": not in the "),
            "{}",
            coverage.message
        );
        assert_eq!(checks[0].status, Status::Warn);
        assert!(
            checks[0].message.contains("Odoo 18.0 vs"),
            "{}",
            checks[0].message
        );
    }
}
