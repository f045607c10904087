//! The PostgreSQL backend: every call runs real SQL on a retail schema in one REPEATABLE READ
//! transaction per request, retried like Odoo's on serialization failures, deadlocks and
//! lock timeouts; each HTTP worker has its own connection pool of `db_maxconn` connections
//! named `odoo-<pid>-<worker>`; cron threads run on their own connections; sessions live in
//! Redis (as `session_redis` keeps them) or in memory.

mod calls;
mod cron;
mod pos;
mod routes;
mod schema;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rand::RngExt;
use serde_json::{Value, json};
use tokio_postgres::NoTls;
use tokio_postgres::config::Config as PgConfig;
use tokio_postgres::error::SqlState;
use tokio_util::sync::CancellationToken;

use super::config::StandinConfig;
use super::odoo::{Incoming, Odoo, Reply, error_envelope};
use super::sessions::SessionStore;
use calls::{CallError, SqlCall};

/// Odoo's attempts per request before the client sees the error.
const MAX_TRIES: u32 = 5;

/// How the PostgreSQL backend is set up (from `peakgate standin` flags).
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/dbname`; the database is created when missing.
    pub url: String,
    /// Sessions in Redis when set, else in memory.
    pub redis_url: Option<String>,
    /// Connections per worker's pool (Odoo's `db_maxconn`).
    pub db_maxconn: usize,
    /// Cron threads (Odoo's `max_cron_threads`).
    pub max_cron_threads: usize,
    /// Drop and recreate the database first.
    pub reset: bool,
    /// Products to seed.
    pub products: i32,
    /// Warehouses (stores) to seed.
    pub warehouses: i32,
    /// Factor on Odoo's retry back-off `uniform(0, 2**try)` s (1.0 is Odoo's; tests use less).
    pub backoff_scale: f64,
    /// How long a request waits for a pooled connection before `PoolError`.
    pub pool_timeout: Duration,
}

/// Counters the stand-in exposes at `/peakgate/standin/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Transactions retried after a serialization failure, deadlock or lock timeout.
    pub retries: AtomicU64,
    /// Requests that ran out of tries: the client got `SerializationFailure`.
    pub serialization_failures: AtomicU64,
    /// Connections left idle in transaction (`conn-leak`).
    pub leaked_connections: AtomicU64,
    /// Requests that found their worker's pool exhausted.
    pub pool_timeouts: AtomicU64,
}

/// Why the backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("--pg-url `{0}` is not a PostgreSQL URL: {1}")]
    Url(String, String),
    #[error("PostgreSQL at {url}: {source}")]
    Connect {
        url: String,
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL: {0}")]
    Sql(#[from] tokio_postgres::Error),
    #[error("{0}")]
    Sessions(#[from] super::sessions::SessionError),
    #[error("database `{0}` holds another schema (version {1}); start with --reset to rebuild it")]
    Schema(String, i32),
}

/// The PostgreSQL backend.
pub struct PgBackend {
    config: StandinConfig,
    opts: PgOptions,
    /// One pool per HTTP worker.
    pools: Vec<Pool>,
    sessions: SessionStore,
    /// Answers for calls that touch no table (version, health, unknown methods).
    memory: Odoo,
    pub stats: Stats,
    hot_products: i32,
}

/// The database name and the same server's `postgres` database, from the URL.
fn configs(url: &str) -> Result<(PgConfig, PgConfig, String), PgError> {
    let cfg = PgConfig::from_str(url).map_err(|e| PgError::Url(url.to_string(), e.to_string()))?;
    let db = cfg.get_dbname().unwrap_or("peakgate_standin").to_string();
    let mut target = cfg.clone();
    target.dbname(&db);
    let mut admin = cfg;
    admin.dbname("postgres");
    Ok((target, admin, db))
}

async fn connect(cfg: &PgConfig, url: &str) -> Result<tokio_postgres::Client, PgError> {
    let (client, conn) = cfg
        .connect(NoTls)
        .await
        .map_err(|source| PgError::Connect {
            url: url.to_string(),
            source,
        })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

impl PgBackend {
    /// Creates (or reuses) the database and schema, opens the pools and starts the crons.
    pub async fn open(
        config: StandinConfig,
        opts: PgOptions,
        shutdown: CancellationToken,
    ) -> Result<Arc<PgBackend>, PgError> {
        let (target, admin_cfg, db) = configs(&opts.url)?;
        let shown = redact(&opts.url);
        let admin = connect(&admin_cfg, &shown).await?;
        let quoted = format!("\"{}\"", db.replace('"', "\"\""));
        if opts.reset {
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
                .await?;
        }
        if admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
            .await?
            .is_none()
        {
            admin
                .batch_execute(&format!("CREATE DATABASE {quoted}"))
                .await?;
        }
        drop(admin);
        let setup = connect(&target, &shown).await?;
        let has_schema = setup
            .query_one("SELECT to_regclass('peakgate_meta') IS NOT NULL", &[])
            .await?
            .get::<_, bool>(0);
        if !has_schema {
            schema::create(&setup, opts.products, opts.warehouses).await?;
        }
        let meta = setup
            .query_one(
                "SELECT schema_version, products, warehouses FROM peakgate_meta",
                &[],
            )
            .await?;
        let version: i32 = meta.get(0);
        if version != schema::SCHEMA_VERSION {
            return Err(PgError::Schema(db, version));
        }
        let (products, warehouses): (i32, i32) = (meta.get(1), meta.get(2));
        drop(setup);

        let pid = std::process::id();
        let mut pools = Vec::with_capacity(config.workers);
        for worker in 0..config.workers {
            let mut cfg = target.clone();
            cfg.application_name(format!("odoo-{pid}-{worker}"));
            let manager = Manager::from_config(
                cfg,
                NoTls,
                ManagerConfig {
                    recycling_method: RecyclingMethod::Fast,
                },
            );
            let pool = Pool::builder(manager)
                .max_size(opts.db_maxconn)
                .wait_timeout(Some(opts.pool_timeout))
                .runtime(Runtime::Tokio1)
                .build()
                .map_err(|e| PgError::Url(shown.clone(), e.to_string()))?;
            pools.push(pool);
        }
        let sessions = SessionStore::open(opts.redis_url.as_deref(), &db).await?;
        let mut opts = opts;
        opts.warehouses = warehouses;
        opts.products = products;
        let backend = Arc::new(PgBackend {
            memory: Odoo::new(config.clone()),
            config,
            pools,
            sessions,
            stats: Stats::default(),
            hot_products: (products / 100).max(5),
            opts: opts.clone(),
        });
        for k in 0..opts.max_cron_threads {
            let mut cfg = target.clone();
            cfg.application_name(format!("odoo-{pid}-cron{k}"));
            tokio::spawn(cron::run(cfg, shutdown.clone()));
        }
        Ok(backend)
    }

    /// The stand-in's configuration.
    pub fn config(&self) -> &StandinConfig {
        &self.config
    }

    /// Answers a request served by HTTP worker `worker`.
    pub async fn answer(&self, worker: usize, req: &Incoming, sid: Option<&str>) -> Reply {
        match req {
            Incoming::Rpc { path, id, params } => self.rpc(worker, path, id, params, sid).await,
            Incoming::Page { path, .. } if path.starts_with("/shop") => {
                self.page(worker, path, sid).await
            }
            _ => self.memory.answer(req, sid),
        }
    }

    /// Runs a call in a REPEATABLE READ transaction on the worker's pool, retrying like Odoo.
    pub(super) async fn transact(
        &self,
        worker: usize,
        id: &Value,
        call: SqlCall,
    ) -> Result<Value, Reply> {
        let pool = &self.pools[worker % self.pools.len()];
        let mut client = match pool.get().await {
            Ok(c) => c,
            Err(e) => {
                self.stats.pool_timeouts.fetch_add(1, Ordering::Relaxed);
                return Err(error_envelope(
                    id,
                    200,
                    "psycopg2.pool.PoolError",
                    &format!("The Connection Pool Is Full ({e})"),
                ));
            }
        };
        let v = &self.config.pg;
        let mut tries = 0;
        loop {
            tries += 1;
            let outcome = async {
                let tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .start()
                    .await?;
                let value =
                    calls::execute(&tx, &call, v, self.opts.warehouses, self.hot_products).await?;
                tx.commit().await?;
                Ok::<Value, CallError>(value)
            }
            .await;
            match outcome {
                Ok(value) => {
                    drop(client);
                    self.maybe_leak(pool);
                    return Ok(value);
                }
                Err(CallError::Db(e)) if calls::retryable(&e) && tries < MAX_TRIES => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = calls::backoff(tries, self.opts.backoff_scale, &mut rand::rng());
                    tokio::time::sleep(wait).await;
                }
                Err(CallError::Db(e)) if calls::retryable(&e) => {
                    self.stats
                        .serialization_failures
                        .fetch_add(1, Ordering::Relaxed);
                    let name = if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) {
                        "psycopg2.errors.DeadlockDetected"
                    } else if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                        "psycopg2.errors.LockNotAvailable"
                    } else {
                        "psycopg2.errors.SerializationFailure"
                    };
                    let message = e
                        .as_db_error()
                        .map_or_else(|| e.to_string(), |d| d.message().to_string());
                    return Err(error_envelope(id, 200, name, &message));
                }
                Err(CallError::Db(e)) => {
                    let message = e
                        .as_db_error()
                        .map_or_else(|| e.to_string(), |d| d.message().to_string());
                    let name = match e.code() {
                        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => {
                            "psycopg2.errors.ForeignKeyViolation"
                        }
                        Some(c) if *c == SqlState::UNIQUE_VIOLATION => {
                            "psycopg2.errors.UniqueViolation"
                        }
                        Some(c) if *c == SqlState::NOT_NULL_VIOLATION => {
                            "psycopg2.errors.NotNullViolation"
                        }
                        _ => "psycopg2.Error",
                    };
                    return Err(error_envelope(id, 200, name, &message));
                }
                Err(CallError::User { name, message }) => {
                    return Err(error_envelope(id, 200, name, &message));
                }
            }
        }
    }

    /// The `conn-leak` release: now and then a request leaves a connection idle in
    /// transaction for a while, as code that forgets to close a cursor does.
    fn maybe_leak(&self, pool: &Pool) {
        let v = &self.config.pg;
        if v.leak_rate <= 0.0 || rand::rng().random::<f64>() >= v.leak_rate {
            return;
        }
        self.stats
            .leaked_connections
            .fetch_add(1, Ordering::Relaxed);
        let (pool, hold) = (pool.clone(), v.leak_hold);
        tokio::spawn(async move {
            if let Ok(client) = pool.get().await
                && client
                    .batch_execute("BEGIN; SELECT count(*) FROM stock_quant WHERE quantity < 0")
                    .await
                    .is_ok()
            {
                tokio::time::sleep(hold).await;
                let _ = client.batch_execute("ROLLBACK").await;
            }
        });
    }

    /// The counters, as JSON.
    pub fn stats_json(&self) -> Value {
        let s = &self.stats;
        json!({
            "backend": "postgres",
            "retries": s.retries.load(Ordering::Relaxed),
            "serialization_failures": s.serialization_failures.load(Ordering::Relaxed),
            "leaked_connections": s.leaked_connections.load(Ordering::Relaxed),
            "pool_timeouts": s.pool_timeouts.load(Ordering::Relaxed),
            "db_maxconn": self.opts.db_maxconn,
            "workers": self.pools.len(),
        })
    }
}

pub use crate::secrets::redact_url as redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_urls() {
        assert_eq!(
            redact("postgres://odoo:s3cret@db:5432/retail"),
            "postgres://odoo:***@db:5432/retail"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }
}
