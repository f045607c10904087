//! The evidence each class needs: required profiles, baseline, headroom, release, rollback
//! plan, pre-flight; the verdict's order; and the record as markdown.

use super::*;
use crate::change::judge::{FREEZE, RELEASE, ROLLBACK_PLAN, overall};
use crate::result::change_record::RiskClass;

#[test]
fn a_high_change_without_evidence_fails_each_requirement_by_name() {
    let i = inputs(change(
        "[\"module_upgrade\"]",
        "2026-06-10T22:00",
        "Europe/Paris",
        "",
    ));
    let r = judged(&i, &[], None);
    let failed: Vec<(&str, Status)> = r
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.status))
        .collect();
    assert_eq!(
        failed,
        vec![
            (FREEZE, Status::Pass),
            (ROLLBACK_PLAN, Status::Fail),
            ("profile smoke", Status::Fail),
            ("profile flash-sale", Status::Fail),
            ("baseline smoke", Status::Fail),
            ("baseline flash-sale", Status::Fail),
            ("headroom flash-sale", Status::Fail),
            ("preflight pg_archiving", Status::Fail),
        ]
    );
    assert_eq!(r.verdict, Status::Fail);
    // The missing runs are in the record as load entries without a run.
    assert_eq!(r.loads.len(), 2);
    assert!(
        r.loads
            .iter()
            .all(|l| l.run_id.is_none() && l.verdict == Status::Fail)
    );
    assert_eq!(
        check(&r, "profile flash-sale").message,
        "the policy requires a passing run of profile flash-sale, and --runs holds none (none was given)"
    );
}

#[test]
fn a_high_change_with_its_load_evidence_fails_only_for_the_preflight_it_could_not_look_at() {
    let i = inputs(change(
        "[\"module_upgrade\", \"odoo_config\"]",
        "2026-06-10T22:00",
        "Europe/Paris",
        ROLLBACK,
    ));
    assert_eq!(i.class, RiskClass::High);
    let r = judged(&i, &high_evidence(), None);
    assert_eq!(r.verdict, Status::Fail, "{:#?}", r.checks);
    let not_passed: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(not_passed, vec!["preflight pg_archiving"]);
    let headroom = check(&r, "headroom flash-sale");
    assert_eq!((headroom.observed, headroom.fail), (Some(2.0), Some(1.5)));
    assert_eq!(
        check(&r, ROLLBACK_PLAN).message,
        "stated: Redeploy 17.0.42 with helm rollback odoo 41."
    );
    assert_eq!(r.rollback.baselines.len(), 2);
    assert_eq!(
        r.rollback.baselines[0].baseline.release.as_deref(),
        Some("17.0.42")
    );
    assert_eq!(r.loads.len(), 3);
    assert_eq!(r.loads[2].headroom, Some(2.0));
    assert_eq!(
        r.loads[0].artifacts,
        vec!["reports/smoke-1/run.json", "reports/smoke-1/verdict.json"]
    );
    assert_eq!(r.preflight, vec!["pg_archiving"]);
}

#[test]
fn headroom_below_the_minimum_and_a_run_of_another_release_fail() {
    let i = inputs(change(
        "[\"module_upgrade\"]",
        "2026-06-10T22:00",
        "Europe/Paris",
        ROLLBACK,
    ));
    let mut runs = high_evidence();
    runs[2].headroom = Some(1.0);
    runs[0].release = Some("17.0.42".into());
    runs[1].release = None;
    let r = judged(&i, &runs, None);
    let headroom = check(&r, "headroom flash-sale");
    assert_eq!(headroom.status, Status::Fail);
    assert_eq!(
        headroom.message,
        "flash-scale: headroom ×1, the policy requires at least ×1.5"
    );
    let release = check(&r, RELEASE);
    assert_eq!(release.status, Status::Fail);
    assert!(
        release.message.contains("smoke-1 tested 17.0.42"),
        "{}",
        release.message
    );
}

#[test]
fn a_baseline_must_be_in_a_runs_verdict_and_a_scale_run_has_none() {
    let i = inputs(change(
        "[\"module_upgrade\"]",
        "2026-06-10T22:00",
        "Europe/Paris",
        ROLLBACK,
    ));
    let runs = vec![
        compared(run("smoke-1", "smoke", Status::Pass)),
        scaled(run("flash-scale", "flash-sale", Status::Pass), 2.0),
    ];
    let r = judged(&i, &runs, None);
    let baseline = check(&r, "baseline flash-sale");
    assert_eq!(baseline.status, Status::Fail);
    assert!(
        baseline
            .message
            .contains("flash-scale has none (a --scale run does not compare)"),
        "{}",
        baseline.message
    );
    assert_eq!(check(&r, "baseline smoke").status, Status::Pass);
}

#[test]
fn an_inconclusive_run_makes_the_change_inconclusive_unless_something_fails() {
    let smoke = [run("smoke-1", "smoke", Status::Inconclusive)];
    let outside = inputs(change(
        "[\"odoo_config\"]",
        "2026-06-10T22:00",
        "Europe/Paris",
        "",
    ));
    assert_eq!(judged(&outside, &smoke, None).verdict, Status::Inconclusive);
    let frozen = inputs(change(
        "[\"odoo_config\"]",
        "2026-04-03T10:00",
        "Europe/Paris",
        "",
    ));
    assert_eq!(judged(&frozen, &smoke, None).verdict, Status::Fail);
    assert_eq!(
        overall([Status::Warn, Status::Inconclusive, Status::Pass]),
        Status::Inconclusive
    );
    assert_eq!(overall([Status::Fail, Status::Inconclusive]), Status::Fail);
}

#[test]
fn a_run_of_a_profile_the_class_does_not_require_still_counts() {
    let i = inputs(change(
        "[\"ui_only\"]",
        "2026-04-03T10:00",
        "Europe/Paris",
        "",
    ));
    // The low class has no freeze rules and requires no profile: no calendar is needed.
    assert!(i.rules.freeze.is_empty());
    let r = judged(&i, &[run("flash-1", "flash-sale", Status::Fail)], None);
    assert_eq!(
        check(&r, "profile flash-sale (not required)").status,
        Status::Fail
    );
    assert_eq!(r.verdict, Status::Fail);
    assert!(!r.loads[0].required);
}

#[test]
fn the_markdown_record_has_the_summary_table_checks_windows_loads_and_rollback() {
    let i = inputs(change(
        "[\"module_upgrade\"]",
        "2026-03-26T00:30",
        "Europe/Paris",
        ROLLBACK,
    ));
    let r = judged(&i, &high_evidence(), None);
    let mut buf = Vec::new();
    crate::change::markdown::write(&r, &mut buf).unwrap();
    let md = String::from_utf8(buf).unwrap();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "# Change record: 17.0.43 — **FAIL**");
    for expected in [
        "| Risk class | **high** |",
        "| Change types | module_upgrade (high) |",
        "| Planned | 2026-03-26T00:30:00+01:00[Europe/Paris] (UTC 2026-03-25T23:30:00Z) |",
        "| Scope | every store |",
        "| Policy | [policy.toml](policy.toml) sha256 0000000000000000000000000000000000000000000000000000000000000000 |",
        "| calendar freeze | FAIL | planned 2026-03-26 00:30 +01:00 Europe/Paris: inside the class high freeze for promotion \"Spring sale\" (from 7d before the event until it ends: 2026-03-26 00:00 +01:00 Europe/Paris – 2026-04-06 00:00 +02:00 Europe/Paris) |",
        "| Spring sale | promotion | 2026-03-26T00:00:00+01:00[Europe/Paris] – 2026-04-06T00:00:00+02:00[Europe/Paris] | from 7d before the event until it ends | the event covers every store | **holds the change** |",
        "| October close | month_end_close | 2026-10-30T18:00:00+01:00[Europe/Paris] – 2026-11-03T12:00:00+01:00[Europe/Paris] | from 1d before the event until 1d after it ends | the event covers every store | next |",
        "Every window of class high (3) is in change-record.json.",
        "| smoke | yes | [smoke-1](reports/smoke-1) | 17.0.43 | PASS | — | accepted-1 (17.0.42) |",
        "| flash-sale | yes | [flash-scale](reports/flash-scale) | 17.0.43 | PASS | ×2 | — |",
        "> Redeploy 17.0.42 with helm rollback odoo 41.",
        "- smoke: run smoke-1 was compared with the accepted run accepted-1 of release 17.0.42",
        "- pg_archiving: FAIL — not checked: PEAKGATE_PREFLIGHT_PG_URL is not set; set it to the production primary's URL (postgres://user:password@host:5432/db)",
        "- smoke-1: [run.json](reports/smoke-1/run.json), [verdict.json](reports/smoke-1/verdict.json)",
    ] {
        assert!(lines.contains(&expected), "missing line {expected}\n{md}");
    }
}

#[test]
fn an_interrupted_run_a_self_baseline_and_a_headroom_at_a_reduced_rate_scale_are_no_evidence() {
    let i = inputs(change(
        "[\"module_upgrade\"]",
        "2026-06-10T22:00",
        "Europe/Paris",
        ROLLBACK,
    ));
    // A run stopped by a signal whose verdict only warned.
    let mut runs = high_evidence();
    runs[0].interrupted = true;
    runs[0].verdict = Status::Warn;
    let r = judged(&i, &runs, None);
    let smoke = check(&r, "profile smoke");
    assert_eq!(smoke.status, Status::Fail);
    assert!(
        smoke.message.contains("interrupted before its plan ended"),
        "{}",
        smoke.message
    );
    // A baseline of the release deployed: the run compared with itself.
    let mut runs = high_evidence();
    runs[1].baseline = Some(BaselineRef {
        run_id: "flash-1".into(),
        release: Some("17.0.43".into()),
        verdict: Some(Status::Pass),
    });
    let r = judged(&i, &runs, None);
    let baseline = check(&r, "baseline flash-sale");
    assert_eq!(baseline.status, Status::Fail);
    assert!(
        baseline.message.contains("not of the release deployed"),
        "{}",
        baseline.message
    );
    // ×2 stepped at --rate-scale 0.2 is ×0.4 of the profile's load.
    let mut runs = high_evidence();
    runs[2].rate_scale = 0.2;
    let r = judged(&i, &runs, None);
    let headroom = check(&r, "headroom flash-sale");
    assert_eq!(headroom.status, Status::Fail);
    assert_eq!(
        headroom.message,
        "flash-scale: headroom ×0.4 of the profile's load (×2 stepped at --rate-scale 0.2), the policy requires at least ×1.5"
    );
    // A baseline that failed its own gate is no accepted run.
    let mut runs = high_evidence();
    runs[1].baseline = Some(BaselineRef {
        run_id: "flash-0".into(),
        release: Some("17.0.41".into()),
        verdict: Some(Status::Fail),
    });
    let r = judged(&i, &runs, None);
    let baseline = check(&r, "baseline flash-sale");
    assert_eq!(baseline.status, Status::Fail);
    assert!(
        baseline
            .message
            .contains("was compared with flash-0, whose own verdict was fail"),
        "{}",
        baseline.message
    );
}
