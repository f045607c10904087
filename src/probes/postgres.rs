//! The PostgreSQL probe: one dedicated connection (`application_name = peakgate-probe`) to the
//! watched database, reading `pg_stat_activity`, `pg_stat_database` and, where they exist,
//! Odoo's `ir_cron` and OCA's `queue_job` once per interval; and, between those samples,
//! `pg_stat_activity`'s wait events and open transactions ten times a second, since a lock
//! wait of a few tens of milliseconds is seldom caught by a sample once a second.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::{Client, NoTls, Statement};

use super::runner::Probe;
use super::track::{Reading, Readings};
use super::{OdooBackends, Shared};
use crate::plan::ProbeSpec;

/// The name the probe's own backend carries, so it can be told apart (and left out).
pub const APPLICATION_NAME: &str = "peakgate-probe";

/// `queue_job.state` values of OCA's queue_job; each gets a series even when zero.
const QUEUE_JOB_STATES: [&str; 7] = [
    "wait_dependencies",
    "pending",
    "enqueued",
    "started",
    "done",
    "cancelled",
    "failed",
];

/// Connections by state in the watched database; the total is server-wide because it is what
/// `max_connections` limits. The probe's own backend is left out of the per-database counts.
const ACTIVITY: &str = "
SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::float8,
  current_setting('max_connections')::float8,
  count(*) FILTER (WHERE state = 'active')::float8,
  count(*) FILTER (WHERE state = 'idle')::float8,
  count(*) FILTER (WHERE state = 'idle in transaction')::float8,
  count(*) FILTER (WHERE state = 'idle in transaction (aborted)')::float8,
  count(*) FILTER (WHERE application_name LIKE 'odoo%')::float8,
  count(*) FILTER (WHERE wait_event_type = 'Lock')::float8,
  coalesce(extract(epoch FROM max(clock_timestamp() - xact_start)), 0)::float8
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()";

/// Working backends of the watched database; of those, the ones waiting for a heavyweight
/// lock (a backend waiting on a lock is `active`); and the backends inside a transaction,
/// working or between two statements. An Odoo worker keeps its cursor's transaction open from
/// its first query to the commit at the end of the request (`odoo/sql_db.py`, `odoo/http.py`),
/// so its connection shows `idle in transaction` while Python runs between queries: the
/// connections a request holds are these, not only the `active` ones. One index-free scan of
/// the backends' shared memory array: cheap enough for [`WAIT_SAMPLE_EVERY`] (its round trip is
/// recorded as `wait_sample_ms`).
const WAITS: &str = "
SELECT count(*) FILTER (WHERE state = 'active')::float8,
       count(*) FILTER (WHERE wait_event_type = 'Lock')::float8,
       count(*) FILTER (WHERE state IN ('active', 'idle in transaction',
                                        'idle in transaction (aborted)'))::float8
FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend'
  AND pid <> pg_backend_pid()";

/// How often the wait events are sampled: 10 Hz.
pub const WAIT_SAMPLE_EVERY: Duration = Duration::from_millis(100);

const DATABASE: &str = "
SELECT xact_commit::float8, xact_rollback::float8, deadlocks::float8, conflicts::float8,
       temp_bytes::float8, blks_hit::float8, blks_read::float8
FROM pg_stat_database WHERE datname = current_database()";

/// Odoo stores `nextcall` as naive UTC.
const CRON: &str = "
SELECT greatest(0, coalesce(max(extract(epoch FROM (now() AT TIME ZONE 'UTC') - nextcall)), 0))::float8,
       count(*) FILTER (WHERE nextcall < now() AT TIME ZONE 'UTC')::float8
FROM ir_cron WHERE active";

const QUEUE_JOB: &str = "SELECT state::text, count(*)::float8 FROM queue_job GROUP BY state";

/// The wait-event samples taken since the probe's last interval sample.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct WaitTally {
    samples: u64,
    /// Σ active backends over the samples.
    active: f64,
    /// Σ backends waiting for a lock over the samples.
    waiting: f64,
    /// Σ backends inside a transaction over the samples.
    in_transaction: f64,
    /// Σ round-trip time of the samples, seconds.
    query_s: f64,
}

impl WaitTally {
    /// `lock_wait_share` (the share of working backends' time spent waiting for a lock:
    /// Σ waiting / Σ active, 0 when nothing worked), `connections_in_transaction` (the mean
    /// number of backends inside a transaction: the connections held, for Little's law),
    /// `wait_samples` and `wait_sample_ms`.
    fn readings(&self, out: &mut Readings) {
        if self.samples == 0 {
            return;
        }
        let share = if self.active > 0.0 {
            self.waiting / self.active
        } else {
            0.0
        };
        out.push(("lock_wait_share".into(), Reading::Gauge(share)));
        out.push((
            "connections_in_transaction".into(),
            Reading::Gauge(self.in_transaction / self.samples as f64),
        ));
        out.push(("wait_samples".into(), Reading::Gauge(self.samples as f64)));
        out.push((
            "wait_sample_ms".into(),
            Reading::Gauge(1000.0 * self.query_s / self.samples as f64),
        ));
    }
}

/// Samples the wait events every [`WAIT_SAMPLE_EVERY`] into `tally` until the connection
/// fails (the interval sample then reports the failure and reconnects).
async fn sample_waits(client: Arc<Client>, statement: Statement, tally: Arc<Mutex<WaitTally>>) {
    let mut tick = tokio::time::interval(WAIT_SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let sent = tokio::time::Instant::now();
        let Ok(row) = client.query_one(&statement, &[]).await else {
            return;
        };
        let took = sent.elapsed().as_secs_f64();
        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
        t.samples += 1;
        t.active += row.get::<_, f64>(0);
        t.waiting += row.get::<_, f64>(1);
        t.in_transaction += row.get::<_, f64>(2);
        t.query_s += took;
    }
}

struct Session {
    client: Arc<Client>,
    activity: Statement,
    database: Statement,
    cron: Option<Statement>,
    queue_job: Option<Statement>,
    /// Why the connection ended, as the connection task saw it.
    closed: tokio::sync::watch::Receiver<Option<String>>,
    waits: Arc<Mutex<WaitTally>>,
    /// The wait sampler, stopped with the session.
    sampler: tokio::task::AbortHandle,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.sampler.abort();
    }
}

pub struct PostgresProbe {
    config: Result<tokio_postgres::Config, String>,
    session: Option<Session>,
    /// Odoo tables not found at the last connection.
    missing: Vec<String>,
    /// Block hits and reads at the previous sample, for the interval's cache hit ratio.
    blocks: Option<(f64, f64)>,
    odoo_backends: OdooBackends,
}

impl PostgresProbe {
    pub fn new(spec: &ProbeSpec, shared: &Shared) -> Self {
        let config = spec
            .url
            .as_ref()
            .ok_or_else(|| "no URL".to_string())
            .and_then(|u| tokio_postgres::Config::from_str(u.expose()).map_err(|e| e.to_string()))
            .map(|mut c| {
                c.application_name(APPLICATION_NAME)
                    .connect_timeout(spec.timeout)
                    .keepalives_idle(Duration::from_secs(30));
                if let Some(db) = &spec.database {
                    c.dbname(db);
                }
                c
            });
        PostgresProbe {
            config,
            session: None,
            missing: Vec::new(),
            blocks: None,
            odoo_backends: shared.odoo_backends.clone(),
        }
    }
}

impl Probe for PostgresProbe {
    async fn connect(&mut self) -> Result<(), String> {
        let config = self.config.as_ref().map_err(Clone::clone)?;
        let (client, connection) = config.connect(NoTls).await.map_err(|e| describe(&e))?;
        let (closed_tx, closed) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            let why = match connection.await {
                Ok(()) => "connection closed".to_string(),
                Err(e) => describe(&e),
            };
            let _ = closed_tx.send(Some(why));
        });
        let err = |e: tokio_postgres::Error| describe(&e);
        let tables = client
            .query_one(
                "SELECT to_regclass('ir_cron') IS NOT NULL, to_regclass('queue_job') IS NOT NULL",
                &[],
            )
            .await
            .map_err(err)?;
        let (has_cron, has_queue_job): (bool, bool) = (tables.get(0), tables.get(1));
        self.missing = [("ir_cron", has_cron), ("queue_job", has_queue_job)]
            .iter()
            .filter(|(_, found)| !found)
            .map(|(t, _)| t.to_string())
            .collect();
        let cron = match has_cron {
            true => Some(client.prepare(CRON).await.map_err(err)?),
            false => None,
        };
        let queue_job = match has_queue_job {
            true => Some(client.prepare(QUEUE_JOB).await.map_err(err)?),
            false => None,
        };
        let waits_statement = client.prepare(WAITS).await.map_err(err)?;
        let activity = client.prepare(ACTIVITY).await.map_err(err)?;
        let database = client.prepare(DATABASE).await.map_err(err)?;
        let client = Arc::new(client);
        let waits = Arc::new(Mutex::new(WaitTally::default()));
        let sampler = tokio::spawn(sample_waits(client.clone(), waits_statement, waits.clone()))
            .abort_handle();
        self.session = Some(Session {
            activity,
            database,
            cron,
            queue_job,
            client,
            closed,
            waits,
            sampler,
        });
        Ok(())
    }

    async fn sample(&mut self) -> Result<Readings, String> {
        let s = self.session.as_ref().ok_or("not connected")?;
        let why = |e: tokio_postgres::Error| {
            // The connection task knows why a backend went away (e.g. it was terminated).
            s.closed.borrow().clone().unwrap_or_else(|| describe(&e))
        };
        // Sent together: one round trip for all four.
        let cron = async {
            match &s.cron {
                Some(st) => s.client.query_one(st, &[]).await.map(Some),
                None => Ok(None),
            }
        };
        let queue_job = async {
            match &s.queue_job {
                Some(st) => s.client.query(st, &[]).await.map(Some),
                None => Ok(None),
            }
        };
        let (activity, database, cron, queue_job) = tokio::try_join!(
            s.client.query_one(&s.activity, &[]),
            s.client.query_opt(&s.database, &[]),
            cron,
            queue_job
        )
        .map_err(why)?;

        let mut out = Readings::new();
        let g = |out: &mut Readings, name: &str, v: f64| out.push((name.into(), Reading::Gauge(v)));
        let a = |i: usize| activity.get::<_, f64>(i);
        for (i, name) in [
            "connections_total",
            "max_connections",
            "connections_active",
            "connections_idle",
            "connections_idle_in_transaction",
            "connections_idle_in_transaction_aborted",
            "odoo_backends",
            "lock_waits",
            "oldest_xact_age_s",
        ]
        .iter()
        .enumerate()
        {
            g(&mut out, name, a(i));
        }
        self.odoo_backends.set(Some(a(6) as u64));
        let tally = std::mem::take(&mut *s.waits.lock().unwrap_or_else(|p| p.into_inner()));
        tally.readings(&mut out);
        if let Some(d) = database {
            let c = |out: &mut Readings, name: &str, i: usize| {
                out.push((name.into(), Reading::Counter(d.get::<_, f64>(i))))
            };
            c(&mut out, "commits_per_s", 0);
            c(&mut out, "rollbacks_per_s", 1);
            c(&mut out, "deadlocks_per_s", 2);
            c(&mut out, "conflicts_per_s", 3);
            c(&mut out, "temp_bytes_per_s", 4);
            let (hit, read): (f64, f64) = (d.get(5), d.get(6));
            if let Some((hit0, read0)) = self.blocks.replace((hit, read)) {
                let (dh, dr) = (hit - hit0, read - read0);
                // No block touched in the interval: no ratio to report.
                if dh >= 0.0 && dr >= 0.0 && dh + dr > 0.0 {
                    g(&mut out, "cache_hit_ratio", dh / (dh + dr));
                }
            }
        }
        if let Some(row) = cron {
            g(&mut out, "cron_max_lag_s", row.get(0));
            g(&mut out, "crons_overdue", row.get(1));
        }
        if let Some(rows) = queue_job {
            let mut counts: std::collections::BTreeMap<String, f64> = QUEUE_JOB_STATES
                .iter()
                .map(|s| (s.to_string(), 0.0))
                .collect();
            for r in rows {
                let state: Option<String> = r.get(0);
                *counts
                    .entry(state.unwrap_or_else(|| "null".into()))
                    .or_default() += r.get::<_, f64>(1);
            }
            for (state, n) in counts {
                g(&mut out, &format!("queue_job_{state}"), n);
            }
        }
        Ok(out)
    }

    fn disconnect(&mut self) {
        self.session = None;
        self.odoo_backends.set(None);
    }

    fn missing(&self) -> Vec<String> {
        self.missing.clone()
    }
}

/// A PostgreSQL error in the server's words (`db error` alone says nothing).
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_wait_share_and_held_connections_are_means_over_the_samples() {
        let get = |t: &WaitTally, n: &str| {
            let mut out = Readings::new();
            t.readings(&mut out);
            out.into_iter().find(|(k, _)| k == n).map(|(_, v)| v)
        };
        // Ten samples: 4 backends working in each, one of them waiting in 5 of the samples.
        let t = WaitTally {
            samples: 10,
            active: 40.0,
            waiting: 5.0,
            in_transaction: 55.0,
            query_s: 0.004,
        };
        assert_eq!(get(&t, "lock_wait_share"), Some(Reading::Gauge(0.125)));
        // 5.5 backends inside a transaction on average: the 4 working and 1.5 between queries.
        assert_eq!(
            get(&t, "connections_in_transaction"),
            Some(Reading::Gauge(5.5))
        );
        assert_eq!(get(&t, "wait_samples"), Some(Reading::Gauge(10.0)));
        assert_eq!(get(&t, "wait_sample_ms"), Some(Reading::Gauge(0.4)));
        // Nothing worked: no time to wait in.
        let idle = WaitTally {
            samples: 10,
            ..WaitTally::default()
        };
        assert_eq!(get(&idle, "lock_wait_share"), Some(Reading::Gauge(0.0)));
        // No sample in the interval (the sampler was reconnecting): no reading at all.
        assert_eq!(get(&WaitTally::default(), "lock_wait_share"), None);
    }
}
