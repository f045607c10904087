//! peakgate: load tests and capacity simulation for retail Odoo releases.
//!
//! Data flows one way: `config` → `plan` → `engine` → `metrics` → `result`; the `cli` wires
//! them together, and `standin` is the built-in Odoo-compatible target. `traffic` sits
//! before it all: it turns access logs into profiles, the files users write.

pub mod cli;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod result;
pub mod standin;
pub mod traffic;
pub mod verdict;
