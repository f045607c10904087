//! `peakgate run`: one run made by the [`session`](crate::session), judged from what it wrote,
//! and the closing table; or a stepped run with `--scale`.

use std::time::SystemTime;

use super::{Exit, InputError, RunArgs, UsageError};
use crate::plan::Plan;
use crate::result::{RunDir, RunResult, StoredRun, new_run_id};
use crate::session::{self, Options, Shutdown};

/// Runs `peakgate run`.
pub fn run(
    args: RunArgs,
    runtime: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
) -> anyhow::Result<Exit> {
    let overrides = args.plan.overrides(args.release.clone());
    let plan = Plan::load(&args.profile, &overrides)?;
    if !args.scale.is_empty() {
        if args.baseline.is_some() {
            return Err(UsageError(
                "--scale and --baseline do not combine: compare single runs of the same load"
                    .into(),
            )
            .into());
        }
        return super::scale::run(&args, plan, runtime, shutdown);
    }
    let baseline = match &args.baseline {
        Some(dir) => Some(StoredRun::open(dir).map_err(|e| InputError {
            flag: "--baseline",
            source: e.into(),
        })?),
        None => None,
    };
    let started_at = SystemTime::now();
    let run_id = new_run_id(&plan.name, started_at);
    let dir = super::create_run_dir(&args.out, &run_id)?;
    let gate = plan.gate.clone();
    let made = session::Run {
        profile: &args.profile,
        overrides: &overrides,
        dir: &dir,
        run_id,
        started_at,
    };
    runtime.block_on(session::run(made, &options(&args), shutdown))?;
    let (result, verdict) = super::judge::judge_and_write(&dir.path, &gate, baseline.as_ref())?;
    if args.quiet {
        println!("{}", dir.path.display());
    } else {
        print!("{}", summary(&result, &dir));
        println!("{}", super::judge::verdict_line(&verdict));
    }
    let judged_by_gate = verdict
        .checks
        .iter()
        .any(|c| c.name != "run completed" && c.name != crate::verdict::generator::NAME);
    if !judged_by_gate {
        eprintln!(
            "peakgate: note: the profile has no [gate]: only `run completed` and the load generator were checked, so any completed run passes"
        );
    }
    Ok(super::judge::exit_for(&result, &verdict, args.fail_on_warn))
}

/// The session options of `peakgate run`.
pub(super) fn options(args: &RunArgs) -> Options {
    Options {
        grace: args.grace,
        quiet: args.quiet,
        wire_log: args.wire_log.clone(),
    }
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
