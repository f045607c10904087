//! `verdict.json`: the verdict as data, for pipelines. Deterministic: the same run and gate
//! give the same bytes, which is what `peakgate verdict` relies on.

use std::io::Write;

use super::Format;
use crate::result::RunResult;
use crate::verdict::Verdict;

pub struct VerdictJson;

impl Format for VerdictJson {
    const FILE: &'static str = "verdict.json";

    fn write(
        &self,
        _run: &RunResult,
        verdict: &Verdict,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, verdict)?;
        out.write_all(b"\n")
    }
}
