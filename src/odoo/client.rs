//! The Odoo client: JSON-RPC calls, the login, the server's version, and pages with their
//! redirects followed as a browser follows them. Every failure comes back as a [`Failure`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use url::Url;

use super::error::{ErrorKind, Failure};
use super::transport::{HttpRequest, HttpResponse, HyperTransport, Method, Transport};
use super::wire::{self, Reply, ServerVersion};

/// The version route: public, cheap, the same in 16, 17 and 18.
pub const VERSION_PATH: &str = "/web/webclient/version_info";
/// The login route.
pub const AUTHENTICATE_PATH: &str = "/web/session/authenticate";
/// Redirects a page may take before it counts as a failure (browsers stop at about 20).
pub const MAX_REDIRECTS: u32 = 10;

/// A logged-in Odoo session: its cookie and user id.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSession {
    pub cookie: String,
    pub uid: Value,
}

/// A JSON-RPC call's outcome in Odoo terms.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcOutcome {
    Result(Value),
    /// Code 100: the session is not (or no longer) valid.
    SessionExpired,
    Failed(Failure),
}

/// A JSON-RPC exchange: the outcome and the session cookie the server set, if any.
#[derive(Debug, Clone)]
pub struct RpcExchange {
    pub outcome: RpcOutcome,
    pub session_cookie: Option<String>,
}

/// A page request: a GET, or a form POST (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub path: String,
    /// Form fields to POST; `None` is a GET.
    pub form: Option<Vec<(String, String)>>,
}

/// Where a page's redirect chain ended.
#[derive(Debug, Clone)]
pub struct Page {
    pub status: u16,
    /// Path (and query) of the last request of the chain.
    pub path: String,
    pub body: Bytes,
}

/// A page exchange, redirects included.
#[derive(Debug, Clone)]
pub struct PageExchange {
    pub outcome: Result<Page, Failure>,
    /// The last session cookie the server set along the chain.
    pub session_cookie: Option<String>,
    /// Redirects followed.
    pub redirects: u32,
}

/// A client for one target, shared by all virtual users (a handle to a connection pool).
#[derive(Clone)]
pub struct OdooClient {
    transport: Arc<dyn Transport>,
    base: Arc<Url>,
    timeout: Duration,
}

/// Why a target URL cannot be driven.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("`{0}` is not a URL: {1}")]
    Parse(String, url::ParseError),
    #[error("`{0}`: only http:// and https:// targets can be driven")]
    Scheme(String),
    #[error(
        "`{0}`: credentials do not belong in the URL: name the variable holding the password in `[target] password_env` (default ODOO_PASSWORD)"
    )]
    Credentials(String),
}

/// Parses a target URL: http(s), a host, no credentials.
pub fn parse_target(url: &str) -> Result<Url, UrlError> {
    let shown = || crate::secrets::redact_url(url);
    let parsed = Url::parse(url).map_err(|e| UrlError::Parse(shown(), e))?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err(UrlError::Scheme(shown()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlError::Credentials(shown()));
    }
    Ok(parsed)
}

impl OdooClient {
    /// A client for `base` over HTTP(S); each request gets `timeout`.
    pub fn http(base: &Url, timeout: Duration, max_idle: usize) -> OdooClient {
        Self::http_capped(base, timeout, max_idle, super::transport::DEFAULT_MAX_BODY)
    }

    /// A client whose answers' bodies are read up to `max_body` bytes (beyond:
    /// `body_too_large`).
    pub fn http_capped(
        base: &Url,
        timeout: Duration,
        max_idle: usize,
        max_body: usize,
    ) -> OdooClient {
        let text = base.as_str().trim_end_matches('/');
        OdooClient::new(
            Arc::new(HyperTransport::new(text, timeout, max_idle).with_max_body(max_body)),
            base.clone(),
            timeout,
        )
    }

    /// A client over any transport (tests script one).
    pub fn new(transport: Arc<dyn Transport>, base: Url, timeout: Duration) -> OdooClient {
        OdooClient {
            transport,
            base: Arc::new(base),
            timeout,
        }
    }

    /// The same client, with every exchange also written to `out` (see [`super::record`]).
    pub fn recording(&self, out: Box<dyn std::io::Write + Send>) -> OdooClient {
        OdooClient {
            transport: Arc::new(super::record::RecordingTransport::new(
                self.transport.clone(),
                out,
            )),
            base: self.base.clone(),
            timeout: self.timeout,
        }
    }

    /// The target's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// One HTTP exchange, within the timeout.
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, Failure> {
        let path = req.path.clone();
        match tokio::time::timeout(self.timeout, self.transport.send(req)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::new(
                ErrorKind::Timeout,
                format!(
                    "no answer to {path} within {}",
                    humantime::format_duration(self.timeout)
                ),
            )),
        }
    }

    /// POSTs a JSON-RPC call to `path`.
    pub async fn rpc(
        &self,
        path: &str,
        params: &Value,
        id: u64,
        cookie: Option<&str>,
    ) -> RpcExchange {
        let req = HttpRequest {
            method: Method::Post,
            path: path.to_string(),
            cookie: cookie.map(str::to_string),
            body: Some(("application/json", wire::request_body(params, id))),
        };
        match self.send(req).await {
            Ok(resp) => RpcExchange {
                outcome: read_rpc(path, &resp),
                session_cookie: resp.session_cookie,
            },
            Err(f) => RpcExchange {
                outcome: RpcOutcome::Failed(f),
                session_cookie: None,
            },
        }
    }

    /// `model.method(*args, **kwargs)` through `/web/dataset/call_kw/<model>/<method>`.
    pub async fn call_kw(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
        cookie: Option<&str>,
    ) -> RpcExchange {
        let params = json!({"model": model, "method": method, "args": args, "kwargs": kwargs});
        self.rpc(
            &format!("/web/dataset/call_kw/{model}/{method}"),
            &params,
            1,
            cookie,
        )
        .await
    }

    /// A button of a form (a wizard's), through `/web/dataset/call_button`.
    pub async fn call_button(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
        cookie: Option<&str>,
    ) -> RpcExchange {
        let params = json!({"model": model, "method": method, "args": args, "kwargs": kwargs});
        self.rpc("/web/dataset/call_button", &params, 1, cookie)
            .await
    }

    /// The server's version, from `/web/webclient/version_info`.
    pub async fn version(&self) -> Result<ServerVersion, Failure> {
        match self.rpc(VERSION_PATH, &json!({}), 1, None).await.outcome {
            RpcOutcome::Result(v) => ServerVersion::from_info(&v).ok_or_else(|| {
                Failure::new(
                    ErrorKind::Protocol,
                    format!(
                        "{VERSION_PATH} answered without a version: {}",
                        cut(&v.to_string())
                    ),
                )
            }),
            RpcOutcome::SessionExpired => Err(Failure::new(
                ErrorKind::SessionExpired,
                format!("{VERSION_PATH} asked for a session"),
            )),
            RpcOutcome::Failed(f) => Err(f),
        }
    }

    /// Logs in through `/web/session/authenticate`.
    pub async fn authenticate(
        &self,
        database: &str,
        login: &str,
        password: &str,
    ) -> Result<UserSession, Failure> {
        let params = json!({"db": database, "login": login, "password": password});
        let exchange = self.rpc(AUTHENTICATE_PATH, &params, 1, None).await;
        match (exchange.outcome, exchange.session_cookie) {
            (RpcOutcome::Result(r), Some(cookie)) if r.get("uid").is_some_and(Value::is_i64) => {
                Ok(UserSession {
                    cookie,
                    uid: r["uid"].clone(),
                })
            }
            // 16 answers a failed login with `uid: false` on some paths.
            (RpcOutcome::Result(_), _) => Err(Failure::new(
                ErrorKind::Rpc("odoo.exceptions.AccessDenied".into()),
                "Access Denied",
            )),
            (RpcOutcome::SessionExpired, _) => Err(Failure::new(
                ErrorKind::SessionExpired,
                "the login route asked for a session",
            )),
            (RpcOutcome::Failed(f), _) => Err(f),
        }
    }

    /// Loads a page as a browser does: follows redirects (at most `max_redirects`, and only on
    /// the target), carrying the session cookie along; the last status decides.
    pub async fn page(
        &self,
        req: &PageRequest,
        cookie: Option<&str>,
        max_redirects: u32,
    ) -> PageExchange {
        let mut cookie = cookie.map(str::to_string);
        let mut set_cookie = None;
        let mut path = req.path.clone();
        let mut form = req.form.clone();
        let mut redirects = 0;
        let outcome = loop {
            let body = form.as_ref().map(|fields| {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                ("application/x-www-form-urlencoded", Bytes::from(encoded))
            });
            let sent = HttpRequest {
                method: if body.is_some() {
                    Method::Post
                } else {
                    Method::Get
                },
                path: path.clone(),
                cookie: cookie.clone(),
                body: body.clone(),
            };
            let resp = match self.send(sent).await {
                Ok(r) => r,
                Err(f) => break Err(f),
            };
            if let Some(c) = resp.session_cookie {
                cookie = Some(c.clone());
                set_cookie = Some(c);
            }
            let location = match (&resp.location, resp.status) {
                (Some(l), 301 | 302 | 303 | 307 | 308) => l.clone(),
                (_, 200..=299) => {
                    break Ok(Page {
                        status: resp.status,
                        path,
                        body: resp.body,
                    });
                }
                (_, status) => {
                    let after = match redirects {
                        0 => String::new(),
                        1 => " after 1 redirect".into(),
                        n => format!(" after {n} redirects"),
                    };
                    break Err(Failure::new(
                        ErrorKind::Http(status),
                        format!("HTTP {status} at {path}{after}"),
                    ));
                }
            };
            if redirects == max_redirects {
                break Err(Failure::new(
                    ErrorKind::Redirect,
                    format!("more than {max_redirects} redirects (the last to {location})"),
                ));
            }
            match self.on_target(&path, &location) {
                Ok(next) => path = next,
                Err(f) => break Err(f),
            }
            redirects += 1;
            // 301/302/303 turn a POST into a GET, as browsers do; 307/308 repeat it.
            if !matches!(resp.status, 307 | 308) {
                form = None;
            }
        };
        PageExchange {
            outcome,
            session_cookie: set_cookie,
            redirects,
        }
    }

    /// The path a `Location` leads to, when it stays on the target's host and port.
    fn on_target(&self, from: &str, location: &str) -> Result<String, Failure> {
        let current = self
            .base
            .join(from)
            .map_err(|e| Failure::new(ErrorKind::Redirect, format!("{from}: {e}")))?;
        let next = current.join(location).map_err(|e| {
            Failure::new(
                ErrorKind::Redirect,
                format!("bad Location {location:?}: {e}"),
            )
        })?;
        let same = next.host_str() == self.base.host_str()
            && next.port_or_known_default() == self.base.port_or_known_default();
        // Behind a TLS proxy Odoo may redirect to http:// on its own host: same host, same
        // target (ports are compared only when they are explicit on both sides).
        let same_host_other_scheme = next.host_str() == self.base.host_str()
            && next.scheme() != self.base.scheme()
            && (next.port().is_none() || self.base.port().is_none());
        if !(same || same_host_other_scheme) {
            return Err(Failure::new(
                ErrorKind::Redirect,
                format!(
                    "redirect off the target to {}",
                    next.origin().ascii_serialization()
                ),
            ));
        }
        let mut out = next.path().to_string();
        if let Some(q) = next.query() {
            out.push('?');
            out.push_str(q);
        }
        Ok(out)
    }
}

/// Reads a JSON-RPC answer to `path`.
pub fn read_rpc(path: &str, resp: &HttpResponse) -> RpcOutcome {
    if resp.status != 200 {
        return RpcOutcome::Failed(Failure::new(
            ErrorKind::Http(resp.status),
            format!("HTTP {} at {path}", resp.status),
        ));
    }
    match wire::read_reply(&resp.body) {
        Ok(Reply::Result(v)) => RpcOutcome::Result(v),
        Ok(Reply::SessionExpired) => RpcOutcome::SessionExpired,
        Ok(Reply::Error { name, message }) => {
            RpcOutcome::Failed(Failure::new(ErrorKind::Rpc(name.into()), message))
        }
        Err(why) => RpcOutcome::Failed(Failure::new(ErrorKind::Protocol, format!("{path}: {why}"))),
    }
}

/// At most 200 characters of `s`, for messages.
fn cut(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odoo::transport::ScriptedTransport;

    fn client(t: Arc<ScriptedTransport>) -> OdooClient {
        OdooClient::new(
            t,
            Url::parse("http://127.0.0.1:8069").unwrap(),
            Duration::from_secs(5),
        )
    }

    #[tokio::test]
    async fn redirects_are_followed_with_the_cookie_and_the_last_status_decides() {
        let t = ScriptedTransport::new(|req, n| {
            Ok(match (n, req.path.as_str()) {
                (0, "/shop/checkout") => {
                    let mut r = HttpResponse::redirect(303, "http://127.0.0.1:8069/shop/address");
                    r.session_cookie = Some("session_id=v1".into());
                    r
                }
                (1, "/shop/address") => {
                    assert_eq!(req.cookie.as_deref(), Some("session_id=v1"));
                    HttpResponse::html(200, "<form>address</form>")
                }
                other => panic!("unexpected {other:?}"),
            })
        });
        let page = client(t)
            .page(
                &PageRequest {
                    path: "/shop/checkout".into(),
                    form: None,
                },
                None,
                MAX_REDIRECTS,
            )
            .await;
        assert_eq!(page.redirects, 1);
        assert_eq!(page.session_cookie.as_deref(), Some("session_id=v1"));
        let p = page.outcome.unwrap();
        assert_eq!((p.status, p.path.as_str()), (200, "/shop/address"));
    }

    #[tokio::test]
    async fn a_redirect_chain_ending_in_a_500_is_a_failure_of_that_status() {
        let t = ScriptedTransport::new(|req, _| {
            Ok(match req.path.as_str() {
                "/shop/product-7" => HttpResponse::redirect(301, "/shop/desk-7"),
                _ => HttpResponse::html(500, "Internal Server Error"),
            })
        });
        let page = client(t)
            .page(
                &PageRequest {
                    path: "/shop/product-7".into(),
                    form: None,
                },
                None,
                MAX_REDIRECTS,
            )
            .await;
        let f = page.outcome.unwrap_err();
        assert_eq!(f.kind, ErrorKind::Http(500));
        assert_eq!(f.message, "HTTP 500 at /shop/desk-7 after 1 redirect");
        assert_eq!(page.redirects, 1);
    }

    #[tokio::test]
    async fn redirect_loops_and_other_hosts_are_not_followed() {
        let looping =
            ScriptedTransport::new(|_, n| Ok(HttpResponse::redirect(302, &format!("/loop/{n}"))));
        let page = client(looping.clone())
            .page(
                &PageRequest {
                    path: "/loop".into(),
                    form: None,
                },
                None,
                3,
            )
            .await;
        assert_eq!(page.outcome.unwrap_err().kind, ErrorKind::Redirect);
        assert_eq!(looping.requests().len(), 4);
        let away = ScriptedTransport::new(|_, _| {
            Ok(HttpResponse::redirect(302, "https://pay.example.com/x"))
        });
        let f = client(away)
            .page(
                &PageRequest {
                    path: "/shop/payment".into(),
                    form: None,
                },
                None,
                3,
            )
            .await
            .outcome
            .unwrap_err();
        assert_eq!(f.kind, ErrorKind::Redirect);
        assert!(f.message.contains("pay.example.com"), "{}", f.message);
    }

    #[tokio::test]
    async fn a_form_post_becomes_a_get_after_a_303() {
        let t = ScriptedTransport::new(|req, n| {
            Ok(match n {
                0 => {
                    assert_eq!(req.method, Method::Post);
                    let (ct, body) = req.body.clone().unwrap();
                    assert_eq!(ct, "application/x-www-form-urlencoded");
                    assert_eq!(&body[..], b"name=Ann+B&csrf_token=x%2Fy");
                    HttpResponse::redirect(303, "/shop/confirm_order")
                }
                _ => {
                    assert_eq!((req.method, req.body.is_none()), (Method::Get, true));
                    HttpResponse::html(200, "ok")
                }
            })
        });
        let form = vec![
            ("name".into(), "Ann B".into()),
            ("csrf_token".into(), "x/y".into()),
        ];
        let page = client(t)
            .page(
                &PageRequest {
                    path: "/shop/address".into(),
                    form: Some(form),
                },
                None,
                MAX_REDIRECTS,
            )
            .await;
        assert_eq!(page.outcome.unwrap().path, "/shop/confirm_order");
    }

    #[tokio::test]
    async fn rpc_errors_keep_the_exception_name_and_message() {
        let t = ScriptedTransport::new(|_, _| {
            Ok(HttpResponse::json(&wire::error_body(
                &json!(1),
                200,
                "builtins.ValueError",
                "Invalid field 'account_code' on model 'account.move.line'",
            )))
        });
        let r = client(t)
            .call_kw(
                "account.move.line",
                "read_group",
                json!([]),
                json!({}),
                None,
            )
            .await;
        let RpcOutcome::Failed(f) = r.outcome else {
            panic!()
        };
        assert_eq!(f.kind, ErrorKind::Rpc("builtins.ValueError".into()));
        assert!(f.message.contains("account_code"));
    }

    #[tokio::test]
    async fn a_login_without_a_uid_is_access_denied() {
        let t = ScriptedTransport::new(|_, _| {
            let mut r =
                HttpResponse::json(&json!({"jsonrpc": "2.0", "id": 1, "result": {"uid": false}}));
            r.session_cookie = Some("session_id=a".into());
            Ok(r)
        });
        let f = client(t)
            .authenticate("db", "admin", "x")
            .await
            .unwrap_err();
        assert_eq!(f.kind.label(), "odoo.exceptions.AccessDenied");
    }

    #[test]
    fn target_urls_are_checked_and_never_echo_credentials() {
        assert!(parse_target("http://127.0.0.1:8069").is_ok());
        let e = parse_target("https://admin:s3cr#t@odoo.example.com")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cr"), "{e}");
        let e = parse_target("admin:pw@odoo.example.com")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"), "{e}");
        assert!(matches!(parse_target("ftp://x"), Err(UrlError::Scheme(_))));
        assert!(matches!(
            parse_target("https://u:p@x.example.com/"),
            Err(UrlError::Credentials(_))
        ));
    }
}
