//! The recorder: the one owner of every histogram and counter. It consumes engine events,
//! closes a window each second (timeline entry, interval log, live figures), and at the end
//! hands back the run's figures. Memory depends on steps and seconds, not on requests.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::hlog::HlogWriter;
use super::host::HostSampler;
use crate::engine::{Event, Sample};
use crate::result::figures::{
    ErrorMessage, GeneratorSummary, GeneratorWindow, KINDS_PER_STEP, LatencySummary, MESSAGE_CHARS,
    MESSAGES_PER_KIND, Quantiles, ScenarioWindow, TimelineEntry, Totals, Transaction,
};
use crate::secrets::Scrubber;

/// Latest figures for a live display; published once a second.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Seconds of the run closed so far.
    pub elapsed_s: u64,
    /// Journeys planned and started in the last closed second.
    pub planned_per_s: u64,
    pub started_per_s: u64,
    /// Journeys finished in the last closed second (the closed model's rate: it plans none).
    pub finished_per_s: u64,
    /// p95 of requests in the last closed second, ms.
    pub p95_ms: f64,
    pub requests: u64,
    pub errors: u64,
    pub dropped: u64,
    pub in_flight: u64,
}

/// Everything the recorder measured.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub totals: Totals,
    /// Keyed `scenario/step` for requests and `scenario` for whole journeys.
    pub transactions: BTreeMap<String, Transaction>,
    pub timeline: Vec<TimelineEntry>,
    /// The load generator's health over the run.
    pub generator: GeneratorSummary,
    /// The whole run's histograms (µs) that latency.hlog does not hold, by [`whole_run`]
    /// tag: what `shard.hlog` stores so that a merge of shards is exact.
    pub whole_run: BTreeMap<String, Histogram<u64>>,
}

/// Tags of [`Figures::whole_run`]: each step's service time, each scenario's journey latency
/// and service time, and the generator's scheduling lateness.
pub mod whole_run {
    pub const LATENESS: &str = "lateness";
    pub fn service(step: &str) -> String {
        format!("service:{step}")
    }
    pub fn journey(scenario: &str) -> String {
        format!("journey:{scenario}")
    }
    pub fn journey_service(scenario: &str) -> String {
        format!("journey-service:{scenario}")
    }
}

/// How long after a second ends its window stays open for late events.
const WINDOW_GRACE: Duration = Duration::from_millis(250);

fn histogram() -> Histogram<u64> {
    // Microseconds, 3 significant digits; grows to the largest value seen.
    let mut h = Histogram::new(3).expect("3 significant digits is valid");
    h.auto(true);
    h
}

#[derive(Clone)]
struct Acc {
    latency: Histogram<u64>,
    service: Histogram<u64>,
    count: u64,
    errors: BTreeMap<String, u64>,
    messages: Vec<ErrorMessage>,
    redirects: u64,
}

impl Acc {
    fn new() -> Self {
        Acc {
            latency: histogram(),
            service: histogram(),
            count: 0,
            errors: BTreeMap::new(),
            messages: Vec::new(),
            redirects: 0,
        }
    }
    /// The kind a failure is counted under: its own, or `other` once the step has
    /// [`KINDS_PER_STEP`] kinds.
    fn kind_for(&self, label: String) -> String {
        if self.errors.contains_key(&label) || self.errors.len() < KINDS_PER_STEP - 1 {
            label
        } else {
            "other".into()
        }
    }
    fn record(&mut self, latency: Duration, service: Duration, error: Option<String>) {
        // Auto-resizing histograms accept any value; the error case cannot happen.
        let _ = self.latency.record((latency.as_micros() as u64).max(1));
        let _ = self.service.record((service.as_micros() as u64).max(1));
        self.count += 1;
        if let Some(e) = error {
            *self.errors.entry(e).or_default() += 1;
        }
    }
    /// Keeps a failure's message: counted if already seen, kept if its kind has room.
    fn note(&mut self, kind: &str, message: String, at_s: u64) {
        if let Some(m) = self
            .messages
            .iter_mut()
            .find(|m| m.kind == kind && m.message == message)
        {
            m.count += 1;
            m.last_s = at_s;
        } else if self.messages.iter().filter(|m| m.kind == kind).count() < MESSAGES_PER_KIND {
            self.messages.push(ErrorMessage {
                kind: kind.to_string(),
                message,
                count: 1,
                first_s: at_s,
                last_s: at_s,
            });
        }
    }
    fn transaction(&self) -> Transaction {
        Transaction {
            count: self.count,
            errors: self.errors.clone(),
            messages: self.messages.clone(),
            latency_ms: LatencySummary::from_micros(&self.latency),
            service_ms: LatencySummary::from_micros(&self.service),
            redirects: self.redirects,
        }
    }
}

/// The open one-second window.
struct Window {
    index: u64,
    entry: TimelineEntry,
    all: Histogram<u64>,
    /// Scheduling lateness (µs) of the requests recorded in this window.
    lateness: Histogram<u64>,
    /// The recorder's largest lag in this window, µs.
    lag_us: u64,
    steps: Vec<Histogram<u64>>,
    scenarios: Vec<(Histogram<u64>, u64, u64)>,
}

/// Owns the measurements of one run.
pub struct Recorder<W: Write> {
    step_names: Vec<String>,
    scenario_names: Vec<String>,
    /// Scenario index of each step (`None` for the shared login step).
    step_scenario: Vec<Option<usize>>,
    steps: Vec<Acc>,
    journeys: Vec<Acc>,
    totals: Totals,
    window: Window,
    timeline: Vec<TimelineEntry>,
    hlog: Option<HlogWriter<W>>,
    in_flight: Arc<AtomicUsize>,
    live: watch::Sender<Live>,
    /// Receives each second's entry as it closes (the live abort watch); set once.
    feed: Option<mpsc::UnboundedSender<TimelineEntry>>,
    scrubber: Scrubber,
    /// Scheduling lateness (µs) of every request, and the largest recorder lag (µs).
    lateness: Histogram<u64>,
    lag_max_us: u64,
    /// Reads the host's figures as each window closes (only in a live run).
    host: Option<HostSampler>,
}

impl<W: Write> Recorder<W> {
    /// `step_scenario[i]` says which scenario step `i` belongs to.
    pub fn new(
        step_names: Vec<String>,
        step_scenario: Vec<Option<usize>>,
        scenario_names: Vec<String>,
        hlog: Option<HlogWriter<W>>,
        in_flight: Arc<AtomicUsize>,
        live: watch::Sender<Live>,
    ) -> Self {
        let window = Window::new(0, step_names.len(), scenario_names.len());
        Recorder {
            steps: vec![Acc::new(); step_names.len()],
            journeys: vec![Acc::new(); scenario_names.len()],
            step_names,
            scenario_names,
            step_scenario,
            totals: Totals::default(),
            window,
            timeline: Vec::new(),
            hlog,
            in_flight,
            live,
            feed: None,
            scrubber: Scrubber::default(),
            lateness: histogram(),
            lag_max_us: 0,
            host: None,
        }
    }

    /// Also reads the host's CPU figures as each second closes (`metrics::host`).
    pub fn with_host_sampler(mut self) -> Self {
        self.host = Some(HostSampler::new());
        self
    }

    /// Scrubs these secrets from every failure message kept.
    pub fn with_scrubber(mut self, scrubber: Scrubber) -> Self {
        self.scrubber = scrubber;
        self
    }

    /// Also sends every closed second's timeline entry to `feed`, in order, each once.
    pub fn with_timeline_feed(mut self, feed: mpsc::UnboundedSender<TimelineEntry>) -> Self {
        self.feed = Some(feed);
        self
    }

    /// Consumes events until the channel closes or `finish` fires, closing windows as the
    /// clock passes them; then returns the figures.
    pub async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        t0: Instant,
        finish: tokio_util::sync::CancellationToken,
    ) -> Figures {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                biased;
                e = events.recv() => match e {
                    Some(e) => {
                        if let Some(at) = e.at() {
                            let now = Instant::now().saturating_duration_since(t0);
                            self.lagged(now.saturating_sub(at));
                        }
                        self.record(e)
                    }
                    None => break,
                },
                _ = tick.tick() => self.close_due(t0),
                _ = finish.cancelled() => {
                    while let Ok(e) = events.try_recv() {
                        self.record(e);
                    }
                    break;
                }
            }
        }
        let end = Instant::now().saturating_duration_since(t0);
        self.finish(end)
    }

    /// Closes every window whose second ended more than the grace ago.
    fn close_due(&mut self, t0: Instant) {
        let now = Instant::now().saturating_duration_since(t0);
        while Duration::from_secs(self.window.index + 1) + WINDOW_GRACE <= now {
            self.close_window();
        }
    }

    /// Notes how long after it happened an event reached the recorder.
    fn lagged(&mut self, lag: Duration) {
        let us = lag.as_micros() as u64;
        self.lag_max_us = self.lag_max_us.max(us);
        self.window.lag_us = self.window.lag_us.max(us);
    }

    /// Takes in one event.
    pub fn record(&mut self, event: Event) {
        match event {
            Event::Arrival { at, started } => {
                self.totals.planned += 1;
                if started {
                    self.totals.started += 1;
                } else {
                    self.totals.dropped += 1;
                }
                let e = &mut self.slot_for(at).entry;
                e.planned += 1;
                if started {
                    e.started += 1;
                } else {
                    e.dropped += 1;
                }
            }
            Event::Step(s) => self.record_step(s),
            Event::Journey {
                scenario,
                intended,
                end,
                ok,
            } => {
                let latency = end.saturating_sub(intended);
                self.journeys[scenario].record(
                    latency,
                    latency,
                    (!ok).then(|| "failed_step".to_string()),
                );
                self.slot_for(end).entry.journeys += 1;
                self.totals.journeys += 1;
                if !ok {
                    self.totals.journeys_failed += 1;
                }
            }
            Event::Reauthenticated => self.totals.reauthentications += 1,
        }
    }

    fn record_step(&mut self, s: Sample) {
        let latency = s.latency();
        let label = s
            .error
            .as_ref()
            .map(|e| self.steps[s.step].kind_for(e.kind.label()));
        if let (Some(kind), Some(e)) = (&label, &s.error) {
            let text: String = self.scrubber.scrub(&e.message);
            let text: String = text.chars().take(MESSAGE_CHARS).collect();
            self.steps[s.step].note(kind, text, s.end.as_secs());
        }
        self.steps[s.step].record(latency, s.service(), label.clone());
        self.steps[s.step].redirects += u64::from(s.redirects);
        self.totals.requests += 1;
        let scenario = self.step_scenario[s.step];
        let late = (s.sent.saturating_sub(s.intended).as_micros() as u64).max(1);
        let _ = self.lateness.record(late);
        let w = self.slot_for(s.end);
        let us = (latency.as_micros() as u64).max(1);
        let _ = w.all.record(us);
        let _ = w.lateness.record(late);
        let _ = w.steps[s.step].record(us);
        w.entry.requests += 1;
        if let Some(sc) = scenario {
            let (h, n, errors) = &mut w.scenarios[sc];
            let _ = h.record(us);
            *n += 1;
            *errors += u64::from(label.is_some());
        }
        if let Some(l) = label {
            w.entry.errors += 1;
            *w.entry.errors_by_kind.entry(l).or_default() += 1;
            self.totals.errors += 1;
        }
    }

    /// The window an event at `at` counts in: its own second, or the open one if that
    /// second was already closed (a late event is never lost).
    fn slot_for(&mut self, at: Duration) -> &mut Window {
        while at.as_secs() > self.window.index {
            self.close_window();
        }
        &mut self.window
    }

    fn close_window(&mut self) {
        let w = &mut self.window;
        w.entry.t = w.index;
        w.entry.in_flight = self.in_flight.load(Ordering::Relaxed) as u64;
        w.entry.latency_ms = Quantiles::from_micros(&w.all);
        let ms = |us: u64| us as f64 / 1000.0;
        let host = self
            .host
            .as_mut()
            .map(HostSampler::sample)
            .unwrap_or_default();
        let round = |x: Option<f64>| x.map(|v| (v * 1000.0).round() / 1000.0);
        w.entry.generator = GeneratorWindow {
            lateness_p99_ms: if w.lateness.is_empty() {
                0.0
            } else {
                ms(w.lateness.value_at_quantile(0.99))
            },
            lateness_max_ms: ms(w.lateness.max()),
            recorder_lag_ms: ms(w.lag_us),
            cpu_cores: round(host.cpu_cores),
            runqueue_wait: round(host.runqueue_wait),
            host_busy: round(host.host_busy),
            host_steal: round(host.host_steal),
            cpu_pressure: round(host.cpu_pressure),
            load1: host.load1,
        };
        for (i, (h, n, errors)) in w.scenarios.iter().enumerate() {
            if *n > 0 {
                w.entry.scenarios.insert(
                    self.scenario_names[i].clone(),
                    ScenarioWindow {
                        requests: *n,
                        errors: *errors,
                        latency_ms: Quantiles::from_micros(h),
                    },
                );
            }
        }
        if let Some(log) = &mut self.hlog {
            for (i, h) in w.steps.iter().enumerate().filter(|(_, h)| !h.is_empty()) {
                let (start, length) = (Duration::from_secs(w.index), Duration::from_secs(1));
                if let Err(e) = log.interval(&self.step_names[i], h, start, length) {
                    // Keep measuring; the summary in run.json still has every figure.
                    eprintln!("peakgate: latency.hlog stopped: {e}");
                    self.hlog = None;
                    break;
                }
            }
        }
        self.live.send_replace(Live {
            elapsed_s: w.index + 1,
            planned_per_s: w.entry.planned,
            started_per_s: w.entry.started,
            finished_per_s: w.entry.journeys,
            p95_ms: w.entry.latency_ms.p95,
            requests: self.totals.requests,
            errors: self.totals.errors,
            dropped: self.totals.dropped,
            in_flight: w.entry.in_flight,
        });
        if let Some(feed) = &self.feed {
            // A closed entry is final: late events go to the open window.
            let _ = feed.send(w.entry.clone());
        }
        self.timeline.push(std::mem::take(&mut w.entry));
        w.reset();
    }

    /// Closes the windows up to `end` and returns the figures.
    pub fn finish(mut self, end: Duration) -> Figures {
        let last = end.as_secs_f64().ceil().max(1.0) as u64;
        while self.window.index < last {
            self.close_window();
        }
        let mut transactions = BTreeMap::new();
        for (i, acc) in self.steps.iter().enumerate().filter(|(_, a)| a.count > 0) {
            transactions.insert(self.step_names[i].clone(), acc.transaction());
        }
        for (i, acc) in self
            .journeys
            .iter()
            .enumerate()
            .filter(|(_, a)| a.count > 0)
        {
            transactions.insert(self.scenario_names[i].clone(), acc.transaction());
        }
        let mut whole_run = BTreeMap::new();
        for (i, acc) in self.steps.iter().enumerate().filter(|(_, a)| a.count > 0) {
            whole_run.insert(whole_run::service(&self.step_names[i]), acc.service.clone());
        }
        for (i, acc) in self
            .journeys
            .iter()
            .enumerate()
            .filter(|(_, a)| a.count > 0)
        {
            let name = &self.scenario_names[i];
            whole_run.insert(whole_run::journey(name), acc.latency.clone());
            whole_run.insert(whole_run::journey_service(name), acc.service.clone());
        }
        if !self.lateness.is_empty() {
            whole_run.insert(whole_run::LATENESS.to_string(), self.lateness.clone());
        }
        let generator = GeneratorSummary::new(
            &self.lateness,
            self.lag_max_us as f64 / 1000.0,
            &self.timeline,
        );
        Figures {
            totals: self.totals,
            transactions,
            timeline: self.timeline,
            generator,
            whole_run,
        }
    }
}

impl Window {
    /// Empties the window for the next second, keeping its allocations.
    fn reset(&mut self) {
        self.index += 1;
        self.all.reset();
        self.lateness.reset();
        self.lag_us = 0;
        self.steps.iter_mut().for_each(Histogram::reset);
        for (h, n, errors) in &mut self.scenarios {
            h.reset();
            *n = 0;
            *errors = 0;
        }
    }

    fn new(index: u64, steps: usize, scenarios: usize) -> Self {
        Window {
            index,
            entry: TimelineEntry::default(),
            all: histogram(),
            lateness: histogram(),
            lag_us: 0,
            steps: vec![histogram(); steps],
            scenarios: vec![(histogram(), 0, 0); scenarios],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_feed_gets_each_closed_second_once_in_order() {
        let (live, _) = watch::channel(Live::default());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut r = Recorder::<Vec<u8>>::new(
            vec!["s/a".into()],
            vec![Some(0)],
            vec!["s".into()],
            None,
            Arc::new(AtomicUsize::new(0)),
            live,
        )
        .with_timeline_feed(tx);
        r.record(Event::Arrival {
            at: Duration::from_millis(1500),
            started: true,
        });
        let figures = r.finish(Duration::from_millis(2500));
        let mut fed = Vec::new();
        while let Ok(e) = rx.try_recv() {
            fed.push(e);
        }
        assert_eq!(fed.iter().map(|e| e.t).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(fed[1].planned, 1);
        assert_eq!(fed, figures.timeline);
    }
}
