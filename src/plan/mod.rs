//! plan: the immutable description of a run, built from a profile, its scenarios and the
//! command line. The engine takes a `&Plan` and never sees a raw string or a TOML value.

pub mod annotations;
pub mod calendar;
pub mod curve;
mod describe;
pub mod gate;
pub mod generator;
pub mod guard;
pub mod probes;
pub mod scenario;
pub mod shard;
pub mod template;
pub mod tenants;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::distr::weighted::WeightedIndex;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use curve::{Curve, Stage};
pub use describe::describe;
pub use gate::Gate;
pub use probes::{ProbeKind, ProbeSpec, Selector};
pub use scenario::{Call, Scenario, Step};

use crate::config::ConfigError;
use crate::config::gate::GateSource;
use crate::config::profile::{ArrivalKind, Level, ModelKind, ProfileSource, parse_duration};
use crate::config::scenario::ScenarioSource;
use crate::target::data::DataSets;

/// Every gate selector must match a transaction of the profile: a typo must not quietly switch
/// an SLO off. The error names the nearest existing names.
fn check_selectors(
    src: &ProfileSource,
    o: &Overrides,
    gate: &Gate,
    step_names: &[String],
    scenarios: &[Arc<Scenario>],
) -> Result<(), ConfigError> {
    let names: Vec<&str> = step_names
        .iter()
        .map(String::as_str)
        .chain(scenarios.iter().map(|s| s.name.as_str()))
        .collect();
    let Some(u) = unmatched_selector(gate, &names) else {
        return Ok(());
    };
    // A `--gate FILE` replaces the profile's checks of the same selector: look there first.
    if let Some(path) = &o.gate
        && let Ok(g) = GateSource::read(path)
        && let Some(err) = u.located(&g.path, &g.text, &g.file)
    {
        return Err(err);
    }
    if let Some(f) = &src.file.gate
        && let Some(err) = u.located(&src.path, &src.text, f)
    {
        return Err(err);
    }
    Err(ConfigError::key(&src.path, u.key(), u.why))
}

/// A gate selector that matches no step or scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmatched {
    /// `latency` or `errors`.
    pub table: &'static str,
    pub selector: String,
    /// Why, with the nearest names.
    pub why: String,
}

impl Unmatched {
    /// Its key, `gate.latency."<selector>"`.
    pub fn key(&self) -> String {
        format!("gate.{}.\"{}\"", self.table, self.selector)
    }

    /// The error at the selector as written in `file` (the text of `path`), if it is there.
    pub fn located(
        &self,
        path: &Path,
        text: &str,
        file: &crate::config::gate::GateFile,
    ) -> Option<ConfigError> {
        let span = file.selector_span(self.table, &self.selector)?;
        Some(ConfigError::at(
            path,
            text,
            span.start,
            format!("{} {}", self.key(), self.why),
        ))
    }
}

/// The first latency or errors selector of `gate` that matches none of `names` (steps and
/// scenarios), with the nearest names.
pub fn unmatched_selector(gate: &Gate, names: &[&str]) -> Option<Unmatched> {
    let selectors = gate
        .latency
        .keys()
        .map(|k| ("latency", k))
        .chain(gate.errors.keys().map(|k| ("errors", k)));
    for (table, sel) in selectors {
        let Ok(matcher) = gate::Selector::new(sel) else {
            continue;
        };
        if names.iter().any(|n| matcher.matches(n)) {
            continue;
        }
        return Some(Unmatched {
            table,
            selector: sel.clone(),
            why: format!(
                "matches no step or scenario of this profile; the nearest are {}",
                nearest(sel, names)
            ),
        });
    }
    None
}

/// The three of `names` closest to `typed` (normalised Levenshtein), quoted: "`a`, `b`, `c`".
pub fn nearest(typed: &str, names: &[&str]) -> String {
    let mut near: Vec<(f64, &str)> = names
        .iter()
        .map(|n| (strsim::normalized_levenshtein(typed, n), *n))
        .collect();
    near.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    near.dedup_by(|a, b| a.1 == b.1);
    let quoted: Vec<String> = near.iter().take(3).map(|(_, n)| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// A level as a person reads it: `1e300`, not three hundred digits.
fn shown_level(x: f64) -> String {
    if x >= 1e9 {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Longest run planned: 7 days.
const MAX_DURATION_S: f64 = 7.0 * 86_400.0;
/// Shortest run planned: one timeline second.
const MIN_DURATION_S: f64 = 1.0;
/// Highest rate (journeys/s) or terminal count one process plans.
const MAX_LEVEL: f64 = 100_000.0;

/// Settings from the command line that change a profile's plan.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--target URL`: drive this Odoo instead of the profile's target.
    pub target: Option<String>,
    /// `--release LABEL`: the release under test.
    pub release: Option<String>,
    /// `--standin-release VARIANT`: the built-in stand-in's behaviour, over `[standin] release`.
    pub standin_release: Option<String>,
    /// `--duration D`: stretch or cut the stages to last D.
    pub duration: Option<Duration>,
    /// `--rate-scale X`: multiply every rate (or terminal count).
    pub rate_scale: Option<f64>,
    /// `--seed N`: the arrival and data seed.
    pub seed: Option<u64>,
    /// `--allow-production`: accept an environment that is not pre-production.
    pub allow_production: bool,
    /// `--gate FILE`: a `[gate]` merged over the profile's.
    pub gate: Option<PathBuf>,
    /// `--database NAME`: the Odoo database, over `[target] database`.
    pub database: Option<String>,
    /// The target's version as the preflight read it (`17.0`): the version-specific steps
    /// are chosen for it. `None` before the target is asked (`check`).
    pub server_version: Option<String>,
    /// The `[[tenant]]` this plan drives, in a multi-tenant run: its database, target and
    /// level replace the profile's.
    pub tenant: Option<String>,
    /// The plan runs elsewhere (a Kubernetes pod) and reads its secrets there: a password
    /// variable not set here is not an error (`peakgate k8s job`).
    pub secrets_elsewhere: bool,
}

/// A secret value read from the environment; it prints and serializes as `***`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where the load goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// The built-in stand-in, started in-process on a free loopback port.
    StandIn {
        workers: Option<usize>,
        release: Option<String>,
        config: Option<PathBuf>,
    },
    /// A real Odoo (or a stand-in started with `peakgate standin`).
    Odoo {
        url: String,
        /// `None`: the one database the server lists (the preflight asks).
        database: Option<String>,
        /// The environment variable the password was read from.
        password_env: String,
        login: String,
        password: Option<Secret>,
    },
}

/// Credentials a journey logs in with.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub database: String,
    pub login: String,
    pub password: Secret,
}

/// Open or closed workload, with its curve.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub model: ModelKind,
    pub arrivals: ArrivalKind,
    /// Levels over time: journeys/s (open) or active terminals (closed).
    pub curve: Curve,
    /// In-flight journeys above which an arrival is dropped (open model).
    pub max_in_flight: usize,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: u64,
    /// Largest answer body read, in bytes (`[load] max_body`).
    pub max_body: usize,
    /// Pause between two journeys of a closed-model terminal, in milliseconds.
    pub pacing_ms: u64,
    /// Open model: logged-in sessions the journeys share (each closed-model terminal has its own).
    pub logins: usize,
}

impl Load {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// The immutable plan of a run.
#[derive(Debug)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub environment: String,
    /// The profile file and the sha256 of its text, so a verdict names exactly what ran.
    pub profile_path: PathBuf,
    pub profile_sha256: String,
    /// The profile's text as read (the run folder keeps a copy, `profile.toml`), and the
    /// folder its relative paths resolve against.
    pub profile_text: String,
    pub profile_base: PathBuf,
    pub release: Option<String>,
    pub target: Target,
    pub load: Load,
    pub scenarios: Vec<Arc<Scenario>>,
    /// Mix weights, one per scenario, in `scenarios` order.
    pub weights: Vec<f64>,
    pub mix: WeightedIndex<f64>,
    /// The mix of each stage (the profile's, or the stage's or event's own).
    pub stage_mix: Vec<WeightedIndex<f64>>,
    /// Named calendar events on the run's clock.
    pub events: Vec<calendar::PlannedEvent>,
    /// Odoo version the scenarios were compiled for, e.g. `17.0`: the target's (read by the
    /// preflight), else the profile's `odoo_version`, else 17.0 until the target is asked.
    pub odoo_version: String,
    /// The version the profile declares, if it does: a target of another one is refused.
    pub declared_version: Option<String>,
    /// Whether the scenarios' data came from a target (else only their columns are known).
    pub data_online: bool,
    /// Closed model: scenario each terminal runs when it opens, and when it closes.
    pub setup: Option<usize>,
    pub teardown: Option<usize>,
    /// Name of every measured step (`scenario/step`), indexed by `Step::id`.
    pub step_names: Vec<String>,
    pub seed: u64,
    pub rate_scale: f64,
    /// The release gate: the profile's `[gate]` with `--gate FILE` merged over it.
    pub gate: Gate,
    /// Probes that watch the servers beside the load, in kind order.
    pub probes: Vec<ProbeSpec>,
    /// Optional probes left off because the variable holding their URL is not set, each
    /// with why.
    pub probes_off: Vec<String>,
    /// `[annotations.grafana]`: the region the run posts to Grafana, if the profile asks.
    pub annotations: Option<annotations::GrafanaSpec>,
    /// Every `[[tenant]]` of the profile (empty: a single-tenant run).
    pub tenants: Vec<tenants::TenantSpec>,
    /// The profile's `[noisy_neighbour]` check.
    pub noisy_neighbour: Option<tenants::NoisyNeighbour>,
    /// The tenant this plan drives (`Overrides::tenant`).
    pub tenant: Option<tenants::TenantSpec>,
    /// Notes on the data files the scenarios read: columns that hold only numbers but name no
    /// type, so they are sent as text.
    pub data_notes: Vec<String>,
}

/// The version scenarios are compiled for before a target says its own.
pub const DEFAULT_ODOO_VERSION: &str = "17.0";
/// The Odoo major versions peakgate drives.
pub const SUPPORTED_MAJORS: [&str; 3] = ["16", "17", "18"];

/// `data` with the profile's `[data]` CSV files in place of the data sets they name.
fn with_csv_overrides(src: &ProfileSource, data: &DataSets) -> Result<DataSets, ConfigError> {
    let mut out = data.clone();
    let base = &src.base;
    for (name, file) in &src.file.data {
        let Some(schema) = crate::target::data::schema(name) else {
            return Err(src.error_at(
                file,
                format!(
                    "`{name}` is not a data set of the target ([data] replaces one of: {})",
                    crate::target::data::SCHEMAS
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let table = crate::config::data::DataTable::read_typed(
            &base.join(file.get_ref()),
            crate::target::data::csv_kind,
        )?;
        if let Some(missing) = schema.columns.iter().find(|c| table.column(c).is_none()) {
            return Err(src.error_at(
                file,
                format!(
                    "`{}` replaces data set `{name}` but has no column `{missing}`{} (it needs: {})",
                    file.get_ref(),
                    near_column(&table.columns, missing),
                    schema.columns.join(", ")
                ),
            ));
        }
        out.insert(name, table);
    }
    Ok(out)
}

/// Why a header cell that is nearly `wanted` does not count: spaces around it, or another
/// case (names are matched exactly); empty when no cell is.
fn near_column(columns: &[String], wanted: &str) -> String {
    let spaced = columns.iter().position(|c| c.trim() == wanted);
    let cased = columns
        .iter()
        .position(|c| c.trim().eq_ignore_ascii_case(wanted));
    match (spaced, cased) {
        (Some(i), _) => format!(
            ": header cell {} is `{}`, with spaces around the name (remove them)",
            i + 1,
            columns[i]
        ),
        (None, Some(i)) => format!(
            ": header cell {} is `{}`, in another case (names are matched exactly: write `{wanted}`)",
            i + 1,
            columns[i]
        ),
        (None, None) => String::new(),
    }
}

/// Id of the implicit login step every `session = "user"` scenario may run.
pub const AUTH_STEP: &str = "session/authenticate";
/// Its index in [`Plan::step_names`].
pub const AUTH_STEP_ID: usize = 0;

impl Plan {
    /// Every secret value the run holds (the target's password, the probes' URL passwords, the
    /// Grafana token),
    /// to scrub from any text stored or shown.
    pub fn scrubber(&self) -> crate::secrets::Scrubber {
        let mut secrets = Vec::new();
        if let Target::Odoo {
            password: Some(p), ..
        } = &self.target
        {
            secrets.push(p.expose().to_string());
        }
        if let Some(token) = self.annotations.as_ref().and_then(|g| g.token.as_ref()) {
            secrets.push(token.expose().to_string());
        }
        let mut s = crate::secrets::Scrubber::new(secrets);
        for probe in &self.probes {
            if let Some(u) = &probe.url {
                s = s.with_url(u.expose());
            }
        }
        s
    }

    /// Reads a profile and its scenarios and builds the plan before any target is asked:
    /// data sets have their columns and no rows. Every error is located.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan, ConfigError> {
        let src = ProfileSource::read(path)?;
        Plan::build(&src, overrides, &DataSets::offline())
    }

    /// Builds the plan from a parsed profile, its scenarios drawing from `data`.
    pub fn build(src: &ProfileSource, o: &Overrides, data: &DataSets) -> Result<Plan, ConfigError> {
        let f = &src.file;
        let environment = f.environment.get_ref().trim().to_lowercase();
        if !o.allow_production && guard::is_production_label(&environment) {
            return Err(src.error_at(
                &f.environment,
                format!(
                    "environment `{environment}` names production ({}); peakgate drives pre-production only, pass --allow-production if you mean it",
                    guard::PRODUCTION_WORDS.join(", ")
                ),
            ));
        }
        let declared_version = src
            .file
            .odoo_version
            .as_ref()
            .map(|v| v.get_ref().trim().to_string());
        let odoo_version = o
            .server_version
            .clone()
            .or_else(|| declared_version.clone())
            .unwrap_or_else(|| DEFAULT_ODOO_VERSION.to_string());
        let data = with_csv_overrides(src, data)?;
        let (scenarios, weights, step_names, any_version, data_notes) =
            build_scenarios(src, &odoo_version, &data)?;
        let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
        let (mut load, mut stage_mixes, events) = build_load(src, o, &names)?;
        let stage_names: Vec<String> = load.curve.stages.iter().map(|s| s.name.clone()).collect();
        let (tenant_specs, noisy_neighbour) = tenants::read(src, &stage_names)?;
        let tenant = match &o.tenant {
            None => None,
            Some(name) => {
                let Some(t) = tenant_specs.iter().find(|t| &t.name == name) else {
                    return Err(ConfigError::Flag {
                        flag: "tenant".into(),
                        message: format!("`{name}` is not a [[tenant]] of the profile"),
                    });
                };
                match t.load {
                    tenants::TenantLoad::Share(x) => load.curve = load.curve.scaled_levels(x),
                    tenants::TenantLoad::Steady(level) => {
                        // The same stages (so the canary's run names the stages it was
                        // quiet and loaded in), at one level and the profile's mix.
                        let scale = o.rate_scale.unwrap_or(1.0);
                        for stage in &mut load.curve.stages {
                            stage.from = level * scale;
                            stage.to = level * scale;
                        }
                        stage_mixes.iter_mut().for_each(|m| *m = None);
                    }
                }
                // Terminals are whole, as build_load makes them.
                if load.model == ModelKind::Closed {
                    for stage in &mut load.curve.stages {
                        stage.from = stage.from.round();
                        stage.to = stage.to.round();
                    }
                }
                Some(t.clone())
            }
        };
        let mix = WeightedIndex::new(&weights)
            .map_err(|e| src.error_at(&f.mix, format!("mix weights: {e}")))?;
        let mut stage_mix = Vec::with_capacity(load.curve.stages.len());
        for (stage, own) in load.curve.stages.iter_mut().zip(stage_mixes) {
            match own {
                Some(w) => {
                    let index = WeightedIndex::new(&w).map_err(|e| {
                        ConfigError::key(
                            &src.path,
                            format!("mix of stage `{}`", stage.name),
                            e.to_string(),
                        )
                    })?;
                    stage.mix = Some(w);
                    stage_mix.push(index);
                }
                None => stage_mix.push(mix.clone()),
            }
        }
        // Logging in is needed by user scenarios, and by discovery when a scenario draws from
        // the target's data (unless `[data]` replaces that data set with a file).
        let needs_password = scenarios
            .iter()
            .any(|s| s.needs_login || s.datasets.iter().any(|d| !src.file.data.contains_key(d)));
        let target = build_target(src, o, tenant.as_ref(), needs_password)?;
        let gate = build_gate(src, o)?;
        // A selector may name a step of another Odoo version the scenarios serve (the profile
        // runs on either): at run time it then matches nothing and warns.
        let selectable: Vec<String> = step_names.iter().chain(&any_version).cloned().collect();
        check_selectors(src, o, &gate, &selectable, &scenarios)?;
        let (probes, probes_off) = probes::build(src)?;
        let annotations = annotations::build(src)?;
        Ok(Plan {
            name: f.name.clone(),
            description: f.description.clone(),
            environment,
            profile_path: src.path.clone(),
            profile_sha256: profile_sha256(&src.text),
            profile_text: src.text.clone(),
            profile_base: src.base.clone(),
            release: o.release.clone(),
            target,
            load,
            scenarios,
            weights,
            mix,
            stage_mix,
            events,
            odoo_version,
            declared_version,
            data_online: data.online,
            setup: f
                .load
                .setup
                .as_ref()
                .and_then(|n| names.iter().position(|x| x == n.get_ref())),
            teardown: f
                .load
                .teardown
                .as_ref()
                .and_then(|n| names.iter().position(|x| x == n.get_ref())),
            step_names,
            seed: o.seed.unwrap_or(1),
            rate_scale: o.rate_scale.unwrap_or(1.0),
            gate,
            probes,
            probes_off,
            annotations,
            tenants: tenant_specs,
            noisy_neighbour,
            tenant,
            data_notes,
        })
    }

    /// The target data sets the scenarios draw from.
    pub fn datasets(&self) -> std::collections::BTreeSet<String> {
        self.scenarios
            .iter()
            .flat_map(|s| s.datasets.iter().cloned())
            .collect()
    }

    /// Expected journeys over the whole run (open model).
    pub fn expected_journeys(&self) -> f64 {
        self.load.curve.cumulative(self.load.curve.duration_s())
    }

    /// The run's planned length.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.load.curve.duration_s())
    }

    /// Where a human should look: the target URL, or `stand-in`.
    pub fn target_label(&self) -> String {
        match &self.target {
            Target::StandIn { release, .. } => {
                format!(
                    "built-in stand-in (release {})",
                    release.as_deref().unwrap_or("baseline")
                )
            }
            Target::Odoo { url, .. } => url.clone(),
        }
    }
}

/// The profile's `[gate]`, with `--gate FILE` merged over it; errors point into the file
/// they come from.
pub fn build_gate(src: &ProfileSource, o: &Overrides) -> Result<Gate, ConfigError> {
    let mut gate = match &src.file.gate {
        Some(f) => Gate::build(f, &|span, m| {
            ConfigError::at(&src.path, &src.text, span.start, m)
        })?,
        None => Gate::default(),
    };
    if let Some(path) = &o.gate {
        gate.merge(load_gate_file(path)?);
    }
    Ok(gate)
}

/// Reads a `--gate FILE` on its own.
pub fn load_gate_file(path: &Path) -> Result<Gate, ConfigError> {
    let g = GateSource::read(path)?;
    Gate::build(&g.file, &|span, m| {
        ConfigError::at(&g.path, &g.text, span.start, m)
    })
}

/// Stages with their own mixes (weights in scenario order) and calendar events.
type LoadParts = (Load, Vec<Option<Vec<f64>>>, Vec<calendar::PlannedEvent>);

/// Weights in scenario order for a stage or event mix; names must be in the profile's mix.
fn weights_for(
    src: &ProfileSource,
    at: &toml::Spanned<impl std::any::Any>,
    mix: &std::collections::BTreeMap<String, f64>,
    names: &[String],
) -> Result<Vec<f64>, ConfigError> {
    for (name, w) in mix {
        if !names.contains(name) {
            return Err(src.error_at(at, format!("`{name}` is not in the profile's [mix]: a stage or event mix picks among those scenarios")));
        }
        if !(w.is_finite() && *w >= 0.0) {
            return Err(src.error_at(at, format!("weight of `{name}` must be ≥ 0")));
        }
    }
    Ok(names
        .iter()
        .map(|n| mix.get(n).copied().unwrap_or(0.0))
        .collect())
}

fn build_load(
    src: &ProfileSource,
    o: &Overrides,
    names: &[String],
) -> Result<LoadParts, ConfigError> {
    let l = &src.file.load;
    let mut parts = Vec::new();
    let mut mixes = Vec::new();
    let mut events = Vec::new();
    if let Some(cal) = &src.file.calendar {
        if !l.stages.is_empty() {
            return Err(ConfigError::key(
                &src.path,
                "calendar",
                "a profile takes [calendar] or [[load.stage]], not both",
            ));
        }
        let planned = calendar::plan(src, cal, l.model)?;
        for st in planned.stages {
            mixes.push(match &st.mix {
                Some(m) => Some(weights_for(src, &cal.compress, m, names)?),
                None => None,
            });
            parts.push((st.name, st.duration, st.level, st.level));
        }
        events = planned.events;
    } else if l.stages.is_empty() {
        return Err(ConfigError::key(
            &src.path,
            "load.stage",
            "at least one [[load.stage]] (or a [calendar]) is needed",
        ));
    }
    for (i, stage) in l.stages.iter().enumerate() {
        let d = parse_duration(src, &stage.duration)?;
        if d.is_zero() {
            return Err(src.error_at(&stage.duration, "a stage must last longer than zero"));
        }
        let (level, other, wanted) = match l.model {
            ModelKind::Open => (&stage.rate, &stage.terminals, "rate"),
            ModelKind::Closed => (&stage.terminals, &stage.rate, "terminals"),
        };
        if let Some(other) = other {
            return Err(src.error_at(
                other,
                format!("a {:?} model stage takes `{wanted}`, not this key", l.model)
                    .to_lowercase(),
            ));
        }
        let Some(level) = level else {
            return Err(src.error_at(
                &stage.duration,
                format!("stage {} has no `{wanted}`", i + 1),
            ));
        };
        let (from, to) = level.get_ref().ends();
        if !(from.is_finite() && to.is_finite() && from >= 0.0 && to >= 0.0) {
            return Err(src.error_at(
                level,
                format!("`{wanted}` must be a number ≥ 0, got {from} → {to}"),
            ));
        }
        // The plan-wide limits below, said at the stage that breaks them.
        if from.max(to) > MAX_LEVEL {
            return Err(src.error_at(
                level,
                format!(
                    "a level of {} is more than one process can drive (at most {MAX_LEVEL} journeys/s or terminals); shard the load",
                    shown_level(from.max(to))
                ),
            ));
        }
        if d.as_secs_f64() > MAX_DURATION_S {
            return Err(src.error_at(
                &stage.duration,
                format!(
                    "the stage lasts {}, more than peakgate runs in one go ({} days)",
                    humantime::format_duration(d),
                    MAX_DURATION_S / 86_400.0
                ),
            ));
        }
        let name = stage.name.clone().unwrap_or_else(|| match level.get_ref() {
            Level::Constant(_) => format!("stage {}", i + 1),
            Level::Ramp { .. } => format!("ramp {}", i + 1),
        });
        mixes.push(match &stage.mix {
            Some(m) => Some(weights_for(src, m, m.get_ref(), names)?),
            None => None,
        });
        parts.push((name, d, from, to));
    }
    let mut curve = Curve::new(parts);
    if curve.peak() <= 0.0 {
        return Err(ConfigError::key(
            &src.path,
            "load.stage",
            "every stage has a level of 0: nothing would run",
        ));
    }
    if let Some(x) = o.rate_scale {
        curve = curve.scaled_levels(x);
    }
    let src_duration = curve.duration_s();
    if let Some(d) = o.duration {
        if d.is_zero() {
            return Err(ConfigError::Flag {
                flag: "--duration".into(),
                message: "must be longer than zero".into(),
            });
        }
        curve = curve.stretched_to(d.as_secs_f64());
    }
    // However the length came about (stages, `--duration`, a calendar's `compress`), a plan
    // shorter than the timeline's one-second resolution measures nothing.
    let duration = curve.duration_s();
    if duration.is_nan() || duration < MIN_DURATION_S {
        let why = format!(
            "the plan lasts {}, less than the {MIN_DURATION_S} s a run needs (its timeline counts whole seconds)",
            humantime::format_duration(Duration::from_secs_f64(curve.duration_s().max(0.0)))
        );
        return Err(match (o.duration, &src.file.calendar) {
            (Some(_), _) => ConfigError::Flag {
                flag: "--duration".into(),
                message: why,
            },
            (None, Some(cal)) => src.error_at(&cal.compress, why),
            (None, None) => ConfigError::key(&src.path, "load.stage", why),
        });
    }
    // What one process can plan and run: beyond these, a typo (a rate of 1e300, a duration
    // of years) is refused rather than left to run forever.
    if curve.duration_s() > MAX_DURATION_S {
        let why = format!(
            "the stages last {}, more than peakgate runs in one go ({} days)",
            humantime::format_duration(Duration::from_secs_f64(curve.duration_s().min(1e15))),
            MAX_DURATION_S / 86_400.0
        );
        return Err(match o.duration {
            Some(_) => ConfigError::Flag {
                flag: "--duration".into(),
                message: why,
            },
            None => ConfigError::key(&src.path, "load.stage", why),
        });
    }
    if curve.peak() > MAX_LEVEL {
        let why = format!(
            "a level of {} is more than one process can drive (at most {MAX_LEVEL} journeys/s or terminals); shard the load",
            shown_level(curve.peak())
        );
        return Err(match o.rate_scale {
            Some(_) => ConfigError::Flag {
                flag: "--rate-scale".into(),
                message: why,
            },
            None => ConfigError::key(&src.path, "load.stage", why),
        });
    }
    if l.model == ModelKind::Closed {
        for s in &mut curve.stages {
            s.from = s.from.round();
            s.to = s.to.round();
        }
    }
    let max_in_flight = *l.max_in_flight.get_ref();
    if max_in_flight < 1 {
        return Err(src.error_at(&l.max_in_flight, "`max_in_flight` must be at least 1"));
    }
    if *l.logins.get_ref() < 1 {
        return Err(src.error_at(&l.logins, "`logins` must be at least 1"));
    }
    let timeout = parse_duration(src, &l.timeout)?;
    if timeout.is_zero() {
        return Err(src.error_at(&l.timeout, "`timeout` must be longer than zero"));
    }
    let pacing = match &l.pacing {
        Some(p) => parse_duration(src, p)?,
        None => Duration::ZERO,
    };
    let max_body = match &l.max_body {
        None => crate::odoo::transport::DEFAULT_MAX_BODY,
        Some(text) => match text.get_ref().parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() >= 1024 && b.as_u64() <= 1 << 32 => b.as_u64() as usize,
            Ok(_) => {
                return Err(src.error_at(text, "`max_body` must be between 1 KiB and 4 GiB"));
            }
            Err(e) => {
                return Err(src.error_at(
                    text,
                    format!("`max_body`: {e} (write a size such as \"16 MiB\")"),
                ));
            }
        },
    };
    if let Some(d) = o.duration {
        let factor = d.as_secs_f64() / src_duration;
        for e in &mut events {
            e.start_s *= factor;
            e.duration_s *= factor;
        }
    }
    let load = Load {
        model: l.model,
        arrivals: l.arrivals,
        curve,
        max_in_flight: max_in_flight as usize,
        timeout_ms: timeout.as_millis() as u64,
        max_body,
        pacing_ms: pacing.as_millis() as u64,
        logins: *l.logins.get_ref() as usize,
    };
    Ok((load, mixes, events))
}

/// The compiled scenarios, their weights, the step names of the target's version, and the
/// step names of every version the scenario files serve (what a gate selector may name).
type Scenarios = (
    Vec<Arc<Scenario>>,
    Vec<f64>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
);

fn build_scenarios(
    src: &ProfileSource,
    version: &str,
    data: &DataSets,
) -> Result<Scenarios, ConfigError> {
    let dir = src.scenarios_dir();
    let data_dir = dir.join("data");
    let mut tables = HashMap::new();
    let mut step_names = vec![AUTH_STEP.to_string()];
    let mut any_version = Vec::new();
    let mut next_id = 1;
    let mut scenarios = Vec::new();
    let mut weights = Vec::new();
    let odoo_major = version.split('.').next().unwrap_or("").to_string();
    if !SUPPORTED_MAJORS.contains(&odoo_major.as_str()) {
        let message = format!(
            "Odoo {version} is not supported: peakgate speaks Odoo {}",
            SUPPORTED_MAJORS.map(|m| format!("{m}.0")).join(", ")
        );
        return Err(match &src.file.odoo_version {
            Some(v) if v.get_ref().trim() == version => src.error_at(v, message),
            _ => ConfigError::key(&src.path, "odoo_version", message),
        });
    }
    let mix = src.file.mix.get_ref();
    if mix.is_empty() {
        return Err(src.error_at(&src.file.mix, "`mix` names no scenario"));
    }
    let l = &src.file.load;
    for hook in [&l.setup, &l.teardown].into_iter().flatten() {
        if l.model != ModelKind::Closed {
            return Err(src.error_at(
                hook,
                "`setup` and `teardown` are for the closed model's terminals",
            ));
        }
    }
    // The mix's scenarios, then setup and teardown ones with weight 0 (never drawn).
    let mut wanted: Vec<(String, f64, toml::Spanned<f64>)> = Vec::new();
    for (name, weight) in mix {
        wanted.push((name.clone(), *weight.get_ref(), weight.clone()));
    }
    for hook in [&l.setup, &l.teardown].into_iter().flatten() {
        if !wanted.iter().any(|(n, _, _)| n == hook.get_ref()) {
            wanted.push((
                hook.get_ref().clone(),
                0.0,
                toml::Spanned::new(hook.span(), 0.0),
            ));
        }
    }
    for (name, w, weight) in &wanted {
        let (name, w) = (name.as_str(), *w);
        if !(w.is_finite() && w >= 0.0) {
            return Err(src.error_at(weight, format!("weight of `{name}` must be ≥ 0, got {w}")));
        }
        if !dir.join(format!("{name}.toml")).exists() {
            return Err(src.error_at(
                weight,
                format!(
                    "unknown scenario `{name}`: no file {}",
                    dir.join(format!("{name}.toml")).display()
                ),
            ));
        }
        let s = ScenarioSource::read(&dir, name)?;
        any_version.extend(
            s.file
                .steps
                .iter()
                .map(|st| format!("{name}/{}", st.name.get_ref())),
        );
        let compiled =
            scenario::compile(&s, &data_dir, &mut tables, &mut next_id, &odoo_major, data)?;
        if data.online {
            for set in &compiled.datasets {
                if data.get(set).is_some_and(|t| t.rows.is_empty()) {
                    let about = crate::target::data::schema(set).map_or("", |s| s.about);
                    return Err(ConfigError::key(
                        &src.path,
                        format!("mix.{name}"),
                        format!(
                            "scenario `{name}` needs {about} (data set `{set}`), and the target has none"
                        ),
                    ));
                }
            }
        }
        step_names.extend(
            compiled
                .steps
                .iter()
                .map(|st| format!("{name}/{}", st.name)),
        );
        scenarios.push(Arc::new(compiled));
        weights.push(w);
    }
    let mut files: Vec<(&String, &Arc<crate::config::data::DataTable>)> = tables.iter().collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    let notes = files
        .into_iter()
        .filter(|(_, t)| !t.numbers_as_text.is_empty())
        .map(|(file, t)| {
            format!(
                "note: {}: column(s) {} hold only numbers but their header names no type, so they are sent as text, exactly as written; where Odoo needs a number, type the header (`qty:int`, `price:float`); an identifier such as a barcode keeps its text (`{}:text` says so and silences this note)",
                data_dir.join(file).display(),
                t.numbers_as_text
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                t.numbers_as_text[0]
            )
        })
        .collect();
    Ok((scenarios, weights, step_names, any_version, notes))
}

fn build_target(
    src: &ProfileSource,
    o: &Overrides,
    tenant: Option<&tenants::TenantSpec>,
    needs_password: bool,
) -> Result<Target, ConfigError> {
    let t = src.file.target.as_ref();
    let own_url = tenant.and_then(|t| t.url.clone());
    let url = match (&o.target, t) {
        (Some(url), _) => url.clone(),
        (None, _) if own_url.is_some() => own_url.clone().unwrap_or_default(),
        (None, Some(t)) => t.url.get_ref().clone(),
        (None, None) => {
            let s = &src.file.standin;
            return Ok(Target::StandIn {
                workers: s.workers,
                release: o.standin_release.clone().or_else(|| s.release.clone()),
                config: s.config.as_ref().map(|c| src.base.join(c)),
            });
        }
    };
    let parsed = match crate::odoo::parse_target(&url) {
        Ok(u) => u,
        Err(e) => {
            return Err(match (&o.target, t) {
                (None, Some(t)) => src.error_at(&t.url, format!("target: {e}")),
                _ => ConfigError::Flag {
                    flag: "--target".into(),
                    message: e.to_string(),
                },
            });
        }
    };
    // The host is judged as well as the label: a `--target` outside the hosts the profile
    // may drive (its `allowed_hosts`, by default its own target's host) is refused.
    if !o.allow_production {
        let host = parsed.host_str().unwrap_or("");
        let own = t
            .and_then(|t| url::Url::parse(t.url.get_ref()).ok())
            .and_then(|u| u.host_str().map(str::to_string));
        // A tenant's own `url` is named in the profile as much as `[target] url` is.
        let tenant_host = own_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_string));
        let allowed: Vec<String> = match t.and_then(|t| t.allowed_hosts.clone()) {
            Some(list) => list,
            None => own.into_iter().chain(tenant_host).collect(),
        };
        if !guard::host_allowed(host, &allowed) {
            let shown = if allowed.is_empty() {
                "loopback only: the profile has no [target]".to_string()
            } else {
                format!("{} and loopback", allowed.join(", "))
            };
            return Err(ConfigError::key(
                &src.path,
                "[target] allowed_hosts",
                format!(
                    "host `{host}` is not one this profile may drive ({shown}); name it in the profile's [target] (its url, or allowed_hosts), or pass --allow-production if you mean it"
                ),
            ));
        }
    }
    let password_env = t.and_then(|t| t.password_env.as_ref());
    let password = match password_env {
        Some(var) => match std::env::var(var.get_ref()) {
            Ok(v) => Some(Secret::new(v)),
            Err(_) if needs_password && !o.secrets_elsewhere => {
                return Err(src.error_at(
                    var,
                    format!(
                        "environment variable `{}` (password_env) is not set",
                        var.get_ref()
                    ),
                ));
            }
            Err(_) => None,
        },
        None => match std::env::var("ODOO_PASSWORD") {
            Ok(v) => Some(Secret::new(v)),
            Err(_) if needs_password && !o.secrets_elsewhere => {
                return Err(ConfigError::key(
                    &src.path,
                    "target.password_env",
                    "the scenarios log in (or draw from the target's data), but no password is available: set ODOO_PASSWORD or name a variable in [target] password_env",
                ));
            }
            Err(_) => None,
        },
    };
    Ok(Target::Odoo {
        password_env: password_env.map_or_else(|| "ODOO_PASSWORD".into(), |v| v.get_ref().clone()),
        url: url.trim_end_matches('/').to_string(),
        database: o
            .database
            .clone()
            .or_else(|| tenant.map(|t| t.database.clone()))
            .or_else(|| t.and_then(|t| t.database.clone())),
        login: t.map_or_else(|| "admin".into(), |t| t.login.clone()),
        password,
    })
}

/// The sha256 of a profile's text, as run.json records it.
pub fn profile_sha256(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_header_cells_with_spaces_or_another_case_say_so() {
        let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            near_column(&cols(&["name", " partner_id"]), "partner_id"),
            ": header cell 2 is ` partner_id`, with spaces around the name (remove them)"
        );
        assert_eq!(
            near_column(&cols(&["Partner_ID", "name"]), "partner_id"),
            ": header cell 1 is `Partner_ID`, in another case (names are matched exactly: write `partner_id`)"
        );
        assert_eq!(near_column(&cols(&["name"]), "partner_id"), "");
    }
}
