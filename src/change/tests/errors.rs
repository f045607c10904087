//! Input mistakes in change.toml, policy.toml and calendar.toml: located errors (exit 2).

use super::*;

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
