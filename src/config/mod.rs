//! config: the files users write (profiles, scenarios, CSV data), parsed and checked.
//!
//! Owns reading and shape-checking; everything here ends in typed values that `plan` turns
//! into an immutable [`crate::plan::Plan`]. Errors name the file and line (or key).

pub mod annotations;
pub mod data;
mod error;
pub mod gate;
pub mod probes;
pub mod profile;
pub mod scenario;

pub use error::ConfigError;
