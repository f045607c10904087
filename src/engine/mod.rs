//! engine: turns a [`Plan`] into load. The scheduler decides when each journey should start;
//! journeys run as tasks and report [`Event`]s over a channel. The engine keeps no
//! measurements: the recorder in `metrics` owns them.

pub mod journey;
pub mod sample;
pub mod scheduler;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::distr::Distribution;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use sample::{ErrorKind, Event, Failure, Sample};

use crate::config::profile::ModelKind;
use crate::odoo::OdooClient;
use crate::plan::generator::JourneyRng;
use crate::plan::shard::Shard;
use crate::plan::{Credentials, Plan};
use journey::{JourneyContext, SessionSlot};
use scheduler::{Arrival, Arrivals};

/// The resolved target: where to send, and who to log in as.
#[derive(Clone)]
pub struct Connection {
    pub client: OdooClient,
    pub credentials: Option<Credentials>,
    /// Logged-in sessions to start with (the preflight's login), shared by open-model journeys.
    pub sessions: Vec<crate::odoo::UserSession>,
}

/// What the engine shares with the rest of the run.
#[derive(Clone)]
pub struct Wiring {
    /// Where events go (the recorder).
    pub events: mpsc::UnboundedSender<Event>,
    /// Journeys started and not yet finished; owned by the engine, read by observers.
    pub in_flight: Arc<AtomicUsize>,
    /// Cancelled to stop the load early (ctrl-c, abort condition).
    pub stop: CancellationToken,
    /// The run's clock origin.
    pub t0: Instant,
    /// How long in-flight journeys may finish after a stop before they are abandoned.
    pub grace: Duration,
    /// Cancelled to abandon in-flight journeys at once (the grace ran out, or a second ctrl-c).
    pub abandon: CancellationToken,
    /// Differs on every run: mixed into ids the target must never see twice.
    pub run_nonce: u64,
    /// The share of the plan this process runs (the whole plan: 0/1).
    pub shard: Shard,
}

/// How the load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every planned journey was started (or dropped) and all finished.
    Completed,
    /// `stop` was cancelled before the plan was done.
    Stopped,
}

/// Runs the plan's load against `conn` until it is done or `wiring.stop` is cancelled.
pub async fn run(plan: Arc<Plan>, conn: Connection, wiring: Wiring) -> Ending {
    // The plan's logins are shared out like its journeys: all shards together log in about
    // as many sessions as the single run.
    let logins = wiring.shard.share_of(plan.load.logins);
    let sessions = journey::SessionPool::new(logins, conn.sessions);
    let ctx = Arc::new(JourneyContext {
        client: conn.client,
        credentials: conn.credentials,
        sessions,
        events: wiring.events.clone(),
        t0: wiring.t0,
        seed: plan.seed,
        run_nonce: wiring.run_nonce,
    });
    let tracker = TaskTracker::new();
    let abandon = &wiring.abandon;
    let planned_to_end = match plan.load.model {
        ModelKind::Open => open(&plan, &ctx, &wiring, &tracker, abandon).await,
        ModelKind::Closed => closed(&plan, &ctx, &wiring, &tracker, abandon).await,
    };
    tracker.close();
    if planned_to_end {
        tokio::select! {
            _ = tracker.wait() => return Ending::Completed,
            _ = wiring.stop.cancelled() => {}
        }
    }
    if tokio::time::timeout(wiring.grace, tracker.wait())
        .await
        .is_err()
    {
        abandon.cancel();
        tracker.wait().await;
    }
    Ending::Stopped
}

/// Sleeps until each arrival's intended start and hands it to `launch`; returns false when
/// `stop` cut the plan short.
pub async fn pace(
    arrivals: impl Iterator<Item = Arrival>,
    t0: Instant,
    stop: &CancellationToken,
    mut launch: impl FnMut(Arrival, Instant),
) -> bool {
    for a in arrivals {
        let at = t0 + Duration::from_secs_f64(a.at_s);
        if at > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = stop.cancelled() => return false,
            }
        } else if stop.is_cancelled() {
            return false;
        }
        launch(a, at);
    }
    true
}

async fn open(
    plan: &Arc<Plan>,
    ctx: &Arc<JourneyContext>,
    w: &Wiring,
    tracker: &TaskTracker,
    abandon: &CancellationToken,
) -> bool {
    let arrivals = Arrivals::new(
        plan.load.curve.clone(),
        plan.load.arrivals,
        plan.stage_mix.clone(),
        plan.seed,
    )
    // Arrivals keep their single-run numbers: a shard's journeys draw what they would alone.
    .filter(|a| w.shard.owns(a.seq));
    let max = w.shard.share_of(plan.load.max_in_flight);
    let planned = pace(arrivals, w.t0, &w.stop, |a, at| {
        let started = w.in_flight.load(Ordering::Relaxed) < max;
        ctx.emit(Event::Arrival {
            at: at - w.t0,
            started,
        });
        if !started {
            return;
        }
        w.in_flight.fetch_add(1, Ordering::Relaxed);
        let (ctx, scenario) = (ctx.clone(), plan.scenarios[a.scenario].clone());
        let (abandon, in_flight) = (abandon.clone(), w.in_flight.clone());
        tracker.spawn(async move {
            tokio::select! {
                _ = journey::run(&ctx, &scenario, a.scenario, a.seq, at, SessionSlot::Pooled) => {}
                _ = abandon.cancelled() => {}
            }
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    })
    .await;
    // The plan's time after its last arrival (a quiet stage at rate 0, a ramp down to 0) is
    // part of the run: the timeline and the probes go on until the plan ends.
    planned && hold_until(w.t0 + plan.duration(), &w.stop).await
}

/// Waits until `end`; false when `stop` came first.
async fn hold_until(end: Instant, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(end) => true,
        _ = stop.cancelled() => false,
    }
}

/// Closed model: terminal `i` is active while the curve's level is above `i`; it loops
/// journeys with its own session and `pacing` between them.
async fn closed(
    plan: &Arc<Plan>,
    ctx: &Arc<JourneyContext>,
    w: &Wiring,
    tracker: &TaskTracker,
    abandon: &CancellationToken,
) -> bool {
    let terminals = plan.load.curve.peak().ceil() as usize;
    let seq = Arc::new(AtomicU64::new(0));
    for i in (0..terminals).filter(|i| w.shard.owns(*i as u64)) {
        let (plan, ctx, w, seq, abandon) = (
            plan.clone(),
            ctx.clone(),
            w.clone(),
            seq.clone(),
            abandon.clone(),
        );
        tracker.spawn(async move {
            tokio::select! {
                _ = terminal(i, &plan, &ctx, &w, &seq) => {}
                _ = abandon.cancelled() => {}
            }
        });
    }
    hold_until(w.t0 + plan.duration(), &w.stop).await
}

/// A closed-model terminal: one virtual user with its own session.
struct Terminal<'a> {
    plan: &'a Plan,
    ctx: &'a JourneyContext,
    w: &'a Wiring,
    seq: &'a AtomicU64,
    session: Option<crate::odoo::UserSession>,
}

impl Terminal<'_> {
    /// Runs scenario `scenario` as one journey intended at `intended`.
    async fn journey(&mut self, scenario: usize, intended: Instant) {
        self.ctx.emit(Event::Arrival {
            at: intended - self.w.t0,
            started: true,
        });
        self.w.in_flight.fetch_add(1, Ordering::Relaxed);
        let n = (self.w.shard).journey_number(self.seq.fetch_add(1, Ordering::Relaxed));
        let s = &self.plan.scenarios[scenario];
        journey::run(
            self.ctx,
            s,
            scenario,
            n,
            intended,
            SessionSlot::Owned(&mut self.session),
        )
        .await;
        self.w.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn terminal(i: usize, plan: &Plan, ctx: &JourneyContext, w: &Wiring, seq: &AtomicU64) {
    let curve = &plan.load.curve;
    let total = curve.duration_s();
    let pacing = Duration::from_millis(plan.load.pacing_ms);
    let mut rng =
        JourneyRng::seed_from_u64(plan.seed ^ (i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut till = Terminal {
        plan,
        ctx,
        w,
        seq,
        session: None,
    };
    let mut open = false;
    let mut next = w.t0;
    loop {
        let now = Instant::now();
        let t = now.saturating_duration_since(w.t0).as_secs_f64();
        let active = t < total && !w.stop.is_cancelled() && curve.level_at(t) > i as f64;
        if open && !active {
            // The till closes: the curve retired it, or the run is over.
            if let Some(teardown) = plan.teardown
                && !w.stop.is_cancelled()
            {
                till.journey(teardown, now).await;
            }
            open = false;
        }
        if t >= total || w.stop.is_cancelled() {
            return;
        }
        if !active {
            // Not this terminal's turn yet: the store has not opened this till.
            next = now + Duration::from_millis(100);
        } else {
            if !open {
                open = true;
                if let Some(setup) = plan.setup {
                    till.journey(setup, next.max(w.t0)).await;
                    next = Instant::now() + pacing;
                }
            }
            let stage = curve.stage_index(t).min(plan.stage_mix.len() - 1);
            let scenario = plan.stage_mix[stage].sample(&mut rng);
            till.journey(scenario, next.max(w.t0)).await;
            next = Instant::now() + pacing;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = w.stop.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::ArrivalKind;
    use crate::plan::Curve;
    use rand::distr::weighted::WeightedIndex;

    fn curve() -> Curve {
        Curve::new([
            ("ramp".into(), Duration::from_secs(10), 0.0, 20.0),
            ("hold".into(), Duration::from_secs(10), 20.0, 20.0),
        ])
    }

    /// Launches under paused time, counting launches per whole second of the run clock.
    async fn launched_per_second(kind: ArrivalKind, seed: u64) -> Vec<u32> {
        let t0 = Instant::now();
        let mut per_second = vec![0u32; 20];
        let arrivals = Arrivals::new(
            curve(),
            kind,
            vec![WeightedIndex::new([1.0]).unwrap()],
            seed,
        );
        let done = pace(arrivals, t0, &CancellationToken::new(), |a, at| {
            // Launched at its intended time, never early, and on the run clock.
            let now = Instant::now();
            assert!(
                now >= at && now - at < Duration::from_millis(2),
                "late launch"
            );
            assert!((at - t0).as_secs_f64() - a.at_s < 1e-6);
            per_second[(at - t0).as_secs() as usize] += 1;
        })
        .await;
        assert!(done);
        per_second
    }

    #[tokio::test(start_paused = true)]
    async fn uniform_launches_follow_the_ramp_exactly() {
        let n = launched_per_second(ArrivalKind::Uniform, 1).await;
        // Ramp 0 → 20/s over 10 s: second k holds the area 2k+1; then 20 per second.
        let expected: Vec<u32> = (0..10).map(|k| 2 * k + 1).chain([20; 10]).collect();
        assert_eq!(n, expected);
        assert_eq!(n[..10].iter().sum::<u32>(), 100);
        assert_eq!(n[10..].iter().sum::<u32>(), 200);
    }

    #[tokio::test(start_paused = true)]
    async fn poisson_launches_per_stage_stay_within_statistical_bounds() {
        // 200 seeds: each stage's count is Poisson with mean 100 (ramp) and 200 (hold).
        let (mut ramp, mut hold) = (Vec::new(), Vec::new());
        for seed in 0..200 {
            let n = launched_per_second(ArrivalKind::Poisson, seed).await;
            ramp.push(n[..10].iter().sum::<u32>() as f64);
            hold.push(n[10..].iter().sum::<u32>() as f64);
        }
        for (counts, mean) in [(ramp, 100.0), (hold, 200.0)] {
            let m = counts.iter().sum::<f64>() / counts.len() as f64;
            let var =
                counts.iter().map(|c| (c - m).powi(2)).sum::<f64>() / (counts.len() - 1) as f64;
            // Mean within 4 standard errors; variance ≈ mean (the Poisson signature).
            assert!(
                (m - mean).abs() < 4.0 * (mean / 200.0_f64).sqrt(),
                "mean {m} vs {mean}"
            );
            assert!((var / mean - 1.0).abs() < 0.35, "variance {var} vs {mean}");
            // No single run strays beyond 5 sigma.
            assert!(counts.iter().all(|c| (c - mean).abs() < 5.0 * mean.sqrt()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_pacing_early() {
        let stop = CancellationToken::new();
        let t0 = Instant::now();
        let s = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            s.cancel();
        });
        let mut last = 0.0;
        let arrivals = Arrivals::new(
            curve(),
            ArrivalKind::Uniform,
            vec![WeightedIndex::new([1.0]).unwrap()],
            1,
        );
        let done = pace(arrivals, t0, &stop, |a, _| last = a.at_s).await;
        assert!(!done);
        assert!(last < 5.0 && last > 4.0, "last launch at {last}");
    }
}
