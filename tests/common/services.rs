//! Real PostgreSQL and Redis for the probe tests: URLs from the environment (defaults to the
//! local servers), a throwaway database per test, and `peakgate run` as a child process so a
//! test can act on the servers while the run goes on.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::str::FromStr;

use serde_json::Value;
use tokio_postgres::{Client, NoTls};

/// `PEAKGATE_TEST_PG_URL`, default the local server's `postgres` database.
pub fn pg_url() -> String {
    std::env::var("PEAKGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// `PEAKGATE_TEST_REDIS_URL`, default the local server.
pub fn redis_url() -> String {
    std::env::var("PEAKGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A short unique suffix for databases and keys, so tests run in parallel.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// Connects with a given `application_name`.
pub async fn pg_connect(database: &str, application_name: &str) -> Client {
    let mut config = tokio_postgres::Config::from_str(&pg_url()).expect("PG URL");
    config.dbname(database).application_name(application_name);
    let (client, conn) = config
        .connect(NoTls)
        .await
        .expect("PostgreSQL is reachable");
    tokio::spawn(conn);
    client
}

/// A database created for one test and dropped (with its connections) when the test ends,
/// passed or failed.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub async fn create(setup: &str) -> TestDb {
        let name = format!("peakgate_probe_{}", unique());
        let admin = pg_connect(&admin_db(), "peakgate-test").await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let db = pg_connect(&name, "peakgate-test").await;
        db.batch_execute(setup)
            .await
            .expect("set up the test database");
        TestDb { name }
    }

    /// The probe's URL for this database, with a password: it must never reach an artifact.
    /// (Trust authentication ignores it; a configured password is kept as it is.)
    pub fn probe_url(&self) -> (String, String) {
        let config = tokio_postgres::Config::from_str(&pg_url()).expect("PG URL");
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).to_string())
            .unwrap_or_else(|| "hunter2-probe-secret".into());
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        (
            format!("postgres://{user}:{password}@{host}:{port}/{}", self.name),
            password,
        )
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            rt.block_on(async {
                let admin = pg_connect(&admin_db(), "peakgate-test").await;
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        });
        let _ = cleanup.join();
    }
}

fn admin_db() -> String {
    tokio_postgres::Config::from_str(&pg_url())
        .ok()
        .and_then(|c| c.get_dbname().map(str::to_string))
        .unwrap_or_else(|| "postgres".into())
}

/// `peakgate run` of `profile` in the background, with extra environment variables.
pub fn spawn_run(
    profile: &Path,
    out: &Path,
    env: &[(&str, &str)],
) -> tokio::task::JoinHandle<Output> {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("peakgate"));
    cmd.args(["run", "--quiet", "--profile"])
        .arg(profile)
        .arg("--out")
        .arg(out)
        .env_remove("ODOO_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("peakgate starts");
    tokio::task::spawn_blocking(move || child.wait_with_output().expect("peakgate ends"))
}

/// The `[t, value]` points of a probe series.
pub fn points(report: &Value, series: &str) -> Vec<(f64, f64)> {
    report["series"][series]
        .as_array()
        .unwrap_or_else(|| panic!("no series `{series}` in {}", report["series"]))
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

/// Largest value of a series.
pub fn max_of(report: &Value, series: &str) -> f64 {
    points(report, series)
        .iter()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Checks the shape every probe report shares and that its times sit on the run's clock.
pub fn assert_probe_shape(run: &Value, name: &str, kind: &str) -> Value {
    let p = run["probes"][name].clone();
    assert_eq!(p["kind"], kind, "{p}");
    for key in [
        "target",
        "interval_s",
        "coverage",
        "gaps",
        "missing",
        "series",
    ] {
        assert!(p.get(key).is_some(), "probes.{name} lacks `{key}`");
    }
    let duration = run["duration_s"].as_f64().unwrap();
    for (series, pts) in p["series"].as_object().unwrap() {
        let ts: Vec<f64> = pts
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x[0].as_f64().unwrap())
            .collect();
        assert!(
            ts.windows(2).all(|w| w[0] < w[1]),
            "{name}.{series} times are not increasing: {ts:?}"
        );
        assert!(
            ts.iter().all(|t| *t >= 0.0 && *t <= duration + 0.5),
            "{name}.{series} times outside the run (0..{duration}): {ts:?}"
        );
    }
    p
}
