//! The live progress line on stderr: the run clock against the planned length, journeys/s
//! (planned vs started in the open model; finished in the closed model, which plans none),
//! p95, errors, in flight, dropped. Hidden with `--quiet` and when stderr is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::profile::ModelKind;
use crate::metrics::Live;

/// Shows progress until the `live` channel closes; returns the bar so the caller can clear it.
/// Its timer and position are the run's clock from `t0`, the clock of the timeline and the
/// summary, not the bar's own (which started later and lagged the closed seconds).
pub async fn show(
    mut live: watch::Receiver<Live>,
    total: Duration,
    t0: Instant,
    model: ModelKind,
    quiet: bool,
) -> ProgressBar {
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let total_s = total.as_secs().max(1);
    let bar = ProgressBar::with_draw_target(Some(total_s), target).with_elapsed(t0.elapsed());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:24} {pos}/{len}s  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            changed = live.changed() => {
                if changed.is_err() {
                    break;
                }
                let l = live.borrow_and_update().clone();
                bar.set_message(message(&l, model));
            }
            _ = tick.tick() => {}
        }
        bar.set_position(t0.elapsed().as_secs().min(total_s));
    }
    bar
}

/// The figures after the bar, from the last closed second.
pub fn message(l: &Live, model: ModelKind) -> String {
    let rate = match model {
        // Open: arrivals are planned, so planned against started says whether it keeps up.
        ModelKind::Open => format!("{}/{} journeys/s", l.started_per_s, l.planned_per_s),
        // Closed: terminals loop, nothing is planned per second; say what they finish.
        ModelKind::Closed => format!("{} journeys/s finished", l.finished_per_s),
    };
    format!(
        "{rate}  p95 {:.1} ms  errors {}  in flight {}  dropped {}",
        l.p95_ms, l.errors, l.in_flight, l.dropped
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_model_progress_line_says_journeys_finished_not_0_of_0() {
        let l = Live {
            elapsed_s: 3,
            finished_per_s: 7,
            in_flight: 5,
            ..Live::default()
        };
        let closed = message(&l, ModelKind::Closed);
        assert!(closed.starts_with("7 journeys/s finished"), "{closed}");
        assert!(!closed.contains("0/0"), "{closed}");
        let open = message(
            &Live {
                planned_per_s: 20,
                started_per_s: 19,
                ..l
            },
            ModelKind::Open,
        );
        assert!(open.starts_with("19/20 journeys/s"), "{open}");
    }

    #[tokio::test(start_paused = true)]
    async fn closed_model_progress_timer_agrees_with_the_run_clock() {
        // The bar is made 3 s after t0 (probes connecting, the first second closing): its
        // timer and position still count from t0.
        let t0 = Instant::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        let (tx, rx) = watch::channel(Live::default());
        let shown = tokio::spawn(show(
            rx,
            Duration::from_secs(10),
            t0,
            ModelKind::Closed,
            true,
        ));
        tokio::time::advance(Duration::from_millis(1500)).await;
        tx.send_replace(Live {
            elapsed_s: 4,
            ..Live::default()
        });
        tokio::time::advance(Duration::from_millis(300)).await;
        drop(tx);
        let bar = shown.await.unwrap();
        // 4.8 s on the run clock (5 s if a last tick ran), not the 1.8 s since the bar began.
        assert!((4..=5).contains(&bar.position()), "{}", bar.position());
        // indicatif's timer runs on the real clock: it starts at the 3 s already run.
        assert!(
            bar.elapsed() >= Duration::from_secs(3),
            "{:?}",
            bar.elapsed()
        );
    }
}
