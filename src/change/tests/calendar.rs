//! Freeze windows: calendar days across daylight-saving changes, zones on both sides,
//! scopes, and the emergency path.

use super::*;
use crate::change::judge::{FREEZE, PLANNED_TIME};
use crate::result::change_record::RiskClass;

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
    assert_eq!(&r.calendar.upcoming[0], spring);

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
    // Nor is a region the calendar never names (`US-EAST` for `us-east`).
    let typo = inputs(change(
        "[\"odoo_config\"]",
        planned,
        "Europe/Paris",
        "[scope]\nregions = [\"US-EAST\"]",
    ));
    let r = judged(&typo, &smoke, None);
    assert_eq!(check(&r, FREEZE).status, Status::Fail);
    assert!(
        r.calendar.frozen_by[0]
            .scope_note
            .contains("region US-EAST is named nowhere in the calendar"),
        "{}",
        r.calendar.frozen_by[0].scope_note
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
    // A type of a lower class may not ride along on the emergency's evidence.
    let mixed = error(
        change(
            "[\"ui_only\", \"hotfix\"]",
            "2026-04-03T10:00",
            "Europe/Paris",
            "",
        ),
        POLICY,
        Some(CALENDAR),
    );
    assert!(
        mixed.contains("an emergency change deploys its emergency types only; ui_only (low)"),
        "{mixed}"
    );
    let i = inputs(change(
        "[\"hotfix\"]",
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
fn a_change_planned_before_the_judgement_warns_and_says_how_long_ago() {
    let mut i = inputs(change(
        "[\"ui_only\"]",
        "2026-03-25T23:30",
        "Europe/Paris",
        ROLLBACK,
    ));
    let before = judged(&i, &high_evidence(), None);
    assert!(before.checks.iter().all(|c| c.name != PLANNED_TIME));
    i.judged_at = "2026-03-27T12:00:00Z".parse().unwrap();
    let after = judged(&i, &high_evidence(), None);
    let c = check(&after, PLANNED_TIME);
    assert_eq!(c.status, Status::Warn);
    assert!(
        c.message.starts_with(
            "planned 2026-03-25 23:30 +01:00 Europe/Paris is 1d 13h 30m before this judgement (2026-03-27 13:00 +01:00 Europe/Paris)"
        ),
        "{}",
        c.message
    );
    assert_eq!(after.judged_at, "2026-03-27T12:00:00Z");
}
