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
            Exit::Internal
        }
    }
}

/// Writes a stored run's summary.md, report.html and PNG charts again from its artifacts: its
/// stored verdict (never judged again, so the pages say what verdict.json and junit.xml say),
/// and the baseline's histograms for the overlay when one is given.
pub(crate) fn regenerate_report(
    dir: &std::path::Path,
    baseline: Option<&std::path::Path>,
) -> Result<(), String> {
    use crate::report::Format;
    let run = crate::result::RunResult::load(dir)
        .map_err(|e| format!("{e} (a --scale parent's steps are in its x<multiplier>/ folders)"))?;
    let v = judge::stored_verdict(dir).map_err(|e| format!("{e:#}"))?;
    let baseline = match baseline {
        Some(b) => Some(crate::verdict::Stored::load(b).map_err(|e| format!("--baseline: {e}"))?),
        None => None,
    };
    let latency = crate::verdict::load_latency(dir).ok();
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
