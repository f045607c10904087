//! Which shipped flow (scenario) a request belongs to, by route, and which request marks the
//! start of one journey of that flow (its anchor).

use std::collections::BTreeMap;

/// A flow: the scenario whose journeys a log's requests are counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    PosOrderSync,
    PosSessionOpen,
    PosSessionClose,
    ShopBrowse,
    EcommerceCart,
    EcommerceCheckout,
    BackofficeSale,
    PickingValidate,
    InvoicePost,
    PaymentReconcile,
    MonthEndReport,
    ProductSearch,
    ReplenishmentRun,
}

impl Flow {
    /// The scenario that replays this flow.
    pub fn anchor_of(self) -> &'static str {
        match self {
            Flow::PosOrderSync => "pos_order_sync",
            Flow::PosSessionOpen => "pos_session_open",
            Flow::PosSessionClose => "pos_session_close",
            Flow::ShopBrowse => "shop_browse",
            Flow::EcommerceCart => "ecommerce_cart",
            Flow::EcommerceCheckout => "ecommerce_checkout",
            Flow::BackofficeSale => "backoffice_sale",
            Flow::PickingValidate => "picking_validate",
            Flow::InvoicePost => "invoice_post",
            Flow::PaymentReconcile => "payment_reconcile",
            Flow::MonthEndReport => "month_end_report",
            Flow::ProductSearch => "product_search",
            Flow::ReplenishmentRun => "replenishment_run",
        }
    }
}

/// The flow whose journey this request starts, if it is an anchor; `None` for everything
/// else (assets, polling, the other requests of a journey).
pub fn classify(method: &str, path: &str) -> Option<Flow> {
    let path = path.split('?').next().unwrap_or(path);
    if let Some(rest) = path
        .strip_prefix("/web/dataset/call_kw/")
        .or_else(|| path.strip_prefix("/web/dataset/call_button/"))
    {
        let (model, function) = rest.split_once('/').unwrap_or((rest, ""));
        return match (model, function) {
            ("pos.order", "create_from_ui" | "sync_from_ui") => Some(Flow::PosOrderSync),
            ("pos.session", "load_pos_data" | "load_data") => Some(Flow::PosSessionOpen),
            ("pos.session", f) if f.contains("closing") => Some(Flow::PosSessionClose),
            ("sale.order", "create") => Some(Flow::BackofficeSale),
            ("stock.picking", "button_validate") => Some(Flow::PickingValidate),
            ("account.move", "action_post") => Some(Flow::InvoicePost),
            ("account.move.line", "reconcile") => Some(Flow::PaymentReconcile),
            ("account.move.line", "read_group") | ("account.report", _) => {
                Some(Flow::MonthEndReport)
            }
            ("product.product", "name_search") => Some(Flow::ProductSearch),
            ("procurement.group", "run_scheduler") => Some(Flow::ReplenishmentRun),
            _ => None,
        };
    }
    if path.starts_with("/pos/ui") || path.starts_with("/pos/web") {
        return Some(Flow::PosSessionOpen);
    }
    match (method, path) {
        ("POST", "/shop/cart/update_json" | "/shop/cart/update") => Some(Flow::EcommerceCart),
        ("GET", "/shop/checkout") => Some(Flow::EcommerceCheckout),
        ("GET", "/shop") => Some(Flow::ShopBrowse),
        _ => None,
    }
}

/// Journeys share anchors down the funnel: every checkout journey also updated a cart, and
/// every cart journey also landed on the shop. Counts each journey once.
pub fn net_out_funnel(minute: &mut BTreeMap<&'static str, u64>) {
    let checkout = minute.get("ecommerce_checkout").copied().unwrap_or(0);
    if let Some(cart) = minute.get_mut("ecommerce_cart") {
        *cart = cart.saturating_sub(checkout);
    }
    let cart = minute.get("ecommerce_cart").copied().unwrap_or(0);
    if let Some(shop) = minute.get_mut("shop_browse") {
        *shop = shop.saturating_sub(cart);
    }
    minute.retain(|_, v| *v > 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_flows() {
        assert_eq!(
            classify("POST", "/web/dataset/call_kw/pos.order/create_from_ui"),
            Some(Flow::PosOrderSync)
        );
        assert_eq!(
            classify("POST", "/web/dataset/call_kw/account.move/action_post"),
            Some(Flow::InvoicePost)
        );
        assert_eq!(classify("GET", "/shop?page=2"), Some(Flow::ShopBrowse));
        assert_eq!(
            classify("POST", "/shop/cart/update_json"),
            Some(Flow::EcommerceCart)
        );
        assert_eq!(
            classify("GET", "/web/assets/1/web.assets_frontend.min.js"),
            None
        );
        assert_eq!(
            classify("POST", "/web/dataset/call_kw/res.partner/read"),
            None
        );
    }

    #[test]
    fn a_checkout_is_not_also_counted_as_a_cart_and_a_browse() {
        let mut m = BTreeMap::from([
            ("shop_browse", 10),
            ("ecommerce_cart", 4),
            ("ecommerce_checkout", 1),
        ]);
        net_out_funnel(&mut m);
        assert_eq!(
            m,
            BTreeMap::from([
                ("shop_browse", 7),
                ("ecommerce_cart", 3),
                ("ecommerce_checkout", 1)
            ])
        );
    }
}
