//! The memory backend: an Odoo 17 or 18 kept in memory. Logins, model calls and buttons,
//! the POS session's life (opening control, order sync, closing), sales and deliveries with
//! reservations and backorders, invoices, payments and reconciliation, the month-end report,
//! and the shop (pages, cart, checkout) behave as on a real server of that version: the same
//! routes, answers, redirects, wizards and errors (held to recorded real answers by
//! `tests/differential.rs`). Structured answers too large to build by hand (the session info,
//! the POS data load, window actions) are real answers recorded from Odoo, in `answers/`.
//! Service time comes from the configured laws, in `server`.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use super::catalog::{self, CatalogSize};
use super::config::StandinConfig;
use super::odoo::{Incoming, ModelCall, Reply, error_envelope, result, session_expired};
use super::records::{Fault, Rec, Store};
use super::shop;

mod accounting;
mod pos;
mod sales;

/// One browser or API session.
#[derive(Debug, Default, Clone)]
pub(super) struct Session {
    /// The logged-in user, if any.
    pub uid: Option<i64>,
    /// The visitor's cart: a draft `sale.order`.
    pub cart: Option<i64>,
    /// The visitor gave a billing address.
    pub address: bool,
}

/// The records and sessions, behind one lock (each call is short and in memory).
pub(super) struct World {
    pub store: Store,
    pub sessions: HashMap<String, Session>,
    /// Per POS session: (payment method id → (amount, count)).
    pub pos_payments: HashMap<i64, HashMap<i64, (f64, u32)>>,
    /// Per POS config: the cash counted at the last closing (the next opening's balance).
    pub last_cash: HashMap<i64, f64>,
    /// Counters for document names.
    pub sequences: HashMap<&'static str, i64>,
    pub today: String,
}

impl World {
    pub fn next(&mut self, what: &'static str) -> i64 {
        let n = self.sequences.entry(what).or_insert(0);
        *n += 1;
        *n
    }
}

/// The stand-in Odoo.
pub struct Odoo {
    config: StandinConfig,
    pub(super) major: u32,
    answers: Value,
    pub(super) world: Mutex<World>,
}

pub(super) fn ids(v: &Value) -> Vec<i64> {
    match v {
        Value::Array(a) => a.iter().filter_map(Value::as_i64).collect(),
        other => other.as_i64().into_iter().collect(),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The `[0, 0, values]` commands of a one2many value.
pub(super) fn commands(v: Option<&Value>) -> Vec<&Value> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| c.get(2)).collect())
        .unwrap_or_default()
}

impl Odoo {
    pub fn new(config: StandinConfig) -> Self {
        Self::with_catalog(config, CatalogSize::default())
    }

    /// A stand-in whose catalog has `size` products and tills.
    pub fn with_catalog(config: StandinConfig, size: CatalogSize) -> Self {
        let major: u32 = config
            .server_version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(17);
        let answers: Value = serde_json::from_str(if major >= 18 {
            include_str!("../answers/odoo18.json")
        } else {
            include_str!("../answers/odoo17.json")
        })
        .unwrap_or(Value::Null);
        let mut store = Store::default();
        catalog::declare(&mut store, major);
        catalog::seed(&mut store, major, size);
        Odoo {
            config,
            major,
            answers,
            world: Mutex::new(World {
                store,
                sessions: HashMap::new(),
                pos_payments: HashMap::new(),
                last_cash: HashMap::new(),
                sequences: HashMap::new(),
                today: catalog::day(0),
            }),
        }
    }

    pub fn config(&self) -> &StandinConfig {
        &self.config
    }

    pub(super) fn world(&self) -> std::sync::MutexGuard<'_, World> {
        // Every change is whole before the lock is released; a panic elsewhere leaves a
        // consistent world.
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A recorded real answer, as a template.
    pub(super) fn answer_template(&self, name: &str) -> Value {
        self.answers.get(name).cloned().unwrap_or(json!({}))
    }

    /// Answers a request coming with `sid` (the `session_id` cookie, if any).
    pub fn answer(&self, req: &Incoming, sid: Option<&str>) -> Reply {
        match req {
            Incoming::BadJson => Reply {
                status: 400,
                content_type: "text/plain",
                body: bytes::Bytes::from_static(b"Invalid JSON data"),
                set_session: None,
                location: None,
            },
            Incoming::NotFound => shop::not_found(),
            Incoming::Page { path, query } => shop::page(self, path, query, sid),
            Incoming::Form { path, fields } => shop::form(self, path, fields, sid),
            Incoming::Rpc { path, id, params } => self.rpc(path, id, params, sid),
        }
    }

    /// The session `sid` names, if the server knows it.
    pub(super) fn session(&self, sid: Option<&str>) -> Option<Session> {
        sid.and_then(|s| self.world().sessions.get(s).cloned())
    }

    /// The visitor's session, or a new one (Odoo gives every new visitor a session cookie).
    pub(super) fn visitor(&self, sid: Option<&str>) -> (String, bool) {
        let mut w = self.world();
        match sid.filter(|s| w.sessions.contains_key(*s)) {
            Some(s) => (s.to_string(), false),
            None => {
                let s = uuid::Uuid::new_v4().simple().to_string();
                w.sessions.insert(s.clone(), Session::default());
                (s, true)
            }
        }
    }

    fn rpc(&self, path: &str, id: &Value, params: &Value, sid: Option<&str>) -> Reply {
        let base = path.split('?').next().unwrap_or(path);
        match base {
            "/web/webclient/version_info" => result(id, self.version()),
            "/web/database/list" => result(id, json!([self.config.database])),
            "/web/session/authenticate" => self.authenticate(id, params),
            "/shop/cart/update_json" => shop::cart_update(self, id, params, sid),
            "/jsonrpc" => self.jsonrpc(id, params),
            p if p.starts_with("/web/dataset/call_kw") || p == "/web/dataset/call_button" => {
                let logged_in = self.session(sid).and_then(|s| s.uid).is_some();
                if !logged_in {
                    return session_expired(id);
                }
                let call = ModelCall::from_call_kw(params);
                match self.call(&call) {
                    // `call_button` gives the web client an action, or `false` for anything
                    // else the method returned (odoo/addons/web/controllers/dataset.py).
                    Ok(v) if p == "/web/dataset/call_button" => {
                        if v.get("type").is_some() {
                            result(id, v)
                        } else {
                            result(id, json!(false))
                        }
                    }
                    Ok(v) => result(id, v),
                    Err(f) => error_envelope(id, 200, f.name, &f.message),
                }
            }
            _ => shop::not_found(),
        }
    }

    /// `/web/webclient/version_info`.
    pub fn version(&self) -> Value {
        let v = &self.config.server_version;
        let serie = v.split('-').next().unwrap_or(v);
        json!({
            "server_version": v,
            "server_version_info": [self.major, 0, 0, "final", 0, ""],
            "server_serie": serie,
            "protocol_version": 1,
        })
    }

    fn credentials_ok(&self, db: &str, login: &str, password: &str) -> Result<(), Fault> {
        if db != self.config.database {
            return Err(Fault {
                name: "odoo.exceptions.AccessError",
                message: "Database not found.".into(),
            });
        }
        if login != self.config.login || password != self.config.password {
            return Err(Fault {
                name: "odoo.exceptions.AccessDenied",
                message: "Access Denied".into(),
            });
        }
        Ok(())
    }

    fn authenticate(&self, id: &Value, params: &Value) -> Reply {
        let text = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or("");
        if let Err(f) = self.credentials_ok(text("db"), text("login"), text("password")) {
            return error_envelope(id, 200, f.name, &f.message);
        }
        let sid = uuid::Uuid::new_v4().simple().to_string();
        self.world().sessions.insert(
            sid.clone(),
            Session {
                uid: Some(2),
                ..Session::default()
            },
        );
        let mut info = self.answer_template("authenticate");
        info["db"] = json!(self.config.database);
        info["username"] = json!(self.config.login);
        info["server_version"] = json!(self.config.server_version);
        info["server_version_info"] = self.version()["server_version_info"].clone();
        info["web.base.url"] = json!("");
        let mut r = result(id, info);
        r.set_session = Some(sid);
        r
    }

    /// The external API (`/jsonrpc`): `common.version`, `common.login`, `object.execute_kw`.
    fn jsonrpc(&self, id: &Value, params: &Value) -> Reply {
        let service = params.get("service").and_then(Value::as_str).unwrap_or("");
        let method = params.get("method").and_then(Value::as_str).unwrap_or("");
        let args: Vec<Value> = params
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let text = |i: usize| args.get(i).and_then(Value::as_str).unwrap_or("");
        match (service, method) {
            ("common", "version") => result(id, self.version()),
            ("common", "login") | ("common", "authenticate") => {
                match self.credentials_ok(text(0), text(1), text(2)) {
                    Ok(()) => result(id, json!(2)),
                    Err(f) if f.name == "odoo.exceptions.AccessDenied" => result(id, json!(false)),
                    Err(f) => error_envelope(id, 200, f.name, &f.message),
                }
            }
            ("object", "execute_kw") => {
                if let Err(f) = self.credentials_ok(text(0), &self.config.login, text(2)) {
                    return error_envelope(id, 200, f.name, &f.message);
                }
                match self.call(&ModelCall::from_execute_kw(&args)) {
                    Ok(v) => result(id, v),
                    Err(f) => error_envelope(id, 200, f.name, &f.message),
                }
            }
            _ => error_envelope(
                id,
                200,
                "builtins.NameError",
                &format!("{service}.{method} is not a service method"),
            ),
        }
    }

    /// A model method, as `call_kw` runs it.
    pub fn call(&self, call: &ModelCall) -> Result<Value, Fault> {
        let (model, method) = (call.model.as_str(), call.method.as_str());
        let arg = |i: usize| call.args.get(i).unwrap_or(&Value::Null);
        let kw = |k: &str| call.kwargs.get(k);
        let context = call.kwargs.get("context").cloned().unwrap_or(json!({}));
        let mut w = self.world();
        match (model, method) {
            ("pos.config", "open_ui") => self.open_ui(&mut w, &ids(arg(0))),
            ("pos.session", "set_cashbox_pos") if self.major < 18 => {
                self.set_opening(&mut w, arg(0), arg(1), arg(2))
            }
            ("pos.session", "set_opening_control") if self.major >= 18 => {
                self.set_opening(&mut w, arg(0), arg(1), arg(2))
            }
            ("pos.session", "load_pos_data") if self.major < 18 => {
                self.load_pos_data(&w, arg(0), None)
            }
            ("pos.session", "load_data") if self.major >= 18 => {
                self.load_pos_data(&w, arg(0), Some(arg(1)))
            }
            ("pos.order", "create_from_ui") if self.major < 18 => {
                self.create_from_ui(&mut w, arg(0))
            }
            ("pos.order", "sync_from_ui") if self.major >= 18 => self.sync_from_ui(&mut w, arg(0)),
            ("pos.session", "get_closing_control_data") => self.closing_data(&w, arg(0)),
            ("pos.session", "post_closing_cash_details") => {
                let counted = kw("counted_cash").or(call.args.get(1));
                self.post_cash(&mut w, arg(0), counted)
            }
            ("pos.session", "update_closing_control_state_session") => {
                self.closing_state(&mut w, arg(0), arg(1))
            }
            ("pos.session", "close_session_from_ui") => self.close_session(&mut w, arg(0)),
            ("sale.order", "create") => self.sale_create(&mut w, arg(0)),
            ("sale.order", "action_confirm") => self.sale_confirm(&mut w, &ids(arg(0))),
            ("sale.order", "action_cancel") => self.sale_cancel(&mut w, &ids(arg(0))),
            ("sale.order", "action_view_delivery") => self.view_delivery(&w, &ids(arg(0))),
            ("stock.picking", "button_validate") => self.button_validate(&mut w, &ids(arg(0))),
            ("stock.backorder.confirmation", "create")
            | ("confirm.stock.sms", "create")
            | ("account.payment.register", "create") => {
                let active = ids(context.get("active_ids").unwrap_or(&Value::Null));
                let picks = ids(context
                    .get("button_validate_picking_ids")
                    .unwrap_or(&Value::Null));
                let field = if model == "account.payment.register" {
                    "line_ids"
                } else {
                    "pick_ids"
                };
                let value = if picks.is_empty() { active } else { picks };
                let mut r = Rec::new();
                r.insert(field.into(), json!(value));
                Ok(json!(w.store.create(model, r)?))
            }
            ("stock.backorder.confirmation", "process") => {
                self.process_backorder(&mut w, &ids(arg(0)), true)
            }
            ("stock.backorder.confirmation", "process_cancel_backorder") => {
                self.process_backorder(&mut w, &ids(arg(0)), false)
            }
            ("account.move", "create") => self.invoice_create(&mut w, arg(0)),
            ("account.move", "action_post") => self.invoice_post(&mut w, &ids(arg(0))),
            ("account.move", "action_register_payment") => self.register_payment(&w, &ids(arg(0))),
            ("account.payment.register", "action_create_payments") => {
                self.create_payments(&mut w, &ids(arg(0)))
            }
            ("account.payment", "create") => self.payment_create(&mut w, arg(0)),
            ("account.payment", "action_post") => self.payment_post(&mut w, &ids(arg(0))),
            ("account.move.line", "reconcile") => self.reconcile(&mut w, &ids(arg(0))),
            ("account.move.line", "read_group") => self.read_group(&w, call),
            ("procurement.group", "run_scheduler") => Ok(json!({})),
            (_, "search_read") => {
                let domain = kw("domain").unwrap_or(arg(0));
                let mut fields = strings(kw("fields").or(call.args.get(1)));
                let limit = kw("limit").and_then(Value::as_u64).map(|l| l as usize);
                let mut found = w.store.search(model, domain, None)?;
                if model == "account.move.line" {
                    // `date desc, move_name desc, id`: the newest first.
                    found.reverse();
                }
                found.truncate(limit.unwrap_or(usize::MAX));
                if fields.is_empty() {
                    fields = vec!["display_name".into()];
                }
                Ok(json!(w.store.read(model, &found, &fields)?))
            }
            (_, "search") => {
                let domain = kw("domain").unwrap_or(arg(0));
                let limit = kw("limit").and_then(Value::as_u64).map(|l| l as usize);
                Ok(json!(w.store.search(model, domain, limit)?))
            }
            (_, "search_count") => {
                let domain = kw("domain").unwrap_or(arg(0));
                Ok(json!(w.store.search(model, domain, None)?.len()))
            }
            (_, "read") => {
                let fields = strings(kw("fields").or(call.args.get(1)));
                Ok(json!(w.store.read(model, &ids(arg(0)), &fields)?))
            }
            (_, "name_search") => {
                let name = kw("name").or(call.args.get(0)).and_then(Value::as_str);
                let limit = kw("limit").and_then(Value::as_u64).unwrap_or(100) as usize;
                let domain = match name {
                    Some(n) if !n.is_empty() => json!([["display_name", "ilike", n]]),
                    _ => json!([]),
                };
                let t = w.store.table(model)?;
                Ok(json!(
                    t.rows
                        .values()
                        .filter(|r| {
                            domain[0][2].as_str().is_none_or(|n| {
                                r.get("display_name")
                                    .or(r.get("name"))
                                    .and_then(Value::as_str)
                                    .is_some_and(|d| d.to_lowercase().contains(&n.to_lowercase()))
                            })
                        })
                        .take(limit)
                        .map(|r| json!([r["id"], r.get("display_name").or(r.get("name"))]))
                        .collect::<Vec<_>>()
                ))
            }
            _ => {
                w.store.table(model)?;
                Err(Fault {
                    name: "builtins.AttributeError",
                    message: format!("The method '{model}.{method}' does not exist"),
                })
            }
        }
    }
}

/// Stock leaves the quants: on hand always, free stock too unless it was reserved before.
pub(super) fn take_stock(
    w: &mut World,
    product: i64,
    qty: f64,
    unreserved: bool,
) -> Result<(), Fault> {
    let p = w.store.get("product.product", product)?;
    let on_hand = p["qty_available"].as_f64().unwrap_or(0.0);
    let free = p["free_qty"].as_f64().unwrap_or(0.0);
    let mut vals = vec![("qty_available", json!(on_hand - qty))];
    if unreserved {
        vals.push(("free_qty", json!(free - qty)));
    }
    w.store.write("product.product", product, &vals)
}

/// A move's reservation goes back to free stock.
pub(super) fn release(w: &mut World, m: &Value) -> Result<(), Fault> {
    let product = m["product_id"].as_i64().unwrap_or(0);
    let free = w.store.get("product.product", product)?["free_qty"]
        .as_f64()
        .unwrap_or(0.0);
    w.store.write(
        "product.product",
        product,
        &[(
            "free_qty",
            json!(free + m["reserved"].as_f64().unwrap_or(0.0)),
        )],
    )
}
