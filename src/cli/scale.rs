//! `peakgate run --scale 0.5,1,1.5,2`: the profile at each multiplier in turn (ascending),
//! each a full run judged by the gate, stopping after the first step that fails. The parent
//! folder holds one sub-folder per step (`x0.5/`, `x1/`, ...) and its own verdict.json,
//! junit.xml and summary.md whose one check is the headroom.

use std::time::SystemTime;

use super::judge::{exit_for_verdict, judge_and_write, verdict_line};
use super::run::{bad_input, run_once};
use super::{Exit, RunArgs};
use crate::plan::Plan;
use crate::report;
use crate::result::{RunDir, RunResult, RunStatus, new_run_id, write_atomic};
use crate::verdict::{ScaleStep, fmt_num, headroom};

pub fn run(args: &RunArgs, plan: Plan) -> Exit {
    let mut scales = args.scale.clone();
    scales.sort_by(f64::total_cmp);
    scales.dedup();
    let base = args.plan.rate_scale.unwrap_or(1.0);
    let gate = plan.gate.clone();
    let parent_id = new_run_id(&plan.name, SystemTime::now());
    let parent = match super::create_run_dir(&args.out, &parent_id) {
        Ok(d) => d,
        Err(exit) => return exit,
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    let mut steps: Vec<ScaleStep> = Vec::new();
    let mut runs: Vec<RunResult> = Vec::new();
    let mut interrupted = false;
    for &m in &scales {
        let mut overrides = args.plan.overrides(args.release.clone());
        overrides.rate_scale = Some(base * m);
        let plan = match Plan::load(&args.profile, &overrides) {
            Ok(p) => p,
            Err(e) => return bad_input(&e),
        };
        let name = format!("x{}", fmt_num(m));
        let dir = match RunDir::create(&parent.path, &name) {
            Ok(d) => d,
            Err(e) => {
                eprintln!(
                    "error: cannot create {}: {e}",
                    parent.path.join(&name).display()
                );
                return Exit::BadInput;
            }
        };
        if !args.quiet {
            eprintln!(
                "peakgate: scale step ×{} (rate scale {})",
                fmt_num(m),
                fmt_num(base * m)
            );
        }
        let run_id = format!("{parent_id}-{name}");
        let started_at = SystemTime::now();
        drop(plan);
        if let Err(exit) = runtime.block_on(run_once(&overrides, &dir, run_id, started_at, args)) {
            return exit;
        }
        let (result, v) = match judge_and_write(&dir.path, &gate, None) {
            Ok(judged) => judged,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Exit::Stopped;
            }
        };
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
    let Some(shown) = runs.get(headroom::shown_step(&verdict)) else {
        return Exit::Stopped;
    };
    let gate_json = serde_json::to_vec_pretty(&gate).unwrap_or_default();
    let latency = crate::verdict::load_latency(&headroom::shown_dir(&verdict, &parent.path)).ok();
    let written = write_atomic(&parent.file("gate.json"), &gate_json)
        .and_then(|_| report::write_verdict(&parent.path, shown, &verdict))
        .and_then(|_| report::write_report(&parent.path, shown, &verdict, latency.as_ref(), None));
    if let Err(e) = written {
        eprintln!(
            "error: cannot write the verdict into {}: {e}",
            parent.path.display()
        );
        return Exit::Stopped;
    }
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
        return Exit::Stopped;
    }
    exit_for_verdict(verdict.verdict, args.fail_on_warn)
}
