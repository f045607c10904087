//! `policy.toml`: change type → risk class, and per class the evidence a change needs (the
//! profiles that must pass, the headroom, a baseline comparison, pre-flight checks, a
//! rollback plan) and its freeze rules around calendar events.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Span;
use serde::Deserialize;
use toml::Spanned;

use super::{TomlFile, when};
use crate::config::ConfigError;
use crate::result::change_record::RiskClass;

/// The kinds of calendar event a freeze rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Promotion,
    MonthEndClose,
    InventoryCount,
    PeakSeason,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Promotion => "promotion",
            EventKind::MonthEndClose => "month_end_close",
            EventKind::InventoryCount => "inventory_count",
            EventKind::PeakSeason => "peak_season",
        }
    }
}

/// A pre-flight check a class can require, by its name in the policy. Each is a check of the
/// change's verdict, run against the real systems ([`super::preflight`]); one that could not
/// look fails, never passes in silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preflight {
    /// PostgreSQL WAL archiving on, recent and without failures (`pg_stat_archiver`).
    PgArchiving,
    /// The last full backup is recent enough (a pgBackRest or WAL-G status file).
    BackupFreshness,
    /// Replicas are within the allowed lag.
    ReplicationLag,
    /// PostgreSQL has connections to spare.
    ConnectionHeadroom,
    /// The deployment's configuration (odoo.conf, Kubernetes, ingress) against the measured
    /// capacity.
    ConfigReview,
}

impl Preflight {
    pub fn name(self) -> &'static str {
        match self {
            Preflight::PgArchiving => "pg_archiving",
            Preflight::BackupFreshness => "backup_freshness",
            Preflight::ReplicationLag => "replication_lag",
            Preflight::ConnectionHeadroom => "connection_headroom",
            Preflight::ConfigReview => "config_review",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    types: BTreeMap<String, Spanned<RiskClass>>,
    class: ClassesFile,
    #[serde(default)]
    preflight: super::preflight::SettingsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassesFile {
    low: Option<Spanned<ClassFile>>,
    standard: Option<Spanned<ClassFile>>,
    high: Option<Spanned<ClassFile>>,
    emergency: Option<Spanned<ClassFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassFile {
    #[serde(default)]
    profiles: Vec<String>,
    min_headroom: Option<Spanned<f64>>,
    headroom_profiles: Option<Vec<String>>,
    #[serde(default)]
    baseline_required: bool,
    #[serde(default)]
    preflight: Vec<Preflight>,
    #[serde(default)]
    rollback_plan_required: bool,
    #[serde(default)]
    freeze: Vec<FreezeFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FreezeFile {
    events: Spanned<Vec<EventKind>>,
    before: Option<Spanned<String>>,
    after: Option<Spanned<String>>,
}

/// The policy, checked.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Change type → its class.
    pub types: BTreeMap<String, RiskClass>,
    classes: BTreeMap<RiskClass, ClassPolicy>,
    /// `[preflight]`: what the pre-flight checks hold the systems to.
    pub preflight: super::preflight::Settings,
    pub source: TomlFile,
}

/// What one risk class needs.
#[derive(Debug, Clone, Default)]
pub struct ClassPolicy {
    /// Profiles (by name) of which a passing run must be given.
    pub profiles: Vec<String>,
    /// The lowest headroom (`--scale` multiplier) each of `headroom_profiles` must show.
    pub min_headroom: Option<f64>,
    /// The profiles whose headroom is judged (default: `profiles`).
    pub headroom_profiles: Vec<String>,
    /// Each required profile's run must have been compared with an accepted baseline.
    pub baseline_required: bool,
    pub preflight: Vec<Preflight>,
    pub rollback_plan_required: bool,
    pub freeze: Vec<FreezeRule>,
}

/// A change of the class may not be planned from `before` the start of an event of these
/// kinds until `after` its end.
#[derive(Debug, Clone)]
pub struct FreezeRule {
    pub events: Vec<EventKind>,
    pub before: Span,
    pub after: Span,
}

impl FreezeRule {
    /// The rule in words: "from 7d before the event until it ends".
    pub fn describe(&self) -> String {
        let from = if self.before.is_zero() {
            "from the event's start".to_string()
        } else {
            format!("from {} before the event", when::show_span(&self.before))
        };
        let until = if self.after.is_zero() {
            "until it ends".to_string()
        } else {
            format!("until {} after it ends", when::show_span(&self.after))
        };
        format!("{from} {until}")
    }
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, ConfigError> {
        Policy::parse(TomlFile::read(path)?)
    }

    /// Parses a file already read (tests give text of their own).
    pub fn parse(source: TomlFile) -> Result<Policy, ConfigError> {
        let file: PolicyFile = source.parse()?;
        let c = file.class;
        let mut classes = BTreeMap::new();
        for (class, written) in [
            (RiskClass::Low, c.low),
            (RiskClass::Standard, c.standard),
            (RiskClass::High, c.high),
            (RiskClass::Emergency, c.emergency),
        ] {
            if let Some(written) = written {
                classes.insert(class, check_class(&source, written)?);
            }
        }
        let mut types = BTreeMap::new();
        for (name, class) in file.types {
            if !classes.contains_key(class.get_ref()) {
                return Err(source.at(
                    &class,
                    format!(
                        "`{name}` maps to class {}, which has no [class.{}] section",
                        class.get_ref(),
                        class.get_ref()
                    ),
                ));
            }
            types.insert(name, class.into_inner());
        }
        let preflight = super::preflight::Settings::check(&source, file.preflight)?;
        Ok(Policy {
            types,
            classes,
            preflight,
            source,
        })
    }

    /// What a class needs; `None` when the policy has no section for it (a class no type
    /// maps to).
    pub fn class(&self, class: RiskClass) -> Option<&ClassPolicy> {
        self.classes.get(&class)
    }
}

fn check_class(source: &TomlFile, written: Spanned<ClassFile>) -> Result<ClassPolicy, ConfigError> {
    let w = written.into_inner();
    if let Some(h) = &w.min_headroom
        && !(h.get_ref().is_finite() && *h.get_ref() > 0.0)
    {
        return Err(source.at(
            h,
            "`min_headroom` is a --scale multiplier above 0 (e.g. 1.5)",
        ));
    }
    let mut freeze = Vec::new();
    for f in w.freeze {
        if f.events.get_ref().is_empty() {
            return Err(source.at(
                &f.events,
                "`events` is empty: name the event kinds (promotion, month_end_close, inventory_count, peak_season)",
            ));
        }
        let span = |v: &Option<Spanned<String>>| match v {
            Some(v) => when::span(v.get_ref()).map_err(|m| source.at(v, m)),
            None => Ok(Span::new()),
        };
        let (before, after) = (span(&f.before)?, span(&f.after)?);
        freeze.push(FreezeRule {
            events: f.events.into_inner(),
            before,
            after,
        });
    }
    Ok(ClassPolicy {
        headroom_profiles: w.headroom_profiles.unwrap_or_else(|| w.profiles.clone()),
        profiles: w.profiles,
        min_headroom: w.min_headroom.map(Spanned::into_inner),
        baseline_required: w.baseline_required,
        preflight: w.preflight,
        rollback_plan_required: w.rollback_plan_required,
        freeze,
    })
}
