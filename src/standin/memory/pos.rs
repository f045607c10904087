//! The Point of Sale: a till's session from `open_ui` and the opening control to its
//! closing, orders synced in each version's shape, the closing figures.
use serde_json::{Value, json};

use super::super::catalog;
use super::super::records::{Fault, Rec};
use super::*;

impl Odoo {
    pub(super) fn session_rec<'a>(&self, w: &'a World, id: &Value) -> Result<&'a Rec, Fault> {
        let sid = ids(id).first().copied().unwrap_or(0);
        w.store.get("pos.session", sid)
    }

    /// `pos.config.open_ui`: opens a session in opening control if the till has none.
    pub(super) fn open_ui(&self, w: &mut World, configs: &[i64]) -> Result<Value, Fault> {
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

    pub(super) fn set_state(&self, w: &mut World, session: i64, state: &str) -> Result<(), Fault> {
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
    pub(super) fn set_opening(
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
    pub(super) fn load_pos_data(
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
    pub(super) fn pos_session_for(&self, w: &World, session: i64) -> Result<(), Fault> {
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
    pub(super) fn book_order(
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
    pub(super) fn create_from_ui(&self, w: &mut World, orders: &Value) -> Result<Value, Fault> {
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
    pub(super) fn sync_from_ui(&self, w: &mut World, orders: &Value) -> Result<Value, Fault> {
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

    pub(super) fn closing_data(&self, w: &World, session: &Value) -> Result<Value, Fault> {
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

    pub(super) fn open_session(&self, w: &World, session: &Value) -> Result<i64, Fault> {
        let s = self.session_rec(w, session)?;
        if s["state"] == "closed" {
            return Err(Fault::user("This session is already closed."));
        }
        Ok(s["id"].as_i64().unwrap_or(0))
    }

    pub(super) fn post_cash(
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
    pub(super) fn closing_state(
        &self,
        w: &mut World,
        session: &Value,
        notes: &Value,
    ) -> Result<Value, Fault> {
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
    pub(super) fn close_session(&self, w: &mut World, session: &Value) -> Result<Value, Fault> {
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
}
