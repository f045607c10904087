//! Judging a run and writing its verdict artifacts: shared by `peakgate run` (right after
//! the load) and `peakgate verdict` (from the stored artifacts), so both give the same bytes.

use std::path::Path;

use anyhow::Context;

use super::Exit;
use crate::plan::Gate;
use crate::report;
use crate::result::{RunResult, RunStatus, StoredRun, read_latency};
use crate::result::{Status, Verdict};
use crate::verdict::{self};

/// Judges the run stored in `dir` and writes verdict.json, junit.xml and summary.md into
/// it. The run is read back from its run.json, so this judges exactly the input that
/// `peakgate verdict` will read later, to the last bit of every float.
pub fn judge_and_write(
    dir: &Path,
    gate: &Gate,
    baseline: Option<&StoredRun>,
) -> anyhow::Result<(RunResult, Verdict)> {
    let run = RunResult::load(dir)?;
    let v = judge_into(dir, dir, &run, gate, baseline)?;
    Ok((run, v))
}

/// Like [`judge_and_write`], reading the run's histograms from `run_dir` and writing to `out`.
pub fn judge_into(
    run_dir: &Path,
    out: &Path,
    run: &RunResult,
    gate: &Gate,
    baseline: Option<&StoredRun>,
) -> anyhow::Result<Verdict> {
    // Read once: the comparison needs it (then it must be there), the percentile checks
    // take their confidence intervals from it, the report draws it.
    let latency = match baseline {
        Some(_) => Some(read_latency(run_dir).context("reading the candidate's latency")?),
        None => read_latency(run_dir).ok(),
    };
    let v = verdict::judge(run, gate, latency.as_ref(), baseline);
    report::write_verdict(out, run, &v)
        .with_context(|| format!("writing the verdict into {}", out.display()))?;
    report::write_report(out, run, &v, latency.as_ref(), baseline.map(|b| &b.latency))
        .with_context(|| format!("writing report.html into {}", out.display()))?;
    Ok(v)
}

/// The `--baseline` run folder, opened: a folder that cannot be used is the user's to mend
/// (exit 2), whatever is wrong with it.
pub fn open_baseline(dir: Option<&Path>) -> anyhow::Result<Option<StoredRun>> {
    dir.map(|d| {
        StoredRun::open(d).map_err(|e| {
            super::InputError {
                flag: "--baseline",
                source: e.into(),
            }
            .into()
        })
    })
    .transpose()
}

/// The exit code of a judged run: an interrupted run is 3 whatever its verdict; a run the
/// gate's abort rule stopped failed the gate (1); otherwise the verdict decides (warn fails
/// only with `--fail-on-warn`).
pub fn exit_for(run: &RunResult, v: &Verdict, fail_on_warn: bool) -> Exit {
    match run.status {
        RunStatus::Interrupted => Exit::Stopped,
        // A load generator that did not keep its plan outranks the abort: the release is
        // neither passed nor failed, as verdict.json says.
        _ if v.verdict == Status::Inconclusive => Exit::Inconclusive,
        RunStatus::Aborted => Exit::GateFailed,
        _ => exit_for_verdict(v.verdict, fail_on_warn),
    }
}

pub fn exit_for_verdict(status: Status, fail_on_warn: bool) -> Exit {
    match status {
        Status::Pass => Exit::Pass,
        Status::Warn if fail_on_warn => Exit::GateFailed,
        Status::Warn => Exit::Pass,
        Status::Fail => Exit::GateFailed,
        Status::Inconclusive => Exit::Inconclusive,
    }
}

/// One line for the terminal: the verdict and the checks that did not pass.
pub fn verdict_line(v: &Verdict) -> String {
    let not_passed: Vec<String> = v
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| format!("{} ({})", c.name, c.status))
        .collect();
    if not_passed.is_empty() {
        format!("verdict {}: {} checks passed", v.verdict, v.checks.len())
    } else {
        format!(
            "verdict {}: {} of {} checks did not pass: {}",
            v.verdict,
            not_passed.len(),
            v.checks.len(),
            not_passed.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inconclusive_verdict_is_exit_4_even_when_the_abort_rule_stopped_the_run() {
        let mut run = crate::verdict::fixture::run();
        let v = Verdict::new(
            run.run_id.clone(),
            vec![crate::result::Check {
                name: crate::verdict::generator::NAME.into(),
                status: Status::Inconclusive,
                observed: None,
                warn: None,
                fail: None,
                message: String::new(),
            }],
        );
        run.status = RunStatus::Aborted;
        assert_eq!(exit_for(&run, &v, false), Exit::Inconclusive);
        run.status = RunStatus::Interrupted;
        assert_eq!(exit_for(&run, &v, false), Exit::Stopped);
        let failed = Verdict::new(run.run_id.clone(), vec![]);
        run.status = RunStatus::Aborted;
        assert_eq!(exit_for(&run, &failed, false), Exit::GateFailed);
    }
}
