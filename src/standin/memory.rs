//! The memory backend: Odoo's answers from records kept in memory (sessions, carts, id
//! counters). Service time comes from the configured laws, in `server`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use serde_json::{Value, json};

use super::config::StandinConfig;
use super::odoo::{
    Incoming, ModelCall, Reply, access_denied, check_pos_order, error_envelope, result,
    session_expired,
};

/// One browser or API session.
#[derive(Debug, Default)]
struct Session {
    uid: Option<i64>,
    /// product id → quantity in the cart.
    cart: HashMap<i64, f64>,
}

/// The stand-in's records: sessions and id counters.
pub struct Odoo {
    config: StandinConfig,
    sessions: Mutex<HashMap<String, Session>>,
    next_id: AtomicI64,
}

/// Product price the stand-in uses (any id works; the price is derived from it).
fn price_of(product_id: i64) -> f64 {
    (((product_id * 37) % 9000) as f64 / 100.0 + 1.0).round()
}

impl Odoo {
    pub fn new(config: StandinConfig) -> Self {
        Odoo {
            config,
            sessions: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(1000),
        }
    }

    pub fn config(&self) -> &StandinConfig {
        &self.config
    }

    fn new_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic elsewhere never leaves the map half-written: entries are replaced whole.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers a request coming with `sid` (the `session_id` cookie, if any).
    pub fn answer(&self, req: &Incoming, sid: Option<&str>) -> Reply {
        match req {
            Incoming::BadJson => Reply { status: 400, content_type: "text/plain", body: Bytes::from_static(b"Invalid JSON data"), set_session: None },
            Incoming::NotFound => Reply::html(404, "<!DOCTYPE html><html><head><title>404 | Page not found</title></head><body><h1>404: Page not found</h1></body></html>".into()),
            Incoming::Page { path } => self.page(path, sid),
            Incoming::Rpc { path, id, params } => self.rpc(path, id, params, sid),
        }
    }

    fn page(&self, path: &str, sid: Option<&str>) -> Reply {
        if path == "/web/health" {
            return Reply {
                status: 200,
                content_type: "application/json",
                body: Bytes::from_static(br#"{"status": "pass"}"#),
                set_session: None,
            };
        }
        let (sid, new) = self.public_session(sid);
        let title = match path {
            "/shop" => "Shop".to_string(),
            "/shop/cart" => "Cart".to_string(),
            "/shop/checkout" => "Checkout".to_string(),
            p => format!("Product {}", p.rsplit('-').next().unwrap_or("")),
        };
        let items: String = (1..=20)
            .map(|i| {
                format!(
                    "<div class=\"oe_product\"><a href=\"/shop/product-{i}\">Product {i}</a></div>"
                )
            })
            .collect();
        let mut r = Reply::html(
            200,
            format!(
                "<!DOCTYPE html><html><head><title>{title} | Retail</title></head><body><main id=\"wrap\"><h1>{title}</h1>{items}</main></body></html>"
            ),
        );
        r.set_session = new.then_some(sid);
        r
    }

    /// The visitor's session, created when it has none.
    fn public_session(&self, sid: Option<&str>) -> (String, bool) {
        let mut sessions = self.sessions();
        if let Some(s) = sid
            && sessions.contains_key(s)
        {
            return (s.to_string(), false);
        }
        let sid = uuid::Uuid::new_v4().simple().to_string();
        sessions.insert(sid.clone(), Session::default());
        (sid, true)
    }

    fn rpc(&self, path: &str, id: &Value, params: &Value, sid: Option<&str>) -> Reply {
        let c = &self.config;
        if path == "/web/webclient/version_info" {
            return result(id, self.version());
        }
        if path == "/web/session/authenticate" {
            let ok = params.get("db").and_then(Value::as_str) == Some(c.database.as_str())
                && params.get("login").and_then(Value::as_str) == Some(c.login.as_str())
                && params.get("password").and_then(Value::as_str) == Some(c.password.as_str());
            if !ok {
                return access_denied(id);
            }
            let sid = uuid::Uuid::new_v4().simple().to_string();
            self.sessions().insert(
                sid.clone(),
                Session {
                    uid: Some(2),
                    ..Default::default()
                },
            );
            let mut r = result(
                id,
                json!({
                    "uid": 2, "is_admin": true, "db": c.database, "name": "Administrator", "username": c.login,
                    "partner_id": 3, "company_id": 1, "server_version": c.server_version,
                    "server_version_info": self.version()["server_version_info"],
                    "user_context": {"lang": "en_US", "tz": "Europe/Brussels", "uid": 2},
                }),
            );
            r.set_session = Some(sid);
            return r;
        }
        if path == "/jsonrpc" {
            return self.jsonrpc(id, params);
        }
        if path == "/shop/cart/update_json" {
            return self.cart_update(id, params, sid);
        }
        // /web/dataset/call_kw[/...] and call_button: a logged-in session is required.
        let logged_in =
            sid.is_some_and(|s| self.sessions().get(s).is_some_and(|s| s.uid.is_some()));
        if !logged_in {
            return session_expired(id);
        }
        self.call(id, &ModelCall::from_call_kw(params))
    }

    pub fn version(&self) -> Value {
        let v = &self.config.server_version;
        let mut parts = v.split('.').map(|p| p.parse::<i64>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(17), parts.next().unwrap_or(0));
        json!({"server_version": v, "server_version_info": [major, minor, 0, "final", 0, ""], "server_serie": format!("{major}.{minor}"), "protocol_version": 1})
    }

    fn jsonrpc(&self, id: &Value, params: &Value) -> Reply {
        let c = &self.config;
        let service = params.get("service").and_then(Value::as_str).unwrap_or("");
        let method = params.get("method").and_then(Value::as_str).unwrap_or("");
        let args = params
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let creds_ok = |db: Option<&Value>, login_or_uid: Option<&Value>, pw: Option<&Value>| {
            db.and_then(Value::as_str) == Some(c.database.as_str())
                && pw.and_then(Value::as_str) == Some(c.password.as_str())
                && login_or_uid
                    .is_some_and(|l| l.as_str() == Some(c.login.as_str()) || l.as_i64() == Some(2))
        };
        match (service, method) {
            ("common", "version") => result(id, self.version()),
            ("common", "login") => result(
                id,
                if creds_ok(args.first(), args.get(1), args.get(2)) {
                    json!(2)
                } else {
                    json!(false)
                },
            ),
            ("common", "authenticate") if !creds_ok(args.first(), args.get(1), args.get(2)) => {
                access_denied(id)
            }
            ("common", "authenticate") => result(id, json!(2)),
            ("object", "execute_kw") => {
                if !creds_ok(args.first(), args.get(1), args.get(2)) {
                    return access_denied(id);
                }
                self.call(id, &ModelCall::from_execute_kw(&args))
            }
            _ => error_envelope(
                id,
                200,
                "builtins.NameError",
                &format!("Unknown method '{method}' of service '{service}'"),
            ),
        }
    }

    fn cart_update(&self, id: &Value, params: &Value, sid: Option<&str>) -> Reply {
        let Some(product) = params.get("product_id").and_then(Value::as_i64) else {
            return error_envelope(
                id,
                200,
                "odoo.exceptions.ValidationError",
                "product_id is required",
            );
        };
        let (sid, new) = self.public_session(sid);
        let (quantity, cart_quantity, amount) = {
            let mut sessions = self.sessions();
            let cart = &mut sessions.entry(sid.clone()).or_default().cart;
            let q = cart.entry(product).or_insert(0.0);
            if let Some(set) = params.get("set_qty").and_then(Value::as_f64) {
                *q = set;
            } else {
                *q += params.get("add_qty").and_then(Value::as_f64).unwrap_or(1.0);
            }
            let quantity = *q;
            let total: f64 = cart.values().sum();
            let amount: f64 = cart.iter().map(|(p, q)| price_of(*p) * q).sum();
            (quantity, total, amount)
        };
        let mut r = result(
            id,
            json!({"line_id": product * 10 + 1, "quantity": quantity, "cart_quantity": cart_quantity, "amount": amount}),
        );
        r.set_session = new.then_some(sid);
        r
    }

    /// A model method, as the ORM would answer it.
    pub fn call(&self, id: &Value, call: &ModelCall) -> Reply {
        let (model, method, args, kwargs) = (
            call.model.as_str(),
            call.method.as_str(),
            &call.args,
            &call.kwargs,
        );
        let v = match (model, method) {
            ("pos.order", "create_from_ui") | ("pos.order", "sync_from_ui") => {
                let Some(orders) = args.get(0).and_then(Value::as_array) else {
                    return error_envelope(
                        id,
                        200,
                        "odoo.exceptions.UserError",
                        "create_from_ui expects a list of orders",
                    );
                };
                let mut out = Vec::new();
                for order in orders {
                    match check_pos_order(order) {
                        Ok(name) => out.push(json!({"id": self.new_id(), "pos_reference": name, "account_move": false})),
                        Err(m) => return error_envelope(id, 200, "odoo.exceptions.UserError", &m),
                    }
                }
                if method == "sync_from_ui" {
                    json!({"pos.order": out})
                } else {
                    Value::Array(out)
                }
            }
            ("pos.session", "load_pos_data") | ("pos.session", "load_data") => json!({
                "pos.session": {"id": args.get(0).and_then(|a| a.get(0)).cloned().unwrap_or(json!(1)), "state": "opened"},
                "product.product": (1..=300).map(|i| json!({"id": i, "display_name": format!("Product {i}"), "lst_price": price_of(i), "barcode": format!("54000{i:05}")})).collect::<Vec<_>>(),
                "res.partner": (1..=100).map(|i| json!({"id": i, "name": format!("Customer {i}")})).collect::<Vec<_>>(),
            }),
            (_, "create") => json!(self.new_id()),
            (_, "write") | (_, "unlink") => json!(true),
            (_, "search") => json!((1..=limit(kwargs, 80)).collect::<Vec<_>>()),
            (_, "search_count") => json!(1234),
            (_, "search_read") | (_, "read") | (_, "web_search_read") => {
                let ids: Vec<i64> = match args.get(0).and_then(Value::as_array) {
                    Some(ids) if method == "read" => ids.iter().filter_map(Value::as_i64).collect(),
                    _ => (1..=limit(kwargs, 80)).collect(),
                };
                json!(ids.iter().map(|i| json!({"id": i, "display_name": format!("{model} {i}"), "list_price": price_of(*i)})).collect::<Vec<_>>())
            }
            (_, "name_search") => json!(
                (1..=limit(kwargs, 8))
                    .map(|i| json!([i, format!("{model} {i}")]))
                    .collect::<Vec<_>>()
            ),
            (_, "read_group") => json!(["400000", "440000", "570000", "601000", "700000"]
                .iter()
                .enumerate()
                .map(|(i, code)| json!({"account_code": code, "debit": 1000.0 * (i + 1) as f64, "credit": 900.0 * (i + 1) as f64, "__count": 100 * (i + 1)}))
                .collect::<Vec<_>>()),
            (_, "reconcile") => json!(true),
            // Odoo's scheduler returns None: no `result` key.
            ("procurement.group", "run_scheduler") => Value::Null,
            (_, m) if m.starts_with("action_") || m.starts_with("button_") => json!(true),
            _ => {
                return error_envelope(
                    id,
                    200,
                    "builtins.AttributeError",
                    &format!("The method '{method}' does not exist on the model '{model}'"),
                );
            }
        };
        result(id, v)
    }
}

fn limit(kwargs: &Value, default: i64) -> i64 {
    kwargs
        .get("limit")
        .and_then(Value::as_i64)
        .unwrap_or(default)
        .clamp(0, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::odoo::Incoming;

    fn odoo() -> Odoo {
        Odoo::new(StandinConfig::load(None, None, None).unwrap())
    }

    fn rpc(path: &str, params: Value) -> Incoming {
        Incoming::parse(
            &hyper::Method::POST,
            path,
            json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": 7})
                .to_string()
                .as_bytes(),
        )
    }

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn call_kw_without_a_session_is_code_100() {
        let r = odoo().answer(
            &rpc(
                "/web/dataset/call_kw/sale.order/create",
                json!({"model": "sale.order", "method": "create", "args": [{}], "kwargs": {}}),
            ),
            None,
        );
        let b = body(&r);
        assert_eq!(b["error"]["code"], 100);
        assert_eq!(
            b["error"]["data"]["name"],
            "odoo.http.SessionExpiredException"
        );
        assert_eq!(b["id"], 7);
    }

    #[test]
    fn authenticate_sets_a_session_that_call_kw_accepts() {
        let o = odoo();
        let r = o.answer(
            &rpc(
                "/web/session/authenticate",
                json!({"db": "retail", "login": "admin", "password": "admin"}),
            ),
            None,
        );
        assert_eq!(body(&r)["result"]["uid"], 2);
        let sid = r.set_session.expect("cookie");
        let r = o.answer(
            &rpc(
                "/web/dataset/call_kw",
                json!({"model": "sale.order", "method": "create", "args": [{}], "kwargs": {}}),
            ),
            Some(&sid),
        );
        assert!(body(&r)["result"].is_i64());
        let bad = o.answer(
            &rpc(
                "/web/session/authenticate",
                json!({"db": "retail", "login": "admin", "password": "x"}),
            ),
            None,
        );
        assert_eq!(
            body(&bad)["error"]["data"]["name"],
            "odoo.exceptions.AccessDenied"
        );
    }

    #[test]
    fn an_unpaid_pos_order_is_a_user_error() {
        let o = odoo();
        let sid = o
            .answer(
                &rpc(
                    "/web/session/authenticate",
                    json!({"db": "retail", "login": "admin", "password": "admin"}),
                ),
                None,
            )
            .set_session
            .unwrap();
        let order = json!({"id": "1", "data": {"name": "Order 1", "lines": [[0, 0, {"product_id": 1, "qty": 1, "price_unit": 5.0}]], "amount_total": 5.0, "statement_ids": [[0, 0, {"amount": 4.0, "payment_method_id": 1}]]}});
        let r = o.answer(&rpc("/web/dataset/call_kw/pos.order/create_from_ui", json!({"model": "pos.order", "method": "create_from_ui", "args": [[order]], "kwargs": {}})), Some(&sid));
        assert_eq!(
            body(&r)["error"]["data"]["name"],
            "odoo.exceptions.UserError"
        );
    }

    #[test]
    fn malformed_json_is_a_plain_400_and_unknown_paths_404() {
        let o = odoo();
        let r = o.answer(
            &Incoming::parse(&hyper::Method::POST, "/web/dataset/call_kw", b"{not json"),
            None,
        );
        assert_eq!((r.status, &r.body[..]), (400, &b"Invalid JSON data"[..]));
        assert_eq!(
            o.answer(&Incoming::parse(&hyper::Method::GET, "/nope", b""), None)
                .status,
            404
        );
    }

    #[test]
    fn the_cart_follows_the_visitor_session() {
        let o = odoo();
        let r = o.answer(
            &rpc(
                "/shop/cart/update_json",
                json!({"product_id": 5, "add_qty": 2}),
            ),
            None,
        );
        let sid = r.set_session.clone().expect("a visitor gets a session");
        let r2 = o.answer(
            &rpc(
                "/shop/cart/update_json",
                json!({"product_id": 5, "add_qty": 1}),
            ),
            Some(&sid),
        );
        assert_eq!(body(&r2)["result"]["quantity"], 3.0);
        assert!(r2.set_session.is_none());
    }
}
