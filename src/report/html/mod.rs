//! `report.html`: one self-contained page (inline SVG charts, inline CSS, no script, no
//! external resource) that says in a minute what a run did and why, plus PNG copies of the
//! key charts for places that cannot show SVG.

pub mod charts;
mod page;
mod server;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use hdrhistogram::Histogram;

use super::Format;
use crate::result::RunResult;
use crate::result::Verdict;

/// PNG copies written beside the report (and linked from `summary.md`).
pub const PNG_CHARTS: [(&str, &str); 2] =
    [("load", "chart-load.png"), ("latency", "chart-latency.png")];

/// The HTML report, with the histograms it draws the percentile spectrum from.
pub struct HtmlReport<'a> {
    /// Step → merged latency (µs) of this run, from `latency.hlog`.
    pub latency: Option<&'a BTreeMap<String, Histogram<u64>>>,
    /// The same for the baseline, when the run was compared with one.
    pub baseline: Option<&'a BTreeMap<String, Histogram<u64>>>,
    /// The capacity report of this folder (`capacity.json`), when `peakgate capacity` wrote one.
    pub capacity: Option<&'a crate::capacity::report::CapacityReport>,
}

impl Format for HtmlReport<'_> {
    const FILE: &'static str = "report.html";

    fn write(
        &self,
        run: &RunResult,
        verdict: &Verdict,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        out.write_all(
            page::render(run, verdict, self.latency, self.baseline, self.capacity).as_bytes(),
        )
    }
}

/// Writes the PNG copies of the key charts into `dir`.
pub fn write_pngs(dir: &Path, run: &RunResult) -> std::io::Result<()> {
    for (id, file) in PNG_CHARTS {
        let chart = page::chart_by_id(run, id)
            .ok_or_else(|| std::io::Error::other(format!("no chart `{id}`")))?;
        charts::png(&chart, &dir.join(file)).map_err(std::io::Error::other)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
