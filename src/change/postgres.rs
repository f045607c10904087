//! The live PostgreSQL the pre-flight checks read: one snapshot of its WAL archiver
//! (`pg_stat_archiver`), its standbys (`pg_stat_replication`) and its connections, read on
//! the server's own clock; and the judgement of each, pure, on that snapshot.

use std::time::Duration;

use super::preflight::Settings;
use crate::result::Status;
use crate::secrets::{Scrubber, redact_url};
use crate::verdict::fmt_num;

/// A check's outcome before it is named: status, observed, threshold, message.
pub type Judgement = (Status, Option<f64>, Option<f64>, String);

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

/// An error with its causes (`error connecting to server: Connection refused (os error
/// 111)`, `db error: FATAL: database "x" does not exist`): the client's own text says little.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cur = c.source();
    }
    text
}

/// Reads the archiver, the replicas and the connections of the server at `url`, within
/// `timeout`. The error says why, without the URL's password.
pub fn read_postgres(url: &str, timeout: Duration) -> Result<PgSnapshot, String> {
    // Only the URL form: its password is found and kept out of every message and the record.
    // libpq's keyword=value form (`host=... password=...`) is not read, as the probes do not.
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(
            "not a postgres:// URL (write postgres://user:password@host:5432/db; the keyword=value form is not read, so its password cannot reach the record)".into(),
        );
    }
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
            .map_err(|e| causes(&e))?;
        tokio::spawn(connection);
        let row = client
            .query_one(SNAPSHOT, &[])
            .await
            .map_err(|e| causes(&e))?;
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

fn ago(s: f64) -> String {
    humantime::format_duration(Duration::from_secs(s.max(0.0).round() as u64)).to_string()
}

/// WAL archiving: on, recent within the recovery point objective, not failing since it last
/// succeeded. Observed: seconds since the last archived segment.
pub fn archiving(s: &PgSnapshot, rpo: Duration) -> Judgement {
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
pub fn replication(s: &PgSnapshot, settings: &Settings) -> Judgement {
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
pub fn headroom(s: &PgSnapshot, min_free: u32) -> Judgement {
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
    use crate::change::policy::Preflight;
    use crate::change::preflight::{Evidence, checks};
    use crate::result::Check;

    fn snapshot() -> PgSnapshot {
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
        checks(&[p], settings, &e, jiff::Timestamp::UNIX_EPOCH)
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
    fn a_keyword_value_connection_string_is_refused_without_echoing_its_password() {
        let e = read_postgres(
            "host=127.0.0.1 port=5432 user=postgres password=Hunter2pw dbname=postgres",
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(e.starts_with("not a postgres:// URL"), "{e}");
        assert!(!e.contains("Hunter2pw"), "{e}");
        // A refused connection says why, and the URL's password stays out.
        let e = read_postgres(
            "postgres://postgres:Hunter2pw@127.0.0.1:9/postgres",
            Duration::from_millis(500),
        )
        .unwrap_err();
        assert!(!e.contains("Hunter2pw"), "{e}");
        assert!(e.to_lowercase().contains("refused"), "{e}");
    }
}
