//! `tenants.json`: the index of a multi-tenant run's folder. Each tenant's run is an
//! ordinary run folder under `tenants/<name>/`; this names them, their verdicts, and what
//! the noisy-neighbour check compared.

use serde::{Deserialize, Serialize};

use super::{RunStatus, Status};
use crate::plan::tenants::TenantLoad;
use crate::verdict::neighbour::NeighbourEvidence;

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
