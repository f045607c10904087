//! Real Odoo servers for the tests that need one (started by `.ci/run` from `../shared/odoo`):
//! `PEAKGATE_ODOO17_URL` / `PEAKGATE_ODOO18_URL`, with `PEAKGATE_ODOO17_DB` / `PEAKGATE_ODOO18_DB`
//! (default: the one database the server lists) and `PEAKGATE_ODOO_PASSWORD` (default `admin`)
//! for the login `admin`. Without a URL such a test says so and passes, unless
//! `PEAKGATE_REQUIRE_ODOO=1` (CI) makes a missing server a failure.

use std::time::Duration;

use serde_json::{Value, json};

use peakgate::odoo::{OdooClient, RpcOutcome, UserSession};

/// A real Odoo the tests may drive.
#[derive(Debug, Clone)]
pub struct RealOdoo {
    /// `17` or `18`.
    pub major: &'static str,
    pub url: String,
    pub database: Option<String>,
    pub password: String,
}

/// The real Odoo of `major` ("17" or "18"), if the environment names one.
pub fn real_odoo(major: &'static str) -> Option<RealOdoo> {
    let var = format!("PEAKGATE_ODOO{major}_URL");
    match std::env::var(&var) {
        Ok(url) if !url.is_empty() => Some(RealOdoo {
            major,
            url: url.trim_end_matches('/').to_string(),
            database: std::env::var(format!("PEAKGATE_ODOO{major}_DB"))
                .ok()
                .filter(|d| !d.is_empty()),
            password: std::env::var("PEAKGATE_ODOO_PASSWORD").unwrap_or_else(|_| "admin".into()),
        }),
        _ => {
            assert!(
                std::env::var("PEAKGATE_REQUIRE_ODOO").as_deref() != Ok("1"),
                "{var} is not set and PEAKGATE_REQUIRE_ODOO=1: start the server (../shared/odoo/setup-odoo{major}.sh)"
            );
            eprintln!(
                "skipped: {var} is not set (start a real Odoo {major} with ../shared/odoo/setup-odoo{major}.sh)"
            );
            None
        }
    }
}

/// One real-server test at a time: runs count what they did by before/after deltas, and two
/// Odoo servers share the machine's cores with everything else.
static SERVERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl RealOdoo {
    /// Holds the real servers for the caller alone until the guard drops.
    pub fn exclusive(&self) -> std::sync::MutexGuard<'static, ()> {
        SERVERS.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `--target URL [--database NAME]` for a run.
    pub fn target_args(&self) -> Vec<String> {
        let mut a = vec!["--target".to_string(), self.url.clone()];
        if let Some(db) = &self.database {
            a.extend(["--database".to_string(), db.clone()]);
        }
        a
    }

    /// A JSON-RPC connection as admin, for counting what a run did.
    pub fn rpc(&self) -> Rpc {
        Rpc::login(&self.url, self.database.as_deref(), "admin", &self.password)
    }
}

/// A blocking JSON-RPC client for test assertions (a tokio runtime of its own).
pub struct Rpc {
    runtime: tokio::runtime::Runtime,
    pub client: OdooClient,
    pub session: UserSession,
    /// The database logged in to: the one named, or the one the server lists.
    pub database: String,
}

impl Rpc {
    pub fn login(url: &str, database: Option<&str>, login: &str, password: &str) -> Rpc {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let base = url::Url::parse(url).unwrap();
        let client =
            runtime.block_on(async { OdooClient::http(&base, Duration::from_secs(120), 2) });
        let database = match database {
            Some(d) => d.to_string(),
            None => {
                let r = runtime.block_on(client.rpc("/web/database/list", &json!({}), 1, None));
                match r.outcome {
                    RpcOutcome::Result(Value::Array(dbs)) if dbs.len() == 1 => {
                        dbs[0].as_str().unwrap().to_string()
                    }
                    other => panic!("{url} does not list exactly one database: {other:?}"),
                }
            }
        };
        let session = runtime
            .block_on(client.authenticate(&database, login, password))
            .unwrap_or_else(|f| panic!("login to {url}: {f}"));
        Rpc {
            runtime,
            client,
            session,
            database,
        }
    }

    /// `model.method(*args, **kwargs)`; panics on an error.
    pub fn call(&self, model: &str, method: &str, args: Value, kwargs: Value) -> Value {
        match self.try_call(model, method, args, kwargs) {
            Ok(v) => v,
            Err(e) => panic!("{model}.{method}: {e}"),
        }
    }

    /// `model.method(*args, **kwargs)`, or the failure's text.
    pub fn try_call(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<Value, String> {
        let r = self.runtime.block_on(self.client.call_kw(
            model,
            method,
            args,
            kwargs,
            Some(&self.session.cookie),
        ));
        match r.outcome {
            RpcOutcome::Result(v) => Ok(v),
            RpcOutcome::SessionExpired => Err("session expired".into()),
            RpcOutcome::Failed(f) => Err(f.to_string()),
        }
    }

    /// `search_count(domain)`.
    pub fn count(&self, model: &str, domain: Value) -> i64 {
        self.call(model, "search_count", json!([domain]), json!({}))
            .as_i64()
            .unwrap()
    }
}
