//! `annotations.json`: what a run posted to the dashboards (Grafana) and how each request
//! went, so that `peakgate verdict` re-judges a stored run to the same bytes as `run`.

use serde::{Deserialize, Serialize};

/// The artifact's file name in a run folder.
pub const ANNOTATIONS: &str = "annotations.json";
/// Schema tag of `annotations.json`.
pub const ANNOTATIONS_SCHEMA: &str = "peakgate.annotations/1";

/// Every annotation a run made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotations {
    pub schema: String,
    /// The region on Grafana (`[annotations.grafana]`).
    pub grafana: GrafanaAnnotation,
}

/// The region a run posts at its start and patches at its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrafanaAnnotation {
    /// Grafana's base URL (it never holds credentials).
    pub url: String,
    /// The annotation's id, as Grafana answered the start request.
    pub id: Option<u64>,
    /// Start of the region, epoch milliseconds.
    pub time_ms: i64,
    /// End of the region, epoch milliseconds: the planned end at start, the actual end once
    /// patched.
    pub time_end_ms: i64,
    /// The tags last sent.
    pub tags: Vec<String>,
    /// `POST /api/annotations` before the load.
    pub start: Outcome,
    /// `PATCH /api/annotations/:id` once the verdict is known.
    pub end: Outcome,
}

/// How one request went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: OutcomeStatus,
    /// Grafana's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// Grafana's `message`, or what went wrong, scrubbed of secrets.
    pub message: String,
}

/// Whether a request did what it was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeStatus {
    /// Grafana answered 200 with what its API documents.
    Ok,
    /// Not sent (no token), not answered (down, refused, timeout), or answered otherwise.
    Failed,
    /// Not sent because the start request failed: there is no annotation to patch.
    Skipped,
}

impl Outcome {
    pub fn ok(http_status: u16, message: impl Into<String>) -> Outcome {
        Outcome {
            status: OutcomeStatus::Ok,
            http_status: Some(http_status),
            message: message.into(),
        }
    }

    pub fn failed(http_status: Option<u16>, message: impl Into<String>) -> Outcome {
        Outcome {
            status: OutcomeStatus::Failed,
            http_status,
            message: message.into(),
        }
    }

    pub fn skipped(message: impl Into<String>) -> Outcome {
        Outcome {
            status: OutcomeStatus::Skipped,
            http_status: None,
            message: message.into(),
        }
    }
}
