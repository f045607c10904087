//! A shard's part of a run: the wait for the common start (`--start-at`) and `shard.hlog`,
//! the whole-run histograms `peakgate merge` needs beside latency.hlog.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;

use super::{SessionError, Shutdown};
use crate::metrics::hlog::HlogWriter;

/// Sleeps until `at` (or a stop); returns the wall clock the load starts at. A start already
/// past is taken at once and said: the merge measures how far its shards' starts spread.
pub(super) async fn wait_for_start(at: SystemTime, shutdown: &Shutdown, quiet: bool) -> SystemTime {
    let now = SystemTime::now();
    match at.duration_since(now) {
        Ok(wait) => {
            if !quiet {
                eprintln!(
                    "peakgate: waiting {:.1}s for --start-at {}",
                    wait.as_secs_f64(),
                    humantime::format_rfc3339_millis(at)
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.stopping().cancelled() => {}
            }
            at
        }
        Err(late) => {
            eprintln!(
                "peakgate: --start-at {} had passed {:.3}s before the preflight ended: starting now",
                humantime::format_rfc3339_millis(at),
                late.duration().as_secs_f64()
            );
            now
        }
    }
}

/// Writes `shard.hlog`: the whole-run histograms a merge needs beside latency.hlog.
pub(super) fn write_log(
    path: &Path,
    started_at: SystemTime,
    whole_run: &BTreeMap<String, Histogram<u64>>,
) -> Result<(), SessionError> {
    let mut bytes = Vec::new();
    let mut log = HlogWriter::new(&mut bytes, started_at);
    for (tag, h) in whole_run {
        log.interval(tag, h, Duration::ZERO, Duration::ZERO)
            .map_err(|source| SessionError::Write {
                path: path.to_path_buf(),
                source,
            })?;
    }
    super::write_file(path, &bytes)
}
