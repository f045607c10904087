//! change: the change gate. A change (`change.toml`: release, change types, planned time,
//! rollback plan, scope), the policy it is judged by (`policy.toml`: change type → risk class,
//! and per class the evidence it needs and its freeze rules) and the retail calendar
//! (`calendar.toml`: promotions, month-end closes, inventory counts, peak season) are parsed
//! and cross-checked here into [`Inputs`] (input mistakes are located errors, exit 2); the
//! stored runs given as evidence are read into [`evidence::RunEvidence`]; [`judge::judge`]
//! turns both, purely, into a [`crate::result::change_record::ChangeRecord`]; the record's
//! writers put it on disk. Data flows one way: files → inputs → record → writers.
//!
//! Pre-flight checks against the real systems and the configuration review are policy
//! `preflight` names ([`policy::Preflight`]); [`preflight`] reads the systems and judges them
//! into checks that the judgement takes beside the others.

pub mod backup;
pub mod calendar;
pub mod change_file;
pub mod config_review;
pub mod deployment;
pub mod evidence;
pub mod freeze;
pub mod judge;
pub mod markdown;
pub mod policy;
pub mod postgres;
pub mod preflight;
pub mod provenance;
pub mod when;

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;

use crate::config::ConfigError;
use crate::result::change_record::{RiskClass, TypedChange};

pub use calendar::Calendar;
pub use change_file::Change;
pub use policy::{ClassPolicy, Policy};

/// A TOML file read whole: its text stays for located errors (file:line:col).
#[derive(Debug, Clone)]
pub struct TomlFile {
    pub path: PathBuf,
    pub text: String,
}

impl TomlFile {
    pub fn read(path: &Path) -> Result<TomlFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(TomlFile {
            path: path.to_path_buf(),
            text,
        })
    }

    /// The file's shape (serde, `deny_unknown_fields`); shape errors are located.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(&self.text).map_err(|e| ConfigError::toml(&self.path, &self.text, &e))
    }

    /// A located error at a spanned value.
    pub fn at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.at_span(value.span(), message)
    }

    pub fn at_span(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.path, &self.text, span.start, message)
    }
}

/// The three files, parsed and checked against each other: what the judgement starts from.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub change: Change,
    pub policy: Policy,
    /// Absent when the change's class has no freeze rules and no `--calendar` was given.
    pub calendar: Option<Calendar>,
    /// Each change type with its class, in change.toml's order.
    pub types: Vec<TypedChange>,
    /// The highest of them.
    pub class: RiskClass,
    /// What that class needs.
    pub rules: ClassPolicy,
    /// The instant the change is judged at: when the files were read, unless the caller
    /// sets another (`gate --as-of`).
    pub judged_at: jiff::Timestamp,
}

impl Inputs {
    /// Reads and cross-checks the files. A change type the policy does not know is an error
    /// at its place in change.toml (with the nearest known types); a class whose policy has
    /// freeze rules needs the calendar.
    pub fn load(
        change: &Path,
        policy: &Path,
        calendar: Option<&Path>,
    ) -> Result<Inputs, ConfigError> {
        let calendar = calendar.map(TomlFile::read).transpose()?;
        Inputs::parse(TomlFile::read(change)?, TomlFile::read(policy)?, calendar)
    }

    /// Like [`Inputs::load`], on files already read.
    pub fn parse(
        change: TomlFile,
        policy: TomlFile,
        calendar: Option<TomlFile>,
    ) -> Result<Inputs, ConfigError> {
        let policy = Policy::parse(policy)?;
        let change = Change::parse(change)?;
        let calendar = calendar.map(Calendar::parse).transpose()?;
        let types = change.classify(&policy)?;
        let class = types
            .iter()
            .map(|t| t.class)
            .max()
            .unwrap_or(RiskClass::Low);
        // The emergency class passes a freeze on less evidence: a type of a lower class riding
        // along would deploy on the emergency's evidence instead of its own.
        if class == RiskClass::Emergency {
            let riders: Vec<String> = types
                .iter()
                .filter(|t| t.class != RiskClass::Emergency)
                .map(|t| format!("{} ({})", t.kind, t.class))
                .collect();
            if !riders.is_empty() {
                return Err(ConfigError::key(
                    &change.source.path,
                    "types",
                    format!(
                        "an emergency change deploys its emergency types only; {} would skip their own class's evidence: make them a change of their own",
                        riders.join(", ")
                    ),
                ));
            }
        }
        // Every type's class has a section (checked by the policy's load).
        let rules = policy.class(class).cloned().ok_or_else(|| {
            ConfigError::key(
                &policy.source.path,
                format!("class.{class}"),
                "missing: the change's class needs its section",
            )
        })?;
        if calendar.is_none() && !rules.freeze.is_empty() {
            return Err(ConfigError::Flag {
                flag: "--calendar".into(),
                message: format!(
                    "the policy ({}) freezes {class} changes around calendar events: give the calendar with --calendar FILE",
                    policy.source.path.display()
                ),
            });
        }
        Ok(Inputs {
            change,
            policy,
            calendar,
            types,
            class,
            rules,
            judged_at: jiff::Timestamp::now(),
        })
    }
}

/// The record's files in its folder.
pub const RECORD_JSON: &str = "change-record.json";
pub const RECORD_MD: &str = "change-record.md";

/// Writes `change-record.json` and `change-record.md` into `dir`, each atomically.
pub fn write_record(
    dir: &Path,
    record: &crate::result::change_record::ChangeRecord,
) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(record)?;
    json.push(b'\n');
    crate::result::write_atomic(&dir.join(RECORD_JSON), &json)?;
    let mut md = Vec::new();
    markdown::write(record, &mut md)?;
    crate::result::write_atomic(&dir.join(RECORD_MD), &md)
}

#[cfg(test)]
mod tests;
