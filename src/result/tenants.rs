//! `tenants.json`: the index of a multi-tenant run's folder. Each tenant's run is an
//! ordinary run folder under `tenants/<name>/`; this names them, their verdicts, and what
//! the noisy-neighbour check compared.

use serde::{Deserialize, Serialize};

use super::{LatencyComparison, RunStatus, Status};
use crate::plan::tenants::TenantLoad;

/// Schema tag of `tenants.json`.
pub const TENANTS_SCHEMA: &str = "peakgate.tenants/1";
/// Its file name in the run folder.
pub const TENANTS_FILE: &str = "tenants.json";

/// A multi-tenant run, as `tenants.json` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantsIndex {
    /// [`TENANTS_SCHEMA`].
    pub schema: String,
    pub run_id: String,
    pub profile: String,
    pub release: Option<String>,
    /// The worst of the tenants' ends: `interrupted` over `aborted` over `completed`.
    pub status: RunStatus,
    /// The overall verdict (verdict.json's).
    pub verdict: Status,
    /// Every tenant, in the profile's order.
    pub tenants: Vec<TenantEntry>,
    /// What the noisy-neighbour check compared (absent without `[noisy_neighbour]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noisy_neighbour: Option<NeighbourEvidence>,
}

/// One tenant of a multi-tenant run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantEntry {
    pub name: String,
    pub database: String,
    /// Its own Odoo, when it is not the profile's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub load: TenantLoad,
    /// Its run folder, relative to this one (`tenants/<name>`), and its run id.
    pub dir: String,
    pub run_id: String,
    pub status: RunStatus,
    /// Its own verdict (its folder's verdict.json), and the checks that did not pass.
    pub verdict: Status,
    pub not_passed: Vec<String>,
    /// Requests and failed requests.
    pub requests: u64,
    pub errors: u64,
}

/// `(from_s, to_s)` spans of a run's clock.
pub type Windows = Vec<(f64, f64)>;

/// What the noisy-neighbour check compared, as `tenants.json` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighbourEvidence {
    pub canary: String,
    /// `(from_s, to_s)` on the canary's clock of the quiet and the loaded stages.
    pub quiet_s: Windows,
    pub loaded_s: Windows,
    /// Family-wise significance level, and the per-step level after Bonferroni.
    pub alpha: f64,
    pub alpha_per_step: f64,
    /// One comparison per step measured often enough on both sides: `baseline` is the
    /// quiet side, `candidate` the loaded one.
    pub latency: Vec<LatencyComparison>,
    /// Steps left out, and why.
    pub not_compared: Vec<String>,
}
