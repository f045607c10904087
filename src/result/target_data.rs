//! `target-data.json`: what the preflight learnt and discovery read from the target.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `target-data.json`: what the preflight learnt and discovery read from the target, kept in
/// the run folder. No secret is in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetData {
    /// `peakgate.target-data/1`.
    pub schema: String,
    pub url: String,
    /// The server's `server_version` and the serie the scenarios were planned for.
    pub server_version: String,
    pub odoo_version: String,
    pub database: String,
    pub login: String,
    /// The load-test user's id.
    pub uid: Value,
    /// JSON-RPC calls discovery made, and how long they took.
    pub discovery_calls: u32,
    pub discovery_ms: u64,
    /// Each data set the scenarios use: columns and rows.
    pub datasets: BTreeMap<String, StoredTable>,
    /// Data sets replaced by a CSV file of the profile (`[data]`), by file.
    #[serde(default)]
    pub overrides: BTreeMap<String, String>,
    /// What the run prepared on the target (POS sessions opened) and cleaned up after.
    #[serde(default)]
    pub preparation: Vec<PreparedAction>,
}

/// One data set as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// Something the run did to the target outside the measured load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PreparedAction {
    /// e.g. `open pos.session 12 (config Shop)`.
    pub action: String,
    pub ok: bool,
    /// What Odoo answered, in words.
    pub detail: String,
    pub duration_ms: u64,
}

pub const TARGET_DATA_SCHEMA: &str = "peakgate.target-data/1";
