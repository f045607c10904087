//! Exit codes (DESIGN.md), and the one function that maps an error to one.

use std::process::ExitCode;

use crate::config::ConfigError;
use crate::result::OpenError;
use crate::session::SessionError;
use crate::simulate::des::SimulateError;
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
            return if o.is_input() {
                Exit::BadInput
            } else {
                Exit::Internal
            };
        }
        if let Some(s) = cause.downcast_ref::<crate::store::StoreError>() {
            return if s.is_input() {
                Exit::BadInput
            } else {
                Exit::Internal
            };
        }
        if let Some(m) = cause.downcast_ref::<crate::result::merge::MergeError>() {
            return if m.is_input() {
                Exit::BadInput
            } else {
                Exit::Internal
            };
        }
        if let Some(r) = cause.downcast_ref::<crate::result::ResultError>() {
            return if r.is_input() {
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
            || cause.is::<SimulateError>()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn exit_of(e: impl Into<anyhow::Error>) -> Exit {
        for_error(&e.into())
    }

    #[test]
    fn a_dead_recorder_or_probe_thread_or_a_failed_write_is_5_never_a_pass() {
        assert_eq!(
            exit_of(SessionError::Recorder("task panicked".into())),
            Exit::Internal
        );
        assert_eq!(
            exit_of(SessionError::ProbeThread(
                "the probe thread ended without its reports".into()
            )),
            Exit::Internal
        );
        let write = SessionError::Write {
            path: "run.json".into(),
            source: std::io::Error::other("No space left on device"),
        };
        assert_eq!(exit_of(write), Exit::Internal);
        // Under context added on the way up, the typed cause still decides.
        let wrapped = anyhow::Error::from(SessionError::Recorder("x".into())).context("the run");
        assert_eq!(for_error(&wrapped), Exit::Internal);
        // An error of no known kind fails closed.
        assert_eq!(
            exit_of(anyhow::anyhow!("something unforeseen")),
            Exit::Internal
        );
    }

    #[test]
    fn the_users_mistakes_are_2() {
        assert_eq!(
            exit_of(UsageError("--scale and --baseline".into())),
            Exit::BadInput
        );
        assert_eq!(
            exit_of(SessionError::Target("not a URL".into())),
            Exit::BadInput
        );
        assert_eq!(
            exit_of(OpenError::NotARun {
                dir: "/tmp/x".into()
            }),
            Exit::BadInput
        );
        // A run folder whose own artifact is missing is not the user's mistake.
        assert_eq!(
            exit_of(OpenError::Missing {
                path: "/tmp/x/gate.json".into(),
                why: "test"
            }),
            Exit::Internal
        );
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::other("disk full");
        let e = anyhow::Error::from(SessionError::Write {
            path: "r/run.json".into(),
            source: io,
        });
        assert_eq!(message(&e), "cannot write r/run.json: disk full");
    }
}
