//! The SQL work behind the calls that matter for capacity, one transaction per request as in
//! Odoo. It answers nothing: the memory backend gives every answer; this is the load a real
//! Odoo puts on its database for the same request. A release variant changes how some of it
//! runs (see `PgVariant`).

use std::time::Duration;

use tokio_postgres::Transaction;

use super::pos::{self, PosOrder};
use crate::standin::config::PgVariant;

/// What a request asks the database to do. Ids are this database's rows, never the memory
/// backend's (except products and partners, which both seed alike).
#[derive(Debug, Clone, PartialEq)]
pub enum SqlCall {
    /// `pos.order.create_from_ui` (17) or `sync_from_ui` (18).
    PosSync { orders: Vec<PosOrder> },
    /// `sale.order.create`: (product, quantity) lines.
    SaleCreate {
        partner: i32,
        lines: Vec<(i32, f64)>,
    },
    /// `sale.order.action_confirm`: (memory's order id, its `sale_order` row).
    SaleConfirm { orders: Vec<(i64, i64)> },
    /// `stock.picking.button_validate` of `stock_picking` rows.
    PickingValidate { pickings: Vec<i64> },
    /// `account.move.line.read_group` by account over a date range: the month-end report.
    Report {
        from: String,
        to: String,
        posted_only: bool,
    },
    /// `account.move.line.reconcile`.
    Reconcile { lines: Vec<i64> },
    /// A shop page.
    ShopPage(ShopPage),
    /// `/shop/cart/update_json` of visitor session `sid`.
    CartUpdate {
        sid: String,
        product: i32,
        qty: f64,
        set: bool,
    },
    /// `name_search` on partners or products.
    NameSearch {
        table: &'static str,
        name: String,
        limit: i64,
    },
    /// `pos.session.load_pos_data` (17) / `load_data` (18): the catalog and customers.
    PosLoad,
    /// `procurement.group.run_scheduler`: replenish low quants.
    Replenish,
}

/// What a shop page reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ShopPage {
    /// The product grid.
    Listing,
    /// A product page (by its template id, which is the product's here) with its stock.
    Product(i32),
    /// The cart, checkout, address and payment pages: the visitor's cart.
    Cart(String),
}

/// Rows a call created, each beside the memory id it stands for (0 when memory's id is only
/// known from its answer), so later calls naming memory's id find the row.
pub type Created = Vec<(i64, i64)>;

/// The replenishment SQL, shared by the scheduler call and its cron.
pub const REPLENISH_SQL: &str =
    "UPDATE stock_quant SET quantity = quantity + 200 WHERE quantity < 50";

/// What the SQL runs with.
pub struct Context<'a> {
    pub variant: &'a PgVariant,
    pub warehouses: i32,
    /// Products 1..=hot are the hot ones.
    pub hot: i32,
}

/// Runs `call` inside `tx`.
pub async fn execute(
    tx: &Transaction<'_>,
    call: &SqlCall,
    cx: &Context<'_>,
) -> Result<Created, tokio_postgres::Error> {
    let mut created = Created::new();
    match call {
        SqlCall::PosSync { orders } => {
            for order in orders {
                pos::sync(tx, order, cx.variant, cx.warehouses, cx.hot).await?;
            }
        }
        SqlCall::SaleCreate { partner, lines } => {
            created.push((0, sale_create(tx, *partner, lines).await?));
        }
        SqlCall::SaleConfirm { orders } => {
            for (memory_id, order) in orders {
                if let Some(picking) = sale_confirm(tx, *order).await? {
                    created.push((*memory_id, picking));
                }
            }
        }
        SqlCall::PickingValidate { pickings } => {
            for id in pickings {
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
        }
        SqlCall::Report {
            from,
            to,
            posted_only,
        } => {
            if !cx.variant.report_index {
                // The `slow-report` release: the planner cannot use the journal-line index.
                tx.batch_execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off").await?;
            }
            let posted = if *posted_only {
                " AND l.parent_state = 'posted'"
            } else {
                ""
            };
            let sql = format!(
                "SELECT a.id, a.code || ' ' || a.name, count(*), sum(l.debit), sum(l.credit), sum(l.debit - l.credit) \
                 FROM account_move_line l JOIN account_account a ON a.id = l.account_id \
                 WHERE l.date BETWEEN $1::text::date AND $2::text::date{posted} GROUP BY a.id ORDER BY a.code"
            );
            tx.query(&sql, &[from, to]).await?;
        }
        SqlCall::Reconcile { lines } => {
            // Lock the lines, as reconciliation does, then mark them matched.
            tx.query(
                "SELECT id FROM account_move_line WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                &[lines],
            )
            .await?;
            tx.execute(
                "UPDATE account_move_line SET reconciled = true WHERE id = ANY($1)",
                &[lines],
            )
            .await?;
        }
        SqlCall::ShopPage(page) => shop_page(tx, page).await?,
        SqlCall::CartUpdate {
            sid,
            product,
            qty,
            set,
        } => {
            created.push((0, cart_update(tx, sid, *product, *qty, *set).await?));
        }
        SqlCall::NameSearch { table, name, limit } => {
            // `ilike` as the autocomplete sends it: a substring, so no index helps.
            let sql = format!(
                "SELECT id, name FROM {table} WHERE name ILIKE '%' || $1 || '%' ORDER BY name LIMIT $2"
            );
            tx.query(&sql, &[name, limit]).await?;
        }
        SqlCall::PosLoad => {
            tx.query(
                "SELECT id, name, list_price, default_code FROM product_product ORDER BY id",
                &[],
            )
            .await?;
            tx.query("SELECT id, name, email FROM res_partner ORDER BY id", &[])
                .await?;
        }
        SqlCall::Replenish => {
            tx.execute(REPLENISH_SQL, &[]).await?;
        }
    }
    Ok(created)
}

/// A draft order with its lines priced from the catalog (a product not here adds no line).
async fn sale_create(
    tx: &Transaction<'_>,
    partner: i32,
    lines: &[(i32, f64)],
) -> Result<i64, tokio_postgres::Error> {
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
    for (product, qty) in lines {
        tx.execute(
            "INSERT INTO sale_order_line (order_id, product_id, qty, price_unit) SELECT $1, id, $3, list_price FROM product_product WHERE id = $2",
            &[&id, product, qty],
        )
        .await?;
    }
    tx.execute(
        "UPDATE sale_order SET amount_total = (SELECT coalesce(sum(qty * price_unit), 0) FROM sale_order_line WHERE order_id = $1) WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(id)
}

/// Confirms a draft order: its delivery from the first warehouse, stock reserved under row
/// locks on the quants. Returns the delivery, or `None` for an order that is no draft.
async fn sale_confirm(
    tx: &Transaction<'_>,
    order: i64,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let Some(picking) = tx
        .query_opt(
            "WITH confirmed AS (UPDATE sale_order SET state = 'sale' WHERE id = $1 AND state = 'draft' RETURNING id, name) \
             INSERT INTO stock_picking (origin, sale_id, warehouse_id, state) SELECT name, id, 1, 'assigned' FROM confirmed RETURNING id",
            &[&order],
        )
        .await?
    else {
        return Ok(None);
    };
    let picking: i64 = picking.get(0);
    tx.execute(
        "INSERT INTO stock_move (picking_id, product_id, qty, state) SELECT $1, product_id, qty, 'assigned' FROM sale_order_line WHERE order_id = $2",
        &[&picking, &order],
    )
    .await?;
    tx.execute(
        "UPDATE stock_quant q SET reserved = q.reserved + m.qty FROM (SELECT product_id, sum(qty) qty FROM stock_move WHERE picking_id = $1 GROUP BY product_id) m WHERE q.product_id = m.product_id AND q.warehouse_id = 1",
        &[&picking],
    )
    .await?;
    Ok(Some(picking))
}

/// Adds to (or sets) a cart line and recomputes the cart's total; returns the cart.
async fn cart_update(
    tx: &Transaction<'_>,
    sid: &str,
    product: i32,
    qty: f64,
    set: bool,
) -> Result<i64, tokio_postgres::Error> {
    let cart: i64 = tx
        .query_one("INSERT INTO website_cart (session_id) VALUES ($1) ON CONFLICT (session_id) DO UPDATE SET updated_at = now() at time zone 'utc' RETURNING id", &[&sid])
        .await?
        .get(0);
    let sql = if set {
        "INSERT INTO website_cart_line (cart_id, product_id, qty) VALUES ($1, $2, $3) ON CONFLICT (cart_id, product_id) DO UPDATE SET qty = EXCLUDED.qty"
    } else {
        "INSERT INTO website_cart_line (cart_id, product_id, qty) VALUES ($1, $2, $3) ON CONFLICT (cart_id, product_id) DO UPDATE SET qty = website_cart_line.qty + EXCLUDED.qty"
    };
    tx.execute(sql, &[&cart, &product, &qty]).await?;
    tx.execute(
        "UPDATE website_cart c SET amount = t.amount FROM (SELECT coalesce(sum(l.qty * p.list_price), 0) amount FROM website_cart_line l JOIN product_product p ON p.id = l.product_id WHERE l.cart_id = $1) t WHERE c.id = $1",
        &[&cart],
    )
    .await?;
    Ok(cart)
}

async fn shop_page(tx: &Transaction<'_>, page: &ShopPage) -> Result<(), tokio_postgres::Error> {
    match page {
        ShopPage::Listing => {
            tx.query("SELECT id, name, list_price FROM product_product WHERE website_published ORDER BY hot DESC, id LIMIT 20", &[])
                .await?;
        }
        ShopPage::Product(id) => {
            tx.query_opt(
                "SELECT id, name, list_price FROM product_product WHERE id = $1 AND website_published",
                &[id],
            )
            .await?;
            tx.query_one(
                "SELECT coalesce(sum(quantity - reserved), 0) FROM stock_quant WHERE product_id = $1",
                &[id],
            )
            .await?;
        }
        ShopPage::Cart(sid) => {
            tx.query(
                "SELECT p.id, p.name, l.qty * p.list_price FROM website_cart c JOIN website_cart_line l ON l.cart_id = c.id JOIN product_product p ON p.id = l.product_id WHERE c.session_id = $1 ORDER BY l.id",
                &[sid],
            )
            .await?;
        }
    }
    Ok(())
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
