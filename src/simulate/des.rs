//! The discrete-event simulation of Odoo's prefork server: `workers` processes each serve one
//! request at a time and the rest wait FIFO (the listen backlog); optionally a pool of
//! `db_connections` database connections that a worker must hold while it serves (FIFO too).
//!
//! The load is the plan's own: the engine's [`Arrivals`] (same curve, seed, mix, so the same
//! arrival times as a real run of the plan), journeys that run their steps in order with the
//! steps' think times, `max_in_flight` drops, the shared pool of logged-in sessions (a journey
//! that finds none logs in first), the request timeout. Each request's service time is drawn from
//! its step's calibrated law; a step's time outside any worker (client and network, from the
//! calibration) delays its arrival at the server's queue. Every outcome goes through the real
//! [`Recorder`], so the figures, timeline and `latency.hlog` are those of a run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use rand::distr::Distribution;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::calibrate::{Failures, ServiceLaw};
use crate::config::profile::ModelKind;
use crate::config::scenario::SessionKind;
use crate::engine::scheduler::Arrivals;
use crate::engine::{ErrorKind, Event, Failure, Sample};
use crate::metrics::hlog::HlogWriter;
use crate::metrics::{Figures, Recorder};
use crate::plan::generator::JourneyRng;
use crate::plan::{AUTH_STEP_ID, Plan};
use crate::result::{LatencySummary, Queueing};

/// The server being simulated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Server {
    /// Odoo HTTP workers: requests served at once.
    pub workers: usize,
    /// Database connections the workers share; `None`: never short (Odoo's per-process
    /// `db_maxconn` cannot bind in prefork, where a worker serves one request at a time).
    pub db_connections: Option<usize>,
}

/// What the calibration gives the simulation, per step id.
pub struct Laws {
    /// Service law per step id (`None` for a step never measured, e.g. an unused login).
    pub service: Vec<Option<ServiceLaw>>,
    /// Failure rate and label per step id.
    pub failures: Vec<Option<Failures>>,
    /// Per step id: time of a request outside any worker, seconds (the client's lateness and
    /// the network both ways), spent before it reaches the server's queue. Empty: none.
    pub outside_s: Vec<f64>,
}

/// The outcome of one simulation.
pub struct Simulated {
    pub figures: Figures,
    pub queueing: Queueing,
    /// Events processed (arrivals, request starts and ends, think-time ends).
    pub events: u64,
    /// Simulated seconds from t0 to the last event.
    pub duration_s: f64,
}

/// Why a plan cannot be simulated.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SimulateError {
    #[error("--workers must be at least 1")]
    NoWorkers,
    #[error(
        "the scenarios log in, but the calibration run has no `session/authenticate` measurements"
    )]
    NoLoginLaw,
}

#[derive(Clone, Copy)]
enum Ev {
    Arrival,
    /// Journey slot ready to send its current step.
    Send(usize),
    /// Journey slot's request reaches the server (after its time outside any worker).
    Reach(usize),
    /// Journey slot's request finished service.
    Done(usize),
    /// Closed model: terminal ready to start its next journey (or to check it is open).
    Terminal(usize),
}

struct Journey {
    scenario: usize,
    /// Index of the step being run; `usize::MAX` while logging in.
    step: usize,
    intended_s: f64,
    sent_s: f64,
    /// When the request reached the server's queue: its wait counts from here.
    reached_s: f64,
    /// The journey's planned start: its latency counts from here.
    arrival_s: f64,
    has_session: bool,
    /// The closed-model terminal running it (`None`: an open-model arrival).
    terminal: Option<usize>,
}

const LOGIN: usize = usize::MAX;

fn ns(t: f64) -> u64 {
    (t * 1e9).round() as u64
}

fn dur(t: f64) -> Duration {
    Duration::from_secs_f64(t.max(0.0))
}

/// Runs the plan against the simulated server; writes the interval log when `hlog` is given.
pub fn run<W: Write>(
    plan: &Plan,
    laws: &Laws,
    server: Server,
    hlog: Option<HlogWriter<W>>,
) -> Result<Simulated, SimulateError> {
    if server.workers == 0 {
        return Err(SimulateError::NoWorkers);
    }
    let logs_in: Vec<bool> = plan
        .scenarios
        .iter()
        .map(|s| {
            s.session == SessionKind::User || s.steps.iter().any(|st| st.call.needs_password())
        })
        .collect();
    if logs_in.iter().any(|x| *x) && laws.service[AUTH_STEP_ID].is_none() {
        return Err(SimulateError::NoLoginLaw);
    }
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (live, _) = tokio::sync::watch::channel(Default::default());
    let mut recorder = Recorder::new(
        plan.step_names.clone(),
        step_scenarios(plan),
        plan.scenarios.iter().map(|s| s.name.clone()).collect(),
        hlog,
        in_flight.clone(),
        live,
    );
    let mut sim = Sim {
        plan,
        laws,
        server,
        logs_in,
        heap: BinaryHeap::new(),
        seq: 0,
        journeys: Vec::new(),
        free_slots: Vec::new(),
        worker_queue: VecDeque::new(),
        db_queue: VecDeque::new(),
        busy_workers: 0,
        busy_connections: 0,
        sessions: 0,
        logins_pending: 0,
        journeys_in_flight: 0,
        rng: JourneyRng::seed_from_u64(plan.seed ^ 0x5EED_0000_0051_u64.rotate_left(29)),
        waits: Histogram::new(3).expect("3 significant digits is valid"),
        waited: 0,
        busy_time_s: 0.0,
        last_change_s: 0.0,
        q: Queueing::default(),
        second: (0, 0, 0),
        events: 0,
        timeout_s: plan.load.timeout_ms as f64 / 1000.0,
        terminal_sessions: Vec::new(),
    };
    sim.waits.auto(true);
    let mut arrivals = Arrivals::new(
        plan.load.curve.clone(),
        plan.load.arrivals,
        plan.stage_mix.clone(),
        plan.seed,
    );
    let closed = plan.load.model == ModelKind::Closed;
    let mut next_arrival = if closed { None } else { arrivals.next() };
    if let Some(a) = &next_arrival {
        sim.push(a.at_s, Ev::Arrival);
    }
    if closed {
        // Terminal i runs while the curve's level is above i, as in the engine.
        let terminals = plan.load.curve.peak().ceil() as usize;
        sim.terminal_sessions = vec![false; terminals];
        for i in 0..terminals {
            sim.push(0.0, Ev::Terminal(i));
        }
    }
    let mut now = 0.0;
    while let Some(Reverse((t, _, EvKey(ev)))) = sim.heap.pop() {
        now = t as f64 / 1e9;
        sim.events += 1;
        sim.tick(now);
        match ev {
            Ev::Arrival => {
                let a = next_arrival
                    .take()
                    .expect("an arrival event has its arrival");
                sim.arrive(a.scenario, a.at_s, None, &mut recorder);
                in_flight.store(sim.journeys_in_flight, Ordering::Relaxed);
                next_arrival = arrivals.next();
                if let Some(a) = &next_arrival {
                    sim.push(a.at_s, Ev::Arrival);
                }
            }
            Ev::Send(j) => sim.send(j, now),
            Ev::Reach(j) => sim.reach(j, now),
            Ev::Terminal(i) => {
                let curve = &plan.load.curve;
                if now >= curve.duration_s() {
                    continue;
                }
                if curve.level_at(now) <= i as f64 {
                    // Not this terminal's turn yet: the store has not opened this till.
                    sim.push(now + 0.1, Ev::Terminal(i));
                } else {
                    let stage = curve.stage_index(now).min(plan.stage_mix.len() - 1);
                    let scenario = plan.stage_mix[stage].sample(&mut sim.rng);
                    sim.arrive(scenario, now, Some(i), &mut recorder);
                    in_flight.store(sim.journeys_in_flight, Ordering::Relaxed);
                }
            }
            Ev::Done(j) => {
                sim.done(j, now, &mut recorder);
                in_flight.store(sim.journeys_in_flight, Ordering::Relaxed);
            }
        }
    }
    sim.tick(now + 1.0);
    let figures = recorder.finish(dur(now));
    let mut q = sim.q;
    q.wait_ms = LatencySummary::from_micros(&sim.waits);
    let requests = sim.waits.len().max(1);
    q.waited_share = sim.waited as f64 / requests as f64;
    q.worker_utilization = if now > 0.0 {
        sim.busy_time_s / (server.workers as f64 * now)
    } else {
        0.0
    };
    Ok(Simulated {
        figures,
        queueing: q,
        events: sim.events,
        duration_s: now,
    })
}

/// Scenario index of each step id (`None` for the shared login step).
pub fn step_scenarios(plan: &Plan) -> Vec<Option<usize>> {
    let mut out = vec![None; plan.step_names.len()];
    for (i, s) in plan.scenarios.iter().enumerate() {
        for step in &s.steps {
            out[step.id] = Some(i);
        }
    }
    out
}

struct Sim<'a> {
    plan: &'a Plan,
    laws: &'a Laws,
    server: Server,
    logs_in: Vec<bool>,
    heap: BinaryHeap<Reverse<(u64, u64, EvKey)>>,
    seq: u64,
    journeys: Vec<Journey>,
    free_slots: Vec<usize>,
    worker_queue: VecDeque<usize>,
    db_queue: VecDeque<usize>,
    busy_workers: usize,
    busy_connections: usize,
    /// Logged-in sessions of the engine's shared pool (at most the plan's `logins`).
    sessions: usize,
    /// Pool logins under way.
    logins_pending: usize,
    journeys_in_flight: usize,
    rng: JourneyRng,
    /// Queue wait of every request, µs.
    waits: Histogram<u64>,
    waited: u64,
    busy_time_s: f64,
    last_change_s: f64,
    q: Queueing,
    /// (second, longest queue in it, most busy workers in it).
    second: (u64, usize, usize),
    events: u64,
    timeout_s: f64,
    /// Closed model: whether each terminal holds a logged-in session of its own.
    terminal_sessions: Vec<bool>,
}

/// An event in the heap, ordered by (time, sequence) only.
#[derive(Clone, Copy)]
struct EvKey(Ev);

impl PartialEq for EvKey {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for EvKey {}
impl PartialOrd for EvKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for EvKey {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Sim<'_> {
    fn push(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((ns(t), self.seq, EvKey(ev))));
    }

    /// Keeps the busy-time integral and the per-second queue series up to `now`.
    fn tick(&mut self, now: f64) {
        self.busy_time_s += self.busy_workers as f64 * (now - self.last_change_s).max(0.0);
        self.last_change_s = now;
        let s = now as u64;
        while self.second.0 < s {
            let (t, queue, busy) = self.second;
            self.q.queue_series.push([t as f64, queue as f64]);
            self.q.busy_series.push([t as f64, busy as f64]);
            self.second = (t + 1, self.worker_queue.len(), self.busy_workers);
        }
        self.note_levels();
    }

    fn note_levels(&mut self) {
        let (_, queue, busy) = &mut self.second;
        *queue = (*queue).max(self.worker_queue.len());
        *busy = (*busy).max(self.busy_workers);
        self.q.max_queue = self.q.max_queue.max(self.worker_queue.len());
        self.q.peak_connections = self.q.peak_connections.max(self.busy_connections);
    }

    fn arrive<W: Write>(
        &mut self,
        scenario: usize,
        at: f64,
        terminal: Option<usize>,
        recorder: &mut Recorder<W>,
    ) {
        // Terminals are never dropped: they wait for their previous journey.
        let started = terminal.is_some() || self.journeys_in_flight < self.plan.load.max_in_flight;
        recorder.record(Event::Arrival {
            at: dur(at),
            started,
        });
        if !started {
            return;
        }
        self.journeys_in_flight += 1;
        let mut j = Journey {
            scenario,
            step: 0,
            intended_s: at,
            sent_s: at,
            reached_s: at,
            arrival_s: at,
            has_session: false,
            terminal,
        };
        if self.logs_in[scenario] {
            if let Some(i) = terminal {
                j.has_session = self.terminal_sessions[i];
                if !j.has_session {
                    j.step = LOGIN;
                }
            } else if self.sessions > 0
                && (self.sessions >= self.plan.load.logins || self.logins_pending > 0)
            {
                // The engine's shared pool: a journey logs in only while the pool may grow
                // and no other login is under way. (When there is no session yet and a login
                // is under way the engine waits for it; here that journey logs in too.)
                j.has_session = true;
            } else {
                self.logins_pending += 1;
                j.step = LOGIN;
            }
        }
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.journeys[s] = j;
                s
            }
            None => {
                self.journeys.push(j);
                self.journeys.len() - 1
            }
        };
        self.send(slot, at);
    }

    /// The client sends the request; it reaches the server after its time outside.
    fn send(&mut self, j: usize, now: f64) {
        self.journeys[j].sent_s = now;
        let id = self.step_id(&self.journeys[j]);
        match self.laws.outside_s.get(id) {
            Some(o) if *o > 0.0 => self.push(now + o, Ev::Reach(j)),
            _ => self.reach(j, now),
        }
    }

    /// The request reaches the server: a free worker takes it, or it queues.
    fn reach(&mut self, j: usize, now: f64) {
        self.journeys[j].reached_s = now;
        if self.busy_workers < self.server.workers {
            self.busy_workers += 1;
            self.connect(j, now);
        } else {
            self.worker_queue.push_back(j);
        }
        self.note_levels();
    }

    /// A worker holds the request; it needs a connection before service starts.
    fn connect(&mut self, j: usize, now: f64) {
        match self.server.db_connections {
            Some(max) if self.busy_connections >= max => self.db_queue.push_back(j),
            _ => {
                self.busy_connections += 1;
                self.serve(j, now);
            }
        }
    }

    fn step_id(&self, j: &Journey) -> usize {
        if j.step == LOGIN {
            AUTH_STEP_ID
        } else {
            self.plan.scenarios[j.scenario].steps[j.step].id
        }
    }

    fn serve(&mut self, j: usize, now: f64) {
        let id = self.step_id(&self.journeys[j]);
        let service = self.laws.service[id]
            .as_ref()
            .map_or(0.0, |l| l.draw(&mut self.rng));
        let wait = now - self.journeys[j].reached_s;
        let _ = self.waits.record((wait * 1e6) as u64);
        if wait > 0.0 {
            self.waited += 1;
        }
        self.push(now + service, Ev::Done(j));
    }

    fn done<W: Write>(&mut self, j: usize, now: f64, recorder: &mut Recorder<W>) {
        // The connection and the worker go to the next in line.
        self.busy_connections -= 1;
        if let Some(next) = self.db_queue.pop_front() {
            self.busy_connections += 1;
            self.serve(next, now);
        }
        self.busy_workers -= 1;
        if let Some(next) = self.worker_queue.pop_front() {
            self.busy_workers += 1;
            self.connect(next, now);
        }
        self.note_levels();

        let journey = &self.journeys[j];
        let id = self.step_id(journey);
        let (intended, sent) = (journey.intended_s, journey.sent_s);
        let mut end = now;
        let mut error = None;
        if now - sent > self.timeout_s {
            // The client gave up; the server still did the work (Odoo never notices).
            end = sent + self.timeout_s;
            error = Some(Failure::new(ErrorKind::Timeout, "simulated timeout"));
        } else if let Some(f) = &self.laws.failures[id]
            && self.rng.random::<f64>() < f.rate
        {
            error = Some(Failure::new(
                ErrorKind::Rpc(Arc::from(f.kind.as_str())),
                "simulated at the calibration run's error rate",
            ));
        }
        let ok = error.is_none();
        recorder.record(Event::Step(Sample {
            step: id,
            intended: dur(intended),
            sent: dur(sent),
            end: dur(end),
            error,
            redirects: 0,
        }));
        let journey = &mut self.journeys[j];
        let steps = &self.plan.scenarios[journey.scenario].steps;
        if journey.step == LOGIN && journey.terminal.is_none() {
            self.logins_pending = self.logins_pending.saturating_sub(1);
            if ok {
                self.sessions = (self.sessions + 1).min(self.plan.load.logins);
            }
        }
        let next = if !ok {
            None
        } else if journey.step == LOGIN {
            journey.has_session = true;
            Some((0, end))
        } else if journey.step + 1 < steps.len() {
            Some((
                journey.step + 1,
                end + steps[journey.step].think.as_secs_f64(),
            ))
        } else {
            None
        };
        match next {
            Some((step, at)) => {
                journey.step = step;
                journey.intended_s = at;
                if at > now {
                    self.push(at, Ev::Send(j));
                } else {
                    self.send(j, now);
                }
            }
            None => {
                recorder.record(Event::Journey {
                    scenario: journey.scenario,
                    intended: dur(journey.arrival_s),
                    end: dur(end),
                    ok,
                });
                let (terminal, has_session) = (journey.terminal, journey.has_session);
                if let Some(i) = terminal {
                    // The terminal keeps its session and starts again after its pacing
                    // (from now at the earliest: a timed-out request ended in the past).
                    self.terminal_sessions[i] |= has_session;
                    let pacing_s = self.plan.load.pacing_ms as f64 / 1000.0;
                    self.push(end.max(now) + pacing_s, Ev::Terminal(i));
                }
                self.journeys_in_flight -= 1;
                self.free_slots.push(j);
            }
        }
    }
}

#[cfg(test)]
mod tests;
