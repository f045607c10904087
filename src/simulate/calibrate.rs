//! Calibration: each step's service-time law and failure rate, read from a measured run.
//!
//! A service time is the time a request holds an Odoo worker, without the wait for one: the
//! simulation adds the waits itself. Where a step's law comes from, best first
//! ([`ServiceTimes::Auto`]):
//!
//! 1. **Odoo's request log** ([`odoo_log`]): per request, `query_time + remaining_time`,
//!    counted in the worker from the moment it took the request. It is the run folder's
//!    `odoo.log` (written by the built-in stand-in) or a log given with `--odoo-log` (a real
//!    Odoo's, or `peakgate standin --access-log`). A step reads the lines of its own route:
//!    its method and path (`POST /web/dataset/call_kw/<model>/<method>`, a page's path; a
//!    templated path as a pattern, where an exact route of another step wins). A step is not
//!    taken from the log when its route's log line does not name the call (every `execute_kw`
//!    is `POST /jsonrpc`, every button `POST /web/dataset/call_button`), when
//!    steps calling other things share its route, when its path is only placeholders, or when
//!    it followed redirects in the calibration run (its time spans several requests). Every
//!    line of the log counts, the preflight's and discovery's included.
//! 2. **The run's latency, less its mean wait**: the step's HDR histogram from `latency.hlog`
//!    (from the intended start: for every step but a journey's first, the send; for the first,
//!    the arrival, sent within the scheduler's microseconds), each value scaled by
//!    `(R_step − W) / R_step`, where `W` is the mean wait for a worker in the calibration run,
//!    from Erlang C (M/M/c) times Allen–Cunneen's `(1 + Cs²) / 2` for the spread of service
//!    times: the mean service `S` solves `R = S + W(λ, S, c)`, with `R` the mean latency over
//!    all requests, `λ` their rate and `c` the run's workers. Needs the calibration run's
//!    worker count. An approximation in the mean; the shape is the latency's, scaled.
//! 3. **The run's latency as it is**, which holds the run's queueing: right only for a run
//!    that did not queue ([`Calibration::queueing_hint`] estimates how much it did).
//!
//! `run.json`'s `service_ms` is no service time in this sense: it counts from the client's
//! send, so it holds the wait for a worker (the stand-in's and Odoo's listen backlog), and it
//! keeps seven summary figures, not a distribution.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use rand::{Rng, RngExt};

use super::odoo_log::{OdooLogError, ServerTimes};
use super::route::{RoutePath, StepRoute, route_of};
use crate::capacity::erlang;
use crate::metrics::hlog;
use crate::plan::{AUTH_STEP_ID, Plan};
use crate::result::{ODOO_LOG, RunResult};

/// A service-time law drawn from an HDR histogram: a bucket is chosen by its count, and a value
/// uniformly within the bucket's range of equivalent values.
#[derive(Debug, Clone)]
pub struct ServiceLaw {
    /// (cumulative count, lowest value µs, highest value µs) per non-empty bucket.
    buckets: Vec<(u64, f64, f64)>,
    total: u64,
    /// Mean of the histogram, seconds.
    pub mean_s: f64,
    /// Second moment of the histogram, s².
    pub mean_square_s2: f64,
    /// Measurements behind the law.
    pub count: u64,
}

impl ServiceLaw {
    /// From a histogram of microseconds; `None` when it is empty.
    pub fn from_histogram(h: &Histogram<u64>) -> Option<ServiceLaw> {
        if h.is_empty() {
            return None;
        }
        let mut buckets = Vec::new();
        let mut cum = 0;
        for v in h.iter_recorded() {
            let value = v.value_iterated_to();
            cum += v.count_at_value();
            let low = h.lowest_equivalent(value) as f64;
            let high = h.highest_equivalent(value) as f64 + 1.0;
            buckets.push((cum, low, high));
        }
        Some(ServiceLaw {
            buckets,
            total: cum,
            mean_s: h.mean() / 1e6,
            mean_square_s2: (h.stdev().powi(2) + h.mean().powi(2)) / 1e12,
            count: h.len(),
        })
    }

    /// From a histogram of values rounded to `resolution_us` (Odoo logs milliseconds): each
    /// value stands for the whole interval it was rounded from.
    pub fn from_rounded(h: &Histogram<u64>, resolution_us: f64) -> Option<ServiceLaw> {
        let mut law = ServiceLaw::from_histogram(h)?;
        let half = resolution_us / 2.0;
        for (_, low, high) in &mut law.buckets {
            let mid = (*low + *high) / 2.0;
            *low = low.min(mid - half).max(0.0);
            *high = high.max(mid + half);
        }
        Some(law)
    }

    /// Every value multiplied by `factor` (above 0).
    pub fn scaled(&self, factor: f64) -> ServiceLaw {
        ServiceLaw {
            buckets: self
                .buckets
                .iter()
                .map(|(c, l, h)| (*c, l * factor, h * factor))
                .collect(),
            total: self.total,
            mean_s: self.mean_s * factor,
            mean_square_s2: self.mean_square_s2 * factor * factor,
            count: self.count,
        }
    }

    /// One service time, seconds.
    pub fn draw(&self, rng: &mut impl Rng) -> f64 {
        let k = rng.random_range(0..self.total);
        let i = self.buckets.partition_point(|(cum, _, _)| *cum <= k);
        let (_, low, high) = self.buckets[i.min(self.buckets.len() - 1)];
        (low + (high - low) * rng.random::<f64>()) / 1e6
    }
}

/// A step's failure rate and the failure kind it shows most.
#[derive(Debug, Clone, PartialEq)]
pub struct Failures {
    /// Failed requests / requests, 0..1.
    pub rate: f64,
    /// The most frequent error kind (what a simulated failure is labelled).
    pub kind: String,
}

/// Where the service times come from (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceTimes {
    /// Odoo's log for every step it can key, else latency less the wait when the
    /// calibration's worker count is known, else latency as it is.
    Auto,
    /// Odoo's log for every step; a step it cannot give is an error.
    OdooLog,
    /// Every step's latency less the calibration run's mean wait (Erlang C, Allen–Cunneen).
    LatencyLessWait,
    /// Every step's latency as measured, queueing included (the calibration before Odoo's log
    /// was read: right only for a calibration run that did not queue).
    Latency,
}

/// Where one step's law came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Odoo's request log: the requests of the step's route(s), and the step's mean time
    /// outside any worker, ms: its mean latency in the calibration run less its mean time in
    /// a worker and the run's mean wait for one (Erlang C on the log's service times), the
    /// client's and the network's part of what the client measures.
    OdooLog { requests: u64, outside_ms: f64 },
    /// `latency.hlog` less the calibration run's mean wait, ms.
    LatencyLessWait { wait_ms: f64 },
    /// `latency.hlog` as measured.
    Latency,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::OdooLog {
                requests,
                outside_ms,
            } => write!(
                f,
                "{ODOO_LOG}: {requests} requests, {outside_ms:.1} ms outside the worker"
            ),
            Source::LatencyLessWait { wait_ms } => {
                write!(
                    f,
                    "latency.hlog less a {wait_ms:.1} ms mean wait (Erlang C)"
                )
            }
            Source::Latency => write!(f, "latency.hlog (queueing included)"),
        }
    }
}

/// The laws of a plan's steps, by step id, with where each came from.
#[derive(Debug, Clone)]
pub struct StepLaws {
    /// `None` for a step never measured (an unused login).
    pub laws: Vec<Option<ServiceLaw>>,
    /// Per step: its mean time outside any worker, seconds (see [`Source::OdooLog`]).
    pub outside_s: Vec<f64>,
    pub sources: Vec<Option<Source>>,
    /// Why steps that could have come from Odoo's log did not, one line per step.
    pub notes: Vec<String>,
}

/// Everything the simulator takes from a calibration run.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub run_id: String,
    pub dir: PathBuf,
    /// Step name (`scenario/step`) → its measured latency as a law (`latency.hlog`).
    pub laws: BTreeMap<String, ServiceLaw>,
    /// Step name → failures, for steps that failed at all.
    pub failures: BTreeMap<String, Failures>,
    /// Odoo's request log of the run, when there is one.
    pub server: Option<ServerTimes>,
    /// The calibration run itself, for its figures.
    pub run: RunResult,
}

/// Why a calibration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error(transparent)]
    Run(#[from] crate::result::ResultError),
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Log {
        path: PathBuf,
        source: hlog::HlogError,
    },
    #[error(transparent)]
    OdooLog(#[from] OdooLogError),
    #[error(
        "calibration run {run} has no measurements of step(s) {steps}: calibrate from a run of a profile with the same scenarios"
    )]
    MissingSteps { run: String, steps: String },
    #[error("--service-times odoo-log: {0}")]
    NotInLog(String),
    #[error(
        "--service-times latency-less-wait: the calibration run's worker count is unknown (give --calibration-workers N)"
    )]
    NoWorkers,
}

/// The ceiling of the wait estimate's bisection, in steps of halving.
const BISECTIONS: usize = 60;
/// Odoo's log gives seconds with 3 decimals.
const LOG_RESOLUTION_US: f64 = 1000.0;

impl Calibration {
    /// Reads `run.json` and `latency.hlog` from a run folder, and Odoo's request log: `odoo_log`
    /// when given, else the folder's `odoo.log` when there is one.
    pub fn load(dir: &Path, odoo_log: Option<&Path>) -> Result<Calibration, CalibrationError> {
        let run = RunResult::load(dir)?;
        let path = dir.join("latency.hlog");
        let bytes = std::fs::read(&path).map_err(|source| CalibrationError::Read {
            path: path.clone(),
            source,
        })?;
        let merged = hlog::read_merged(&bytes).map_err(|source| CalibrationError::Log {
            path: path.clone(),
            source,
        })?;
        let laws = merged
            .iter()
            .filter_map(|(step, h)| ServiceLaw::from_histogram(h).map(|l| (step.clone(), l)))
            .collect();
        let failures = run
            .transactions
            .iter()
            .filter(|(name, _)| name.contains('/'))
            .filter_map(|(name, tx)| {
                let failed: u64 = tx.errors.values().sum();
                let (kind, _) = tx.errors.iter().max_by_key(|(_, n)| **n)?;
                (failed > 0 && tx.count > 0).then(|| {
                    (
                        name.clone(),
                        Failures {
                            rate: failed as f64 / tx.count as f64,
                            kind: kind.clone(),
                        },
                    )
                })
            })
            .collect();
        let own = dir.join(ODOO_LOG);
        let server = match odoo_log {
            Some(p) => Some(ServerTimes::read(p)?),
            None if own.is_file() => Some(ServerTimes::read(&own)?),
            None => None,
        };
        Ok(Calibration {
            run_id: run.run_id.clone(),
            dir: dir.to_path_buf(),
            laws,
            failures,
            server,
            run,
        })
    }

    /// The service law of each of `plan`'s steps, by `how`; `workers` is the calibration
    /// run's worker count (for the wait estimate). An error names every step the run did not
    /// measure, or (with [`ServiceTimes::OdooLog`]) every step the log cannot give.
    pub fn service_laws(
        &self,
        plan: &Plan,
        how: ServiceTimes,
        workers: Option<usize>,
    ) -> Result<StepLaws, CalibrationError> {
        let names = &plan.step_names;
        let used = steps_in_use(plan);
        let missing: Vec<&str> = names
            .iter()
            .enumerate()
            // A missing login law is the simulation's own error (it names the login).
            .filter(|(i, s)| *i != AUTH_STEP_ID && used[*i] && !self.laws.contains_key(*s))
            .map(|(_, s)| s.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(CalibrationError::MissingSteps {
                run: self.run_id.clone(),
                steps: missing.join(", "),
            });
        }
        let mut out = StepLaws {
            laws: vec![None; names.len()],
            outside_s: vec![0.0; names.len()],
            sources: vec![None; names.len()],
            notes: Vec::new(),
        };
        let from_log = match (&self.server, how) {
            (Some(server), ServiceTimes::Auto | ServiceTimes::OdooLog) => {
                self.laws_from_log(plan, server, &used)
            }
            (None, ServiceTimes::OdooLog) => {
                return Err(CalibrationError::NotInLog(format!(
                    "the calibration run {} has no {ODOO_LOG}; give Odoo's log with --odoo-log FILE",
                    self.run_id
                )));
            }
            _ => vec![Err(String::new()); names.len()],
        };
        let wait_s = match how {
            ServiceTimes::Latency => None,
            ServiceTimes::LatencyLessWait => Some(
                self.mean_wait_s(workers)
                    .ok_or(CalibrationError::NoWorkers)?,
            ),
            _ => self.mean_wait_s(workers),
        };
        let wait_in_run_s = self.wait_with_server_times(&from_log, plan, workers);
        let mut not_in_log = Vec::new();
        for (id, found) in from_log.into_iter().enumerate() {
            if !used[id] {
                continue;
            }
            match found {
                Ok((law, requests)) => {
                    let latency_s = self.laws.get(&names[id]).map_or(0.0, |l| l.mean_s);
                    let outside_s = (latency_s - law.mean_s - wait_in_run_s).max(0.0);
                    out.outside_s[id] = outside_s;
                    out.laws[id] = Some(law);
                    out.sources[id] = Some(Source::OdooLog {
                        requests,
                        outside_ms: outside_s * 1000.0,
                    });
                    continue;
                }
                Err(why) if !why.is_empty() => {
                    not_in_log.push(format!("{}: {why}", names[id]));
                }
                Err(_) => {}
            }
            let Some(measured) = self.laws.get(&names[id]) else {
                continue;
            };
            let (law, source) = match wait_s {
                Some(w) => {
                    // Every request waits alike (one FIFO queue), whatever its step.
                    let factor = ((measured.mean_s - w) / measured.mean_s).max(0.05);
                    (
                        measured.scaled(factor),
                        Source::LatencyLessWait {
                            wait_ms: w * 1000.0,
                        },
                    )
                }
                None => (measured.clone(), Source::Latency),
            };
            out.laws[id] = Some(law);
            out.sources[id] = Some(source);
        }
        if how == ServiceTimes::OdooLog && !not_in_log.is_empty() {
            return Err(CalibrationError::NotInLog(not_in_log.join("; ")));
        }
        out.notes = not_in_log;
        Ok(out)
    }

    /// Per step id: its law and request count from Odoo's log, or why not (empty: unused).
    fn laws_from_log(
        &self,
        plan: &Plan,
        server: &ServerTimes,
        used: &[bool],
    ) -> Vec<Result<(ServiceLaw, u64), String>> {
        let mut routes: Vec<Result<StepRoute, String>> =
            vec![Err(String::new()); plan.step_names.len()];
        routes[AUTH_STEP_ID] = Ok(StepRoute {
            method: "POST",
            path: RoutePath::Exact(crate::odoo::client::AUTHENTICATE_PATH.to_string()),
            calls: crate::odoo::client::AUTHENTICATE_PATH.to_string(),
        });
        for sc in &plan.scenarios {
            for st in &sc.steps {
                routes[st.id] = route_of(&st.call);
            }
        }
        // The exact routes every step claims: a pattern never takes their lines.
        let exact: Vec<(&str, &str)> = routes
            .iter()
            .flatten()
            .filter_map(|r| match &r.path {
                RoutePath::Exact(p) => Some((r.method, p.as_str())),
                RoutePath::Pattern(_) => None,
            })
            .collect();
        (0..plan.step_names.len())
            .map(|id| {
                if !used[id] {
                    return Err(String::new());
                }
                let route = routes[id].as_ref().map_err(Clone::clone)?;
                let shared: Vec<&StepRoute> = routes
                    .iter()
                    .flatten()
                    .filter(|r| r.method == route.method && r.path.same(&route.path))
                    .collect();
                if shared.iter().any(|r| r.calls != route.calls) {
                    return Err(format!(
                        "{} {} is also the route of steps that call other things",
                        route.method,
                        route.path.shown()
                    ));
                }
                let name = &plan.step_names[id];
                if self
                    .run
                    .transactions
                    .get(name)
                    .is_some_and(|tx| tx.redirects > 0)
                {
                    return Err(
                        "it followed redirects in the calibration run: its time spans several requests"
                            .into(),
                    );
                }
                let mut merged: Option<Histogram<u64>> = None;
                for ((method, path), h) in &server.routes {
                    let hit = method == route.method
                        && match &route.path {
                            RoutePath::Exact(p) => p == path,
                            RoutePath::Pattern(re) => {
                                re.is_match(path) && !exact.contains(&(method.as_str(), path))
                            }
                        };
                    if hit {
                        match &mut merged {
                            Some(m) => {
                                let _ = m.add(h);
                            }
                            None => merged = Some(h.clone()),
                        }
                    }
                }
                let Some(h) = merged else {
                    return Err(format!(
                        "no {} {} request in {}",
                        route.method,
                        route.path.shown(),
                        server.path.display()
                    ));
                };
                let n = h.len();
                ServiceLaw::from_rounded(&h, LOG_RESOLUTION_US)
                    .map(|l| (l, n))
                    .ok_or_else(|| "no request".to_string())
            })
            .collect()
    }

    /// The calibration run's mean wait for a worker, seconds, by Erlang C with Allen–Cunneen's
    /// correction for the service times' spread, on the log's service times (a step without
    /// one counts with its latency): 0 when the worker count is unknown (the whole difference
    /// is then counted as time outside, an upper bound).
    fn wait_with_server_times(
        &self,
        from_log: &[Result<(ServiceLaw, u64), String>],
        plan: &Plan,
        workers: Option<usize>,
    ) -> f64 {
        let Some(c) = workers else { return 0.0 };
        let mut mix = Mix::default();
        for (id, name) in plan.step_names.iter().enumerate() {
            let (Some(tx), Some(measured)) = (self.run.transactions.get(name), self.laws.get(name))
            else {
                continue;
            };
            match &from_log[id] {
                Ok((law, _)) => mix.add(tx.count, law),
                Err(_) => mix.add(tx.count, measured),
            }
        }
        mix.wait_s(c, self.run.duration_s).unwrap_or(0.0)
    }

    /// The calibration run's mean wait for a worker, seconds, by Erlang C with Allen–Cunneen's
    /// correction `(1 + Cs²) / 2` (Cs² of the measured latencies, an upper bound of the
    /// service times'): the mean service `S` solves `R = S + W(λ, S, c)` (bisection; `W` grows
    /// with `S`), `R` being the mean latency of its requests, `λ` their rate, `c` its workers. `None` without a worker count
    /// or requests.
    pub fn mean_wait_s(&self, workers: Option<usize>) -> Option<f64> {
        let c = workers? as u32;
        let (rate, latency_s) = self.request_rate_and_mean()?;
        let mut mix = Mix::default();
        for (name, tx) in &self.run.transactions {
            if let Some(l) = self.laws.get(name) {
                mix.add(tx.count, l);
            }
        }
        let variability = mix.allen_cunneen();
        let wait = |s: f64| erlang::queue(c, rate, s, 0.0).mean_wait_s * variability;
        let (mut lo, mut hi) = (0.0, latency_s);
        for _ in 0..BISECTIONS {
            let mid = (lo + hi) / 2.0;
            if mid + wait(mid) > latency_s {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some((latency_s - lo).max(0.0))
    }

    /// Requests per second of the calibration run and their mean latency, seconds.
    fn request_rate_and_mean(&self) -> Option<(f64, f64)> {
        let r = &self.run;
        let (mut n, mut busy_s) = (0u64, 0.0);
        for (name, tx) in r.transactions.iter().filter(|(k, _)| k.contains('/')) {
            if let Some(l) = self.laws.get(name) {
                n += tx.count;
                busy_s += tx.count as f64 * l.mean_s;
            }
        }
        (n > 0 && r.duration_s > 0.0).then(|| (n as f64 / r.duration_s, busy_s / n as f64))
    }

    /// How much of the calibration's latency may be queueing: the Erlang C probability of
    /// waiting at the run's mean request rate and mean latency on `workers`, when the worker
    /// count is known.
    pub fn queueing_hint(&self, workers: Option<usize>) -> Option<erlang::Queue> {
        let workers = workers? as u32;
        let (rate, mean_s) = self.request_rate_and_mean()?;
        Some(erlang::queue(workers, rate, mean_s, 0.0))
    }
}

/// The requests of a run, pooled: for the mean wait of a queue they all share.
#[derive(Default)]
struct Mix {
    n: u64,
    sum_s: f64,
    sum_square_s2: f64,
}

impl Mix {
    fn add(&mut self, count: u64, law: &ServiceLaw) {
        self.n += count;
        self.sum_s += count as f64 * law.mean_s;
        self.sum_square_s2 += count as f64 * law.mean_square_s2;
    }

    /// Allen–Cunneen's factor `(Ca² + Cs²) / 2` on the M/M/c wait, with Poisson arrivals
    /// (`Ca² = 1`) and `Cs²` the pooled service times' squared coefficient of variation
    /// (A. O. Allen, *Probability, Statistics, and Queueing Theory*, 2nd ed., 1990).
    fn allen_cunneen(&self) -> f64 {
        if self.n == 0 || self.sum_s <= 0.0 {
            return 1.0;
        }
        let mean = self.sum_s / self.n as f64;
        let scv = (self.sum_square_s2 / self.n as f64) / (mean * mean) - 1.0;
        (1.0 + scv.max(0.0)) / 2.0
    }

    /// The mean wait, seconds, of these requests over `duration_s` on `c` workers (M/G/c by
    /// Allen–Cunneen); `None` when unstable or empty.
    fn wait_s(&self, c: usize, duration_s: f64) -> Option<f64> {
        if self.n == 0 || duration_s <= 0.0 {
            return None;
        }
        let mean = self.sum_s / self.n as f64;
        let q = erlang::queue(c as u32, self.n as f64 / duration_s, mean, 0.0);
        q.mean_wait_s
            .is_finite()
            .then(|| q.mean_wait_s * self.allen_cunneen())
    }
}

/// Which step ids a plan may send: every scenario step, and the login when a scenario logs in.
fn steps_in_use(plan: &Plan) -> Vec<bool> {
    let mut used = vec![false; plan.step_names.len()];
    for sc in &plan.scenarios {
        for st in &sc.steps {
            used[st.id] = true;
        }
        if sc.needs_login {
            used[AUTH_STEP_ID] = true;
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_follow_the_histogram() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        // 80% at ~10 ms, 20% at ~50 ms.
        h.record_n(10_000, 800).unwrap();
        h.record_n(50_000, 200).unwrap();
        let law = ServiceLaw::from_histogram(&h).unwrap();
        assert!((law.mean_s - 0.018).abs() < 1e-4, "{}", law.mean_s);
        let mut rng = crate::plan::generator::JourneyRng::seed_from_u64(7);
        let draws: Vec<f64> = (0..20_000).map(|_| law.draw(&mut rng)).collect();
        let slow = draws.iter().filter(|d| **d > 0.03).count() as f64 / draws.len() as f64;
        assert!((slow - 0.2).abs() < 0.015, "slow share {slow}");
        // Within the bucket's equivalent range (3 significant digits).
        assert!(
            draws
                .iter()
                .all(|d| (*d - 0.010).abs() < 2e-5 || (*d - 0.050).abs() < 1e-4)
        );
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.018).abs() < 0.0006, "mean {mean}");
    }

    #[test]
    fn a_law_from_millisecond_figures_spreads_each_over_its_millisecond() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        h.record_n(60_000, 100).unwrap();
        let law = ServiceLaw::from_rounded(&h, 1000.0).unwrap();
        let mut rng = crate::plan::generator::JourneyRng::seed_from_u64(3);
        let draws: Vec<f64> = (0..5_000).map(|_| law.draw(&mut rng)).collect();
        // Around the HDR bucket of 60 ms (32 µs wide at 3 digits), ±0.5 ms.
        assert!(draws.iter().all(|d| (0.05945..=0.06055).contains(d)));
        assert!(draws.iter().any(|d| *d < 0.0597) && draws.iter().any(|d| *d > 0.0603));
        let half = law.scaled(0.5);
        assert!((half.mean_s - law.mean_s / 2.0).abs() < 1e-12);
        assert!((half.mean_square_s2 - law.mean_square_s2 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn the_pooled_wait_is_erlang_c_scaled_by_the_service_spread() {
        // Two steps, 100 ms and 300 ms fixed, equally often: mean 200 ms, Cs² = 0.25.
        let fixed = |us: u64| {
            let mut h = Histogram::<u64>::new(3).unwrap();
            h.record_n(us, 1000).unwrap();
            ServiceLaw::from_histogram(&h).unwrap()
        };
        let mut mix = Mix::default();
        mix.add(150, &fixed(100_000));
        mix.add(150, &fixed(300_000));
        assert!(
            (mix.allen_cunneen() - 0.625).abs() < 1e-3,
            "{}",
            mix.allen_cunneen()
        );
        // 300 requests in 20 s = 15/s on 4 workers: A = 3 Erlangs (HDR means: 3 digits).
        let erlang_c = erlang::queue(4, 15.0, 0.2, 0.0).mean_wait_s;
        let w = mix.wait_s(4, 20.0).unwrap();
        assert!(
            (w - erlang_c * 0.625).abs() < 0.01 * erlang_c,
            "{w} vs {erlang_c}"
        );
        // Past saturation there is no mean wait.
        assert!(mix.wait_s(2, 20.0).is_none());
    }
}
