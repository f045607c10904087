//! The HTTP exchange under the Odoo client, behind a trait: [`HyperTransport`] speaks HTTP/1.1
//! (and TLS) over pooled keep-alive connections; [`ScriptedTransport`] answers from a script,
//! so journeys and the preflight are tested without sockets.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::error::{ErrorKind, Failure};
use super::wire;

/// What to send: a path on the target (with its query), the session cookie, a body.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    /// `session_id=...`, when the virtual user has one.
    pub cookie: Option<String>,
    /// Content type and body (POST).
    pub body: Option<(&'static str, Bytes)>,
}

/// The two methods Odoo's routes need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    /// The `Location` header of a redirect.
    pub location: Option<String>,
    /// `session_id=...` from `Set-Cookie`, when the server set one.
    pub session_cookie: Option<String>,
    pub body: Bytes,
}

/// A boxed future, so the transport can sit behind `dyn`.
pub type Exchange<'a> = Pin<Box<dyn Future<Output = Result<HttpResponse, Failure>> + Send + 'a>>;

/// One HTTP exchange with the target. Timeouts are the client's business.
pub trait Transport: Send + Sync {
    fn send(&self, req: HttpRequest) -> Exchange<'_>;
}

/// HTTP/1.1 over hyper, with rustls for `https://` targets.
pub struct HyperTransport {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `scheme://host[:port]` plus any base path, without a trailing `/`.
    base: String,
    /// Answers whose body is larger are counted `body_too_large`.
    max_body: usize,
}

/// The default cap on an answer's body: far above any page or RPC answer of the shipped
/// scenarios (the POS data load of a large catalog is a few MiB).
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;

impl HyperTransport {
    /// The same transport with another cap on bodies.
    pub fn with_max_body(mut self, max_body: usize) -> HyperTransport {
        self.max_body = max_body;
        self
    }

    /// A transport to `base` (e.g. `http://127.0.0.1:8069`), keeping up to `max_idle` idle
    /// connections; connecting may take `connect_timeout`.
    pub fn new(base: &str, connect_timeout: Duration, max_idle: usize) -> HyperTransport {
        let connector = http_connector(connect_timeout);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        HyperTransport {
            http,
            max_body: DEFAULT_MAX_BODY,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    async fn exchange(&self, req: HttpRequest) -> Result<HttpResponse, Failure> {
        let method = match req.method {
            Method::Get => hyper::Method::GET,
            Method::Post => hyper::Method::POST,
        };
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, req.path));
        if let Some(c) = &req.cookie {
            builder = builder.header(COOKIE, c);
        }
        let body = match req.body {
            Some((content_type, body)) => {
                builder = builder.header(CONTENT_TYPE, content_type);
                body
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(body))
            .map_err(|e| Failure::new(ErrorKind::Protocol, format!("bad request: {e}")))?;
        let resp = self.http.request(request).await.map_err(|e| {
            let authority = self.base.split("//").nth(1).unwrap_or(&self.base);
            let authority = authority.split('/').next().unwrap_or(authority);
            if is_tls(&e) {
                Failure::new(
                    ErrorKind::Tls,
                    format!("TLS with {authority}: {}", root_cause(&e)),
                )
            } else if e.is_connect() {
                // `connect 127.0.0.1:9: Connection refused (os error 111)`: the address and
                // the innermost cause, without hyper's wrappers.
                Failure::new(
                    ErrorKind::Connect,
                    format!("connect {authority}: {}", root_cause(&e)),
                )
            } else if is_reset(&e) {
                Failure::new(ErrorKind::Reset, error_chain(&e))
            } else {
                Failure::new(ErrorKind::Protocol, error_chain(&e))
            }
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers();
        let session_cookie = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(wire::session_cookie);
        let location = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // A body past the cap is not read further: memory stays bounded whatever the target
        // sends.
        let max = self.max_body;
        let body = http_body_util::Limited::new(resp.into_body(), max)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Failure::new(
                        ErrorKind::BodyTooLarge,
                        format!("the answer's body is larger than {max} bytes"),
                    )
                } else if is_reset(e.as_ref()) {
                    Failure::new(ErrorKind::Reset, format!("reading the body: {e}"))
                } else {
                    Failure::new(ErrorKind::Protocol, format!("reading the body: {e}"))
                }
            })?
            .to_bytes();
        Ok(HttpResponse {
            status,
            location,
            session_cookie,
            body,
        })
    }
}

impl Transport for HyperTransport {
    fn send(&self, req: HttpRequest) -> Exchange<'_> {
        Box::pin(self.exchange(req))
    }
}

/// The connector every peakgate HTTP client uses: HTTP/1.1, TCP_NODELAY, `https://` through
/// rustls with the system's roots (none found: HTTPS fails to connect, HTTP still works), and
/// connecting bounded by `connect_timeout`.
pub fn http_connector(connect_timeout: Duration) -> HttpsConnector<HttpConnector> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    // The provider is named, not left to rustls's process default: another crate in the
    // build (object_store's S3 client) enables a second one, and with two the default is
    // ambiguous.
    let provider = || std::sync::Arc::new(rustls::crypto::ring::default_provider());
    // Without system roots, HTTPS targets fail to connect (counted), HTTP still works.
    match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider()) {
        Ok(b) => b.https_or_http().enable_http1().wrap_connector(http),
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default TLS versions")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
            .https_or_http()
            .enable_http1()
            .wrap_connector(http),
    }
}

/// Whether a TLS error is anywhere in the chain.
pub fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // rustls's errors reach hyper inside an `io::Error` (boxed, so not downcast here):
        // known by their words.
        let text = err.to_string().to_lowercase();
        if [
            "invalidcontenttype",
            "corrupt message",
            "certificate",
            "handshake",
            "tls",
        ]
        .iter()
        .any(|w| text.contains(w))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Whether the connection was reset or closed under the request.
fn is_reset(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as Io;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof
            )
        {
            return true;
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled() || h.is_closed())
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The innermost source of an error (the I/O or TLS error behind the client's wrappers).
pub fn root_cause(e: &dyn std::error::Error) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

/// An error and its sources, one line (`connection refused` rather than `client error`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Answers requests from a script: each request goes to the function, which sees it and the
/// number of requests before it. Every request is kept for the test to inspect.
pub struct ScriptedTransport {
    answer: ScriptFn,
    pub seen: Mutex<Vec<HttpRequest>>,
    /// Simulated time each answer takes (paused-clock tests).
    pub delay: Duration,
}

type ScriptFn = Box<dyn Fn(&HttpRequest, usize) -> Result<HttpResponse, Failure> + Send + Sync>;

impl ScriptedTransport {
    pub fn new(
        answer: impl Fn(&HttpRequest, usize) -> Result<HttpResponse, Failure> + Send + Sync + 'static,
    ) -> Arc<ScriptedTransport> {
        Arc::new(ScriptedTransport {
            answer: Box::new(answer),
            seen: Mutex::new(Vec::new()),
            delay: Duration::ZERO,
        })
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Transport for ScriptedTransport {
    fn send(&self, req: HttpRequest) -> Exchange<'_> {
        Box::pin(async move {
            let n = {
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                seen.push(req.clone());
                seen.len() - 1
            };
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            (self.answer)(&req, n)
        })
    }
}

impl HttpResponse {
    /// A `200` JSON answer.
    pub fn json(v: &serde_json::Value) -> HttpResponse {
        HttpResponse {
            status: 200,
            location: None,
            session_cookie: None,
            body: Bytes::from(v.to_string()),
        }
    }

    /// An HTML page with `status`.
    pub fn html(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            location: None,
            session_cookie: None,
            body: Bytes::from(body.to_string()),
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> HttpResponse {
        HttpResponse {
            status,
            location: Some(location.to_string()),
            session_cookie: None,
            body: Bytes::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A loopback server that reads one request per connection and then does `answer` to it.
    async fn server<F, Fut>(answer: F) -> String
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                answer(s).await;
            }
        });
        format!("http://{addr}")
    }

    fn get() -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            path: "/web/webclient/version_info".into(),
            cookie: None,
            body: None,
        }
    }

    #[tokio::test]
    async fn a_connection_reset_is_counted_as_reset_not_protocol() {
        // SO_LINGER 0 makes the close a TCP reset.
        let base = server(|s| async move {
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
        })
        .await;
        let t = HyperTransport::new(&base, Duration::from_secs(2), 1);
        let failure = t.send(get()).await.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::Reset, "{failure:?}");
    }

    #[tokio::test]
    async fn a_garbage_answer_is_counted_as_protocol() {
        let base = server(|mut s| async move {
            let _ = s.write_all(b"this is not HTTP\r\n\r\n").await;
            let _ = s.shutdown().await;
        })
        .await;
        let t = HyperTransport::new(&base, Duration::from_secs(2), 1);
        let failure = t.send(get()).await.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::Protocol, "{failure:?}");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_counted_as_body_too_large() {
        let base = server(|mut s| async move {
            let body = vec![b'x'; 64 * 1024];
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
        })
        .await;
        let capped = HyperTransport::new(&base, Duration::from_secs(2), 1).with_max_body(16 * 1024);
        let failure = capped.send(get()).await.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::BodyTooLarge, "{failure:?}");
        // Under the cap the same answer is read whole.
        let roomy = HyperTransport::new(&base, Duration::from_secs(2), 1).with_max_body(1 << 20);
        assert_eq!(roomy.send(get()).await.unwrap().body.len(), 64 * 1024);
    }
}
