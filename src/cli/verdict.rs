//! `peakgate verdict`: judges a stored run again from its artifacts (run.json, latency.hlog,
//! gate.json), optionally with another gate file or baseline. Same inputs, same bytes.

use std::path::{Path, PathBuf};

use super::judge::{exit_for, exit_for_verdict, judge_into, stored_gate, verdict_line};
use super::{Exit, VerdictArgs};
use crate::plan::{Gate, load_gate_file};
use crate::report;
use crate::result::{RunResult, RunStatus};
use crate::verdict::{Stored, headroom};

pub fn verdict(args: VerdictArgs) -> Exit {
    if !args.run.join("run.json").exists() {
        let steps = scale_steps(&args.run);
        if !steps.is_empty() {
            return verdict_scale(&args, steps);
        }
    }
    let run = match RunResult::load(&args.run) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    let mut gate = match stored_gate(&args.run) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Exit::Internal;
        }
    };
    if let Some(path) = &args.gate {
        match load_gate_file(path) {
            Ok(g) => gate.merge(g),
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::BadInput;
            }
        }
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
    let out = args.out.clone().unwrap_or_else(|| args.run.clone());
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return Exit::BadInput;
    }
    // The gate this verdict is judged by goes beside it: a later `verdict` with no flags
    // reproduces this one.
    let gate_json = serde_json::to_vec_pretty(&gate).unwrap_or_default();
    if let Err(e) = crate::result::write_atomic(&out.join("gate.json"), &gate_json) {
        eprintln!(
            "error: cannot write {}: {e}",
            out.join("gate.json").display()
        );
        return Exit::Internal;
    }
    match judge_into(&args.run, &out, &run, &gate, baseline.as_ref()) {
        Ok(v) => {
            println!("{}", verdict_line(&v));
            exit_for(&run, &v, args.fail_on_warn)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Internal
        }
    }
}

/// The step folders of a `--scale` parent (`x0.5`, `x1`, ...), by ascending multiplier.
fn scale_steps(parent: &Path) -> Vec<(f64, String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut steps: Vec<(f64, String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let scale: f64 = name.strip_prefix('x')?.parse().ok()?;
            e.path()
                .join("run.json")
                .is_file()
                .then(|| (scale, name, e.path()))
        })
        .collect();
    steps.sort_by(|a, b| a.0.total_cmp(&b.0));
    steps
}

/// The gate stored in `dir`, with `--gate` merged over it.
fn gate_for(dir: &Path, extra: Option<&Gate>) -> anyhow::Result<Gate> {
    let mut gate = stored_gate(dir)?;
    if let Some(g) = extra {
        gate.merge(g.clone());
    }
    Ok(gate)
}

/// Judges every step of a `--scale` parent again, up to the first that does not pass (as the
/// escalation did), and rebuilds the parent's verdict.
fn verdict_scale(args: &VerdictArgs, steps: Vec<(f64, String, PathBuf)>) -> Exit {
    if args.baseline.is_some() {
        eprintln!("error: --baseline does not apply to a --scale run; judge a step folder");
        return Exit::BadInput;
    }
    let extra = match args.gate.as_deref().map(load_gate_file).transpose() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| args.run.clone());
    let (mut figures, mut runs, mut interrupted) = (Vec::new(), Vec::new(), false);
    for (scale, name, dir) in steps {
        let judged = RunResult::load(&dir)
            .map_err(anyhow::Error::from)
            .and_then(|run| {
                let gate = gate_for(&dir, extra.as_ref())?;
                let step_out = out.join(&name);
                std::fs::create_dir_all(&step_out)?;
                let v = judge_into(&dir, &step_out, &run, &gate, None)?;
                Ok((run, v))
            });
        let (run, v) = match judged {
            Ok(j) => j,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Exit::BadInput;
            }
        };
        figures.push(headroom::step_figures(scale, &name, &run, &v));
        interrupted = run.status == RunStatus::Interrupted;
        runs.push(run);
        if interrupted || !headroom::passes(v.verdict, args.fail_on_warn) {
            break;
        }
    }
    let parent_gate = match gate_for(&args.run, extra.as_ref()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Exit::BadInput;
        }
    };
    let parent_id = args
        .run
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().to_string());
    let v = headroom::verdict(
        &parent_id,
        figures,
        &parent_gate,
        args.fail_on_warn,
        interrupted,
    );
    let shown = &runs[headroom::shown_step(&v)];
    let latency = crate::verdict::load_latency(&headroom::shown_dir(&v, &args.run)).ok();
    let written = report::write_verdict(&out, shown, &v)
        .and_then(|_| report::write_report(&out, shown, &v, latency.as_ref(), None));
    if let Err(e) = written {
        eprintln!(
            "error: cannot write the verdict into {}: {e}",
            out.display()
        );
        return Exit::BadInput;
    }
    println!("{}", verdict_line(&v));
    if interrupted {
        return Exit::Stopped;
    }
    exit_for_verdict(v.verdict, args.fail_on_warn)
}
