//! POS order sync in SQL: the order, its lines and payments, stock moved out of the store's
//! quants under row locks, a posted journal entry; the `pos-n-plus-one` and `quant-lock`
//! releases change how.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tokio_postgres::Transaction;

use super::calls::{CallError, user, warehouse_of};
use crate::standin::config::{PgVariant, PosSync, QuantLock};

/// One POS order: the order, its lines and payments, stock moved out under row locks, a
/// journal entry. Idempotent on the order's uuid, as 18's `sync_from_ui` is.
pub(super) async fn pos_order(
    tx: &Transaction<'_>,
    order: &Value,
    v: &PgVariant,
    warehouses: i32,
    hot: i32,
) -> Result<Value, CallError> {
    let name = order["data"]["name"]
        .as_str()
        .ok_or_else(|| user("order without data.name".to_string()))?
        .to_string();
    let data = &order["data"];
    let reference = data
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or(&name)
        .to_string();
    let uuid = data
        .get("uuid")
        .and_then(Value::as_str)
        .map_or_else(|| reference.clone(), str::to_string);
    let session = data
        .get("pos_session_id")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let total = data["amount_total"].as_f64().unwrap_or(0.0);
    let partner = data
        .get("partner_id")
        .and_then(Value::as_i64)
        .map(|p| p as i32);
    let warehouse = warehouse_of(session, warehouses);
    if let Some(existing) = tx
        .query_opt(
            "SELECT id, account_move FROM pos_order WHERE uuid = $1",
            &[&uuid],
        )
        .await?
    {
        return Ok(
            json!({"id": existing.get::<_, i64>(0), "pos_reference": name, "account_move": existing.get::<_, Option<i64>>(1)}),
        );
    }
    let id: i64 = tx
        .query_one(
            "INSERT INTO pos_order (name, pos_reference, uuid, session_id, partner_id, amount_total, state) VALUES ($1, $2, $3, $4, $5, $6, 'paid') RETURNING id",
            &[&name, &reference, &uuid, &(session as i32), &partner, &total],
        )
        .await?
        .get(0);
    // Lines, summed per product for stock.
    let mut products: Vec<i32> = Vec::new();
    let mut qtys = Vec::new();
    let mut prices = Vec::new();
    let mut per_product: BTreeMap<i32, f64> = BTreeMap::new();
    for line in data["lines"].as_array().into_iter().flatten() {
        let l = &line[2];
        let product = l["product_id"].as_i64().unwrap_or(0) as i32;
        let qty = l["qty"].as_f64().unwrap_or(1.0);
        products.push(product);
        qtys.push(qty);
        prices.push(l["price_unit"].as_f64().unwrap_or(0.0));
        *per_product.entry(product).or_default() += qty;
    }
    if v.quant_lock == QuantLock::AllHot {
        // The `quant-lock` release: reservation locks every hot product's quant of the
        // warehouse, in the strongest row lock mode, and holds it while it "recomputes".
        tx.query("SELECT id FROM stock_quant WHERE warehouse_id = $1 AND product_id <= $2 ORDER BY id FOR UPDATE", &[&warehouse, &hot]).await?;
        if !v.quant_lock_hold.is_zero() {
            tokio::time::sleep(v.quant_lock_hold).await;
        }
    }
    match v.pos_sync {
        PosSync::Batched => {
            let subtotals: Vec<f64> = qtys.iter().zip(&prices).map(|(q, p)| q * p).collect();
            tx.execute(
                "INSERT INTO pos_order_line (order_id, product_id, qty, price_unit, price_subtotal) SELECT $1, * FROM UNNEST($2::int[], $3::float8[], $4::float8[], $5::float8[])",
                &[&id, &products, &qtys, &prices, &subtotals],
            )
            .await?;
            let (ids, amounts): (Vec<i32>, Vec<f64>) =
                per_product.iter().map(|(p, q)| (*p, *q)).unzip();
            tx.query(
                "SELECT id FROM stock_quant WHERE warehouse_id = $1 AND product_id = ANY($2) ORDER BY product_id FOR NO KEY UPDATE",
                &[&warehouse, &ids],
            )
            .await?;
            tx.execute(
                "UPDATE stock_quant q SET quantity = q.quantity - v.qty FROM UNNEST($1::int[], $2::float8[]) v(product_id, qty) WHERE q.warehouse_id = $3 AND q.product_id = v.product_id",
                &[&ids, &amounts, &warehouse],
            )
            .await?;
        }
        PosSync::PerLine => {
            // The `pos-n-plus-one` release: the ORM reads and writes one record at a time.
            for ((product, qty), price) in products.iter().zip(&qtys).zip(&prices) {
                // The ORM browses each record on its own (no prefetch) and, for each line,
                // looks the product's past sales up on an unindexed column.
                if !v.record_cost.is_zero() {
                    tokio::time::sleep(v.record_cost).await;
                }
                tx.query_one(
                    "SELECT count(*) FROM pos_order_line WHERE product_id = $1",
                    &[product],
                )
                .await?;
                tx.query_one(
                    "SELECT id, name, list_price, default_code FROM product_product WHERE id = $1",
                    &[product],
                )
                .await?;
                tx.query_opt(
                    "SELECT id, name FROM res_partner WHERE id = $1",
                    &[&partner.unwrap_or(1)],
                )
                .await?;
                let quant = tx
                    .query_opt("SELECT id FROM stock_quant WHERE warehouse_id = $1 AND product_id = $2 FOR NO KEY UPDATE", &[&warehouse, product])
                    .await?;
                if let Some(q) = quant {
                    tx.execute(
                        "UPDATE stock_quant SET quantity = quantity - $1 WHERE id = $2",
                        &[qty, &q.get::<_, i32>(0)],
                    )
                    .await?;
                }
                tx.execute(
                    "INSERT INTO pos_order_line (order_id, product_id, qty, price_unit, price_subtotal) VALUES ($1, $2, $3, $4, $5)",
                    &[&id, product, qty, price, &(qty * price)],
                )
                .await?;
                tx.execute(
                    "INSERT INTO account_move_line (move_id, account_code, partner_id, credit, date) VALUES (NULL, '700000', $1, $2, current_date)",
                    &[&partner, &(qty * price)],
                )
                .await?;
            }
        }
    }
    for payment in data["statement_ids"].as_array().into_iter().flatten() {
        let p = &payment[2];
        let method = p["payment_method_id"].as_i64().unwrap_or(1) as i32;
        let amount = p["amount"].as_f64().unwrap_or(0.0);
        tx.execute(
            "INSERT INTO pos_payment (order_id, payment_method_id, amount) VALUES ($1, $2, $3)",
            &[&id, &method, &amount],
        )
        .await?;
    }
    let mv: i64 = tx
        .query_one(
            "INSERT INTO account_move (journal_id, ref, state, date, amount_total) SELECT id, $1, 'posted', current_date, $2 FROM account_journal WHERE code = 'POS' RETURNING id",
            &[&name, &total],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO account_move_line (move_id, account_code, partner_id, debit, credit, date) VALUES ($1, '570000', $2, $3, 0, current_date), ($1, '700000', $2, 0, $3, current_date)",
        &[&mv, &partner, &total],
    )
    .await?;
    tx.execute(
        "UPDATE pos_order SET account_move = $1 WHERE id = $2",
        &[&mv, &id],
    )
    .await?;
    Ok(json!({"id": id, "pos_reference": name, "account_move": mv}))
}
