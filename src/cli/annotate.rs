//! The run's Grafana region around `peakgate run`: posted before the load, patched with the
//! verdict after it, recorded in `annotations.json` before the verdict is written (so that
//! `peakgate verdict` judges the same record). A failure here is a warning, never an error.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;

use crate::annotate::{self, Ending, Region, Started};
use crate::plan::{Gate, Plan};
use crate::result::{ANNOTATIONS, OutcomeStatus, RunResult, StoredRun, read_latency, write_atomic};

/// Posts the region of run `run_id` when the profile has `[annotations.grafana]`.
pub(super) fn begin(
    plan: &Plan,
    run_id: &str,
    runtime: &tokio::runtime::Runtime,
) -> Option<Started> {
    let spec = plan.annotations.as_ref()?;
    let target = plan.target_label();
    let region = Region {
        run_id,
        profile: &plan.name,
        release: plan.release.as_deref(),
        target: &target,
        planned: plan.duration(),
    };
    let scrub = plan.scrubber();
    let started = runtime.block_on(annotate::start(spec, &region, SystemTime::now(), &scrub));
    // A warning, on stderr even with --quiet (which quiets progress and stdout only).
    if started.start().status != OutcomeStatus::Ok {
        eprintln!(
            "peakgate: warning: Grafana annotation: {} (the run goes on; the verdict will warn)",
            started.start().message
        );
    }
    Some(started)
}

/// Judges the run in `dir` in memory, patches the region with that verdict and writes
/// `annotations.json`, ended at `ended`.
pub(super) fn end(
    started: Option<Started>,
    plan: &Plan,
    dir: &Path,
    gate: &Gate,
    baseline: Option<&StoredRun>,
    ended: SystemTime,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let Some(started) = started else {
        return Ok(());
    };
    let run = RunResult::load(dir)?;
    let latency = read_latency(dir).ok();
    let v = crate::verdict::judge(&run, gate, latency.as_ref(), baseline);
    let ending = Ending {
        verdict: v.verdict.to_string(),
        line: super::judge::verdict_line(&v),
    };
    let record = runtime.block_on(annotate::finish(started, &ending, ended, &plan.scrubber()));
    if record.grafana.end.status == OutcomeStatus::Failed {
        eprintln!(
            "peakgate: warning: Grafana annotation: {} (the verdict warns)",
            record.grafana.end.message
        );
    }
    let path = dir.join(ANNOTATIONS);
    let json = serde_json::to_vec_pretty(&record).expect("the record serializes");
    write_atomic(&path, &json).with_context(|| format!("writing {}", path.display()))
}

/// Patches the region of a run that stopped before a verdict (its error, scrubbed, in the
/// text); nothing is recorded, since no verdict is written.
pub(super) fn abandon(
    started: Option<Started>,
    plan: &Plan,
    error: &anyhow::Error,
    runtime: &tokio::runtime::Runtime,
) {
    let Some(started) = started else {
        return;
    };
    let scrub = plan.scrubber();
    let why = super::exit::message(error);
    let ending = Ending {
        verdict: "none".into(),
        line: format!("stopped before a verdict: {}", scrub.scrub(&why)),
    };
    runtime.block_on(annotate::finish(
        started,
        &ending,
        SystemTime::now(),
        &scrub,
    ));
}
