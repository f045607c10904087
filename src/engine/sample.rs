//! What the engine reports: one event per planned arrival, per request and per journey.
//! Times are offsets from the run's t0, so every consumer shares one clock.

use std::time::Duration;

pub use crate::odoo::{ErrorKind, Failure};

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
    pub error: Option<Failure>,
    /// Redirects a page followed before its answer.
    pub redirects: u32,
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

impl Event {
    /// When it happened, from t0 (`None` for a re-login, which carries no time).
    pub fn at(&self) -> Option<Duration> {
        match self {
            Event::Arrival { at, .. } => Some(*at),
            Event::Step(s) => Some(s.end),
            Event::Journey { end, .. } => Some(*end),
            Event::Reauthenticated => None,
        }
    }
}
