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
    start: Spanned<String>,
    end: Spanned<String>,
    time_zone: Option<Spanned<String>>,
    #[serde(default)]
    stores: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
}

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
            let start = when::event_time(e.start.get_ref(), &zone, false)
                .map_err(|m| source.at(&e.start, m))?;
            let end =
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
            events.push(Event {
                name: e.name.into_inner(),
                kind: e.kind,
                start,
                end,
                scope: Scope {
                    stores: e.stores,
                    regions: e.regions,
                },
            });
        }
        Ok(Calendar {
            events,
            regions_of: file.stores,
            source,
        })
    }
}
