//! Freeze windows: each calendar event a class's freeze rule names, widened by the rule's
//! `before` and `after` in the event's own zone (calendar days, so daylight-saving changes
//! inside the window move neither end), and whether it reaches the change's stores.

use jiff::ZonedDateTime;

use super::calendar::{Calendar, Event};
use super::policy::FreezeRule;
use super::when;
use crate::result::change_record::{FreezeWindow, Scope};

/// A window, with its instants for comparison.
#[derive(Debug, Clone)]
pub struct Window {
    pub start: ZonedDateTime,
    pub end: ZonedDateTime,
    pub record: FreezeWindow,
}

impl Window {
    /// Whether `at` falls in it: from its start (included) to its end (excluded).
    pub fn holds(&self, at: &ZonedDateTime) -> bool {
        self.start <= *at && *at < self.end
    }
}

/// Every window the rules derive from the calendar, earliest first. A span that cannot be
/// applied (beyond the years jiff represents) leaves the event's own bounds.
pub fn windows(calendar: &Calendar, rules: &[FreezeRule], change: &Scope) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    for rule in rules {
        for event in calendar
            .events
            .iter()
            .filter(|e| rule.events.contains(&e.kind))
        {
            let start = when::shift(&event.start, rule.before, true, event.start_is_day)
                .unwrap_or_else(|_| event.start.clone());
            let end = when::shift(&event.end, rule.after, false, event.end_is_day)
                .unwrap_or_else(|_| event.end.clone());
            let (in_scope, scope_note) = reaches(event, change, calendar);
            out.push(Window {
                record: FreezeWindow {
                    event: event.name.clone(),
                    kind: event.kind.name().to_string(),
                    event_start: event.start.to_string(),
                    event_end: event.end.to_string(),
                    rule: rule.describe(),
                    start: start.to_string(),
                    end: end.to_string(),
                    in_scope,
                    scope_note,
                },
                start,
                end,
            });
        }
    }
    out.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(a.record.event.cmp(&b.record.event))
    });
    out
}

/// Whether an event's scope reaches a change's, and why. Empty scopes are every store. A
/// store of one side with no region in the calendar's `[stores]` cannot be placed against
/// the other side's regions: it is taken as reached (a freeze is never skipped on a guess).
fn reaches(event: &Event, change: &Scope, calendar: &Calendar) -> (bool, String) {
    let e = &event.scope;
    if e.stores.is_empty() && e.regions.is_empty() {
        return (true, "the event covers every store".into());
    }
    if change.stores.is_empty() && change.regions.is_empty() {
        return (true, "the change reaches every store".into());
    }
    if let Some(s) = change.stores.iter().find(|s| e.stores.contains(s)) {
        return (true, format!("store {s} is in both"));
    }
    let region_of = |s: &String| calendar.regions_of.get(s).cloned();
    let change_regions: Vec<String> = change
        .regions
        .iter()
        .cloned()
        .chain(change.stores.iter().filter_map(region_of))
        .collect();
    let event_regions: Vec<String> = e
        .regions
        .iter()
        .cloned()
        .chain(e.stores.iter().filter_map(region_of))
        .collect();
    if let Some(r) = change_regions.iter().find(|r| event_regions.contains(r)) {
        return (true, format!("region {r} is in both"));
    }
    let unplaced: Vec<&String> = change
        .stores
        .iter()
        .chain(&e.stores)
        .filter(|s| !calendar.regions_of.contains_key(*s))
        .collect();
    // A store without a region only matters against regions on the other side.
    let other_has_regions = !e.regions.is_empty() || !change.regions.is_empty();
    if !unplaced.is_empty() && other_has_regions {
        let names: Vec<&str> = unplaced.iter().map(|s| s.as_str()).collect();
        return (
            true,
            format!(
                "store {} has no region in the calendar's [stores]: taken as reached",
                names.join(", ")
            ),
        );
    }
    // A change region the calendar never names (a typo, another case: `FR` for `fr`) cannot
    // be placed either.
    let known = |r: &String| {
        calendar.regions_of.values().any(|v| v == r)
            || calendar
                .events
                .iter()
                .any(|ev| ev.scope.regions.contains(r))
    };
    let unknown: Vec<&str> = change
        .regions
        .iter()
        .filter(|r| !known(r))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return (
            true,
            format!(
                "region {} is named nowhere in the calendar: taken as reached",
                unknown.join(", ")
            ),
        );
    }
    (
        false,
        format!(
            "the event's {} and the change's {} do not meet",
            describe(e),
            describe(change)
        ),
    )
}

fn describe(scope: &Scope) -> String {
    let mut parts = Vec::new();
    if !scope.stores.is_empty() {
        parts.push(format!("stores {}", scope.stores.join(", ")));
    }
    if !scope.regions.is_empty() {
        parts.push(format!("regions {}", scope.regions.join(", ")));
    }
    parts.join(" and ")
}

/// A window for people: "2026-11-20 00:00 +01:00 Europe/Paris – 2026-12-01 00:00 ...".
pub fn show(w: &Window) -> String {
    format!("{} – {}", when::show(&w.start), when::show(&w.end))
}
