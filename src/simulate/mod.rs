//! simulate: what-if runs without a server. A discrete-event simulation of Odoo's worker pool
//! (and an optional database connection pool) under a profile's own arrival process, with each
//! step's service time drawn from a calibration run's measured histograms. Its output is a
//! `RunResult` marked as simulated, so everything that reads runs reads it too.

pub mod calibrate;
pub mod des;
pub mod odoo_log;
mod route;
