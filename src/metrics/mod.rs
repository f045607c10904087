//! metrics: the recorder that owns every histogram and counter of a run, the per-second
//! timeline, and the HdrHistogram interval log.

pub mod hlog;
pub mod recorder;
pub mod summary;

pub use recorder::{Figures, Live, Recorder};
pub use summary::{
    ErrorMessage, LatencySummary, Quantiles, ScenarioWindow, TimelineEntry, Totals, Transaction,
};
