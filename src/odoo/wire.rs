//! Odoo's JSON-RPC wire format (ODOO-PROTOCOL.md), in both directions: what a client sends
//! and how it reads the answer, and what a server answers. The engine, the preflight, the
//! stand-in and the differential tests all use these definitions, so they cannot drift apart.

use bytes::Bytes;
use serde_json::{Value, json};

/// Odoo's error code for a route that needs a logged-in session it did not get.
pub const SESSION_EXPIRED: i64 = 100;
/// Odoo's error code for every other server error in 16, 17 and 18.0.
pub const SERVER_ERROR: i64 = 200;
/// The cookie holding Odoo's session id.
pub const SESSION_COOKIE: &str = "session_id";

/// A JSON-RPC request body: `{"jsonrpc": "2.0", "method": "call", "params": ..., "id": N}`.
pub fn request_body(params: &Value, id: u64) -> Bytes {
    let body = json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": id});
    Bytes::from(body.to_string())
}

/// A success answer; a method that returned `None` has no `result` key.
pub fn result_body(id: &Value, result: Value) -> Value {
    if result.is_null() {
        return json!({"jsonrpc": "2.0", "id": id});
    }
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error answer, as Odoo's `_response` shapes it (HTTP 200, `code` 200 or 100).
pub fn error_body(id: &Value, code: i64, name: &str, message: &str) -> Value {
    let top = if code == SESSION_EXPIRED {
        "Odoo Session Expired"
    } else {
        "Odoo Server Error"
    };
    json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": code,
        "message": top,
        "data": {
            "name": name,
            "debug": format!("Traceback (most recent call last):\n{name}: {message}\n"),
            "message": message,
            "arguments": [message],
            "context": {},
        }
    }})
}

/// A JSON-RPC answer, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The method's result (`null` when the key is absent: the method returned `None`).
    Result(Value),
    /// Code 100: the session is not (or no longer) valid.
    SessionExpired,
    /// Any other error: Odoo's `data.name` (the exception class) and `data.message`.
    Error { name: String, message: String },
}

/// Reads a JSON-RPC answer body; `Err` says why it is not one.
pub fn read_reply(body: &[u8]) -> Result<Reply, String> {
    let mut v: Value = serde_json::from_slice(body).map_err(|_| {
        let start = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        format!("not JSON: {:?}", start.trim())
    })?;
    if !v.is_object() {
        return Err("not a JSON-RPC answer (not an object)".into());
    }
    if let Some(err) = v.get("error") {
        if err.get("code").and_then(Value::as_i64) == Some(SESSION_EXPIRED) {
            return Ok(Reply::SessionExpired);
        }
        let text = |p: &str| err.pointer(p).and_then(Value::as_str);
        let name = text("/data/name")
            .or_else(|| text("/message"))
            .unwrap_or("unknown_rpc_error");
        let message = text("/data/message")
            .or_else(|| text("/message"))
            .unwrap_or("");
        return Ok(Reply::Error {
            name: name.to_string(),
            message: message.to_string(),
        });
    }
    Ok(Reply::Result(
        v.get_mut("result").map(Value::take).unwrap_or(Value::Null),
    ))
}

/// A window action in a result: Odoo asks the user to fill in a form (a wizard) before the
/// work is done (`button_validate`'s backorder, the POS Force Close, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowAction {
    /// The wizard's model, e.g. `stock.backorder.confirmation`.
    pub res_model: String,
    /// The wizard record when Odoo already created it; else the client creates it.
    pub res_id: Option<i64>,
    /// The action's context (`default_*` values, `active_ids`, ...), sent back with every
    /// call on the wizard, as the web client does.
    pub context: Value,
    /// The dialog's title.
    pub name: String,
}

/// The window action `result` is, if it is one. Other actions (a client action such as a
/// notification or a print, a URL) do not ask anything of the user.
pub fn window_action(result: &Value) -> Option<WindowAction> {
    if result.get("type").and_then(Value::as_str) != Some("ir.actions.act_window") {
        return None;
    }
    Some(WindowAction {
        res_model: result
            .get("res_model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        res_id: result.get("res_id").and_then(Value::as_i64),
        context: result.get("context").cloned().unwrap_or_else(|| json!({})),
        name: result
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

/// A server's version, from `/web/webclient/version_info` (or `common.version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// `server_version`, e.g. `17.0` or `saas~18.2+e`.
    pub text: String,
    pub major: u32,
    pub minor: u32,
}

impl ServerVersion {
    /// Reads `server_version_info` (`[17, 0, 0, "final", 0, ""]`), else `server_serie`.
    pub fn from_info(v: &Value) -> Option<ServerVersion> {
        let text = v
            .get("server_version")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let info = v.get("server_version_info").and_then(Value::as_array);
        let (major, minor) = match info {
            // 17.0 says [17, 0, ...]; saas releases say ["saas~18", 2, ...].
            Some(i) => (
                i.first().and_then(number_in)?,
                i.get(1).and_then(number_in).unwrap_or(0),
            ),
            None => {
                let serie = v.get("server_serie").and_then(Value::as_str)?;
                let (a, b) = serie.split_once('.').unwrap_or((serie, "0"));
                (digits(a)?, digits(b).unwrap_or(0))
            }
        };
        Some(ServerVersion { text, major, minor })
    }

    /// `17.0`, the form profiles use.
    pub fn serie(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }

    /// The `version_info` answer of a server of this version (what the stand-in says).
    pub fn info(&self) -> Value {
        json!({
            "server_version": self.text,
            "server_version_info": [self.major, self.minor, 0, "final", 0, ""],
            "server_serie": self.serie(),
            "protocol_version": 1,
        })
    }

    /// A plain `major.minor` version.
    pub fn new(major: u32, minor: u32) -> ServerVersion {
        ServerVersion {
            text: format!("{major}.{minor}"),
            major,
            minor,
        }
    }
}

fn number_in(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n as u32),
        Value::String(s) => digits(s),
        _ => None,
    }
}

/// The first run of digits in `s` (`saas~18` → 18).
fn digits(s: &str) -> Option<u32> {
    let start = s.find(|c: char| c.is_ascii_digit())?;
    let rest = &s[start..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// `session_id=value` from one `Set-Cookie` header.
pub fn session_cookie(set_cookie: &str) -> Option<String> {
    let pair = set_cookie.split(';').next()?.trim();
    let (name, value) = pair.split_once('=')?;
    (name == SESSION_COOKIE && !value.is_empty()).then(|| pair.to_string())
}

/// The session id in a `Cookie` request header.
pub fn session_id(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .find_map(|c| c.trim().strip_prefix("session_id="))
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_read_by_data_name_and_code_100_is_an_expiry() {
        let body = error_body(
            &json!(3),
            SERVER_ERROR,
            "psycopg2.errors.SerializationFailure",
            "could not serialize",
        );
        assert_eq!(
            read_reply(body.to_string().as_bytes()).unwrap(),
            Reply::Error {
                name: "psycopg2.errors.SerializationFailure".into(),
                message: "could not serialize".into()
            }
        );
        let expired = error_body(
            &json!(3),
            SESSION_EXPIRED,
            "odoo.http.SessionExpiredException",
            "Session expired",
        );
        assert_eq!(
            read_reply(expired.to_string().as_bytes()).unwrap(),
            Reply::SessionExpired
        );
        assert_eq!(expired["error"]["message"], "Odoo Session Expired");
    }

    #[test]
    fn a_method_returning_none_has_no_result_key() {
        let body = result_body(&json!(1), Value::Null);
        assert!(body.get("result").is_none());
        assert_eq!(
            read_reply(body.to_string().as_bytes()).unwrap(),
            Reply::Result(Value::Null)
        );
        assert!(read_reply(b"<html>").unwrap_err().contains("not JSON"));
        assert!(read_reply(b"[1]").is_err());
    }

    #[test]
    fn only_window_actions_are_wizards() {
        let backorder = json!({"type": "ir.actions.act_window", "res_model": "stock.backorder.confirmation",
            "context": {"default_pick_ids": [[4, 7]]}, "name": "Create Backorder?", "target": "new"});
        let w = window_action(&backorder).unwrap();
        assert_eq!(w.res_model, "stock.backorder.confirmation");
        assert_eq!(w.res_id, None);
        assert_eq!(w.context["default_pick_ids"][0][1], 7);
        assert!(
            window_action(&json!({"type": "ir.actions.client", "tag": "display_notification"}))
                .is_none()
        );
        assert!(window_action(&json!(true)).is_none());
        assert!(window_action(&json!([1, 2])).is_none());
    }

    #[test]
    fn versions_are_read_from_version_info() {
        let v17 = json!({"server_version": "17.0", "server_version_info": [17, 0, 0, "final", 0, ""], "server_serie": "17.0", "protocol_version": 1});
        assert_eq!(
            ServerVersion::from_info(&v17),
            Some(ServerVersion::new(17, 0))
        );
        let saas = json!({"server_version": "saas~18.2+e", "server_version_info": ["saas~18", 2, 0, "final", 0, "e"], "server_serie": "saas~18.2"});
        let s = ServerVersion::from_info(&saas).unwrap();
        assert_eq!((s.major, s.minor), (18, 2));
        assert_eq!(
            ServerVersion::from_info(&json!({"server_serie": "16.0"}))
                .unwrap()
                .major,
            16
        );
        assert_eq!(ServerVersion::from_info(&json!({"x": 1})), None);
        assert_eq!(
            ServerVersion::new(18, 0).info()["server_version_info"][0],
            18
        );
    }

    #[test]
    fn only_the_session_cookie_is_kept() {
        assert_eq!(
            session_cookie("session_id=abc; Path=/; HttpOnly").as_deref(),
            Some("session_id=abc")
        );
        assert_eq!(session_cookie("frontend_lang=en_US; Path=/"), None);
        assert_eq!(
            session_id("frontend_lang=en_US; session_id=xyz"),
            Some("xyz")
        );
        assert_eq!(session_id("session_id="), None);
    }
}
