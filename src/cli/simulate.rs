//! `peakgate simulate`: a profile against a simulated Odoo calibrated from a measured run;
//! one configuration, or a sweep for the smallest one that meets the latency objectives.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::Context;

use super::{Exit, InputError, SimulateArgs, Sweep, SweepKey, UsageError};
use crate::capacity::slo::{self, SloCheck};
use crate::metrics::hlog::HlogWriter;
use crate::plan::{Plan, Target};
use crate::result::{
    ODOO_LOG, PROFILE_COPY, PlanInfo, ProfileInfo, RunDir, RunResult, RunStatus, SCHEMA,
    SimulationInfo, TargetInfo, new_run_id, write_atomic,
};
use crate::simulate::calibrate::{Calibration, Source, StepLaws};
use crate::simulate::des::{self, Laws, Server, Simulated};
use crate::standin::StandinConfig;

/// Runs `peakgate simulate`.
pub fn simulate(args: SimulateArgs) -> anyhow::Result<Exit> {
    let args = &args;
    let calibration =
        Calibration::load(&args.from, args.odoo_log.as_deref()).map_err(|e| InputError {
            flag: "--from",
            source: e.into(),
        })?;
    // The steps of the Odoo version the calibration run measured.
    let mut overrides = args.plan.overrides(None);
    let measured = &calibration.run.plan.odoo_version;
    overrides.server_version = (!measured.is_empty()).then(|| measured.clone());
    let plan = Plan::load(&args.profile, &overrides)?;
    let names: Vec<&str> = plan
        .step_names
        .iter()
        .map(String::as_str)
        .chain(plan.scenarios.iter().map(|s| s.name.as_str()))
        .collect();
    if let Some(why) = slo::unmatched(&args.slo, &names) {
        return Err(UsageError(why).into());
    }
    let calibration_workers = args
        .calibration_workers
        .or_else(|| standin_workers_of(&calibration.dir, &calibration.run));
    let step_laws = calibration
        .service_laws(&plan, args.service_times, calibration_workers)
        .map_err(|e| UsageError(e.to_string()))?;
    let profile_workers = standin_workers(&plan);
    let workers = args.workers.map(|w| w as usize).or(profile_workers).ok_or_else(|| UsageError(
        "no worker count: give --workers N (the profile's target is not the stand-in, whose config would say)".into(),
    ))?;
    let mut warnings = Vec::new();
    let raw = step_laws
        .sources
        .iter()
        .any(|s| matches!(s, Some(Source::Latency)));
    match calibration.queueing_hint(calibration_workers) {
        Some(q) if raw && q.p_wait > 0.05 => warnings.push(format!(
            "the calibration run kept {:.0}% of {} workers busy: about {:.0}% of its requests waited (Erlang C), and steps calibrated from its latency as measured include that queueing, so predictions err high; give Odoo's log (--odoo-log) or calibrate from a lighter run",
            q.occupancy * 100.0,
            q.servers,
            q.p_wait * 100.0
        )),
        Some(_) => {}
        None if raw => warnings.push(
            "the calibration run's worker count is unknown (give --calibration-workers N): its queueing could not be removed from the steps Odoo's log does not give; calibrate from a light run".into(),
        ),
        None => {}
    }
    for note in &step_laws.notes {
        warnings.push(format!("not from Odoo's log: {note}"));
    }
    if calibration.run.simulation.is_some() {
        warnings.push(format!(
            "{} is itself a simulated run: its histograms are predictions, not measurements",
            calibration.run_id
        ));
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let laws = Laws {
        service: step_laws.laws.clone(),
        outside_s: step_laws.outside_s.clone(),
        failures: plan
            .step_names
            .iter()
            .map(|s| calibration.failures.get(s).cloned())
            .collect(),
    };
    let server = Server {
        workers,
        db_connections: args.db_maxconn.map(|m| m as usize),
    };

    if let Some(sweep) = &args.sweep {
        if args.slo.is_empty() {
            return Err(UsageError(
                "--sweep needs at least one --slo objective to pass (e.g. --slo p95=800ms)".into(),
            )
            .into());
        }
        let notes = Provenance::of(&plan, &step_laws, warnings);
        return run_sweep(args, &plan, &laws, &calibration, server, sweep, &notes);
    }
    let notes = Provenance::of(&plan, &step_laws, warnings);
    let (result, dir) = write_run(args, &plan, &laws, &calibration, server, &notes)?;
    let checks = slo::check(&args.slo, &result);
    if args.json {
        let v = serde_json::json!({"run_dir": dir.path, "run": result, "slo": checks});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if args.quiet {
        println!("{}", dir.path.display());
    } else {
        print!("{}", super::run::summary(&result, &dir));
        print_simulation(&result);
        print_checks(&checks);
    }
    Ok(if slo::passes(&checks) {
        Exit::Pass
    } else {
        Exit::GateFailed
    })
}

/// Where the simulated run's service times came from, and the cautions to print and store.
struct Provenance {
    /// The sources used, e.g. `odoo.log` or `odoo.log + latency.hlog less the mean wait`.
    summary: String,
    /// Step name → its source.
    by_step: BTreeMap<String, String>,
    warnings: Vec<String>,
}

impl Provenance {
    fn of(plan: &Plan, laws: &StepLaws, warnings: Vec<String>) -> Provenance {
        let mut kinds = Vec::new();
        let mut by_step = BTreeMap::new();
        for (name, source) in plan.step_names.iter().zip(&laws.sources) {
            let Some(source) = source else { continue };
            let kind = match source {
                Source::OdooLog { .. } => ODOO_LOG,
                Source::LatencyLessWait { .. } => "latency.hlog less the mean wait",
                Source::Latency => "latency.hlog",
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
            by_step.insert(name.clone(), source.to_string());
        }
        Provenance {
            summary: kinds.join(" + "),
            by_step,
            warnings,
        }
    }
}

/// The stand-in's worker count when the plan's target is the built-in stand-in.
pub(super) fn standin_workers(plan: &Plan) -> Option<usize> {
    match &plan.target {
        Target::StandIn {
            workers,
            release,
            config,
        } => StandinConfig::load(config.as_deref(), release.as_deref(), *workers)
            .ok()
            .map(|c| c.workers),
        Target::Odoo { .. } => None,
    }
}

/// The stand-in's worker count of the profile a stored run ran (the copy in its folder, or
/// the original when it is unchanged), when it still builds.
pub(super) fn standin_workers_of(dir: &Path, run: &RunResult) -> Option<usize> {
    let src = crate::result::stored_profile(dir, run).ok()?;
    let plan = Plan::build(
        &src,
        &crate::plan::Overrides::default(),
        &crate::target::data::DataSets::offline(),
    )
    .ok()?;
    standin_workers(&plan)
}

/// Simulates one configuration without artifacts (for a sweep).
fn dry(plan: &Plan, laws: &Laws, server: Server) -> anyhow::Result<Simulated> {
    Ok(des::run::<std::io::Sink>(plan, laws, server, None)?)
}

fn run_sweep(
    args: &SimulateArgs,
    plan: &Plan,
    laws: &Laws,
    calibration: &Calibration,
    base: Server,
    sweep: &Sweep,
    notes: &Provenance,
) -> anyhow::Result<Exit> {
    let mut rows = Vec::new();
    let mut chosen = None;
    for n in sweep.from..=sweep.to {
        let server = match sweep.key {
            SweepKey::Workers => Server { workers: n, ..base },
            SweepKey::DbMaxconn => Server {
                db_connections: Some(n),
                ..base
            },
        };
        let sim = dry(plan, laws, server)?;
        let result = result_of(plan, calibration, server, &sim, 0.0, notes);
        let checks = slo::check(&args.slo, &result);
        let pass = slo::passes(&checks);
        let worst = checks
            .iter()
            .map(|c| c.observed_ms / c.threshold_ms)
            .fold(0.0, f64::max);
        if !args.quiet && !args.json {
            eprintln!(
                "{}={n:<4} {} (worst objective at {:.0}% of its threshold; p95 wait {:.1} ms, utilization {:.0}%)",
                sweep.key.name(),
                if pass { "pass" } else { "fail" },
                worst * 100.0,
                sim.queueing.wait_ms.p95,
                sim.queueing.worker_utilization * 100.0
            );
        }
        rows.push(serde_json::json!({
            sweep.key.name(): n, "pass": pass, "checks": checks,
            "wait_p95_ms": sim.queueing.wait_ms.p95,
            "worker_utilization": sim.queueing.worker_utilization,
        }));
        if pass {
            chosen = Some(server);
            break;
        }
    }
    let Some(server) = chosen else {
        let msg = format!(
            "no {} in {}..{} meets the objectives",
            sweep.key.name(),
            sweep.from,
            sweep.to
        );
        if args.json {
            println!("{}", serde_json::json!({"smallest": null, "sweep": rows}));
        } else {
            println!("{msg}");
        }
        return Ok(Exit::GateFailed);
    };
    let (result, dir) = write_run(args, plan, laws, calibration, server, notes)?;
    let n = match sweep.key {
        SweepKey::Workers => server.workers,
        SweepKey::DbMaxconn => server.db_connections.unwrap_or(0),
    };
    let summary = serde_json::json!({
        "key": sweep.key.name(), "smallest": n, "slo": args.slo, "sweep": rows,
        "run_dir": dir.path,
    });
    let text = serde_json::to_vec_pretty(&summary).context("cannot serialize sweep.json")?;
    write_atomic(&dir.file("sweep.json"), &text)
        .with_context(|| format!("cannot write {}", dir.file("sweep.json").display()))?;
    if args.json {
        println!("{}", String::from_utf8_lossy(&text));
    } else {
        println!(
            "smallest {} meeting {}: {n} (simulated run in {})",
            sweep.key.name(),
            args.slo
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            dir.path.display()
        );
        if !args.quiet {
            print_checks(&slo::check(&args.slo, &result));
        }
    }
    Ok(Exit::Pass)
}

/// Simulates `server` and writes `run.json` and `latency.hlog` to a new run folder.
fn write_run(
    args: &SimulateArgs,
    plan: &Plan,
    laws: &Laws,
    calibration: &Calibration,
    server: Server,
    notes: &Provenance,
) -> anyhow::Result<(RunResult, RunDir)> {
    let started_at = SystemTime::now();
    let run_id = new_run_id(&format!("{}-sim", plan.name), started_at);
    let dir = super::create_run_dir(&args.out, &run_id)?;
    let path = dir.file("latency.hlog");
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let clock = Instant::now();
    let sim = des::run(
        plan,
        laws,
        server,
        Some(HlogWriter::new(BufWriter::new(file), started_at)),
    )?;
    let wall_s = clock.elapsed().as_secs_f64();
    let mut result = result_of(plan, calibration, server, &sim, wall_s, notes);
    result.run_id = run_id;
    result.started_at = humantime::format_rfc3339_millis(started_at).to_string();
    let json = serde_json::to_vec_pretty(&result).context("cannot serialize run.json")?;
    write_atomic(&dir.file("run.json"), &json)
        .with_context(|| format!("cannot write {}", dir.file("run.json").display()))?;
    // The gate the simulated run is judged by (the profile's, with `--gate` merged), so that
    // `peakgate verdict` and `report` on this folder judge it as a run's.
    let gate = serde_json::to_vec_pretty(&plan.gate).context("cannot serialize gate.json")?;
    write_atomic(&dir.file("gate.json"), &gate)
        .with_context(|| format!("cannot write {}", dir.file("gate.json").display()))?;
    // The profile simulated, as for a run: `capacity` plans from this copy.
    let profile = plan.scrubber().scrub(&plan.profile_text);
    write_atomic(&dir.file(PROFILE_COPY), profile.as_bytes())
        .with_context(|| format!("cannot write {}", dir.file(PROFILE_COPY).display()))?;
    Ok((result, dir))
}

fn result_of(
    plan: &Plan,
    calibration: &Calibration,
    server: Server,
    sim: &Simulated,
    wall_s: f64,
    notes: &Provenance,
) -> RunResult {
    let f = &sim.figures;
    RunResult {
        schema: SCHEMA.into(),
        run_id: String::new(),
        peakgate_version: crate::result::PEAKGATE_VERSION.to_string(),
        status: RunStatus::Completed,
        profile: ProfileInfo::from_plan(plan),
        release: calibration.run.release.clone(),
        target: TargetInfo {
            kind: "simulation".into(),
            url: format!("simulation calibrated from {}", calibration.run_id),
            database: None,
            standin_release: calibration.run.target.standin_release.clone(),
        },
        started_at: String::new(),
        duration_s: (sim.duration_s * 1000.0).round() / 1000.0,
        plan: PlanInfo::from_plan(plan),
        totals: f.totals.clone(),
        transactions: f.transactions.clone(),
        timeline: f.timeline.clone(),
        generator: Default::default(),
        probes: Default::default(),
        simulation: Some(SimulationInfo {
            calibration_run: calibration.run_id.clone(),
            calibration_dir: calibration.dir.display().to_string(),
            service_source: notes.summary.clone(),
            service_by_step: notes.by_step.clone(),
            workers: server.workers,
            db_connections: server.db_connections,
            events: sim.events,
            wall_s: (wall_s * 1000.0).round() / 1000.0,
            events_per_s: if wall_s > 0.0 {
                (sim.events as f64 / wall_s).round()
            } else {
                0.0
            },
            warnings: notes.warnings.clone(),
            queueing: sim.queueing.clone(),
        }),
        shard: None,
        merge: None,
    }
}

fn print_simulation(r: &RunResult) {
    if let Some(s) = &r.simulation {
        println!(
            "simulated {} workers{}: {} events in {:.3} s of wall time ({:.0} events/s), calibrated from {}",
            s.workers,
            s.db_connections
                .map_or(String::new(), |m| format!(", {m} database connections")),
            s.events,
            s.wall_s,
            s.events_per_s,
            s.calibration_run
        );
    }
    if let Some(s) = &r.simulation {
        let q = &s.queueing;
        println!(
            "queueing: {:.0}% of requests waited, p95 wait {} ms, longest queue {}, worker utilization {:.0}%",
            q.waited_share * 100.0,
            q.wait_ms.p95,
            q.max_queue,
            q.worker_utilization * 100.0
        );
    }
}

fn print_checks(checks: &[SloCheck]) {
    for c in checks {
        println!(
            "objective {} {} ≤ {} ms: {} ({:.1} ms)",
            c.transaction,
            c.stat,
            c.threshold_ms,
            if c.pass { "pass" } else { "FAIL" },
            c.observed_ms
        );
    }
}
