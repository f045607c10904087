//! Integration tests: the real `peakgate` binary against the built-in stand-in on loopback.
//! One test binary (STYLE.md); modules by what they pin.

mod common;

mod annotations;
mod bad_input;
mod capacity;
mod change_gate;
mod check;
mod coordinated_omission;
mod differential;
mod gate;
mod interrupt;
mod k8s;
mod pg_gate;
mod pg_standin;
mod pipelines;
mod probes_others;
mod probes_postgres;
mod real_odoo;
mod report;
mod run_smoke;
mod run_trust;
mod serve;
mod shard;
mod simulate_accuracy;
mod standin;
mod store;
mod tenants;
mod traffic;
mod verdict_quality;
