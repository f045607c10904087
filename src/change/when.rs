//! Times, zones and spans in the change files, read with jiff (RFC 9557 / ISO 8601 and the
//! IANA time zone database): a clock time that a daylight-saving change skips or repeats is
//! refused with the reason, never guessed.

use jiff::civil::DateTime;
use jiff::fmt::temporal::Pieces;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Span, ZonedDateTime};

/// An IANA time zone by name (`Europe/Paris`).
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is no IANA time zone (e.g. Europe/Paris, America/New_York, UTC)")
    })
}

/// The planned time of a change: `2026-12-14T22:00` in `zone`, or with its offset
/// (`2026-12-14T22:00+01:00`, `...Z`), or with offset and zone
/// (`2026-12-14T22:00+01:00[Europe/Paris]`). An offset that is not the zone's at that time
/// is refused, as is a clock time a daylight-saving change skips or repeats.
pub fn planned(text: &str, zone: Option<&TimeZone>) -> Result<ZonedDateTime, String> {
    let pieces = Pieces::parse(text).map_err(|e| {
        format!(
            "`{text}` is not a date and time ({e}); write e.g. \"2026-12-14T22:00\" with time_zone, or \"2026-12-14T22:00+01:00\""
        )
    })?;
    let Some(time) = pieces.time() else {
        return Err(format!(
            "`{text}` has no clock time: write the time of the deployment, e.g. \"{text}T22:00\""
        ));
    };
    let dt = pieces.date().to_datetime(time);
    let annotated = pieces
        .to_time_zone()
        .map_err(|e| format!("`{text}`: {e}"))?;
    let offset = pieces.to_numeric_offset();
    match (annotated, offset, zone) {
        (Some(_), _, Some(_)) => Err(format!(
            "`{text}` names its zone and `time_zone` is set too: give the zone once"
        )),
        (Some(tz), None, None) => strict(dt, &tz),
        (Some(tz), Some(offset), None) => match strict(dt, &tz) {
            // The zone's own offset at that clock time is not the one written.
            Ok(at) if at.offset() != offset => Err(format!(
                "`{text}`: {offset} is not the offset of {} at that time ({}); leave the offset out or correct it",
                zone_name(&tz),
                at.offset()
            )),
            // A repeated hour is told apart by its offset.
            _ => text
                .parse::<ZonedDateTime>()
                .map_err(|e| format!("`{text}`: {e}")),
        },
        (None, Some(offset), Some(tz)) => {
            let at = offset
                .to_timestamp(dt)
                .map_err(|e| format!("`{text}`: {e}"))?
                .to_zoned_datetime(tz.clone());
            if at.offset() != offset {
                return Err(format!(
                    "`{text}`: {offset} is not the offset of {} at that time ({}); leave the offset out or correct it",
                    zone_name(tz),
                    at.offset()
                ));
            }
            Ok(at)
        }
        (None, Some(offset), None) => Ok(offset
            .to_timestamp(dt)
            .map_err(|e| format!("`{text}`: {e}"))?
            .to_zoned_datetime(TimeZone::fixed(offset))),
        (None, None, Some(tz)) => strict(dt, tz),
        (None, None, None) => Err(format!(
            "`{text}` has no offset and change.toml no `time_zone`: add time_zone = \"Europe/Paris\" (the zone the time is in) or an offset (\"{text}+01:00\")"
        )),
    }
}

/// A time field as written: a string, or a bare TOML date or date-time
/// (`planned = 2026-12-14T22:00:00`), taken as its text; anything else is refused with what
/// to write. Use with `#[serde(deserialize_with = "when::text")]`.
pub fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<toml::Spanned<String>, D::Error> {
    use serde::Deserialize;
    let v = toml::Spanned::<Written>::deserialize(d)?;
    let span = v.span();
    Ok(toml::Spanned::new(span, v.into_inner().0))
}

/// [`text`] for an optional field (with `#[serde(default)]`).
pub fn text_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<toml::Spanned<String>>, D::Error> {
    text(d).map(Some)
}

/// The text of a time field, from a string or a TOML date-time.
struct Written(String);

impl<'de> serde::Deserialize<'de> for Written {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Written;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a date and time as a string, e.g. \"2026-12-14T22:00\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Written, E> {
                Ok(Written(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Written, A::Error> {
                use serde::Deserialize;
                let at = toml::value::Datetime::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(Written(at.to_string()))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A calendar event's start or end, and whether it was written as a date (a day boundary):
/// a date (`2026-11-27`: midnight, or for an `end` the midnight after it, so the date is
/// included) or a clock time (`2026-11-27T09:00`), in `tz`.
pub fn event_time(
    text: &str,
    tz: &TimeZone,
    is_end: bool,
) -> Result<(ZonedDateTime, bool), String> {
    let pieces = Pieces::parse(text).map_err(|e| {
        format!("`{text}` is not a date or a date and time ({e}); write e.g. \"2026-11-27\" or \"2026-11-27T09:00\"")
    })?;
    if pieces.offset().is_some() || pieces.time_zone_annotation().is_some() {
        return Err(format!(
            "`{text}`: calendar times are clock times in the event's time_zone; leave the offset and zone out"
        ));
    }
    match pieces.time() {
        Some(time) => strict(pieces.date().to_datetime(time), tz).map(|at| (at, false)),
        None => {
            let date = if is_end {
                pieces
                    .date()
                    .tomorrow()
                    .map_err(|e| format!("`{text}`: {e}"))?
            } else {
                pieces.date()
            };
            // Midnight, or the first moment of the day where a daylight-saving change skips
            // midnight.
            date.to_zoned_datetime(tz.clone())
                .and_then(|z| z.start_of_day())
                .map(|at| (at, true))
                .map_err(|e| format!("`{text}`: {e}"))
        }
    }
}

/// `at` moved by `by`, forwards or back: the calendar units (years to days) on the zone's
/// civil clock, then the clock units exactly. A day boundary (`day`) stays a day boundary,
/// also on a day whose midnight a daylight-saving change skips (America/Santiago's first
/// Sunday of September starts at 01:00): "7 days before" such a day is the midnight 7 days
/// earlier, not 01:00.
pub fn shift(
    at: &ZonedDateTime,
    by: Span,
    back: bool,
    day: bool,
) -> Result<ZonedDateTime, jiff::Error> {
    let calendar = Span::new()
        .years(by.get_years())
        .months(by.get_months())
        .weeks(by.get_weeks())
        .days(by.get_days());
    let clock = Span::new()
        .hours(by.get_hours())
        .minutes(by.get_minutes())
        .seconds(by.get_seconds())
        .milliseconds(by.get_milliseconds())
        .microseconds(by.get_microseconds())
        .nanoseconds(by.get_nanoseconds());
    let (calendar, clock) = if back {
        (calendar.negate(), clock.negate())
    } else {
        (calendar, clock)
    };
    let mut moved = at.checked_add(calendar)?;
    if day {
        moved = moved.start_of_day()?;
    }
    moved.checked_add(clock)
}

/// A span before or after an event: `7d`, `36h`, `2 weeks`, `P7D`. Days and weeks are
/// calendar days in the event's zone (a day across a daylight-saving change lasts 23 or 25
/// hours), so "7 days before a midnight" is a midnight.
pub fn span(text: &str) -> Result<Span, String> {
    let span: Span = text
        .trim()
        .parse()
        .map_err(|e| format!("`{text}` is not a span of time ({e}); write e.g. \"7d\", \"36h\""))?;
    if span.is_negative() {
        return Err(format!(
            "`{text}` is negative: write how long before or after the event, as a positive span"
        ));
    }
    Ok(span)
}

/// A civil time in a zone, refused when the zone skips it (spring forward) or has it twice
/// (fall back).
fn strict(dt: DateTime, tz: &TimeZone) -> Result<ZonedDateTime, String> {
    let amb = tz.to_ambiguous_zoned_datetime(dt);
    match amb.offset() {
        AmbiguousOffset::Unambiguous { .. } => amb.unambiguous().map_err(|e| e.to_string()),
        AmbiguousOffset::Gap { before, after } => Err(format!(
            "{dt} does not exist in {}: the clocks jump from {before} to {after} (daylight saving); give a time outside the gap",
            zone_name(tz)
        )),
        AmbiguousOffset::Fold { before, after } => Err(format!(
            "{dt} happens twice in {} (the clocks go back from {before} to {after}); add the offset meant: \"{dt}{before}\" or \"{dt}{after}\"",
            zone_name(tz)
        )),
    }
}

/// The zone's IANA name, or its fixed offset.
pub fn zone_name(tz: &TimeZone) -> String {
    match tz.iana_name() {
        Some(name) => name.to_string(),
        None => tz.to_offset(jiff::Timestamp::UNIX_EPOCH).to_string(),
    }
}

/// A time for people: `2026-11-20 00:00 +01:00 Europe/Paris`.
pub fn show(at: &ZonedDateTime) -> String {
    let clock = at.strftime("%Y-%m-%d %H:%M %:z").to_string();
    match at.time_zone().iana_name() {
        Some(name) => format!("{clock} {name}"),
        None => clock,
    }
}

/// A span as written in the policy, e.g. `7d`.
pub fn show_span(span: &Span) -> String {
    format!("{span:#}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> TimeZone {
        zone("Europe/Paris").unwrap()
    }

    #[test]
    fn a_clock_time_in_a_zone_takes_that_days_offset() {
        let winter = planned("2026-12-14T22:00", Some(&paris())).unwrap();
        assert_eq!(
            winter.to_string(),
            "2026-12-14T22:00:00+01:00[Europe/Paris]"
        );
        let summer = planned("2026-07-14T22:00", Some(&paris())).unwrap();
        assert_eq!(summer.timestamp().to_string(), "2026-07-14T20:00:00Z");
    }

    #[test]
    fn an_offset_alone_is_a_fixed_zone_and_with_a_zone_it_must_be_the_zones() {
        let fixed = planned("2026-12-14T22:00-05:00", None).unwrap();
        assert_eq!(fixed.timestamp().to_string(), "2026-12-15T03:00:00Z");
        let both = planned("2026-12-14T22:00+01:00", Some(&paris())).unwrap();
        assert_eq!(both.time_zone().iana_name(), Some("Europe/Paris"));
        let wrong = planned("2026-07-14T22:00+01:00", Some(&paris())).unwrap_err();
        assert!(wrong.contains("not the offset of Europe/Paris"), "{wrong}");
        let rfc9557 = planned("2026-12-14T22:00+01:00[Europe/Paris]", None).unwrap();
        assert_eq!(rfc9557, winter_paris());
        let conflict = planned("2026-12-14T22:00+02:00[Europe/Paris]", None);
        assert!(conflict.is_err());
        let twice = planned("2026-12-14T22:00[Europe/Paris]", Some(&paris())).unwrap_err();
        assert!(twice.contains("give the zone once"), "{twice}");
    }

    fn winter_paris() -> ZonedDateTime {
        planned("2026-12-14T22:00", Some(&paris())).unwrap()
    }

    #[test]
    fn a_time_the_spring_change_skips_or_the_autumn_change_repeats_is_refused() {
        // Europe/Paris 2026: 02:00 → 03:00 on 29 March, 03:00 → 02:00 on 25 October.
        let gap = planned("2026-03-29T02:30", Some(&paris())).unwrap_err();
        assert!(gap.contains("does not exist in Europe/Paris"), "{gap}");
        let fold = planned("2026-10-25T02:30", Some(&paris())).unwrap_err();
        assert!(fold.contains("happens twice"), "{fold}");
        // With the offset said, the repeated hour is either of its two instants.
        let first = planned("2026-10-25T02:30+02:00", Some(&paris())).unwrap();
        let second = planned("2026-10-25T02:30+01:00", Some(&paris())).unwrap();
        assert_eq!(
            second.timestamp().as_second() - first.timestamp().as_second(),
            3600
        );
    }

    #[test]
    fn no_zone_no_offset_no_clock_time_are_refused_with_what_to_write() {
        let e = planned("2026-12-14T22:00", None).unwrap_err();
        assert!(e.contains("time_zone"), "{e}");
        let e = planned("2026-12-14", Some(&paris())).unwrap_err();
        assert!(e.contains("no clock time"), "{e}");
        assert!(zone("Europe/Pariss").is_err());
    }

    #[test]
    fn an_end_date_includes_its_day_and_event_times_carry_no_offset() {
        let tz = paris();
        let (start, day) = event_time("2026-11-27", &tz, false).unwrap();
        assert!(day);
        let (end, _) = event_time("2026-11-30", &tz, true).unwrap();
        assert_eq!(start.to_string(), "2026-11-27T00:00:00+01:00[Europe/Paris]");
        assert_eq!(end.to_string(), "2026-12-01T00:00:00+01:00[Europe/Paris]");
        let (at, day) = event_time("2026-11-27T09:00", &tz, true).unwrap();
        assert!(!day);
        assert_eq!(at.timestamp().to_string(), "2026-11-27T08:00:00Z");
        assert!(event_time("2026-11-27T09:00+01:00", &tz, false).is_err());
    }

    #[test]
    fn days_before_a_day_whose_midnight_is_skipped_reach_that_earlier_midnight() {
        // America/Santiago 2026: clocks go from 00:00 to 01:00 on 6 September.
        let tz = zone("America/Santiago").unwrap();
        let (start, day) = event_time("2026-09-06", &tz, false).unwrap();
        assert_eq!(
            start.to_string(),
            "2026-09-06T01:00:00-03:00[America/Santiago]"
        );
        let week = shift(&start, span("7d").unwrap(), true, day).unwrap();
        assert_eq!(
            week.to_string(),
            "2026-08-30T00:00:00-04:00[America/Santiago]"
        );
        // Clock units are exact hours from the bound.
        let hours = shift(&start, span("36h").unwrap(), true, day).unwrap();
        assert_eq!(hours.timestamp().to_string(), "2026-09-04T16:00:00Z");
        // Forwards onto that day: its first moment, 01:00.
        let (before, day) = event_time("2026-08-30", &tz, false).unwrap();
        let onto = shift(&before, span("7d").unwrap(), false, day).unwrap();
        assert_eq!(onto, start);
        // A clock time keeps its clock time.
        let (at, day) = event_time("2026-08-30T09:00", &tz, false).unwrap();
        let later = shift(&at, span("1 week").unwrap(), false, day).unwrap();
        assert_eq!(
            later.to_string(),
            "2026-09-06T09:00:00-03:00[America/Santiago]"
        );
    }

    #[test]
    fn a_bare_toml_date_time_is_read_as_its_text_and_other_types_say_what_to_write() {
        #[derive(serde::Deserialize)]
        struct F {
            #[serde(deserialize_with = "text")]
            at: toml::Spanned<String>,
        }
        let f: F = toml::from_str("at = 2026-12-14T22:00:00").unwrap();
        assert_eq!(f.at.get_ref(), "2026-12-14T22:00:00");
        assert_eq!(f.at.span(), 5..24);
        let f: F = toml::from_str("at = 2026-12-14").unwrap();
        assert_eq!(f.at.get_ref(), "2026-12-14");
        let e = toml::from_str::<F>("at = 20261214")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("expected a date and time as a string"), "{e}");
    }

    #[test]
    fn an_offset_that_is_not_its_zones_names_both() {
        let e = planned("2026-12-14T22:00+02:00[Europe/Paris]", None).unwrap_err();
        assert_eq!(
            e,
            "`2026-12-14T22:00+02:00[Europe/Paris]`: +02 is not the offset of Europe/Paris at that time (+01); leave the offset out or correct it"
        );
    }

    #[test]
    fn spans_are_friendly_or_iso_and_never_negative() {
        assert_eq!(show_span(&span("7d").unwrap()), "7d");
        assert_eq!(show_span(&span("P7D").unwrap()), "7d");
        assert_eq!(show_span(&span("36 hours").unwrap()), "36h");
        assert!(span("-1d").is_err());
        assert!(span("seven days").is_err());
    }
}
