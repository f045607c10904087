//! Pre-flight checks against the real systems, each a check of the change's verdict with its
//! evidence: PostgreSQL WAL archiving (`pg_stat_archiver`), the last full backup (a pgBackRest
//! or WAL-G status file, [`super::backup`]), replication lag (`pg_stat_replication`),
//! connection headroom, and the deployment's configuration against the measured capacity
//! ([`super::config_review`]).
//!
//! Reading the systems ([`gather`], [`super::postgres::read_postgres`]) is kept apart from
//! judging them ([`judge`]): the judgement is pure, on a [`PgSnapshot`] and the files read, so every rule is tested without
//! a server. A required check that could not look (no URL, a server that does not answer, no
//! status file) fails: evidence not seen is never passed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::TomlFile;
use super::backup::BackupStatus;
use super::config_review::{self, Deployment};
use super::policy::Preflight;
use super::postgres::{self, PgSnapshot, read_postgres};
use crate::config::ConfigError;
use crate::result::change_record::{
    Configuration, KubernetesRead, MeasuredRead, OdooConfRead, PostgresRead, TraefikRead,
};
use crate::result::{Check, Status};

/// The variable holding the production PostgreSQL URL when the policy names none: not the
/// probes' `PEAKGATE_PG_URL` (staging), so that a pipeline setting both cannot check the
/// wrong server.
pub const DEFAULT_URL_ENV: &str = "PEAKGATE_PREFLIGHT_PG_URL";

/// `[preflight]` of policy.toml, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    postgres_url_env: Option<String>,
    recovery_point_objective: Option<Spanned<String>>,
    backup_max_age: Option<Spanned<String>>,
    replication_max_lag: Option<Spanned<String>>,
    replicas: Option<u32>,
    min_free_connections: Option<u32>,
    deployment: Option<String>,
    container: Option<String>,
    worker_margin: Option<Spanned<f64>>,
    time_margin: Option<Spanned<f64>>,
    memory_margin: Option<Spanned<f64>>,
    memory_series: Option<String>,
}

/// What the pre-flight checks hold the systems to (policy.toml `[preflight]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The variable holding the production primary's URL (`postgres://user:pw@host/db`).
    pub postgres_url_env: String,
    /// The last archived WAL segment may be at most this old (default 15 min).
    pub recovery_point_objective: Duration,
    /// The last full backup may be at most this old (default 7 days).
    pub backup_max_age: Duration,
    /// Each replica's replay lag may be at most this (default 60 s).
    pub replication_max_lag: Duration,
    /// Replicas that must be streaming; `None`: whatever `pg_stat_replication` shows.
    pub replicas: Option<u32>,
    /// Connections that must stay free (after the reserved ones) before the change (default 10).
    pub min_free_connections: u32,
    /// The Odoo Deployment's name in the Kubernetes files (default: the only Deployment).
    pub deployment: Option<String>,
    /// The Odoo container's name in that Deployment (default `odoo`, or the only container).
    pub container: Option<String>,
    /// Share of workers above the measured need (default 0.25).
    pub worker_margin: f64,
    /// Share above the slowest step's p99.9 the time limits must leave (default 0.5).
    pub time_margin: f64,
    /// Share above the measured memory the memory limit must leave (default 0.2).
    pub memory_margin: f64,
    /// The Prometheus probe series (its selector, as written in the profile) measuring one
    /// Odoo pod's memory in bytes, e.g. `container_memory_working_set_bytes{pod="odoo-0"}`.
    pub memory_series: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            postgres_url_env: DEFAULT_URL_ENV.into(),
            recovery_point_objective: Duration::from_secs(15 * 60),
            backup_max_age: Duration::from_secs(7 * 86_400),
            replication_max_lag: Duration::from_secs(60),
            replicas: None,
            min_free_connections: 10,
            deployment: None,
            container: None,
            worker_margin: 0.25,
            time_margin: 0.5,
            memory_margin: 0.2,
            memory_series: None,
        }
    }
}

impl Settings {
    /// Checks `[preflight]`; each wrong value is an error at its place in the policy.
    pub fn check(source: &TomlFile, file: SettingsFile) -> Result<Settings, ConfigError> {
        let d = Settings::default();
        let duration = |v: &Option<Spanned<String>>, default: Duration| match v {
            None => Ok(default),
            Some(v) => humantime::parse_duration(v.get_ref().trim()).map_err(|e| {
                source.at(
                    v,
                    format!(
                        "`{}` is not a duration ({e}); write e.g. \"15m\", \"7days\"",
                        v.get_ref()
                    ),
                )
            }),
        };
        let margin = |v: &Option<Spanned<f64>>, default: f64| match v {
            None => Ok(default),
            Some(m) if m.get_ref().is_finite() && *m.get_ref() >= 0.0 => Ok(*m.get_ref()),
            Some(m) => Err(source.at(m, "a margin is a share at or above 0 (0.25 = 25%)")),
        };
        Ok(Settings {
            postgres_url_env: file.postgres_url_env.unwrap_or(d.postgres_url_env),
            recovery_point_objective: duration(
                &file.recovery_point_objective,
                d.recovery_point_objective,
            )?,
            backup_max_age: duration(&file.backup_max_age, d.backup_max_age)?,
            replication_max_lag: duration(&file.replication_max_lag, d.replication_max_lag)?,
            replicas: file.replicas,
            min_free_connections: file.min_free_connections.unwrap_or(d.min_free_connections),
            deployment: file.deployment,
            container: file.container,
            worker_margin: margin(&file.worker_margin, d.worker_margin)?,
            time_margin: margin(&file.time_margin, d.time_margin)?,
            memory_margin: margin(&file.memory_margin, d.memory_margin)?,
            memory_series: file.memory_series,
        })
    }
}

/// Everything the checks judge; `None` where it was not given or could not be read.
#[derive(Debug, Default)]
pub struct Evidence {
    /// The live PostgreSQL, or why it could not be read (secrets removed).
    pub postgres: Option<Result<PgSnapshot, String>>,
    pub backup: Option<BackupStatus>,
    pub deployment: Option<Deployment>,
}

/// The files the pipeline gives the pre-flight checks (`peakgate gate` flags).
#[derive(Debug, Clone, Copy, Default)]
pub struct Files<'a> {
    /// `--backup-status`: pgBackRest or WAL-G status JSON.
    pub backup_status: Option<&'a Path>,
    /// `--odoo-conf`, `--kubernetes`, `--traefik`: the deployment's configuration.
    pub odoo_conf: Option<&'a Path>,
    pub kubernetes: &'a [PathBuf],
    pub traefik: Option<&'a Path>,
    /// `--capacity`: capacity.json of `peakgate capacity`.
    pub capacity: Option<&'a Path>,
    /// `--runs`: their steps' p99.9 and memory series.
    pub runs: &'a [PathBuf],
}

/// How long PostgreSQL has to answer.
pub const PG_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads what the required checks judge: the files (wrong input is an error, exit 2) and the
/// live PostgreSQL whose URL is in the policy's variable (an unreachable server is evidence
/// of its own: the checks that need it fail saying why). Only what the class requires is read.
pub fn gather(
    required: &[Preflight],
    settings: &Settings,
    files: Files<'_>,
) -> Result<Evidence, ConfigError> {
    let needs = |p: Preflight| required.contains(&p);
    let mut evidence = Evidence::default();
    if needs(Preflight::BackupFreshness)
        && let Some(path) = files.backup_status
    {
        evidence.backup = Some(BackupStatus::load(path)?);
    }
    if needs(Preflight::ConfigReview) {
        evidence.deployment = match (files.odoo_conf, files.kubernetes.is_empty()) {
            (None, true) => None,
            (None, false) => {
                return Err(ConfigError::Flag {
                    flag: "--odoo-conf".into(),
                    message:
                        "the configuration review needs odoo.conf beside the Kubernetes manifests"
                            .into(),
                });
            }
            (Some(_), true) => {
                return Err(ConfigError::Flag {
                    flag: "--kubernetes".into(),
                    message: "the configuration review needs the Odoo Deployment's manifests (and its HorizontalPodAutoscaler) beside odoo.conf".into(),
                });
            }
            (Some(conf), false) => Some(Deployment {
                odoo: super::deployment::OdooConf::load(conf)?,
                pods: super::deployment::read_pods(
                    files.kubernetes,
                    settings.deployment.as_deref(),
                    settings.container.as_deref(),
                )?,
                ingress: files
                    .traefik
                    .map(super::deployment::Ingress::load)
                    .transpose()?,
                measured: config_review::Measured::read(
                    files.capacity,
                    files.runs,
                    settings.memory_series.as_deref(),
                )?,
            }),
        };
    }
    let pg_needed = [
        Preflight::PgArchiving,
        Preflight::ReplicationLag,
        Preflight::ConnectionHeadroom,
        Preflight::ConfigReview,
    ]
    .into_iter()
    .any(needs);
    if pg_needed {
        evidence.postgres = std::env::var(&settings.postgres_url_env)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .map(|url| read_postgres(&url, PG_TIMEOUT));
    }
    Ok(evidence)
}

/// What the judged pre-flight checks give the record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judged {
    /// One check per required pre-flight name (the configuration review: one per rule).
    pub checks: Vec<Check>,
    /// What was read, for the record.
    pub configuration: Option<Configuration>,
}

/// The check's name for a pre-flight check.
pub fn name(p: Preflight) -> String {
    format!("preflight {}", p.name())
}

/// Judges each required pre-flight check, in the policy's order, and says what was read.
/// `now` is the gate's clock, for the backup's age; `link` turns a path into the record's
/// link to it.
pub fn judge(
    required: &[Preflight],
    settings: &Settings,
    evidence: &Evidence,
    now: jiff::Timestamp,
    link: impl Fn(&Path) -> String,
) -> Judged {
    Judged {
        checks: checks(required, settings, evidence, now),
        configuration: configuration(evidence, &link),
    }
}

fn configuration(e: &Evidence, link: &impl Fn(&Path) -> String) -> Option<Configuration> {
    let postgres = match &e.postgres {
        Some(Ok(s)) => Some(PostgresRead {
            target: s.target.clone(),
            archive_mode: s.archive_mode.clone(),
            max_connections: s.max_connections,
            superuser_reserved_connections: s.superuser_reserved_connections,
            reserved_connections: s.reserved_connections,
            connections_in_use: s.in_use,
            replicas: s.replicas.len() as u32,
        }),
        _ => None,
    };
    if postgres.is_none() && e.deployment.is_none() {
        return None;
    }
    let mut c = Configuration {
        postgres,
        ..Configuration::default()
    };
    if let Some(d) = &e.deployment {
        let o = &d.odoo;
        c.odoo_conf = Some(OdooConfRead {
            path: link(&o.path),
            workers: o.workers,
            db_maxconn: o.db_maxconn,
            max_cron_threads: o.max_cron_threads,
            limit_time_real_s: o.limit_time_real,
            limit_memory_soft_bytes: o.limit_memory_soft,
            limit_memory_hard_bytes: o.limit_memory_hard,
        });
        let p = &d.pods;
        c.kubernetes = Some(KubernetesRead {
            deployment_file: link(&p.deployment_file),
            deployment: p.deployment.clone(),
            replicas: p.replicas,
            container: p.container.clone(),
            memory_request_bytes: p.memory_request,
            memory_limit_bytes: p.memory_limit,
            hpa_file: p.hpa.as_ref().map(|h| link(&h.file)),
            hpa: p.hpa.as_ref().map(|h| h.name.clone()),
            min_replicas: p.hpa.as_ref().map(|h| h.min_replicas),
            max_replicas: p.hpa.as_ref().map(|h| h.max_replicas),
            max_pods: p.max_pods(),
            surge_pods: p.surge.at(p.max_pods()),
        });
        c.traefik = d.ingress.as_ref().map(|i| TraefikRead {
            path: link(&i.path),
            timeouts_s: i.timeouts.clone(),
            rate_limits_per_s: i.rate_limits.clone(),
        });
        let m = &d.measured;
        c.measured = Some(MeasuredRead {
            capacity: m.capacity.as_ref().map(|s| link(&s.path)),
            workers_needed: m.capacity.as_ref().map(|s| s.workers_needed),
            at_scale: m.capacity.as_ref().map(|s| s.at_scale),
            peak_request_rate_per_s: m.capacity.as_ref().map(|s| s.peak_request_rate_per_s),
            slowest_step: m.slowest_step.clone(),
            memory_peak: m.memory_peak.clone(),
        });
    }
    Some(c)
}

pub(crate) fn checks(
    required: &[Preflight],
    settings: &Settings,
    evidence: &Evidence,
    now: jiff::Timestamp,
) -> Vec<Check> {
    let mut out = Vec::new();
    for &p in required {
        match p {
            Preflight::PgArchiving => out.push(with_pg(p, settings, evidence, |s| {
                postgres::archiving(s, settings.recovery_point_objective)
            })),
            Preflight::ReplicationLag => {
                out.push(with_pg(p, settings, evidence, |s| postgres::replication(s, settings)))
            }
            Preflight::ConnectionHeadroom => out.push(with_pg(p, settings, evidence, |s| {
                postgres::headroom(s, settings.min_free_connections)
            })),
            Preflight::BackupFreshness => out.push(match &evidence.backup {
                Some(b) => b.judge(settings.backup_max_age, now, &name(p)),
                None => fail(
                    &name(p),
                    "not checked: give the backup tool's status with --backup-status FILE (pgbackrest info --output=json, or wal-g backup-list --json --detail)".into(),
                ),
            }),
            Preflight::ConfigReview => {
                let max_connections = match &evidence.postgres {
                    Some(Ok(s)) => Ok(s),
                    Some(Err(e)) => Err(format!("PostgreSQL could not be read ({e})")),
                    None => Err(format!(
                        "PostgreSQL was not read: set {} to its URL",
                        settings.postgres_url_env
                    )),
                };
                match &evidence.deployment {
                    Some(d) => out.extend(config_review::judge(d, max_connections, settings)),
                    None => out.push(fail(
                        &name(p),
                        "not checked: give the deployment's configuration with --odoo-conf FILE and --kubernetes FILE, and the measured capacity with --capacity capacity.json".into(),
                    )),
                }
            }
        }
    }
    out
}

fn with_pg(
    p: Preflight,
    settings: &Settings,
    evidence: &Evidence,
    judge: impl FnOnce(&PgSnapshot) -> postgres::Judgement,
) -> Check {
    let (status, observed, limit, message) = match &evidence.postgres {
        Some(Ok(s)) => judge(s),
        Some(Err(e)) => (
            Status::Fail,
            None,
            None,
            format!("not checked: cannot read PostgreSQL: {e}"),
        ),
        None => (
            Status::Fail,
            None,
            None,
            format!(
                "not checked: {} is not set; set it to the production primary's URL (postgres://user:password@host:5432/db)",
                settings.postgres_url_env
            ),
        ),
    };
    Check {
        name: name(p),
        status,
        observed,
        warn: None,
        fail: limit,
        message,
    }
}

pub(crate) fn fail(name: &str, message: String) -> Check {
    Check {
        name: name.into(),
        status: Status::Fail,
        observed: None,
        warn: None,
        fail: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_that_could_not_look_fails_and_says_why() {
        let e = Evidence::default();
        let all = [
            Preflight::PgArchiving,
            Preflight::BackupFreshness,
            Preflight::ReplicationLag,
            Preflight::ConnectionHeadroom,
            Preflight::ConfigReview,
        ];
        let judged = judge(
            &all,
            &Settings::default(),
            &e,
            jiff::Timestamp::UNIX_EPOCH,
            |p| p.display().to_string(),
        );
        assert_eq!(judged.configuration, None);
        let c = judged.checks;
        assert_eq!(c.len(), 5);
        assert!(c.iter().all(|c| c.status == Status::Fail));
        assert!(
            c[0].message
                .contains("PEAKGATE_PREFLIGHT_PG_URL is not set")
        );
        assert!(c[1].message.contains("--backup-status FILE"));
        assert!(c[4].message.contains("--odoo-conf FILE"));
        let down = Evidence {
            postgres: Some(Err(
                "postgres://u:***@127.0.0.1:9/x: connection refused".into()
            )),
            ..Evidence::default()
        };
        let c = checks(
            &all[..1],
            &Settings::default(),
            &down,
            jiff::Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            c[0].message,
            "not checked: cannot read PostgreSQL: postgres://u:***@127.0.0.1:9/x: connection refused"
        );
    }

    #[test]
    fn the_review_needs_odoo_conf_and_manifests_together_and_reads_only_what_is_required() {
        let conf = Path::new("odoo.conf");
        let files = Files {
            odoo_conf: Some(conf),
            ..Files::default()
        };
        let s = Settings::default();
        let e = gather(&[Preflight::ConfigReview], &s, files).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--kubernetes: the configuration review needs"),
            "{e}"
        );
        let manifests = [PathBuf::from("odoo.yaml")];
        let only = Files {
            kubernetes: &manifests,
            ..Files::default()
        };
        let e = gather(&[Preflight::ConfigReview], &s, only).unwrap_err();
        assert!(e.to_string().starts_with("--odoo-conf: "), "{e}");
        // Not required: not read (these files do not exist), and no PostgreSQL is asked.
        let missing = Files {
            backup_status: Some(Path::new("/nonexistent/backup.json")),
            ..files
        };
        let e = gather(&[], &s, missing).unwrap();
        assert!(e.postgres.is_none() && e.backup.is_none() && e.deployment.is_none());
        // Required: a file that cannot be read is input to mend.
        let e = gather(&[Preflight::BackupFreshness], &s, missing).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/backup.json: cannot read"),
            "{e}"
        );
    }

    #[test]
    fn settings_are_checked_at_their_place() {
        let source = TomlFile {
            path: "policy.toml".into(),
            text: "recovery_point_objective = \"fortnight\"\n".into(),
        };
        let file: SettingsFile = source.parse().unwrap();
        let e = Settings::check(&source, file).unwrap_err().to_string();
        assert!(
            e.starts_with("policy.toml:1:28: `fortnight` is not a duration"),
            "{e}"
        );
        let source = TomlFile {
            path: "policy.toml".into(),
            text: "recovery_point_objective = \"5m\"\nbackup_max_age = \"1day\"\nworker_margin = 0.5\n".into(),
        };
        let s = Settings::check(&source, source.parse().unwrap()).unwrap();
        assert_eq!(s.recovery_point_objective, Duration::from_secs(300));
        assert_eq!(s.backup_max_age, Duration::from_secs(86_400));
        assert_eq!(s.worker_margin, 0.5);
        assert_eq!(s.time_margin, 0.5);
    }
}
