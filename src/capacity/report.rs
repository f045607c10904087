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
    /// Projected growth per hour at the sized peak, bytes.
    pub growth_per_hour_at_peak_bytes: Option<f64>,
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
    pub flows: Vec<FlowSizing>,
    pub total: FlowSizing,
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
/// filled in by the caller, which can simulate.
pub fn build(
    runs: &[(RunResult, String, Option<String>)],
    service_run: Option<&RunResult>,
    o: &Options,
) -> CapacityReport {
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
        .min_by(|a, b| {
            let x = |r: &RunResult| r.totals.requests as f64 / r.duration_s.max(1e-9);
            x(&a.0).total_cmp(&x(&b.0))
        })
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
    // Load of the sized peak relative to the lightest run.
    let peak_level = light
        .plan
        .stages
        .iter()
        .map(|s| s.from.max(s.to))
        .fold(0.0, f64::max);
    let factor = o.at_scale / light.plan.rate_scale.max(1e-9);
    let weight_sum: f64 = light.plan.mix.values().sum::<f64>().max(1e-9);
    let mut flows = Vec::new();
    let (mut rate_all, mut erlangs_all) = (0.0, 0.0);
    for (scenario, weight) in &light.plan.mix {
        let journeys = light.transactions.get(scenario).map_or(0, |t| t.count);
        let peak_journeys = peak_level * factor * weight / weight_sum;
        let (mut rate, mut erlangs) = (0.0, 0.0);
        for (name, tx) in &light.transactions {
            if name.split_once('/').map(|(s, _)| s) != Some(scenario.as_str()) || journeys == 0 {
                continue;
            }
            let per_journey = tx.count as f64 / journeys as f64;
            rate += peak_journeys * per_journey;
            erlangs += peak_journeys * per_journey * tx.service_ms.mean / 1000.0;
        }
        flows.push(sizing(scenario, peak_journeys, rate, erlangs, o));
        rate_all += rate;
        erlangs_all += erlangs;
    }
    // Logins are shared by the flows that log in; they scale with the load.
    if let Some(auth) = light.transactions.get(crate::plan::AUTH_STEP) {
        let journeys: u64 = light.totals.journeys.max(1);
        let rate = peak_level * factor * auth.count as f64 / journeys as f64;
        rate_all += rate;
        erlangs_all += rate * auth.service_ms.mean / 1000.0;
    }
    let peak_journeys_all = peak_level * factor;
    let total = sizing("all flows", peak_journeys_all, rate_all, erlangs_all, o);
    let headroom = usl
        .as_ref()
        .map(|f| f.max_throughput_per_s / rate_all.max(1e-9))
        .filter(|h| h.is_finite());
    let connections = connections(runs, &total, o);
    let redis = redis(runs, rate_all);
    let recommendation = recommend(o, &total, &connections, headroom, rate_all);
    CapacityReport {
        schema: SCHEMA.into(),
        profile: light.profile.name.clone(),
        options: o.clone(),
        runs: points,
        usl,
        usl_error,
        peak_request_rate_per_s: rate_all,
        headroom,
        flows,
        total,
        slo: None,
        connections,
        redis,
        recommendation,
        notes,
    }
}

fn sizing(flow: &str, journeys: f64, rate: f64, erlangs: f64, o: &Options) -> FlowSizing {
    let service_s = if rate > 0.0 { erlangs / rate } else { 0.0 };
    let needed = if rate > 0.0 {
        erlang::servers_needed(rate, service_s, o.target_wait_s, o.service_level)
    } else {
        0
    };
    FlowSizing {
        flow: flow.to_string(),
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
        let active = series(r, "postgres", "connections_active")?;
        let x = r.totals.requests as f64 / r.duration_s.max(1e-9);
        (x > 0.0).then(|| (r.run_id.clone(), mean(&active), x))
    });
    let (hold_time_ms, busy) = match measured {
        Some((id, active, x)) => {
            let hold_s = active / x;
            basis.push(format!(
                "hold time = mean active connections / throughput = {active:.2} / {x:.1} per s = {:.1} ms (Little's law, run {id}, PostgreSQL probe connections_active)",
                hold_s * 1000.0
            ));
            let busy = total.request_rate_per_s * hold_s;
            basis.push(format!(
                "busy connections at peak = {:.1} requests/s × {:.1} ms = {busy:.2}",
                total.request_rate_per_s,
                hold_s * 1000.0
            ));
            (Some(hold_s * 1000.0), busy)
        }
        None => {
            basis.push("connection hold time: MISSING (no run has probes.postgres.series.connections_active); assumed a busy worker holds one connection for its whole request, an upper bound: busy connections = offered load in Erlangs".into());
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
    let growth = per_session.map(|b| {
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
