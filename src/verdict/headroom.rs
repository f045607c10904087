//! The verdict of a stepped run (`--scale`): each step's key figures and the headroom, the
//! highest multiplier whose gate passed, judged against `[gate.scale] headroom`.

use crate::plan::Gate;
use crate::plan::gate::Worse;
use crate::result::RunResult;

use super::{describe_limits, fmt_num, round6};
use crate::result::{Check, Headroom, ScaleStep, Status, Verdict};

/// Whether a step's verdict lets the escalation go on.
pub fn passes(s: Status, fail_on_warn: bool) -> bool {
    match s {
        Status::Pass => true,
        Status::Warn => !fail_on_warn,
        Status::Fail | Status::Inconclusive => false,
    }
}

/// A step's key figures for the headroom table.
pub fn step_figures(scale: f64, dir: &str, r: &RunResult, v: &Verdict) -> ScaleStep {
    let t = &r.totals;
    let worst = r
        .transactions
        .iter()
        .filter(|(name, _)| name.contains('/'))
        .map(|(name, tx)| (name, tx.latency_ms.p95))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    ScaleStep {
        scale,
        dir: dir.to_string(),
        verdict: v.verdict,
        started_ratio: (t.planned > 0).then(|| round6(t.started as f64 / t.planned as f64)),
        requests: t.requests,
        error_rate: round6(t.errors as f64 / t.requests.max(1) as f64),
        worst_p95_ms: worst.map_or(0.0, |w| w.1),
        worst_p95_step: worst.map_or(String::new(), |w| w.0.clone()),
        not_passed: v
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .map(|c| c.name.clone())
            .collect(),
    }
}

/// The parent verdict of a stepped run: one check, `headroom`, and the steps' figures.
pub fn verdict(
    parent_id: &str,
    steps: Vec<ScaleStep>,
    gate: &Gate,
    fail_on_warn: bool,
    interrupted: bool,
) -> Verdict {
    // An interrupted step did not run its whole load: it never counts as passing.
    let measured = if interrupted {
        &steps[..steps.len().saturating_sub(1)]
    } else {
        &steps[..]
    };
    let headroom = measured
        .iter()
        .filter(|s| passes(s.verdict, fail_on_warn))
        .map(|s| s.scale)
        .fold(0.0, f64::max);
    let limits = gate.headroom();
    let tried: Vec<String> = steps
        .iter()
        .map(|s| format!("×{} {}", fmt_num(s.scale), s.verdict))
        .collect();
    let stopped = match steps.last() {
        Some(s) if !passes(s.verdict, fail_on_warn) => format!(
            "; stopped after ×{}: {}",
            fmt_num(s.scale),
            s.not_passed.join(", ")
        ),
        _ if interrupted => "; interrupted".to_string(),
        _ => "; every step passed".to_string(),
    };
    let check = Check::graded(
        "headroom".into(),
        headroom,
        limits,
        Worse::Lower,
        format!(
            "highest passing multiplier ×{} ({}){stopped}; {}",
            fmt_num(headroom),
            tried.join(", "),
            describe_limits(limits, Worse::Lower, "")
        ),
    );
    let mut checks = vec![check];
    // A step the load generator could not drive says nothing about the release: the
    // headroom is unknown from there on, and the stepped run is inconclusive.
    if let Some(s) = steps.last().filter(|s| s.verdict == Status::Inconclusive) {
        checks.push(Check {
            name: super::generator::NAME.into(),
            status: Status::Inconclusive,
            observed: None,
            warn: None,
            fail: None,
            message: format!(
                "step ×{} was inconclusive: the load generator did not keep its plan, so the headroom past ×{} is unknown",
                fmt_num(s.scale),
                fmt_num(headroom)
            ),
        });
    }
    let mut v = Verdict::new(parent_id.to_string(), checks);
    v.headroom = Some(Headroom {
        multiplier: headroom,
        steps,
    });
    v
}

/// The folder of the step run a `--scale` parent shows (the parent itself when it has none).
pub fn shown_dir(v: &Verdict, parent: &std::path::Path) -> std::path::PathBuf {
    v.headroom
        .as_ref()
        .and_then(|h| h.steps.get(shown_step(v)))
        .map_or_else(|| parent.to_path_buf(), |s| parent.join(&s.dir))
}

/// Which step's run the parent's summary shows: the headroom step's, else the first.
pub fn shown_step(v: &Verdict) -> usize {
    v.headroom
        .as_ref()
        .and_then(|h| h.steps.iter().rposition(|s| s.scale == h.multiplier))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(scale: f64, verdict: Status) -> ScaleStep {
        ScaleStep {
            scale,
            dir: format!("x{scale}"),
            verdict,
            started_ratio: Some(1.0),
            requests: 100,
            error_rate: 0.0,
            worst_p95_ms: 10.0,
            worst_p95_step: "a/b".into(),
            not_passed: if verdict == Status::Pass {
                vec![]
            } else {
                vec!["latency p95 a/*".into()]
            },
        }
    }

    #[test]
    fn headroom_is_the_highest_passing_step_judged_against_the_gate() {
        let steps = vec![
            step(0.5, Status::Pass),
            step(1.0, Status::Warn),
            step(1.5, Status::Fail),
        ];
        let v = verdict("p", steps.clone(), &Gate::default(), false, false);
        assert_eq!(v.headroom.as_ref().unwrap().multiplier, 1.0);
        assert_eq!(v.verdict, Status::Pass, "default: fail only below ×1");
        assert!(
            v.checks[0]
                .message
                .contains("stopped after ×1.5: latency p95 a/*")
        );
        assert_eq!(shown_step(&v), 1);
        // With --fail-on-warn the ×1 step does not pass: headroom 0.5, below 1 → fail.
        let v = verdict("p", steps, &Gate::default(), true, false);
        assert_eq!(v.headroom.as_ref().unwrap().multiplier, 0.5);
        assert_eq!(v.verdict, Status::Fail);
        // Nothing passed: headroom 0, the first step is shown.
        let v = verdict(
            "p",
            vec![step(1.0, Status::Fail)],
            &Gate::default(),
            false,
            false,
        );
        assert_eq!((v.checks[0].observed, shown_step(&v)), (Some(0.0), 0));
    }

    #[test]
    fn an_interrupted_step_never_passes_and_an_inconclusive_one_makes_the_run_inconclusive() {
        // ×1 warned only because it was cut short: the headroom is ×0.5.
        let v = verdict(
            "p",
            vec![step(0.5, Status::Pass), step(1.0, Status::Warn)],
            &Gate::default(),
            false,
            true,
        );
        assert_eq!(v.headroom.as_ref().unwrap().multiplier, 0.5);
        // The generator could not drive ×0.5: the stepped run is inconclusive, not failed.
        let v = verdict(
            "p",
            vec![step(0.5, Status::Inconclusive)],
            &Gate::default(),
            false,
            false,
        );
        assert_eq!(v.verdict, Status::Inconclusive, "{v:?}");
        assert!(v.checks[1].message.contains("×0.5 was inconclusive"));
    }
}
