//! The change gate on policy and calendar combinations, judged from text: freeze windows
//! across daylight-saving changes, a change and an event in different zones, scopes, the
//! emergency path (`calendar`); the evidence each class needs and the record's markdown
//! (`evidence`); the located errors of the three files (`errors`). The fixtures below are
//! one policy and one calendar shared by all of them.

mod calendar;
mod errors;
mod evidence;

use std::path::PathBuf;

use super::evidence::RunEvidence;
use super::judge::judge;
use super::{Inputs, TomlFile};
use crate::result::Status;
use crate::result::change_record::{BaselineRef, ChangeRecord, FileVersion, Inputs as InputFiles};

pub(super) const POLICY: &str = r#"
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

pub(super) const CALENDAR: &str = r#"
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

pub(super) fn file(name: &str, text: &str) -> TomlFile {
    TomlFile {
        path: name.into(),
        text: text.into(),
    }
}

/// change.toml with these types and planned time (a clock time in `zone`).
pub(super) fn change(types: &str, planned: &str, zone: &str, extra: &str) -> TomlFile {
    file(
        "change.toml",
        &format!(
            "release = \"17.0.43\"\ntypes = {types}\nplanned = \"{planned}\"\ntime_zone = \"{zone}\"\n{extra}"
        ),
    )
}

/// The instant the tests judge at: before every planned time they use.
pub(super) const JUDGED_AT: &str = "2026-01-01T00:00:00Z";

pub(super) fn inputs(change: TomlFile) -> Inputs {
    let mut i = Inputs::parse(
        change,
        file("policy.toml", POLICY),
        Some(file("calendar.toml", CALENDAR)),
    )
    .unwrap();
    i.judged_at = JUDGED_AT.parse().unwrap();
    i
}

pub(super) fn error(change: TomlFile, policy: &str, calendar: Option<&str>) -> String {
    Inputs::parse(
        change,
        file("policy.toml", policy),
        calendar.map(|c| file("calendar.toml", c)),
    )
    .unwrap_err()
    .to_string()
}

pub(super) fn version(path: &str) -> FileVersion {
    FileVersion {
        path: path.into(),
        sha256: "0".repeat(64),
        commit: None,
        uncommitted: false,
    }
}

pub(super) fn judged(i: &Inputs, runs: &[RunEvidence], emergency: Option<&str>) -> ChangeRecord {
    let files = InputFiles {
        change: version("change.toml"),
        policy: version("policy.toml"),
        calendar: Some(version("calendar.toml")),
    };
    // The pre-flight checks as the gate judges them when it was given nothing to look at.
    let preflight = crate::change::preflight::judge(
        &i.rules.preflight,
        &i.policy.preflight,
        &crate::change::preflight::Evidence::default(),
        jiff::Timestamp::UNIX_EPOCH,
        |p| p.display().to_string(),
    );
    judge(i, runs, emergency, preflight, files, |p| {
        p.display().to_string()
    })
}

pub(super) fn run(id: &str, profile: &str, verdict: Status) -> RunEvidence {
    RunEvidence {
        dir: PathBuf::from("reports").join(id),
        run_id: id.into(),
        profile: profile.into(),
        release: Some("17.0.43".into()),
        verdict,
        not_passed: Vec::new(),
        headroom: None,
        rate_scale: 1.0,
        interrupted: false,
        baseline: None,
        artifacts: vec!["run.json".into(), "verdict.json".into()],
    }
}

pub(super) fn compared(mut r: RunEvidence) -> RunEvidence {
    r.baseline = Some(BaselineRef {
        run_id: "accepted-1".into(),
        release: Some("17.0.42".into()),
        verdict: Some(Status::Pass),
    });
    r
}

pub(super) fn scaled(mut r: RunEvidence, headroom: f64) -> RunEvidence {
    r.headroom = Some(headroom);
    r
}

pub(super) fn check<'a>(r: &'a ChangeRecord, name: &str) -> &'a crate::result::Check {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {:#?}", r.checks))
}

/// The evidence a high-class change needs, all there and passing.
pub(super) fn high_evidence() -> Vec<RunEvidence> {
    vec![
        compared(run("smoke-1", "smoke", Status::Pass)),
        compared(run("flash-1", "flash-sale", Status::Pass)),
        scaled(run("flash-scale", "flash-sale", Status::Pass), 2.0),
    ]
}

pub(super) const ROLLBACK: &str = "rollback = \"\"\"\nRedeploy 17.0.42 with helm rollback odoo 41.\nRestore nothing: the upgrade adds columns only.\n\"\"\"";
