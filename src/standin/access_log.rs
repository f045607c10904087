//! The stand-in's request log, written as Odoo writes its own: one `werkzeug` line per request
//! that ends with Odoo's performance fields, so whatever reads a real Odoo's log (the
//! simulator's calibration, `peakgate simulate --odoo-log`) reads the stand-in's too.
//!
//! The line, from Odoo 17.0 and 18.0 (`odoo/netsvc.py`, `odoo/http.py`) and werkzeug
//! (`serving.py`, `WSGIRequestHandler.log_request`):
//!
//! ```text
//! 2026-12-01 09:36:46,123 4242 INFO retail werkzeug: 127.0.0.1 - - [01/Dec/2026 09:36:46] "POST /web/dataset/call_kw/pos.order/create_from_ui HTTP/1.1" 200 - 0 0.000 0.041
//! ```
//!
//! - `netsvc.init_logger`: `%(asctime)s %(pid)s %(levelname)s %(dbname)s %(name)s: %(message)s
//!   %(perf_info)s`, `asctime` being Python logging's `YYYY-MM-DD HH:MM:SS,mmm` in local time
//!   (the stand-in writes UTC: what a server on UTC writes);
//! - werkzeug's message: `ADDR - - [DD/Mon/YYYY HH:MM:SS] "METHOD PATH VERSION" STATUS SIZE`,
//!   SIZE `-` as it is logged from `send_response`, before the body;
//! - `netsvc.PerfFilter`: `"%d %.3f %.3f"` of `query_count`, `query_time` (seconds in
//!   `cursor.execute`, `odoo/sql_db.py`) and `remaining_time = time.time() - perf_t0 -
//!   query_time` (seconds), where `perf_t0` is taken when the WSGI application is entered
//!   (`odoo/http.py`, `Application.__call__`): after a worker has accepted the connection and
//!   read the request. So `query_time + remaining_time` is the request's time in its worker,
//!   without the wait for one.
//!
//! The stand-in's figures mean the same: the clock starts when a worker takes the request and
//! stops when its answer is ready. The memory backend runs no SQL, so it writes 0 queries and
//! 0.000 s of query time (all of its time is "remaining"). werkzeug colours the request of a
//! non-200 answer with ANSI escapes even in a file; the stand-in writes it plain.
//!
//! Lines go through a channel to a writer thread that flushes whenever it has caught up, so
//! serving never waits on the disk; [`AccessLog::flush`] waits until every line sent is written.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

enum Msg {
    Line(String),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// An open request log.
pub struct AccessLog {
    tx: mpsc::Sender<Msg>,
    path: PathBuf,
    /// The first write error, if any (lines after it are dropped).
    failed: Arc<Mutex<Option<String>>>,
    pid: u32,
    /// The database name the lines carry (Odoo's `dbname`).
    database: String,
}

/// One request as the log reports it.
pub struct Entry<'a> {
    pub peer: SocketAddr,
    pub method: &'a str,
    /// Path and query, as sent.
    pub target: &'a str,
    /// `HTTP/1.1`.
    pub version: &'a str,
    pub status: u16,
    pub query_count: u64,
    pub query_time: Duration,
    /// Time in the worker, queries included.
    pub worker_time: Duration,
}

impl AccessLog {
    /// Creates (or appends to) the log at `path`.
    pub fn create(path: &Path, database: &str) -> std::io::Result<AccessLog> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let failed = Arc::new(Mutex::new(None));
        let fail = failed.clone();
        let shown = path.display().to_string();
        std::thread::Builder::new()
            .name("standin-access-log".into())
            .spawn(move || write_lines(rx, std::io::BufWriter::new(file), &fail, &shown))?;
        Ok(AccessLog {
            tx,
            path: path.to_path_buf(),
            failed,
            pid: std::process::id(),
            database: database.to_string(),
        })
    }

    /// Where it writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one request's line.
    pub fn record(&self, e: &Entry<'_>) {
        let now = jiff::Timestamp::now();
        let query_s = e.query_time.as_secs_f64();
        let remaining_s = (e.worker_time.as_secs_f64() - query_s).max(0.0);
        let line = format!(
            "{},{:03} {} INFO {} werkzeug: {} - - [{}] \"{} {} {}\" {} - {} {:.3} {:.3}\n",
            now.strftime("%Y-%m-%d %H:%M:%S"),
            now.subsec_millisecond(),
            self.pid,
            self.database,
            e.peer.ip(),
            now.strftime("%d/%b/%Y %H:%M:%S"),
            e.method,
            e.target,
            e.version,
            e.status,
            e.query_count,
            query_s,
            remaining_s,
        );
        let _ = self.tx.send(Msg::Line(line));
    }

    /// Waits until every line recorded so far is in the file; the first write error, if any.
    pub async fn flush(&self) -> Result<(), String> {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
        match self.failed.lock() {
            Ok(f) => f.clone().map_or(Ok(()), Err),
            Err(_) => Err(format!("{}: the log writer failed", self.path.display())),
        }
    }
}

/// The writer thread: lines in order, flushed whenever the channel is empty.
fn write_lines(
    rx: mpsc::Receiver<Msg>,
    mut out: impl Write,
    failed: &Mutex<Option<String>>,
    path: &str,
) {
    let mut broken = false;
    let note = |e: std::io::Error, broken: &mut bool| {
        *broken = true;
        if let Ok(mut f) = failed.lock() {
            f.get_or_insert_with(|| format!("cannot write {path}: {e}"));
        }
    };
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(l) if !broken => {
                    if let Err(e) = out.write_all(l.as_bytes()) {
                        note(e, &mut broken);
                    }
                }
                Msg::Line(_) => {}
                Msg::Flush(done) => {
                    if !broken && let Err(e) = out.flush() {
                        note(e, &mut broken);
                    }
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        if !broken && let Err(e) = out.flush() {
            note(e, &mut broken);
        }
    }
}
