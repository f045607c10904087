//! The Odoo HTTP client: JSON-RPC POSTs and page GETs over pooled keep-alive connections,
//! every failure turned into an [`ErrorKind`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use hyper::{Method, Request};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::sample::ErrorKind;

/// An answer that arrived: status, body and the session cookie if the server set one.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// `session_id=...` from `Set-Cookie`, when present.
    pub session_cookie: Option<String>,
}

/// A JSON-RPC call's outcome in Odoo terms.
#[derive(Debug)]
pub enum RpcOutcome {
    Result(Value),
    /// Code 100: the session is not (or no longer) valid.
    SessionExpired,
    Error(ErrorKind),
}

/// Client for one target, shared by all virtual users (it is a handle to a pool).
#[derive(Clone)]
pub struct OdooClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: Arc<str>,
    timeout: Duration,
}

impl OdooClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8069`); each request gets `timeout`.
    pub fn new(base: &str, timeout: Duration, max_idle: usize) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        // Without system roots, HTTPS targets fail to connect (counted), HTTP still works.
        let connector = match builder.with_native_roots() {
            Ok(b) => b.https_or_http().enable_http1().wrap_connector(http),
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(rustls_config_without_roots())
                .https_or_http()
                .enable_http1()
                .wrap_connector(http),
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        OdooClient {
            http,
            base: base.trim_end_matches('/').into(),
            timeout,
        }
    }

    /// POSTs a JSON-RPC body to `path`.
    pub async fn post_json(
        &self,
        path: &str,
        body: Bytes,
        cookie: Option<&str>,
    ) -> Result<Answer, ErrorKind> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{}", self.base, path))
            .header(CONTENT_TYPE, "application/json");
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        self.send(req.body(Full::new(body)).map_err(|_| ErrorKind::Protocol)?)
            .await
    }

    /// GETs a page.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Result<Answer, ErrorKind> {
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{}", self.base, path));
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        self.send(
            req.body(Full::new(Bytes::new()))
                .map_err(|_| ErrorKind::Protocol)?,
        )
        .await
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<Answer, ErrorKind> {
        let exchange = async {
            let resp = self.http.request(req).await.map_err(|e| {
                if e.is_connect() {
                    ErrorKind::Connect
                } else {
                    ErrorKind::Protocol
                }
            })?;
            let status = resp.status().as_u16();
            let session_cookie = resp
                .headers()
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(session_cookie);
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|_| ErrorKind::Protocol)?
                .to_bytes();
            Ok(Answer {
                status,
                body,
                session_cookie,
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(ErrorKind::Timeout))
    }
}

/// A rustls config that trusts nothing (used only when the system has no root store).
fn rustls_config_without_roots() -> rustls::ClientConfig {
    rustls::ClientConfig::builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// `session_id=value` from one `Set-Cookie` header.
fn session_cookie(header: &str) -> Option<String> {
    let pair = header.split(';').next()?.trim();
    pair.starts_with("session_id=").then(|| pair.to_string())
}

/// Reads an Odoo JSON-RPC answer.
pub fn read_rpc(answer: &Answer) -> RpcOutcome {
    if answer.status != 200 {
        return RpcOutcome::Error(ErrorKind::Http(answer.status));
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(&answer.body) else {
        return RpcOutcome::Error(ErrorKind::Protocol);
    };
    if let Some(err) = v.get("error") {
        if err.get("code").and_then(Value::as_i64) == Some(100) {
            return RpcOutcome::SessionExpired;
        }
        let name = err
            .pointer("/data/name")
            .or_else(|| err.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("unknown_rpc_error");
        return RpcOutcome::Error(ErrorKind::Rpc(name.into()));
    }
    // A method returning None has no `result` key.
    RpcOutcome::Result(v.get_mut("result").map(Value::take).unwrap_or(Value::Null))
}

/// Serializes a JSON-RPC request envelope.
pub fn envelope(params: Value, id: u64) -> Bytes {
    let body = serde_json::json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": id});
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: Bytes::from(body.to_string()),
            session_cookie: None,
        }
    }

    #[test]
    fn odoo_errors_are_classified_by_data_name() {
        let a = answer(
            200,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":200,"message":"Odoo Server Error","data":{"name":"psycopg2.errors.SerializationFailure","message":"x"}}}"#,
        );
        match read_rpc(&a) {
            RpcOutcome::Error(ErrorKind::Rpc(n)) => {
                assert_eq!(&*n, "psycopg2.errors.SerializationFailure")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn code_100_is_a_session_expiry_and_missing_result_is_null() {
        let a = answer(
            200,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":100,"message":"Odoo Session Expired","data":{"name":"odoo.http.SessionExpiredException"}}}"#,
        );
        assert!(matches!(read_rpc(&a), RpcOutcome::SessionExpired));
        assert!(matches!(
            read_rpc(&answer(200, r#"{"jsonrpc":"2.0","id":1}"#)),
            RpcOutcome::Result(Value::Null)
        ));
        assert!(matches!(
            read_rpc(&answer(502, "bad gateway")),
            RpcOutcome::Error(ErrorKind::Http(502))
        ));
        assert!(matches!(
            read_rpc(&answer(200, "<html>")),
            RpcOutcome::Error(ErrorKind::Protocol)
        ));
    }

    #[test]
    fn only_the_session_cookie_is_kept() {
        assert_eq!(
            session_cookie("session_id=abc; Path=/; HttpOnly").as_deref(),
            Some("session_id=abc")
        );
        assert_eq!(session_cookie("frontend_lang=en_US; Path=/"), None);
    }
}
