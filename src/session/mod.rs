//! session: the life of one run, as a library. [`run`] goes through four stages:
//!
//! 1. **reach**: the profile is read; the built-in stand-in is started or the target's URL
//!    parsed, and a client made for it;
//! 2. **preflight**: the target is checked and its data read (`target-data.json`), the POS
//!    sessions opened, and the gate the run will be judged by stored (`gate.json`);
//! 3. **execute**: probes, recorder, progress line and engine run on one clock until the plan
//!    ends, the gate's abort rule holds, or a [`Shutdown`] stops it;
//! 4. **assemble**: the [`RunResult`] is built and written as `run.json`.
//!
//! Whatever happens after the preflight, the POS sessions the run opened are closed and the
//! stand-in is stopped. Judging the run is the caller's: it reads what was written.

mod error;
pub mod progress;
mod shard;
mod shutdown;
pub mod tenants;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use error::SessionError;
pub use shutdown::Shutdown;

use crate::config::profile::ProfileSource;
use crate::engine::{self, Connection, Ending, Wiring};
use crate::metrics::hlog::HlogWriter;
use crate::metrics::{Figures, Recorder};
use crate::odoo::{OdooClient, parse_target};
use crate::plan::gate::Abort;
use crate::plan::shard::Shard;
use crate::plan::{Overrides, Plan, Secret, Target};
use crate::probes::{Finished, ProbeSet, Shared, StartError};
use crate::result::{
    ODOO_LOG, PROFILE_COPY, PlanInfo, ProfileInfo, RunDir, RunResult, RunStatus, SCHEMA, SHARD_LOG,
    TargetInfo, TimelineEntry, write_atomic,
};
use crate::standin::{self, RunningStandin, StandinConfig};
use crate::target::data::DataSets;
use crate::target::{Login, Prepared};
use crate::verdict::abort::AbortWatch;

/// How a run is made, beside its profile and overrides.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long in-flight journeys may finish after a stop.
    pub grace: Duration,
    /// No progress line and no notes on stderr.
    pub quiet: bool,
    /// Appends every request and answer to this file (`--wire-log`).
    pub wire_log: Option<PathBuf>,
    /// The share of the plan to run (`--shard`; the whole plan: 0/1).
    pub shard: Shard,
    /// Whether the run is one shard of several (`--shard` given): it records its share in
    /// run.json and writes `shard.hlog` for `peakgate merge`.
    pub sharded: bool,
    /// The wall-clock start the load waits for after the preflight (`--start-at`).
    pub start_at: Option<SystemTime>,
}

/// One run to make: where it is written and what it is called.
pub struct Run<'a> {
    pub profile: &'a Path,
    pub overrides: &'a Overrides,
    pub dir: &'a RunDir,
    pub run_id: String,
    pub started_at: SystemTime,
}

/// Makes one run of the profile into its folder and returns what `run.json` holds. A target
/// that fails its preflight leaves no run folder behind.
pub async fn run(
    run: Run<'_>,
    options: &Options,
    shutdown: &Shutdown,
) -> Result<RunResult, SessionError> {
    let src = ProfileSource::read(run.profile)?;
    let reached = reach(&src, run.overrides, run.dir, options).await?;
    let prepared = preflight(&reached, &src, run.overrides, run.dir, options).await;
    let (plan, mut prepared) = match prepared {
        Ok(p) => p,
        Err(e) => {
            let _ = reached.stop().await;
            // Nothing was measured or judged: leave no run folder behind.
            let _ = std::fs::remove_dir_all(&run.dir.path);
            return Err(e);
        }
    };
    let executed = execute(plan.clone(), &reached, &prepared, &run, options, shutdown).await;
    // The POS sessions are closed whatever happened to the load: their orders get posted.
    // Not by a shard of several: the other shards may still be selling into them.
    let cleaned = if options.shard.count > 1 {
        prepared.leave_open(&format!(
            "shard {} leaves the sessions it opened open: the other shards may still sell into them (close them in Odoo, or let the next runs use them)",
            options.shard
        ))
    } else {
        prepared.clean_up(&reached.client).await
    };
    for a in cleaned {
        eprintln!(
            "peakgate: {}: {}{}",
            a.action,
            if a.ok { "" } else { "FAILED: " },
            a.detail
        );
    }
    let data_written = write_json(&run.dir.file("target-data.json"), &prepared.target_data);
    let base = reached.client.base().clone();
    let stopped = reached.stop().await;
    let result = assemble(&plan, &base, &run, options, executed?)?;
    data_written?;
    stopped?;
    Ok(result)
}

/// The target a run drives, reached: a client for it, the login and database the profile
/// names, and the stand-in when the run started one.
struct Reached {
    client: OdooClient,
    login: Option<Login>,
    database: Option<String>,
    standin: Option<(RunningStandin, CancellationToken)>,
    declared_version: Option<String>,
}

impl Reached {
    /// Stops the stand-in the run started; its request log's last lines are flushed.
    async fn stop(self) -> Result<(), SessionError> {
        if let Some((s, stop)) = self.standin {
            stop.cancel();
            s.wait().await.map_err(SessionError::OdooLog)?;
        }
        Ok(())
    }
}

/// Stage 1: starts the built-in stand-in or parses the target, and makes the client.
async fn reach(
    src: &ProfileSource,
    overrides: &Overrides,
    dir: &RunDir,
    options: &Options,
) -> Result<Reached, SessionError> {
    let draft = Plan::build(src, overrides, &DataSets::offline())?;
    let mut reached = match &draft.target {
        Target::StandIn {
            workers,
            release,
            config,
        } => {
            let mut config = StandinConfig::load(config.as_deref(), release.as_deref(), *workers)?;
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
            let stop = CancellationToken::new();
            // Odoo's request log of the run, beside its artifacts: the simulator calibrates
            // from its server-side times.
            let log_path = dir.file(ODOO_LOG);
            let access_log =
                standin::AccessLog::create(&log_path, &database).map_err(|source| {
                    SessionError::Write {
                        path: log_path,
                        source,
                    }
                })?;
            let s = standin::start(
                config,
                ([127, 0, 0, 1], 0).into(),
                stop.clone(),
                Some(access_log),
            )
            .await
            .map_err(|e| SessionError::Standin(e.to_string()))?;
            let url = parse_target(&s.url()).map_err(|e| SessionError::Standin(e.to_string()))?;
            Reached {
                client: client_for(&draft, &url),
                login: Some(login),
                database: Some(database),
                standin: Some((s, stop)),
                declared_version: draft.declared_version.clone(),
            }
        }
        Target::Odoo {
            url,
            database,
            login,
            password,
            password_env,
        } => {
            let url = parse_target(url).map_err(|e| SessionError::Target(e.to_string()))?;
            let login = password.clone().map(|password| Login {
                login: login.clone(),
                password,
                password_env: password_env.clone(),
            });
            Reached {
                client: client_for(&draft, &url),
                login,
                database: database.clone(),
                standin: None,
                declared_version: draft.declared_version.clone(),
            }
        }
    };
    if let Some(path) = &options.wire_log {
        let opened = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        match opened {
            Ok(f) => {
                reached.client = reached
                    .client
                    .recording(Box::new(std::io::BufWriter::new(f)))
            }
            Err(source) => {
                let _ = reached.stop().await;
                return Err(SessionError::WireLog {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(reached)
}

/// Stage 2: the preflight and the target's data; `target-data.json` and `gate.json` are
/// written. On an error the POS sessions it opened are closed again.
async fn preflight(
    reached: &Reached,
    src: &ProfileSource,
    overrides: &Overrides,
    dir: &RunDir,
    options: &Options,
) -> Result<(Arc<Plan>, Prepared), SessionError> {
    if !options.quiet {
        eprintln!(
            "peakgate: preflight of {}",
            reached.client.base().as_str().trim_end_matches('/')
        );
    }
    let (plan, mut prepared) = Prepared::prepare(
        &reached.client,
        src,
        overrides,
        reached.declared_version.as_deref(),
        reached.database.as_deref(),
        reached.login.as_ref(),
    )
    .await?;
    if !options.quiet {
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
    let stored = write_json(&dir.file("target-data.json"), &prepared.target_data)
        // The gate the run is judged by, stored first: `peakgate verdict` reads it back.
        .and_then(|_| write_json(&dir.file("gate.json"), &plan.gate))
        // The profile as it ran: `capacity` plans from this copy, not from a file that may
        // have changed or moved since. (A profile holds no secret, they come from the
        // environment; scrubbed all the same.)
        .and_then(|_| {
            let text = plan.scrubber().scrub(&plan.profile_text);
            write_file(&dir.file(PROFILE_COPY), text.as_bytes())
        });
    if let Err(e) = stored {
        prepared.clean_up(&reached.client).await;
        return Err(e);
    }
    Ok((Arc::new(plan), prepared))
}

/// What the load left: how it ended (completed, interrupted by a signal, aborted by the gate), the recorder's figures and the probes' reports.
struct Executed {
    status: RunStatus,
    /// Wall clock at t0: the `--start-at` instant, or when the run was made.
    started_at: SystemTime,
    /// Seconds from t0 to the end of the load.
    duration_s: f64,
    figures: Figures,
    probed: Option<Finished>,
}

/// Stage 3: probes, recorder, progress and engine on one clock.
async fn execute(
    plan: Arc<Plan>,
    reached: &Reached,
    prepared: &Prepared,
    run: &Run<'_>,
    options: &Options,
    shutdown: &Shutdown,
) -> Result<Executed, SessionError> {
    let conn = Connection {
        client: reached.client.clone(),
        credentials: prepared.credentials.clone(),
        sessions: prepared.login_session().into_iter().collect(),
    };
    // Probes connect before the load: a required one that cannot is bad input, named.
    for why in &plan.probes_off {
        eprintln!("peakgate: {why}");
    }
    for note in &plan.data_notes {
        eprintln!("peakgate: {note}");
    }
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
                // Nothing was measured: leave no run folder behind (gate.json may be in it).
                let _ = std::fs::remove_dir_all(&run.dir.path);
                return Err(match e {
                    StartError::Unreachable(_) => SessionError::ProbeUnreachable(e),
                    StartError::Thread(_) => SessionError::ProbeThread(e.to_string()),
                });
            }
        }
    };
    // Every shard of a run waits for the one wall-clock start, so their timelines align.
    let started_at = match options.start_at {
        Some(at) => shard::wait_for_start(at, shutdown, options.quiet).await,
        None => run.started_at,
    };
    let hlog_path = run.dir.file("latency.hlog");
    let hlog = File::create(&hlog_path)
        .map(|f| HlogWriter::new(BufWriter::new(f), started_at))
        .map_err(|source| SessionError::Write {
            path: hlog_path,
            source,
        })?;
    if !options.quiet {
        eprintln!(
            "peakgate: run {}: profile {} against {} for {}",
            run.run_id,
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
    .with_scrubber(plan.scrubber())
    .with_host_sampler();
    // The run stops with the process's shutdown, or on its own when an abort rule holds.
    let stop = shutdown.stopping().child_token();
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
    let display = tokio::spawn(progress::show(
        live_rx,
        plan.duration(),
        t0,
        plan.load.model,
        options.quiet,
    ));

    let wiring = Wiring {
        run_nonce: rand::random(),
        events: events_tx,
        in_flight,
        stop,
        t0,
        grace: options.grace,
        abandon: shutdown.abandoning().clone(),
        shard: options.shard,
    };
    let ending = engine::run(plan.clone(), conn, wiring).await;
    let duration_s = t0.elapsed().as_secs_f64();
    let probed = match probes {
        Some(p) => match p.finish().await {
            Ok(f) => Some(f),
            Err(e) => {
                finish.cancel();
                return Err(SessionError::ProbeThread(e));
            }
        },
        None => None,
    };
    finish.cancel();
    // The recorder holds every measurement: if it died, nothing can be judged, and an empty
    // record must never pass.
    let figures = recording
        .await
        .map_err(|e| SessionError::Recorder(e.to_string()))?;
    // The recorder dropped the feed, so the watch has ended.
    if let Some(w) = abort_watch {
        let _ = w.await;
    }
    if let Ok(bar) = display.await {
        bar.finish_and_clear();
    }
    // A stop is the person's (a signal) or the gate's (its abort rule).
    let status = match ending {
        Ending::Completed => RunStatus::Completed,
        Ending::Stopped if shutdown.signal().is_some() => RunStatus::Interrupted,
        Ending::Stopped => RunStatus::Aborted,
    };
    Ok(Executed {
        status,
        started_at,
        duration_s,
        figures,
        probed,
    })
}

/// Stage 4: the RunResult, written as `run.json`.
fn assemble(
    plan: &Plan,
    target: &url::Url,
    run: &Run<'_>,
    options: &Options,
    executed: Executed,
) -> Result<RunResult, SessionError> {
    let Executed {
        status,
        started_at,
        duration_s,
        figures,
        probed,
    } = executed;
    let result = RunResult {
        schema: SCHEMA.into(),
        run_id: run.run_id.clone(),
        peakgate_version: crate::result::PEAKGATE_VERSION.to_string(),
        status,
        profile: ProfileInfo::from_plan(plan),
        release: plan.release.clone(),
        target: TargetInfo::from_plan(plan, target.as_str().trim_end_matches('/')),
        started_at: humantime::format_rfc3339_millis(started_at).to_string(),
        duration_s: (duration_s * 1000.0).round() / 1000.0,
        plan: PlanInfo::from_plan(plan),
        totals: figures.totals,
        transactions: figures.transactions,
        timeline: figures.timeline,
        generator: figures.generator,
        probes: probed
            .as_ref()
            .map(|f| f.reports.clone())
            .unwrap_or_default(),
        simulation: None,
        shard: options.sharded.then_some(options.shard),
        merge: None,
    };
    if options.sharded {
        shard::write_log(&run.dir.file(SHARD_LOG), started_at, &figures.whole_run)?;
    }
    if let Some(f) = &probed {
        eprint!("{}", probe_summary(f));
    }
    write_json(&run.dir.file("run.json"), &result)?;
    Ok(result)
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

/// Writes `bytes` atomically; the error names the file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SessionError> {
    write_atomic(path, bytes).map_err(|source| SessionError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `value` as pretty JSON, atomically; the error names the file.
fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), SessionError> {
    let json = serde_json::to_vec_pretty(value).map_err(|source| SessionError::Serialize {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, &json).map_err(|source| SessionError::Write {
        path: path.to_path_buf(),
        source,
    })
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
