//! Sales and deliveries: orders confirmed into pickings that reserve free stock, validated
//! as they are, or through the backorder wizard when not all of it is reserved.
use serde_json::{Value, json};

use super::super::catalog;
use super::super::records::{Fault, Rec};
use super::*;

impl Odoo {
    pub(super) fn order_lines(
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

    pub(super) fn partner(&self, w: &World, vals: &Value) -> Result<(i64, String), Fault> {
        let id = vals.get("partner_id").and_then(Value::as_i64).ok_or_else(|| {
            Fault::validation("The operation cannot be completed: Missing required fields on accountable sale order line.")
        })?;
        let p = w.store.get("res.partner", id)?;
        Ok((id, p["name"].as_str().unwrap_or("").to_string()))
    }

    pub(super) fn sale_create(&self, w: &mut World, vals: &Value) -> Result<Value, Fault> {
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
    pub(super) fn sale_confirm(&self, w: &mut World, orders: &[i64]) -> Result<Value, Fault> {
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

    pub(super) fn sale_cancel(&self, w: &mut World, orders: &[i64]) -> Result<Value, Fault> {
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

    pub(super) fn view_delivery(&self, w: &World, orders: &[i64]) -> Result<Value, Fault> {
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
    pub(super) fn button_validate(&self, w: &mut World, pickings: &[i64]) -> Result<Value, Fault> {
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
    pub(super) fn validate(
        &self,
        w: &mut World,
        id: i64,
        backorder: Option<bool>,
    ) -> Result<(), Fault> {
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

    pub(super) fn process_backorder(
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
}
