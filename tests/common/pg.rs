//! A PostgreSQL-backed stand-in started as its own process on a database of its own, dropped
//! when the test ends; plus small SQL and Redis helpers for assertions.

use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub use super::services::redis_url;

/// The test PostgreSQL's URL (`PEAKGATE_TEST_PG_URL`) with its database replaced by `db`.
pub fn db_url(db: &str) -> String {
    let url = super::services::pg_url();
    let (url, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let base = match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    };
    if query.is_empty() {
        format!("{base}/{db}")
    } else {
        format!("{base}/{db}?{query}")
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `sql` on `db` and returns the rows as JSON arrays of text cells.
pub fn query(db: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    runtime().block_on(async {
        let (client, conn) = tokio_postgres::connect(&db_url(db), tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        tokio::spawn(conn);
        let rows = client.simple_query(sql).await.expect("query runs");
        rows.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect()
    })
}

/// The first cell of the first row as a number.
pub fn scalar(db: &str, sql: &str) -> f64 {
    query(db, sql)[0][0]
        .as_deref()
        .unwrap_or("0")
        .parse()
        .expect("a number")
}

/// A running PostgreSQL stand-in.
pub struct PgStandin {
    pub url: String,
    pub db: String,
    process: super::StandinProcess,
}

impl PgStandin {
    /// Starts `peakgate standin --backend postgres` on database `peakgate_t_<name>_<pid>`.
    pub fn start(name: &str, extra: &[&str]) -> PgStandin {
        let db = format!("peakgate_t_{name}_{}", std::process::id());
        let url_arg = db_url(&db);
        let mut args = vec!["--backend", "postgres", "--reset", "--pg-url", &url_arg];
        args.extend_from_slice(extra);
        let process = super::StandinProcess::start(&args);
        PgStandin {
            url: process.url.clone(),
            db,
            process,
        }
    }

    /// Runs `profile` against this stand-in (ODOO_PASSWORD=admin) into `<ws>/reports`;
    /// returns the run folder and the exit code.
    pub fn run(
        &self,
        ws: &super::Workspace,
        profile: &std::path::Path,
        extra: &[&str],
    ) -> (std::path::PathBuf, i32) {
        self.run_with(ws, profile, extra, &[])
    }

    /// As [`PgStandin::run`], with the profile's optional probes on: `PEAKGATE_PG_URL` is
    /// this stand-in's database and `PEAKGATE_REDIS_URL` is `redis`.
    pub fn run_probed(
        &self,
        ws: &super::Workspace,
        profile: &std::path::Path,
        redis: &str,
        extra: &[&str],
    ) -> (std::path::PathBuf, i32) {
        let pg = db_url(&self.db);
        self.run_with(
            ws,
            profile,
            extra,
            &[("PEAKGATE_PG_URL", &pg), ("PEAKGATE_REDIS_URL", redis)],
        )
    }

    fn run_with(
        &self,
        ws: &super::Workspace,
        profile: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (std::path::PathBuf, i32) {
        let o = super::peakgate()
            .args(["run", "--quiet", "--target", &self.url])
            .envs(env.iter().copied())
            .env("ODOO_PASSWORD", "admin")
            .arg("--profile")
            .arg(profile)
            .arg("--out")
            .arg(ws.out())
            .args(extra)
            .output()
            .unwrap();
        let dir = String::from_utf8(o.stdout).unwrap().trim().to_string();
        assert!(
            !dir.is_empty(),
            "no run folder: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        (std::path::PathBuf::from(dir), o.status.code().unwrap())
    }

    /// The stand-in's counters.
    pub fn stats(&self) -> Value {
        http_get_json(&self.url, "/peakgate/standin/stats")
    }
}

/// GETs `path` from `url` and parses the body as JSON.
fn http_get_json(url: &str, path: &str) -> Value {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("stand-in reachable");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap_or("null")).unwrap_or(Value::Null)
}

impl Drop for PgStandin {
    fn drop(&mut self) {
        self.process.stop();
        let db = self.db.clone();
        runtime().block_on(async move {
            if let Ok((client, conn)) =
                tokio_postgres::connect(&db_url("postgres"), tokio_postgres::NoTls).await
            {
                tokio::spawn(conn);
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                    .await;
            }
        });
    }
}

/// A Redis server of the test's own on a free loopback port, so memory figures are not
/// disturbed by other tests; stopped when dropped.
pub struct PrivateRedis {
    pub url: String,
    child: Child,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..100 {
            if redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .is_ok()
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        PrivateRedis { url, child }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scenario (`hot_sync`) whose every order sells the one hottest product (product 1 of the
/// stand-in's catalog), for contention. Returns the `[data]` table a profile ends with so the
/// POS products the orders draw from are that product alone (untaxed: an empty `tax_ids`
/// cell; the taxes data set is given too).
pub fn hot_product_scenario(ws: &super::Workspace) -> &'static str {
    ws.write(
        "scenarios/data/hot.csv",
        "product_id,name,list_price,tax_ids\n1,Red T-shirt,41.99,\n",
    );
    ws.write(
        "scenarios/data/taxes.csv",
        "tax_id,amount,amount_type,price_include\n1,15,percent,false\n",
    );
    ws.write(
        "scenarios/hot_sync.toml",
        "session = \"user\"\n[vars]\norder = { gen = \"pos_order\", lines = [1, 1] }\n\
         [[step]]\nname = \"create_from_ui\"\ncall_kw = { model = \"pos.order\", method = \"create_from_ui\" }\nargs = [[\"{{order}}\"], false]\n",
    );
    "[data]\npos_products = \"../scenarios/data/hot.csv\"\ntaxes = \"../scenarios/data/taxes.csv\"\n"
}

/// Stand-in flags for hot-product contention under the `quant-lock` release.
pub const QUANT_LOCK: [&str; 10] = [
    "--release",
    "quant-lock",
    "--workers",
    "8",
    "--db-maxconn",
    "2",
    "--max-cron-threads",
    "0",
    "--retry-backoff-scale",
    "0.01",
];

/// A profile body: one uniform stage of `rate` journeys/s for `secs` seconds on `mix`.
pub fn one_stage(name: &str, rate: f64, secs: u32, mix: &str) -> String {
    format!(
        "name = \"{name}\"\nenvironment = \"test\"\n[load]\narrivals = \"uniform\"\ntimeout = \"60s\"\n\
         [[load.stage]]\nduration = \"{secs}s\"\nrate = {rate}\n[mix]\n{mix}\n"
    )
}
