//! The SQL behind each call the scenarios make, one transaction per request as in Odoo.
//! A release variant changes how some of them run (see `PgVariant`).

use std::time::Duration;

use serde_json::{Value, json};
use tokio_postgres::Transaction;

use crate::standin::config::PgVariant;

/// What a request asks the database to do.
#[derive(Debug, Clone)]
pub enum SqlCall {
    /// `/web/session/authenticate`: the user's id.
    Login {
        login: String,
    },
    /// `pos.order.create_from_ui` (16/17) or `sync_from_ui` (18).
    PosSync {
        orders: Vec<Value>,
        v18: bool,
    },
    SaleCreate {
        vals: Value,
    },
    SaleConfirm {
        ids: Vec<i64>,
    },
    PickingValidate {
        ids: Vec<i64>,
    },
    MovePost {
        ids: Vec<i64>,
    },
    /// `name_search` on partners or products.
    NameSearch {
        table: &'static str,
        name: String,
        limit: i64,
    },
    /// `search_read` on products.
    ProductSearchRead {
        limit: i64,
    },
    /// `pos.session.load_pos_data` / `load_data`: the catalog and customers.
    LoadPosData,
    /// `account.move.line.read_group` over a date range: the month-end report.
    Report {
        from: String,
        to: String,
    },
    /// A shop page.
    ShopPage {
        path: String,
        sid: Option<String>,
    },
    /// `/shop/cart/update_json`.
    CartUpdate {
        sid: String,
        product: i32,
        qty: f64,
        set: bool,
    },
    /// `account.move.create` of an invoice with its lines.
    MoveCreate {
        vals: Value,
    },
    /// `stock.picking.search` by sale order.
    PickingSearch {
        sale_id: i64,
        limit: i64,
    },
    /// `account.move.line.search_read` of open items of an account.
    OpenItems {
        account: String,
        limit: i64,
    },
    /// `account.move.line.reconcile`.
    Reconcile {
        ids: Vec<i64>,
    },
    /// `procurement.group.run_scheduler`: replenish low quants.
    Replenish,
    /// `pos.session.action_pos_session_closing_control`.
    SessionClose {
        ids: Vec<i64>,
    },
}

/// The replenishment SQL, shared by the scheduler call and its cron.
pub const REPLENISH_SQL: &str =
    "UPDATE stock_quant SET quantity = quantity + 200 WHERE quantity < 50";

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// A database error; some (serialization, deadlock, lock) are retried.
    Db(tokio_postgres::Error),
    /// An Odoo exception the user sees.
    User { name: &'static str, message: String },
}

impl From<tokio_postgres::Error> for CallError {
    fn from(e: tokio_postgres::Error) -> Self {
        CallError::Db(e)
    }
}

pub(super) fn user(message: impl Into<String>) -> CallError {
    CallError::User {
        name: "odoo.exceptions.UserError",
        message: message.into(),
    }
}

/// Which warehouse a POS session sells from.
pub(super) fn warehouse_of(session: i64, warehouses: i32) -> i32 {
    ((session.max(1) - 1) % i64::from(warehouses)) as i32 + 1
}

/// Runs `call` inside `tx`.
pub async fn execute(
    tx: &Transaction<'_>,
    call: &SqlCall,
    v: &PgVariant,
    warehouses: i32,
    hot: i32,
) -> Result<Value, CallError> {
    match call {
        SqlCall::Login { login } => {
            let row = tx
                .query_opt(
                    "SELECT id FROM res_users WHERE login = $1 AND active",
                    &[login],
                )
                .await?;
            Ok(row.map_or(Value::Bool(false), |r| json!(i64::from(r.get::<_, i32>(0)))))
        }
        SqlCall::PosSync { orders, v18 } => {
            let mut out = Vec::with_capacity(orders.len());
            for order in orders {
                out.push(super::pos::pos_order(tx, order, v, warehouses, hot).await?);
            }
            Ok(if *v18 {
                json!({"pos.order": out})
            } else {
                Value::Array(out)
            })
        }
        SqlCall::SaleCreate { vals } => sale_create(tx, vals).await,
        SqlCall::SaleConfirm { ids } => {
            for id in ids {
                let confirmed = tx
                    .execute(
                        "UPDATE sale_order SET state = 'sale' WHERE id = $1 AND state = 'draft'",
                        &[id],
                    )
                    .await?;
                if confirmed == 0 {
                    return Err(user(format!(
                        "Sale order {id} cannot be confirmed: not a draft"
                    )));
                }
                let picking: i64 = tx
                    .query_one("INSERT INTO stock_picking (origin, sale_id, warehouse_id, state) SELECT name, id, 1, 'assigned' FROM sale_order WHERE id = $1 RETURNING id", &[id])
                    .await?
                    .get(0);
                tx.execute("INSERT INTO stock_move (picking_id, product_id, qty, state) SELECT $1, product_id, qty, 'assigned' FROM sale_order_line WHERE order_id = $2", &[&picking, id]).await?;
                // Reserve stock: row locks on the quants of what was sold.
                tx.execute(
                    "UPDATE stock_quant q SET reserved = q.reserved + m.qty FROM (SELECT product_id, sum(qty) qty FROM stock_move WHERE picking_id = $1 GROUP BY product_id) m WHERE q.product_id = m.product_id AND q.warehouse_id = 1",
                    &[&picking],
                )
                .await?;
            }
            Ok(Value::Bool(true))
        }
        SqlCall::PickingValidate { ids } => {
            for id in ids {
                tx.execute(
                    "UPDATE stock_quant q SET quantity = q.quantity - m.qty, reserved = greatest(q.reserved - m.qty, 0) FROM (SELECT product_id, sum(qty) qty FROM stock_move WHERE picking_id = $1 AND state <> 'done' GROUP BY product_id) m WHERE q.product_id = m.product_id AND q.warehouse_id = (SELECT warehouse_id FROM stock_picking WHERE id = $1)",
                    &[id],
                )
                .await?;
                tx.execute(
                    "UPDATE stock_move SET state = 'done' WHERE picking_id = $1",
                    &[id],
                )
                .await?;
                tx.execute(
                    "UPDATE stock_picking SET state = 'done' WHERE id = $1",
                    &[id],
                )
                .await?;
            }
            Ok(Value::Bool(true))
        }
        SqlCall::MovePost { ids } => {
            tx.execute(
                "UPDATE account_move SET state = 'posted' WHERE id = ANY($1)",
                &[ids],
            )
            .await?;
            Ok(Value::Bool(true))
        }
        SqlCall::NameSearch { table, name, limit } => {
            let sql = format!(
                "SELECT id, name FROM {table} WHERE lower(name) LIKE lower($1) || '%' ORDER BY lower(name) LIMIT $2"
            );
            let rows = tx.query(&sql, &[name, limit]).await?;
            Ok(rows
                .iter()
                .map(|r| json!([i64::from(r.get::<_, i32>(0)), r.get::<_, String>(1)]))
                .collect())
        }
        SqlCall::ProductSearchRead { limit } => {
            let rows = tx
                .query(
                    "SELECT id, name, list_price FROM product_product ORDER BY id LIMIT $1",
                    &[limit],
                )
                .await?;
            Ok(rows.iter().map(|r| json!({"id": r.get::<_, i32>(0), "display_name": r.get::<_, String>(1), "list_price": r.get::<_, f64>(2)})).collect())
        }
        SqlCall::LoadPosData => {
            let products = tx
                .query(
                    "SELECT id, name, list_price, default_code FROM product_product ORDER BY id",
                    &[],
                )
                .await?;
            let partners = tx
                .query("SELECT id, name, email FROM res_partner ORDER BY id", &[])
                .await?;
            Ok(json!({
                "product.product": products.iter().map(|r| json!({"id": r.get::<_, i32>(0), "display_name": r.get::<_, String>(1), "lst_price": r.get::<_, f64>(2), "default_code": r.get::<_, String>(3)})).collect::<Vec<_>>(),
                "res.partner": partners.iter().map(|r| json!({"id": r.get::<_, i32>(0), "name": r.get::<_, String>(1), "email": r.get::<_, Option<String>>(2)})).collect::<Vec<_>>(),
            }))
        }
        SqlCall::Report { from, to } => {
            if !v.report_index {
                // The `slow-report` release: the planner cannot use the journal-line index.
                tx.batch_execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off").await?;
            }
            let rows = tx
                .query(
                    "SELECT account_code, sum(debit), sum(credit), count(*) FROM account_move_line WHERE date BETWEEN $1::text::date AND $2::text::date GROUP BY account_code ORDER BY account_code",
                    &[from, to],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| json!({"account_code": r.get::<_, String>(0), "debit": r.get::<_, f64>(1), "credit": r.get::<_, f64>(2), "__count": r.get::<_, i64>(3)}))
                .collect())
        }
        SqlCall::ShopPage { path, sid } => shop_page(tx, path, sid.as_deref()).await,
        SqlCall::MoveCreate { vals } => {
            let partner = vals
                .get("partner_id")
                .and_then(Value::as_i64)
                .map(|p| p as i32);
            let move_type = vals
                .get("move_type")
                .and_then(Value::as_str)
                .unwrap_or("entry")
                .to_string();
            let id: i64 = tx
                .query_one(
                    "INSERT INTO account_move (journal_id, ref, move_type, partner_id, state, date, amount_total) SELECT id, NULL, $1, $2, 'draft', current_date, 0 FROM account_journal WHERE code = 'INV' RETURNING id",
                    &[&move_type, &partner],
                )
                .await?
                .get(0);
            let mut total = 0.0;
            for line in vals
                .get("invoice_line_ids")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let l = &line[2];
                let amount = l.get("quantity").and_then(Value::as_f64).unwrap_or(1.0)
                    * l.get("price_unit").and_then(Value::as_f64).unwrap_or(0.0);
                total += amount;
                tx.execute("INSERT INTO account_move_line (move_id, account_code, partner_id, credit, date) VALUES ($1, '700000', $2, $3, current_date)", &[&id, &partner, &amount]).await?;
            }
            tx.execute("INSERT INTO account_move_line (move_id, account_code, partner_id, debit, date) VALUES ($1, '400000', $2, $3, current_date)", &[&id, &partner, &total]).await?;
            tx.execute(
                "UPDATE account_move SET amount_total = $1 WHERE id = $2",
                &[&total, &id],
            )
            .await?;
            Ok(json!(id))
        }
        SqlCall::PickingSearch { sale_id, limit } => {
            let rows = tx
                .query(
                    "SELECT id FROM stock_picking WHERE sale_id = $1 ORDER BY id LIMIT $2",
                    &[sale_id, limit],
                )
                .await?;
            Ok(rows.iter().map(|r| json!(r.get::<_, i64>(0))).collect())
        }
        SqlCall::OpenItems { account, limit } => {
            let rows = tx
                .query("SELECT id, debit, credit FROM account_move_line WHERE account_code = $1 AND NOT reconciled ORDER BY id LIMIT $2", &[account, limit])
                .await?;
            Ok(rows.iter().map(|r| json!({"id": r.get::<_, i64>(0), "debit": r.get::<_, f64>(1), "credit": r.get::<_, f64>(2)})).collect())
        }
        SqlCall::Reconcile { ids } => {
            // Lock the lines, as reconciliation does, then mark them matched.
            let locked = tx.query("SELECT id FROM account_move_line WHERE id = ANY($1) AND NOT reconciled FOR UPDATE", &[ids]).await?;
            if locked.len() != ids.len() {
                return Err(user("Some of the entries are already reconciled."));
            }
            tx.execute(
                "UPDATE account_move_line SET reconciled = true WHERE id = ANY($1)",
                &[ids],
            )
            .await?;
            Ok(Value::Bool(true))
        }
        SqlCall::Replenish => {
            tx.execute(REPLENISH_SQL, &[]).await?;
            Ok(Value::Null)
        }
        SqlCall::SessionClose { ids } => {
            let ids: Vec<i32> = ids.iter().map(|i| *i as i32).collect();
            tx.execute(
                "UPDATE pos_session SET state = 'closing_control' WHERE id = ANY($1)",
                &[&ids],
            )
            .await?;
            Ok(Value::Bool(true))
        }
        SqlCall::CartUpdate {
            sid,
            product,
            qty,
            set,
        } => {
            let cart: i64 = tx
                .query_one("INSERT INTO website_cart (session_id) VALUES ($1) ON CONFLICT (session_id) DO UPDATE SET updated_at = now() at time zone 'utc' RETURNING id", &[sid])
                .await?
                .get(0);
            let sql = if *set {
                "INSERT INTO website_cart_line (cart_id, product_id, qty) VALUES ($1, $2, $3) ON CONFLICT (cart_id, product_id) DO UPDATE SET qty = EXCLUDED.qty RETURNING id, qty"
            } else {
                "INSERT INTO website_cart_line (cart_id, product_id, qty) VALUES ($1, $2, $3) ON CONFLICT (cart_id, product_id) DO UPDATE SET qty = website_cart_line.qty + EXCLUDED.qty RETURNING id, qty"
            };
            let line = tx.query_one(sql, &[&cart, product, qty]).await?;
            let totals = tx
                .query_one(
                    "UPDATE website_cart c SET amount = t.amount FROM (SELECT coalesce(sum(l.qty * p.list_price), 0) amount, coalesce(sum(l.qty), 0) qty FROM website_cart_line l JOIN product_product p ON p.id = l.product_id WHERE l.cart_id = $1) t WHERE c.id = $1 RETURNING t.amount, t.qty",
                    &[&cart],
                )
                .await?;
            Ok(
                json!({"line_id": line.get::<_, i64>(0), "quantity": line.get::<_, f64>(1), "cart_quantity": totals.get::<_, f64>(1), "amount": totals.get::<_, f64>(0)}),
            )
        }
    }
}

async fn sale_create(tx: &Transaction<'_>, vals: &Value) -> Result<Value, CallError> {
    let partner = vals
        .get("partner_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| CallError::User {
            name: "odoo.exceptions.ValidationError",
            message: "The field 'Customer' (partner_id) is required".into(),
        })? as i32;
    let id: i64 = tx
        .query_one(
            "INSERT INTO sale_order (partner_id, state) VALUES ($1, 'draft') RETURNING id",
            &[&partner],
        )
        .await?
        .get(0);
    tx.execute(
        "UPDATE sale_order SET name = 'S' || lpad(id::text, 5, '0') WHERE id = $1",
        &[&id],
    )
    .await?;
    for line in vals
        .get("order_line")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let l = &line[2];
        let product = l["product_id"].as_i64().unwrap_or(0) as i32;
        let qty = l
            .get("product_uom_qty")
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        let inserted = tx
            .execute(
                "INSERT INTO sale_order_line (order_id, product_id, qty, price_unit) SELECT $1, id, $3, list_price FROM product_product WHERE id = $2",
                &[&id, &product, &qty],
            )
            .await?;
        if inserted == 0 {
            return Err(CallError::User {
                name: "odoo.exceptions.MissingError",
                message: format!(
                    "Record does not exist or has been deleted. (product.product({product},))"
                ),
            });
        }
    }
    tx.execute(
        "UPDATE sale_order SET amount_total = (SELECT coalesce(sum(qty * price_unit), 0) FROM sale_order_line WHERE order_id = $1) WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(json!(id))
}

/// A shop page's HTML; `None` when the product does not exist.
async fn shop_page(
    tx: &Transaction<'_>,
    path: &str,
    sid: Option<&str>,
) -> Result<Value, CallError> {
    let items: Vec<(i32, String, f64)> = if let Some(id) = path
        .rsplit('-')
        .next()
        .and_then(|s| s.parse::<i32>().ok())
        .filter(|_| path.starts_with("/shop/product"))
    {
        let Some(row) = tx.query_opt("SELECT id, name, list_price FROM product_product WHERE id = $1 AND website_published", &[&id]).await? else {
            return Ok(Value::Null);
        };
        let stock: f64 = tx.query_one("SELECT coalesce(sum(quantity - reserved), 0) FROM stock_quant WHERE product_id = $1", &[&id]).await?.get(0);
        vec![(
            row.get(0),
            format!("{} ({stock:.0} in stock)", row.get::<_, String>(1)),
            row.get(2),
        )]
    } else if path.starts_with("/shop/cart") || path.starts_with("/shop/checkout") {
        tx.query(
            "SELECT p.id, p.name, l.qty * p.list_price FROM website_cart c JOIN website_cart_line l ON l.cart_id = c.id JOIN product_product p ON p.id = l.product_id WHERE c.session_id = $1 ORDER BY l.id",
            &[&sid.unwrap_or("")],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
    } else {
        tx.query("SELECT id, name, list_price FROM product_product WHERE website_published ORDER BY hot DESC, id LIMIT 20", &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    };
    let body: String = items
        .iter()
        .map(|(id, name, price)| format!("<div class=\"oe_product\"><a href=\"/shop/product-{id}\">{name}</a> <span class=\"price\">{price:.2}</span></div>"))
        .collect();
    Ok(Value::String(format!(
        "<!DOCTYPE html><html><head><title>Shop | Retail</title></head><body><main id=\"wrap\">{body}</main></body></html>"
    )))
}

/// Odoo's retryable SQL states: serialization failure, deadlock, lock not available.
pub fn retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::LOCK_NOT_AVAILABLE
    })
}

/// Odoo's back-off before try `n` (1-based): uniform(0, 2^n) seconds, scaled.
pub fn backoff(n: u32, scale: f64, rng: &mut impl rand::Rng) -> Duration {
    use rand::RngExt;
    let upper = 2f64.powi(n as i32);
    Duration::from_secs_f64(rng.random_range(0.0..upper) * scale)
}
