//! `peakgate run --scale 0.5,1,1.5,2`: the profile at each multiplier in turn (ascending),
//! each a full run judged by the gate, stopping after the first step that fails. The parent
//! folder holds one sub-folder per step (`x0.5/`, `x1/`, ...) and its own verdict.json,
//! junit.xml and summary.md whose one check is the headroom.

use std::time::SystemTime;

use anyhow::Context;

use super::judge::{exit_for_verdict, judge_and_write, verdict_line};
use super::{Exit, RunArgs};
use crate::plan::Plan;
use crate::report;
use crate::result::ScaleStep;
use crate::result::{RunDir, RunResult, RunStatus, new_run_id, read_latency, write_atomic};
use crate::session::{self, Shutdown};
use crate::verdict::{fmt_num, headroom};

pub fn run(
    args: &RunArgs,
    plan: Plan,
    runtime: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
) -> anyhow::Result<Exit> {
    let mut scales = args.scale.clone();
    scales.sort_by(f64::total_cmp);
    scales.dedup();
    let base = args.plan.rate_scale.unwrap_or(1.0);
    // Every step's plan is checked before any load: a multiplier no process can drive is
    // said now, not after the steps before it ran.
    for &m in &scales {
        let mut overrides = args.plan.overrides(args.release.clone());
        overrides.rate_scale = Some(base * m);
        Plan::load(&args.profile, &overrides).map_err(|e| {
            // The step's multiplier reaches the plan as a rate scale: say it as the step.
            let e = match e {
                crate::config::ConfigError::Flag { flag, message } if flag == "--rate-scale" => {
                    anyhow::anyhow!(message)
                }
                other => anyhow::Error::new(other),
            };
            super::exit::InputError {
                flag: "--scale",
                source: e.context(format!("step ×{}", fmt_num(m))),
            }
        })?;
    }
    let gate = plan.gate.clone();
    let parent_id = new_run_id(&plan.name, SystemTime::now());
    let parent = super::create_run_dir(&args.out, &parent_id)?;
    let mut steps: Vec<ScaleStep> = Vec::new();
    let mut runs: Vec<RunResult> = Vec::new();
    let mut interrupted = false;
    for &m in &scales {
        let mut overrides = args.plan.overrides(args.release.clone());
        overrides.rate_scale = Some(base * m);
        let step_plan = Plan::load(&args.profile, &overrides)?;
        let name = format!("x{}", fmt_num(m));
        let dir = RunDir::create(&parent.path, &name)
            .with_context(|| format!("cannot create {}", parent.path.join(&name).display()))?;
        if !args.quiet {
            eprintln!(
                "peakgate: scale step ×{} (rate scale {})",
                fmt_num(m),
                fmt_num(base * m)
            );
        }
        let made = session::Run {
            profile: &args.profile,
            overrides: &overrides,
            dir: &dir,
            run_id: format!("{parent_id}-{name}"),
            started_at: SystemTime::now(),
        };
        // Each step is a run of its own: its own Grafana region, patched with its verdict.
        let region = super::annotate::begin(&step_plan, &made.run_id, runtime);
        if let Err(e) = runtime.block_on(session::run(made, &super::run::options(args), shutdown)) {
            let e = anyhow::Error::from(e);
            super::annotate::abandon(region, &step_plan, &e, runtime);
            return Err(e);
        }
        let ended = SystemTime::now();
        super::annotate::end(region, &step_plan, &dir.path, &gate, None, ended, runtime)?;
        let (result, v) = judge_and_write(&dir.path, &gate, None)?;
        if !args.quiet {
            eprintln!("peakgate: ×{}: {}", fmt_num(m), verdict_line(&v));
        }
        let passed = headroom::passes(v.verdict, args.fail_on_warn);
        steps.push(headroom::step_figures(m, &name, &result, &v));
        interrupted = result.status == RunStatus::Interrupted;
        runs.push(result);
        if interrupted || !passed {
            break;
        }
    }
    let verdict = headroom::verdict(&parent_id, steps, &gate, args.fail_on_warn, interrupted);
    let headroom = verdict.headroom.as_ref().map_or(0.0, |h| h.multiplier);
    let shown = runs
        .get(headroom::shown_step(&verdict))
        .context("the stepped run made no step to show")?;
    let gate_json = serde_json::to_vec_pretty(&gate).context("cannot serialize the gate")?;
    let latency = read_latency(&headroom::shown_dir(&verdict, &parent.path)).ok();
    write_atomic(&parent.file("gate.json"), &gate_json)
        .and_then(|_| report::write_verdict(&parent.path, shown, &verdict))
        .and_then(|_| report::write_report(&parent.path, shown, &verdict, latency.as_ref(), None))
        .with_context(|| format!("cannot write the verdict into {}", parent.path.display()))?;
    args.store.put_if_named(&parent.path, runtime)?;
    if args.quiet {
        println!("{}", parent.path.display());
    } else {
        println!("{}", verdict_line(&verdict));
        println!(
            "headroom ×{}; artifacts in {}",
            fmt_num(headroom),
            parent.path.display()
        );
    }
    if interrupted {
        return Ok(Exit::Stopped);
    }
    Ok(exit_for_verdict(verdict.verdict, args.fail_on_warn))
}
