//! `junit.xml`: one test case per gate check, so any CI system shows the gate as tests.
//! A warning is a passing test case whose system-out says so (JUnit has no warning state).

use std::io::Write;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::Format;
use crate::result::RunResult;
use crate::result::{Check, Status, Verdict};
use crate::verdict::fmt_num;

pub struct Junit;

impl Format for Junit {
    const FILE: &'static str = "junit.xml";

    fn write(
        &self,
        run: &RunResult,
        verdict: &Verdict,
        out: &mut impl Write,
    ) -> std::io::Result<()> {
        let mut suite = TestSuite::new(format!("peakgate gate: {}", run.profile.name));
        for c in &verdict.checks {
            let case = case(c, &format!("peakgate.{}", run.profile.name));
            suite.add_test_case(case);
        }
        let mut report = Report::new(format!("peakgate {}", run.run_id));
        report.add_test_suite(suite);
        report
            .serialize(&mut *out)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// One check as a JUnit test case of `classname`: a failure fails it, an inconclusive check
/// skips it with the reason, warn and pass succeed; every case says its status, observed
/// value and message on its system-out.
pub(super) fn case(c: &Check, classname: &str) -> TestCase {
    let status = match c.status {
        Status::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(c.message.clone());
            s.set_type("gate");
            s
        }
        // Neither passed nor failed: skipped, with the reason.
        Status::Inconclusive => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(c.message.clone());
            s.set_type("inconclusive");
            s
        }
        Status::Pass | Status::Warn => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(c.name.clone(), status);
    case.set_classname(classname.to_string());
    let observed = c.observed.map_or("not measured".into(), fmt_num);
    case.set_system_out(format!("{}: observed {observed}: {}", c.status, c.message));
    case
}
