//! A business calendar planned into stages: a day of demand per slot, named events that
//! multiply it (and may change the mix), compressed so a trading day runs in minutes.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::config::profile::{
    CalendarFile, CompressKeep, ModelKind, ProfileSource, parse_duration,
};

const DAY_S: f64 = 86_400.0;

/// A named event placed on the run's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedEvent {
    pub name: String,
    /// Clock time in the real day, `HH:MM`.
    pub clock: String,
    /// Seconds from the run's start.
    pub start_s: f64,
    /// Length in the run, seconds.
    pub duration_s: f64,
    pub factor: f64,
}

/// One stage the calendar produces: name, duration, level, and the mix if an event sets one.
pub struct CalendarStage {
    pub name: String,
    pub duration: Duration,
    pub level: f64,
    pub mix: Option<BTreeMap<String, f64>>,
}

/// The calendar's stages and events.
pub struct CalendarPlan {
    pub stages: Vec<CalendarStage>,
    pub events: Vec<PlannedEvent>,
    /// Test seconds per real second.
    pub ratio: f64,
}

/// Minutes after midnight of `HH:MM`.
fn clock_minutes(s: &str) -> Option<f64> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(f64::from(h * 60 + m))
}

fn clock(minutes: f64) -> String {
    let m = (minutes.rem_euclid(1440.0)).round() as u32;
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// Plans a calendar into stages.
pub fn plan(
    src: &ProfileSource,
    cal: &CalendarFile,
    model: ModelKind,
) -> Result<CalendarPlan, ConfigError> {
    let slot = parse_duration(src, &cal.slot)?.as_secs_f64();
    if slot <= 0.0 {
        return Err(src.error_at(&cal.slot, "`slot` must be longer than zero"));
    }
    let start = clock_minutes(cal.start.get_ref())
        .ok_or_else(|| src.error_at(&cal.start, "`start` must be a clock time HH:MM"))?;
    let (real, test) =
        cal.compress.get_ref().split_once("->").ok_or_else(|| {
            src.error_at(&cal.compress, "`compress` must read like \"24h -> 20m\"")
        })?;
    let parse = |s: &str| {
        humantime::parse_duration(s.trim())
            .map_err(|e| src.error_at(&cal.compress, format!("`{}`: {e}", s.trim())))
    };
    let (real, test) = (parse(real)?.as_secs_f64(), parse(test)?.as_secs_f64());
    if real <= 0.0 || test <= 0.0 {
        return Err(src.error_at(
            &cal.compress,
            "both sides of `compress` must be longer than zero",
        ));
    }
    let ratio = test / real;
    let demand = cal.demand.get_ref();
    if demand.is_empty() || demand.iter().any(|d| !d.is_finite() || *d < 0.0) {
        return Err(src.error_at(&cal.demand, "`demand` needs one number ≥ 0 per slot"));
    }
    let day = slot * demand.len() as f64;
    if day > DAY_S + 1e-6 {
        return Err(src.error_at(
            &cal.demand,
            format!("{} slots of {slot} s cover more than a day", demand.len()),
        ));
    }
    // Events as windows of real seconds from the calendar's start.
    let mut windows = Vec::new();
    for e in &cal.events {
        let at = clock_minutes(e.at.get_ref())
            .ok_or_else(|| src.error_at(&e.at, "`at` must be a clock time HH:MM"))?;
        let from = (at - start).rem_euclid(1440.0) * 60.0;
        let length = parse_duration(src, &e.duration)?.as_secs_f64();
        if from >= day {
            return Err(src.error_at(
                &e.at,
                format!(
                    "event `{}` at {} falls outside the calendar's day",
                    e.name,
                    e.at.get_ref()
                ),
            ));
        }
        if !(e.factor.is_finite() && e.factor >= 0.0) {
            return Err(src.error_at(&e.at, format!("event `{}`: `factor` must be ≥ 0", e.name)));
        }
        windows.push((from, (from + length).min(day), e));
    }
    let mut cuts: Vec<f64> = (0..=demand.len()).map(|i| i as f64 * slot).collect();
    cuts.extend(windows.iter().flat_map(|(a, b, _)| [*a, *b]));
    cuts.sort_by(f64::total_cmp);
    cuts.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
    let mut stages = Vec::new();
    for pair in cuts.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let i = ((a / slot).floor() as usize).min(demand.len() - 1);
        let active: Vec<_> = windows
            .iter()
            .filter(|(f, t, _)| a >= *f && a < *t)
            .map(|(_, _, e)| *e)
            .collect();
        let factor: f64 = active.iter().map(|e| e.factor).product();
        let level = match model {
            ModelKind::Open => {
                let per_s = demand[i] * factor / 3600.0;
                match cal.keep {
                    CompressKeep::Rate => per_s,
                    CompressKeep::Journeys => per_s / ratio,
                }
            }
            ModelKind::Closed => demand[i] * factor,
        };
        let name = match active.last() {
            Some(e) => format!("{} {}", clock(start + a / 60.0), e.name),
            None => clock(start + a / 60.0),
        };
        stages.push(CalendarStage {
            name,
            duration: Duration::from_secs_f64((b - a) * ratio),
            level,
            mix: active
                .iter()
                .rev()
                .find_map(|e| e.mix.as_ref().map(|m| m.get_ref().clone())),
        });
    }
    let events = windows
        .iter()
        .map(|(a, b, e)| PlannedEvent {
            name: e.name.clone(),
            clock: clock(start + a / 60.0),
            start_s: a * ratio,
            duration_s: (b - a) * ratio,
            factor: e.factor,
        })
        .collect();
    Ok(CalendarPlan {
        stages,
        events,
        ratio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_parse_and_wrap() {
        assert_eq!(clock_minutes("08:30"), Some(510.0));
        assert_eq!(clock_minutes("24:00"), None);
        assert_eq!(clock(1440.0 + 75.0), "01:15");
    }
}
