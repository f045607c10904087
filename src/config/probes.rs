//! The profile's `[probes.*]` sections: what to watch beside the load, as written.
//!
//! One table per probe kind; the table's name is the probe's name in `run.json`. Values that
//! are checked after parsing keep their spans so a mistake is reported at its line.

use serde::Deserialize;
use toml::Spanned;

/// `[probes]`: every probe a profile may declare.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesFile {
    /// `[probes.postgres]`: PostgreSQL activity and Odoo crons and queue jobs.
    pub postgres: Option<Spanned<PostgresProbeFile>>,
    /// `[probes.redis]`: Redis `INFO` and `PING` time.
    pub redis: Option<Spanned<RedisProbeFile>>,
    /// `[probes.canary]`: a cheap JSON-RPC call whose latency is the workers' queueing delay.
    pub canary: Option<Spanned<CanaryProbeFile>>,
    /// `[probes.prometheus]`: named series of a Prometheus text-format endpoint.
    pub prometheus: Option<Spanned<PrometheusProbeFile>>,
}

/// `[probes.postgres]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresProbeFile {
    /// `postgres://user@host:5432/db`, without a password.
    pub url: Option<Spanned<String>>,
    /// Name of an environment variable holding the URL (it may carry the password).
    pub url_env: Option<Spanned<String>>,
    /// The database whose activity is watched and whose Odoo tables are read (default: the
    /// URL's database).
    pub database: Option<String>,
    /// Time between two samples, e.g. `"1s"` (default 1s).
    pub interval: Option<Spanned<String>>,
    /// Longest a sample may take; shorter than `interval` (default 80% of it).
    pub timeout: Option<Spanned<String>>,
    /// When true, a probe that cannot connect at start records a gap instead of stopping the
    /// run.
    #[serde(default)]
    pub optional: bool,
}

/// `[probes.redis]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisProbeFile {
    /// `redis://host:6379/0`, without a password.
    pub url: Option<Spanned<String>>,
    /// Name of an environment variable holding the URL (it may carry the password).
    pub url_env: Option<Spanned<String>>,
    /// Time between two samples, e.g. `"1s"` (default 1s).
    pub interval: Option<Spanned<String>>,
    /// Longest a sample may take; shorter than `interval` (default 80% of it).
    pub timeout: Option<Spanned<String>>,
    /// When true, a probe that cannot connect at start records a gap instead of stopping the
    /// run.
    #[serde(default)]
    pub optional: bool,
}

/// `[probes.canary]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryProbeFile {
    /// Base URL of the Odoo to call (default: the run's target).
    pub url: Option<Spanned<String>>,
    /// Time between two samples, e.g. `"1s"` (default 1s).
    pub interval: Option<Spanned<String>>,
    /// Longest a sample may take; shorter than `interval` (default 80% of it).
    pub timeout: Option<Spanned<String>>,
    /// When true, a probe that cannot connect at start records a gap instead of stopping the
    /// run.
    #[serde(default)]
    pub optional: bool,
}

/// `[probes.prometheus]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusProbeFile {
    /// The metrics endpoint, e.g. `http://traefik:8082/metrics`.
    pub url: Option<Spanned<String>>,
    /// Name of an environment variable holding the URL.
    pub url_env: Option<Spanned<String>>,
    /// Series to keep: `name` or `name{label="value",...}`.
    pub metrics: Spanned<Vec<Spanned<String>>>,
    /// Time between two samples, e.g. `"1s"` (default 1s).
    pub interval: Option<Spanned<String>>,
    /// Longest a sample may take; shorter than `interval` (default 80% of it).
    pub timeout: Option<Spanned<String>>,
    /// When true, a probe that cannot connect at start records a gap instead of stopping the
    /// run.
    #[serde(default)]
    pub optional: bool,
}

/// The keys every probe takes, whatever its kind.
pub struct Every<'a> {
    pub interval: Option<&'a Spanned<String>>,
    pub timeout: Option<&'a Spanned<String>>,
    pub optional: bool,
}

macro_rules! every {
    ($($t:ty),*) => {$(
        impl $t {
            /// The keys every probe takes.
            pub fn every(&self) -> Every<'_> {
                Every {
                    interval: self.interval.as_ref(),
                    timeout: self.timeout.as_ref(),
                    optional: self.optional,
                }
            }
        }
    )*};
}
every!(
    PostgresProbeFile,
    RedisProbeFile,
    CanaryProbeFile,
    PrometheusProbeFile
);
