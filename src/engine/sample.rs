//! What the engine reports: one event per planned arrival, per request and per journey.
//! Times are offsets from the run's t0, so every consumer shares one clock.

use std::sync::Arc;
use std::time::Duration;

/// Why a request failed. A failure is data: it is counted, never raised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The TCP or TLS connection could not be made.
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// An HTTP status other than success (Odoo answers RPC errors with 200).
    Http(u16),
    /// A JSON-RPC error envelope, by its `data.name` (e.g. `odoo.exceptions.UserError`).
    Rpc(Arc<str>),
    /// Code 100: the session expired and re-authenticating did not help.
    SessionExpired,
    /// The answer lacked what the step checks or saves.
    Check,
    /// The answer was not the JSON-RPC the protocol promises.
    Protocol,
}

impl ErrorKind {
    /// The label used in artifacts.
    pub fn label(&self) -> String {
        match self {
            ErrorKind::Connect => "connect".into(),
            ErrorKind::Timeout => "timeout".into(),
            ErrorKind::Http(s) => format!("http_{s}"),
            ErrorKind::Rpc(name) => name.to_string(),
            ErrorKind::SessionExpired => "session_expired".into(),
            ErrorKind::Check => "check".into(),
            ErrorKind::Protocol => "protocol".into(),
        }
    }
}

/// One request, measured.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Which step (`Plan::step_names` index).
    pub step: usize,
    /// When the plan says it should have been sent: latency counts from here.
    pub intended: Duration,
    /// When it was actually sent: service time counts from here.
    pub sent: Duration,
    /// When the answer was complete (or the failure known).
    pub end: Duration,
    pub error: Option<ErrorKind>,
}

impl Sample {
    pub fn latency(&self) -> Duration {
        self.end.saturating_sub(self.intended)
    }
    pub fn service(&self) -> Duration {
        self.end.saturating_sub(self.sent)
    }
}

/// Everything the recorder hears from the engine.
#[derive(Debug, Clone)]
pub enum Event {
    /// A planned arrival: started, or dropped because the in-flight cap was reached.
    Arrival { at: Duration, started: bool },
    /// A request finished.
    Step(Sample),
    /// A journey finished (all steps, or stopped at its first failure).
    Journey {
        scenario: usize,
        intended: Duration,
        end: Duration,
        ok: bool,
    },
    /// A session expired (code 100) and the virtual user logged in again.
    Reauthenticated,
}
