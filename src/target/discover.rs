//! Discovery: reads from the target, through JSON-RPC as the load-test user, the records the
//! scenarios draw from. Bounded (at most [`ROWS`] rows a data set, one call each, plus one for
//! the taxes), ordered by id so the same database gives the same rows, and version-aware
//! (field names differ between 16, 17 and 18).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{Value, json};

use crate::config::data::DataTable;
use crate::odoo::{OdooClient, RpcOutcome, UserSession};
use crate::target::data::{DataSets, schema};

/// Rows kept per data set: enough to spread load over many records, few enough to stay a
/// light query on a large catalog.
pub const ROWS: usize = 200;

/// What discovery read, and what it cost.
pub struct Discovered {
    pub data: DataSets,
    pub calls: u32,
    pub duration_ms: u64,
}

/// A call discovery could not make.
#[derive(Debug, thiserror::Error)]
#[error("reading {what} from the target: {message}")]
pub struct DiscoveryError {
    pub what: String,
    pub message: String,
}

struct Reader<'a> {
    client: &'a OdooClient,
    session: &'a UserSession,
    calls: u32,
}

impl Reader<'_> {
    async fn call(
        &mut self,
        what: &str,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<Value, DiscoveryError> {
        self.calls += 1;
        let r = self
            .client
            .call_kw(model, method, args, kwargs, Some(&self.session.cookie))
            .await;
        match r.outcome {
            RpcOutcome::Result(v) => Ok(v),
            RpcOutcome::SessionExpired => Err(DiscoveryError {
                what: what.to_string(),
                message: "the session expired".into(),
            }),
            RpcOutcome::Failed(f) => Err(DiscoveryError {
                what: what.to_string(),
                message: f.to_string(),
            }),
        }
    }

    async fn search_read(
        &mut self,
        what: &str,
        model: &str,
        domain: Value,
        fields: &[&str],
        order: &str,
    ) -> Result<Vec<Value>, DiscoveryError> {
        let v = self
            .call(
                what,
                model,
                "search_read",
                json!([domain]),
                json!({"fields": fields, "limit": ROWS, "order": order}),
            )
            .await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }
}

/// The id of a many2one value (`[id, "name"]`), or `false`.
fn m2o(v: &Value) -> Value {
    match v {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Bool(false)),
        Value::Number(_) => v.clone(),
        _ => Value::Bool(false),
    }
}

/// A product page path from `website_url` (without its `#attr=` fragment).
fn page_path(url: &Value) -> Value {
    let u = url.as_str().unwrap_or("");
    Value::String(u.split('#').next().unwrap_or(u).to_string())
}

fn table(name: &str, rows: Vec<Vec<Value>>) -> DataTable {
    let columns = schema(name)
        .map(|s| s.columns.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default();
    DataTable {
        columns,
        rows,
        ..DataTable::default()
    }
}

/// Reads the data sets in `wanted` (names of [`crate::target::data::SCHEMAS`]) from the target.
/// `pos_sessions` lists one row per POS config a session can be opened on, with the session
/// it has open now (or `false`): the `pos` preparation opens the rest.
pub async fn discover(
    client: &OdooClient,
    session: &UserSession,
    major: u32,
    wanted: &BTreeSet<String>,
) -> Result<Discovered, DiscoveryError> {
    let started = Instant::now();
    let mut r = Reader {
        client,
        session,
        calls: 0,
    };
    let mut out = BTreeMap::new();
    let storable = if major >= 18 {
        json!(["is_storable", "=", true])
    } else {
        json!(["type", "=", "product"])
    };
    let not_combo = json!(["type", "!=", "combo"]);
    for name in wanted {
        let rows = match name.as_str() {
            "customers" => r
                .search_read(
                    "customers (res.partner)",
                    "res.partner",
                    json!([
                        ["active", "=", true],
                        ["partner_share", "=", true],
                        ["ref_company_ids", "=", false],
                        ["name", "!=", false]
                    ]),
                    &["name", "email"],
                    "customer_rank desc, id",
                )
                .await?
                .iter()
                .map(|p| vec![p["id"].clone(), p["name"].clone(), p["email"].clone()])
                .collect(),
            "products" => r
                .search_read(
                    "sellable products (product.product)",
                    "product.product",
                    // A price: `list_price`, the template's stored price. The variant's
                    // `lst_price` (read) is computed without a search method, so Odoo ignores
                    // a condition on it, logging "Non-stored field product.product.lst_price
                    // cannot be searched." (`odoo/osv/expression.py`).
                    json!([
                        ["sale_ok", "=", true],
                        ["active", "=", true],
                        not_combo,
                        ["list_price", ">", 0]
                    ]),
                    &["product_tmpl_id", "name", "default_code", "lst_price"],
                    "id",
                )
                .await?
                .iter()
                .map(|p| {
                    vec![
                        p["id"].clone(),
                        m2o(&p["product_tmpl_id"]),
                        p["name"].clone(),
                        p["default_code"].clone(),
                        p["lst_price"].clone(),
                    ]
                })
                .collect(),
            "stock_products" => r
                .search_read(
                    "storable products in stock (product.product)",
                    "product.product",
                    // Stock not reserved yet (`free_qty`), no lot or serial to give, and enough
                    // of it that a short run does not empty it.
                    json!([
                        ["sale_ok", "=", true],
                        ["active", "=", true],
                        storable,
                        ["tracking", "=", "none"],
                        ["free_qty", ">=", 10]
                    ]),
                    &["display_name", "free_qty"],
                    "id",
                )
                .await?
                .iter()
                .map(|p| {
                    vec![
                        p["id"].clone(),
                        p["display_name"].clone(),
                        p["free_qty"].clone(),
                    ]
                })
                .collect(),
            "shop_products" => {
                // What a visitor can buy: published and sellable, and not a storable product
                // that is sold out and may not be ordered out of stock (it never reaches the
                // cart).
                let in_stock = json!([
                    "|",
                    "|",
                    ["allow_out_of_stock_order", "=", true],
                    ["qty_available", ">", 0],
                    storable_not(major)
                ]);
                let mut domain = vec![
                    json!(["sale_ok", "=", true]),
                    json!(["active", "=", true]),
                    json!(["is_published", "=", true]),
                    not_combo.clone(),
                ];
                domain.extend(in_stock.as_array().cloned().unwrap_or_default());
                r.search_read(
                    "published products (product.product)",
                    "product.product",
                    Value::Array(domain),
                    &[
                        "product_tmpl_id",
                        "display_name",
                        "website_url",
                        "lst_price",
                    ],
                    "id",
                )
                .await?
                .iter()
                .map(|p| {
                    vec![
                        p["id"].clone(),
                        m2o(&p["product_tmpl_id"]),
                        p["display_name"].clone(),
                        page_path(&p["website_url"]),
                        p["lst_price"].clone(),
                    ]
                })
                .collect()
            }
            "pos_products" => r
                .search_read(
                    "products available in the POS (product.product)",
                    "product.product",
                    // A plain line: no combo, no lot or serial, no attributes to choose, not
                    // weighed, and a price (tips and discounts have none). The price filtered
                    // on is the template's stored `list_price`: Odoo cannot search the computed
                    // `lst_price`, and ignores a condition on it (see `products`).
                    json!([
                        ["available_in_pos", "=", true],
                        ["sale_ok", "=", true],
                        ["active", "=", true],
                        not_combo,
                        ["list_price", ">", 0],
                        ["tracking", "=", "none"],
                        ["attribute_line_ids", "=", false],
                        ["to_weight", "=", false]
                    ]),
                    &["display_name", "lst_price", "taxes_id"],
                    "id",
                )
                .await?
                .iter()
                .map(|p| {
                    vec![
                        p["id"].clone(),
                        p["display_name"].clone(),
                        p["lst_price"].clone(),
                        p["taxes_id"].clone(),
                    ]
                })
                .collect(),
            "countries" => r
                .search_read(
                    "countries (res.country)",
                    "res.country",
                    json!([["state_required", "=", false]]),
                    &["code", "name"],
                    "id",
                )
                .await?
                .iter()
                .map(|c| vec![c["id"].clone(), c["code"].clone(), c["name"].clone()])
                .collect(),
            // Read with pos_products below: the taxes of the products read.
            "taxes" => continue,
            "pos_sessions" => pos_configs(&mut r).await?,
            other => {
                return Err(DiscoveryError {
                    what: other.to_string(),
                    message: "not a data set peakgate reads".into(),
                });
            }
        };
        out.insert(name.clone(), table(name, rows));
    }
    if wanted.contains("taxes") {
        let ids: BTreeSet<i64> = out
            .get("pos_products")
            .map(|t| {
                t.rows
                    .iter()
                    .flat_map(|r| r[3].as_array().cloned().unwrap_or_default())
                    .filter_map(|v| v.as_i64())
                    .collect()
            })
            .unwrap_or_default();
        let taxes = r
            .call(
                "sales taxes (account.tax)",
                "account.tax",
                "read",
                json!([ids.iter().collect::<Vec<_>>()]),
                json!({"fields": ["amount", "amount_type", "price_include"]}),
            )
            .await?;
        let rows: Vec<Vec<Value>> = taxes
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                vec![
                    t["id"].clone(),
                    t["amount"].clone(),
                    t["amount_type"].clone(),
                    t["price_include"].clone(),
                ]
            })
            .collect();
        // A product with a tax the POS generator cannot compute would make an unbalanced
        // order: such products are left out.
        let computable: BTreeSet<i64> = rows
            .iter()
            .filter(|t| crate::plan::generator::computable_tax(t[2].as_str().unwrap_or("")))
            .filter_map(|t| t[0].as_i64())
            .collect();
        if let Some(p) = out.get_mut("pos_products") {
            p.rows.retain(|row| {
                row[3].as_array().is_none_or(|ts| {
                    ts.iter()
                        .all(|t| t.as_i64().is_some_and(|t| computable.contains(&t)))
                })
            });
        }
        out.insert("taxes".into(), table("taxes", rows));
    }
    Ok(Discovered {
        data: DataSets::online(out),
        calls: r.calls,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// The domain term "not a storable product" of the version.
fn storable_not(major: u32) -> Value {
    if major >= 18 {
        json!(["is_storable", "=", false])
    } else {
        json!(["type", "!=", "product"])
    }
}

/// One row per POS config: its open session (or `false`), its user, pricelist, fiscal
/// position, payment methods and currency rounding.
async fn pos_configs(r: &mut Reader<'_>) -> Result<Vec<Vec<Value>>, DiscoveryError> {
    let configs = r
        .search_read(
            "POS configs (pos.config)",
            "pos.config",
            json!([["active", "=", true]]),
            &[
                "name",
                "current_session_id",
                "current_session_state",
                "pricelist_id",
                "default_fiscal_position_id",
                "payment_method_ids",
                "currency_id",
                "cash_control",
            ],
            "id",
        )
        .await?;
    // Orders are paid by cash or bank methods; a payment terminal or "customer account"
    // (pay later, which needs a customer) is not what a till's quick sale uses.
    let method_ids: BTreeSet<i64> = configs
        .iter()
        .flat_map(|c| {
            c["payment_method_ids"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_i64())
        .collect();
    let usable: BTreeSet<i64> = r
        .call(
            "POS payment methods (pos.payment.method)",
            "pos.payment.method",
            "read",
            json!([method_ids.iter().collect::<Vec<_>>()]),
            json!({"fields": ["type", "use_payment_terminal"]}),
        )
        .await?
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            matches!(m["type"].as_str(), Some("cash" | "bank"))
                && m["use_payment_terminal"].as_str().is_none_or(str::is_empty)
        })
        .filter_map(|m| m["id"].as_i64())
        .collect();
    let currencies: BTreeSet<i64> = configs
        .iter()
        .filter_map(|c| m2o(&c["currency_id"]).as_i64())
        .collect();
    let rounding: BTreeMap<i64, Value> = if currencies.is_empty() {
        BTreeMap::new()
    } else {
        r.call(
            "currencies (res.currency)",
            "res.currency",
            "read",
            json!([currencies.iter().collect::<Vec<_>>()]),
            json!({"fields": ["rounding"]}),
        )
        .await?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["id"].as_i64()?, c["rounding"].clone())))
        .collect()
    };
    let uid = r.session.uid.clone();
    Ok(configs
        .iter()
        .map(|c| {
            let session = match c["current_session_state"].as_str() {
                Some("opened") => m2o(&c["current_session_id"]),
                _ => Value::Bool(false),
            };
            let currency = m2o(&c["currency_id"]).as_i64().unwrap_or(0);
            vec![
                session,
                c["id"].clone(),
                c["name"].clone(),
                uid.clone(),
                m2o(&c["pricelist_id"]),
                m2o(&c["default_fiscal_position_id"]),
                Value::Array(
                    c["payment_method_ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|m| m.as_i64().is_some_and(|m| usable.contains(&m)))
                        .cloned()
                        .collect(),
                ),
                rounding.get(&currency).cloned().unwrap_or(json!(0.01)),
                c["cash_control"].clone(),
            ]
        })
        .filter(|row| row[6].as_array().is_some_and(|m| !m.is_empty()))
        .collect())
}
