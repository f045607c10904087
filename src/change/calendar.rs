//! `calendar.toml`: the retail calendar (promotions, month-end closes, inventory counts, peak
//! season), each event in its time zone and scope, and which region each store is in.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::ZonedDateTime;
use serde::Deserialize;
use toml::Spanned;

use super::policy::EventKind;
use super::{TomlFile, when};
use crate::config::ConfigError;
use crate::result::change_record::Scope;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarFile {
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    stores: BTreeMap<String, String>,
    #[serde(default, rename = "event")]
    events: Vec<EventFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFile {
    name: Spanned<String>,
    kind: EventKind,
    #[serde(deserialize_with = "when::text")]
    start: Spanned<String>,
    #[serde(deserialize_with = "when::text")]
    end: Spanned<String>,
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    stores: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
    /// The event recurs this long after each start (`1 month`, `1 week`), ...
    repeat: Option<Spanned<String>>,
    /// ... up to this date (included): the last day an occurrence may start.
    #[serde(default, deserialize_with = "when::text_opt")]
    until: Option<Spanned<String>>,
}

/// Most occurrences one repeating event may have: a weekly event for 20 years.
const MAX_OCCURRENCES: i64 = 1040;

/// The calendar, checked.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub events: Vec<Event>,
    /// Store → its region (`[stores]`), to relate a store-scoped change to a region-scoped
    /// event and the other way round.
    pub regions_of: BTreeMap<String, String>,
    pub source: TomlFile,
}

/// One event.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub kind: EventKind,
    /// From `start` (included) to `end` (excluded), in the event's zone.
    pub start: ZonedDateTime,
    pub end: ZonedDateTime,
    /// Whether `start` and `end` were written as dates: day boundaries, which stay day
    /// boundaries when a freeze rule or a repeat moves them ([`when::shift`]).
    pub start_is_day: bool,
    pub end_is_day: bool,
    /// Empty lists: every store.
    pub scope: Scope,
}

impl Calendar {
    pub fn load(path: &Path) -> Result<Calendar, ConfigError> {
        Calendar::parse(TomlFile::read(path)?)
    }

    /// Parses a file already read (tests give text of their own).
    pub fn parse(source: TomlFile) -> Result<Calendar, ConfigError> {
        let file: CalendarFile = source.parse()?;
        let default_zone = file
            .time_zone
            .as_ref()
            .map(|z| when::zone(z.get_ref()).map_err(|m| source.at(z, m)))
            .transpose()?;
        let mut events = Vec::new();
        for e in file.events {
            let zone = match (&e.time_zone, &default_zone) {
                (Some(z), _) => when::zone(z.get_ref()).map_err(|m| source.at(z, m))?,
                (None, Some(z)) => z.clone(),
                (None, None) => {
                    return Err(source.at(
                        &e.name,
                        format!(
                            "event `{}` has no time_zone, and the calendar no default: add time_zone = \"Europe/Paris\" to the event or the file",
                            e.name.get_ref()
                        ),
                    ));
                }
            };
            let (start, start_is_day) = when::event_time(e.start.get_ref(), &zone, false)
                .map_err(|m| source.at(&e.start, m))?;
            let (end, end_is_day) =
                when::event_time(e.end.get_ref(), &zone, true).map_err(|m| source.at(&e.end, m))?;
            if end <= start {
                return Err(source.at(
                    &e.end,
                    format!(
                        "event `{}` ends ({}) before it starts ({})",
                        e.name.get_ref(),
                        when::show(&end),
                        when::show(&start)
                    ),
                ));
            }
            let scope = Scope {
                stores: e.stores,
                regions: e.regions,
            };
            let first = Event {
                name: e.name.get_ref().clone(),
                kind: e.kind,
                start,
                end,
                start_is_day,
                end_is_day,
                scope,
            };
            events.extend(occurrences(&source, first, &e.repeat, &e.until, &zone)?);
        }
        Ok(Calendar {
            events,
            regions_of: file.stores,
            source,
        })
    }
}

/// The occurrences of an event: itself, or with `repeat` and `until` one per period, each
/// `n × repeat` after the first in the event's zone (so a close anchored on the 31st falls on
/// each month's last day, and its clock time stays across daylight-saving changes), named
/// with its start date.
fn occurrences(
    source: &TomlFile,
    first: Event,
    repeat: &Option<Spanned<String>>,
    until: &Option<Spanned<String>>,
    zone: &jiff::tz::TimeZone,
) -> Result<Vec<Event>, ConfigError> {
    let (repeat, until) = match (repeat, until) {
        (None, None) => return Ok(vec![first]),
        (Some(r), Some(u)) => (r, u),
        (Some(r), None) => {
            return Err(source.at(
                r,
                "a repeating event needs `until`: the last date an occurrence may start",
            ));
        }
        (None, Some(u)) => {
            return Err(source.at(
                u,
                "`until` without `repeat`: say how often the event recurs",
            ));
        }
    };
    let every = when::span(repeat.get_ref()).map_err(|m| source.at(repeat, m))?;
    if every.is_zero() {
        return Err(source.at(repeat, "`repeat` is zero: say how often the event recurs"));
    }
    let (last, _) =
        when::event_time(until.get_ref(), zone, true).map_err(|m| source.at(until, m))?;
    if last <= first.start {
        return Err(source.at(
            until,
            format!(
                "`until` ({}) is not after the event's first start ({}): it would never occur",
                when::show(&last),
                when::show(&first.start)
            ),
        ));
    }
    let at_repeat = |e: jiff::Error| source.at(repeat, format!("`{}`: {e}", repeat.get_ref()));
    // A bound's clock as written: a date's is midnight, even where the zone skips it.
    let civil = |t: &ZonedDateTime, day: bool| {
        if day {
            t.date().to_datetime(jiff::civil::Time::midnight())
        } else {
            t.datetime()
        }
    };
    // Each occurrence keeps the event's length in calendar units from its own start: a close
    // anchored on the 30th still lasts its day in February, where the 30th clamps to the 28th.
    let length = civil(&first.start, first.start_is_day)
        .until((jiff::Unit::Day, civil(&first.end, first.end_is_day)))
        .map_err(|e| source.at(repeat, format!("the event's length: {e}")))?;
    let mut out = Vec::new();
    for n in 0..=MAX_OCCURRENCES {
        let by = every.checked_mul(n).map_err(at_repeat)?;
        let s = when::shift(&first.start, by, false, first.start_is_day).map_err(at_repeat)?;
        if s >= last {
            return Ok(out);
        }
        let e = if first.end_is_day {
            civil(&s, first.start_is_day)
                .checked_add(length)
                .and_then(|end| end.date().to_zoned_datetime(zone.clone()))
                .and_then(|end| end.start_of_day())
        } else {
            s.checked_add(length)
        }
        .map_err(at_repeat)?;
        out.push(Event {
            name: format!("{} ({})", first.name, s.date()),
            start: s,
            end: e,
            ..first.clone()
        });
    }
    Err(source.at(
        until,
        format!("more than {MAX_OCCURRENCES} occurrences: bring `until` closer"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(text: &str) -> Result<Calendar, String> {
        Calendar::parse(TomlFile {
            path: "calendar.toml".into(),
            text: text.into(),
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_monthly_close_anchored_on_the_31st_falls_on_each_months_last_day_at_its_clock_time() {
        let c = calendar(
            "time_zone = \"Europe/Paris\"\n[[event]]\nname = \"Month-end close\"\nkind = \"month_end_close\"\nstart = \"2026-10-31T18:00\"\nend = \"2026-11-02T12:00\"\nrepeat = \"1 month\"\nuntil = \"2027-03-31\"\n",
        )
        .unwrap();
        let starts: Vec<String> = c.events.iter().map(|e| e.start.to_string()).collect();
        assert_eq!(
            starts,
            vec![
                "2026-10-31T18:00:00+01:00[Europe/Paris]",
                "2026-11-30T18:00:00+01:00[Europe/Paris]",
                "2026-12-31T18:00:00+01:00[Europe/Paris]",
                "2027-01-31T18:00:00+01:00[Europe/Paris]",
                "2027-02-28T18:00:00+01:00[Europe/Paris]",
                // After the clocks went forward on 28 March: still 18:00.
                "2027-03-31T18:00:00+02:00[Europe/Paris]",
            ]
        );
        assert_eq!(c.events[1].name, "Month-end close (2026-11-30)");
        assert_eq!(
            c.events[1].end.to_string(),
            "2026-12-02T12:00:00+01:00[Europe/Paris]"
        );
    }

    #[test]
    fn a_monthly_event_anchored_on_the_30th_keeps_its_length_in_february() {
        let c = calendar(
            "time_zone = \"Europe/Paris\"\n[[event]]\nname = \"Close\"\nkind = \"month_end_close\"\nstart = \"2027-01-30\"\nend = \"2027-01-30\"\nrepeat = \"1 month\"\nuntil = \"2027-04-30\"\n",
        )
        .unwrap();
        let spans: Vec<(String, String)> = c
            .events
            .iter()
            .map(|e| (e.start.to_string(), e.end.to_string()))
            .collect();
        // A whole day each time: February's clamps to the 28th and still lasts until the 1st.
        assert_eq!(
            spans[1],
            (
                "2027-02-28T00:00:00+01:00[Europe/Paris]".to_string(),
                "2027-03-01T00:00:00+01:00[Europe/Paris]".to_string()
            )
        );
        assert!(c.events.iter().all(|e| e.end > e.start), "{spans:?}");
    }

    #[test]
    fn an_until_before_the_first_start_is_an_error_not_an_event_that_never_occurs() {
        let e = calendar(
            "time_zone = \"UTC\"\n[[event]]\nname = \"r\"\nkind = \"promotion\"\nstart = \"2026-05-01\"\nend = \"2026-05-01\"\nrepeat = \"1 week\"\nuntil = \"2026-01-31\"\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("calendar.toml:8:9: `until`") && e.contains("would never occur"),
            "{e}"
        );
    }

    #[test]
    fn repeat_and_until_come_together_and_repeat_is_never_zero() {
        let head = "time_zone = \"UTC\"\n[[event]]\nname = \"x\"\nkind = \"inventory_count\"\nstart = \"2026-01-05\"\nend = \"2026-01-05\"\n";
        let e = calendar(&format!("{head}repeat = \"1 week\"\n")).unwrap_err();
        assert!(
            e.starts_with("calendar.toml:7:10: a repeating event needs `until`"),
            "{e}"
        );
        let e = calendar(&format!("{head}until = \"2026-12-31\"\n")).unwrap_err();
        assert!(
            e.starts_with("calendar.toml:7:9: `until` without `repeat`"),
            "{e}"
        );
        let e = calendar(&format!("{head}repeat = \"0d\"\nuntil = \"2026-12-31\"\n")).unwrap_err();
        assert!(e.starts_with("calendar.toml:7:10: `repeat` is zero"), "{e}");
        let weekly = calendar(&format!(
            "{head}repeat = \"1 week\"\nuntil = \"2026-12-31\"\n"
        ))
        .unwrap();
        assert_eq!(weekly.events.len(), 52);
    }
}
