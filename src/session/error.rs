//! Why a run could not be made or could not be trusted.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::probes::StartError;
use crate::target::PrepareError;

/// A run that failed before, during or after its load. [`SessionError::is_input`] says whose
/// mistake it is: the user's input (nothing was judged) or peakgate's own machinery (the run
/// cannot be trusted; never a pass).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The profile, its scenarios, data or an override.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `--target` is not a URL peakgate can drive.
    #[error("--target: {0}")]
    Target(String),
    /// The built-in stand-in did not start.
    #[error("cannot start the built-in stand-in: {0}")]
    Standin(String),
    /// `--wire-log` cannot be opened.
    #[error("--wire-log {}: {source}", path.display())]
    WireLog {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The target failed its preflight or its data could not be read.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// A required probe could not connect.
    #[error("{0} (mark a probe `optional = true` to run without it)")]
    ProbeUnreachable(StartError),
    /// The probes' thread could not start or died during the load.
    #[error("{0}; the run cannot be judged")]
    ProbeThread(String),
    /// The recorder task died: every measurement is lost.
    #[error("the recorder task failed ({0}); the run cannot be judged")]
    Recorder(String),
    /// An artifact could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The built-in stand-in's request log (`odoo.log`) could not be completed.
    #[error("odoo.log: {0}")]
    OdooLog(String),
    /// One tenant of a multi-tenant run failed (its preflight, its load or its artifacts).
    #[error("tenant `{tenant}`: {source}")]
    Tenant {
        tenant: String,
        source: Box<SessionError>,
    },
    /// An artifact could not be serialized.
    #[error("cannot serialize {}: {source}", path.display())]
    Serialize {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl SessionError {
    /// True when the user's input is at fault (exit 2 in DESIGN.md); false for peakgate's own
    /// failures (exit 5).
    pub fn is_input(&self) -> bool {
        match self {
            SessionError::Config(_)
            | SessionError::Target(_)
            | SessionError::Standin(_)
            | SessionError::WireLog { .. }
            | SessionError::Prepare(_)
            | SessionError::ProbeUnreachable(_) => true,
            SessionError::ProbeThread(_)
            | SessionError::Recorder(_)
            | SessionError::Write { .. }
            | SessionError::OdooLog(_)
            | SessionError::Serialize { .. } => false,
            SessionError::Tenant { source, .. } => source.is_input(),
        }
    }
}
