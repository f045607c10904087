//! The PostgreSQL backend: the memory backend's answers, and the SQL work a real Odoo does
//! for them. Every answer (status, body, errors) comes from the memory backend, so both
//! backends speak like Odoo 17/18 alike; before memory answers a call that matters for
//! capacity (POS sync, sales and deliveries, the month-end report, reconciliation, the shop
//! and its carts), the same work runs as real SQL on a retail schema in one REPEATABLE READ
//! transaction, retried like Odoo's on serialization failures, deadlocks and lock timeouts.
//! When that work fails the client gets Odoo's error instead and memory is not asked, as the
//! real request would have changed nothing. Each HTTP worker has its own connection pool of
//! `db_maxconn` connections named `odoo-<pid>-<worker>`; cron threads run on their own
//! connections; sessions are also written to Redis (as `session_redis` keeps them) when one
//! is given.

mod calls;
mod cron;
mod pos;
mod routes;
mod schema;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rand::RngExt;
use serde_json::{Value, json};
use tokio_postgres::NoTls;
use tokio_postgres::config::Config as PgConfig;
use tokio_postgres::error::SqlState;
use tokio_util::sync::CancellationToken;

use super::catalog::CatalogSize;
use super::config::StandinConfig;
use super::odoo::{Incoming, Odoo, Reply, error_envelope};
use super::sessions::SessionStore;
use calls::{Context, Created, SqlCall};
use routes::{After, Links};

/// Odoo's attempts per request before the client sees the error.
const MAX_TRIES: u32 = 5;

/// What Odoo answers when its session store is unreachable.
const SESSION_STORE_ERROR: &str = "builtins.ConnectionError";

/// How the PostgreSQL backend is set up (from `peakgate standin` flags).
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/dbname`; the database is created when missing.
    pub url: String,
    /// Sessions also written to (and read from) this Redis, as `session_redis` keeps them.
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
    /// Sessions in Redis, when `--redis-url` is given.
    sessions: Option<SessionStore>,
    /// Gives every answer.
    memory: Odoo,
    /// Memory's records linked to the rows the SQL work created.
    links: Mutex<Links>,
    pub stats: Stats,
    hot_products: i32,
}

/// SQL work that could not be done: Odoo's exception name and message.
struct Failure {
    name: &'static str,
    message: String,
}

impl Failure {
    /// The answer for `req`: Odoo's JSON-RPC error envelope, or its 500 page.
    fn reply(self, req: &Incoming) -> Reply {
        match req {
            Incoming::Rpc { id, .. } => error_envelope(id, 200, self.name, &self.message),
            _ => Reply::html(
                500,
                "<!DOCTYPE html><html><head><title>500 | Internal Server Error</title></head><body><h1>Internal Server Error</h1></body></html>".into(),
            ),
        }
    }
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
        let shown = crate::secrets::redact_url(&opts.url);
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
        let sessions = match &opts.redis_url {
            Some(url) => Some(SessionStore::open(url, &db).await?),
            None => None,
        };
        let mut opts = opts;
        opts.warehouses = warehouses;
        opts.products = products;
        let backend = Arc::new(PgBackend {
            memory: Odoo::with_catalog(
                config.clone(),
                CatalogSize {
                    products: i64::from(products),
                    warehouses: i64::from(warehouses),
                },
            ),
            config,
            pools,
            sessions,
            links: Mutex::new(Links::new(products)),
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

    /// Answers a request served by HTTP worker `worker`: its SQL work first, then memory's
    /// answer, then what links memory's records to the rows created.
    pub async fn answer(&self, worker: usize, req: &Incoming, sid: Option<&str>) -> Reply {
        // session_redis reads the session on every request that carries one.
        let stored = match (&self.sessions, sid) {
            (Some(store), Some(s)) => match store.get(s).await {
                Ok(v) => v,
                Err(e) => return session_failure(e).reply(req),
            },
            _ => None,
        };
        let step = self.links().plan(&self.config, req, sid);
        let mut created = match step.sql {
            Some(call) => match self.transact(worker, call).await {
                Ok(c) => c,
                Err(f) => return f.reply(req),
            },
            None => Created::new(),
        };
        let mut reply = self.memory.answer(req, sid);
        let new_session = reply.set_session.clone();
        if let After::NewVisitorCart { product, qty, set } = step.after
            && let Some(s) = new_session.as_deref().or(sid)
        {
            let call = SqlCall::CartUpdate {
                sid: s.to_string(),
                product,
                qty,
                set,
            };
            match self.transact(worker, call).await {
                Ok(c) => created = c,
                Err(f) => {
                    // The visitor keeps the session memory gave it, as Odoo saves a new
                    // session even when the request fails.
                    let mut failed = f.reply(req);
                    failed.set_session = new_session;
                    return failed;
                }
            }
        }
        let result = match step.after {
            After::Nothing | After::CartSaved | After::NewVisitorCart { .. } => None,
            _ => routes::rpc_result(&reply.body),
        };
        self.links().learn(
            &step.after,
            result.as_ref(),
            &created,
            sid,
            new_session.as_deref(),
        );
        if let Err(f) = self
            .save_session(
                &step.after,
                result.as_ref(),
                &created,
                sid,
                stored,
                new_session.as_deref(),
            )
            .await
        {
            let mut failed = f.reply(req);
            failed.set_session = new_session;
            reply = failed;
        }
        reply
    }

    fn links(&self) -> std::sync::MutexGuard<'_, Links> {
        // Links are inserted and removed whole: a panic elsewhere leaves none half-written.
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the session to Redis when Odoo would: when it is new (a login or a visitor's
    /// first page), and when a cart update puts the cart's order in it. The `session-bloat`
    /// release pads every write.
    async fn save_session(
        &self,
        after: &After,
        result: Option<&Value>,
        created: &Created,
        sid: Option<&str>,
        stored: Option<Value>,
        new_session: Option<&str>,
    ) -> Result<(), Failure> {
        let Some(store) = &self.sessions else {
            return Ok(());
        };
        let cart = match after {
            After::CartSaved | After::NewVisitorCart { .. } => created.first().map(|c| c.1),
            _ => None,
        };
        let (target, uid) = match (new_session, sid) {
            (Some(new), _) => (
                new,
                matches!(after, After::LoggedIn)
                    .then(|| result.and_then(|r| r.get("uid")).and_then(Value::as_i64))
                    .flatten(),
            ),
            (None, Some(s)) if cart.is_some() => (
                s,
                stored
                    .as_ref()
                    .and_then(|v| v.get("uid"))
                    .and_then(Value::as_i64),
            ),
            _ => return Ok(()),
        };
        let payload = routes::session_payload(
            uid,
            &self.config.login,
            cart,
            self.config.pg.session_payload_bytes,
        );
        store.put(target, &payload).await.map_err(session_failure)
    }

    /// Runs a call in a REPEATABLE READ transaction on the worker's pool, retrying like Odoo.
    async fn transact(&self, worker: usize, call: SqlCall) -> Result<Created, Failure> {
        let pool = &self.pools[worker % self.pools.len()];
        let mut client = match pool.get().await {
            Ok(c) => c,
            Err(e) => {
                self.stats.pool_timeouts.fetch_add(1, Ordering::Relaxed);
                return Err(Failure {
                    name: "psycopg2.pool.PoolError",
                    message: format!("The Connection Pool Is Full ({e})"),
                });
            }
        };
        let cx = Context {
            variant: &self.config.pg,
            warehouses: self.opts.warehouses,
            hot: self.hot_products,
        };
        let mut tries = 0;
        loop {
            tries += 1;
            let outcome = async {
                let tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .start()
                    .await?;
                let created = calls::execute(&tx, &call, &cx).await?;
                tx.commit().await?;
                Ok::<Created, tokio_postgres::Error>(created)
            }
            .await;
            let e = match outcome {
                Ok(created) => {
                    drop(client);
                    self.maybe_leak(pool);
                    return Ok(created);
                }
                Err(e) => e,
            };
            let message = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string());
            if !calls::retryable(&e) {
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
                return Err(Failure { name, message });
            }
            if tries < MAX_TRIES {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                let wait = calls::backoff(tries, self.opts.backoff_scale, &mut rand::rng());
                tokio::time::sleep(wait).await;
                continue;
            }
            self.stats
                .serialization_failures
                .fetch_add(1, Ordering::Relaxed);
            let name = match e.code() {
                Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => {
                    "psycopg2.errors.DeadlockDetected"
                }
                Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => "psycopg2.errors.LockNotAvailable",
                _ => "psycopg2.errors.SerializationFailure",
            };
            return Err(Failure { name, message });
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

fn session_failure(e: super::sessions::SessionError) -> Failure {
    Failure {
        name: SESSION_STORE_ERROR,
        message: e.to_string(),
    }
}
