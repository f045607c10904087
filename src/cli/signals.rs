//! The signals that stop a run: SIGINT (ctrl-c), SIGTERM (CI runners, `timeout`, Kubernetes,
//! `docker stop`) and SIGHUP (a closed terminal) all stop it the same way.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// Listens for the stopping signals from the moment it is made: a signal that arrives while
/// nobody waits is kept for the next [`Stops::next`].
pub struct Stops {
    int: Option<Signal>,
    term: Option<Signal>,
    hup: Option<Signal>,
}

async fn recv(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

impl Stops {
    pub fn listen() -> Stops {
        Stops {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
            hup: signal(SignalKind::hangup()).ok(),
        }
    }

    /// The name of the next stopping signal.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = recv(&mut self.int) => "SIGINT",
            _ = recv(&mut self.term) => "SIGTERM",
            _ = recv(&mut self.hup) => "SIGHUP",
        }
    }
}
