//! standin: the built-in Odoo-compatible target. It speaks the subset of Odoo's
//! HTTP/JSON-RPC protocol the scenarios use and has Odoo's capacity shape: a fixed pool of
//! workers, each serving one request at a time, service times drawn from configured laws,
//! release variants, and stall windows. Two backends: `memory` (no dependencies) and
//! `postgres` (real SQL on a retail schema, sessions in Redis).

pub mod access_log;
pub mod catalog;
pub mod config;
mod databases;
mod memory;
pub mod odoo;
pub mod pg;
mod records;
mod server;
mod sessions;
mod shop;

pub use access_log::AccessLog;
pub use config::StandinConfig;
pub use databases::Databases;
pub use server::{Backend, RunningStandin, STATS_PATH, start, start_with};
