//! metrics: the recorder that owns every histogram and counter of a run, the per-second
//! timeline, the HdrHistogram interval log, and the load generator's own health.

pub mod hlog;
pub mod host;
pub mod recorder;

pub use recorder::{Figures, Live, Recorder, whole_run};
