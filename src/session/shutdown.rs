//! One shutdown for the process: SIGINT (ctrl-c), SIGTERM (CI runners, `timeout`, Kubernetes,
//! `docker stop`) and SIGHUP (a closed terminal) all stop work the same way. The first signal
//! stops new work ([`Shutdown::stopping`]); the second, at least [`SECOND_SIGNAL_AFTER`] later,
//! abandons what is still in flight ([`Shutdown::abandoning`]). `main` builds it once and
//! passes it down.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// A repeat of the stop sooner than this is the same stop delivered twice, not a second one.
pub const SECOND_SIGNAL_AFTER: Duration = Duration::from_millis(500);

/// The process's stop requests. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    stop: CancellationToken,
    abandon: CancellationToken,
    /// The name of the first signal received.
    signal: Arc<OnceLock<&'static str>>,
}

async fn recv(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// The next stopping signal's name.
async fn next(
    int: &mut Option<Signal>,
    term: &mut Option<Signal>,
    hup: &mut Option<Signal>,
) -> &'static str {
    tokio::select! {
        _ = recv(int) => "SIGINT",
        _ = recv(term) => "SIGTERM",
        _ = recv(hup) => "SIGHUP",
    }
}

impl Shutdown {
    /// Listens for the stopping signals from now on, on the current Tokio runtime (call it
    /// inside one). `grace` is how long in-flight work may finish after the first signal, when
    /// there is such work; it is only said on stderr.
    pub fn listen(grace: Option<Duration>) -> Shutdown {
        let shutdown = Shutdown::default();
        let (mut int, mut term, mut hup) = (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::hangup()).ok(),
        );
        let s = shutdown.clone();
        tokio::spawn(async move {
            let first = next(&mut int, &mut term, &mut hup).await;
            let _ = s.signal.set(first);
            s.stop.cancel();
            match grace {
                Some(grace) => eprintln!(
                    "\npeakgate: {first}: stopping; in-flight journeys have {} to finish (a second signal stops them now)",
                    humantime::format_duration(grace)
                ),
                None => eprintln!("\npeakgate: {first}: stopping"),
            }
            // `timeout` and some supervisors deliver one stop twice (to the process, then to
            // its group) within microseconds: only a signal a moment later is a second one.
            let first_at = tokio::time::Instant::now();
            loop {
                let second = next(&mut int, &mut term, &mut hup).await;
                if first_at.elapsed() >= SECOND_SIGNAL_AFTER {
                    eprintln!("\npeakgate: {second}: abandoning what is still in flight");
                    break;
                }
            }
            s.abandon.cancel();
        });
        shutdown
    }

    /// Cancelled by the first signal. A child token can be cancelled on its own (an abort
    /// rule) and is cancelled with it.
    pub fn stopping(&self) -> &CancellationToken {
        &self.stop
    }

    /// Cancelled by the second signal: abandon what is in flight.
    pub fn abandoning(&self) -> &CancellationToken {
        &self.abandon
    }

    /// The first signal received, if any.
    pub fn signal(&self) -> Option<&'static str> {
        self.signal.get().copied()
    }
}
