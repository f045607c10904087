//! Judging a run and writing its verdict artifacts: shared by `peakgate run` (right after
//! the load) and `peakgate verdict` (from the stored artifacts), so both give the same bytes.

use std::path::Path;

use anyhow::Context;

use super::Exit;
use crate::plan::Gate;
use crate::report;
use crate::result::{RunResult, RunStatus};
use crate::verdict::{self, Status, Stored, Verdict};

/// Judges the run stored in `dir` and writes verdict.json, junit.xml and summary.md into
/// it. The run is read back from its run.json, so this judges exactly the input that
/// `peakgate verdict` will read later, to the last bit of every float.
pub fn judge_and_write(
    dir: &Path,
    gate: &Gate,
    baseline: Option<&Stored>,
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
    baseline: Option<&Stored>,
) -> anyhow::Result<Verdict> {
    // Read once: the comparison needs it (then it must be there), the percentile checks
    // take their confidence intervals from it, the report draws it.
    let latency = match baseline {
        Some(_) => Some(verdict::load_latency(run_dir).context("reading the candidate's latency")?),
        None => verdict::load_latency(run_dir).ok(),
    };
    let v = verdict::judge(run, gate, latency.as_ref(), baseline);
    report::write_verdict(out, run, &v)
        .with_context(|| format!("writing the verdict into {}", out.display()))?;
    report::write_report(out, run, &v, latency.as_ref(), baseline.map(|b| &b.latency))
        .with_context(|| format!("writing report.html into {}", out.display()))?;
    Ok(v)
}

/// The exit code of a judged run: an interrupted run is 3 whatever its verdict; a run the
/// gate's abort rule stopped failed the gate (1); otherwise the verdict decides (warn fails
/// only with `--fail-on-warn`).
pub fn exit_for(run: &RunResult, v: &Verdict, fail_on_warn: bool) -> Exit {
    match run.status {
        RunStatus::Interrupted => Exit::Stopped,
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

/// The gate stored beside a run (`gate.json`). A missing or unreadable one is an error: an
/// empty gate would pass anything.
pub fn stored_gate(dir: &Path) -> anyhow::Result<Gate> {
    let path = dir.join("gate.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "{}: cannot read the gate the run was judged with",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a peakgate gate", path.display()))
}

/// The verdict stored beside a run (`verdict.json`).
pub fn stored_verdict(dir: &Path) -> anyhow::Result<Verdict> {
    let path = dir.join("verdict.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "{}: cannot read (judge the run first: peakgate verdict {})",
            path.display(),
            dir.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a peakgate verdict", path.display()))
}
