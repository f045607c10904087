//! Odoo's protocol as the stand-in speaks it: routes, envelopes, error shapes, model calls
//! (see ODOO-PROTOCOL.md). The backends (`memory`, `pg`) give the answers; capacity lives in
//! `server`.

use bytes::Bytes;
use serde_json::{Value, json};

use super::config::CallKey;

/// A request, as Odoo would route it.
#[derive(Debug)]
pub enum Incoming {
    /// A JSON-RPC POST to `path`.
    Rpc {
        path: String,
        id: Value,
        params: Value,
    },
    /// A page GET; `query` is the URL's query string (without `?`).
    Page { path: String, query: String },
    /// A form POST (`application/x-www-form-urlencoded`).
    Form {
        path: String,
        fields: Vec<(String, String)>,
    },
    /// Not JSON where JSON was due: Odoo answers plain-text 400.
    BadJson,
    /// No such route: Odoo answers an HTML 404.
    NotFound,
}

/// JSON routes the stand-in serves.
const JSON_ROUTES: &[&str] = &[
    "/web/session/authenticate",
    "/web/dataset/call_kw",
    "/web/dataset/call_button",
    "/web/database/list",
    "/jsonrpc",
    "/web/webclient/version_info",
    "/shop/cart/update_json",
];

/// Page routes the stand-in serves (a prefix ending in `/` covers what is under it).
const PAGE_ROUTES: &[&str] = &["/web/health", "/web/login", "/shop", "/shop/", "/pos/ui"];

impl Incoming {
    /// Routes a request by method, path, query and content type.
    pub fn parse(
        method: &hyper::Method,
        path: &str,
        query: &str,
        content_type: &str,
        body: &[u8],
    ) -> Incoming {
        let page = PAGE_ROUTES
            .iter()
            .any(|r| path == *r || (r.ends_with('/') && path.starts_with(r)));
        if method == hyper::Method::GET {
            return if page {
                Incoming::Page {
                    path: path.to_string(),
                    query: query.to_string(),
                }
            } else {
                Incoming::NotFound
            };
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            return if page {
                Incoming::Form {
                    path: path.to_string(),
                    fields: url::form_urlencoded::parse(body).into_owned().collect(),
                }
            } else {
                Incoming::NotFound
            };
        }
        if !JSON_ROUTES
            .iter()
            .any(|r| path == *r || path.starts_with(&format!("{r}/")))
        {
            return Incoming::NotFound;
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(mut v) if v.is_object() => Incoming::Rpc {
                path: path.to_string(),
                id: v.get_mut("id").map(Value::take).unwrap_or(Value::Null),
                params: v
                    .get_mut("params")
                    .map(Value::take)
                    .unwrap_or_else(|| json!({})),
            },
            _ => Incoming::BadJson,
        }
    }

    /// The key its service law and faults are looked up by.
    pub fn key(&self) -> CallKey<'_> {
        match self {
            Incoming::Rpc { path, params, .. } if path.starts_with("/web/dataset/call_") => {
                CallKey::Model {
                    model: params.get("model").and_then(Value::as_str).unwrap_or(""),
                    method: params.get("method").and_then(Value::as_str).unwrap_or(""),
                }
            }
            Incoming::Rpc { path, params, .. }
                if path == "/jsonrpc" && params.get("service") == Some(&json!("object")) =>
            {
                let args = params.get("args");
                CallKey::Model {
                    model: args
                        .and_then(|a| a.get(3))
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    method: args
                        .and_then(|a| a.get(4))
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                }
            }
            Incoming::Rpc { path, .. }
            | Incoming::Page { path, .. }
            | Incoming::Form { path, .. } => CallKey::Route(path),
            Incoming::BadJson | Incoming::NotFound => CallKey::Route("/"),
        }
    }
}

/// The answer to send.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
    /// A new `session_id` to set.
    pub set_session: Option<String>,
    /// A redirect's target.
    pub location: Option<String>,
}

impl Reply {
    pub fn json(v: Value) -> Reply {
        Reply {
            status: 200,
            content_type: "application/json",
            body: Bytes::from(v.to_string()),
            set_session: None,
            location: None,
        }
    }
    pub fn html(status: u16, body: String) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body: Bytes::from(body),
            set_session: None,
            location: None,
        }
    }
}

/// Odoo's JSON-RPC error envelope (code 200 in 16/17/18.0).
pub fn error_envelope(id: &Value, code: i64, name: &str, message: &str) -> Reply {
    let top = match code {
        100 => "Odoo Session Expired",
        _ => "Odoo Server Error",
    };
    Reply::json(json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": code, "message": top,
        "data": {"name": name, "message": message, "arguments": [message], "debug": format!("Traceback (most recent call last):\n{name}: {message}"), "context": {}}
    }}))
}

/// `code` 100: the route needs a logged-in session.
pub fn session_expired(id: &Value) -> Reply {
    error_envelope(
        id,
        100,
        "odoo.http.SessionExpiredException",
        "Session expired",
    )
}

/// Wrong database, login or password.
pub fn access_denied(id: &Value) -> Reply {
    error_envelope(id, 200, "odoo.exceptions.AccessDenied", "Access Denied")
}

/// A model method call, from `call_kw` params or `execute_kw` arguments.
#[derive(Debug, Clone)]
pub struct ModelCall {
    pub model: String,
    pub method: String,
    pub args: Value,
    pub kwargs: Value,
}

impl ModelCall {
    /// `{model, method, args, kwargs}` of `/web/dataset/call_kw`.
    pub fn from_call_kw(params: &Value) -> ModelCall {
        let text = |k: &str| {
            params
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        ModelCall {
            model: text("model"),
            method: text("method"),
            args: params.get("args").cloned().unwrap_or_else(|| json!([])),
            kwargs: params.get("kwargs").cloned().unwrap_or_else(|| json!({})),
        }
    }

    /// `[db, uid, password, model, method, args, kwargs]` of `object.execute_kw`.
    pub fn from_execute_kw(args: &[Value]) -> ModelCall {
        let text = |i: usize| {
            args.get(i)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        ModelCall {
            model: text(3),
            method: text(4),
            args: args.get(5).cloned().unwrap_or_else(|| json!([])),
            kwargs: args.get(6).cloned().unwrap_or_else(|| json!({})),
        }
    }
}

/// A JSON-RPC success envelope.
pub fn result(id: &Value, v: Value) -> Reply {
    if v.is_null() {
        // A method returning None: no `result` key.
        return Reply::json(json!({"jsonrpc": "2.0", "id": id}));
    }
    Reply::json(json!({"jsonrpc": "2.0", "id": id, "result": v}))
}

pub use super::memory::Odoo;
