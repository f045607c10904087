//! Runs the probes: connects them before the load (a required probe that cannot connect is
//! an error naming it), then samples each at its interval from t0 until told to stop,
//! recording gaps and reconnecting with backoff. Everything runs on one thread with its own
//! single-threaded runtime; its CPU time is the probes' whole cost.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::track::{Readings, Track};
use super::{Shared, canary, postgres, prometheus, redis};
use crate::plan::{ProbeKind, ProbeSpec};
use crate::result::ProbeReport;

/// How long a probe may take to connect before the load starts.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// Most intervals a disconnected probe waits between two reconnection attempts.
const MAX_BACKOFF_INTERVALS: u64 = 8;

/// One kind of probe: a connection and the sample it takes through it.
pub trait Probe: Send + 'static {
    /// Opens the connection (or checks that the endpoint answers).
    fn connect(&mut self) -> impl Future<Output = Result<(), String>> + Send;
    /// Reads one sample; an error drops the connection.
    fn sample(&mut self) -> impl Future<Output = Result<Readings, String>> + Send;
    /// Forgets the connection after a failure.
    fn disconnect(&mut self);
    /// What the probe looked for and did not find.
    fn missing(&self) -> Vec<String>;
}

/// Every probe kind, as one type the runner can hold.
enum AnyProbe {
    Postgres(Box<postgres::PostgresProbe>),
    Redis(redis::RedisProbe),
    Canary(canary::CanaryProbe),
    Prometheus(prometheus::PrometheusProbe),
}

impl Probe for AnyProbe {
    async fn connect(&mut self) -> Result<(), String> {
        match self {
            AnyProbe::Postgres(p) => p.connect().await,
            AnyProbe::Redis(p) => p.connect().await,
            AnyProbe::Canary(p) => p.connect().await,
            AnyProbe::Prometheus(p) => p.connect().await,
        }
    }
    async fn sample(&mut self) -> Result<Readings, String> {
        match self {
            AnyProbe::Postgres(p) => p.sample().await,
            AnyProbe::Redis(p) => p.sample().await,
            AnyProbe::Canary(p) => p.sample().await,
            AnyProbe::Prometheus(p) => p.sample().await,
        }
    }
    fn disconnect(&mut self) {
        match self {
            AnyProbe::Postgres(p) => p.disconnect(),
            AnyProbe::Redis(p) => p.disconnect(),
            AnyProbe::Canary(p) => p.disconnect(),
            AnyProbe::Prometheus(p) => p.disconnect(),
        }
    }
    fn missing(&self) -> Vec<String> {
        match self {
            AnyProbe::Postgres(p) => p.missing(),
            AnyProbe::Redis(p) => p.missing(),
            AnyProbe::Canary(p) => p.missing(),
            AnyProbe::Prometheus(p) => p.missing(),
        }
    }
}

/// Why the probes could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Required probes that could not connect, each with the reason.
    #[error("{}", .0.iter().map(|(k, e)| format!("probe `{k}` cannot connect: {e}")).collect::<Vec<_>>().join("; "))]
    Unreachable(Vec<(ProbeKind, String)>),
    /// The probes' thread or runtime could not be started.
    #[error("cannot start the probes: {0}")]
    Thread(String),
}

/// What the probes measured, and what measuring cost.
#[derive(Debug)]
pub struct Finished {
    /// By probe name.
    pub reports: BTreeMap<String, ProbeReport>,
    /// CPU time of the probe thread from t0 to the end (Linux; `None` elsewhere).
    pub cpu: Option<Duration>,
    /// Wall time over which `cpu` was spent.
    pub wall: Duration,
}

/// The probes of a run, connected and waiting for t0.
pub struct ProbeSet {
    /// Taken when sampling begins.
    go: Option<oneshot::Sender<Instant>>,
    stop: CancellationToken,
    done: oneshot::Receiver<Finished>,
}

impl ProbeSet {
    /// Starts the probe thread and connects every probe; `canary_base` is the run's target.
    pub async fn connect(
        specs: Vec<ProbeSpec>,
        canary_base: String,
        shared: Shared,
    ) -> Result<ProbeSet, StartError> {
        let (started_tx, started_rx) = oneshot::channel();
        let (go, go_rx) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        let stop = CancellationToken::new();
        let thread_stop = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("peakgate-probes".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = started_tx.send(Err(StartError::Thread(e.to_string())));
                        return;
                    }
                };
                runtime.block_on(probe_thread(
                    specs,
                    canary_base,
                    shared,
                    started_tx,
                    go_rx,
                    thread_stop,
                    done_tx,
                ));
            });
        if let Err(e) = spawned {
            return Err(StartError::Thread(e.to_string()));
        }
        match started_rx.await {
            Ok(Ok(())) => Ok(ProbeSet {
                go: Some(go),
                stop,
                done,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StartError::Thread(
                "the probe thread ended before connecting".into(),
            )),
        }
    }

    /// Starts sampling on the run's clock.
    pub fn begin(&mut self, t0: Instant) {
        if let Some(go) = self.go.take() {
            let _ = go.send(t0);
        }
    }

    /// Stops sampling and returns the reports; an error if the probe thread died (its
    /// figures are lost, and a run must not be judged as if it had none).
    pub async fn finish(self) -> Result<Finished, String> {
        self.stop.cancel();
        self.done
            .await
            .map_err(|_| "the probe thread ended without its reports".to_string())
    }
}

async fn probe_thread(
    specs: Vec<ProbeSpec>,
    canary_base: String,
    shared: Shared,
    started: oneshot::Sender<Result<(), StartError>>,
    go: oneshot::Receiver<Instant>,
    stop: CancellationToken,
    done: oneshot::Sender<Finished>,
) {
    // Connect every probe at once, each within the start timeout.
    let mut connecting = JoinSet::new();
    for spec in specs {
        let mut probe = build(&spec, &canary_base, &shared);
        connecting.spawn(async move {
            let outcome = match tokio::time::timeout(START_TIMEOUT, probe.connect()).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "no answer within {}",
                    humantime::format_duration(START_TIMEOUT)
                )),
            };
            (spec, probe, outcome)
        });
    }
    let mut ready = Vec::new();
    let mut failed = Vec::new();
    while let Some(joined) = connecting.join_next().await {
        let Ok((spec, probe, outcome)) = joined else {
            continue;
        };
        match outcome {
            Err(e) if !spec.optional => failed.push((spec.kind, e)),
            other => ready.push((spec, probe, other.err())),
        }
    }
    if !failed.is_empty() {
        failed.sort();
        let _ = started.send(Err(StartError::Unreachable(failed)));
        return;
    }
    let _ = started.send(Ok(()));
    let Ok(t0) = go.await else { return };

    let cpu_start = thread_cpu();
    let mut running = JoinSet::new();
    for (spec, probe, start_error) in ready {
        running.spawn(run_probe(spec, probe, start_error, t0, stop.clone()));
    }
    let mut reports = BTreeMap::new();
    while let Some(joined) = running.join_next().await {
        if let Ok((name, report)) = joined {
            reports.insert(name, report);
        }
    }
    let cpu = match (cpu_start, thread_cpu()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let _ = done.send(Finished {
        reports,
        cpu,
        wall: t0.elapsed(),
    });
}

/// Connects each probe once, within the start timeout, as a run does before its load, and
/// drops it: what `check --preflight` reports. One result per spec, in order.
pub async fn try_connect(specs: &[ProbeSpec], canary_base: &str) -> Vec<Result<(), String>> {
    let shared = Shared {
        in_flight: Default::default(),
        odoo_backends: Default::default(),
    };
    let mut out = Vec::new();
    for spec in specs {
        let mut probe = build(spec, canary_base, &shared);
        let outcome = match tokio::time::timeout(START_TIMEOUT, probe.connect()).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer within {}",
                humantime::format_duration(START_TIMEOUT)
            )),
        };
        probe.disconnect();
        out.push(outcome);
    }
    out
}

fn build(spec: &ProbeSpec, canary_base: &str, shared: &Shared) -> AnyProbe {
    match spec.kind {
        ProbeKind::Postgres => {
            AnyProbe::Postgres(Box::new(postgres::PostgresProbe::new(spec, shared)))
        }
        ProbeKind::Redis => AnyProbe::Redis(redis::RedisProbe::new(spec)),
        ProbeKind::Canary => AnyProbe::Canary(canary::CanaryProbe::new(spec, canary_base, shared)),
        ProbeKind::Prometheus => AnyProbe::Prometheus(prometheus::PrometheusProbe::new(spec)),
    }
}

/// Samples one probe at each tick of its interval from t0 until `stop`.
async fn run_probe(
    spec: ProbeSpec,
    mut probe: AnyProbe,
    start_error: Option<String>,
    t0: Instant,
    stop: CancellationToken,
) -> (String, ProbeReport) {
    let mut track = Track::default();
    let mut connected = start_error.is_none();
    if let Some(e) = start_error {
        track.fail(0.0, e);
    }
    let interval_s = spec.interval.as_secs_f64();
    let mut ticker = tokio::time::interval_at(t0, spec.interval);
    // A tick that could not be taken in time is lost (and shows in the coverage), never
    // made up with a burst.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let (mut failures, mut retry_at) = (0u32, 0u64);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let t = t0.elapsed().as_secs_f64();
        let tick = (t / interval_s).round() as u64;
        if !connected {
            if tick < retry_at {
                continue;
            }
            match bounded(spec.timeout, probe.connect()).await {
                Ok(()) => connected = true,
                Err(e) => {
                    // Backoff: the next attempt 1, 2, 4, then every 8 intervals.
                    failures += 1;
                    track.fail(t, e);
                    retry_at = tick + (1u64 << (failures - 1).min(3)).min(MAX_BACKOFF_INTERVALS);
                    continue;
                }
            }
        }
        // A sample is timed when it is sent (after a reconnection, not at the tick).
        let t = t0.elapsed().as_secs_f64();
        match bounded(spec.timeout, probe.sample()).await {
            Ok(readings) => {
                failures = 0;
                track.record(t, readings);
            }
            Err(e) => {
                track.fail(t, e);
                probe.disconnect();
                connected = false;
                failures = 0;
                retry_at = tick + 1;
            }
        }
    }
    let intervals = (t0.elapsed().as_secs_f64() / interval_s).floor() as u64 + 1;
    let target = match &probe {
        AnyProbe::Canary(c) => c.target(),
        _ => spec.shown_url.clone().unwrap_or_default(),
    };
    let report = track.finish(spec.kind, target, interval_s, intervals, probe.missing());
    (spec.kind.name().to_string(), report)
}

async fn bounded<T>(
    limit: Duration,
    f: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| {
        Err(format!(
            "no answer within {}",
            humantime::format_duration(limit)
        ))
    })
}

/// CPU time this thread has used, from the Linux scheduler's own nanosecond count.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

#[cfg(test)]
mod dead_thread {
    use super::*;

    #[tokio::test]
    async fn a_probe_thread_that_dies_is_an_error_not_empty_reports() {
        let (done_tx, done) = oneshot::channel::<Finished>();
        // The thread dies holding the sender of its reports, as a panic would leave it.
        let died = std::thread::spawn(move || {
            let _reports = done_tx;
            panic!("a probe thread dies");
        })
        .join();
        assert!(died.is_err());
        let set = ProbeSet {
            go: None,
            stop: CancellationToken::new(),
            done,
        };
        let err = set.finish().await.unwrap_err();
        assert!(err.contains("ended without its reports"), "{err}");
    }
}
