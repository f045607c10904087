//! The POS sessions a run sells into. Before the load, a session is opened on each POS config
//! (at most [`MAX_CONFIGS`]) the way the backend button and the POS do it: `open_ui`, then
//! the opening cash confirmed (17 `set_cashbox_pos`, 18 `set_opening_control`); a session
//! already open is used as it is. After the load, every session used is closed the way the
//! POS closing screen does it: the expected cash counted (`post_closing_cash_details`), the
//! closing state, then `close_session_from_ui`, so the orders are posted. Orders never go to
//! a closed session: the load is over before any session closes.

use std::time::Instant;

use serde_json::{Value, json};

use crate::config::data::DataTable;
use crate::odoo::{OdooClient, RpcOutcome, UserSession};
use crate::plan::generator::odoo_round;
use crate::result::PreparedAction;

/// POS configs a run opens sessions on: enough to spread orders over several tills' sessions.
pub const MAX_CONFIGS: usize = 4;

/// A session the run sells into.
#[derive(Debug, Clone)]
pub struct PosSession {
    pub session_id: i64,
    pub config_name: String,
    pub cash_control: bool,
    pub rounding: f64,
    /// The run opened it. A session that was open before (a till in use, or another run) is
    /// sold into but never closed by this run: closing it would move the other's sales to a
    /// rescue session.
    pub opened_by_run: bool,
}

/// Why no session could be opened.
#[derive(Debug, thiserror::Error)]
#[error("opening a POS session: {0}")]
pub struct PosError(pub String);

struct Caller<'a> {
    client: &'a OdooClient,
    cookie: &'a str,
}

impl Caller<'_> {
    async fn kw(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Value,
    ) -> Result<Value, String> {
        let r = self
            .client
            .call_kw(model, method, args, kwargs, Some(self.cookie))
            .await;
        outcome(model, method, r.outcome)
    }

    async fn button(&self, model: &str, method: &str, args: Value) -> Result<Value, String> {
        let r = self
            .client
            .call_button(model, method, args, json!({}), Some(self.cookie))
            .await;
        outcome(model, method, r.outcome)
    }
}

fn outcome(model: &str, method: &str, o: RpcOutcome) -> Result<Value, String> {
    match o {
        RpcOutcome::Result(v) => Ok(v),
        RpcOutcome::SessionExpired => Err(format!("{model}.{method}: the session expired")),
        RpcOutcome::Failed(f) => Err(format!("{model}.{method}: {f}")),
    }
}

fn column(t: &DataTable, row: usize, name: &str) -> Value {
    t.column(name)
        .map_or(Value::Null, |c| t.rows[row][c].clone())
}

/// Opens (or takes) a session on each config of `configs` (the discovered `pos_sessions`
/// rows); returns the rows with their session ids, the sessions, and what was done.
pub async fn open(
    client: &OdooClient,
    login: &UserSession,
    major: u32,
    configs: &DataTable,
) -> Result<(DataTable, Vec<PosSession>, Vec<PreparedAction>), PosError> {
    let c = Caller {
        client,
        cookie: &login.cookie,
    };
    let mut rows = Vec::new();
    let mut sessions = Vec::new();
    let mut actions = Vec::new();
    let mut reasons = Vec::new();
    for i in 0..configs.rows.len().min(MAX_CONFIGS) {
        let config = column(configs, i, "config_id");
        let name = column(configs, i, "config_name")
            .as_str()
            .unwrap_or("")
            .to_string();
        let cash_control = column(configs, i, "cash_control")
            .as_bool()
            .unwrap_or(false);
        let started = Instant::now();
        match open_one(&c, major, &config, cash_control).await {
            Ok((session_id, how)) => {
                // A session left in opening control (by an interrupted run) is as good as new.
                let opened_by_run = !how.starts_with("already opened");
                let mut row = configs.rows[i].clone();
                if let Some(col) = configs.column("session_id") {
                    row[col] = json!(session_id);
                }
                rows.push(row);
                sessions.push(PosSession {
                    session_id,
                    config_name: name.clone(),
                    cash_control,
                    rounding: column(configs, i, "currency_rounding")
                        .as_f64()
                        .unwrap_or(0.01),
                    opened_by_run,
                });
                actions.push(PreparedAction {
                    action: format!("open pos.session {session_id} on config {name:?}"),
                    ok: true,
                    detail: how,
                    duration_ms: started.elapsed().as_millis() as u64,
                });
            }
            Err(why) => {
                reasons.push(format!("config {name:?}: {why}"));
                actions.push(PreparedAction {
                    action: format!("open a POS session on config {name:?}"),
                    ok: false,
                    detail: why,
                    duration_ms: started.elapsed().as_millis() as u64,
                });
            }
        }
    }
    if sessions.is_empty() {
        return Err(PosError(if reasons.is_empty() {
            "the target has no active POS config with a cash or bank payment method".into()
        } else {
            reasons.join("; ")
        }));
    }
    let table = DataTable {
        columns: configs.columns.clone(),
        rows,
        ..DataTable::default()
    };
    Ok((table, sessions, actions))
}

async fn open_one(
    c: &Caller<'_>,
    major: u32,
    config: &Value,
    cash_control: bool,
) -> Result<(i64, String), String> {
    let state = |v: &Value| -> Result<(Value, String), String> {
        let row = v.get(0).ok_or("pos.config.read answered no record")?;
        Ok((
            row["current_session_id"]
                .get(0)
                .cloned()
                .unwrap_or(Value::Bool(false)),
            row["current_session_state"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        ))
    };
    let fields = json!(["current_session_id", "current_session_state"]);
    let (_, before) = state(
        &c.kw("pos.config", "read", json!([[config], fields]), json!({}))
            .await?,
    )?;
    if before == "closing_control" {
        return Err("its session is being closed (closing_control): close it in Odoo first".into());
    }
    // The backend's "Open Register" button: creates the session, or returns the open one.
    c.button("pos.config", "open_ui", json!([[config]])).await?;
    let (session, after) = state(
        &c.kw("pos.config", "read", json!([[config], fields]), json!({}))
            .await?,
    )?;
    let session_id = session
        .as_i64()
        .ok_or("open_ui left the config without a session")?;
    let mut how = if before.is_empty() {
        "opened".to_string()
    } else {
        format!("already {before}")
    };
    if after == "opening_control" {
        // The POS opening popup: the cash counted is the expected opening balance.
        let read = c
            .kw(
                "pos.session",
                "read",
                json!([[session_id], ["cash_register_balance_start"]]),
                json!({}),
            )
            .await?;
        let start = read[0]["cash_register_balance_start"]
            .as_f64()
            .unwrap_or(0.0);
        let notes = "opened by peakgate";
        if major >= 18 {
            c.kw(
                "pos.session",
                "set_opening_control",
                json!([session_id, start, notes]),
                json!({}),
            )
            .await?;
        } else if cash_control {
            c.kw(
                "pos.session",
                "set_cashbox_pos",
                json!([session_id, start, notes]),
                json!({}),
            )
            .await?;
        }
        how.push_str(&format!(", opening cash {start} confirmed"));
    }
    let read = c
        .kw(
            "pos.session",
            "read",
            json!([[session_id], ["state"]]),
            json!({}),
        )
        .await?;
    match read[0]["state"].as_str() {
        Some("opened") => Ok((session_id, how)),
        other => Err(format!(
            "session {session_id} is {} after opening, not opened",
            other.unwrap_or("gone")
        )),
    }
}

/// Closes each session as the POS closing screen does; one action per session.
pub async fn close(
    client: &OdooClient,
    login: &UserSession,
    major: u32,
    sessions: &[PosSession],
) -> Vec<PreparedAction> {
    let c = Caller {
        client,
        cookie: &login.cookie,
    };
    let mut out = Vec::new();
    for s in sessions {
        let started = Instant::now();
        if !s.opened_by_run {
            out.push(PreparedAction {
                action: format!(
                    "leave pos.session {} on config {:?} open",
                    s.session_id, s.config_name
                ),
                ok: true,
                detail: "it was open before the run: whoever opened it closes it".into(),
                duration_ms: 0,
            });
            continue;
        }
        let result = close_one(&c, major, s).await;
        out.push(PreparedAction {
            action: format!(
                "close pos.session {} on config {:?}",
                s.session_id, s.config_name
            ),
            ok: result.is_ok(),
            detail: result.unwrap_or_else(|e| e),
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }
    out
}

async fn close_one(c: &Caller<'_>, major: u32, s: &PosSession) -> Result<String, String> {
    let sid = s.session_id;
    let data = c
        .kw(
            "pos.session",
            "get_closing_control_data",
            json!([[sid]]),
            json!({}),
        )
        .await?;
    if s.cash_control
        && let Some(expected) = data
            .pointer("/default_cash_details/amount")
            .and_then(Value::as_f64)
    {
        let counted = odoo_round(expected, s.rounding);
        let r = c
            .kw(
                "pos.session",
                "post_closing_cash_details",
                json!([sid]),
                json!({"counted_cash": counted}),
            )
            .await?;
        if r["successful"] != json!(true) {
            return Err(format!("post_closing_cash_details: {}", r["message"]));
        }
    }
    c.kw(
        "pos.session",
        "update_closing_control_state_session",
        json!([sid, "closed by peakgate"]),
        json!({}),
    )
    .await?;
    // Counted bank amounts equal the expected ones: no difference to book.
    let others = if major >= 18 {
        "non_cash_payment_methods"
    } else {
        "other_payment_methods"
    };
    let pairs: Vec<Value> = data[others]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"] == "bank")
        .map(|m| json!([m["id"], 0.0]))
        .collect();
    let r = c
        .kw(
            "pos.session",
            "close_session_from_ui",
            json!([sid, pairs]),
            json!({}),
        )
        .await?;
    if r["successful"] != json!(true) {
        return Err(format!(
            "close_session_from_ui answered {}: the session is left in closing control",
            r.get("message").unwrap_or(&r)
        ));
    }
    let orders = data
        .pointer("/orders_details/quantity")
        .cloned()
        .unwrap_or(json!(0));
    let state = c
        .kw("pos.session", "read", json!([[sid], ["state"]]), json!({}))
        .await?;
    match state[0]["state"].as_str() {
        Some("closed") => Ok(format!("closed, {orders} orders posted")),
        other => Err(format!(
            "close_session_from_ui succeeded but the session is {}",
            other.unwrap_or("gone")
        )),
    }
}
