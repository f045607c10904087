//! The change gate on policy and calendar combinations: freeze windows across a
//! daylight-saving change, a change and an event in different zones, scopes, the emergency
//! path, the evidence each class needs, and the located errors of the three files.

use std::path::PathBuf;

use super::evidence::RunEvidence;
use super::judge::{FREEZE, RELEASE, ROLLBACK_PLAN, judge, overall};
use super::{Inputs, TomlFile};
use crate::result::Status;
use crate::result::change_record::{
    BaselineRef, ChangeRecord, FileVersion, Inputs as InputFiles, RiskClass,
};

const POLICY: &str = r#"
[types]
ui_only = "low"
odoo_config = "standard"
module_upgrade = "high"
hotfix = "emergency"

[class.low]

[class.standard]
profiles = ["smoke"]
[[class.standard.freeze]]
events = ["promotion"]
before = "1d"

[class.high]
profiles = ["smoke", "flash-sale"]
min_headroom = 1.5
headroom_profiles = ["flash-sale"]
baseline_required = true
preflight = ["pg_archiving"]
rollback_plan_required = true
[[class.high.freeze]]
events = ["promotion", "peak_season"]
before = "7d"
[[class.high.freeze]]
events = ["month_end_close"]
before = "1d"
after = "1d"

[class.emergency]
profiles = ["smoke"]
[[class.emergency.freeze]]
events = ["promotion", "peak_season", "month_end_close", "inventory_count"]
before = "0s"
"#;

const CALENDAR: &str = r#"
time_zone = "Europe/Paris"

[stores]
paris-01 = "eu-west"
nyc-01 = "us-east"

[[event]]
name = "Spring sale"
kind = "promotion"
start = "2026-04-02"
end = "2026-04-05"

[[event]]
name = "Black Friday US"
kind = "promotion"
start = "2026-11-27"
end = "2026-11-30"
time_zone = "America/New_York"
regions = ["us-east"]

[[event]]
name = "October close"
kind = "month_end_close"
start = "2026-10-31T18:00"
end = "2026-11-02T12:00"
"#;

fn file(name: &str, text: &str) -> TomlFile {
    TomlFile {
        path: name.into(),
        text: text.into(),
    }
}

/// change.toml with these types and planned time (a clock time in `zone`).
fn change(types: &str, planned: &str, zone: &str, extra: &str) -> TomlFile {
    file(
        "change.toml",
        &format!(
            "release = \"17.0.43\"\ntypes = {types}\nplanned = \"{planned}\"\ntime_zone = \"{zone}\"\n{extra}"
        ),
    )
}

fn inputs(change: TomlFile) -> Inputs {
    Inputs::parse(
        change,
        file("policy.toml", POLICY),
        Some(file("calendar.toml", CALENDAR)),
    )
    .unwrap()
}

fn error(change: TomlFile, policy: &str, calendar: Option<&str>) -> String {
    Inputs::parse(
        change,
        file("policy.toml", policy),
        calendar.map(|c| file("calendar.toml", c)),
    )
    .unwrap_err()
    .to_string()
}

fn version(path: &str) -> FileVersion {
    FileVersion {
        path: path.into(),
        sha256: "0".repeat(64),
        commit: None,
        uncommitted: false,
    }
}

fn judged(i: &Inputs, runs: &[RunEvidence], emergency: Option<&str>) -> ChangeRecord {
    let files = InputFiles {
        change: version("change.toml"),
        policy: version("policy.toml"),
        calendar: Some(version("calendar.toml")),
    };
    judge(i, runs, emergency, files, |p| p.display().to_string())
}

fn run(id: &str, profile: &str, verdict: Status) -> RunEvidence {
    RunEvidence {
        dir: PathBuf::from("reports").join(id),
        run_id: id.into(),
        profile: profile.into(),
        release: Some("17.0.43".into()),
        verdict,
        not_passed: Vec::new(),
        headroom: None,
        baseline: None,
        artifacts: vec!["run.json".into(), "verdict.json".into()],
    }
}

fn compared(mut r: RunEvidence) -> RunEvidence {
    r.baseline = Some(BaselineRef {
        run_id: "accepted-1".into(),
        release: Some("17.0.42".into()),
    });
    r
}

fn scaled(mut r: RunEvidence, headroom: f64) -> RunEvidence {
    r.headroom = Some(headroom);
    r
}

fn check<'a>(r: &'a ChangeRecord, name: &str) -> &'a crate::result::Check {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {:#?}", r.checks))
}

/// The evidence a high-class change needs, all there and passing.
fn high_evidence() -> Vec<RunEvidence> {
    vec![
        compared(run("smoke-1", "smoke", Status::Pass)),
        compared(run("flash-1", "flash-sale", Status::Pass)),
        scaled(run("flash-scale", "flash-sale", Status::Pass), 2.0),
    ]
}

const ROLLBACK: &str = "rollback = \"\"\"\nRedeploy 17.0.42 with helm rollback odoo 41.\nRestore nothing: the upgrade adds columns only.\n\"\"\"";

#[test]
fn seven_days_before_are_calendar_days_across_the_spring_daylight_saving_change() {
    // Spring sale starts 2026-04-02 00:00 +02:00 in Paris; the clocks went forward on 29
    // March, so 7 days before is 2026-03-26 00:00 +01:00: 167 hours, not 168.
    let outside = inputs(change(
        "[\"module_upgrade\"]",
        "2026-03-25T23:30",
        "Europe/Paris",
        ROLLBACK,
    ));
    let r = judged(&outside, &high_evidence(), None);
    let freeze = check(&r, FREEZE);
    assert_eq!(freeze.status, Status::Pass, "{}", freeze.message);
    // 23:30 +01:00 is 22:30 UTC: inside a 168-hour window, which would start at 22:00 UTC.
    assert!(
        freeze
            .message
            .contains("the next begins 2026-03-26 00:00 +01:00 Europe/Paris"),
        "{}",
        freeze.message
    );
    let spring = r
        .calendar
        .windows
        .iter()
        .find(|w| w.event == "Spring sale")
        .unwrap();
    assert_eq!(spring.start, "2026-03-26T00:00:00+01:00[Europe/Paris]");
    assert_eq!(spring.end, "2026-04-06T00:00:00+02:00[Europe/Paris]");
    assert_eq!(spring.rule, "from 7d before the event until it ends");

    let inside = inputs(change(
        "[\"module_upgrade\"]",
        "2026-03-26T00:30",
        "Europe/Paris",
        ROLLBACK,
    ));
    let r = judged(&inside, &high_evidence(), None);
    let freeze = check(&r, FREEZE);
    assert_eq!(freeze.status, Status::Fail);
    assert_eq!(
        freeze.message,
        "planned 2026-03-26 00:30 +01:00 Europe/Paris: inside the class high freeze for promotion \"Spring sale\" (from 7d before the event until it ends: 2026-03-26 00:00 +01:00 Europe/Paris – 2026-04-06 00:00 +02:00 Europe/Paris)"
    );
    assert_eq!(r.calendar.frozen_by.len(), 1);
    assert_eq!(r.verdict, Status::Fail);
}

#[test]
fn a_window_ending_the_day_after_an_event_ends_at_its_clock_time_across_the_autumn_change() {
    // October close ends 2026-11-02 12:00; the clocks went back on 25 October. "1d" before
    // its start (31 October 18:00 +01:00) is 30 October 18:00 +01:00, and after its end
    // 3 November 12:00.
    let i = inputs(change(
        "[\"module_upgrade\"]",
        "2026-11-03T11:59",
        "Europe/Paris",
        ROLLBACK,
    ));
    let r = judged(&i, &high_evidence(), None);
    let close = r
        .calendar
        .windows
        .iter()
        .find(|w| w.event == "October close")
        .unwrap();
    assert_eq!(close.start, "2026-10-30T18:00:00+01:00[Europe/Paris]");
    assert_eq!(close.end, "2026-11-03T12:00:00+01:00[Europe/Paris]");
    assert_eq!(check(&r, FREEZE).status, Status::Fail);
    let after = inputs(change(
        "[\"module_upgrade\"]",
        "2026-11-03T12:00",
        "Europe/Paris",
        ROLLBACK,
    ));
    assert_eq!(
        check(&judged(&after, &high_evidence(), None), FREEZE).status,
        Status::Pass
    );
}

#[test]
fn a_change_planned_in_new_york_is_judged_against_a_paris_event_by_the_instant() {
    // Spring sale ends 2026-04-06 00:00 +02:00 = 2026-04-05 22:00 UTC = 18:00 in New York.
    let before_end = inputs(change(
        "[\"odoo_config\"]",
        "2026-04-05T17:30",
        "America/New_York",
        "",
    ));
    let smoke = [run("smoke-1", "smoke", Status::Pass)];
    let r = judged(&before_end, &smoke, None);
    assert_eq!(check(&r, FREEZE).status, Status::Fail);
    assert_eq!(r.planned.at, "2026-04-05T17:30:00-04:00[America/New_York]");
    assert_eq!(r.planned.utc, "2026-04-05T21:30:00Z");
    assert_eq!(r.planned.time_zone, "America/New_York");
    let after_end = inputs(change(
        "[\"odoo_config\"]",
        "2026-04-05T18:30",
        "America/New_York",
        "",
    ));
    let r = judged(&after_end, &smoke, None);
    assert_eq!(check(&r, FREEZE).status, Status::Pass, "{:#?}", r.checks);
    assert_eq!(r.verdict, Status::Pass);
}

#[test]
fn a_new_york_event_freezes_only_changes_that_reach_its_region() {
    // Black Friday US: 27 November 00:00 New York (06:00 in Paris) to 30 November included.
    let planned = "2026-11-27T12:00";
    let smoke = [run("smoke-1", "smoke", Status::Pass)];
    let paris = inputs(change(
        "[\"odoo_config\"]",
        planned,
        "Europe/Paris",
        "[scope]\nstores = [\"paris-01\"]",
    ));
    let r = judged(&paris, &smoke, None);
    let freeze = check(&r, FREEZE);
    assert_eq!(freeze.status, Status::Pass);
    assert!(
        freeze.message.contains("1 window(s) holding that time are out of the change's scope (\"Black Friday US\": the event's regions us-east and the change's stores paris-01 do not meet)"),
        "{}",
        freeze.message
    );
    let nyc = inputs(change(
        "[\"odoo_config\"]",
        planned,
        "Europe/Paris",
        "[scope]\nstores = [\"nyc-01\"]",
    ));
    let r = judged(&nyc, &smoke, None);
    assert_eq!(check(&r, FREEZE).status, Status::Fail);
    assert_eq!(
        r.calendar.frozen_by[0].scope_note,
        "region us-east is in both"
    );
    // A store the calendar cannot place is never skipped on a guess.
    let unknown = inputs(change(
        "[\"odoo_config\"]",
        planned,
        "Europe/Paris",
        "[scope]\nstores = [\"lyon-02\"]",
    ));
    let r = judged(&unknown, &smoke, None);
    assert_eq!(check(&r, FREEZE).status, Status::Fail);
    assert!(
        r.calendar.frozen_by[0]
            .scope_note
            .contains("lyon-02 has no region")
    );
    // An unscoped change reaches every store.
    let everywhere = inputs(change("[\"odoo_config\"]", planned, "Europe/Paris", ""));
    assert_eq!(
        check(&judged(&everywhere, &smoke, None), FREEZE).status,
        Status::Fail
    );
}

#[test]
fn an_emergency_passes_a_freeze_only_with_its_reason_and_the_reason_is_recorded() {
    // The highest class of the types decides: hotfix is emergency, ui_only low.
    let i = inputs(change(
        "[\"ui_only\", \"hotfix\"]",
        "2026-04-03T10:00",
        "Europe/Paris",
        "",
    ));
    assert_eq!(i.class, RiskClass::Emergency);
    let smoke = [run("smoke-1", "smoke", Status::Pass)];
    let refused = judged(&i, &smoke, None);
    let freeze = check(&refused, FREEZE);
    assert_eq!(freeze.status, Status::Fail);
    assert!(
        freeze
            .message
            .ends_with("an emergency change passes a freeze only with --emergency \"REASON\""),
        "{}",
        freeze.message
    );
    assert_eq!(refused.verdict, Status::Fail);
    let passed = judged(
        &i,
        &smoke,
        Some("INC-4711: POS payments down in every store"),
    );
    let freeze = check(&passed, FREEZE);
    assert_eq!(freeze.status, Status::Pass);
    assert!(
        freeze
            .message
            .ends_with("passed as an emergency: INC-4711: POS payments down in every store"),
        "{}",
        freeze.message
    );
    assert_eq!(
        passed.calendar.emergency.as_deref(),
        Some("INC-4711: POS payments down in every store")
    );
    assert_eq!(passed.verdict, Status::Pass);
    // The emergency still needs its evidence: no smoke run, no pass.
    assert_eq!(judged(&i, &[], Some("INC-4711")).verdict, Status::Fail);
}

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
            ("preflight pg_archiving", Status::Warn),
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
fn a_high_change_with_its_evidence_warns_only_for_the_preflight_not_yet_run() {
    let i = inputs(change(
        "[\"module_upgrade\", \"odoo_config\"]",
        "2026-06-10T22:00",
        "Europe/Paris",
        ROLLBACK,
    ));
    assert_eq!(i.class, RiskClass::High);
    let r = judged(&i, &high_evidence(), None);
    assert_eq!(r.verdict, Status::Warn, "{:#?}", r.checks);
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
fn an_unknown_change_type_is_located_in_change_toml_with_the_nearest_types() {
    let e = error(
        change(
            "[\"odoo_config\", \"modul_upgrade\"]",
            "2026-06-10T22:00",
            "Europe/Paris",
            "",
        ),
        POLICY,
        Some(CALENDAR),
    );
    assert!(
        e.starts_with("change.toml:2:25: unknown change type `modul_upgrade`"),
        "{e}"
    );
    assert!(e.contains("the nearest are `module_upgrade`"), "{e}");
}

#[test]
fn a_class_with_freeze_rules_needs_the_calendar() {
    let e = error(
        change("[\"odoo_config\"]", "2026-06-10T22:00", "Europe/Paris", ""),
        POLICY,
        None,
    );
    assert!(
        e.starts_with("--calendar: the policy (policy.toml) freezes standard changes"),
        "{e}"
    );
}

#[test]
fn policy_mistakes_are_located() {
    let ok = change("[\"ui_only\"]", "2026-06-10T22:00", "Europe/Paris", "");
    let e = error(
        ok.clone(),
        "[types]\nui_only = \"low\"\n[class.low]\npreflight = [\"pg_archive\"]\n",
        None,
    );
    assert!(e.starts_with("policy.toml:4:"), "{e}");
    assert!(e.contains("unknown variant `pg_archive`"), "{e}");
    let e = error(
        ok.clone(),
        "[types]\nui_only = \"high\"\n[class.low]\n",
        None,
    );
    assert!(
        e.starts_with(
            "policy.toml:2:11: `ui_only` maps to class high, which has no [class.high] section"
        ),
        "{e}"
    );
    let e = error(
        ok.clone(),
        "[types]\nui_only = \"low\"\n[class.low]\n[[class.low.freeze]]\nevents = [\"promotion\"]\nbefore = \"-7d\"\n",
        None,
    );
    assert!(e.starts_with("policy.toml:6:10: `-7d` is negative"), "{e}");
    let e = error(ok, "[types]\nui_only = \"low\"\n[class.lo]\n", None);
    assert!(e.contains("unknown field `lo`"), "{e}");
}

#[test]
fn calendar_and_change_mistakes_are_located() {
    let bad_end = "[[event]]\nname = \"x\"\nkind = \"promotion\"\nstart = \"2026-04-02\"\nend = \"2026-04-01T10:00\"\ntime_zone = \"Europe/Paris\"\n";
    let e = error(
        change(
            "[\"module_upgrade\"]",
            "2026-06-10T22:00",
            "Europe/Paris",
            "",
        ),
        POLICY,
        Some(bad_end),
    );
    assert!(e.starts_with("calendar.toml:5:7: event `x` ends"), "{e}");
    let no_zone = "[[event]]\nname = \"x\"\nkind = \"promotion\"\nstart = \"2026-04-02\"\nend = \"2026-04-03\"\n";
    let e = error(
        change(
            "[\"module_upgrade\"]",
            "2026-06-10T22:00",
            "Europe/Paris",
            "",
        ),
        POLICY,
        Some(no_zone),
    );
    assert!(
        e.starts_with("calendar.toml:2:8: event `x` has no time_zone"),
        "{e}"
    );
    let e = error(
        change("[\"odoo_config\"]", "2026-03-29T02:30", "Europe/Paris", ""),
        POLICY,
        Some(CALENDAR),
    );
    assert!(
        e.starts_with("change.toml:3:11: 2026-03-29T02:30:00 does not exist in Europe/Paris"),
        "{e}"
    );
    let e = error(
        change("[\"odoo_config\"]", "2026-06-10T22:00", "Europe/Pariss", ""),
        POLICY,
        Some(CALENDAR),
    );
    assert!(
        e.starts_with("change.toml:4:13: `Europe/Pariss` is no IANA time zone"),
        "{e}"
    );
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
    super::markdown::write(&r, &mut buf).unwrap();
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
        "| Spring sale | promotion | 2026-03-26T00:00:00+01:00[Europe/Paris] – 2026-04-06T00:00:00+02:00[Europe/Paris] | from 7d before the event until it ends | the event covers every store | **yes** |",
        "| smoke | yes | [smoke-1](reports/smoke-1) | 17.0.43 | PASS | — | accepted-1 (17.0.42) |",
        "| flash-sale | yes | [flash-scale](reports/flash-scale) | 17.0.43 | PASS | ×2 | — |",
        "> Redeploy 17.0.42 with helm rollback odoo 41.",
        "- smoke: run smoke-1 was compared with the accepted run accepted-1 of release 17.0.42",
        "- pg_archiving: WARN — not run: peakgate does not check pg_archiving against the real systems yet; confirm it by hand and say so in the change request",
        "- smoke-1: [run.json](reports/smoke-1/run.json), [verdict.json](reports/smoke-1/verdict.json)",
    ] {
        assert!(lines.contains(&expected), "missing line {expected}\n{md}");
    }
}
