//! The records a stand-in starts with: products, customers, countries, POS configs and their
//! payment methods, a sales tax, accounts and two months of posted journal lines. The names,
//! codes and prices follow the same formulas as the PostgreSQL stand-in's seed
//! (`pg/schema.rs`), so both backends describe the same shop and share product and partner
//! ids.

use serde_json::{Value, json};

use super::records::{Rec, Store};

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct CatalogSize {
    pub products: i64,
    /// One POS config (a till) per warehouse.
    pub warehouses: i64,
}

impl Default for CatalogSize {
    fn default() -> Self {
        CatalogSize {
            products: 200,
            warehouses: 2,
        }
    }
}

/// Customers seeded (ids 1..=PARTNERS), as in the PostgreSQL seed.
pub const PARTNERS: i64 = 600;
pub const TAX_ID: i64 = 1;
pub const TAX_PERCENT: f64 = 15.0;
pub const CURRENCY_ID: i64 = 1;
/// Payment methods shared by every till: cash, card and customer account.
pub const CASH_METHOD: i64 = 1;
pub const BANK_METHOD: i64 = 2;
pub const PAY_LATER_METHOD: i64 = 3;

/// Accounts the journal lines use: (id, code, name, account_type).
pub const ACCOUNTS: &[(i64, &str, &str, &str)] = &[
    (1, "121000", "Account Receivable", "asset_receivable"),
    (2, "101300", "Account Receivable (PoS)", "asset_receivable"),
    (3, "101401", "Bank", "asset_cash"),
    (4, "400000", "Product Sales", "income"),
    (5, "251000", "Tax Received", "liability_current"),
];
pub const RECEIVABLE: i64 = 1;
pub const POS_RECEIVABLE: i64 = 2;
pub const BANK: i64 = 3;
pub const SALES: i64 = 4;
pub const TAX_RECEIVED: i64 = 5;

/// `"code name"`, as Odoo shows an account.
pub fn account_label(id: i64) -> String {
    ACCOUNTS
        .iter()
        .find(|a| a.0 == id)
        .map(|a| format!("{} {}", a.1, a.2))
        .unwrap_or_default()
}

/// The fields of each model the stand-in keeps, per Odoo version. A field not listed is an
/// "Invalid field" error, as on a real server.
pub fn declare(store: &mut Store, major: u32) {
    let mut product = vec![
        "name",
        "default_code",
        "lst_price",
        "list_price",
        "product_tmpl_id",
        "taxes_id",
        "sale_ok",
        "active",
        "type",
        "available_in_pos",
        "tracking",
        "attribute_line_ids",
        "to_weight",
        "is_published",
        "website_url",
        "free_qty",
        "qty_available",
        "allow_out_of_stock_order",
    ];
    if major >= 18 {
        product.push("is_storable");
    }
    store.declare("product.product", &product, 1);
    // Computed from the template's price, context dependent (`product_product.py`), with no
    // search method.
    store.unsearchable("product.product", &["lst_price"]);
    store.declare(
        "res.partner",
        &[
            "name",
            "email",
            "active",
            "partner_share",
            "ref_company_ids",
            "customer_rank",
            "commercial_partner_id",
        ],
        1,
    );
    store.declare("res.country", &["code", "name", "state_required"], 1);
    store.declare(
        "pos.config",
        &[
            "name",
            "active",
            "current_session_id",
            "current_session_state",
            "pricelist_id",
            "default_fiscal_position_id",
            "payment_method_ids",
            "currency_id",
            "cash_control",
        ],
        1,
    );
    store.declare(
        "pos.payment.method",
        &["name", "type", "use_payment_terminal"],
        1,
    );
    store.declare("res.currency", &["name", "rounding"], 1);
    store.declare(
        "account.tax",
        &["name", "amount", "amount_type", "price_include"],
        1,
    );
    store.declare(
        "pos.session",
        &[
            "name",
            "config_id",
            "state",
            "cash_register_balance_start",
            "opening_notes",
            "closing_notes",
            "user_id",
        ],
        1,
    );
    store.declare(
        "pos.order",
        &[
            "name",
            "pos_reference",
            "uuid",
            "session_id",
            "amount_total",
            "amount_paid",
            "amount_tax",
            "state",
            "account_move",
        ],
        1,
    );
    store.declare(
        "sale.order",
        &[
            "name",
            "partner_id",
            "state",
            "amount_total",
            "order_line",
            "picking_ids",
        ],
        1,
    );
    store.declare(
        "stock.picking",
        &[
            "name",
            "state",
            "origin",
            "sale_id",
            "partner_id",
            "move_ids",
        ],
        1,
    );
    store.declare(
        "account.move",
        &[
            "name",
            "move_type",
            "partner_id",
            "commercial_partner_id",
            "state",
            "payment_state",
            "amount_total",
            "amount_untaxed",
            "invoice_line_ids",
            "line_ids",
        ],
        1,
    );
    let mut line = vec![
        "move_id",
        "account_id",
        "account_type",
        "partner_id",
        "debit",
        "credit",
        "balance",
        "date",
        "parent_state",
        "reconciled",
    ];
    if major >= 18 {
        line.push("account_code");
    }
    store.declare("account.move.line", &line, 1);
    store.declare(
        "account.payment",
        &[
            "name",
            "partner_id",
            "amount",
            "payment_type",
            "partner_type",
            "state",
            "move_id",
        ],
        1,
    );
    store.declare("account.payment.register", &["line_ids"], 1);
    store.declare("stock.backorder.confirmation", &["pick_ids"], 1);
    store.declare("confirm.stock.sms", &["pick_ids"], 1);
}

fn rec(v: Value) -> Rec {
    v.as_object().cloned().unwrap_or_default()
}

const ADJECTIVES: [&str; 8] = [
    "Blue", "Red", "Classic", "Eco", "Premium", "Mini", "Large", "Vintage",
];
const NOUNS: [&str; 10] = [
    "Mug",
    "T-shirt",
    "Sneakers",
    "Backpack",
    "Bottle",
    "Headphones",
    "Notebook",
    "Lamp",
    "Jacket",
    "Scarf",
];
const FIRST: [&str; 20] = [
    "Anna", "Bram", "Chloé", "Daan", "Emma", "Finn", "Gaia", "Hugo", "Iris", "Jonas", "Lena",
    "Milan", "Nora", "Oscar", "Pia", "Rune", "Sara", "Tom", "Uma", "Vera",
];
const LAST: [&str; 10] = [
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters",
    "De Smet",
];

/// Product `i`'s name, code and price (the PostgreSQL seed's formulas).
pub fn product(i: i64) -> (String, String, f64) {
    let name = format!(
        "{} {}",
        ADJECTIVES[(i % 8) as usize],
        NOUNS[(i % 10) as usize]
    );
    let price = ((4.99 + ((i * 37) % 120) as f64) * 100.0).round() / 100.0;
    (name, format!("SKU{i:05}"), price)
}

/// A product's page name in URLs, as Odoo's `slug` makes it.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The UTC date `days_ago` days before now, `YYYY-MM-DD`.
pub fn day(days_ago: u64) -> String {
    let now = std::time::SystemTime::now();
    let at = now
        .checked_sub(std::time::Duration::from_secs(days_ago * 86_400))
        .unwrap_or(now);
    humantime::format_rfc3339_seconds(at).to_string()[..10].to_string()
}

/// Seeds the store; journal lines go back 60 days from today.
pub fn seed(store: &mut Store, major: u32, size: CatalogSize) {
    let hot = (size.products / 100).max(5);
    for i in 1..=size.products {
        let (name, code, price) = product(i);
        let stock = if i <= hot { 1_000_000.0 } else { 500.0 };
        let mut p = json!({
            "name": name, "default_code": code, "lst_price": price, "list_price": price,
            "product_tmpl_id": [i, name.clone()], "taxes_id": [TAX_ID], "sale_ok": true,
            "active": true, "type": if major >= 18 { "consu" } else { "product" },
            "available_in_pos": true, "tracking": "none", "attribute_line_ids": [],
            "to_weight": false, "is_published": true,
            "website_url": format!("/shop/{}-{i}", slug(&name)),
            "free_qty": stock, "qty_available": stock, "allow_out_of_stock_order": false,
            "display_name": format!("[{code}] {name}"),
        });
        if major >= 18 {
            p["is_storable"] = json!(true);
        }
        store.insert("product.product", i, rec(p));
    }
    for i in 0..PARTNERS {
        let name = format!(
            "{} {}",
            FIRST[(i % 20) as usize],
            LAST[((i / 20) % 10) as usize]
        );
        let id = i + 1;
        store.insert(
            "res.partner",
            id,
            rec(json!({
                "name": name, "display_name": name, "email": format!("customer{i}@example.com"),
                "active": true, "partner_share": true, "ref_company_ids": [], "customer_rank": 1,
                "commercial_partner_id": [id, name],
            })),
        );
    }
    for (i, (code, name)) in [
        ("BE", "Belgium"),
        ("DE", "Germany"),
        ("FR", "France"),
        ("LU", "Luxembourg"),
        ("NL", "Netherlands"),
        ("GB", "United Kingdom"),
    ]
    .iter()
    .enumerate()
    {
        store.insert(
            "res.country",
            i as i64 + 1,
            rec(json!({"code": code, "name": name, "display_name": name, "state_required": false})),
        );
    }
    store.insert(
        "res.currency",
        CURRENCY_ID,
        rec(json!({"name": "USD", "display_name": "USD", "rounding": 0.01})),
    );
    store.insert(
        "account.tax",
        TAX_ID,
        rec(
            json!({"name": "15%", "display_name": "15%", "amount": TAX_PERCENT,
            "amount_type": "percent", "price_include": false}),
        ),
    );
    for (id, name, kind) in [
        (CASH_METHOD, "Cash", "cash"),
        (
            BANK_METHOD,
            if major >= 18 { "Card" } else { "Bank" },
            "bank",
        ),
        (PAY_LATER_METHOD, "Customer Account", "pay_later"),
    ] {
        store.insert(
            "pos.payment.method",
            id,
            rec(json!({"name": name, "display_name": name, "type": kind, "use_payment_terminal": false})),
        );
    }
    for w in 1..=size.warehouses {
        let name = format!("Store {w} till");
        store.insert(
            "pos.config",
            w,
            rec(json!({
                "name": name, "display_name": name, "active": true, "current_session_id": false,
                "current_session_state": false, "pricelist_id": false,
                "default_fiscal_position_id": false,
                "payment_method_ids": [CASH_METHOD, BANK_METHOD, PAY_LATER_METHOD],
                "currency_id": [CURRENCY_ID, "USD"], "cash_control": true,
            })),
        );
    }
    // Two months of posted sales and their payments, for the month-end report.
    for i in 0..600_i64 {
        let date = day((i % 60) as u64);
        let amount = ((i * 37) % 400) as f64 + 10.0;
        for (account, debit, credit) in [
            (RECEIVABLE, amount * 1.15, 0.0),
            (SALES, 0.0, amount),
            (TAX_RECEIVED, 0.0, amount * 0.15),
            (BANK, amount * 1.15, 0.0),
            (RECEIVABLE, 0.0, amount * 1.15),
        ] {
            let line = journal_line(None, account, 1 + i % PARTNERS, debit, credit, &date, major);
            let _ = store.create("account.move.line", line);
        }
    }
}

/// A posted journal line.
pub fn journal_line(
    mov: Option<(i64, &str)>,
    account: i64,
    partner: i64,
    debit: f64,
    credit: f64,
    date: &str,
    major: u32,
) -> Rec {
    let (_, code, _, kind) = ACCOUNTS
        .iter()
        .find(|a| a.0 == account)
        .copied()
        .unwrap_or(ACCOUNTS[0]);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let mut l = json!({
        "move_id": mov.map_or(json!(false), |(id, name)| json!([id, name])),
        "account_id": [account, account_label(account)], "account_type": kind,
        "partner_id": partner, "debit": round(debit), "credit": round(credit),
        "balance": round(debit - credit), "date": date, "parent_state": "posted",
        "reconciled": false,
    });
    if major >= 18 {
        l["account_code"] = json!(code);
    }
    rec(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_odoos() {
        assert_eq!(slug("Blue T-shirt"), "blue-t-shirt");
        assert_eq!(slug("[E-COM08] Storage Box"), "e-com08-storage-box");
    }
}
