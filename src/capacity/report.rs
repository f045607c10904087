//! The capacity report over measured runs of one profile at different loads: concurrency and
//! throughput per run, the USL fit over them, worker sizing per flow by Erlang C, connection
//! and Redis sizing by Little's law from the probes, and a recommendation. Every figure keeps
//! the formula and the measurements it came from (`basis`).

use serde::{Deserialize, Serialize};

use super::erlang::{self, Queue};
use super::usl::{self, Point, UslFit};
use crate::result::RunResult;

/// Schema tag of `capacity.json`.
pub const SCHEMA: &str = "peakgate.capacity/1";

/// Cron threads Odoo runs by default (`max_cron_threads`), each with its own connection.
pub const CRON_THREADS: u32 = 2;

/// Choices of the person asking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Load multiple of the profile to size for.
    pub at_scale: f64,
    /// Erlang C target wait, seconds, and the share of requests that must meet it.
    pub target_wait_s: f64,
    pub service_level: f64,
    /// Safety margin on connections (0.25 = 25%).
    pub margin: f64,
}

/// One measured run as a point of the scalability curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPoint {
    pub run_id: String,
    pub dir: String,
    pub rate_scale: f64,
    pub duration_s: f64,
    pub requests: u64,
    pub errors: u64,
    /// Requests finished per second over the run.
    pub throughput_per_s: f64,
    /// Mean requests in flight by Little's law: Σ(count × mean latency) / duration.
    pub concurrency: f64,
    /// Mean of the timeline's `in_flight` (journeys, think time included), for reference.
    pub journeys_in_flight_mean: f64,
    /// Highest p95 of any step, ms.
    pub worst_step_p95_ms: f64,
    /// The gate's verdict from the run folder's verdict.json, when there is one.
    pub verdict: Option<String>,
    /// Whether the run was simulated (`peakgate simulate`), not measured.
    pub simulated: bool,
}

/// Erlang C sizing of one flow (scenario), or of everything together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowSizing {
    pub flow: String,
    /// The stage whose peak it is sized at: for a flow, where its share of the load is
    /// highest (stages with their own mix weigh in); for all flows, where they offer the most
    /// work. Absent in reports written before it was recorded.
    #[serde(default)]
    pub peak_stage: Option<String>,
    /// Journeys per second at the sized load's peak.
    pub peak_journeys_per_s: f64,
    /// Requests per second at the peak.
    pub request_rate_per_s: f64,
    /// Mean service time of its requests, ms (from the lightest run's `service_ms.mean`).
    pub mean_service_ms: f64,
    pub offered_erlangs: f64,
    pub workers_needed: u32,
    /// The queue at that worker count.
    pub at_needed: Queue,
}

/// A flow the plan draws but no run measured a journey of: its load is unknown, so it is
/// not sized, and it is left out of the total (never counted as zero load).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmeasuredFlow {
    pub flow: String,
    /// The stage where its planned share is highest, and its planned journeys/s there.
    pub peak_stage: String,
    pub peak_journeys_per_s: f64,
    /// Why it could not be sized.
    pub reason: String,
}

/// Logins at the sized load: the sessions a run makes are bounded (the `[load] logins` pool,
/// or one per closed-model terminal), so they are not scaled with the journeys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logins {
    /// Logins measured in the run the figures come from.
    pub measured: u64,
    /// Sessions that bound them (`None`: the run did not record its pool, and logins were
    /// scaled with the journeys, an upper bound).
    pub pool: Option<usize>,
    /// What this means for the sized figures.
    pub basis: String,
}

/// Share of a flow's journeys that may fail in a run for its figures per journey to be taken
/// from it: above it, they would come from error answers (fast failures, cut-short journeys).
pub const MAX_FAILED_SHARE: f64 = 0.05;

/// No run measured a journey of any flow: there is nothing to size from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "no journey was measured in run(s) {} that sizing can use (flows {}: none ran, or more than 5% of a flow's journeys failed): there is nothing to size workers from; run the profile with load (and fix what fails) first",
    runs.join(", "),
    flows.join(", ")
)]
pub struct NotMeasured {
    pub runs: Vec<String>,
    pub flows: Vec<String>,
}

/// Workers for the latency objectives, from a simulation sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloSizing {
    pub objectives: Vec<String>,
    /// Smallest worker count whose simulated run meets them; `None`: none up to the limit.
    pub workers: Option<usize>,
    pub basis: String,
}

/// Database connection sizing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connections {
    /// Mean connection hold time per request, ms, when a PostgreSQL probe measured it.
    pub hold_time_ms: Option<f64>,
    /// Connections busy at the sized peak (Little's law).
    pub busy_at_peak: f64,
    pub db_maxconn: u32,
    pub max_connections: u32,
    pub basis: Vec<String>,
}

/// Redis sizing, when a Redis probe ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redis {
    pub peak_clients_measured: Option<f64>,
    /// Growth of `used_memory` per session made in the run (per login, or per visitor journey
    /// when nobody logged in), bytes.
    pub bytes_per_session: Option<f64>,
    /// Projected growth per hour at the sized peak, bytes (`None` when the sessions are
    /// logins bounded by a pool: they do not grow with the load).
    pub growth_per_hour_at_peak_bytes: Option<f64>,
    /// Logged-in sessions bounded by the `[load] logins` pool: at most this many bytes of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounded_sessions_bytes: Option<f64>,
    pub basis: Vec<String>,
}

/// The whole report (`capacity.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    pub schema: String,
    pub profile: String,
    pub options: Options,
    pub runs: Vec<RunPoint>,
    /// The USL fit, or why there is none.
    pub usl: Option<UslFit>,
    pub usl_error: Option<String>,
    /// Requests per second at the sized load's peak.
    pub peak_request_rate_per_s: f64,
    /// USL maximum throughput / peak request rate.
    pub headroom: Option<f64>,
    /// Sized flows, each at its own peak.
    pub flows: Vec<FlowSizing>,
    /// Flows with no measured journeys: not sized and not in `total`.
    #[serde(default)]
    pub unmeasured: Vec<UnmeasuredFlow>,
    /// The measured flows together (`all flows`, or `all measured flows` when some are
    /// unmeasured), at the stage where they offer the most work.
    pub total: FlowSizing,
    /// Logins, when the runs logged in: bounded by the sessions, not scaled with journeys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logins: Option<Logins>,
    pub slo: Option<SloSizing>,
    pub connections: Connections,
    pub redis: Option<Redis>,
    pub recommendation: String,
    pub notes: Vec<String>,
}

/// Mean of a probe series `probes.<probe>.series.<name>` ([[t, v], ...]).
fn series(run: &RunResult, probe: &str, name: &str) -> Option<Vec<(f64, f64)>> {
    let s = run.probes.get(probe)?.points(name)?;
    let v: Vec<(f64, f64)> = s.iter().map(|[t, v]| (*t, *v)).collect();
    (!v.is_empty()).then_some(v)
}

fn mean(v: &[(f64, f64)]) -> f64 {
    v.iter().map(|p| p.1).sum::<f64>() / v.len() as f64
}

/// A run as a point: throughput and Little's-law concurrency.
pub fn run_point(run: &RunResult, dir: &str, verdict: Option<String>) -> RunPoint {
    let steps = run.transactions.iter().filter(|(k, _)| k.contains('/'));
    let (mut busy_s, mut worst) = (0.0, 0.0f64);
    for (_, tx) in steps {
        busy_s += tx.count as f64 * tx.latency_ms.mean / 1000.0;
        worst = worst.max(tx.latency_ms.p95);
    }
    let d = run.duration_s.max(1e-9);
    let tl = &run.timeline;
    RunPoint {
        run_id: run.run_id.clone(),
        dir: dir.to_string(),
        rate_scale: run.plan.rate_scale,
        duration_s: run.duration_s,
        requests: run.totals.requests,
        errors: run.totals.errors,
        throughput_per_s: run.totals.requests as f64 / d,
        concurrency: busy_s / d,
        journeys_in_flight_mean: if tl.is_empty() {
            0.0
        } else {
            tl.iter().map(|e| e.in_flight as f64).sum::<f64>() / tl.len() as f64
        },
        worst_step_p95_ms: worst,
        verdict,
        simulated: run.simulation.is_some(),
    }
}

/// Builds the report. Service times come from `service_run` when given (the calibration run of
/// simulated runs), else from the lightest run (lowest throughput: the least queueing). `slo` is
/// filled in by the caller, which can simulate. Refused when no run measured any journey.
pub fn build(
    runs: &[(RunResult, String, Option<String>)],
    service_run: Option<&RunResult>,
    o: &Options,
) -> Result<CapacityReport, NotMeasured> {
    let mut points: Vec<RunPoint> = runs
        .iter()
        .map(|(r, dir, v)| run_point(r, dir, v.clone()))
        .collect();
    points.sort_by(|a, b| a.throughput_per_s.total_cmp(&b.throughput_per_s));
    let mut notes = Vec::new();
    let (usl, usl_error) = match usl::fit(
        &points
            .iter()
            .map(|p| Point {
                concurrency: p.concurrency,
                throughput_per_s: p.throughput_per_s,
            })
            .collect::<Vec<_>>(),
    ) {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let light = runs
        .iter()
        .min_by(|a, b| throughput(&a.0).total_cmp(&throughput(&b.0)))
        .map(|r| &r.0)
        .expect("at least one run");
    let light = match service_run {
        Some(r) => {
            notes.push(format!(
                "service times from the calibration run {} of the simulated runs: each step's service_ms.mean",
                r.run_id
            ));
            r
        }
        None => {
            notes.push(format!(
                "service times from the lightest run {} (least queueing): each step's service_ms.mean",
                light.run_id
            ));
            light
        }
    };
    if points.iter().any(|p| p.simulated) {
        notes.push("some runs are simulated (peakgate simulate), not measured".into());
    }
    // Each flow's figures per journey from the lightest run that measured it.
    let candidates: Vec<&RunResult> = match service_run {
        Some(r) => vec![r],
        None => {
            let mut v: Vec<&RunResult> = runs.iter().map(|r| &r.0).collect();
            v.sort_by(|a, b| throughput(a).total_cmp(&throughput(b)));
            v
        }
    };
    let factor = o.at_scale / light.plan.rate_scale.max(1e-9);
    let scenarios = light.plan.scenario_order();
    // A closed model's levels are terminals, not journeys/s: each terminal starts journeys at
    // the pace the run measured (its journey time and pacing).
    let per_level = match light.plan.model {
        crate::config::profile::ModelKind::Open => 1.0,
        crate::config::profile::ModelKind::Closed => {
            let terminal_s: f64 = light
                .plan
                .stages
                .iter()
                .map(|s| {
                    let run_s = (light.duration_s - s.start_s).clamp(0.0, s.duration_s);
                    (s.from + s.to) / 2.0 * run_s
                })
                .sum();
            let per = light.totals.journeys as f64 / terminal_s.max(1e-9);
            notes.push(format!(
                "closed model: a stage's journeys/s = its terminals × {per:.4} journeys/s per terminal, measured in run {} ({} journeys over {terminal_s:.0} terminal-seconds); a slower server makes terminals start fewer",
                light.run_id, light.totals.journeys
            ));
            per
        }
    };
    let levels: Vec<StageLoad> = light
        .plan
        .stages
        .iter()
        .map(|s| StageLoad {
            name: s.name.clone(),
            journeys_per_s: s.from.max(s.to) * factor * per_level,
            shares: stage_shares(&light.plan, &scenarios, s.mix.as_deref()),
        })
        .collect();
    let mut flows = Vec::new();
    let mut unmeasured = Vec::new();
    let mut measured: Vec<(usize, PerJourney)> = Vec::new();
    for (i, scenario) in scenarios.iter().enumerate() {
        // The flow's own peak: the stage where its share of the level is highest.
        let Some(peak) = levels
            .iter()
            .map(|l| (l, l.journeys_per_s * l.shares[i]))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|(_, j)| *j > 0.0)
        else {
            notes.push(format!(
                "flow {scenario} is drawn by no stage's mix (weight 0 everywhere): not sized"
            ));
            continue;
        };
        let mut why_not = Vec::new();
        let found = candidates.iter().find_map(|r| {
            per_journey(r, scenario)
                .map_err(|why| why_not.push(why))
                .ok()
        });
        match found {
            Some(pj) => {
                if pj.failed > 0 {
                    notes.push(format!(
                        "flow {scenario}: {} of {} journeys failed in run {} (at most {:.0}% may): sized from all of them",
                        pj.failed,
                        pj.journeys,
                        pj.run_id,
                        MAX_FAILED_SHARE * 100.0
                    ));
                }
                if pj.run_id != light.run_id {
                    notes.push(format!(
                        "flow {scenario}: no journeys in the lightest run; its figures per journey come from run {}",
                        pj.run_id
                    ));
                }
                flows.push(sizing(
                    scenario,
                    Some(&peak.0.name),
                    peak.1,
                    peak.1 * pj.requests,
                    peak.1 * pj.busy_s,
                    o,
                ));
                measured.push((i, pj));
            }
            None => unmeasured.push(UnmeasuredFlow {
                flow: scenario.clone(),
                peak_stage: peak.0.name.clone(),
                peak_journeys_per_s: peak.1,
                reason: if why_not.iter().all(|w| w.starts_with("no journey")) {
                    format!(
                        "no journey of {scenario} was measured in {}: its requests per journey and service times are unknown",
                        if candidates.len() == 1 {
                            format!("run {}", candidates[0].run_id)
                        } else {
                            format!("any of the {} runs", candidates.len())
                        }
                    )
                } else {
                    format!(
                        "not sized from failures: {}",
                        why_not.join("; ")
                    )
                },
            }),
        }
    }
    if measured.is_empty() {
        return Err(NotMeasured {
            runs: candidates.iter().map(|r| r.run_id.clone()).collect(),
            flows: unmeasured.iter().map(|u| u.flow.clone()).collect(),
        });
    }
    // Logins: a run makes at most one per session (again when one expires), and its sessions
    // are bounded (the open model's `[load] logins` pool, a closed-model terminal each): they
    // do not grow with the journeys. Only a run that does not record its pool scales them.
    let (logins, logins_per_journey) = match light.transactions.get(crate::plan::AUTH_STEP) {
        None => (None, None),
        Some(auth) => {
            let pool = match light.plan.model {
                crate::config::profile::ModelKind::Closed => Some(
                    light
                        .plan
                        .stages
                        .iter()
                        .map(|s| s.from.max(s.to).ceil() as usize)
                        .max()
                        .unwrap_or(0),
                ),
                crate::config::profile::ModelKind::Open => light.plan.logins,
            };
            let what = match light.plan.model {
                crate::config::profile::ModelKind::Closed => {
                    "closed-model terminals (one session each)"
                }
                crate::config::profile::ModelKind::Open => "sessions of the [load] logins pool",
            };
            match pool {
                Some(pool) => (
                    Some(Logins {
                        measured: auth.count,
                        pool: Some(pool),
                        basis: format!(
                            "logins are bounded by the {pool} {what}: {} measured in run {}; at the sized load they stay at most {pool} (plus one per session that expires), so they are not scaled with the journeys and not in the peak request rate",
                            auth.count, light.run_id
                        ),
                    }),
                    None,
                ),
                None => (
                    Some(Logins {
                        measured: auth.count,
                        pool: None,
                        basis: format!(
                            "run {} does not record its [load] logins pool: its {} logins are scaled with the journeys, an upper bound",
                            light.run_id, auth.count
                        ),
                    }),
                    Some((
                        auth.count as f64 / light.totals.journeys.max(1) as f64,
                        auth.service_ms.mean / 1000.0,
                    )),
                ),
            }
        }
    };
    // All flows together: the stage whose measured flows offer the most work.
    let mut all: Option<(&StageLoad, f64, f64, f64)> = None;
    for l in &levels {
        let (mut journeys, mut rate, mut busy) = (0.0, 0.0, 0.0);
        for (i, pj) in &measured {
            let j = l.journeys_per_s * l.shares[*i];
            journeys += j;
            rate += j * pj.requests;
            busy += j * pj.busy_s;
        }
        if let Some((per, service_s)) = logins_per_journey {
            rate += journeys * per;
            busy += journeys * per * service_s;
        }
        if all.is_none_or(|a| busy > a.3 || (busy == a.3 && rate > a.2)) {
            all = Some((l, journeys, rate, busy));
        }
    }
    let (stage, journeys_all, rate_all, erlangs_all) = all
        .map_or((None, 0.0, 0.0, 0.0), |(l, j, r, b)| {
            (Some(&l.name), j, r, b)
        });
    let label = if unmeasured.is_empty() {
        "all flows".to_string()
    } else {
        "all measured flows".to_string()
    };
    let total = sizing(&label, stage, journeys_all, rate_all, erlangs_all, o);
    let headroom = usl
        .as_ref()
        .map(|f| f.max_throughput_per_s / rate_all.max(1e-9))
        .filter(|h| h.is_finite());
    let connections = connections(runs, &total, o);
    let redis = redis(runs, rate_all);
    let mut recommendation = recommend(o, &total, &connections, headroom, rate_all);
    if !unmeasured.is_empty() {
        let names: Vec<&str> = unmeasured.iter().map(|u| u.flow.as_str()).collect();
        recommendation.push_str(&format!(
            "; NOT SIZED: {} (no journeys measured, or too many of them failed), left out of these figures: run them measured before trusting the total",
            names.join(", ")
        ));
    }
    Ok(CapacityReport {
        schema: SCHEMA.into(),
        profile: light.profile.name.clone(),
        options: o.clone(),
        runs: points,
        usl,
        usl_error,
        peak_request_rate_per_s: rate_all,
        headroom,
        flows,
        unmeasured,
        total,
        logins,
        slo: None,
        connections,
        redis,
        recommendation,
        notes,
    })
}

/// Requests/s finished over a run.
fn throughput(r: &RunResult) -> f64 {
    r.totals.requests as f64 / r.duration_s.max(1e-9)
}

/// A stage's level at the sized load and each flow's share of it.
struct StageLoad {
    name: String,
    /// Highest level of the stage at the sized load, journeys/s.
    journeys_per_s: f64,
    /// Share of each scenario (in `PlanInfo::scenario_order`), summing to 1 (or all 0).
    shares: Vec<f64>,
}

/// The stage's own mix when it has one, else the profile's, as shares.
fn stage_shares(plan: &crate::result::PlanInfo, names: &[String], own: Option<&[f64]>) -> Vec<f64> {
    let weights: Vec<f64> = match own {
        Some(w) if w.len() == names.len() => w.to_vec(),
        _ => names
            .iter()
            .map(|n| plan.mix.get(n).copied().unwrap_or(0.0))
            .collect(),
    };
    let sum: f64 = weights.iter().sum();
    weights
        .iter()
        .map(|w| if sum > 0.0 { w / sum } else { 0.0 })
        .collect()
}

/// A flow's work per journey, measured in one run.
struct PerJourney {
    run_id: String,
    /// Requests per journey.
    requests: f64,
    /// Worker-seconds of service per journey (Σ requests × mean service time).
    busy_s: f64,
    /// Journeys of the flow that failed, of `journeys`.
    failed: u64,
    journeys: u64,
}

/// The flow's requests and service per journey in `run`, when the run finished journeys of it.
/// A flow's figures per journey in `run`; `Err` with why when the run cannot give them (no
/// journey, or more than [`MAX_FAILED_SHARE`] of them failed).
fn per_journey(run: &RunResult, scenario: &str) -> Result<PerJourney, String> {
    let journeys = run.transactions.get(scenario).map_or(0, |t| t.count);
    if journeys == 0 {
        return Err(format!("no journey of {scenario} in run {}", run.run_id));
    }
    let failed: u64 = run
        .transactions
        .get(scenario)
        .map_or(0, |t| t.errors.values().sum());
    let failed_share = failed as f64 / journeys as f64;
    if failed_share > MAX_FAILED_SHARE {
        return Err(format!(
            "{failed} of {journeys} journeys of {scenario} failed in run {} ({:.0}% > {:.0}%): its figures would come from error answers",
            run.run_id,
            failed_share * 100.0,
            MAX_FAILED_SHARE * 100.0
        ));
    }
    let (mut requests, mut busy_s) = (0.0, 0.0);
    for (name, tx) in &run.transactions {
        if name.split_once('/').map(|(s, _)| s) != Some(scenario) {
            continue;
        }
        let per = tx.count as f64 / journeys as f64;
        requests += per;
        busy_s += per * tx.service_ms.mean / 1000.0;
    }
    Ok(PerJourney {
        run_id: run.run_id.clone(),
        requests,
        busy_s,
        failed,
        journeys,
    })
}

fn sizing(
    flow: &str,
    peak_stage: Option<&String>,
    journeys: f64,
    rate: f64,
    erlangs: f64,
    o: &Options,
) -> FlowSizing {
    let service_s = if rate > 0.0 { erlangs / rate } else { 0.0 };
    let needed = if rate > 0.0 {
        erlang::servers_needed(rate, service_s, o.target_wait_s, o.service_level)
    } else {
        0
    };
    FlowSizing {
        flow: flow.to_string(),
        peak_stage: peak_stage.cloned(),
        peak_journeys_per_s: journeys,
        request_rate_per_s: rate,
        mean_service_ms: service_s * 1000.0,
        offered_erlangs: erlangs,
        workers_needed: needed,
        at_needed: erlang::queue(needed.max(1), rate, service_s, o.target_wait_s),
    }
}

fn connections(
    runs: &[(RunResult, String, Option<String>)],
    total: &FlowSizing,
    o: &Options,
) -> Connections {
    let workers = total.workers_needed.max(1);
    let mut basis = Vec::new();
    let measured = runs.iter().find_map(|(r, _, _)| {
        let (held, source) = held_connections(r)?;
        let x = r.totals.requests as f64 / r.duration_s.max(1e-9);
        let logins = r
            .transactions
            .get(crate::plan::AUTH_STEP)
            .map_or(0, |t| t.count);
        (x > 0.0).then(|| (r.run_id.clone(), held, source, x, logins))
    });
    let (hold_time_ms, busy) = match measured {
        Some((id, held, source, x, logins)) => {
            let hold_s = held / x;
            basis.push(format!(
                "hold time = mean connections held / throughput = {held:.2} / {x:.1} per s = {:.1} ms (Little's law, run {id}, PostgreSQL probe {source})",
                hold_s * 1000.0
            ));
            if logins > 0 {
                // The connections held during the run include the logins' transactions, so
                // the throughput that divides them must count the logins too.
                basis.push(format!(
                    "that throughput counts the run's {logins} logins, which the peak request rate below leaves out (the logins pool bounds them): the hold time averages over them too, and errs high when a login holds its connection longer than other requests (Odoo's password hashing makes a login slow)"
                ));
            }
            let busy = total.request_rate_per_s * hold_s;
            basis.push(format!(
                "busy connections at peak = {:.1} requests/s × {:.1} ms = {busy:.2}",
                total.request_rate_per_s,
                hold_s * 1000.0
            ));
            (Some(hold_s * 1000.0), busy)
        }
        None => {
            basis.push("connection hold time: MISSING (no run has a PostgreSQL probe series of connections_in_transaction or connections_active); assumed a busy worker holds one connection for its whole request, an upper bound: busy connections = offered load in Erlangs".into());
            (None, total.offered_erlangs)
        }
    };
    let per_worker = busy / workers as f64;
    let db_maxconn = ((per_worker * (1.0 + o.margin)).ceil() as u32).max(2);
    basis.push(format!(
        "db_maxconn = max(2, ⌈{per_worker:.2} busy per worker × (1 + {:.0}% margin)⌉) = {db_maxconn} (2: a worker may open a second cursor)",
        o.margin * 100.0
    ));
    let max_connections =
        ((workers * db_maxconn + CRON_THREADS) as f64 * (1.0 + o.margin)).ceil() as u32;
    basis.push(format!(
        "max_connections ≥ ⌈(workers {workers} × db_maxconn {db_maxconn} + {CRON_THREADS} cron threads) × (1 + {:.0}%)⌉ = {max_connections} (Odoo's rule: workers × db_maxconn + crons under max_connections)",
        o.margin * 100.0
    ));
    Connections {
        hold_time_ms,
        busy_at_peak: busy,
        db_maxconn,
        max_connections,
        basis,
    }
}

/// The mean number of connections a run's requests held, and the series it comes from. A
/// connection is held while its transaction is open: an Odoo worker's cursor keeps one from its
/// first query to the commit that ends the request, and between two queries the backend is
/// `idle in transaction`, not `active` (counting only `active` backends read a hold time near
/// 0 on a real Odoo). Best: `connections_in_transaction`, sampled ten times a second; a run
/// recorded before that series: `connections_active` + `connections_idle_in_transaction` (+
/// its aborted state) at the probe's interval.
fn held_connections(run: &RunResult) -> Option<(f64, String)> {
    if let Some(s) = series(run, "postgres", "connections_in_transaction") {
        return Some((
            mean(&s),
            "connections_in_transaction, sampled 10 times a second".into(),
        ));
    }
    series(run, "postgres", "connections_active")?;
    let found: Vec<(&str, f64)> = [
        "connections_active",
        "connections_idle_in_transaction",
        "connections_idle_in_transaction_aborted",
    ]
    .into_iter()
    .filter_map(|name| Some((name, mean(&series(run, "postgres", name)?))))
    .collect();
    let names: Vec<&str> = found.iter().map(|(n, _)| *n).collect();
    Some((found.iter().map(|(_, m)| m).sum(), names.join(" + ")))
}

fn redis(runs: &[(RunResult, String, Option<String>)], peak_rate: f64) -> Option<Redis> {
    let (r, _, _) = runs
        .iter()
        .find(|(r, _, _)| r.probes.contains_key("redis"))?;
    let mut basis = Vec::new();
    let clients = series(r, "redis", "connected_clients").map(|s| {
        let peak = s.iter().map(|p| p.1).fold(0.0, f64::max);
        basis.push(format!(
            "peak connected_clients {peak:.0} in run {}",
            r.run_id
        ));
        peak
    });
    // Sessions made in the run: logins, or (none logged in) one per visitor journey.
    let logins = r
        .transactions
        .get(crate::plan::AUTH_STEP)
        .map_or(0, |t| t.count);
    let (sessions, what) = if logins > 0 {
        (logins, "logins")
    } else {
        (
            r.totals.started,
            "journeys (no logins: a session per visitor)",
        )
    };
    let per_session = series(r, "redis", "used_memory_bytes").and_then(|s| {
        let growth = s.last()?.1 - s.first()?.1;
        (sessions > 0).then(|| {
            let b = growth / sessions as f64;
            basis.push(format!(
                "bytes per session = used_memory growth {growth:.0} B / {sessions} {what} = {b:.0} B (run {})",
                r.run_id
            ));
            b
        })
    });
    // Logins are bounded by the run's pool of sessions: their memory is too.
    let pool = (logins > 0 && r.plan.model == crate::config::profile::ModelKind::Open)
        .then_some(r.plan.logins)
        .flatten();
    let bounded = match (per_session, pool) {
        (Some(b), Some(pool)) => {
            let m = b * pool as f64;
            basis.push(format!(
                "logged-in sessions are bounded by the [load] logins pool of {pool}: at most {pool} × {b:.0} B = {m:.0} B, not growing with the load"
            ));
            Some(m)
        }
        _ => None,
    };
    let growth = per_session.filter(|_| bounded.is_none()).map(|b| {
        let per_request = sessions as f64 / r.totals.requests.max(1) as f64;
        let g = b * per_request * peak_rate * 3600.0;
        basis.push(format!(
            "growth per hour at peak = {b:.0} B × {per_request:.3} sessions per request × {peak_rate:.1} requests/s × 3600 s = {g:.0} B (until sessions expire: 7 days for users, 3 hours for visitors in session_redis)"
        ));
        g
    });
    Some(Redis {
        peak_clients_measured: clients,
        bytes_per_session: per_session,
        growth_per_hour_at_peak_bytes: growth,
        bounded_sessions_bytes: bounded,
        basis,
    })
}

fn recommend(
    o: &Options,
    total: &FlowSizing,
    c: &Connections,
    headroom: Option<f64>,
    rate: f64,
) -> String {
    let headroom = headroom.map_or_else(
        || "headroom unknown (no USL fit)".to_string(),
        |h| format!("headroom {h:.2}× on the measured deployment (USL maximum throughput / peak request rate)"),
    );
    format!(
        "at ×{} load ({rate:.1} requests/s at peak): {} workers (Erlang C: {:.0}% of requests wait ≤ {} ms), db_maxconn {}, max_connections ≥ {}, {headroom}",
        o.at_scale,
        total.workers_needed,
        o.service_level * 100.0,
        o.target_wait_s * 1000.0,
        c.db_maxconn,
        c.max_connections
    )
}

/// A USL fit as text.
pub fn describe_usl(f: &UslFit) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "USL fit over {} points (R² {:.4}): X(N) = λN / (1 + σ(N−1) + κN(N−1))",
        f.points, f.r_squared
    );
    let _ = writeln!(
        out,
        "  λ = {:.6} ± {:.3e} per s",
        f.lambda_per_s.value, f.lambda_per_s.std_error
    );
    let _ = writeln!(
        out,
        "  σ = {:.8} ± {:.3e}",
        f.sigma.value, f.sigma.std_error
    );
    let _ = writeln!(
        out,
        "  κ = {:.6e} ± {:.3e}",
        f.kappa.value, f.kappa.std_error
    );
    match f.peak_concurrency {
        Some(n) => {
            let _ = writeln!(
                out,
                "  peak concurrency N* = √((1−σ)/κ) = {n:.2}; maximum throughput X(N*) = {:.2} per s",
                f.max_throughput_per_s
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  Amdahl case (κ not significant): throughput levels off at λ/σ = {:.2} per s",
                f.max_throughput_per_s
            );
        }
    }
    for w in &f.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Stage;
    use crate::result::{LatencySummary, Transaction};

    fn tx(count: u64, service_mean_ms: f64) -> Transaction {
        let l = LatencySummary {
            mean: service_mean_ms,
            ..LatencySummary::default()
        };
        Transaction {
            count,
            latency_ms: l.clone(),
            service_ms: l,
            ..Transaction::default()
        }
    }

    fn stage(name: &str, start_s: f64, rate: f64, mix: Option<Vec<f64>>) -> Stage {
        Stage {
            name: name.into(),
            start_s,
            duration_s: 3.0,
            from: rate,
            to: rate,
            mix,
        }
    }

    /// A real Odoo's connections sit `idle in transaction` between a request's queries: they
    /// are held all the same. The 10 Hz series, when recorded, is the one taken.
    #[test]
    fn held_connections_count_the_open_transactions() {
        let probe = |series: &[(&str, [f64; 2])]| {
            let mut r = crate::verdict::fixture::run();
            r.probes.insert(
                "postgres".into(),
                crate::result::ProbeReport {
                    kind: crate::plan::ProbeKind::Postgres,
                    target: String::new(),
                    interval_s: 1.0,
                    coverage: 1.0,
                    gaps: Vec::new(),
                    missing: Vec::new(),
                    series: series
                        .iter()
                        .map(|(n, v)| (n.to_string(), vec![[0.0, v[0]], [1.0, v[1]]]))
                        .collect(),
                },
            );
            held_connections(&r)
        };
        let once_a_second = [
            ("connections_active", [0.0, 1.0]),
            ("connections_idle_in_transaction", [2.0, 3.0]),
            ("connections_idle_in_transaction_aborted", [0.0, 1.0]),
            ("connections_idle", [9.0, 9.0]),
        ];
        let (held, source) = probe(&once_a_second).unwrap();
        assert_eq!(held, 3.5);
        assert_eq!(
            source,
            "connections_active + connections_idle_in_transaction + connections_idle_in_transaction_aborted"
        );
        let mut both = once_a_second.to_vec();
        both.push(("connections_in_transaction", [2.0, 2.2]));
        let (held, source) = probe(&both).unwrap();
        assert!((held - 2.1).abs() < 1e-12, "{held}");
        assert!(source.starts_with("connections_in_transaction"), "{source}");
        // Idle connections are not held; without any held series there is no hold time.
        assert_eq!(probe(&[("connections_idle", [9.0, 9.0])]), None);
    }

    /// The stage-mix case: `everyday` at 2/s of both flows, `promotion` at 10/s of
    /// `lookup` only. `customer` journeys make one 100 ms request, `lookup` one 50 ms one.
    fn stage_mix_run(customer_journeys: u64) -> RunResult {
        let mut r = crate::verdict::fixture::run();
        r.plan.scenarios = vec!["customer".into(), "lookup".into()];
        r.plan.mix = [("customer".to_string(), 1.0), ("lookup".to_string(), 1.0)].into();
        r.plan.stages = vec![
            stage("everyday", 0.0, 2.0, None),
            stage("promotion", 3.0, 10.0, Some(vec![0.0, 1.0])),
        ];
        r.transactions = [
            ("customer".to_string(), tx(customer_journeys, 300.0)),
            ("customer/search".to_string(), tx(customer_journeys, 100.0)),
            ("lookup".to_string(), tx(33, 60.0)),
            ("lookup/read".to_string(), tx(33, 50.0)),
        ]
        .into();
        r.totals.journeys = customer_journeys + 33;
        r.totals.requests = customer_journeys + 33;
        r
    }

    fn options() -> Options {
        Options {
            at_scale: 1.0,
            target_wait_s: 0.5,
            service_level: 0.95,
            margin: 0.25,
        }
    }

    fn flow<'a>(c: &'a CapacityReport, name: &str) -> &'a FlowSizing {
        c.flows.iter().find(|f| f.flow == name).expect(name)
    }

    #[test]
    fn capacity_stage_mix_sizes_each_flow_at_its_own_stages_peak() {
        let runs = vec![(stage_mix_run(3), "r".to_string(), None)];
        let c = build(&runs, None, &options()).unwrap();
        // lookup: 10/s in `promotion`, whose mix is lookup alone (not 5/s of a 50:50 split).
        let lookup = flow(&c, "lookup");
        assert_eq!(lookup.peak_stage.as_deref(), Some("promotion"));
        assert!(
            (lookup.peak_journeys_per_s - 10.0).abs() < 1e-9,
            "{lookup:?}"
        );
        assert!((lookup.request_rate_per_s - 10.0).abs() < 1e-9);
        // customer: only in `everyday`, half of 2/s.
        let customer = flow(&c, "customer");
        assert_eq!(customer.peak_stage.as_deref(), Some("everyday"));
        assert!(
            (customer.peak_journeys_per_s - 1.0).abs() < 1e-9,
            "{customer:?}"
        );
        // Together: `promotion` offers 10 × 50 ms = 0.5 Erlangs, `everyday` 0.15.
        assert_eq!(c.total.flow, "all flows");
        assert_eq!(c.total.peak_stage.as_deref(), Some("promotion"));
        assert!(
            (c.total.offered_erlangs - 0.5).abs() < 1e-9,
            "{:?}",
            c.total
        );
        assert!((c.peak_request_rate_per_s - 10.0).abs() < 1e-9);
    }

    #[test]
    fn capacity_failed_flow_is_marked_and_not_sized_from_its_error_answers() {
        let mut r = stage_mix_run(10);
        // 4 of 10 customer journeys failed (fast error answers): not a basis for sizing.
        let customer = r.transactions.get_mut("customer").unwrap();
        customer.errors = [("http_500".to_string(), 4)].into();
        let c = build(&[(r.clone(), "r".to_string(), None)], None, &options()).unwrap();
        assert!(
            c.flows.iter().all(|f| f.flow != "customer"),
            "{:?}",
            c.flows
        );
        assert_eq!(c.unmeasured.len(), 1);
        assert_eq!(c.unmeasured[0].flow, "customer");
        assert!(
            c.unmeasured[0]
                .reason
                .contains("4 of 10 journeys of customer failed in run"),
            "{}",
            c.unmeasured[0].reason
        );
        assert_eq!(c.total.flow, "all measured flows");
        assert!(c.recommendation.contains("NOT SIZED: customer"));
        // A few failures (at most 5%) are sized, and said.
        r.transactions.get_mut("customer").unwrap().errors = [("timeout".to_string(), 0)].into();
        r.transactions.get_mut("lookup").unwrap().errors = [("timeout".to_string(), 1)].into();
        let c = build(&[(r.clone(), "r".to_string(), None)], None, &options()).unwrap();
        assert!(c.unmeasured.is_empty());
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("flow lookup: 1 of 33 journeys failed")),
            "{:?}",
            c.notes
        );
        // Every flow failing is no basis at all.
        for t in ["customer", "lookup"] {
            let n = r.transactions[t].count;
            r.transactions.get_mut(t).unwrap().errors = [("http_500".to_string(), n)].into();
        }
        let err = build(&[(r, "r".to_string(), None)], None, &options()).unwrap_err();
        assert_eq!(err.flows, ["customer", "lookup"]);
    }

    #[test]
    fn capacity_logins_are_bounded_by_the_pool_not_scaled_with_journeys() {
        let mut r = stage_mix_run(3);
        // 36 journeys logged in 4 times (a pool of 4 sessions), 200 ms each.
        r.transactions
            .insert(crate::plan::AUTH_STEP.to_string(), tx(4, 200.0));
        r.totals.requests += 4;
        r.plan.logins = Some(4);
        let c = build(&[(r.clone(), "r".to_string(), None)], None, &options()).unwrap();
        // The peak (promotion, 10 lookups/s of 50 ms) has no login load added.
        assert!((c.peak_request_rate_per_s - 10.0).abs() < 1e-9, "{c:?}");
        assert!((c.total.offered_erlangs - 0.5).abs() < 1e-9);
        let l = c.logins.as_ref().unwrap();
        assert_eq!((l.measured, l.pool), (4, Some(4)));
        assert!(
            l.basis
                .contains("bounded by the 4 sessions of the [load] logins pool")
        );
        assert!(
            super::super::markdown::render(&c).contains("- logins: logins are bounded by the 4")
        );
        // Redis: 4 logged-in sessions grew used_memory by 1 MB; the pool bounds them at 4,
        // so there is no growth per hour with the load.
        let mut with_redis = r.clone();
        with_redis.probes.insert(
            "redis".into(),
            serde_json::from_value(serde_json::json!({"kind": "redis", "interval_s": 1.0,
                "coverage": 1.0, "series": {"used_memory_bytes": [[0, 1.0e6], [1, 2.0e6]]}}))
            .unwrap(),
        );
        let c = build(&[(with_redis, "r".to_string(), None)], None, &options()).unwrap();
        let redis = c.redis.unwrap();
        assert_eq!(redis.bytes_per_session, Some(250_000.0));
        assert_eq!(redis.bounded_sessions_bytes, Some(1.0e6));
        assert_eq!(redis.growth_per_hour_at_peak_bytes, None);
        assert!(
            redis
                .basis
                .iter()
                .any(|b| b.contains("bounded by the [load] logins pool of 4"))
        );
        // A run that does not record its pool scales them (4 per 36 journeys), and says so.
        r.plan.logins = None;
        let c = build(&[(r, "r".to_string(), None)], None, &options()).unwrap();
        assert!((c.peak_request_rate_per_s - (10.0 + 10.0 * 4.0 / 36.0)).abs() < 1e-9);
        assert_eq!(c.logins.unwrap().pool, None);
    }

    #[test]
    fn capacity_closed_model_sizes_terminals_at_their_measured_pace_not_as_journeys_per_s() {
        let mut r = stage_mix_run(3);
        // 4 then 20 terminals for 3 s each (72 terminal-seconds) finished 36 journeys: half a
        // journey per terminal per second, so `promotion` is 10 journeys/s, not 20.
        r.plan.model = crate::config::profile::ModelKind::Closed;
        r.plan.stages[0].from = 4.0;
        r.plan.stages[0].to = 4.0;
        r.plan.stages[1].from = 20.0;
        r.plan.stages[1].to = 20.0;
        r.duration_s = 6.0;
        let c = build(&[(r, "r".to_string(), None)], None, &options()).unwrap();
        let lookup = flow(&c, "lookup");
        assert!(
            (lookup.peak_journeys_per_s - 10.0).abs() < 1e-9,
            "{lookup:?}"
        );
        assert!(
            c.notes
                .iter()
                .any(|n| n.contains("0.5000 journeys/s per terminal")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn capacity_unmeasured_flow_is_marked_and_left_out_of_the_total_never_sized_as_zero() {
        let runs = vec![(stage_mix_run(0), "r".to_string(), None)];
        let c = build(&runs, None, &options()).unwrap();
        assert!(
            c.flows.iter().all(|f| f.flow != "customer"),
            "{:?}",
            c.flows
        );
        assert_eq!(c.unmeasured.len(), 1);
        assert_eq!(c.unmeasured[0].flow, "customer");
        assert!((c.unmeasured[0].peak_journeys_per_s - 1.0).abs() < 1e-9);
        assert_eq!(c.total.flow, "all measured flows");
        assert!(
            c.recommendation.contains("NOT SIZED: customer"),
            "{}",
            c.recommendation
        );
        let md = crate::capacity::markdown::render(&c);
        assert!(
            md.contains("| customer | 1.00 | unmeasured |")
                && md.contains("| all measured flows (without customer) |"),
            "{md}"
        );
        assert!(!md.contains("| customer | 1.00 | 0.00 |"), "{md}");
    }

    #[test]
    fn capacity_unmeasured_flow_is_measured_from_another_run_when_one_has_it() {
        // The lightest run saw no customer journey; a heavier one did.
        let light = stage_mix_run(0);
        let mut heavy = stage_mix_run(6);
        heavy.run_id = "heavy".into();
        heavy.totals.requests *= 10;
        let runs = vec![
            (light, "a".to_string(), None),
            (heavy, "b".to_string(), None),
        ];
        let c = build(&runs, None, &options()).unwrap();
        assert!(c.unmeasured.is_empty());
        let customer = flow(&c, "customer");
        assert!(
            (customer.mean_service_ms - 100.0).abs() < 1e-9,
            "{customer:?}"
        );
        assert!(
            c.notes.iter().any(|n| n.contains("from run heavy")),
            "{:?}",
            c.notes
        );
    }

    #[test]
    fn capacity_run_without_journeys_is_refused_not_sized_at_zero_workers() {
        let mut r = stage_mix_run(0);
        r.transactions.clear();
        r.totals.journeys = 0;
        r.totals.requests = 0;
        let runs = vec![(r, "r".to_string(), None)];
        let e = build(&runs, None, &options()).unwrap_err();
        assert_eq!(e.flows, vec!["customer".to_string(), "lookup".to_string()]);
        assert!(e.to_string().contains("no journey was measured"), "{e}");
    }
}
