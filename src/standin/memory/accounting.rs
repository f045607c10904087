//! Accounting: invoices posted into journal lines, payments, the payment wizard,
//! reconciliation, and the month-end `read_group`.
use serde_json::{Map, Value, json};

use super::super::odoo::ModelCall;

use super::super::catalog;
use super::super::records::{Fault, Rec};
use super::*;

impl Odoo {
    /// Posted journal lines of entry `mov`: (account, debit, credit) each; returns their ids.
    pub(super) fn book_lines(
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

    pub(super) fn invoice_create(&self, w: &mut World, vals: &Value) -> Result<Value, Fault> {
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
    pub(super) fn invoice_post(&self, w: &mut World, moves: &[i64]) -> Result<Value, Fault> {
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

    pub(super) fn receivables(&self, w: &World, moves: &[i64]) -> Result<Vec<i64>, Fault> {
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

    pub(super) fn register_payment(&self, w: &World, moves: &[i64]) -> Result<Value, Fault> {
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
    pub(super) fn create_payments(&self, w: &mut World, wizards: &[i64]) -> Result<Value, Fault> {
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

    pub(super) fn payment_create(&self, w: &mut World, vals: &Value) -> Result<Value, Fault> {
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
    pub(super) fn payment_post(&self, w: &mut World, payments: &[i64]) -> Result<Value, Fault> {
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
    pub(super) fn reconcile(&self, w: &mut World, lines: &[i64]) -> Result<Value, Fault> {
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
    pub(super) fn read_group(&self, w: &World, call: &ModelCall) -> Result<Value, Fault> {
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
