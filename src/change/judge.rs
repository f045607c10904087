//! The change gate's judgement, pure: checked inputs and the runs' evidence in, the change
//! record out. Input mistakes were refused before (located errors); what is judged here is
//! the release's evidence, and each shortfall is a check that fails.

use std::path::Path;

use super::evidence::RunEvidence;
use super::freeze::{self, Window};
use super::{Inputs, when};
use crate::plan::gate::{Limits, Worse};
use crate::result::change_record::{
    CHANGE_RECORD_SCHEMA, CalendarVerdict, ChangeRecord, Inputs as InputFiles, LoadEvidence,
    Planned, RiskClass, Rollback, RollbackBaseline, UPCOMING,
};
use crate::result::{Check, PEAKGATE_VERSION, Status};
use crate::verdict::fmt_num;

/// Check names, as pipelines and tests read them.
pub const FREEZE: &str = "calendar freeze";
pub const ROLLBACK_PLAN: &str = "rollback plan";
pub const RELEASE: &str = "release under test";
pub const PLANNED_TIME: &str = "planned time";

/// The change's verdict: a failure outranks an inconclusive run (a change in a freeze, or
/// without a required run, is refused whatever a rerun of the inconclusive one shows); an
/// inconclusive run outranks a warning.
pub fn overall(statuses: impl IntoIterator<Item = Status>) -> Status {
    let rank = |s: Status| match s {
        Status::Pass => 0,
        Status::Warn => 1,
        Status::Inconclusive => 2,
        Status::Fail => 3,
    };
    statuses
        .into_iter()
        .max_by_key(|s| rank(*s))
        .unwrap_or(Status::Pass)
}

/// Judges a change. `preflight` is the class's pre-flight checks, judged
/// ([`super::preflight::judge`]), and what they read; `files` are the input files' versions; `link` turns a path
/// into the record's link to it (relative to the record's folder).
pub fn judge(
    inputs: &Inputs,
    runs: &[RunEvidence],
    emergency: Option<&str>,
    preflight: super::preflight::Judged,
    files: InputFiles,
    link: impl Fn(&Path) -> String,
) -> ChangeRecord {
    let rules = &inputs.rules;
    let (freeze_check, calendar) = calendar(inputs, emergency);
    let mut checks = vec![freeze_check];
    checks.extend(planned_time(inputs));
    if rules.rollback_plan_required {
        checks.push(rollback_plan(inputs));
    }
    if !runs.is_empty() {
        checks.push(release(&inputs.change.release, runs));
    }
    for profile in &rules.profiles {
        checks.push(profile_check(profile, runs, true));
    }
    let mut others: Vec<&str> = Vec::new();
    for r in runs {
        if !rules.profiles.contains(&r.profile) && !others.contains(&r.profile.as_str()) {
            others.push(&r.profile);
        }
    }
    for profile in &others {
        checks.push(profile_check(profile, runs, false));
    }
    if rules.baseline_required {
        for profile in &rules.profiles {
            checks.push(baseline(profile, &inputs.change.release, runs));
        }
    }
    if let Some(min) = rules.min_headroom {
        for profile in &rules.headroom_profiles {
            checks.push(headroom(profile, min, runs));
        }
    }
    checks.extend(preflight.checks);
    let loads = loads(inputs, runs, &link);
    let rollback = Rollback {
        plan: inputs.change.rollback.clone(),
        plan_required: rules.rollback_plan_required,
        baselines: runs
            .iter()
            .filter_map(|r| {
                r.baseline.as_ref().map(|b| RollbackBaseline {
                    profile: r.profile.clone(),
                    run_id: r.run_id.clone(),
                    baseline: b.clone(),
                })
            })
            .collect(),
    };
    let planned = &inputs.change.planned;
    ChangeRecord {
        schema: CHANGE_RECORD_SCHEMA.into(),
        peakgate_version: PEAKGATE_VERSION.into(),
        release: inputs.change.release.clone(),
        types: inputs.types.clone(),
        risk_class: inputs.class,
        planned: Planned {
            at: planned.to_string(),
            utc: planned.timestamp().to_string(),
            time_zone: when::zone_name(planned.time_zone()),
        },
        judged_at: inputs.judged_at.to_string(),
        scope: inputs.change.scope.clone(),
        verdict: overall(checks.iter().map(|c| c.status)),
        checks,
        calendar,
        loads,
        rollback,
        preflight: rules
            .preflight
            .iter()
            .map(|p| p.name().to_string())
            .collect(),
        configuration: preflight.configuration,
        inputs: files,
    }
}

/// A change planned before the judgement is a warning: its freeze windows are those of a
/// time already gone, so the record documents a change made (or a mistyped date).
fn planned_time(inputs: &Inputs) -> Option<Check> {
    let planned = &inputs.change.planned;
    let now = inputs
        .judged_at
        .to_zoned_datetime(planned.time_zone().clone());
    if planned.timestamp() >= inputs.judged_at {
        return None;
    }
    let ago = planned
        .until(
            jiff::ZonedDateTimeDifference::new(&now)
                .largest(jiff::Unit::Day)
                .smallest(jiff::Unit::Minute),
        )
        .map(|s| format!("{s:#}"))
        .unwrap_or_else(|_| "some time".into());
    Some(check(
        PLANNED_TIME,
        Status::Warn,
        format!(
            "planned {} is {ago} before this judgement ({}): the freeze windows were judged at a time already gone; correct `planned` in the change file, or keep the record as documentation of a change made",
            when::show(planned),
            when::show(&now)
        ),
    ))
}

fn check(name: &str, status: Status, message: String) -> Check {
    Check {
        name: name.to_string(),
        status,
        observed: None,
        warn: None,
        fail: None,
        message,
    }
}

/// The freeze windows of the change's class, and whether the planned time is in one.
fn calendar(inputs: &Inputs, emergency: Option<&str>) -> (Check, CalendarVerdict) {
    let class = inputs.class;
    let planned = &inputs.change.planned;
    let windows: Vec<Window> = match &inputs.calendar {
        Some(c) => freeze::windows(c, &inputs.rules.freeze, &inputs.change.scope),
        None => Vec::new(),
    };
    let holding: Vec<&Window> = windows.iter().filter(|w| w.holds(planned)).collect();
    let hit: Vec<&Window> = holding
        .iter()
        .copied()
        .filter(|w| w.record.in_scope)
        .collect();
    let at = when::show(planned);
    // `windows` is sorted by start.
    let upcoming: Vec<&Window> = windows
        .iter()
        .filter(|w| w.record.in_scope && w.start > *planned)
        .take(UPCOMING)
        .collect();
    let (status, message) = if inputs.rules.freeze.is_empty() {
        (
            Status::Pass,
            format!("class {class} has no freeze rules; planned {at}"),
        )
    } else if hit.is_empty() {
        let outside = holding.len();
        let next = upcoming.first().map_or(String::new(), |w| {
            format!(
                "; the next begins {} ({} \"{}\")",
                when::show(&w.start),
                w.record.kind,
                w.record.event
            )
        });
        let scope = if outside > 0 {
            format!(
                "; {outside} window(s) holding that time are out of the change's scope ({})",
                holding
                    .iter()
                    .map(|w| format!("\"{}\": {}", w.record.event, w.record.scope_note))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        } else {
            String::new()
        };
        (
            Status::Pass,
            format!(
                "planned {at}: outside the {} freeze window(s) of class {class}{next}{scope}",
                windows.len()
            ),
        )
    } else {
        let named: Vec<String> = hit
            .iter()
            .map(|w| {
                format!(
                    "{} \"{}\" ({}: {})",
                    w.record.kind,
                    w.record.event,
                    w.record.rule,
                    freeze::show(w)
                )
            })
            .collect();
        let frozen = format!(
            "planned {at}: inside the class {class} freeze for {}",
            named.join("; ")
        );
        match (class, emergency) {
            (RiskClass::Emergency, Some(reason)) => (
                Status::Pass,
                format!("{frozen}; passed as an emergency: {reason}"),
            ),
            (RiskClass::Emergency, None) => (
                Status::Fail,
                format!(
                    "{frozen}; an emergency change passes a freeze only with --emergency \"REASON\""
                ),
            ),
            _ => (Status::Fail, frozen),
        }
    };
    let verdict = CalendarVerdict {
        status,
        message: message.clone(),
        frozen_by: hit.iter().map(|w| w.record.clone()).collect(),
        upcoming: upcoming.iter().map(|w| w.record.clone()).collect(),
        windows: windows.iter().map(|w| w.record.clone()).collect(),
        emergency: emergency.map(str::to_string),
    };
    (check(FREEZE, status, message), verdict)
}

fn rollback_plan(inputs: &Inputs) -> Check {
    match &inputs.change.rollback {
        Some(plan) => check(
            ROLLBACK_PLAN,
            Status::Pass,
            format!("stated: {}", plan.lines().next().unwrap_or_default()),
        ),
        None => check(
            ROLLBACK_PLAN,
            Status::Fail,
            format!(
                "class {} requires a rollback plan: state it as `rollback = \"...\"` in {}",
                inputs.class,
                inputs.change.source.path.display()
            ),
        ),
    }
}

/// Every run must have tested the release the change deploys.
fn release(release: &str, runs: &[RunEvidence]) -> Check {
    let other: Vec<String> = runs
        .iter()
        .filter_map(|r| match &r.release {
            Some(rel) if rel != release => Some(format!("{} tested {rel}", r.run_id)),
            _ => None,
        })
        .collect();
    let unlabelled: Vec<&str> = runs
        .iter()
        .filter(|r| r.release.is_none())
        .map(|r| r.run_id.as_str())
        .collect();
    if !other.is_empty() {
        check(
            RELEASE,
            Status::Fail,
            format!(
                "the change deploys {release}, but {}: that evidence is another release's",
                other.join(", ")
            ),
        )
    } else if !unlabelled.is_empty() {
        check(
            RELEASE,
            Status::Warn,
            format!(
                "{} ran without --release: nothing says it tested {release}",
                unlabelled.join(", ")
            ),
        )
    } else {
        check(
            RELEASE,
            Status::Pass,
            match runs.len() {
                1 => format!("the run given tested {release}"),
                n => format!("all {n} runs given tested {release}"),
            },
        )
    }
}

fn runs_of<'a>(profile: &str, runs: &'a [RunEvidence]) -> Vec<&'a RunEvidence> {
    runs.iter().filter(|r| r.profile == profile).collect()
}

fn given(runs: &[RunEvidence]) -> String {
    if runs.is_empty() {
        return "none was given".into();
    }
    let list: Vec<String> = runs
        .iter()
        .map(|r| format!("{} ({})", r.profile, r.run_id))
        .collect();
    format!("given: {}", list.join(", "))
}

/// A profile's load evidence: the worst verdict of its runs; a required profile with none
/// fails.
fn profile_check(profile: &str, runs: &[RunEvidence], required: bool) -> Check {
    let name = if required {
        format!("profile {profile}")
    } else {
        format!("profile {profile} (not required)")
    };
    let mine = runs_of(profile, runs);
    if mine.is_empty() {
        return check(
            &name,
            Status::Fail,
            format!(
                "the policy requires a passing run of profile {profile}, and --runs holds none ({})",
                given(runs)
            ),
        );
    }
    // A run stopped before its plan ended shows only what it reached: never evidence.
    let status = overall(mine.iter().map(|r| {
        if r.interrupted {
            Status::Fail
        } else {
            r.verdict
        }
    }));
    let each: Vec<String> = mine
        .iter()
        .map(|r| {
            if r.interrupted {
                return format!(
                    "{}: interrupted before its plan ended (verdict {}): not evidence, run it again",
                    r.run_id, r.verdict
                );
            }
            let what = match r.headroom {
                Some(h) => format!("{} (--scale, headroom ×{})", r.verdict, fmt_num(h)),
                None => r.verdict.to_string(),
            };
            if r.not_passed.is_empty() {
                format!("{}: {what}", r.run_id)
            } else {
                format!("{}: {what} ({})", r.run_id, r.not_passed.join(", "))
            }
        })
        .collect();
    check(&name, status, each.join("; "))
}

fn baseline(profile: &str, release: &str, runs: &[RunEvidence]) -> Check {
    let name = format!("baseline {profile}");
    let mine = runs_of(profile, runs);
    let compared: Vec<&RunEvidence> = mine
        .iter()
        .copied()
        .filter(|r| r.baseline.is_some())
        .collect();
    if mine.is_empty() {
        return check(
            &name,
            Status::Fail,
            format!(
                "the policy requires a comparison with an accepted baseline, and no run of {profile} was given"
            ),
        );
    }
    if compared.is_empty() {
        let scale = if mine.iter().all(|r| r.headroom.is_some()) {
            " (a --scale run does not compare)"
        } else {
            ""
        };
        return check(
            &name,
            Status::Fail,
            format!(
                "the policy requires a comparison with an accepted baseline, and {} has none{scale}: run it with --baseline reports/<accepted-run>",
                mine.iter()
                    .map(|r| r.run_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    // The accepted baseline is the release in production: one of the release deployed (the
    // run compared with itself, or a sibling) proves nothing and is no rollback target.
    let same: Vec<String> = compared
        .iter()
        .filter_map(|r| {
            r.baseline
                .as_ref()
                .filter(|b| b.release.as_deref() == Some(release) || b.run_id == r.run_id)
                .map(|b| {
                    format!(
                        "{} was compared with {}, a run of {release} itself",
                        r.run_id, b.run_id
                    )
                })
        })
        .collect();
    if !same.is_empty() {
        return check(
            &name,
            Status::Fail,
            format!(
                "{}: the baseline must be the accepted run of the release in production, not of the release deployed",
                same.join("; ")
            ),
        );
    }
    // An accepted run passed (or warned): a baseline that failed, or was inconclusive, is
    // no release a rollback can return to with confidence.
    let rejected: Vec<String> = compared
        .iter()
        .filter_map(|r| {
            r.baseline
                .as_ref()
                .filter(|b| matches!(b.verdict, Some(Status::Fail | Status::Inconclusive)))
                .map(|b| {
                    format!(
                        "{} was compared with {}, whose own verdict was {}",
                        r.run_id,
                        b.run_id,
                        b.verdict.map_or("unknown".into(), |v| v.to_string())
                    )
                })
        })
        .collect();
    if !rejected.is_empty() {
        return check(
            &name,
            Status::Fail,
            format!(
                "{}: a baseline must be an accepted run (pass or warn); compare with one, e.g. --baseline last-accepted",
                rejected.join("; ")
            ),
        );
    }
    let each: Vec<String> = compared
        .iter()
        .filter_map(|r| {
            r.baseline.as_ref().map(|b| {
                format!(
                    "{} compared with {} (release {})",
                    r.run_id,
                    b.run_id,
                    b.release.as_deref().unwrap_or("unlabelled")
                )
            })
        })
        .collect();
    check(&name, Status::Pass, each.join("; "))
}

fn headroom(profile: &str, min: f64, runs: &[RunEvidence]) -> Check {
    let name = format!("headroom {profile}");
    // Headroom is of the profile's own load: a ×2 stepping at --rate-scale 0.2 reached ×0.4.
    let best = runs_of(profile, runs)
        .iter()
        .filter(|r| !r.interrupted)
        .filter_map(|r| {
            r.headroom
                .map(|h| (h * r.rate_scale, h, r.rate_scale, r.run_id.as_str()))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        None => Check {
            warn: None,
            fail: Some(min),
            ..check(
                &name,
                Status::Fail,
                format!(
                    "the policy requires a headroom of ×{} and no --scale run of {profile} was given: run peakgate run --profile ... --scale 0.5,1,1.5,2",
                    fmt_num(min)
                ),
            )
        },
        Some((h, stepped, rate_scale, run)) => Check::graded(
            name,
            h,
            Limits {
                warn: None,
                fail: Some(min),
            },
            Worse::Lower,
            format!(
                "{run}: headroom ×{}{}, the policy requires at least ×{}",
                fmt_num(h),
                if (rate_scale - 1.0).abs() > 1e-9 {
                    format!(
                        " of the profile's load (×{} stepped at --rate-scale {})",
                        fmt_num(stepped),
                        fmt_num(rate_scale)
                    )
                } else {
                    String::new()
                },
                fmt_num(min)
            ),
        ),
    }
}

/// One entry per run, then one per required profile with no run.
fn loads(
    inputs: &Inputs,
    runs: &[RunEvidence],
    link: &impl Fn(&Path) -> String,
) -> Vec<LoadEvidence> {
    let required = &inputs.rules.profiles;
    let mut out: Vec<LoadEvidence> = runs
        .iter()
        .map(|r| LoadEvidence {
            profile: r.profile.clone(),
            required: required.contains(&r.profile),
            run_id: Some(r.run_id.clone()),
            dir: Some(link(&r.dir)),
            release: r.release.clone(),
            verdict: r.verdict,
            headroom: r.headroom,
            baseline: r.baseline.clone(),
            artifacts: r.artifacts.iter().map(|a| link(&r.dir.join(a))).collect(),
        })
        .collect();
    for p in required {
        if !runs.iter().any(|r| &r.profile == p) {
            out.push(LoadEvidence {
                profile: p.clone(),
                required: true,
                run_id: None,
                dir: None,
                release: None,
                verdict: Status::Fail,
                headroom: None,
                baseline: None,
                artifacts: Vec::new(),
            });
        }
    }
    out
}
