//! peakgate: load tests and capacity simulation for retail Odoo releases.
//!
//! Data flows one way: `config` → `plan` → `engine` → `metrics` → `result`; the `cli` wires
//! them together, and `standin` is the built-in Odoo-compatible target.

pub mod capacity;
pub mod cli;
pub mod config;
pub mod engine;
pub mod metrics;
pub mod plan;
pub mod result;
pub mod simulate;
pub mod standin;
