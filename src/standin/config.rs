//! The stand-in's configuration: credentials, workers, service-time laws per call, release
//! variants (as data) and stall windows.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rand::RngExt;
use rand_distr::{Distribution, LogNormal};
use serde::Deserialize;

use crate::config::ConfigError;

/// The embedded defaults.
const DEFAULT: &str = include_str!("default.toml");

/// z-score of the 99th percentile of a standard normal law.
const Z99: f64 = 2.326_347_874;

/// A stand-in config file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StandinFile {
    pub database: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
    pub server_version: Option<String>,
    pub workers: Option<usize>,
    #[serde(default)]
    pub service: BTreeMap<String, LawFile>,
    #[serde(default)]
    pub release: BTreeMap<String, VariantFile>,
    #[serde(default)]
    pub stall: Vec<StallFile>,
}

/// A service-time law as written: median and p99, or a fixed time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LawFile {
    pub median: String,
    pub p99: String,
}

/// A release variant: what it changes.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VariantFile {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub service: BTreeMap<String, LawFile>,
    #[serde(default)]
    pub errors: BTreeMap<String, FaultFile>,
    /// What the variant changes in the PostgreSQL backend's SQL.
    #[serde(default)]
    pub postgres: PgVariantFile,
}

/// A variant's effect on the PostgreSQL backend, as written.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PgVariantFile {
    /// `batched` (one query per order) or `per_line` (queries per order line and product).
    pub pos_sync: Option<PosSync>,
    /// `touched` (lock the quants an order sells, FOR NO KEY UPDATE) or `all_hot` (lock every
    /// hot product's quant of the warehouse, FOR UPDATE).
    pub quant_lock: Option<QuantLock>,
    /// How long the stock reservation holds its locks before going on, e.g. "30ms".
    pub quant_lock_hold: Option<String>,
    /// Share of requests that leave a connection idle in transaction.
    pub leak_rate: Option<f64>,
    /// How long a leaked connection stays idle in transaction, e.g. "4s".
    pub leak_hold: Option<String>,
    /// ORM time spent per record read one at a time (`per_line` POS sync), e.g. "4ms".
    pub record_cost: Option<String>,
    /// Whether the month-end report can use its index on journal lines.
    pub report_index: Option<bool>,
    /// Extra bytes every session carries (in Redis or in memory).
    pub session_payload_bytes: Option<usize>,
}

/// How POS sync writes an order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PosSync {
    #[default]
    Batched,
    PerLine,
}

/// Which stock quants a sale locks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantLock {
    #[default]
    Touched,
    AllHot,
}

/// The PostgreSQL backend's behaviour under the chosen variant.
#[derive(Debug, Clone, Default)]
pub struct PgVariant {
    pub pos_sync: PosSync,
    pub quant_lock: QuantLock,
    pub quant_lock_hold: Duration,
    pub leak_rate: f64,
    pub leak_hold: Duration,
    pub record_cost: Duration,
    pub report_index: bool,
    pub session_payload_bytes: usize,
}

/// Errors a variant injects into a call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    /// Share of calls that fail, 0..=1.
    pub rate: f64,
    /// The Odoo exception name (`data.name`).
    pub name: String,
    #[serde(default)]
    pub message: String,
}

/// A window during which every worker is frozen.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallFile {
    /// Start, from the stand-in's start.
    pub at: String,
    pub duration: String,
}

/// A service-time law.
#[derive(Debug, Clone, Copy)]
pub enum Law {
    Fixed(Duration),
    LogNormal(LogNormal<f64>),
}

impl Law {
    /// A lognormal law with this median and p99 (fixed when they are equal).
    pub fn from_median_p99(median: Duration, p99: Duration) -> Result<Law, String> {
        if p99 < median {
            return Err(format!("p99 {p99:?} is below the median {median:?}"));
        }
        if median.is_zero() || p99 == median {
            return Ok(Law::Fixed(median));
        }
        let mu = median.as_secs_f64().ln();
        let sigma = (p99.as_secs_f64().ln() - mu) / Z99;
        LogNormal::new(mu, sigma)
            .map(Law::LogNormal)
            .map_err(|e| e.to_string())
    }

    /// One service time.
    pub fn draw(&self, rng: &mut impl rand::Rng) -> Duration {
        match self {
            Law::Fixed(d) => *d,
            Law::LogNormal(l) => Duration::from_secs_f64(l.sample(rng).min(3600.0)),
        }
    }
}

/// An injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    pub rate: f64,
    pub name: String,
    pub message: String,
}

impl Fault {
    pub fn strikes(&self, rng: &mut impl rand::Rng) -> bool {
        rng.random::<f64>() < self.rate
    }
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct StandinConfig {
    pub database: String,
    pub login: String,
    pub password: String,
    pub server_version: String,
    pub workers: usize,
    /// The variant in force.
    pub release: String,
    /// Service laws by key, the variant's applied over the defaults.
    pub service: BTreeMap<String, Law>,
    /// Faults by key.
    pub faults: BTreeMap<String, Fault>,
    /// `(start, end)` from the stand-in's start.
    pub stalls: Vec<(Duration, Duration)>,
    /// Every variant known, with its description (for `--help` and errors).
    pub variants: BTreeMap<String, String>,
    /// The variant's effect on the PostgreSQL backend.
    pub pg: PgVariant,
}

impl StandinConfig {
    /// The defaults, then `file` over them, then the chosen `release` (default `baseline`).
    pub fn load(
        file: Option<&Path>,
        release: Option<&str>,
        workers: Option<usize>,
    ) -> Result<Self, ConfigError> {
        let embedded = Path::new("<built-in stand-in defaults>");
        let mut base: StandinFile =
            toml::from_str(DEFAULT).map_err(|e| ConfigError::toml(embedded, DEFAULT, &e))?;
        let mut origin = embedded.to_path_buf();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let over: StandinFile =
                toml::from_str(&text).map_err(|e| ConfigError::toml(path, &text, &e))?;
            merge(&mut base, over);
            origin = path.to_path_buf();
        }
        let release = release.unwrap_or("baseline").to_string();
        let variants: BTreeMap<String, String> = base
            .release
            .iter()
            .map(|(k, v)| (k.clone(), v.description.clone()))
            .collect();
        let Some(variant) = base.release.get(&release).cloned() else {
            return Err(ConfigError::key(
                &origin,
                "release",
                format!(
                    "unknown release variant `{release}`; known: {}",
                    variants.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        let mut laws = base.service.clone();
        laws.extend(variant.service);
        let mut service = BTreeMap::new();
        for (key, law) in laws {
            let parse = |s: &str| {
                humantime::parse_duration(s.trim()).map_err(|e| {
                    ConfigError::key(&origin, format!("service.\"{key}\""), format!("`{s}`: {e}"))
                })
            };
            let l = Law::from_median_p99(parse(&law.median)?, parse(&law.p99)?)
                .map_err(|m| ConfigError::key(&origin, format!("service.\"{key}\""), m))?;
            service.insert(key, l);
        }
        let mut faults = BTreeMap::new();
        for (key, f) in variant.errors {
            if !(0.0..=1.0).contains(&f.rate) {
                return Err(ConfigError::key(
                    &origin,
                    format!("errors.\"{key}\".rate"),
                    "must be between 0 and 1",
                ));
            }
            let message = if f.message.is_empty() {
                "Injected by the stand-in".into()
            } else {
                f.message
            };
            faults.insert(
                key,
                Fault {
                    rate: f.rate,
                    name: f.name,
                    message,
                },
            );
        }
        let mut stalls = Vec::new();
        for (i, s) in base.stall.iter().enumerate() {
            let parse = |v: &str| {
                humantime::parse_duration(v.trim()).map_err(|e| {
                    ConfigError::key(&origin, format!("stall[{i}]"), format!("`{v}`: {e}"))
                })
            };
            let at = parse(&s.at)?;
            stalls.push((at, at + parse(&s.duration)?));
        }
        let pgv = &variant.postgres;
        let dur = |key: &str, v: &Option<String>| -> Result<Duration, ConfigError> {
            match v {
                Some(s) => humantime::parse_duration(s.trim()).map_err(|e| {
                    ConfigError::key(
                        &origin,
                        format!("release.{release}.postgres.{key}"),
                        format!("`{s}`: {e}"),
                    )
                }),
                None => Ok(Duration::ZERO),
            }
        };
        let leak_rate = pgv.leak_rate.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&leak_rate) {
            return Err(ConfigError::key(
                &origin,
                format!("release.{release}.postgres.leak_rate"),
                "must be between 0 and 1",
            ));
        }
        let pg = PgVariant {
            pos_sync: pgv.pos_sync.unwrap_or_default(),
            quant_lock: pgv.quant_lock.unwrap_or_default(),
            quant_lock_hold: dur("quant_lock_hold", &pgv.quant_lock_hold)?,
            leak_rate,
            leak_hold: dur("leak_hold", &pgv.leak_hold)?,
            record_cost: dur("record_cost", &pgv.record_cost)?,
            report_index: pgv.report_index.unwrap_or(true),
            session_payload_bytes: pgv.session_payload_bytes.unwrap_or(0),
        };
        let workers = workers.or(base.workers).unwrap_or(4);
        if workers == 0 {
            return Err(ConfigError::key(
                &origin,
                "workers",
                "at least one worker is needed",
            ));
        }
        Ok(StandinConfig {
            database: base.database.unwrap_or_default(),
            login: base.login.unwrap_or_default(),
            password: base.password.unwrap_or_default(),
            server_version: base.server_version.unwrap_or_else(|| "17.0".into()),
            workers,
            release,
            service,
            faults,
            stalls,
            variants,
            pg,
        })
    }

    /// The entry for a call: `model.method`, then `method`, for model calls; the longest
    /// path prefix for routes; then `default`.
    pub fn lookup<'a, T>(map: &'a BTreeMap<String, T>, call: &CallKey<'_>) -> Option<&'a T> {
        let found = match call {
            CallKey::Model { model, method } => map
                .get(&format!("{model}.{method}"))
                .or_else(|| map.get(*method)),
            CallKey::Route(path) => map
                .iter()
                .filter(|(k, _)| k.starts_with('/') && path.starts_with(k.as_str()))
                .max_by_key(|(k, _)| k.len())
                .map(|(_, v)| v),
        };
        found.or_else(|| map.get("default"))
    }
}

/// What a request calls, for looking up its law and faults.
#[derive(Debug, Clone, Copy)]
pub enum CallKey<'a> {
    Model { model: &'a str, method: &'a str },
    Route(&'a str),
}

fn merge(base: &mut StandinFile, over: StandinFile) {
    base.database = over.database.or(base.database.take());
    base.login = over.login.or(base.login.take());
    base.password = over.password.or(base.password.take());
    base.server_version = over.server_version.or(base.server_version.take());
    base.workers = over.workers.or(base.workers);
    base.service.extend(over.service);
    base.release.extend(over.release);
    base.stall.extend(over.stall);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lognormal_law_has_the_asked_median_and_p99() {
        let law =
            Law::from_median_p99(Duration::from_millis(40), Duration::from_millis(160)).unwrap();
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(5);
        let mut v: Vec<f64> = (0..100_000)
            .map(|_| law.draw(&mut rng).as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        assert!((v[50_000] - 40.0).abs() < 1.0, "median {}", v[50_000]);
        assert!((v[99_000] - 160.0).abs() < 8.0, "p99 {}", v[99_000]);
    }

    #[test]
    fn variants_replace_laws_and_unknown_ones_are_refused() {
        let c = StandinConfig::load(None, Some("slow-pos-sync"), None).unwrap();
        let key = CallKey::Model {
            model: "pos.order",
            method: "create_from_ui",
        };
        match StandinConfig::lookup(&c.service, &key) {
            Some(Law::LogNormal(_)) => {}
            other => panic!("{other:?}"),
        }
        let err = StandinConfig::load(None, Some("nope"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown release variant `nope`") && err.contains("slow-pos-sync"),
            "{err}"
        );
    }

    #[test]
    fn routes_use_the_longest_prefix() {
        let c = StandinConfig::load(None, Some("cart-conflicts"), None).unwrap();
        assert!(
            StandinConfig::lookup(&c.faults, &CallKey::Route("/shop/cart/update_json")).is_some()
        );
        assert!(StandinConfig::lookup(&c.faults, &CallKey::Route("/shop/cart")).is_none());
        assert!(StandinConfig::lookup(&c.service, &CallKey::Route("/shop/product-12")).is_some());
    }
}
