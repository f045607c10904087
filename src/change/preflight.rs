//! Pre-flight checks against the real systems, each a check of the change's verdict with its
//! evidence: PostgreSQL WAL archiving (`pg_stat_archiver`), the last full backup (a pgBackRest
//! or WAL-G status file, [`super::backup`]), replication lag (`pg_stat_replication`),
//! connection headroom, and the deployment's configuration against the measured capacity
//! ([`super::config_review`]).
//!
//! Reading the systems ([`read_postgres`]) is kept apart from judging them ([`judge`]): the
//! judgement is pure, on a [`PgSnapshot`] and the files read, so every rule is tested without
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
use crate::config::ConfigError;
use crate::result::{Check, Status};
use crate::secrets::{Scrubber, redact_url};
use crate::verdict::fmt_num;

/// The variable holding the PostgreSQL URL when the policy names none.
pub const DEFAULT_URL_ENV: &str = "PEAKGATE_PG_URL";

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

/// What PostgreSQL said, at one moment; ages are measured on the server's own clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PgSnapshot {
    /// The URL, password removed.
    pub target: String,
    /// `archive_mode`: `off`, `on` or `always`.
    pub archive_mode: String,
    /// Whether `archive_command` or `archive_library` is set (their text is not kept: an
    /// archive command can hold a storage key).
    pub archiver_set: bool,
    /// `pg_stat_archiver`.
    pub archived_count: i64,
    pub last_archived_wal: Option<String>,
    /// Seconds since `last_archived_time`.
    pub last_archived_age_s: Option<f64>,
    pub failed_count: i64,
    pub last_failed_wal: Option<String>,
    /// Seconds since `last_failed_time`.
    pub last_failed_age_s: Option<f64>,
    /// `pg_stat_replication`, one entry per standby.
    pub replicas: Vec<Replica>,
    pub max_connections: u32,
    pub superuser_reserved_connections: u32,
    /// `reserved_connections` (PostgreSQL 16 and later; 0 before).
    pub reserved_connections: u32,
    /// Client backends connected now.
    pub in_use: u32,
}

impl PgSnapshot {
    /// Connections ordinary roles can open: max_connections minus the reserved ones.
    pub fn usable_connections(&self) -> i64 {
        i64::from(self.max_connections)
            - i64::from(self.superuser_reserved_connections)
            - i64::from(self.reserved_connections)
    }
}

/// One standby streaming from the primary.
#[derive(Debug, Clone, PartialEq)]
pub struct Replica {
    /// `application_name`, else `client_addr`.
    pub name: String,
    pub state: String,
    pub sync_state: String,
    /// `replay_lag` in seconds (`None` when the standby has caught up and nothing is written).
    pub replay_lag_s: Option<f64>,
    /// WAL the standby has not replayed yet, bytes.
    pub replay_lag_bytes: Option<f64>,
}

/// Everything the checks judge; `None` where it was not given or could not be read.
#[derive(Debug, Default)]
pub struct Evidence {
    /// The live PostgreSQL, or why it could not be read (secrets removed).
    pub postgres: Option<Result<PgSnapshot, String>>,
    pub backup: Option<BackupStatus>,
    pub deployment: Option<Deployment>,
}

const SNAPSHOT: &str = "SELECT current_setting('archive_mode'), \
       coalesce(current_setting('archive_command', true), '') NOT IN ('', '(disabled)') \
         OR coalesce(current_setting('archive_library', true), '') <> '', \
       a.archived_count, a.last_archived_wal, \
       EXTRACT(EPOCH FROM now() - a.last_archived_time)::float8, \
       a.failed_count, a.last_failed_wal, \
       EXTRACT(EPOCH FROM now() - a.last_failed_time)::float8, \
       current_setting('max_connections')::int, \
       current_setting('superuser_reserved_connections')::int, \
       coalesce(current_setting('reserved_connections', true), '0')::int, \
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int \
  FROM pg_stat_archiver a";

const REPLICAS: &str = "SELECT coalesce(nullif(application_name, ''), client_addr::text, 'unnamed'), \
       coalesce(state, ''), coalesce(sync_state, ''), \
       EXTRACT(EPOCH FROM replay_lag)::float8, \
       CASE WHEN pg_is_in_recovery() THEN NULL \
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 END \
  FROM pg_stat_replication ORDER BY 1";

/// Reads the archiver, the replicas and the connections of the server at `url`, within
/// `timeout`. The error says why, without the URL's password.
pub fn read_postgres(url: &str, timeout: Duration) -> Result<PgSnapshot, String> {
    let scrub = Scrubber::default().with_url(url);
    let target = redact_url(url);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the PostgreSQL client: {e}"))?;
    let read = async {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| format!("not a PostgreSQL URL: {e}"))?;
        config
            .application_name("peakgate-gate")
            .connect_timeout(timeout);
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let row = client
            .query_one(SNAPSHOT, &[])
            .await
            .map_err(|e| e.to_string())?;
        let count = |i: usize| row.get::<_, i32>(i).max(0) as u32;
        let mut snap = PgSnapshot {
            target: target.clone(),
            archive_mode: row.get(0),
            archiver_set: row.get(1),
            archived_count: row.get(2),
            last_archived_wal: row.get(3),
            last_archived_age_s: row.get(4),
            failed_count: row.get(5),
            last_failed_wal: row.get(6),
            last_failed_age_s: row.get(7),
            max_connections: count(8),
            superuser_reserved_connections: count(9),
            reserved_connections: count(10),
            in_use: count(11),
            replicas: Vec::new(),
        };
        for r in client
            .query(REPLICAS, &[])
            .await
            .map_err(|e| e.to_string())?
        {
            snap.replicas.push(Replica {
                name: r.get(0),
                state: r.get(1),
                sync_state: r.get(2),
                replay_lag_s: r.get(3),
                replay_lag_bytes: r.get(4),
            });
        }
        Ok::<_, String>(snap)
    };
    match rt.block_on(async { tokio::time::timeout(timeout * 2, read).await }) {
        Ok(Ok(snap)) => Ok(snap),
        Ok(Err(e)) => Err(format!("{target}: {}", scrub.scrub(&e))),
        Err(_) => Err(format!(
            "{target}: no answer within {}",
            humantime::format_duration(timeout * 2)
        )),
    }
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

/// The check's name for a pre-flight check.
pub fn name(p: Preflight) -> String {
    format!("preflight {}", p.name())
}

/// Judges each required pre-flight check, in the policy's order. `now` is the gate's clock,
/// for the backup's age.
pub fn judge(
    required: &[Preflight],
    settings: &Settings,
    evidence: &Evidence,
    now: jiff::Timestamp,
) -> Vec<Check> {
    let mut out = Vec::new();
    for &p in required {
        match p {
            Preflight::PgArchiving => out.push(with_pg(p, settings, evidence, |s| {
                archiving(s, settings.recovery_point_objective)
            })),
            Preflight::ReplicationLag => {
                out.push(with_pg(p, settings, evidence, |s| replication(s, settings)))
            }
            Preflight::ConnectionHeadroom => out.push(with_pg(p, settings, evidence, |s| {
                headroom(s, settings.min_free_connections)
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
    judge: impl FnOnce(&PgSnapshot) -> (Status, Option<f64>, Option<f64>, String),
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

fn ago(s: f64) -> String {
    humantime::format_duration(Duration::from_secs(s.max(0.0).round() as u64)).to_string()
}

/// WAL archiving: on, recent within the recovery point objective, not failing since it last
/// succeeded. Observed: seconds since the last archived segment.
fn archiving(s: &PgSnapshot, rpo: Duration) -> (Status, Option<f64>, Option<f64>, String) {
    let rpo_s = rpo.as_secs_f64();
    let at = &s.target;
    if s.archive_mode == "off" {
        return (
            Status::Fail,
            None,
            Some(rpo_s),
            format!(
                "{at}: WAL archiving is off (archive_mode = off): no point-in-time recovery, nothing meets the recovery point objective of {}; set archive_mode = on and archive_command (or archive_library) in postgresql.conf",
                humantime::format_duration(rpo)
            ),
        );
    }
    if !s.archiver_set {
        return (
            Status::Fail,
            None,
            Some(rpo_s),
            format!(
                "{at}: archive_mode = {} but neither archive_command nor archive_library is set: WAL is kept, never archived",
                s.archive_mode
            ),
        );
    }
    let last = s.last_archived_wal.as_deref().unwrap_or("none");
    let Some(age) = s.last_archived_age_s else {
        return (
            Status::Fail,
            None,
            Some(rpo_s),
            format!(
                "{at}: archiving is on but pg_stat_archiver shows no archived WAL ({} failures): nothing is recoverable from the archive yet",
                s.failed_count
            ),
        );
    };
    let failing = match (s.last_failed_age_s, &s.last_failed_wal) {
        (Some(f), Some(wal)) if f < age => Some(format!(
            "; archiving is failing: {wal} failed {} ago, after the last success ({} failures counted)",
            ago(f),
            s.failed_count
        )),
        _ => None,
    };
    let base = format!(
        "{at}: archive_mode = {}, last archived WAL {last} {} ago ({} archived, {} failed), recovery point objective {}",
        s.archive_mode,
        ago(age),
        s.archived_count,
        s.failed_count,
        humantime::format_duration(rpo)
    );
    let status = if failing.is_some() || age > rpo_s {
        Status::Fail
    } else {
        Status::Pass
    };
    let stale = if age > rpo_s {
        "; the last archived WAL is older than the objective (a quiet server archives nothing: set archive_timeout below it)"
    } else {
        ""
    };
    (
        status,
        Some(age),
        Some(rpo_s),
        format!("{base}{stale}{}", failing.unwrap_or_default()),
    )
}

/// Replicas: each streaming, within the lag; as many as the policy says, when it says.
/// Observed: the largest replay lag, seconds.
fn replication(s: &PgSnapshot, settings: &Settings) -> (Status, Option<f64>, Option<f64>, String) {
    let max_s = settings.replication_max_lag.as_secs_f64();
    let at = &s.target;
    let n = s.replicas.len();
    if n == 0 {
        return match settings.replicas {
            Some(want) if want > 0 => (
                Status::Fail,
                None,
                Some(max_s),
                format!(
                    "{at}: the policy expects {want} replica(s) and pg_stat_replication shows none streaming"
                ),
            ),
            _ => (
                Status::Pass,
                None,
                Some(max_s),
                format!(
                    "{at}: no replicas are configured (pg_stat_replication is empty); nothing to lag"
                ),
            ),
        };
    }
    let worst = s
        .replicas
        .iter()
        .filter_map(|r| r.replay_lag_s)
        .fold(0.0_f64, f64::max);
    let mut problems = Vec::new();
    if let Some(want) = settings.replicas
        && (n as u32) < want
    {
        problems.push(format!("{n} of the {want} replicas expected are streaming"));
    }
    let each: Vec<String> = s
        .replicas
        .iter()
        .map(|r| {
            let lag = r.replay_lag_s.map_or("caught up".to_string(), |l| {
                format!("replay lag {}s", fmt_num(l))
            });
            let bytes = r
                .replay_lag_bytes
                .map_or(String::new(), |b| format!(", {} bytes behind", fmt_num(b)));
            if r.state != "streaming" {
                problems.push(format!("{} is {}, not streaming", r.name, r.state));
            }
            if r.replay_lag_s.is_some_and(|l| l > max_s) {
                problems.push(format!(
                    "{} lags {}s, above {}s",
                    r.name,
                    fmt_num(r.replay_lag_s.unwrap_or(0.0)),
                    fmt_num(max_s)
                ));
            }
            format!("{} ({}, {}; {lag}{bytes})", r.name, r.state, r.sync_state)
        })
        .collect();
    let status = if problems.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let why = if problems.is_empty() {
        String::new()
    } else {
        format!(": {}", problems.join("; "))
    };
    (
        status,
        Some(worst),
        Some(max_s),
        format!(
            "{at}: {n} replica(s), the policy allows {}s of lag{why}; {}",
            fmt_num(max_s),
            each.join(", ")
        ),
    )
}

/// Connections free for ordinary roles now. Observed: that count.
fn headroom(s: &PgSnapshot, min_free: u32) -> (Status, Option<f64>, Option<f64>, String) {
    let usable = s.usable_connections();
    let free = usable - i64::from(s.in_use);
    let status = if free < i64::from(min_free) {
        Status::Fail
    } else {
        Status::Pass
    };
    let reserved = if s.reserved_connections > 0 {
        format!(" − reserved_connections {}", s.reserved_connections)
    } else {
        String::new()
    };
    (
        status,
        Some(free as f64),
        Some(f64::from(min_free)),
        format!(
            "{}: {free} connections free = max_connections {} − superuser_reserved_connections {}{reserved} − {} in use; the policy keeps at least {min_free} free",
            s.target, s.max_connections, s.superuser_reserved_connections, s.in_use
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn snapshot() -> PgSnapshot {
        PgSnapshot {
            target: "postgres://odoo:***@db:5432/retail".into(),
            archive_mode: "on".into(),
            archiver_set: true,
            archived_count: 120,
            last_archived_wal: Some("00000001000000000000002A".into()),
            last_archived_age_s: Some(90.0),
            failed_count: 0,
            last_failed_wal: None,
            last_failed_age_s: None,
            replicas: Vec::new(),
            max_connections: 200,
            superuser_reserved_connections: 3,
            reserved_connections: 0,
            in_use: 40,
        }
    }

    fn one(p: Preflight, s: PgSnapshot, settings: &Settings) -> Check {
        let e = Evidence {
            postgres: Some(Ok(s)),
            ..Evidence::default()
        };
        judge(&[p], settings, &e, jiff::Timestamp::UNIX_EPOCH)
            .pop()
            .unwrap()
    }

    #[test]
    fn archiving_off_is_reported_never_passed() {
        let s = PgSnapshot {
            archive_mode: "off".into(),
            archiver_set: false,
            last_archived_age_s: None,
            ..snapshot()
        };
        let c = one(Preflight::PgArchiving, s, &Settings::default());
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.message.starts_with(
                "postgres://odoo:***@db:5432/retail: WAL archiving is off (archive_mode = off)"
            ),
            "{}",
            c.message
        );
        assert_eq!(c.fail, Some(900.0));
    }

    #[test]
    fn archiving_is_judged_against_the_recovery_point_objective_and_failures_since_success() {
        let ok = one(Preflight::PgArchiving, snapshot(), &Settings::default());
        assert_eq!(ok.status, Status::Pass, "{}", ok.message);
        assert_eq!(ok.observed, Some(90.0));
        assert!(
            ok.message
                .contains("last archived WAL 00000001000000000000002A 1m 30s ago"),
            "{}",
            ok.message
        );

        let old = PgSnapshot {
            last_archived_age_s: Some(3600.0),
            ..snapshot()
        };
        let c = one(Preflight::PgArchiving, old, &Settings::default());
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.message.contains("older than the objective"),
            "{}",
            c.message
        );

        // A failure after the last success: failing now.
        let failing = PgSnapshot {
            failed_count: 3,
            last_failed_wal: Some("00000001000000000000002B".into()),
            last_failed_age_s: Some(20.0),
            ..snapshot()
        };
        let c = one(Preflight::PgArchiving, failing, &Settings::default());
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.message.contains("archiving is failing: 00000001000000000000002B failed 20s ago, after the last success (3 failures counted)"),
            "{}",
            c.message
        );
        // A failure before the last success is history.
        let recovered = PgSnapshot {
            failed_count: 3,
            last_failed_wal: Some("000000010000000000000020".into()),
            last_failed_age_s: Some(600.0),
            ..snapshot()
        };
        assert_eq!(
            one(Preflight::PgArchiving, recovered, &Settings::default()).status,
            Status::Pass
        );
        // On without a command archives nothing.
        let no_command = PgSnapshot {
            archiver_set: false,
            ..snapshot()
        };
        assert_eq!(
            one(Preflight::PgArchiving, no_command, &Settings::default()).status,
            Status::Fail
        );
    }

    #[test]
    fn replication_lag_is_judged_per_replica_and_missing_replicas_fail_when_expected() {
        let settings = Settings::default();
        let c = one(Preflight::ReplicationLag, snapshot(), &settings);
        assert_eq!(c.status, Status::Pass);
        assert!(
            c.message.contains("no replicas are configured"),
            "{}",
            c.message
        );
        let expected = Settings {
            replicas: Some(1),
            ..Settings::default()
        };
        assert_eq!(
            one(Preflight::ReplicationLag, snapshot(), &expected).status,
            Status::Fail
        );
        let replica = |lag: f64, state: &str| Replica {
            name: "standby-1".into(),
            state: state.into(),
            sync_state: "async".into(),
            replay_lag_s: Some(lag),
            replay_lag_bytes: Some(4096.0),
        };
        let fine = PgSnapshot {
            replicas: vec![replica(0.5, "streaming")],
            ..snapshot()
        };
        let c = one(Preflight::ReplicationLag, fine, &expected);
        assert_eq!(c.status, Status::Pass, "{}", c.message);
        assert_eq!(c.observed, Some(0.5));
        let behind = PgSnapshot {
            replicas: vec![replica(75.0, "streaming")],
            ..snapshot()
        };
        let c = one(Preflight::ReplicationLag, behind, &expected);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.message.contains("standby-1 lags 75s, above 60s"),
            "{}",
            c.message
        );
        let catching_up = PgSnapshot {
            replicas: vec![replica(1.0, "catchup")],
            ..snapshot()
        };
        assert_eq!(
            one(Preflight::ReplicationLag, catching_up, &expected).status,
            Status::Fail
        );
    }

    #[test]
    fn connection_headroom_is_max_minus_reserved_minus_in_use() {
        let c = one(
            Preflight::ConnectionHeadroom,
            snapshot(),
            &Settings::default(),
        );
        assert_eq!(c.status, Status::Pass);
        assert_eq!(c.observed, Some(157.0));
        let full = PgSnapshot {
            in_use: 190,
            reserved_connections: 2,
            ..snapshot()
        };
        let c = one(Preflight::ConnectionHeadroom, full, &Settings::default());
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.observed, Some(5.0));
        assert!(
            c.message.contains("5 connections free = max_connections 200 − superuser_reserved_connections 3 − reserved_connections 2 − 190 in use"),
            "{}",
            c.message
        );
    }

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
        let checks = judge(&all, &Settings::default(), &e, jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(checks.len(), 5);
        assert!(checks.iter().all(|c| c.status == Status::Fail));
        assert!(checks[0].message.contains("PEAKGATE_PG_URL is not set"));
        assert!(checks[1].message.contains("--backup-status FILE"));
        assert!(checks[4].message.contains("--odoo-conf FILE"));
        let down = Evidence {
            postgres: Some(Err(
                "postgres://u:***@127.0.0.1:9/x: connection refused".into()
            )),
            ..Evidence::default()
        };
        let c = judge(
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
