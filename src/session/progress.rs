//! The live progress line on stderr: elapsed/total, journeys/s planned vs achieved, p95,
//! errors, in flight, dropped. Hidden with `--quiet` and when stderr is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use crate::metrics::Live;

/// Shows progress until the `live` channel closes; returns the bar so the caller can clear it.
pub async fn show(mut live: watch::Receiver<Live>, total: Duration, quiet: bool) -> ProgressBar {
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total.as_secs().max(1)), target);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:24} {pos}/{len}s  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    while live.changed().await.is_ok() {
        let l = live.borrow_and_update().clone();
        bar.set_position(l.elapsed_s.min(total.as_secs().max(1)));
        bar.set_message(format!(
            "{}/{} journeys/s  p95 {:.1} ms  errors {}  in flight {}  dropped {}",
            l.started_per_s, l.planned_per_s, l.p95_ms, l.errors, l.in_flight, l.dropped
        ));
    }
    bar
}
