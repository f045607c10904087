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

use serde_json::{Map, Value, json};

use super::catalog::{self, CatalogSize};
use super::config::StandinConfig;
use super::odoo::{Incoming, ModelCall, Reply, error_envelope, result, session_expired};
use super::records::{Fault, Rec, Store};
use super::shop;

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

fn ids(v: &Value) -> Vec<i64> {
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

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The `[0, 0, values]` commands of a one2many value.
fn commands(v: Option<&Value>) -> Vec<&Value> {
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
            include_str!("answers/odoo18.json")
        } else {
            include_str!("answers/odoo17.json")
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

    // ---- Point of Sale

    fn session_rec<'a>(&self, w: &'a World, id: &Value) -> Result<&'a Rec, Fault> {
        let sid = ids(id).first().copied().unwrap_or(0);
        w.store.get("pos.session", sid)
    }

    /// `pos.config.open_ui`: opens a session in opening control if the till has none.
    fn open_ui(&self, w: &mut World, configs: &[i64]) -> Result<Value, Fault> {
        let config = configs.first().copied().unwrap_or(0);
        let c = w.store.get("pos.config", config)?.clone();
        if c["current_session_id"] == json!(false) {
            let n = w.next("pos.session");
            let name = format!("POS/{n:05}");
            let start = w.last_cash.get(&config).copied().unwrap_or(0.0);
            let mut s = Rec::new();
            s.insert("name".into(), json!(name));
            s.insert(
                "config_id".into(),
                json!([config, c["name"].as_str().unwrap_or("")]),
            );
            s.insert("state".into(), json!("opening_control"));
            s.insert("cash_register_balance_start".into(), json!(start));
            s.insert("opening_notes".into(), json!(""));
            s.insert("user_id".into(), json!([2, "Administrator"]));
            s.insert("display_name".into(), json!(name));
            let id = w.store.create("pos.session", s)?;
            w.store.write(
                "pos.config",
                config,
                &[
                    ("current_session_id", json!([id, name])),
                    ("current_session_state", json!("opening_control")),
                ],
            )?;
        }
        let url = if self.major >= 18 {
            format!("/pos/ui?config_id={config}&from_backend=True")
        } else {
            format!("/pos/ui?config_id={config}")
        };
        Ok(json!({"type": "ir.actions.act_url", "url": url, "target": "self"}))
    }

    fn set_state(&self, w: &mut World, session: i64, state: &str) -> Result<(), Fault> {
        w.store
            .write("pos.session", session, &[("state", json!(state))])?;
        let config = ids(&w.store.get("pos.session", session)?["config_id"]);
        if let Some(c) = config.first() {
            let open = state != "closed";
            let name = w.store.get("pos.session", session)?["name"].clone();
            w.store.write(
                "pos.config",
                *c,
                &[
                    (
                        "current_session_id",
                        if open {
                            json!([session, name])
                        } else {
                            json!(false)
                        },
                    ),
                    (
                        "current_session_state",
                        if open { json!(state) } else { json!(false) },
                    ),
                ],
            )?;
        }
        Ok(())
    }

    /// 17's `set_cashbox_pos`, 18's `set_opening_control`: the opening cash is counted.
    fn set_opening(
        &self,
        w: &mut World,
        session: &Value,
        cash: &Value,
        notes: &Value,
    ) -> Result<Value, Fault> {
        let id = self.session_rec(w, session)?["id"].as_i64().unwrap_or(0);
        w.store.write(
            "pos.session",
            id,
            &[
                (
                    "cash_register_balance_start",
                    json!(cash.as_f64().unwrap_or(0.0)),
                ),
                ("opening_notes", json!(notes.as_str().unwrap_or(""))),
            ],
        )?;
        self.set_state(w, id, "opened")?;
        Ok(Value::Null)
    }

    /// The till's data load: the recorded answer, with this session in it. 18 loads every
    /// model the POS needs when given `[]`; a partial list misses `pos.config` (KeyError), as
    /// on a real 18.
    fn load_pos_data(
        &self,
        w: &World,
        session: &Value,
        models: Option<&Value>,
    ) -> Result<Value, Fault> {
        if let Some(list) = models.and_then(Value::as_array)
            && !list.is_empty()
            && !list.iter().any(|m| m == "pos.config")
        {
            return Err(Fault::key("pos.config"));
        }
        let s = self.session_rec(w, session)?;
        let mut data = self.answer_template(if self.major >= 18 {
            "load_data"
        } else {
            "load_pos_data"
        });
        let config = ids(&s["config_id"]).first().copied().unwrap_or(0);
        let fill = |rec: &mut Value| {
            rec["id"] = s["id"].clone();
            rec["name"] = s["name"].clone();
            rec["state"] = s["state"].clone();
            rec["cash_register_balance_start"] = s["cash_register_balance_start"].clone();
        };
        if self.major >= 18 {
            if let Some(rec) = data
                .pointer_mut("/pos.session/data/0")
                .filter(|r| r.is_object())
            {
                fill(rec);
                rec["config_id"] = json!(config);
            }
        } else if let Some(rec) = data.get_mut("pos.session").filter(|r| r.is_object()) {
            fill(rec);
            rec["config_id"] = json!([config]);
        }
        Ok(data)
    }

    /// An order's session must be one the POS can sell in.
    fn pos_session_for(&self, w: &World, session: i64) -> Result<(), Fault> {
        let s = w.store.get("pos.session", session)?;
        match s["state"].as_str() {
            Some("opened") => Ok(()),
            // Odoo moves the order to a rescue session; the stand-in keeps it in this one.
            Some("closing_control") | Some("closed") => Ok(()),
            _ => Err(Fault::user(
                "You cannot create an order in a session that is not opened.",
            )),
        }
    }

    /// Books a paid order: its payments for the closing, its stock out of the quants.
    fn book_order(
        &self,
        w: &mut World,
        session: i64,
        data: &Value,
        payments: &[&Value],
    ) -> Result<(i64, String), Fault> {
        let total = data["amount_total"].as_f64().unwrap_or(0.0);
        let paid: f64 = payments
            .iter()
            .filter_map(|p| p.get("amount").and_then(Value::as_f64))
            .sum();
        let n = w.next("pos.order");
        let config_name = w
            .store
            .get("pos.session", session)?
            .get("config_id")
            .and_then(|c| c.get(1))
            .and_then(Value::as_str)
            .unwrap_or("Shop")
            .to_string();
        let name = format!("{config_name}/{n:04}");
        if (paid - total).abs() > 0.005 {
            return Err(Fault::user(format!("Order {name} is not fully paid.")));
        }
        for line in commands(data.get("lines")) {
            let product = line["product_id"].as_i64().unwrap_or(0);
            w.store.get("product.product", product)?;
        }
        for line in commands(data.get("lines")) {
            let product = line["product_id"].as_i64().unwrap_or(0);
            let qty = line["qty"].as_f64().unwrap_or(0.0);
            take_stock(w, product, qty, true)?;
        }
        let by_method = w.pos_payments.entry(session).or_default();
        for p in payments {
            let method = p["payment_method_id"].as_i64().unwrap_or(0);
            let e = by_method.entry(method).or_insert((0.0, 0));
            e.0 += p["amount"].as_f64().unwrap_or(0.0);
            e.1 += 1;
        }
        let mut o = Rec::new();
        o.insert("name".into(), json!(name));
        o.insert("pos_reference".into(), data["name"].clone());
        o.insert(
            "uuid".into(),
            data.get("uuid").cloned().unwrap_or(json!(false)),
        );
        o.insert("session_id".into(), json!(session));
        o.insert("amount_total".into(), json!(total));
        o.insert("amount_paid".into(), json!(paid));
        o.insert(
            "amount_tax".into(),
            data.get("amount_tax").cloned().unwrap_or(json!(0)),
        );
        o.insert("state".into(), json!("paid"));
        o.insert("account_move".into(), json!(false));
        o.insert("display_name".into(), json!(name));
        Ok((w.store.create("pos.order", o)?, name))
    }

    /// 16/17 `create_from_ui(orders, draft)`: `{id, data, to_invoice}` items; the keys
    /// `_order_fields` reads without a default are required, in the order it reads them.
    fn create_from_ui(&self, w: &mut World, orders: &Value) -> Result<Value, Fault> {
        let mut out = Vec::new();
        for order in orders.as_array().into_iter().flatten() {
            let data = order.get("data").ok_or_else(|| Fault::key("data"))?;
            for k in [
                "pos_session_id",
                "user_id",
                "lines",
                "name",
                "sequence_number",
                "partner_id",
                "date_order",
                "fiscal_position_id",
                "amount_paid",
                "amount_total",
                "amount_tax",
                "amount_return",
                "statement_ids",
            ] {
                if data.get(k).is_none() {
                    return Err(Fault::key(k));
                }
            }
            let reference = data["name"].as_str().unwrap_or("");
            let already = w.store.search(
                "pos.order",
                &json!([["pos_reference", "=", reference]]),
                Some(1),
            )?;
            if !already.is_empty() {
                // An order synced twice is skipped, as Odoo does.
                continue;
            }
            let session = data["pos_session_id"].as_i64().unwrap_or(0);
            self.pos_session_for(w, session)?;
            let payments = commands(data.get("statement_ids"));
            let (id, _) = self.book_order(w, session, data, &payments)?;
            out.push(json!({"id": id, "pos_reference": reference, "account_move": false}));
        }
        Ok(json!(out))
    }

    /// 18 `sync_from_ui(orders)`: flat pos.order values; the answer is the synced records of
    /// each POS model, as the recorded answer has them.
    fn sync_from_ui(&self, w: &mut World, orders: &Value) -> Result<Value, Fault> {
        let mut synced = Vec::new();
        for order in orders.as_array().into_iter().flatten() {
            for k in [
                "lines",
                "session_id",
                "payment_ids",
                "amount_paid",
                "amount_total",
                "amount_tax",
                "amount_return",
            ] {
                if order.get(k).is_none() {
                    return Err(Fault::key(k));
                }
            }
            let uuid = order.get("uuid").and_then(Value::as_str).unwrap_or("");
            let already = w
                .store
                .search("pos.order", &json!([["uuid", "=", uuid]]), Some(1))?;
            if let (Some(id), false) = (already.first(), uuid.is_empty()) {
                synced.push((*id, w.store.get("pos.order", *id)?["name"].clone()));
                continue;
            }
            let session = order["session_id"].as_i64().unwrap_or(0);
            self.pos_session_for(w, session)?;
            let payments = commands(order.get("payment_ids"));
            let (id, name) = self.book_order(w, session, order, &payments)?;
            synced.push((id, json!(name)));
        }
        let mut answer = self.answer_template("sync_from_ui");
        let template = answer.pointer("/pos.order/0").cloned().unwrap_or(json!({}));
        answer["pos.order"] = json!(
            synced
                .iter()
                .map(|(id, name)| {
                    let mut o = template.clone();
                    o["id"] = json!(id);
                    o["name"] = name.clone();
                    o
                })
                .collect::<Vec<_>>()
        );
        Ok(answer)
    }

    fn closing_data(&self, w: &World, session: &Value) -> Result<Value, Fault> {
        let s = self.session_rec(w, session)?;
        let id = s["id"].as_i64().unwrap_or(0);
        let orders = w
            .store
            .table("pos.order")?
            .rows
            .values()
            .filter(|o| o["session_id"] == json!(id))
            .fold((0_u32, 0.0), |(n, a), o| {
                (n + 1, a + o["amount_total"].as_f64().unwrap_or(0.0))
            });
        let paid = w.pos_payments.get(&id);
        let of = |m: i64| paid.and_then(|p| p.get(&m)).copied().unwrap_or((0.0, 0));
        let opening = s["cash_register_balance_start"].as_f64().unwrap_or(0.0);
        let cash = of(catalog::CASH_METHOD).0;
        let others: Vec<Value> = [catalog::BANK_METHOD, catalog::PAY_LATER_METHOD]
            .iter()
            .filter_map(|m| {
                let pm = w.store.get("pos.payment.method", *m).ok()?;
                let (amount, number) = of(*m);
                Some(
                    json!({"name": pm["name"], "amount": round2(amount), "number": number,
                    "id": m, "type": pm["type"]}),
                )
            })
            .collect();
        let mut d = self.answer_template("get_closing_control_data");
        d["orders_details"] = json!({"quantity": orders.0, "amount": round2(orders.1)});
        d["opening_notes"] = s["opening_notes"].clone();
        d["default_cash_details"] = json!({"name": "Cash", "amount": round2(opening + cash),
            "opening": opening, "payment_amount": round2(cash), "moves": [], "id": catalog::CASH_METHOD});
        let key = if self.major >= 18 {
            "non_cash_payment_methods"
        } else {
            "other_payment_methods"
        };
        d[key] = json!(others);
        Ok(d)
    }

    fn open_session(&self, w: &World, session: &Value) -> Result<i64, Fault> {
        let s = self.session_rec(w, session)?;
        if s["state"] == "closed" {
            return Err(Fault::user("This session is already closed."));
        }
        Ok(s["id"].as_i64().unwrap_or(0))
    }

    fn post_cash(
        &self,
        w: &mut World,
        session: &Value,
        counted: Option<&Value>,
    ) -> Result<Value, Fault> {
        let id = self.open_session(w, session)?;
        let config = ids(&w.store.get("pos.session", id)?["config_id"]);
        if let (Some(c), Some(cash)) = (config.first(), counted.and_then(Value::as_f64)) {
            w.last_cash.insert(*c, cash);
        }
        Ok(json!({"successful": true}))
    }

    /// `update_closing_control_state_session(id, notes)`: the session goes to closing control,
    /// its notes kept (Odoo posts them on the session's chatter).
    fn closing_state(&self, w: &mut World, session: &Value, notes: &Value) -> Result<Value, Fault> {
        let id = self.open_session(w, session)?;
        w.store.write(
            "pos.session",
            id,
            &[("closing_notes", json!(notes.as_str().unwrap_or("")))],
        )?;
        self.set_state(w, id, "closing_control")?;
        Ok(Value::Null)
    }

    /// Closes the session and posts its sales: one journal entry per payment method.
    fn close_session(&self, w: &mut World, session: &Value) -> Result<Value, Fault> {
        let id = self.open_session(w, session)?;
        let today = w.today.clone();
        let payments: Vec<(i64, f64)> = w
            .pos_payments
            .remove(&id)
            .unwrap_or_default()
            .into_iter()
            .map(|(m, (a, _))| (m, a))
            .collect();
        let total: f64 = payments.iter().map(|p| p.1).sum();
        if total > 0.0 {
            let name = w.store.get("pos.session", id)?["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let untaxed = total / (1.0 + catalog::TAX_PERCENT / 100.0);
            let lines = [
                (catalog::POS_RECEIVABLE, total, 0.0),
                (catalog::SALES, 0.0, untaxed),
                (catalog::TAX_RECEIVED, 0.0, total - untaxed),
                (catalog::BANK, total, 0.0),
                (catalog::POS_RECEIVABLE, 0.0, total),
            ];
            self.book_lines(w, (0, &name), 0, &lines, &today)?;
        }
        for o in w
            .store
            .search("pos.order", &json!([["session_id", "=", id]]), None)?
        {
            w.store.write("pos.order", o, &[("state", json!("done"))])?;
        }
        self.set_state(w, id, "closed")?;
        Ok(json!({"successful": true}))
    }

    // ---- Sales and deliveries

    fn order_lines(
        &self,
        w: &World,
        lines: Option<&Value>,
        qty_key: &str,
    ) -> Result<(Vec<Value>, f64), Fault> {
        let mut out = Vec::new();
        let mut untaxed = 0.0;
        for l in commands(lines) {
            let product = l["product_id"].as_i64().unwrap_or(0);
            let p = w.store.get("product.product", product)?;
            let qty = l.get(qty_key).and_then(Value::as_f64).unwrap_or(1.0);
            let price = l
                .get("price_unit")
                .and_then(Value::as_f64)
                .or(p["lst_price"].as_f64())
                .unwrap_or(0.0);
            untaxed += qty * price;
            out.push(json!({"product_id": product, "qty": qty, "price_unit": price}));
        }
        Ok((out, untaxed))
    }

    fn partner(&self, w: &World, vals: &Value) -> Result<(i64, String), Fault> {
        let id = vals.get("partner_id").and_then(Value::as_i64).ok_or_else(|| {
            Fault::validation("The operation cannot be completed: Missing required fields on accountable sale order line.")
        })?;
        let p = w.store.get("res.partner", id)?;
        Ok((id, p["name"].as_str().unwrap_or("").to_string()))
    }

    fn sale_create(&self, w: &mut World, vals: &Value) -> Result<Value, Fault> {
        let (partner, pname) = self.partner(w, vals)?;
        let (lines, untaxed) = self.order_lines(w, vals.get("order_line"), "product_uom_qty")?;
        let n = w.next("sale.order");
        let name = format!("S{n:05}");
        let mut o = Rec::new();
        o.insert("name".into(), json!(name));
        o.insert("display_name".into(), json!(name));
        o.insert("partner_id".into(), json!([partner, pname]));
        o.insert("state".into(), json!("draft"));
        o.insert(
            "amount_total".into(),
            json!(round2(untaxed * (1.0 + catalog::TAX_PERCENT / 100.0))),
        );
        o.insert("order_line".into(), json!(lines));
        o.insert("picking_ids".into(), json!([]));
        Ok(json!(w.store.create("sale.order", o)?))
    }

    /// Confirms draft orders: each gets a delivery whose moves reserve what stock is free.
    fn sale_confirm(&self, w: &mut World, orders: &[i64]) -> Result<Value, Fault> {
        for id in orders {
            let o = w.store.get("sale.order", *id)?.clone();
            if o["state"] != "draft" && o["state"] != "sent" {
                return Err(Fault::user(format!(
                    "It is not allowed to confirm an order in the following states: {}",
                    o["state"].as_str().unwrap_or("")
                )));
            }
            let mut moves = Vec::new();
            let mut all = true;
            for l in o["order_line"].as_array().into_iter().flatten() {
                let product = l["product_id"].as_i64().unwrap_or(0);
                let qty = l["qty"].as_f64().unwrap_or(0.0);
                let free = w.store.get("product.product", product)?["free_qty"]
                    .as_f64()
                    .unwrap_or(0.0);
                let reserved = qty.min(free.max(0.0));
                all &= reserved >= qty;
                w.store.write(
                    "product.product",
                    product,
                    &[("free_qty", json!(free - reserved))],
                )?;
                moves.push(json!({"product_id": product, "qty": qty, "reserved": reserved}));
            }
            let n = w.next("stock.picking");
            let name = format!("WH/OUT/{n:05}");
            let mut p = Rec::new();
            p.insert("name".into(), json!(name));
            p.insert("display_name".into(), json!(name));
            p.insert(
                "state".into(),
                json!(if all { "assigned" } else { "confirmed" }),
            );
            p.insert("origin".into(), o["name"].clone());
            p.insert("sale_id".into(), json!([id, o["name"]]));
            p.insert("partner_id".into(), o["partner_id"].clone());
            p.insert("move_ids".into(), json!(moves));
            let picking = w.store.create("stock.picking", p)?;
            w.store.write(
                "sale.order",
                *id,
                &[("state", json!("sale")), ("picking_ids", json!([picking]))],
            )?;
        }
        Ok(json!(true))
    }

    fn sale_cancel(&self, w: &mut World, orders: &[i64]) -> Result<Value, Fault> {
        for id in orders {
            let o = w.store.get("sale.order", *id)?.clone();
            for picking in ids(&o["picking_ids"]) {
                let p = w.store.get("stock.picking", picking)?.clone();
                if p["state"] == "done" {
                    continue;
                }
                for m in p["move_ids"].as_array().into_iter().flatten() {
                    release(w, m)?;
                }
                w.store
                    .write("stock.picking", picking, &[("state", json!("cancel"))])?;
            }
            w.store
                .write("sale.order", *id, &[("state", json!("cancel"))])?;
        }
        Ok(json!(true))
    }

    fn view_delivery(&self, w: &World, orders: &[i64]) -> Result<Value, Fault> {
        let id = orders.first().copied().unwrap_or(0);
        let o = w.store.get("sale.order", id)?;
        let mut a = self.answer_template("action_view_delivery");
        a["res_id"] = json!(ids(&o["picking_ids"]).first().copied().unwrap_or(0));
        a["context"] = json!({"default_partner_id": ids(&o["partner_id"]).first(),
            "default_picking_type_id": 2, "default_origin": o["name"], "default_group_id": id});
        Ok(a)
    }

    /// Validates deliveries whose moves are all reserved; otherwise asks, as Odoo does,
    /// whether to make a backorder of the rest.
    fn button_validate(&self, w: &mut World, pickings: &[i64]) -> Result<Value, Fault> {
        for id in pickings {
            let p = w.store.get("stock.picking", *id)?;
            if p["state"] == "done" || p["state"] == "cancel" {
                return Err(Fault::user(
                    "You cannot validate a transfer if no quantities are reserved nor done.",
                ));
            }
        }
        let short = pickings.iter().any(|id| {
            w.store.get("stock.picking", *id).is_ok_and(|p| {
                p["move_ids"].as_array().into_iter().flatten().any(|m| {
                    m["reserved"].as_f64().unwrap_or(0.0) < m["qty"].as_f64().unwrap_or(0.0)
                })
            })
        });
        if short {
            return Ok(json!({
                "name": "Create Backorder?", "type": "ir.actions.act_window", "view_mode": "form",
                "res_model": "stock.backorder.confirmation", "views": [[false, "form"]],
                "view_id": 1, "target": "new",
                "context": {"button_validate_picking_ids": pickings,
                    "default_show_transfers": false,
                    "default_pick_ids": pickings.iter().map(|p| json!([4, p])).collect::<Vec<_>>()},
            }));
        }
        for id in pickings {
            self.validate(w, *id, None)?;
        }
        Ok(json!(true))
    }

    /// Ships what is reserved; `backorder` keeps the rest in a new picking, else cancels it.
    fn validate(&self, w: &mut World, id: i64, backorder: Option<bool>) -> Result<(), Fault> {
        let p = w.store.get("stock.picking", id)?.clone();
        let mut rest = Vec::new();
        for m in p["move_ids"].as_array().into_iter().flatten() {
            let product = m["product_id"].as_i64().unwrap_or(0);
            let (qty, reserved) = (
                m["qty"].as_f64().unwrap_or(0.0),
                m["reserved"].as_f64().unwrap_or(0.0),
            );
            take_stock(w, product, reserved, false)?;
            if qty > reserved {
                rest.push(json!({"product_id": product, "qty": qty - reserved, "reserved": 0.0}));
            }
        }
        w.store
            .write("stock.picking", id, &[("state", json!("done"))])?;
        if backorder == Some(true) && !rest.is_empty() {
            let mut b = p.clone();
            let n = w.next("stock.picking");
            b.insert("name".into(), json!(format!("WH/OUT/{n:05}")));
            b.insert("state".into(), json!("confirmed"));
            b.insert("move_ids".into(), json!(rest));
            w.store.create("stock.picking", b)?;
        }
        Ok(())
    }

    fn process_backorder(
        &self,
        w: &mut World,
        wizards: &[i64],
        keep: bool,
    ) -> Result<Value, Fault> {
        for wid in wizards {
            let picks = ids(&w.store.get("stock.backorder.confirmation", *wid)?["pick_ids"]);
            for p in picks {
                self.validate(w, p, Some(keep))?;
            }
        }
        Ok(json!(true))
    }

    // ---- Accounting

    /// Posted journal lines of entry `mov`: (account, debit, credit) each; returns their ids.
    fn book_lines(
        &self,
        w: &mut World,
        mov: (i64, &str),
        partner: i64,
        lines: &[(i64, f64, f64)],
        date: &str,
    ) -> Result<Vec<i64>, Fault> {
        lines
            .iter()
            .map(|&(account, debit, credit)| {
                let l = catalog::journal_line(
                    Some(mov),
                    account,
                    partner,
                    debit,
                    credit,
                    date,
                    self.major,
                );
                w.store.create("account.move.line", l)
            })
            .collect()
    }

    fn invoice_create(&self, w: &mut World, vals: &Value) -> Result<Value, Fault> {
        let (partner, pname) = self.partner(w, vals)?;
        let (lines, untaxed) = self.order_lines(w, vals.get("invoice_line_ids"), "quantity")?;
        let total = round2(untaxed * (1.0 + catalog::TAX_PERCENT / 100.0));
        let mut m = Rec::new();
        m.insert("name".into(), json!("/"));
        m.insert("display_name".into(), json!("Draft Invoice"));
        m.insert(
            "move_type".into(),
            vals.get("move_type").cloned().unwrap_or(json!("entry")),
        );
        m.insert("partner_id".into(), json!([partner, pname.clone()]));
        m.insert("commercial_partner_id".into(), json!([partner, pname]));
        m.insert("state".into(), json!("draft"));
        m.insert("payment_state".into(), json!("not_paid"));
        m.insert("amount_total".into(), json!(total));
        m.insert("amount_untaxed".into(), json!(round2(untaxed)));
        m.insert("invoice_line_ids".into(), json!(lines));
        m.insert("line_ids".into(), json!([]));
        Ok(json!(w.store.create("account.move", m)?))
    }

    /// Posts journal entries: an invoice's receivable, income and tax lines.
    fn invoice_post(&self, w: &mut World, moves: &[i64]) -> Result<Value, Fault> {
        for id in moves {
            let m = w.store.get("account.move", *id)?.clone();
            if m["state"] != "draft" {
                return Err(Fault::user("The entry is not in draft."));
            }
            let n = w.next("account.move");
            let name = format!("INV/2026/{n:05}");
            let partner = ids(&m["partner_id"]).first().copied().unwrap_or(0);
            let total = m["amount_total"].as_f64().unwrap_or(0.0);
            let untaxed = m["amount_untaxed"].as_f64().unwrap_or(0.0);
            let today = w.today.clone();
            let line_ids = self.book_lines(
                w,
                (*id, &name),
                partner,
                &[
                    (catalog::RECEIVABLE, total, 0.0),
                    (catalog::SALES, 0.0, untaxed),
                    (catalog::TAX_RECEIVED, 0.0, total - untaxed),
                ],
                &today,
            )?;
            w.store.write(
                "account.move",
                *id,
                &[
                    ("state", json!("posted")),
                    ("name", json!(name)),
                    ("display_name", json!(name)),
                    ("line_ids", json!(line_ids)),
                ],
            )?;
        }
        Ok(json!(false))
    }

    fn receivables(&self, w: &World, moves: &[i64]) -> Result<Vec<i64>, Fault> {
        w.store.search(
            "account.move.line",
            &json!([
                ["move_id", "in", moves],
                ["account_type", "=", "asset_receivable"],
                ["reconciled", "=", false]
            ]),
            None,
        )
    }

    fn register_payment(&self, w: &World, moves: &[i64]) -> Result<Value, Fault> {
        for id in moves {
            if w.store.get("account.move", *id)?["state"] != "posted" {
                return Err(Fault::user(
                    "You can only register payment for posted journal entries.",
                ));
            }
        }
        let mut a = self.answer_template("action_register_payment");
        a["context"] = json!({"active_model": "account.move.line",
            "active_ids": self.receivables(w, moves)?});
        Ok(a)
    }

    /// The payment wizard's button: a posted payment per invoice, reconciled with it.
    fn create_payments(&self, w: &mut World, wizards: &[i64]) -> Result<Value, Fault> {
        for wid in wizards {
            let lines = ids(&w.store.get("account.payment.register", *wid)?["line_ids"]);
            for line in lines {
                let l = w.store.get("account.move.line", line)?.clone();
                let amount = l["debit"].as_f64().unwrap_or(0.0);
                let partner = l["partner_id"].as_i64().unwrap_or(0);
                let payment = self.payment_create(
                    w,
                    &json!({"amount": amount, "partner_id": partner, "payment_type": "inbound",
                        "partner_type": "customer"}),
                )?;
                let pid = payment.as_i64().unwrap_or(0);
                self.payment_post(w, &[pid])?;
                let pmove = ids(&w.store.get("account.payment", pid)?["move_id"]);
                let mut both = self.receivables(w, &pmove)?;
                both.push(line);
                self.reconcile(w, &both)?;
            }
        }
        Ok(json!(true))
    }

    fn payment_create(&self, w: &mut World, vals: &Value) -> Result<Value, Fault> {
        let (partner, pname) = self.partner(w, vals)?;
        let mut p = Rec::new();
        p.insert("name".into(), json!("/"));
        p.insert("partner_id".into(), json!([partner, pname]));
        p.insert(
            "amount".into(),
            json!(vals.get("amount").and_then(Value::as_f64).unwrap_or(0.0)),
        );
        p.insert(
            "payment_type".into(),
            vals.get("payment_type")
                .cloned()
                .unwrap_or(json!("inbound")),
        );
        p.insert(
            "partner_type".into(),
            vals.get("partner_type")
                .cloned()
                .unwrap_or(json!("customer")),
        );
        p.insert("state".into(), json!("draft"));
        p.insert("move_id".into(), json!(false));
        Ok(json!(w.store.create("account.payment", p)?))
    }

    /// Posts payments: a bank debit and a receivable credit.
    fn payment_post(&self, w: &mut World, payments: &[i64]) -> Result<Value, Fault> {
        for id in payments {
            let p = w.store.get("account.payment", *id)?.clone();
            if p["state"] != "draft" {
                return Err(Fault::user("Only a draft payment can be posted."));
            }
            let n = w.next("account.payment");
            let name = format!("PBNK1/2026/{n:05}");
            let amount = p["amount"].as_f64().unwrap_or(0.0);
            let partner = ids(&p["partner_id"]).first().copied().unwrap_or(0);
            let mut m = Rec::new();
            m.insert("name".into(), json!(name));
            m.insert("display_name".into(), json!(name));
            m.insert("move_type".into(), json!("entry"));
            m.insert("partner_id".into(), p["partner_id"].clone());
            m.insert("commercial_partner_id".into(), p["partner_id"].clone());
            m.insert("state".into(), json!("posted"));
            m.insert("payment_state".into(), json!("not_paid"));
            m.insert("amount_total".into(), json!(amount));
            m.insert("amount_untaxed".into(), json!(amount));
            m.insert("invoice_line_ids".into(), json!([]));
            let move_id = w.store.create("account.move", m)?;
            let today = w.today.clone();
            let line_ids = self.book_lines(
                w,
                (move_id, &name),
                partner,
                &[
                    (catalog::BANK, amount, 0.0),
                    (catalog::RECEIVABLE, 0.0, amount),
                ],
                &today,
            )?;
            w.store
                .write("account.move", move_id, &[("line_ids", json!(line_ids))])?;
            w.store.write(
                "account.payment",
                *id,
                &[
                    (
                        "state",
                        json!(if self.major >= 18 {
                            "in_process"
                        } else {
                            "posted"
                        }),
                    ),
                    ("name", json!(name)),
                    ("move_id", json!([move_id, name])),
                ],
            )?;
        }
        Ok(json!(false))
    }

    /// Matches journal lines; an invoice whose receivable is matched is paid.
    fn reconcile(&self, w: &mut World, lines: &[i64]) -> Result<Value, Fault> {
        for id in lines {
            if w.store.get("account.move.line", *id)?["reconciled"] == json!(true) {
                return Err(Fault::user(
                    "You are trying to reconcile some entries that are already reconciled.",
                ));
            }
        }
        for id in lines {
            w.store
                .write("account.move.line", *id, &[("reconciled", json!(true))])?;
            let mov = ids(&w.store.get("account.move.line", *id)?["move_id"]);
            if let Some(m) = mov.first().filter(|m| **m > 0)
                && w.store.get("account.move", *m).is_ok()
                && w.store.get("account.move", *m)?["move_type"] == "out_invoice"
            {
                w.store
                    .write("account.move", *m, &[("payment_state", json!("paid"))])?;
            }
        }
        Ok(Value::Null)
    }

    /// `read_group` over journal lines, grouped by one field, `lazy=False`.
    fn read_group(&self, w: &World, call: &ModelCall) -> Result<Value, Fault> {
        let model = call.model.as_str();
        let kw = |k: &str, i: usize| call.kwargs.get(k).or(call.args.get(i));
        let domain = kw("domain", 0).cloned().unwrap_or(json!([]));
        let fields = strings(kw("fields", 1));
        let groupby = strings(kw("groupby", 2));
        let names: Vec<String> = fields
            .iter()
            .chain(groupby.iter())
            .map(|f| f.split(':').next().unwrap_or("").to_string())
            .filter(|f| f != "__count")
            .collect();
        w.store.check_fields(model, &names)?;
        let found = w.store.search(model, &domain, None)?;
        let by = groupby.first().cloned().unwrap_or_default();
        let mut groups: Vec<(Value, Map<String, Value>)> = Vec::new();
        let t = w.store.table(model)?;
        for id in found {
            let r = &t.rows[&id];
            let key = r.get(&by).cloned().unwrap_or(json!(false));
            let pos = match groups.iter().position(|(k, _)| *k == key) {
                Some(p) => p,
                None => {
                    groups.push((key.clone(), Map::new()));
                    groups.len() - 1
                }
            };
            let g = &mut groups[pos].1;
            let count = g.get("__count").and_then(Value::as_i64).unwrap_or(0) + 1;
            g.insert("__count".into(), json!(count));
            for f in &fields {
                let name = f.split(':').next().unwrap_or("");
                if name == "__count" {
                    continue;
                }
                let v = r.get(name).and_then(Value::as_f64).unwrap_or(0.0);
                let sum = g.get(name).and_then(Value::as_f64).unwrap_or(0.0) + v;
                g.insert(name.to_string(), json!(round2(sum)));
            }
        }
        groups.sort_by(|a, b| {
            a.0.get(1)
                .and_then(Value::as_str)
                .cmp(&b.0.get(1).and_then(Value::as_str))
        });
        let leaves = domain.as_array().cloned().unwrap_or_default();
        Ok(json!(
            groups
                .into_iter()
                .map(|(key, mut g)| {
                    let mut d: Vec<Value> = vec![json!("&"); leaves.len()];
                    d.extend(leaves.iter().cloned());
                    d.push(json!([by, "=", key.get(0).cloned().unwrap_or(key.clone())]));
                    g.insert(by.clone(), key);
                    g.insert("__domain".into(), json!(d));
                    Value::Object(g)
                })
                .collect::<Vec<_>>()
        ))
    }
}

/// Stock leaves the quants: on hand always, free stock too unless it was reserved before.
fn take_stock(w: &mut World, product: i64, qty: f64, unreserved: bool) -> Result<(), Fault> {
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
fn release(w: &mut World, m: &Value) -> Result<(), Fault> {
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
