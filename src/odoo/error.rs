//! Why a request to Odoo failed, as a bounded kind (what the gate counts) plus the message the
//! server or the network gave (what a person reads).

use std::sync::Arc;

/// Why a request failed. A failure is data: it is counted, never raised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The TCP connection could not be made.
    Connect,
    /// The TLS handshake failed (a certificate, or HTTPS spoken to a plain-HTTP port).
    Tls,
    /// The connection was reset or closed before the answer was complete.
    Reset,
    /// The answer's body was larger than `[load] max_body`: it was not read further.
    BodyTooLarge,
    /// Still in flight when the run was stopped and its grace ran out (or a second signal).
    Interrupted,
    /// No complete answer within the request timeout.
    Timeout,
    /// An HTTP status other than success (Odoo answers RPC errors with 200); for a page, the
    /// status the redirect chain ended on.
    Http(u16),
    /// A JSON-RPC error envelope, by its `data.name` (e.g. `odoo.exceptions.UserError`).
    Rpc(Arc<str>),
    /// Code 100: the session expired and re-authenticating did not help.
    SessionExpired,
    /// The answer lacked what the step checks or saves.
    Check,
    /// The answer was not the JSON-RPC (or HTTP) the protocol promises.
    Protocol,
    /// Odoo answered a window action (a wizard the user must fill in) where the step expects
    /// the work done: nothing was done.
    Wizard,
    /// A page's redirect chain was longer than the limit, or left the target.
    Redirect,
}

impl ErrorKind {
    /// The label used in artifacts.
    pub fn label(&self) -> String {
        match self {
            ErrorKind::Connect => "connect".into(),
            ErrorKind::Tls => "tls".into(),
            ErrorKind::Reset => "reset".into(),
            ErrorKind::BodyTooLarge => "body_too_large".into(),
            ErrorKind::Interrupted => "interrupted".into(),
            ErrorKind::Timeout => "timeout".into(),
            ErrorKind::Http(s) => format!("http_{s}"),
            ErrorKind::Rpc(name) => name.to_string(),
            ErrorKind::SessionExpired => "session_expired".into(),
            ErrorKind::Check => "check".into(),
            ErrorKind::Protocol => "protocol".into(),
            ErrorKind::Wizard => "wizard".into(),
            ErrorKind::Redirect => "redirect".into(),
        }
    }
}

/// A failed request: its kind and what was said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    /// The server's or the network's words (Odoo's `data.message`, an I/O error, a status
    /// line); never a credential, never the request body.
    pub message: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            f.write_str(&self.kind.label())
        } else {
            write!(f, "{}: {}", self.kind.label(), self.message)
        }
    }
}
