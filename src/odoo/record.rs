//! A wire log: every exchange with the target, reduced to what the differential tests compare
//! (the request's kind, the status, where a redirect led, and the answer's shape or error
//! name), one JSON object a line. The tests run the same flows against a real Odoo and against
//! the stand-in and hold the stand-in to the real server's shapes.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::transport::{Exchange, HttpRequest, HttpResponse, Method, Transport};
use super::wire::{self, Reply};

/// One exchange, as logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logged {
    /// `call_kw pos.order.create_from_ui`, `call_button pos.config.open_ui`, `POST /shop/cart/update_json`,
    /// `GET /shop/{product}`...
    pub kind: String,
    pub status: u16,
    /// A redirect's target, normalised like the paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// JSON-RPC: the result's shape ([`shape`]), or `null` for a page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Value>,
    /// JSON-RPC errors: Odoo's `data.name` and `data.message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<(String, String)>,
    /// Failures below HTTP (connect, timeout...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Wraps a transport and logs every exchange to a writer.
pub struct RecordingTransport {
    inner: Arc<dyn Transport>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl RecordingTransport {
    pub fn new(inner: Arc<dyn Transport>, out: Box<dyn Write + Send>) -> RecordingTransport {
        RecordingTransport {
            inner,
            out: Mutex::new(out),
        }
    }
}

impl Transport for RecordingTransport {
    fn send(&self, req: HttpRequest) -> Exchange<'_> {
        Box::pin(async move {
            let kind = kind_of(&req);
            let answer = self.inner.send(req).await;
            let logged = match &answer {
                Ok(resp) => logged(kind, resp),
                Err(f) => Logged {
                    kind,
                    status: 0,
                    location: None,
                    shape: None,
                    error: None,
                    failure: Some(f.kind.label()),
                },
            };
            if let (Ok(line), Ok(mut out)) = (serde_json::to_string(&logged), self.out.lock()) {
                // A log that cannot be written loses lines, never the exchange itself.
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            answer
        })
    }
}

/// An exchange reduced to what the differential tests compare.
pub fn logged(kind: String, resp: &HttpResponse) -> Logged {
    let json_route = !kind.starts_with("GET ") && !kind.starts_with("FORM ");
    let (shape, error) = if json_route && resp.status == 200 {
        match wire::read_reply(&resp.body) {
            Ok(Reply::Result(v)) => (Some(shape(&v)), None),
            Ok(Reply::Error { name, message }) => (None, Some((name, message))),
            Ok(Reply::SessionExpired) => (None, Some(("session_expired".into(), String::new()))),
            // A form answered with JSON (18's address submit) or HTML.
            Err(_) => (
                serde_json::from_slice::<Value>(&resp.body)
                    .ok()
                    .map(|v| shape(&v)),
                None,
            ),
        }
    } else if resp.status == 200 {
        (
            serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .map(|v| shape(&v)),
            None,
        )
    } else {
        (None, None)
    };
    Logged {
        kind,
        status: resp.status,
        location: resp.location.as_deref().map(normalise_path),
        shape,
        error,
        failure: None,
    }
}

/// What a request is, without its ids: `call_kw model.method` for model calls, else the
/// method and the normalised path.
pub fn kind_of(req: &HttpRequest) -> String {
    let body: Option<Value> = req
        .body
        .as_ref()
        .filter(|(ct, _)| *ct == "application/json")
        .and_then(|(_, b)| serde_json::from_slice(b).ok());
    let params = body.as_ref().map(|b| &b["params"]);
    let model_method = params.and_then(|p| {
        Some(format!(
            "{}.{}",
            p.get("model")?.as_str()?,
            p.get("method")?.as_str()?
        ))
    });
    let path = req.path.split('?').next().unwrap_or("");
    match (path, model_method) {
        (p, Some(mm)) if p.starts_with("/web/dataset/call_kw") => format!("call_kw {mm}"),
        (p, Some(mm)) if p.starts_with("/web/dataset/call_button") => format!("call_button {mm}"),
        _ => {
            let verb = match (req.method, &req.body) {
                (Method::Get, _) => "GET",
                (Method::Post, Some((ct, _))) if *ct != "application/json" => "FORM",
                (Method::Post, _) => "POST",
            };
            format!("{verb} {}", normalise_path(&req.path))
        }
    }
}

/// A path without its record ids: digits become `{n}`, a product page `/shop/<slug>-<id>`
/// becomes `/shop/{product}`, query values become `{v}`.
pub fn normalise_path(path: &str) -> String {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    // An absolute Location keeps only its path.
    let path = match path.find("://") {
        Some(i) => path[i + 3..].find('/').map_or("/", |j| &path[i + 3 + j..]),
        None => path,
    };
    let segments: Vec<String> = path
        .split('/')
        .enumerate()
        .map(|(i, seg)| {
            let product_page = i == 2
                && path.starts_with("/shop/")
                && seg.rsplit_once('-').is_some_and(|(_, id)| {
                    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
                });
            if product_page {
                "{product}".to_string()
            } else if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "{n}".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect();
    let mut out = segments.join("/");
    if let Some(q) = query {
        let keys: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) => format!("{k}={{v}}"),
                None => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&keys.join("&"));
    }
    out
}

/// A value's shape: its JSON type, with objects keeping their keys and arrays the merged shape
/// of their items. `false` and `null` (Odoo's "empty") are `"empty"`; numbers are `"number"`.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Null | Value::Bool(false) => Value::String("empty".into()),
        Value::Bool(true) => Value::String("bool".into()),
        Value::Number(_) => Value::String("number".into()),
        Value::String(_) => Value::String("string".into()),
        Value::Array(items) => {
            let merged = items.iter().map(shape).reduce(|a, b| merge(&a, &b));
            Value::Array(merged.into_iter().collect())
        }
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

/// Two shapes as one: objects take the union of their keys, arrays merge their items, and
/// different types become `{"any_of": [...]}`.
pub fn merge(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (x, y) if x == y => x.clone(),
        // Odoo's empty value (`false`, `null`) says nothing about the type.
        (Value::String(e), other) | (other, Value::String(e)) if e == "empty" => other.clone(),
        (Value::Object(x), Value::Object(y))
            if !x.contains_key("any_of") && !y.contains_key("any_of") =>
        {
            let mut out = Map::new();
            for (k, v) in x.iter().chain(y.iter()) {
                let merged = match out.get(k) {
                    Some(prev) => merge(prev, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(x), Value::Array(y)) => match (x.first(), y.first()) {
            (Some(p), Some(q)) => Value::Array(vec![merge(p, q)]),
            (Some(p), None) | (None, Some(p)) => Value::Array(vec![p.clone()]),
            (None, None) => Value::Array(vec![]),
        },
        _ => any_of(a, b),
    }
}

fn any_of(a: &Value, b: &Value) -> Value {
    let mut types: Vec<Value> = Vec::new();
    for v in [a, b] {
        match v.get("any_of").and_then(Value::as_array) {
            Some(list) => types.extend(list.iter().cloned()),
            None => types.push(v.clone()),
        }
    }
    types.sort_by_key(|t| t.to_string());
    types.dedup();
    serde_json::json!({ "any_of": types })
}

/// How `other`'s answer differs from `real`'s shape, as messages naming the path (empty: the
/// same shape). `false`/`null` match anything (Odoo's empty value); objects must have the same
/// keys; lists compare their items; `depth` levels are compared (`None`: all).
pub fn differences(real: &Value, other: &Value, depth: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("", real, other, depth, &mut out);
    out
}

fn alternatives(v: &Value) -> Vec<&Value> {
    match v.get("any_of").and_then(Value::as_array) {
        Some(list) => list.iter().collect(),
        None => vec![v],
    }
}

fn diff_at(path: &str, real: &Value, other: &Value, depth: Option<usize>, out: &mut Vec<String>) {
    let empty = |v: &Value| v == &Value::String("empty".into());
    if empty(real) || empty(other) || depth == Some(0) {
        return;
    }
    let next = depth.map(|d| d - 1);
    if real.get("any_of").is_some() || other.get("any_of").is_some() {
        let reals = alternatives(real);
        for o in alternatives(other) {
            if !reals.iter().any(|r| {
                let mut scratch = Vec::new();
                diff_at(path, r, o, depth, &mut scratch);
                scratch.is_empty()
            }) {
                out.push(format!(
                    "{}: {} is not one of the real {}",
                    at(path),
                    o,
                    real
                ));
            }
        }
        return;
    }
    match (real, other) {
        (Value::Object(r), Value::Object(o)) => {
            let missing: Vec<&String> = r.keys().filter(|k| !o.contains_key(*k)).collect();
            let extra: Vec<&String> = o.keys().filter(|k| !r.contains_key(*k)).collect();
            if !missing.is_empty() {
                out.push(format!("{}: missing keys {missing:?}", at(path)));
            }
            if !extra.is_empty() {
                out.push(format!("{}: keys Odoo does not send {extra:?}", at(path)));
            }
            for (k, rv) in r {
                if let Some(ov) = o.get(k) {
                    diff_at(&format!("{path}/{k}"), rv, ov, next, out);
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(ri), Some(oi)) = (r.first(), o.first()) {
                diff_at(&format!("{path}/[]"), ri, oi, next, out);
            }
        }
        (r, o) if r == o => {}
        (r, o) => out.push(format!("{}: Odoo answers {r}, here {o}", at(path))),
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() {
        "(the result)"
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_lose_their_ids() {
        assert_eq!(
            normalise_path("/shop/customizable-desk-9"),
            "/shop/{product}"
        );
        assert_eq!(normalise_path("/shop/cart"), "/shop/cart");
        assert_eq!(
            normalise_path("/pos/ui?config_id=3&from_backend=True"),
            "/pos/ui?config_id={v}&from_backend={v}"
        );
        assert_eq!(
            normalise_path("http://127.0.0.1:8069/shop/address"),
            "/shop/address"
        );
        assert_eq!(
            normalise_path("/web/image/product.product/52"),
            "/web/image/product.product/{n}"
        );
    }

    #[test]
    fn shapes_keep_keys_and_types_and_merge_items() {
        let s = shape(
            &json!([{"id": 1, "account_move": false}, {"id": 2, "account_move": 7, "x": "a"}]),
        );
        assert_eq!(
            s,
            json!([{"id": "number", "account_move": "number", "x": "string"}])
        );
        assert_eq!(
            shape(&json!({"a": [], "b": null})),
            json!({"a": [], "b": "empty"})
        );
        assert_eq!(
            merge(&json!("string"), &json!("number")),
            json!({"any_of": ["number", "string"]})
        );
    }

    #[test]
    fn differences_name_missing_keys_and_other_types() {
        let real = shape(&json!([{"id": 1, "pos_reference": "Order 1", "account_move": false}]));
        let same = shape(&json!([{"id": 9, "pos_reference": "x", "account_move": 3}]));
        assert!(differences(&real, &same, None).is_empty());
        let other = shape(&json!([{"id": "9", "pos_reference": "x"}]));
        let d = differences(&real, &other, None);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("missing keys [\"account_move\"]"), "{d:?}");
        assert!(d[1].contains("/[]/id"), "{d:?}");
        let deep = shape(&json!({"a": {"b": {"c": 1}}}));
        let shallow = shape(&json!({"a": {"b": {"d": 1}}}));
        assert!(differences(&deep, &shallow, Some(2)).is_empty());
        assert!(!differences(&deep, &shallow, None).is_empty());
    }

    #[test]
    fn kinds_name_model_calls_by_model_and_method() {
        let req = HttpRequest {
            method: Method::Post,
            path: "/web/dataset/call_kw/pos.order/create_from_ui".into(),
            cookie: None,
            body: Some((
                "application/json",
                wire::request_body(
                    &json!({"model": "pos.order", "method": "create_from_ui"}),
                    1,
                ),
            )),
        };
        assert_eq!(kind_of(&req), "call_kw pos.order.create_from_ui");
        let form = HttpRequest {
            method: Method::Post,
            path: "/shop/address".into(),
            cookie: None,
            body: Some((
                "application/x-www-form-urlencoded",
                bytes::Bytes::from_static(b"a=1"),
            )),
        };
        assert_eq!(kind_of(&form), "FORM /shop/address");
    }
}
