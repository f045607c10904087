//! `change.toml`: one change to production, versioned beside the release it deploys.

use std::ops::Range;
use std::path::Path;

use jiff::ZonedDateTime;
use serde::Deserialize;
use toml::Spanned;

use super::{Policy, TomlFile, when};
use crate::config::ConfigError;
use crate::result::change_record::{Scope, TypedChange};

/// `change.toml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeFile {
    release: Spanned<String>,
    types: Spanned<Vec<Spanned<String>>>,
    #[serde(deserialize_with = "when::text")]
    planned: Spanned<String>,
    time_zone: Option<Spanned<String>>,
    rollback: Option<Spanned<String>>,
    #[serde(default)]
    scope: ScopeFile,
}

/// `[scope]`: the stores and regions a change touches.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeFile {
    #[serde(default)]
    pub stores: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
}

/// A change, checked.
#[derive(Debug, Clone)]
pub struct Change {
    /// The release it deploys; the runs given as evidence must have tested it.
    pub release: String,
    /// Change types as written, each with its place in the file (to locate an unknown one).
    pub types: Vec<(String, Range<usize>)>,
    /// When it is planned, in its own zone.
    pub planned: ZonedDateTime,
    /// The rollback plan, trimmed; `None` when absent or blank.
    pub rollback: Option<String>,
    /// Empty lists: every store.
    pub scope: Scope,
    pub source: TomlFile,
}

impl Change {
    pub fn load(path: &Path) -> Result<Change, ConfigError> {
        Change::parse(TomlFile::read(path)?)
    }

    /// Parses a file already read (tests give text of their own).
    pub fn parse(source: TomlFile) -> Result<Change, ConfigError> {
        let file: ChangeFile = source.parse()?;
        if file.release.get_ref().trim().is_empty() {
            return Err(source.at(
                &file.release,
                "`release` is empty: name the release deployed",
            ));
        }
        if file.types.get_ref().is_empty() {
            return Err(source.at(
                &file.types,
                "`types` is empty: list the change's types (e.g. [\"module_upgrade\"])",
            ));
        }
        let zone = file
            .time_zone
            .as_ref()
            .map(|z| when::zone(z.get_ref()).map_err(|m| source.at(z, m)))
            .transpose()?;
        let planned = when::planned(file.planned.get_ref(), zone.as_ref())
            .map_err(|m| source.at(&file.planned, m))?;
        Ok(Change {
            release: file.release.into_inner().trim().to_string(),
            types: file
                .types
                .into_inner()
                .into_iter()
                .map(|t| {
                    let span = t.span();
                    (t.into_inner(), span)
                })
                .collect(),
            planned,
            rollback: file
                .rollback
                .map(|r| r.into_inner().trim().to_string())
                .filter(|r| !r.is_empty()),
            scope: Scope {
                stores: file.scope.stores,
                regions: file.scope.regions,
            },
            source,
        })
    }

    /// Each type with its class; a type the policy does not map is an error at its place,
    /// with the nearest types the policy knows.
    pub fn classify(&self, policy: &Policy) -> Result<Vec<TypedChange>, ConfigError> {
        self.types
            .iter()
            .map(|(kind, span)| match policy.types.get(kind) {
                Some(class) => Ok(TypedChange {
                    kind: kind.clone(),
                    class: *class,
                }),
                None => {
                    let known: Vec<&str> = policy.types.keys().map(String::as_str).collect();
                    Err(self.source.at_span(
                        span.clone(),
                        format!(
                            "unknown change type `{kind}`: the policy ({}) has no such type; the nearest are {}",
                            policy.source.path.display(),
                            crate::plan::nearest(kind, &known)
                        ),
                    ))
                }
            })
            .collect()
    }
}
