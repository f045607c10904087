//! `peakgate run`: profile → (stand-in) → preflight and target data → plan → engine + recorder
//! + progress → RunResult → artifacts; the POS sessions it sold into are closed at the end.

use std::fs::File;
use std::io::BufWriter;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::SystemTime;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::signals;
use super::{Exit, RunArgs, progress};
use crate::config::ConfigError;
use crate::config::profile::ProfileSource;
use crate::engine::{self, Connection, Ending, Wiring};
use crate::metrics::hlog::HlogWriter;
use crate::metrics::{Recorder, TimelineEntry};
use crate::odoo::{OdooClient, parse_target};
use crate::plan::gate::Abort;
use crate::plan::{Overrides, Plan, Secret, Target};
use crate::probes::{Finished, ProbeSet, Shared, StartError};
use crate::result::ODOO_LOG;
use crate::result::{
    PlanInfo, ProfileInfo, RunDir, RunResult, RunStatus, SCHEMA, TargetInfo, new_run_id,
    write_atomic,
};
use crate::standin::{self, StandinConfig};
use crate::target::data::DataSets;
use crate::target::{Login, Prepared};
use crate::verdict::Stored;
use crate::verdict::abort::AbortWatch;

/// Runs `peakgate run`: one run, or a stepped run with `--scale`.
pub fn run(args: RunArgs) -> Exit {
    let overrides = args.plan.overrides(args.release.clone());
    let plan = match Plan::load(&args.profile, &overrides) {
        Ok(p) => p,
        Err(e) => return bad_input(&e),
    };
    if !args.scale.is_empty() {
        if args.baseline.is_some() {
            eprintln!(
                "error: --scale and --baseline do not combine: compare single runs of the same load"
            );
            return Exit::BadInput;
        }
        return super::scale::run(&args, plan);
    }
    let baseline = match &args.baseline {
        Some(dir) => match Stored::load(dir) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("error: --baseline: {e}");
                return Exit::BadInput;
            }
        },
        None => None,
    };
    let started_at = SystemTime::now();
    let run_id = new_run_id(&plan.name, started_at);
    let dir = match super::create_run_dir(&args.out, &run_id) {
        Ok(d) => d,
        Err(exit) => return exit,
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let gate = plan.gate.clone();
    if let Err(exit) = runtime.block_on(run_once(&overrides, &dir, run_id, started_at, &args)) {
        return exit;
    }
    let (result, verdict) = match super::judge::judge_and_write(&dir.path, &gate, baseline.as_ref())
    {
        Ok(judged) => judged,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Exit::Internal;
        }
    };
    if args.quiet {
        println!("{}", dir.path.display());
    } else {
        print!("{}", summary(&result, &dir));
        println!("{}", super::judge::verdict_line(&verdict));
    }
    if verdict.checks.len() <= 1 {
        eprintln!(
            "peakgate: note: the profile has no [gate]: only `run completed` was checked, so any completed run passes"
        );
    }
    super::judge::exit_for(&result, &verdict, args.fail_on_warn)
}

pub(super) fn bad_input(e: &ConfigError) -> Exit {
    eprintln!("error: {e}");
    Exit::BadInput
}

/// Drives one run of the profile into `dir`: the target is started (the built-in stand-in)
/// or reached, checked and prepared (`target-data.json`), then gate.json is written, then
/// latency.hlog as the load goes and run.json at the end; the POS sessions the run sold into
/// are closed after the load. The caller judges the run from what was written. A target that
/// fails its preflight leaves no run folder and exits 2.
pub(super) async fn run_once(
    overrides: &Overrides,
    dir: &RunDir,
    run_id: String,
    started_at: SystemTime,
    args: &RunArgs,
) -> Result<(), Exit> {
    let src = ProfileSource::read(&args.profile).map_err(|e| bad_input(&e))?;
    let draft = Plan::build(&src, overrides, &DataSets::offline()).map_err(|e| bad_input(&e))?;
    let standin_stop = CancellationToken::new();
    let (client, login, database, standin) = match &draft.target {
        Target::StandIn {
            workers,
            release,
            config,
        } => {
            let mut config = StandinConfig::load(config.as_deref(), release.as_deref(), *workers)
                .map_err(|e| bad_input(&e))?;
            // A profile written for a version drives a stand-in of that version.
            if let Some(v) = &draft.declared_version {
                config.server_version = v.clone();
            }
            let login = Login {
                login: config.login.clone(),
                password: Secret::new(config.password.clone()),
                password_env: "the stand-in's config".into(),
            };
            let database = config.database.clone();
            let listen = ([127, 0, 0, 1], 0).into();
            // Odoo's request log of the run, beside its artifacts: the simulator calibrates
            // from its server-side times.
            let log_path = dir.file(ODOO_LOG);
            let access_log = standin::AccessLog::create(&log_path, &database).map_err(|e| {
                eprintln!("error: cannot create {}: {e}", log_path.display());
                Exit::Internal
            })?;
            let s = standin::start(config, listen, standin_stop.clone(), Some(access_log))
                .await
                .map_err(|e| {
                    eprintln!("error: cannot start the built-in stand-in: {e}");
                    Exit::BadInput
                })?;
            let url = parse_target(&s.url()).map_err(|e| {
                eprintln!("error: the stand-in's address: {e}");
                Exit::BadInput
            })?;
            (
                client_for(&draft, &url),
                Some(login),
                Some(database),
                Some(s),
            )
        }
        Target::Odoo {
            url,
            database,
            login,
            password,
            password_env,
        } => {
            let url = parse_target(url).map_err(|e| {
                eprintln!("error: --target: {e}");
                Exit::BadInput
            })?;
            let login = password.clone().map(|password| Login {
                login: login.clone(),
                password,
                password_env: password_env.clone(),
            });
            (client_for(&draft, &url), login, database.clone(), None)
        }
    };
    let client = match &args.wire_log {
        None => client,
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => client.recording(Box::new(std::io::BufWriter::new(f))),
            Err(e) => {
                eprintln!("error: --wire-log {}: {e}", path.display());
                return Err(Exit::BadInput);
            }
        },
    };
    let stop_standin = |s: Option<standin::RunningStandin>| async {
        if let Some(s) = s {
            standin_stop.cancel();
            if let Err(e) = s.wait().await {
                eprintln!("error: {e}");
            }
        }
    };
    if !args.quiet {
        eprintln!(
            "peakgate: preflight of {}",
            client.base().as_str().trim_end_matches('/')
        );
    }
    let prepared = Prepared::prepare(
        &client,
        &src,
        overrides,
        draft.declared_version.as_deref(),
        database.as_deref(),
        login.as_ref(),
    )
    .await;
    let (plan, mut prepared) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            stop_standin(standin).await;
            // Nothing was measured or judged: leave no run folder behind.
            let _ = std::fs::remove_dir_all(&dir.path);
            return Err(Exit::BadInput);
        }
    };
    if !args.quiet {
        let t = &prepared.target_data;
        eprintln!(
            "peakgate: Odoo {} ({}), database {:?}; read {} data set(s) in {} call(s), {} ms",
            t.odoo_version,
            t.server_version,
            t.database,
            t.datasets.len(),
            t.discovery_calls,
            t.discovery_ms
        );
        for a in &t.preparation {
            eprintln!("peakgate: {}: {}", a.action, a.detail);
        }
    }
    let plan = Arc::new(plan);
    let stored = write_json(&dir.file("target-data.json"), &prepared.target_data)
        // The gate the run is judged by, stored first: `peakgate verdict` reads it back.
        .and_then(|_| write_json(&dir.file("gate.json"), &plan.gate));
    if let Err(e) = stored {
        eprintln!("error: {e}");
        prepared.clean_up(&client).await;
        stop_standin(standin).await;
        return Err(Exit::BadInput);
    }
    let conn = Connection {
        client: client.clone(),
        credentials: prepared.credentials.clone(),
        sessions: prepared.login_session().into_iter().collect(),
    };
    let driven = drive(plan, conn, dir, run_id, started_at, args).await;
    // The POS sessions are closed whatever happened to the load: their orders get posted.
    for a in prepared.clean_up(&client).await {
        eprintln!(
            "peakgate: {}: {}{}",
            a.action,
            if a.ok { "" } else { "FAILED: " },
            a.detail
        );
    }
    if let Err(e) = write_json(&dir.file("target-data.json"), &prepared.target_data) {
        eprintln!("error: {e}");
    }
    stop_standin(standin).await;
    driven.map(|_| ())
}

/// A client for the run: its timeout, and idle connections for the in-flight cap.
fn client_for(plan: &Plan, url: &url::Url) -> OdooClient {
    OdooClient::http_capped(
        url,
        plan.load.timeout(),
        plan.load.max_in_flight.min(4096),
        plan.load.max_body,
    )
}

/// Writes `value` as pretty JSON, atomically; the error names the file.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| format!("cannot serialize {}: {e}", path.display()))?;
    write_atomic(path, &json).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

async fn drive(
    plan: Arc<Plan>,
    conn: Connection,
    dir: &RunDir,
    run_id: String,
    started_at: SystemTime,
    args: &RunArgs,
) -> Result<RunResult, Exit> {
    // Probes connect before the load: a required one that cannot is bad input, named.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut probes = if plan.probes.is_empty() {
        None
    } else {
        let shared = Shared {
            in_flight: in_flight.clone(),
            odoo_backends: Default::default(),
        };
        let target_url = conn
            .client
            .base()
            .as_str()
            .trim_end_matches('/')
            .to_string();
        match ProbeSet::connect(plan.probes.clone(), target_url, shared).await {
            Ok(p) => Some(p),
            Err(e) => {
                match &e {
                    StartError::Unreachable(_) => {
                        eprintln!("error: {e} (mark a probe `optional = true` to run without it)")
                    }
                    StartError::Thread(_) => eprintln!("error: {e}"),
                }
                // Nothing was measured: leave no run folder behind (gate.json may be in it).
                let _ = std::fs::remove_dir_all(&dir.path);
                return Err(Exit::BadInput);
            }
        }
    };
    let hlog = match File::create(dir.file("latency.hlog")) {
        Ok(f) => HlogWriter::new(BufWriter::new(f), started_at),
        Err(e) => {
            eprintln!(
                "error: cannot create {}: {e}",
                dir.file("latency.hlog").display()
            );
            return Err(Exit::BadInput);
        }
    };
    if !args.quiet {
        eprintln!(
            "peakgate: run {run_id}: profile {} against {} for {}",
            plan.name,
            conn.client.base().as_str().trim_end_matches('/'),
            humantime::format_duration(plan.duration())
        );
    }

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (live_tx, live_rx) = watch::channel(Default::default());
    let t0 = Instant::now();
    if let Some(p) = &mut probes {
        p.begin(t0);
    }
    let recorder = Recorder::new(
        plan.step_names.clone(),
        step_scenarios(&plan),
        plan.scenarios.iter().map(|s| s.name.clone()).collect(),
        Some(hlog),
        in_flight.clone(),
        live_tx,
    )
    .with_scrubber(plan.scrubber());
    let stop = CancellationToken::new();
    // [gate.abort]: a watch over each closed second cancels `stop` when a condition holds.
    let (recorder, abort_watch) = match plan.gate.abort.clone() {
        None => (recorder, None),
        Some(abort) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let watch = tokio::spawn(watch_abort(abort, rx, stop.clone()));
            (recorder.with_timeline_feed(tx), Some(watch))
        }
    };
    let finish = CancellationToken::new();
    let recording = tokio::spawn(recorder.run(events_rx, t0, finish.clone()));
    let display = tokio::spawn(progress::show(live_rx, plan.duration(), args.quiet));

    // A stop signal stops starting journeys; the engine lets in-flight ones finish within the
    // grace. A second one abandons them at once. Either way the artifacts are written.
    let abandon = CancellationToken::new();
    let interrupted = Arc::new(AtomicBool::new(false));
    let signals = {
        let (stop, abandon, interrupted) = (stop.clone(), abandon.clone(), interrupted.clone());
        let grace = args.grace;
        let mut stops = signals::Stops::listen();
        tokio::spawn(async move {
            let first = stops.next().await;
            interrupted.store(true, Ordering::SeqCst);
            stop.cancel();
            eprintln!(
                "\npeakgate: {first}: stopping; in-flight journeys have {} to finish (a second signal stops them now)",
                humantime::format_duration(grace)
            );
            stops.next().await;
            abandon.cancel();
        })
    };
    let wiring = Wiring {
        run_nonce: rand::random(),
        events: events_tx,
        in_flight,
        stop,
        t0,
        grace: args.grace,
        abandon,
    };
    let ending = engine::run(plan.clone(), conn.clone(), wiring).await;
    let duration_s = t0.elapsed().as_secs_f64();
    let probed = match probes {
        Some(p) => match p.finish().await {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("error: {e}; the run cannot be judged");
                finish.cancel();
                return Err(Exit::Internal);
            }
        },
        None => None,
    };
    finish.cancel();
    // The recorder holds every measurement: if it died, nothing can be judged, and an empty
    // record must never pass.
    let figures = match recording.await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: the recorder task failed ({e}); the run cannot be judged");
            return Err(Exit::Internal);
        }
    };
    // The recorder dropped the feed, so the watch has ended; a stepped run starts afresh.
    if let Some(w) = abort_watch {
        let _ = w.await;
    }
    signals.abort();
    if let Ok(bar) = display.await {
        bar.finish_and_clear();
    }

    let status = match ending {
        Ending::Completed => RunStatus::Completed,
        Ending::Stopped if interrupted.load(Ordering::SeqCst) => RunStatus::Interrupted,
        Ending::Stopped => RunStatus::Aborted,
    };
    let result = RunResult {
        schema: SCHEMA.into(),
        run_id: run_id.clone(),
        status,
        profile: ProfileInfo::from_plan(&plan),
        release: plan.release.clone(),
        target: TargetInfo::from_plan(&plan, conn.client.base().as_str().trim_end_matches('/')),
        started_at: humantime::format_rfc3339_millis(started_at).to_string(),
        duration_s: (duration_s * 1000.0).round() / 1000.0,
        plan: PlanInfo::from_plan(&plan),
        totals: figures.totals,
        transactions: figures.transactions,
        timeline: figures.timeline,
        probes: probed
            .as_ref()
            .map(|f| {
                f.reports
                    .iter()
                    .filter_map(|(name, r)| Some((name.clone(), serde_json::to_value(r).ok()?)))
                    .collect()
            })
            .unwrap_or_default(),
        simulation: None,
    };
    if let Some(f) = &probed {
        eprint!("{}", probe_summary(f));
    }
    let json = match serde_json::to_vec_pretty(&result) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("error: cannot serialize run.json: {e}");
            return Err(Exit::Internal);
        }
    };
    if let Err(e) = write_atomic(&dir.file("run.json"), &json) {
        eprintln!(
            "error: cannot write {}: {e}",
            dir.file("run.json").display()
        );
        return Err(Exit::Internal);
    }
    Ok(result)
}

/// Feeds each closed second to the abort conditions; cancels `stop` on the first that holds.
async fn watch_abort(
    abort: Abort,
    mut seconds: mpsc::UnboundedReceiver<TimelineEntry>,
    stop: CancellationToken,
) -> Option<String> {
    let mut watch = AbortWatch::new(abort);
    while let Some(entry) = seconds.recv().await {
        if let Some(why) = watch.push(&entry) {
            eprintln!("\npeakgate: aborting the run: {why}");
            stop.cancel();
            return Some(why);
        }
    }
    None
}

/// One line per probe and what the probes cost, on stderr.
fn probe_summary(f: &Finished) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (name, r) in &f.reports {
        let _ = write!(
            out,
            "peakgate: probe {name}: coverage {:.0}%, {} gap(s)",
            r.coverage * 100.0,
            r.gaps.len()
        );
        if let Some(g) = r.gaps.first() {
            let _ = write!(out, ", first at {:.1}s: {}", g.t, g.reason);
        }
        if !r.missing.is_empty() {
            let _ = write!(out, "; not found: {}", r.missing.join(", "));
        }
        out.push('\n');
    }
    if let Some(cpu) = f.cpu {
        let wall = f.wall.as_secs_f64().max(f64::MIN_POSITIVE);
        let _ = writeln!(
            out,
            "peakgate: probes used {:.1} ms of CPU in {:.1} s ({:.3}% of one core)",
            cpu.as_secs_f64() * 1000.0,
            wall,
            100.0 * cpu.as_secs_f64() / wall
        );
    }
    out
}

/// Scenario index of each step id (`None` for the shared login step).
fn step_scenarios(plan: &Plan) -> Vec<Option<usize>> {
    let mut out = vec![None; plan.step_names.len()];
    for (i, s) in plan.scenarios.iter().enumerate() {
        for step in &s.steps {
            out[step.id] = Some(i);
        }
    }
    out
}

/// The end-of-run table on stdout.
pub(super) fn summary(r: &RunResult, dir: &RunDir) -> String {
    use std::fmt::Write;
    let t = &r.totals;
    let mut out = String::new();
    let _ = writeln!(out, "run {} {} in {:.1}s", r.run_id, r.status, r.duration_s);
    let _ = writeln!(
        out,
        "journeys planned {} started {} dropped {} | requests {} errors {} ({:.2}%)",
        t.planned,
        t.started,
        t.dropped,
        t.requests,
        t.errors,
        if t.requests > 0 {
            100.0 * t.errors as f64 / t.requests as f64
        } else {
            0.0
        }
    );
    let _ = writeln!(
        out,
        "{:<44} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "transaction", "count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (name, tx) in &r.transactions {
        let errors: u64 = tx.errors.values().sum();
        let l = &tx.latency_ms;
        let _ = writeln!(
            out,
            "{name:<44} {:>8} {errors:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            tx.count, l.p50, l.p95, l.p99, l.max
        );
    }
    let top = r.top_errors(5);
    if !top.is_empty() {
        let _ = writeln!(out, "top errors");
        for (name, m) in top {
            let text: String = m.message.chars().take(100).collect();
            let _ = writeln!(out, "  {:>6}× {name} {}: {text}", m.count, m.kind);
        }
    }
    let _ = writeln!(out, "artifacts in {}", dir.path.display());
    out
}
