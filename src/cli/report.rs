//! `peakgate report`: a stored run's report.html, PNG charts and summary.md, written again.

use super::{Exit, ReportArgs, judge};

pub fn report(args: ReportArgs) -> Exit {
    match regenerate_report(&args.run, args.baseline.as_deref()) {
        Ok(()) => {
            println!("{}", args.run.join("report.html").display());
            Exit::Pass
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::BadInput
        }
    }
}

/// Writes a stored run's summary.md, report.html and PNG charts again from its artifacts
/// (its gate.json, and the baseline's histograms when one is given).
pub(crate) fn regenerate_report(
    dir: &std::path::Path,
    baseline: Option<&std::path::Path>,
) -> Result<(), String> {
    use crate::report::Format;
    let run = crate::result::RunResult::load(dir)
        .map_err(|e| format!("{e} (a --scale parent's steps are in its x<multiplier>/ folders)"))?;
    let gate = judge::stored_gate(dir).map_err(|e| format!("{e:#}"))?;
    let baseline = match baseline {
        Some(b) => Some(crate::verdict::Stored::load(b).map_err(|e| format!("--baseline: {e}"))?),
        None => None,
    };
    let latency = crate::verdict::load_latency(dir).ok();
    let v = crate::verdict::judge(
        &run,
        &gate,
        latency.as_ref().filter(|_| baseline.is_some()),
        baseline.as_ref(),
    );
    crate::report::SummaryMarkdown
        .write_to(dir, &run, &v)
        .and_then(|_| {
            crate::report::write_report(
                dir,
                &run,
                &v,
                latency.as_ref(),
                baseline.as_ref().map(|b| &b.latency),
            )
        })
        .map_err(|e| format!("cannot write the report into {}: {e}", dir.display()))
}
