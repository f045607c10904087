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

use super::config::StandinConfig;
use super::odoo::{Incoming, Odoo, error_envelope};

/// Odoo's `limit_request` analogue: bodies above this are refused.
const MAX_BODY: usize = 64 * 1024 * 1024;

struct State {
    odoo: Odoo,
    /// One permit per HTTP worker; tokio's semaphore is fair, so waiters are served FIFO.
    workers: Semaphore,
    started: Instant,
}

/// A running stand-in.
pub struct RunningStandin {
    pub addr: SocketAddr,
    pub release: String,
    pub workers: usize,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningStandin {
    /// The base URL to drive it at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and waits for the accept loop to end.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    /// Waits until `shutdown` (given at start) is cancelled.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Binds `listen` (port 0 picks a free one) and serves until `shutdown` is cancelled.
pub async fn start(
    config: StandinConfig,
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> std::io::Result<RunningStandin> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (release, workers) = (config.release.clone(), config.workers);
    let state = Arc::new(State {
        workers: Semaphore::new(config.workers),
        odoo: Odoo::new(config),
        started: Instant::now(),
    });
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    // Out of file descriptors or a reset during accept: keep serving.
                    Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
                },
                _ = stop.cancelled() => break,
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(state.clone(), req));
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
    })
}

async fn handle(
    state: Arc<State>,
    req: Request<Body>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
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
    let incoming = Incoming::parse(&method, &path, &body);

    // Wait for a free worker, as a request waits in Odoo's listen backlog.
    let Ok(_permit) = state.workers.acquire().await else {
        return Ok(plain(503, "Service Unavailable"));
    };
    let config = state.odoo.config();
    let key = incoming.key();
    let service = StandinConfig::lookup(&config.service, &key)
        .map_or(Duration::ZERO, |law| law.draw(&mut rand::rng()));
    let fault = StandinConfig::lookup(&config.faults, &key)
        .filter(|f| f.strikes(&mut rand::rng()))
        .cloned();
    serve_for(&state, service).await;

    let reply = match (&incoming, fault) {
        (Incoming::Rpc { id, .. }, Some(f)) => error_envelope(id, 200, &f.name, &f.message),
        (Incoming::Page { .. }, Some(_)) => super::odoo::Reply {
            status: 500,
            content_type: "text/html",
            body: Bytes::from_static(b"<h1>Internal Server Error</h1>"),
            set_session: None,
        },
        _ => state.odoo.answer(&incoming, sid.as_deref()),
    };
    let mut resp = Response::builder()
        .status(reply.status)
        .header(CONTENT_TYPE, reply.content_type);
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

/// Holds the worker for `service`, and for any stall window it runs into: a stalled server
/// neither starts nor finishes work.
async fn serve_for(state: &State, service: Duration) {
    let stalls = &state.odoo.config().stalls;
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
