//! POS order sync in SQL: the orders of Odoo 17's `pos.order.create_from_ui` and 18's
//! `sync_from_ui` payloads, each inserted with its lines and payments, stock moved out of the
//! store's quants under row locks, a posted journal entry; the `pos-n-plus-one` and
//! `quant-lock` releases change how.

use std::collections::BTreeMap;

use serde_json::Value;
use tokio_postgres::Transaction;

use super::schema::{BANK, SALES};
use crate::standin::config::{PgVariant, PosSync, QuantLock};

/// One order of a sync payload, as the SQL needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PosOrder {
    pub name: String,
    /// What makes a sync idempotent: 18 matches orders on `uuid`; 17 orders carry one too
    /// (their `uid` reference when they do not).
    pub uuid: String,
    /// The memory backend's POS session id; never a key here (see [`warehouse_of`]).
    pub session: i64,
    pub partner: Option<i32>,
    pub total: f64,
    pub lines: Vec<PosLine>,
    /// (payment method, amount).
    pub payments: Vec<(i32, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PosLine {
    pub product: i32,
    pub qty: f64,
    pub price_unit: f64,
    pub subtotal: f64,
}

/// The orders of a sync call's `args`: 17 `[[{id, data, to_invoice}, …], draft]`, 18
/// `[[{flat pos.order values}, …]]`. `None` when any order lacks what Odoo needs or is not
/// paid in full: Odoo refuses the whole call (one transaction), so no SQL runs and the memory
/// backend answers the error.
pub fn parse_orders(args: &Value, v18: bool) -> Option<Vec<PosOrder>> {
    let orders = args.get(0)?.as_array()?;
    if orders.is_empty() {
        return None;
    }
    orders.iter().map(|o| parse_order(o, v18)).collect()
}

fn parse_order(order: &Value, v18: bool) -> Option<PosOrder> {
    let (data, session_key, payments_key) = if v18 {
        (order, "session_id", "payment_ids")
    } else {
        (order.get("data")?, "pos_session_id", "statement_ids")
    };
    let name = data.get("name")?.as_str()?.to_string();
    let uuid = data
        .get("uuid")
        .or_else(|| data.get("uid"))
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())?
        .to_string();
    let lines = data
        .get("lines")?
        .as_array()?
        .iter()
        .map(|l| {
            let l = command_values(l)?;
            let qty = l.get("qty")?.as_f64()?;
            let price_unit = l.get("price_unit")?.as_f64()?;
            Some(PosLine {
                product: i32::try_from(l.get("product_id")?.as_i64()?).ok()?,
                qty,
                price_unit,
                subtotal: l
                    .get("price_subtotal")
                    .and_then(Value::as_f64)
                    .unwrap_or(qty * price_unit),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let payments = data
        .get(payments_key)?
        .as_array()?
        .iter()
        .map(|p| {
            let p = command_values(p)?;
            let method = i32::try_from(p.get("payment_method_id")?.as_i64()?).ok()?;
            Some((method, p.get("amount")?.as_f64()?))
        })
        .collect::<Option<Vec<_>>>()?;
    let total = data.get("amount_total")?.as_f64()?;
    let paid: f64 = payments.iter().map(|p| p.1).sum();
    if lines.is_empty() || (paid - total).abs() > 0.005 {
        return None;
    }
    Some(PosOrder {
        name,
        uuid,
        session: data.get(session_key)?.as_i64()?,
        partner: data
            .get("partner_id")
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok()),
        total,
        lines,
        payments,
    })
}

/// The values of a `[0, 0, {values}]` create command.
fn command_values(command: &Value) -> Option<&Value> {
    let c = command.as_array()?;
    (c.len() == 3 && c[0].as_i64() == Some(0))
        .then(|| &c[2])
        .filter(|v| v.is_object())
}

/// The warehouse a POS session sells from. The memory backend opens session `k` on config `k`
/// for the first sessions of a run and config `i` is warehouse `i`, so sessions are spread
/// over the warehouses by id; a session id is never a key here, as memory's ids are not rows.
pub fn warehouse_of(session: i64, warehouses: i32) -> i32 {
    ((session.max(1) - 1) % i64::from(warehouses.max(1))) as i32 + 1
}

/// Syncs one order: the order, its lines and payments, stock moved out under row locks, a
/// journal entry. An order whose uuid is already here is skipped, as Odoo skips orders it
/// has synced.
pub async fn sync(
    tx: &Transaction<'_>,
    order: &PosOrder,
    v: &PgVariant,
    warehouses: i32,
    hot: i32,
) -> Result<(), tokio_postgres::Error> {
    if tx
        .query_opt("SELECT 1 FROM pos_order WHERE uuid = $1", &[&order.uuid])
        .await?
        .is_some()
    {
        return Ok(());
    }
    let warehouse = warehouse_of(order.session, warehouses);
    let id: i64 = tx
        .query_one(
            "INSERT INTO pos_order (name, uuid, session_id, warehouse_id, partner_id, amount_total, state) VALUES ($1, $2, $3, $4, $5, $6, 'paid') RETURNING id",
            &[&order.name, &order.uuid, &order.session, &warehouse, &order.partner, &order.total],
        )
        .await?
        .get(0);
    if v.quant_lock == QuantLock::AllHot {
        // The `quant-lock` release: reservation locks every hot product's quant of the
        // warehouse, in the strongest row lock mode, and holds it while it "recomputes".
        tx.query("SELECT id FROM stock_quant WHERE warehouse_id = $1 AND product_id <= $2 ORDER BY id FOR UPDATE", &[&warehouse, &hot]).await?;
        if !v.quant_lock_hold.is_zero() {
            tokio::time::sleep(v.quant_lock_hold).await;
        }
    }
    match v.pos_sync {
        PosSync::Batched => batched_lines(tx, id, warehouse, order).await?,
        PosSync::PerLine => per_line(tx, id, warehouse, order, v).await?,
    }
    for (method, amount) in &order.payments {
        tx.execute(
            "INSERT INTO pos_payment (order_id, payment_method_id, amount) VALUES ($1, $2, $3)",
            &[&id, method, amount],
        )
        .await?;
    }
    let mv: i64 = tx
        .query_one(
            "INSERT INTO account_move (journal_id, ref, state, date, amount_total) SELECT id, $1, 'posted', current_date, $2 FROM account_journal WHERE code = 'POS' RETURNING id",
            &[&order.name, &order.total],
        )
        .await?
        .get(0);
    tx.execute(
        "INSERT INTO account_move_line (move_id, account_id, partner_id, debit, credit, date) VALUES ($1, $2, $4, $5, 0, current_date), ($1, $3, $4, 0, $5, current_date)",
        &[&mv, &BANK, &SALES, &order.partner, &order.total],
    )
    .await?;
    tx.execute(
        "UPDATE pos_order SET account_move = $1 WHERE id = $2",
        &[&mv, &id],
    )
    .await?;
    Ok(())
}

/// Lines in one statement; quants locked in product order and updated in one statement.
async fn batched_lines(
    tx: &Transaction<'_>,
    id: i64,
    warehouse: i32,
    order: &PosOrder,
) -> Result<(), tokio_postgres::Error> {
    let mut per_product: BTreeMap<i32, f64> = BTreeMap::new();
    for l in &order.lines {
        *per_product.entry(l.product).or_default() += l.qty;
    }
    let column = |f: fn(&PosLine) -> f64| order.lines.iter().map(f).collect::<Vec<f64>>();
    let products: Vec<i32> = order.lines.iter().map(|l| l.product).collect();
    tx.execute(
        "INSERT INTO pos_order_line (order_id, product_id, qty, price_unit, price_subtotal) SELECT $1, * FROM UNNEST($2::int[], $3::float8[], $4::float8[], $5::float8[])",
        &[&id, &products, &column(|l| l.qty), &column(|l| l.price_unit), &column(|l| l.subtotal)],
    )
    .await?;
    let (ids, amounts): (Vec<i32>, Vec<f64>) = per_product.into_iter().unzip();
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
    Ok(())
}

/// The `pos-n-plus-one` release: the ORM reads and writes one record at a time.
async fn per_line(
    tx: &Transaction<'_>,
    id: i64,
    warehouse: i32,
    order: &PosOrder,
    v: &PgVariant,
) -> Result<(), tokio_postgres::Error> {
    for l in &order.lines {
        // The ORM browses each record on its own (no prefetch) and, for each line, looks the
        // product's past sales up on an unindexed column.
        if !v.record_cost.is_zero() {
            tokio::time::sleep(v.record_cost).await;
        }
        tx.query_one(
            "SELECT count(*) FROM pos_order_line WHERE product_id = $1",
            &[&l.product],
        )
        .await?;
        tx.query_opt(
            "SELECT id, name, list_price, default_code FROM product_product WHERE id = $1",
            &[&l.product],
        )
        .await?;
        tx.query_opt(
            "SELECT id, name FROM res_partner WHERE id = $1",
            &[&order.partner.unwrap_or(1)],
        )
        .await?;
        let quant = tx
            .query_opt("SELECT id FROM stock_quant WHERE warehouse_id = $1 AND product_id = $2 FOR NO KEY UPDATE", &[&warehouse, &l.product])
            .await?;
        if let Some(q) = quant {
            tx.execute(
                "UPDATE stock_quant SET quantity = quantity - $1 WHERE id = $2",
                &[&l.qty, &q.get::<_, i32>(0)],
            )
            .await?;
        }
        tx.execute(
            "INSERT INTO pos_order_line (order_id, product_id, qty, price_unit, price_subtotal) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &l.product, &l.qty, &l.price_unit, &l.subtotal],
        )
        .await?;
        tx.execute(
            "INSERT INTO account_move_line (move_id, account_id, partner_id, credit, date) VALUES (NULL, $1, $2, $3, current_date)",
            &[&SALES, &order.partner, &l.subtotal],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The order of a real Odoo 17 `create_from_ui` call (tests/fixtures recordings).
    fn v17() -> Value {
        json!([[{"data": {"amount_paid": 625.6, "amount_return": 0, "amount_tax": 81.6, "amount_total": 625.6,
            "date_order": "2026-12-01 02:27:47", "fiscal_position_id": false,
            "lines": [[0, 0, {"discount": 0, "id": 642950, "pack_lot_ids": [], "price_subtotal": 450.0, "price_subtotal_incl": 517.5, "price_unit": 450.0, "product_id": 8, "qty": 1, "tax_ids": [[6, 0, [1]]]}],
                      [0, 0, {"discount": 0, "id": 332360, "pack_lot_ids": [], "price_subtotal": 94.0, "price_subtotal_incl": 108.1, "price_unit": 47.0, "product_id": 20, "qty": 2, "tax_ids": [[6, 0, [1]]]}]],
            "name": "Order 00003-475-0008", "partner_id": false, "pos_session_id": 3, "pricelist_id": false, "sequence_number": 9,
            "statement_ids": [[0, 0, {"amount": 625.6, "name": "2026-12-01 02:27:47", "payment_method_id": 1}]],
            "to_invoice": false, "uid": "00003-475-0008", "user_id": 2, "uuid": "37a111fc-6386-4a9d-a9be-9f0362041625"},
            "id": "00003-475-0008", "to_invoice": false}], false])
    }

    /// The order of a real Odoo 18 `sync_from_ui` call.
    fn v18() -> Value {
        json!([[{"amount_paid": 6499.0, "amount_return": 0, "amount_tax": 0.0, "amount_total": 6499.0,
            "date_order": "2026-12-01 02:28:15", "fiscal_position_id": false, "last_order_preparation_change": "{}",
            "lines": [[0, 0, {"discount": 0, "id": 642950, "pack_lot_ids": [], "price_subtotal": 1799.0, "price_subtotal_incl": 1799.0, "price_unit": 1799.0, "product_id": 19, "qty": 1, "tax_ids": [[6, 0, []]]}],
                      [0, 0, {"discount": 0, "id": 332360, "pack_lot_ids": [], "price_subtotal": 4700.0, "price_subtotal_incl": 4700.0, "price_unit": 2350.0, "product_id": 34, "qty": 2, "tax_ids": [[6, 0, []]]}]],
            "name": "Order 00005-285-0008", "partner_id": 7,
            "payment_ids": [[0, 0, {"amount": 6499.0, "name": "2026-12-01 02:28:15", "payment_method_id": 2}]],
            "pricelist_id": false, "sequence_number": 9, "session_id": 5, "to_invoice": false, "user_id": 2,
            "uuid": "51c2e5ec-7e48-4036-b8dc-2174529094c8"}]])
    }

    #[test]
    fn odoo_17_orders_are_read_from_their_data() {
        let orders = parse_orders(&v17(), false).expect("a valid order");
        assert_eq!(orders.len(), 1);
        let o = &orders[0];
        assert_eq!(
            (o.name.as_str(), o.uuid.as_str(), o.session, o.partner),
            (
                "Order 00003-475-0008",
                "37a111fc-6386-4a9d-a9be-9f0362041625",
                3,
                None
            )
        );
        assert_eq!(o.lines[1].product, 20);
        assert_eq!((o.lines[1].qty, o.lines[1].subtotal), (2.0, 94.0));
        assert_eq!(o.payments, vec![(1, 625.6)]);
        // 17's shape is not 18's.
        assert!(parse_orders(&v17(), true).is_none());
    }

    #[test]
    fn odoo_18_orders_are_flat() {
        let o = &parse_orders(&v18(), true).expect("a valid order")[0];
        assert_eq!((o.session, o.partner, o.total), (5, Some(7), 6499.0));
        assert_eq!(o.payments, vec![(2, 6499.0)]);
        assert_eq!(o.lines.len(), 2);
        assert!(parse_orders(&v18(), false).is_none());
    }

    #[test]
    fn malformed_or_unpaid_orders_run_no_sql() {
        let mut unpaid = v18();
        unpaid[0][0]["payment_ids"][0][2]["amount"] = json!(10.0);
        let mut no_session = v18();
        no_session[0][0]
            .as_object_mut()
            .unwrap()
            .remove("session_id");
        let mut bad_line = v17();
        bad_line[0][0]["data"]["lines"][0] = json!([1, 5, {"qty": 1}]);
        let mut no_lines = v17();
        no_lines[0][0]["data"]["lines"] = json!([]);
        for (args, v18) in [
            (unpaid, true),
            (no_session, true),
            (bad_line, false),
            (no_lines, false),
            (json!([]), true),
            (json!([[]]), true),
            (json!("x"), false),
        ] {
            assert!(parse_orders(&args, v18).is_none(), "{args}");
        }
    }

    #[test]
    fn sessions_spread_over_the_warehouses() {
        assert_eq!(
            (1..=7).map(|s| warehouse_of(s, 3)).collect::<Vec<_>>(),
            vec![1, 2, 3, 1, 2, 3, 1]
        );
        assert_eq!(warehouse_of(0, 3), 1);
        assert_eq!(warehouse_of(-4, 0), 1);
    }
}
