//! `peakgate report`: a stored run's report.html, PNG charts and summary.md, written again.

use anyhow::Context;

use super::{Exit, InputError, ReportArgs};
use crate::report::Format;
use crate::result::StoredRun;

pub fn report(args: ReportArgs) -> anyhow::Result<Exit> {
    let chosen = match args.baseline.as_deref() {
        Some(flag) if flag.as_os_str() == super::store::LAST_ACCEPTED => {
            Some(super::store::chosen_baseline(&args.run, &args.store)?)
        }
        _ => None,
    };
    let baseline = match &chosen {
        Some((dir, _scratch)) => Some(dir.as_path()),
        None => args.baseline.as_deref(),
    };
    regenerate_report(&args.run, baseline)?;
    println!("{}", args.run.join("report.html").display());
    Ok(Exit::Pass)
}

/// Writes a stored run's summary.md, report.html and PNG charts again from its artifacts: its
/// stored verdict (never judged again, so the pages say what verdict.json and junit.xml say),
/// and the baseline's histograms for the overlay when one is given.
pub(crate) fn regenerate_report(
    dir: &std::path::Path,
    baseline: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let stored = StoredRun::open(dir)?;
    let v = stored.verdict()?;
    let baseline = baseline
        .map(|b| {
            StoredRun::open(b).map_err(|e| InputError {
                flag: "--baseline",
                source: e.into(),
            })
        })
        .transpose()?;
    crate::report::SummaryMarkdown
        .write_to(dir, &stored.result, &v)
        .and_then(|_| {
            crate::report::write_report(
                dir,
                &stored.result,
                &v,
                Some(&stored.latency),
                baseline.as_ref().map(|b| &b.latency),
            )
        })
        .with_context(|| format!("cannot write the report into {}", dir.display()))
}
