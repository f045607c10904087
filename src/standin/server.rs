//! The stand-in's HTTP server and its capacity model: like Odoo's prefork server, at most
//! `workers` requests are served at once and the rest wait in arrival order.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming as Body;
use hyper::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crossbeam_queue::ArrayQueue;

use super::access_log::{AccessLog, Entry};
use super::config::StandinConfig;
use super::databases::Databases;
use super::odoo::{Incoming, Reply, error_envelope};
use super::pg::PgBackend;

/// Odoo's `limit_request` analogue: bodies above this are refused.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What answers the requests.
pub enum Backend {
    /// Records in memory, one set per database hosted, service times from the configured
    /// laws.
    Memory(Box<Databases>),
    /// Real SQL on PostgreSQL (plus the configured laws as the Python time).
    Postgres(Arc<PgBackend>),
}

impl Backend {
    /// The memory backend hosting `config.database` and `more` databases.
    pub fn memory(config: StandinConfig, more: &[String]) -> Backend {
        Backend::Memory(Box::new(Databases::new(config, more)))
    }

    fn config(&self) -> &StandinConfig {
        match self {
            Backend::Memory(o) => o.config(),
            Backend::Postgres(p) => p.config(),
        }
    }
}

struct State {
    backend: Backend,
    /// One permit per HTTP worker; tokio's semaphore is fair, so waiters are served FIFO.
    workers: Semaphore,
    /// Which workers are free; a permit guarantees one is here.
    free: ArrayQueue<usize>,
    started: Instant,
    /// Requests answered, for `/peakgate/standin/stats`.
    served: std::sync::atomic::AtomicU64,
    /// Odoo's request log, when asked for: a line per request with its time in the worker.
    access_log: Option<AccessLog>,
}

/// A running stand-in.
pub struct RunningStandin {
    pub addr: SocketAddr,
    pub release: String,
    pub workers: usize,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    state: Arc<State>,
}

impl RunningStandin {
    /// The base URL to drive it at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and waits for the accept loop to end (and for the request log, if
    /// any, to hold every line); the log's write error, if any.
    pub async fn stop(self) -> Result<(), String> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until `shutdown` (given at start) is cancelled, then for the request log.
    pub async fn wait(self) -> Result<(), String> {
        let _ = self.task.await;
        match &self.state.access_log {
            Some(log) => log.flush().await,
            None => Ok(()),
        }
    }
}

/// Binds `listen` (port 0 picks a free one) and serves the memory backend until `shutdown`,
/// writing Odoo's request log to `access_log` when given.
pub async fn start(
    config: StandinConfig,
    listen: SocketAddr,
    shutdown: CancellationToken,
    access_log: Option<AccessLog>,
) -> std::io::Result<RunningStandin> {
    start_with(Backend::memory(config, &[]), listen, shutdown, access_log).await
}

/// Serves `backend` on `listen` until `shutdown` is cancelled.
pub async fn start_with(
    backend: Backend,
    listen: SocketAddr,
    shutdown: CancellationToken,
    access_log: Option<AccessLog>,
) -> std::io::Result<RunningStandin> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let config = backend.config();
    let (release, workers) = (config.release.clone(), config.workers);
    let free = ArrayQueue::new(workers);
    for w in 0..workers {
        let _ = free.push(w);
    }
    let state = Arc::new(State {
        workers: Semaphore::new(workers),
        free,
        backend,
        started: Instant::now(),
        served: Default::default(),
        access_log,
    });
    let stop = shutdown.clone();
    let serving = state.clone();
    let task = tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    // Out of file descriptors or a reset during accept: keep serving.
                    Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
                },
                _ = stop.cancelled() => break,
            };
            let _ = stream.set_nodelay(true);
            let state = serving.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(state.clone(), peer, req));
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
                }
            });
        }
    });
    Ok(RunningStandin {
        addr,
        release,
        workers,
        shutdown,
        task,
        state,
    })
}

async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: Request<Body>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let version = req.version();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let sid = req
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("session_id=").map(str::to_string));
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(plain(413, "Request body too large")),
    };
    if path == STATS_PATH {
        return Ok(stats(&state));
    }
    let incoming = Incoming::parse(&method, &path, &query, &content_type, &body);

    // Wait for a free worker, as a request waits in Odoo's listen backlog.
    let Ok(_permit) = state.workers.acquire().await else {
        return Ok(plain(503, "Service Unavailable"));
    };
    let worker = Worker::take(&state);
    // Odoo's `perf_t0`: the request's time in its worker starts here.
    let taken = Instant::now();
    let config = state.backend.config();
    let key = incoming.key();
    let service = StandinConfig::lookup(&config.service, &key)
        .map_or(Duration::ZERO, |law| law.draw(&mut rand::rng()));
    let fault = StandinConfig::lookup(&config.faults, &key)
        .filter(|f| f.strikes(&mut rand::rng()))
        .cloned();
    serve_for(&state, service).await;

    let reply = match (&incoming, fault) {
        (Incoming::Rpc { id, .. }, Some(f)) => {
            // `{n}` in an injected error becomes the request's number: a target whose
            // messages (or exception names) differ on every request.
            let n = state
                .served
                .load(std::sync::atomic::Ordering::Relaxed)
                .to_string();
            error_envelope(
                id,
                200,
                &f.name.replace("{n}", &n),
                &f.message.replace("{n}", &n),
            )
        }
        (Incoming::Page { .. } | Incoming::Form { .. }, Some(_)) => Reply {
            status: 500,
            content_type: "text/html",
            body: Bytes::from_static(b"<h1>Internal Server Error</h1>"),
            set_session: None,
            location: None,
        },
        _ => match &state.backend {
            Backend::Memory(odoo) => odoo.answer(&incoming, sid.as_deref()),
            Backend::Postgres(pg) => pg.answer(worker.id, &incoming, sid.as_deref()).await,
        },
    };
    drop(worker);
    if let Some(log) = &state.access_log {
        let target = if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        };
        log.record(&Entry {
            peer,
            method: method.as_str(),
            target: &target,
            version: http_version(version),
            status: reply.status,
            query_count: 0,
            query_time: Duration::ZERO,
            worker_time: taken.elapsed(),
        });
    }
    state
        .served
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut resp = Response::builder()
        .status(reply.status)
        .header(CONTENT_TYPE, reply.content_type);
    if let Some(l) = &reply.location {
        resp = resp.header(hyper::header::LOCATION, l.as_str());
    }
    if let Some(s) = &reply.set_session {
        resp = resp.header(
            SET_COOKIE,
            format!("session_id={s}; HttpOnly; Path=/; SameSite=Lax"),
        );
    }
    Ok(resp
        .body(Full::new(reply.body))
        .unwrap_or_else(|_| plain(500, "response build failed")))
}

/// The request line's protocol, as werkzeug logs it.
fn http_version(v: hyper::Version) -> &'static str {
    match v {
        hyper::Version::HTTP_09 => "HTTP/0.9",
        hyper::Version::HTTP_10 => "HTTP/1.0",
        hyper::Version::HTTP_2 => "HTTP/2.0",
        hyper::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Introspection route (not Odoo's): counters as JSON, served without taking a worker.
pub const STATS_PATH: &str = "/peakgate/standin/stats";

fn stats(state: &State) -> Response<Full<Bytes>> {
    let mut v = match &state.backend {
        Backend::Memory(d) => serde_json::json!({"backend": "memory", "databases": d.names()}),
        Backend::Postgres(pg) => pg.stats_json(),
    };
    v["served"] = state
        .served
        .load(std::sync::atomic::Ordering::Relaxed)
        .into();
    v["release"] = state.backend.config().release.clone().into();
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    r.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A worker taken from the free list, given back when dropped.
struct Worker<'a> {
    id: usize,
    state: &'a State,
}

impl<'a> Worker<'a> {
    fn take(state: &'a State) -> Self {
        // A semaphore permit is held, so a worker id is free.
        let id = state.free.pop().unwrap_or(0);
        Worker { id, state }
    }
}

impl Drop for Worker<'_> {
    fn drop(&mut self) {
        let _ = self.state.free.push(self.id);
    }
}

/// Holds the worker for `service`, and for any stall window it runs into: a stalled server
/// neither starts nor finishes work.
async fn serve_for(state: &State, service: Duration) {
    let stalls = &state.backend.config().stalls;
    let since = |now: Instant| now.saturating_duration_since(state.started);
    let stall_end = |t: Duration| {
        stalls
            .iter()
            .find(|(a, b)| t >= *a && t < *b)
            .map(|(_, b)| *b)
    };
    if let Some(end) = stall_end(since(Instant::now())) {
        tokio::time::sleep_until(state.started + end).await;
    }
    if !service.is_zero() {
        tokio::time::sleep(service).await;
    }
    if let Some(end) = stall_end(since(Instant::now())) {
        tokio::time::sleep_until(state.started + end).await;
    }
}

fn plain(status: u16, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r
}
