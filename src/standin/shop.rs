//! The website side of the stand-in, as `website_sale` serves it on 17 and 18: the shop and
//! product pages (a product page under the wrong slug redirects to its canonical one), the
//! cart, and the checkout's redirect chain (no cart → `/shop`, no address → `/shop/address`,
//! then `/shop/confirm_order` → `/shop/payment`), the address form with its CSRF token (17
//! posts it to `/shop/address`; 18 to `/shop/address/submit`, which answers JSON), and the POS
//! till's page.

use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::catalog::{self, TAX_PERCENT};
use super::memory::Odoo;
use super::odoo::{Reply, error_envelope, result};
use super::records::{Fault, Rec};

/// Odoo's HTML 404.
pub fn not_found() -> Reply {
    Reply::html(
        404,
        "<!DOCTYPE html><html><head><title>404 | Page not found</title></head><body><h1>404: Page not found</h1></body></html>".into(),
    )
}

fn redirect(to: &str, status: u16, set_session: Option<String>) -> Reply {
    let mut r = Reply::html(
        status,
        format!(
            "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: <a href=\"{to}\">{to}</a>.</p>"
        ),
    );
    r.location = Some(to.to_string());
    r.set_session = set_session;
    r
}

fn page_html(title: &str, main_object: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en-US\" data-website-id=\"1\" data-main-object=\"{main_object}\">\n<head><meta charset=\"utf-8\"/><meta name=\"generator\" content=\"Odoo\"/><title>{title} | My Website</title></head>\n<body><div id=\"wrapwrap\"><main>{body}</main></div></body></html>"
    )
}

/// The CSRF token Odoo puts in a session's forms.
fn csrf(sid: &str) -> String {
    let digest = Sha256::digest(format!("csrf {sid}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}o1827628065", &hex[..40])
}

fn with_session(mut r: Reply, sid: &str, new: bool) -> Reply {
    if new {
        r.set_session = Some(sid.to_string());
    }
    r
}

/// The product a `/shop/<slug>-<id>` path names: (template id, canonical path) if it is
/// published.
fn product_of(odoo: &Odoo, path: &str) -> Option<(i64, String, Rec)> {
    let id: i64 = path.rsplit('-').next()?.parse().ok()?;
    let w = odoo.world();
    let p = w.store.get("product.product", id).ok()?;
    (p["is_published"] == json!(true) && p["active"] == json!(true)).then(|| {
        (
            id,
            p["website_url"].as_str().unwrap_or("").to_string(),
            p.clone(),
        )
    })
}

/// The visitor's cart lines: (line id, product id, quantity, unit price).
fn cart_lines(odoo: &Odoo, cart: Option<i64>) -> Vec<(i64, i64, f64, f64)> {
    let w = odoo.world();
    cart.and_then(|c| w.store.get("sale.order", c).ok().cloned())
        .map(|o| {
            o["order_line"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|l| {
                    (
                        l["id"].as_i64().unwrap_or(0),
                        l["product_id"].as_i64().unwrap_or(0),
                        l["qty"].as_f64().unwrap_or(0.0),
                        l["price_unit"].as_f64().unwrap_or(0.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A page GET.
pub fn page(odoo: &Odoo, path: &str, query: &str, sid: Option<&str>) -> Reply {
    if path == "/web/health" {
        return Reply {
            status: 200,
            content_type: "application/json",
            body: Bytes::from_static(b"{\"status\": \"pass\"}"),
            set_session: None,
            location: None,
        };
    }
    if path == "/pos/ui" {
        return pos_ui(odoo, query, sid);
    }
    if path == "/web/login" {
        return Reply::html(
            200,
            page_html("Login", "", "<form class=\"oe_login_form\"></form>"),
        );
    }
    let (sid, new) = odoo.visitor(sid);
    let session = odoo.session(Some(&sid)).unwrap_or_default();
    let cart = cart_lines(odoo, session.cart);
    let reply = match path {
        "/shop" => {
            let w = odoo.world();
            let items: String = w
                .store
                .table("product.product")
                .map(|t| {
                    t.rows
                        .values()
                        .filter(|p| p["is_published"] == json!(true))
                        .take(20)
                        .map(|p| {
                            format!(
                                "<div class=\"oe_product_cart\"><a href=\"{}\">{}</a> <span class=\"oe_currency_value\">{:.2}</span></div>",
                                p["website_url"].as_str().unwrap_or(""),
                                p["name"].as_str().unwrap_or(""),
                                p["lst_price"].as_f64().unwrap_or(0.0)
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Reply::html(200, page_html("Products", "ir.ui.view(2020,)", &items))
        }
        "/shop/cart" => {
            let rows: String = cart
                .iter()
                .map(|(id, product, qty, _)| {
                    format!(
                        "<div class=\"o_cart_product\" data-line-id=\"{id}\" data-product-id=\"{product}\"><input class=\"js_quantity\" value=\"{qty}\"/></div>"
                    )
                })
                .collect();
            Reply::html(200, page_html("Shopping Cart", "sale.order", &rows))
        }
        "/shop/checkout" | "/shop/address" | "/shop/confirm_order" | "/shop/payment"
            if cart.is_empty() =>
        {
            redirect("/shop", 303, None)
        }
        "/shop/checkout" if !session.address => redirect("/shop/address", 303, None),
        "/shop/checkout" if odoo.major >= 18 => Reply::html(
            200,
            page_html(
                "Delivery",
                "sale.order",
                "<div id=\"o_delivery_methods\"><a href=\"/shop/confirm_order\">Confirm</a></div>",
            ),
        ),
        "/shop/checkout" => redirect("/shop/confirm_order", 303, None),
        "/shop/address" => address_form(&sid),
        "/shop/confirm_order" if !session.address => redirect("/shop/address", 303, None),
        "/shop/confirm_order" => redirect("/shop/payment", 303, None),
        "/shop/payment" => Reply::html(
            200,
            page_html(
                "Payment",
                "sale.order",
                "<h4>Select Payment Method</h4><form class=\"o_payment_form\"></form>",
            ),
        ),
        p if p.starts_with("/shop/") => match product_of(odoo, p) {
            Some((_, canonical, _)) if canonical != p => redirect(&canonical, 301, None),
            Some((tmpl, _, prod)) => Reply::html(
                200,
                page_html(
                    prod["name"].as_str().unwrap_or(""),
                    &format!("product.template({tmpl},)"),
                    &format!(
                        "<section id=\"product_detail\" class=\"oe_website_sale\"><h1>{}</h1><input type=\"hidden\" name=\"product_id\" value=\"{tmpl}\"/></section>",
                        prod["name"].as_str().unwrap_or("")
                    ),
                ),
            ),
            None => not_found(),
        },
        _ => not_found(),
    };
    with_session(reply, &sid, new)
}

fn address_form(sid: &str) -> Reply {
    Reply::html(
        200,
        page_html(
            "Address",
            "sale.order",
            &format!(
                "<form action=\"/shop/address\" method=\"post\" class=\"checkout_autoformat\"><input type=\"hidden\" name=\"csrf_token\" value=\"{}\"/></form>",
                csrf(sid)
            ),
        ),
    )
}

/// The POS till's page: the session it runs, for a logged-in user whose till is open.
fn pos_ui(odoo: &Odoo, query: &str, sid: Option<&str>) -> Reply {
    if odoo.session(sid).and_then(|s| s.uid).is_none() {
        return redirect("/web/login?redirect=%2Fpos%2Fui", 303, None);
    }
    let config: i64 = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "config_id")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let w = odoo.world();
    let session = w
        .store
        .get("pos.config", config)
        .ok()
        .and_then(|c| c["current_session_id"].get(0).and_then(Value::as_i64));
    match session {
        Some(s) => Reply::html(
            200,
            format!(
                "<!DOCTYPE html><html><head><title>Odoo POS</title><script type=\"text/javascript\">var odoo = {{\"pos_session_id\": {s}, \"pos_config_id\": {config}}};</script></head><body class=\"o_web_client\"></body></html>"
            ),
        ),
        None => redirect(
            if odoo.major >= 18 {
                "/odoo/action-point_of_sale.action_client_pos_menu"
            } else {
                "/web#action=point_of_sale.action_client_pos_menu"
            },
            303,
            None,
        ),
    }
}

/// A form POST: the checkout's address.
pub fn form(odoo: &Odoo, path: &str, fields: &[(String, String)], sid: Option<&str>) -> Reply {
    let field = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let routes = ["/shop/address", "/shop/address/submit"];
    if !routes.contains(&path) || (path == routes[1]) != (odoo.major >= 18) {
        return not_found();
    }
    let Some(sid) = sid.filter(|s| odoo.session(Some(s)).is_some()) else {
        return Reply::html(400, "Session expired (invalid CSRF token)".into());
    };
    if field("csrf_token") != csrf(sid) {
        return Reply::html(400, "Session expired (invalid CSRF token)".into());
    }
    let required = ["name", "email", "street", "city", "country_id"];
    let invalid: Vec<&str> = required
        .iter()
        .copied()
        .filter(|k| field(k).trim().is_empty())
        .collect();
    let country_ok = field("country_id")
        .parse::<i64>()
        .is_ok_and(|c| odoo.world().store.get("res.country", c).is_ok());
    let ok = invalid.is_empty() && country_ok;
    if ok {
        let mut w = odoo.world();
        if let Some(s) = w.sessions.get_mut(sid) {
            s.address = true;
        }
    }
    if odoo.major >= 18 {
        // Odoo writes this answer with Python's `json.dumps`: a space after each separator.
        let body = if ok {
            r#"{"redirectUrl": "/shop/checkout?try_skip_step=true"}"#.to_string()
        } else {
            format!(
                r#"{{"invalid_fields": {}, "messages": ["Some required fields are empty."]}}"#,
                json!(invalid)
            )
        };
        let mut r = Reply::json(Value::Null);
        r.body = Bytes::from(body);
        return r;
    }
    if ok {
        redirect("/shop/confirm_order", 303, None)
    } else {
        address_form(sid)
    }
}

/// `/shop/cart/update_json`: adds to (or sets in) the visitor's cart.
pub fn cart_update(odoo: &Odoo, id: &Value, params: &Value, sid: Option<&str>) -> Reply {
    let (sid, new) = odoo.visitor(sid);
    match add_to_cart(odoo, &sid, params) {
        Ok(v) => with_session(result(id, v), &sid, new),
        Err(f) => with_session(error_envelope(id, 200, f.name, &f.message), &sid, new),
    }
}

fn add_to_cart(odoo: &Odoo, sid: &str, params: &Value) -> Result<Value, Fault> {
    let product = params
        .get("product_id")
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(0);
    let add = params
        .get("add_qty")
        .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(1.0);
    let set = params
        .get("set_qty")
        .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()));
    let mut w = odoo.world();
    let p = match w.store.get("product.product", product) {
        Ok(p) if p["is_published"] == json!(true) && p["sale_ok"] == json!(true) => p.clone(),
        _ => {
            return Err(Fault::user(
                "The given product does not exist therefore it cannot be added to cart.",
            ));
        }
    };
    let cart = match w.sessions.get(sid).and_then(|s| s.cart) {
        Some(c) => c,
        None => {
            let n = w.next("sale.order");
            let mut o = Rec::new();
            o.insert("name".into(), json!(format!("S{n:05}")));
            o.insert("partner_id".into(), json!([4, "Public user"]));
            o.insert("state".into(), json!("draft"));
            o.insert("amount_total".into(), json!(0.0));
            o.insert("order_line".into(), json!([]));
            o.insert("picking_ids".into(), json!([]));
            let c = w.store.create("sale.order", o)?;
            if let Some(s) = w.sessions.get_mut(sid) {
                s.cart = Some(c);
            }
            c
        }
    };
    let price = p["lst_price"].as_f64().unwrap_or(0.0);
    let mut lines: Vec<Value> = w.store.get("sale.order", cart)?["order_line"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let line_id = match lines.iter_mut().find(|l| l["product_id"] == json!(product)) {
        Some(l) => {
            let q = set.unwrap_or(l["qty"].as_f64().unwrap_or(0.0) + add);
            l["qty"] = json!(q);
            l["id"].as_i64().unwrap_or(0)
        }
        None => {
            let lid = w.next("sale.order.line");
            lines.push(json!({"id": lid, "product_id": product, "qty": set.unwrap_or(add), "price_unit": price}));
            lid
        }
    };
    lines.retain(|l| l["qty"].as_f64().unwrap_or(0.0) > 0.0);
    let taxed = 1.0 + TAX_PERCENT / 100.0;
    let total: f64 = lines
        .iter()
        .map(|l| l["qty"].as_f64().unwrap_or(0.0) * l["price_unit"].as_f64().unwrap_or(0.0))
        .sum::<f64>()
        * taxed;
    let total = (total * 100.0).round() / 100.0;
    let count: f64 = lines.iter().filter_map(|l| l["qty"].as_f64()).sum();
    let qty = lines
        .iter()
        .find(|l| l["id"] == json!(line_id))
        .and_then(|l| l["qty"].as_f64())
        .unwrap_or(0.0);
    w.store.write(
        "sale.order",
        cart,
        &[("order_line", json!(lines)), ("amount_total", json!(total))],
    )?;
    let cents = (total * 100.0).round() as i64;
    let name = p["name"].as_str().unwrap_or("");
    Ok(json!({
        "line_id": line_id, "quantity": qty, "option_ids": [],
        "notification_info": {"currency_id": catalog::CURRENCY_ID, "lines": [{
            "id": line_id, "image_url": format!("/web/image/product.product/{product}/image_128"),
            "quantity": qty, "name": name, "description": "",
            "line_price_total": ((qty * price * taxed) * 100.0).round() / 100.0}], "warning": ""},
        "cart_quantity": count,
        // 17 answers the amount in minor units as a one-element list, 18 as a number.
        "minor_amount": if odoo.major >= 18 { json!(cents) } else { json!([cents]) },
        "amount": total,
    }))
}
