//! Odoo's request log read back: the server-side time of every request, by route.
//!
//! Odoo 17 and 18 log each HTTP request through werkzeug with Odoo's performance fields
//! appended (`odoo/netsvc.py` `PerfFilter`; the stand-in writes the same line, see
//! `standin::access_log`):
//!
//! ```text
//! 2026-12-01 09:36:46,123 4242 INFO retail werkzeug: 127.0.0.1 - - [01/Dec/2026 09:36:46] "POST /web/dataset/call_kw/pos.order/create_from_ui HTTP/1.1" 200 - 12 0.034 0.056
//! ```
//!
//! The last three fields are `query_count`, `query_time` and `remaining_time`, seconds with
//! 3 decimals, both counted from `perf_t0`, when the WSGI application is entered in the worker
//! that took the request (`odoo/http.py`, `Application.__call__`). So their sum is the
//! request's **time in its worker, without the wait for one**: the service time a queueing
//! model wants. Odoo 18 appends a fourth field (the cursor mode) when `db_replica_host` is set;
//! werkzeug wraps a non-200 request line in ANSI colour escapes, even in a file: both are read.
//! A request logged with `- - -` (no performance fields: a request outside Odoo's WSGI
//! application) is counted but has no time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use hdrhistogram::Histogram;
use regex::Regex;

/// A route as the log names it: the HTTP method and the path without its query.
pub type Route = (String, String);

/// The server-side times of one log.
#[derive(Debug, Clone)]
pub struct ServerTimes {
    pub path: PathBuf,
    /// Route → time in the worker (`query_time + remaining_time`) of each request, µs.
    pub routes: BTreeMap<Route, Histogram<u64>>,
    /// Request lines with times.
    pub requests: u64,
    /// Request lines without performance fields (`- - -`).
    pub without_times: u64,
}

/// Why a log cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OdooLogError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: no werkzeug request line with Odoo's timings (query count, query time, remaining time) in {lines} line(s): give the log of the Odoo server (or `peakgate standin --access-log`) the calibration run drove, with werkzeug's INFO lines",
        path.display()
    )]
    NoRequests { path: PathBuf, lines: usize },
    #[error("{}:{line}: {message}", path.display())]
    Line {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

static ANSI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[[0-9;]*m").expect("a valid pattern"));

/// werkzeug's message after the logger name, then Odoo's performance fields.
static REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#" werkzeug: \S+ - - \[[^\]]*\] "([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) \S+ (?:(\d+) (\d+\.\d+) (-?\d+\.\d+)(?: \S+)?|- - -(?: -)?)\s*$"#,
    )
    .expect("a valid pattern")
});

impl ServerTimes {
    /// Reads the log at `path`.
    pub fn read(path: &Path) -> Result<ServerTimes, OdooLogError> {
        let text = std::fs::read_to_string(path).map_err(|source| OdooLogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ServerTimes::parse(&text, path)
    }

    /// Reads a log's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ServerTimes, OdooLogError> {
        let mut times = ServerTimes {
            path: path.to_path_buf(),
            routes: BTreeMap::new(),
            requests: 0,
            without_times: 0,
        };
        let mut lines = 0;
        for (i, raw) in text.lines().enumerate() {
            lines += 1;
            if !raw.contains(" werkzeug: ") {
                continue;
            }
            let line = ANSI.replace_all(raw, "");
            let Some(c) = REQUEST.captures(&line) else {
                continue;
            };
            let (Some(query), Some(rest)) = (c.get(5), c.get(6)) else {
                times.without_times += 1;
                continue;
            };
            let seconds = |s: &str| {
                s.parse::<f64>().map_err(|e| OdooLogError::Line {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("time `{s}`: {e}"),
                })
            };
            let worker_s = (seconds(query.as_str())? + seconds(rest.as_str())?).max(0.0);
            let target = &c[2];
            let route_path = target.split_once('?').map_or(target, |(p, _)| p);
            let h = times
                .routes
                .entry((c[1].to_string(), route_path.to_string()))
                .or_insert_with(|| {
                    let mut h = Histogram::new(3).expect("3 significant digits is valid");
                    h.auto(true);
                    h
                });
            // Auto-resizing: any value is accepted.
            let _ = h.record((worker_s * 1e6).round() as u64);
            times.requests += 1;
        }
        if times.requests == 0 {
            return Err(OdooLogError::NoRequests {
                path: path.to_path_buf(),
                lines,
            });
        }
        Ok(times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as Odoo 17 writes them to its log file (the last one a 303, coloured by werkzeug).
    const ODOO17: &str = "\
2026-12-01 09:36:45,901 4242 INFO odoo17_retail odoo.modules.registry: Registry loaded in 0.512s
2026-12-01 09:36:46,123 4242 INFO odoo17_retail werkzeug: 127.0.0.1 - - [01/Dec/2026 09:36:46] \"POST /web/dataset/call_kw/pos.order/create_from_ui HTTP/1.1\" 200 - 12 0.034 0.056
2026-12-01 09:36:46,301 4243 INFO odoo17_retail werkzeug: 127.0.0.1 - - [01/Dec/2026 09:36:46] \"POST /web/dataset/call_kw/pos.order/create_from_ui HTTP/1.1\" 200 - 9 0.020 0.040
2026-12-01 09:36:47,002 4243 INFO ? werkzeug: 127.0.0.1 - - [01/Dec/2026 09:36:47] \"GET /web/health HTTP/1.1\" 200 - - - -
2026-12-01 09:36:47,450 4242 INFO odoo17_retail werkzeug: 127.0.0.1 - - [01/Dec/2026 09:36:47] \"\x1b[32mGET /shop/checkout?x=1 HTTP/1.1\x1b[0m\" 303 - 3 0.004 0.011
";

    #[test]
    fn reads_the_worker_time_of_each_request_by_route() {
        let t = ServerTimes::parse(ODOO17, Path::new("odoo.log")).unwrap();
        assert_eq!((t.requests, t.without_times), (3, 1));
        let pos = &t.routes[&(
            "POST".to_string(),
            "/web/dataset/call_kw/pos.order/create_from_ui".to_string(),
        )];
        // 0.034 + 0.056 s and 0.020 + 0.040 s.
        assert_eq!(pos.len(), 2);
        assert!(pos.equivalent(pos.min(), 60_000), "{}", pos.min());
        assert!(pos.equivalent(pos.max(), 90_000), "{}", pos.max());
        let checkout = &t.routes[&("GET".to_string(), "/shop/checkout".to_string())];
        assert!(checkout.equivalent(checkout.max(), 15_000));
    }

    #[test]
    fn odoo_18_replica_mode_and_a_log_without_requests() {
        let line = "2026-12-01 09:36:46,123 77 INFO odoo18_retail werkzeug: 10.0.0.9 - - [01/Dec/2026 09:36:46] \"POST /web/dataset/call_kw/pos.order/sync_from_ui HTTP/1.1\" 200 - 7 0.010 0.030 rw\n";
        let t = ServerTimes::parse(line, Path::new("o18.log")).unwrap();
        assert_eq!(t.requests, 1);
        let err = ServerTimes::parse("just text\nmore\n", Path::new("other.log"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("other.log: no werkzeug request line") && err.contains("2 line(s)"),
            "{err}"
        );
    }

    #[test]
    fn reads_what_the_stand_in_writes() {
        use crate::standin::access_log::{AccessLog, Entry};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odoo.log");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let log = AccessLog::create(&path, "retail").unwrap();
            for (ms, status) in [(41, 200), (57, 200), (12, 303)] {
                log.record(&Entry {
                    peer: ([127, 0, 0, 1], 5000).into(),
                    method: "GET",
                    target: if status == 303 {
                        "/shop/checkout"
                    } else {
                        "/shop?page=2"
                    },
                    version: "HTTP/1.1",
                    status,
                    query_count: 0,
                    query_time: std::time::Duration::ZERO,
                    worker_time: std::time::Duration::from_millis(ms),
                });
            }
            log.flush().await.unwrap();
        });
        let t = ServerTimes::read(&path).unwrap();
        assert_eq!((t.requests, t.without_times), (3, 0));
        let shop = &t.routes[&("GET".to_string(), "/shop".to_string())];
        assert_eq!(shop.len(), 2);
        assert!(shop.equivalent(shop.min(), 41_000), "{}", shop.min());
        assert!(shop.equivalent(shop.max(), 57_000));
    }
}
