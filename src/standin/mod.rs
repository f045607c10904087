//! standin: the built-in Odoo-compatible target (memory backend). It speaks the subset of
//! Odoo's HTTP/JSON-RPC protocol the scenarios use and has Odoo's capacity shape: a fixed
//! pool of workers, each serving one request at a time, service times drawn from configured
//! laws, release variants that change them, and stall windows.

pub mod config;
pub mod odoo;
mod server;

pub use config::StandinConfig;
pub use server::{RunningStandin, start};
