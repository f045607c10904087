//! Which SQL work a request does, read from the payloads real Odoo 17/18 clients send, and
//! what the backend learns from the memory backend's answer to link later requests to the
//! rows that work created.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::calls::{Created, ShopPage, SqlCall};
use super::pos;
use crate::standin::config::StandinConfig;
use crate::standin::odoo::{Incoming, ModelCall};

/// What the backend does for one request: SQL before memory answers, then what it takes from
/// the answer.
#[derive(Debug, PartialEq)]
pub struct Step {
    pub sql: Option<SqlCall>,
    pub after: After,
}

/// What to take from memory's answer.
#[derive(Debug, PartialEq)]
pub enum After {
    Nothing,
    /// A login: the session memory sets is logged in.
    LoggedIn,
    /// A logout: the session is no longer.
    LoggedOut,
    /// `sale.order.create`: memory's id for the row created.
    SaleCreated,
    /// `sale.order.action_confirm`: the deliveries created, by memory's order id.
    SaleConfirmed,
    /// `sale.order.action_view_delivery` of memory's order: its delivery's id.
    DeliveryOpened(i64),
    /// A cart update whose cart row is keyed on the session the visitor has now.
    CartSaved,
    /// A visitor's first cart update: no session yet, so the cart SQL runs after memory has
    /// given one (a new visitor's cart conflicts with no one).
    NewVisitorCart {
        product: i32,
        qty: f64,
        set: bool,
    },
}

impl Step {
    fn none() -> Step {
        Step {
            sql: None,
            after: After::Nothing,
        }
    }
    fn sql(call: Option<SqlCall>) -> Step {
        Step {
            sql: call,
            after: After::Nothing,
        }
    }
    fn after(after: After) -> Step {
        Step { sql: None, after }
    }
}

/// What links memory's records to this database's rows: the sessions memory logged in (only
/// their calls run SQL, as only they would reach Odoo's models) and, by memory's id, the sale
/// orders and deliveries created here. In-process, as memory's ids are: a restart forgets both.
#[derive(Debug, Default)]
pub struct Links {
    /// Products 1..=products exist here as in memory's catalog: a POS order naming another is
    /// memory's to refuse.
    products: i32,
    logged_in: HashSet<String>,
    /// memory's sale.order → `sale_order` row.
    sales: HashMap<i64, i64>,
    /// memory's sale.order → the `stock_picking` row its confirmation created.
    sale_pickings: HashMap<i64, i64>,
    /// memory's stock.picking → `stock_picking` row.
    pickings: HashMap<i64, i64>,
}

impl Links {
    /// Links for a database of `products` products.
    pub fn new(products: i32) -> Links {
        Links {
            products,
            ..Links::default()
        }
    }

    /// The SQL work of `req` (sent with session cookie `sid`).
    pub fn plan(&self, config: &StandinConfig, req: &Incoming, sid: Option<&str>) -> Step {
        match req {
            Incoming::Rpc { path, params, .. } => match path.as_str() {
                "/web/session/authenticate" => Step::after(After::LoggedIn),
                "/web/session/destroy" => Step::after(After::LoggedOut),
                "/shop/cart/update_json" => cart_update(params, sid),
                "/jsonrpc" => {
                    let args = params.get("args").and_then(Value::as_array);
                    let object = params.get("service").and_then(Value::as_str) == Some("object")
                        && params.get("method").and_then(Value::as_str) == Some("execute_kw");
                    match args {
                        Some(args)
                            if object
                                && args.first().and_then(Value::as_str)
                                    == Some(config.database.as_str())
                                && args.get(2).and_then(Value::as_str)
                                    == Some(config.password.as_str()) =>
                        {
                            self.model_call(&ModelCall::from_execute_kw(args))
                        }
                        _ => Step::none(),
                    }
                }
                p if p.starts_with("/web/dataset/call_")
                    && sid.is_some_and(|s| self.logged_in.contains(s)) =>
                {
                    self.model_call(&ModelCall::from_call_kw(params))
                }
                _ => Step::none(),
            },
            Incoming::Page { path, .. } => Step::sql(shop_page(path, sid).map(SqlCall::ShopPage)),
            _ => Step::none(),
        }
    }

    fn model_call(&self, call: &ModelCall) -> Step {
        let (args, kwargs) = (&call.args, &call.kwargs);
        let sql = match (call.model.as_str(), call.method.as_str()) {
            ("pos.order", method @ ("create_from_ui" | "sync_from_ui")) => {
                pos::parse_orders(args, method == "sync_from_ui")
                    .filter(|orders| {
                        orders
                            .iter()
                            .flat_map(|o| &o.lines)
                            .all(|l| (1..=self.products).contains(&l.product))
                    })
                    .map(|orders| SqlCall::PosSync { orders })
            }
            ("sale.order", "create") => {
                return Step {
                    sql: sale_create(args.get(0)),
                    after: After::SaleCreated,
                };
            }
            ("sale.order", "action_confirm") => {
                let orders: Vec<(i64, i64)> = ids(args)
                    .into_iter()
                    .filter_map(|m| Some((m, *self.sales.get(&m)?)))
                    .collect();
                return Step {
                    sql: (!orders.is_empty()).then_some(SqlCall::SaleConfirm { orders }),
                    after: After::SaleConfirmed,
                };
            }
            ("sale.order", "action_view_delivery") => {
                return match ids(args).first() {
                    Some(order) => Step::after(After::DeliveryOpened(*order)),
                    None => Step::none(),
                };
            }
            ("stock.picking", "button_validate") => {
                let pickings: Vec<i64> = ids(args)
                    .into_iter()
                    .filter_map(|m| self.pickings.get(&m).copied())
                    .collect();
                (!pickings.is_empty()).then_some(SqlCall::PickingValidate { pickings })
            }
            ("account.move.line", "read_group") => {
                report(kwargs.get("domain").or_else(|| args.get(0)))
            }
            ("account.move.line", "reconcile") => {
                let lines = ids(args);
                (!lines.is_empty()).then_some(SqlCall::Reconcile { lines })
            }
            (model @ ("res.partner" | "product.product"), "name_search") => kwargs
                .get("name")
                .or_else(|| args.get(0))
                .and_then(Value::as_str)
                .map(|name| SqlCall::NameSearch {
                    table: if model == "res.partner" {
                        "res_partner"
                    } else {
                        "product_product"
                    },
                    name: name.to_string(),
                    limit: kwargs
                        .get("limit")
                        .and_then(Value::as_i64)
                        .unwrap_or(100)
                        .clamp(1, 1000),
                }),
            ("pos.session", "load_pos_data" | "load_data") => Some(SqlCall::PosLoad),
            ("procurement.group", "run_scheduler") => Some(SqlCall::Replenish),
            _ => None,
        };
        Step::sql(sql)
    }

    /// Takes from memory's answer (`result`, its JSON-RPC result) what `after` asks for;
    /// `created` is what the SQL created, `new_session` the session memory set, if any.
    pub fn learn(
        &mut self,
        after: &After,
        result: Option<&Value>,
        created: &Created,
        sid: Option<&str>,
        new_session: Option<&str>,
    ) {
        match after {
            After::LoggedIn => {
                if let (Some(s), Some(_)) = (
                    new_session,
                    result.and_then(|r| r.get("uid")).and_then(Value::as_i64),
                ) {
                    self.logged_in.insert(s.to_string());
                }
            }
            After::LoggedOut => {
                if let Some(s) = sid {
                    self.logged_in.remove(s);
                }
            }
            After::SaleCreated => {
                if let (Some(memory_id), Some((_, row))) =
                    (result.and_then(Value::as_i64), created.first())
                {
                    self.sales.insert(memory_id, *row);
                }
            }
            After::SaleConfirmed => self.sale_pickings.extend(created.iter().copied()),
            After::DeliveryOpened(order) => {
                if let (Some(picking), Some(row)) = (
                    result.and_then(|r| r.get("res_id")).and_then(Value::as_i64),
                    self.sale_pickings.get(order),
                ) {
                    self.pickings.insert(picking, *row);
                }
            }
            After::Nothing | After::CartSaved | After::NewVisitorCart { .. } => {}
        }
    }
}

/// The ids a button or method is called on: `args[0]`, a list of ids or one id.
fn ids(args: &Value) -> Vec<i64> {
    match args.get(0) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
        Some(n) => n.as_i64().into_iter().collect(),
        None => Vec::new(),
    }
}

/// `sale.order.create(vals)`: a customer and `[0, 0, {product_id, product_uom_qty}]` lines.
fn sale_create(vals: Option<&Value>) -> Option<SqlCall> {
    let vals = vals?;
    let partner = i32::try_from(vals.get("partner_id")?.as_i64()?).ok()?;
    let lines = match vals.get("order_line") {
        None => Vec::new(),
        Some(lines) => lines
            .as_array()?
            .iter()
            .map(|l| {
                let v = l.as_array().filter(|c| c.len() == 3)?.get(2)?;
                let product = i32::try_from(v.get("product_id")?.as_i64()?).ok()?;
                let qty = v.get("product_uom_qty").map_or(Some(1.0), Value::as_f64)?;
                Some((product, qty))
            })
            .collect::<Option<Vec<_>>>()?,
    };
    Some(SqlCall::SaleCreate { partner, lines })
}

/// The month-end report's aggregate: the domain's `date` bounds (a date each, the open side
/// unbounded) and whether it keeps posted lines only. A date that is not one runs no SQL.
fn report(domain: Option<&Value>) -> Option<SqlCall> {
    let (mut from, mut to, mut posted_only) = (None, None, false);
    for leaf in domain.and_then(Value::as_array).into_iter().flatten() {
        let (Some(field), Some(op), Some(value)) = (
            leaf.get(0).and_then(Value::as_str),
            leaf.get(1).and_then(Value::as_str),
            leaf.get(2),
        ) else {
            // `&`, `|`, `!` operators: Odoo's prefix notation; the leaves carry the bounds.
            continue;
        };
        match (field, op) {
            ("date", ">=" | ">") => from = Some(date(value)?),
            ("date", "<=" | "<") => to = Some(date(value)?),
            ("parent_state", "=") => posted_only = value.as_str() == Some("posted"),
            _ => {}
        }
    }
    Some(SqlCall::Report {
        from: from.unwrap_or_else(|| "0001-01-01".into()),
        to: to.unwrap_or_else(|| "9999-12-31".into()),
        posted_only,
    })
}

/// An Odoo date (`YYYY-MM-DD`, or the date of a `YYYY-MM-DD HH:MM:SS` datetime).
fn date(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let d: jiff::civil::Date = s.get(..10)?.parse().ok()?;
    Some(d.to_string())
}

/// `/shop/cart/update_json`: `product_id` and `add_qty` (default 1) or `set_qty`.
fn cart_update(params: &Value, sid: Option<&str>) -> Step {
    let Some(product) = params
        .get("product_id")
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
    else {
        return Step::none();
    };
    let number = |k: &str| params.get(k).filter(|v| !v.is_null());
    let (qty, set) = match (number("set_qty"), number("add_qty")) {
        (Some(q), _) => (q.as_f64(), true),
        (None, Some(q)) => (q.as_f64(), false),
        (None, None) => (Some(1.0), false),
    };
    let Some(qty) = qty else {
        return Step::none();
    };
    match sid {
        Some(s) => Step {
            sql: Some(SqlCall::CartUpdate {
                sid: s.to_string(),
                product,
                qty,
                set,
            }),
            after: After::CartSaved,
        },
        None => Step::after(After::NewVisitorCart { product, qty, set }),
    }
}

/// What a shop page reads: the grid (`/shop`, its pages and categories), a product page
/// (`/shop/<slug>-<id>`, or `/shop/product/<slug>-<id>` of older versions) or the visitor's
/// cart (cart, checkout, address, payment).
fn shop_page(path: &str, sid: Option<&str>) -> Option<ShopPage> {
    let rest = path.strip_prefix("/shop")?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let product = |slug: &str| {
        slug.rsplit('-')
            .next()
            .and_then(|id| id.parse::<i32>().ok())
            .map(ShopPage::Product)
    };
    match segments.as_slice() {
        [] | ["page" | "category", ..] => Some(ShopPage::Listing),
        [
            "cart" | "checkout" | "address" | "payment" | "confirm_order",
            ..,
        ] => sid.map(|s| ShopPage::Cart(s.to_string())),
        ["product", slug] | [slug] => product(slug),
        _ => None,
    }
}

/// The JSON-RPC `result` of a reply body, if it has one.
pub fn rpc_result(body: &[u8]) -> Option<Value> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    v.get_mut("result").map(Value::take)
}

/// The payload a session carries in Redis (session_redis keeps it as JSON).
pub fn session_payload(uid: Option<i64>, login: &str, cart: Option<i64>, padding: usize) -> Value {
    json!({
        "uid": uid,
        "login": uid.map(|_| login),
        "context": {"lang": "en_US", "tz": "Europe/Brussels"},
        "sale_order_id": cart,
        "debug": "",
        "cache": "x".repeat(padding),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> StandinConfig {
        StandinConfig::load(None, None, None).expect("the default config")
    }

    fn call_kw(model: &str, method: &str, args: Value, kwargs: Value) -> Incoming {
        Incoming::Rpc {
            path: format!("/web/dataset/call_kw/{model}/{method}"),
            id: json!(1),
            params: json!({"model": model, "method": method, "args": args, "kwargs": kwargs}),
        }
    }

    fn logged_in(sid: &str) -> Links {
        let mut l = Links::new(2000);
        l.learn(
            &After::LoggedIn,
            Some(&json!({"uid": 2})),
            &vec![],
            None,
            Some(sid),
        );
        l
    }

    #[test]
    fn only_logged_in_sessions_run_model_sql() {
        let c = config();
        let req = call_kw("procurement.group", "run_scheduler", json!([]), json!({}));
        let links = logged_in("s1");
        assert_eq!(
            links.plan(&c, &req, Some("s1")).sql,
            Some(SqlCall::Replenish)
        );
        assert_eq!(links.plan(&c, &req, Some("s2")).sql, None);
        assert_eq!(links.plan(&c, &req, None).sql, None);
        // A failed login (no uid in memory's answer) logs nothing in.
        let mut l = Links::new(2000);
        l.learn(
            &After::LoggedIn,
            Some(&json!(null)),
            &vec![],
            None,
            Some("s3"),
        );
        assert_eq!(l.plan(&c, &req, Some("s3")).sql, None);
        let mut links = links;
        links.learn(&After::LoggedOut, None, &vec![], Some("s1"), None);
        assert_eq!(links.plan(&c, &req, Some("s1")).sql, None);
    }

    #[test]
    fn execute_kw_runs_sql_with_the_right_credentials_only() {
        let c = config();
        let rpc = |password: &str| Incoming::Rpc {
            path: "/jsonrpc".into(),
            id: json!(1),
            params: json!({"service": "object", "method": "execute_kw",
                "args": [c.database, 2, password, "procurement.group", "run_scheduler", [], {}]}),
        };
        let l = Links::new(2000);
        assert_eq!(
            l.plan(&c, &rpc(&c.password), None).sql,
            Some(SqlCall::Replenish)
        );
        assert_eq!(l.plan(&c, &rpc("wrong"), None).sql, None);
    }

    #[test]
    fn sale_orders_and_deliveries_follow_memorys_ids() {
        let c = config();
        let mut l = logged_in("s");
        let create = call_kw(
            "sale.order",
            "create",
            json!([{"order_line": [[0, 0, {"product_id": 34, "product_uom_qty": 4}]], "partner_id": 17}]),
            json!({}),
        );
        let step = l.plan(&c, &create, Some("s"));
        assert_eq!(
            step.sql,
            Some(SqlCall::SaleCreate {
                partner: 17,
                lines: vec![(34, 4.0)]
            })
        );
        l.learn(
            &step.after,
            Some(&json!(45)),
            &vec![(0, 7)],
            Some("s"),
            None,
        );
        let confirm = Incoming::Rpc {
            path: "/web/dataset/call_button".into(),
            id: json!(3),
            params: json!({"args": [[45]], "kwargs": {}, "method": "action_confirm", "model": "sale.order"}),
        };
        let step = l.plan(&c, &confirm, Some("s"));
        assert_eq!(
            step.sql,
            Some(SqlCall::SaleConfirm {
                orders: vec![(45, 7)]
            })
        );
        l.learn(
            &step.after,
            Some(&json!(false)),
            &vec![(45, 9)],
            Some("s"),
            None,
        );
        let view = call_kw(
            "sale.order",
            "action_view_delivery",
            json!([[45]]),
            json!({}),
        );
        let step = l.plan(&c, &view, Some("s"));
        l.learn(
            &step.after,
            Some(&json!({"type": "ir.actions.act_window", "res_id": 42})),
            &vec![],
            Some("s"),
            None,
        );
        let validate = call_kw("stock.picking", "button_validate", json!([[42]]), json!({}));
        assert_eq!(
            l.plan(&c, &validate, Some("s")).sql,
            Some(SqlCall::PickingValidate { pickings: vec![9] })
        );
        // An order memory created without SQL here (unknown id) confirms nothing here.
        let other = call_kw("sale.order", "action_confirm", json!([[46]]), json!({}));
        assert_eq!(l.plan(&c, &other, Some("s")).sql, None);
        // A create without a customer is Odoo's error to give: no SQL.
        let bad = call_kw(
            "sale.order",
            "create",
            json!([{"order_line": []}]),
            json!({}),
        );
        assert_eq!(l.plan(&c, &bad, Some("s")).sql, None);
    }

    #[test]
    fn pos_orders_of_unknown_products_run_no_sql() {
        let c = config();
        let l = logged_in("s");
        let order = |product: i64| {
            call_kw(
                "pos.order",
                "sync_from_ui",
                json!([[{"name": "Order 1", "uuid": "u1", "session_id": 1, "amount_total": 5.0,
                    "lines": [[0, 0, {"product_id": product, "qty": 1, "price_unit": 5.0}]],
                    "payment_ids": [[0, 0, {"payment_method_id": 1, "amount": 5.0}]]}]]),
                json!({}),
            )
        };
        assert!(matches!(
            l.plan(&c, &order(2000), Some("s")).sql,
            Some(SqlCall::PosSync { .. })
        ));
        assert_eq!(l.plan(&c, &order(2001), Some("s")).sql, None);
        assert_eq!(l.plan(&c, &order(0), Some("s")).sql, None);
    }

    #[test]
    fn the_report_reads_its_domain() {
        let c = config();
        let l = logged_in("s");
        let req = call_kw(
            "account.move.line",
            "read_group",
            json!([]),
            json!({"domain": [["date", ">=", "2026-11-01"], ["date", "<=", "2026-12-01"], ["parent_state", "=", "posted"]],
                   "fields": ["__count", "debit:sum", "credit:sum", "balance:sum"], "groupby": ["account_id"], "lazy": false}),
        );
        assert_eq!(
            l.plan(&c, &req, Some("s")).sql,
            Some(SqlCall::Report {
                from: "2026-11-01".into(),
                to: "2026-12-01".into(),
                posted_only: true
            })
        );
        let bad = call_kw(
            "account.move.line",
            "read_group",
            json!([[["date", ">=", "last month"]], ["debit"], ["account_id"]]),
            json!({}),
        );
        assert_eq!(l.plan(&c, &bad, Some("s")).sql, None);
    }

    #[test]
    fn shop_pages_and_carts() {
        assert_eq!(shop_page("/shop", None), Some(ShopPage::Listing));
        assert_eq!(
            shop_page("/shop/category/desks-3", None),
            Some(ShopPage::Listing)
        );
        assert_eq!(
            shop_page("/shop/blue-t-shirt-11", None),
            Some(ShopPage::Product(11))
        );
        assert_eq!(
            shop_page("/shop/product/blue-t-shirt-11", None),
            Some(ShopPage::Product(11))
        );
        assert_eq!(
            shop_page("/shop/cart", Some("v")),
            Some(ShopPage::Cart("v".into()))
        );
        assert_eq!(shop_page("/shop/cart", None), None);
        assert_eq!(shop_page("/shop/no-id-here", None), None);
        assert_eq!(shop_page("/web/login", None), None);

        let c = config();
        let l = Links::new(2000);
        let cart = |params: Value| Incoming::Rpc {
            path: "/shop/cart/update_json".into(),
            id: json!(6),
            params,
        };
        let req =
            cart(json!({"add_qty": 2, "display": false, "force_create": true, "product_id": 6}));
        assert_eq!(
            l.plan(&c, &req, Some("v")),
            Step {
                sql: Some(SqlCall::CartUpdate {
                    sid: "v".into(),
                    product: 6,
                    qty: 2.0,
                    set: false
                }),
                after: After::CartSaved
            }
        );
        assert_eq!(
            l.plan(&c, &req, None).after,
            After::NewVisitorCart {
                product: 6,
                qty: 2.0,
                set: false
            }
        );
        assert_eq!(
            l.plan(&c, &cart(json!({"add_qty": 1})), Some("v")),
            Step::none()
        );
    }

    #[test]
    fn replies_give_their_result() {
        assert_eq!(
            rpc_result(br#"{"jsonrpc": "2.0", "id": 2, "result": 45}"#),
            Some(json!(45))
        );
        assert_eq!(
            rpc_result(br#"{"jsonrpc": "2.0", "id": 2, "error": {}}"#),
            None
        );
        assert_eq!(rpc_result(b"<html>"), None);
    }
}
