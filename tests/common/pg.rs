//! A PostgreSQL-backed stand-in started as its own process on a database of its own, dropped
//! when the test ends; plus small SQL and Redis helpers for assertions.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// Base URL of the test PostgreSQL (no database), overridable with `PEAKGATE_TEST_PG_URL`.
pub fn pg_base() -> String {
    std::env::var("PEAKGATE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The test Redis, overridable with `PEAKGATE_TEST_REDIS_URL`.
pub fn redis_url() -> String {
    std::env::var("PEAKGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
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
        let (client, conn) =
            tokio_postgres::connect(&format!("{}/{db}", pg_base()), tokio_postgres::NoTls)
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
    child: Child,
}

impl PgStandin {
    /// Starts `peakgate standin --backend postgres` on database `peakgate_t_<name>_<pid>`.
    pub fn start(name: &str, extra: &[&str]) -> PgStandin {
        let db = format!("peakgate_t_{name}_{}", std::process::id());
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("peakgate"))
            .args([
                "standin",
                "--backend",
                "postgres",
                "--reset",
                "--listen",
                "127.0.0.1:0",
            ])
            .arg("--pg-url")
            .arg(format!("{}/{db}", pg_base()))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("stand-in starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        PgStandin { url, db, child }
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
        let _ = self.child.kill();
        let _ = self.child.wait();
        let db = self.db.clone();
        runtime().block_on(async move {
            if let Ok((client, conn)) =
                tokio_postgres::connect(&format!("{}/postgres", pg_base()), tokio_postgres::NoTls)
                    .await
            {
                tokio::spawn(conn);
                let _ = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                    .await;
            }
        });
    }
}
