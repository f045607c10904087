//! report: one writer per output format, each in its own file behind [`Format`]. Writers
//! take the run and its verdict and write to any `impl Write`; they never see the engine.

pub mod html;
mod json;
mod junit;
mod markdown;
pub mod tenants;

use std::io::Write;
use std::path::Path;

use crate::result::Verdict;
use crate::result::{RunResult, write_atomic};

pub use html::HtmlReport;
pub use json::VerdictJson;
pub use junit::Junit;
pub use markdown::SummaryMarkdown;

/// An output format of the verdict.
pub trait Format {
    /// The file it is written to in the run folder.
    const FILE: &'static str;

    fn write(
        &self,
        run: &RunResult,
        verdict: &Verdict,
        out: &mut impl Write,
    ) -> std::io::Result<()>;

    /// Writes the format into `dir` atomically.
    fn write_to(&self, dir: &Path, run: &RunResult, verdict: &Verdict) -> std::io::Result<()> {
        let mut buf = Vec::new();
        self.write(run, verdict, &mut buf)?;
        write_atomic(&dir.join(Self::FILE), &buf)
    }
}

/// Step → merged latency histogram (µs), as read from a run's `latency.hlog`.
pub type Latency = std::collections::BTreeMap<String, hdrhistogram::Histogram<u64>>;

/// Writes `report.html` and its PNG charts into `dir`, with the run's histograms and the
/// baseline's (when there are any).
pub fn write_report(
    dir: &Path,
    run: &RunResult,
    verdict: &Verdict,
    latency: Option<&Latency>,
    baseline: Option<&Latency>,
) -> std::io::Result<()> {
    // `peakgate capacity` leaves its report in the folder: the page then shows it too.
    let capacity: Option<crate::capacity::report::CapacityReport> =
        std::fs::read(dir.join("capacity.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
    HtmlReport {
        latency,
        baseline,
        capacity: capacity.as_ref(),
    }
    .write_to(dir, run, verdict)?;
    html::write_pngs(dir, run)
}

/// Writes `verdict.json`, `junit.xml` and `summary.md` into `dir`.
pub fn write_verdict(dir: &Path, run: &RunResult, verdict: &Verdict) -> std::io::Result<()> {
    VerdictJson.write_to(dir, run, verdict)?;
    Junit.write_to(dir, run, verdict)?;
    SummaryMarkdown.write_to(dir, run, verdict)
}
