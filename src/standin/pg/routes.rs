//! How the PostgreSQL backend routes Odoo's requests: sessions, credentials, and which
//! calls run real SQL (the rest get the memory backend's answers).

use serde_json::{Value, json};

use super::PgBackend;
use super::calls::SqlCall;
use crate::standin::odoo::{
    Incoming, ModelCall, Reply, access_denied, error_envelope, result, session_expired,
};
use crate::standin::sessions::SessionData;

impl PgBackend {
    pub(super) async fn rpc(
        &self,
        worker: usize,
        path: &str,
        id: &Value,
        params: &Value,
        sid: Option<&str>,
    ) -> Reply {
        let c = &self.config;
        let text = |k: &str| {
            params
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        match path {
            "/web/session/authenticate" => {
                if text("db") != c.database
                    || text("login") != c.login
                    || text("password") != c.password
                {
                    return access_denied(id);
                }
                let uid = match self
                    .transact(
                        worker,
                        id,
                        SqlCall::Login {
                            login: text("login"),
                        },
                    )
                    .await
                {
                    Ok(Value::Number(n)) => n.as_i64(),
                    Ok(_) => {
                        return access_denied(id);
                    }
                    Err(reply) => return reply,
                };
                let sid = uuid::Uuid::new_v4().simple().to_string();
                if let Err(e) = self
                    .sessions
                    .put(
                        &sid,
                        &SessionData { uid },
                        &c.login,
                        self.config.pg.session_payload_bytes,
                    )
                    .await
                {
                    return error_envelope(id, 200, "builtins.ConnectionError", &e.to_string());
                }
                let mut reply = result(
                    id,
                    json!({
                        "uid": uid, "is_admin": true, "db": c.database, "username": c.login, "name": "Administrator",
                        "server_version": c.server_version, "server_version_info": self.memory.version()["server_version_info"],
                        "user_context": {"lang": "en_US", "tz": "Europe/Brussels", "uid": uid},
                    }),
                );
                reply.set_session = Some(sid);
                reply
            }
            "/shop/cart/update_json" => {
                let (sid, new) = match self.visitor(sid).await {
                    Ok(s) => s,
                    Err(e) => {
                        return error_envelope(id, 200, "builtins.ConnectionError", &e.to_string());
                    }
                };
                let Some(product) = params.get("product_id").and_then(Value::as_i64) else {
                    return error_envelope(
                        id,
                        200,
                        "odoo.exceptions.ValidationError",
                        "product_id is required",
                    );
                };
                let (qty, set) = match params.get("set_qty").and_then(Value::as_f64) {
                    Some(q) => (q, true),
                    None => (
                        params.get("add_qty").and_then(Value::as_f64).unwrap_or(1.0),
                        false,
                    ),
                };
                let call = SqlCall::CartUpdate {
                    sid: sid.clone(),
                    product: product as i32,
                    qty,
                    set,
                };
                let mut reply = self
                    .transact(worker, id, call)
                    .await
                    .map_or_else(|r| r, |v| result(id, v));
                reply.set_session = new.then_some(sid);
                reply
            }
            "/jsonrpc" if params.get("service") == Some(&json!("object")) => {
                let args = params
                    .get("args")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let creds_ok = args.first().and_then(Value::as_str) == Some(c.database.as_str())
                    && args.get(2).and_then(Value::as_str) == Some(c.password.as_str());
                if !creds_ok {
                    return access_denied(id);
                }
                self.model_call(worker, id, &ModelCall::from_execute_kw(&args))
                    .await
            }
            p if p.starts_with("/web/dataset/call_") => {
                let logged_in = match sid {
                    Some(s) => matches!(
                        self.sessions.get(s).await,
                        Ok(Some(SessionData { uid: Some(_) }))
                    ),
                    None => false,
                };
                if !logged_in {
                    return session_expired(id);
                }
                self.model_call(worker, id, &ModelCall::from_call_kw(params))
                    .await
            }
            _ => self.memory.answer(
                &Incoming::Rpc {
                    path: path.to_string(),
                    id: id.clone(),
                    params: params.clone(),
                },
                sid,
            ),
        }
    }

    /// A model method: real SQL for the ones the scenarios use, the memory answer otherwise.
    async fn model_call(&self, worker: usize, id: &Value, call: &ModelCall) -> Reply {
        let (model, method, args, kwargs) = (
            call.model.as_str(),
            call.method.as_str(),
            &call.args,
            &call.kwargs,
        );
        let ids = |v: &Value| -> Vec<i64> {
            match v.get(0) {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
                Some(n) => n.as_i64().into_iter().collect(),
                None => Vec::new(),
            }
        };
        let limit = kwargs
            .get("limit")
            .and_then(Value::as_i64)
            .unwrap_or(80)
            .clamp(1, 500);
        let call = match (model, method) {
            ("pos.order", "create_from_ui") | ("pos.order", "sync_from_ui") => SqlCall::PosSync {
                orders: args
                    .get(0)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                v18: method == "sync_from_ui",
            },
            ("sale.order", "create") => SqlCall::SaleCreate {
                vals: args.get(0).cloned().unwrap_or_else(|| json!({})),
            },
            ("sale.order", "action_confirm") => SqlCall::SaleConfirm { ids: ids(args) },
            ("stock.picking", "button_validate") => SqlCall::PickingValidate { ids: ids(args) },
            ("account.move", "action_post") => SqlCall::MovePost { ids: ids(args) },
            ("res.partner", "name_search") | ("product.product", "name_search") => {
                SqlCall::NameSearch {
                    table: if model == "res.partner" {
                        "res_partner"
                    } else {
                        "product_product"
                    },
                    name: kwargs
                        .get("name")
                        .or_else(|| args.get(0))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    limit: kwargs.get("limit").and_then(Value::as_i64).unwrap_or(8),
                }
            }
            ("product.product", "search_read") => SqlCall::ProductSearchRead { limit },
            ("account.move", "create") => SqlCall::MoveCreate {
                vals: args.get(0).cloned().unwrap_or_else(|| json!({})),
            },
            ("stock.picking", "search") => SqlCall::PickingSearch {
                sale_id: domain_value(args.get(0), "sale_id")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                limit,
            },
            ("account.move.line", "search_read") => SqlCall::OpenItems {
                account: domain_value(args.get(0), "account_code")
                    .and_then(Value::as_str)
                    .unwrap_or("400000")
                    .to_string(),
                limit,
            },
            ("account.move.line", "reconcile") => SqlCall::Reconcile { ids: ids(args) },
            ("procurement.group", "run_scheduler") => SqlCall::Replenish,
            ("pos.session", "action_pos_session_closing_control") => {
                SqlCall::SessionClose { ids: ids(args) }
            }
            ("pos.session", "load_pos_data") | ("pos.session", "load_data") => SqlCall::LoadPosData,
            ("account.move.line", "read_group") => {
                let (from, to) = date_range(args.get(0).or_else(|| kwargs.get("domain")));
                SqlCall::Report { from, to }
            }
            _ => {
                return match self.memory.call(call) {
                    Ok(v) => crate::standin::odoo::result(id, v),
                    Err(f) => crate::standin::odoo::error_envelope(id, 200, f.name, &f.message),
                };
            }
        };
        self.transact(worker, id, call)
            .await
            .map_or_else(|r| r, |v| result(id, v))
    }

    pub(super) async fn page(&self, worker: usize, path: &str, sid: Option<&str>) -> Reply {
        let (sid, new) = match self.visitor(sid).await {
            Ok(s) => s,
            Err(e) => return Reply::html(500, format!("<h1>Internal Server Error</h1><p>{e}</p>")),
        };
        let call = SqlCall::ShopPage {
            path: path.to_string(),
            sid: Some(sid.clone()),
        };
        let mut reply = match self.transact(worker, &Value::Null, call).await {
            Ok(Value::String(html)) => Reply::html(200, html),
            Ok(_) => Reply::html(404, "<h1>404: Page not found</h1>".into()),
            Err(_) => Reply::html(500, "<h1>Internal Server Error</h1>".into()),
        };
        reply.set_session = new.then_some(sid);
        reply
    }

    /// The visitor's session, created (anonymous) when it has none.
    async fn visitor(
        &self,
        sid: Option<&str>,
    ) -> Result<(String, bool), crate::standin::sessions::SessionError> {
        if let Some(s) = sid
            && self.sessions.get(s).await?.is_some()
        {
            return Ok((s.to_string(), false));
        }
        let sid = uuid::Uuid::new_v4().simple().to_string();
        self.sessions
            .put(
                &sid,
                &SessionData::default(),
                "",
                self.config.pg.session_payload_bytes,
            )
            .await?;
        Ok((sid, true))
    }
}

/// The value an Odoo domain compares `field` with (`[[field, "=", value], ...]`).
fn domain_value<'a>(domain: Option<&'a Value>, field: &str) -> Option<&'a Value> {
    domain?
        .as_array()?
        .iter()
        .find(|leaf| leaf.get(0).and_then(Value::as_str) == Some(field))
        .and_then(|leaf| leaf.get(2))
}

/// The first and last dates of an Odoo domain on `date` (default: the current month).
fn date_range(domain: Option<&Value>) -> (String, String) {
    let mut from = None;
    let mut to = None;
    for leaf in domain.and_then(Value::as_array).into_iter().flatten() {
        let (Some(field), Some(op), Some(value)) = (
            leaf.get(0).and_then(Value::as_str),
            leaf.get(1).and_then(Value::as_str),
            leaf.get(2).and_then(Value::as_str),
        ) else {
            continue;
        };
        if field == "date" {
            match op {
                ">=" | ">" => from = Some(value.to_string()),
                "<=" | "<" => to = Some(value.to_string()),
                _ => {}
            }
        }
    }
    (
        from.unwrap_or_else(|| "1970-01-01".into()),
        to.unwrap_or_else(|| "9999-12-31".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_dates_come_from_the_domain() {
        let d = json!([
            ["date", ">=", "2026-10-01"],
            ["date", "<=", "2026-10-31"],
            ["account_code", "=", "700000"]
        ]);
        assert_eq!(
            date_range(Some(&d)),
            ("2026-10-01".into(), "2026-10-31".into())
        );
    }
}
