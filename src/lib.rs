//! peakgate: load tests and capacity simulation for retail Odoo releases.
//!
//! Data flows one way: `config` → `target` (preflight and the target's data) → `plan` →
//! `engine` → `metrics` → `result`; `odoo` is the protocol they all speak; `probes` run
//! beside the engine on the same clock; `verdict` and `report` work from a stored or fresh
//! `RunResult`. `session` is the life of one run through those stages; the `cli` is a thin
//! layer of flags and terminal output over it, and `standin` is the built-in Odoo-compatible
//! target. `traffic` sits before it all: it turns access logs into profiles. `change` comes
//! after: it judges a change to production (its policy, the retail calendar's freezes) on
//! stored runs' verdicts and writes the change record. `annotate` marks a run on Grafana:
//! from the plan at its start, with the verdict at its end. `store` keeps judged run folders
//! (a local directory or S3-compatible object storage), finds the last accepted run to compare
//! with, and draws the trend across releases.
//! `result::merge` makes one run of the
//! shards of a sharded run; `k8s` writes the manifests that run the shards on a cluster.

pub mod annotate;
pub mod capacity;
pub mod change;
pub mod cli;
pub mod config;
pub mod engine;
pub mod k8s;
pub mod metrics;
pub mod odoo;
pub mod plan;
pub mod probes;
pub mod report;
pub mod result;
pub mod secrets;
pub mod session;
pub mod simulate;
pub mod standin;
pub mod store;
pub mod target;
pub mod traffic;
pub mod verdict;
