//! Exit codes (DESIGN.md), and the one function that maps an error to one.

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::result::OpenError;
use crate::session::SessionError;
use crate::standin::pg::PgError;
use crate::target::PrepareError;
use crate::traffic::LogError;

/// Exit codes users' pipelines rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The gate passed (or warned without `--fail-on-warn`).
    Pass = 0,
    /// The gate failed.
    GateFailed = 1,
    /// Bad input or usage.
    BadInput = 2,
    /// The run was interrupted by a person or a signal; its artifacts are still written.
    Stopped = 3,
    /// The load generator could not keep its plan: neither passed nor failed.
    Inconclusive = 4,
    /// An internal or I/O failure (a task died, an artifact could not be written or read):
    /// never a pass; the artifacts are as complete as they can be.
    Internal = 5,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// A usage mistake found after the flags were parsed: exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Input the user pointed at (a `--baseline`, `--from` or `--gate` file) that cannot be used:
/// exit 2, whatever the cause underneath.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {source}")]
pub struct InputError {
    pub flag: &'static str,
    #[source]
    pub source: anyhow::Error,
}

/// The exit code for a failed command: the user's input (2), or peakgate's own failure (5).
/// An error of no known kind is peakgate's: it fails closed, never as a pass.
pub fn for_error(e: &anyhow::Error) -> Exit {
    for cause in e.chain() {
        if let Some(s) = cause.downcast_ref::<SessionError>() {
            return if s.is_input() {
                Exit::BadInput
            } else {
                Exit::Internal
            };
        }
        if let Some(o) = cause.downcast_ref::<OpenError>() {
            return if o.is_not_a_run() {
                Exit::BadInput
            } else {
                Exit::Internal
            };
        }
        if cause.is::<UsageError>()
            || cause.is::<InputError>()
            || cause.is::<ConfigError>()
            || cause.is::<PrepareError>()
            || cause.is::<PgError>()
            || cause.is::<LogError>()
        {
            return Exit::BadInput;
        }
    }
    Exit::Internal
}

/// The error and its causes on one line, each cause once: a cause whose text its parent
/// already quotes is not repeated.
pub fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
