//! `verdict.json`: the verdict as data, for pipelines. Deterministic: the same run and gate
//! give the same bytes, which is what `peakgate verdict` relies on.

use std::io::Write;

use super::Format;
use crate::result::RunResult;
use crate::result::Verdict;

pub struct VerdictJson;

impl Format for VerdictJson {
    const FILE: &'static str = "verdict.json";

    fn write(
        &self,
        run: &RunResult,
        verdict: &Verdict,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        // A `--scale` parent's verdict is made from its steps' figures: it describes the
        // run shown, as its page does.
        if verdict.peakgate_version.is_none() {
            let mut v = verdict.clone();
            v.describe_run(run);
            serde_json::to_writer_pretty(&mut *out, &v)?;
            return out.write_all(b"\n");
        }
        serde_json::to_writer_pretty(&mut *out, verdict)?;
        out.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Check, Status};

    #[test]
    fn verdict_json_is_pretty_printed_with_the_design_keys_and_a_final_newline() {
        let run = crate::verdict::fixture::run();
        let v = Verdict::new(
            "r1".into(),
            vec![Check {
                name: "latency p95 */*".into(),
                status: Status::Warn,
                observed: Some(450.5),
                warn: Some(400.0),
                fail: None,
                message: "p95 450.5 ms".into(),
            }],
        );
        let mut buf = Vec::new();
        VerdictJson.write(&run, &v, &mut buf).unwrap();
        // What was judged is in the file too: release, profile, run status, peakgate version.
        let expected = r#"{
  "schema": "peakgate.verdict/1",
  "run_id": "r1",
  "release": "17.0.42",
  "profile": "smoke",
  "status": "completed",
  "peakgate_version": "VERSION",
  "verdict": "warn",
  "checks": [
    {
      "name": "latency p95 */*",
      "status": "warn",
      "observed": 450.5,
      "warn": 400.0,
      "fail": null,
      "message": "p95 450.5 ms"
    }
  ]
}
"#
        .replace("VERSION", crate::result::PEAKGATE_VERSION);
        assert_eq!(String::from_utf8(buf).unwrap(), expected);
    }
}
