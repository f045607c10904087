//! capacity: what a release can take and what it needs. Pure formulas (the Universal
//! Scalability Law fit, Erlang C), the sizing they lead to, and the capacity report over stored
//! runs. Reads `RunResult`s only; never sees the engine.

pub mod erlang;
pub mod markdown;
pub mod report;
pub mod slo;
pub mod usl;
