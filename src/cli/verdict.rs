//! `peakgate verdict`: judges a stored run again from its artifacts (run.json, latency.hlog,
//! gate.json), optionally with another gate file or baseline. Same inputs, same bytes.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::judge::{exit_for, exit_for_verdict, judge_into, verdict_line};
use super::{Exit, InputError, UsageError, VerdictArgs};
use crate::plan::{Gate, load_gate_file};
use crate::report;
use crate::result::{RunStatus, StoredRun, read_gate, read_latency, write_atomic};
use crate::verdict::headroom;

pub fn verdict(args: VerdictArgs) -> anyhow::Result<Exit> {
    if !args.run.join("run.json").exists() {
        let steps = scale_steps(&args.run);
        if !steps.is_empty() {
            return verdict_scale(&args, steps);
        }
    }
    let stored = StoredRun::open(&args.run)?;
    let mut gate = stored.gate()?.clone();
    if let Some(path) = &args.gate {
        gate.merge(gate_file_for(path, &stored.result)?);
    }
    let candidate = super::store::Candidate::of(&stored.result, true);
    let baseline = args
        .baseline
        .as_deref()
        .map(|flag| super::store::open_baseline(flag, &args.store, &candidate))
        .transpose()?;
    let out = args.out.clone().unwrap_or_else(|| args.run.clone());
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    // The gate this verdict is judged by goes beside it: a later `verdict` with no flags
    // reproduces this one.
    let gate_json = serde_json::to_vec_pretty(&gate).context("cannot serialize the gate")?;
    let gate_path = out.join("gate.json");
    write_atomic(&gate_path, &gate_json)
        .with_context(|| format!("cannot write {}", gate_path.display()))?;
    let mut v = judge_into(
        &args.run,
        &out,
        &stored.result,
        &gate,
        baseline.as_ref().map(|b| &b.run),
    )?;
    super::store::record_choice(baseline, &out, &stored.result, &mut v)?;
    println!("{}", verdict_line(&v));
    Ok(exit_for(&stored.result, &v, args.fail_on_warn))
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

/// Judges every step of a `--scale` parent again, up to the first that does not pass (as the
/// escalation did), and rebuilds the parent's verdict.
fn verdict_scale(args: &VerdictArgs, steps: Vec<(f64, String, PathBuf)>) -> anyhow::Result<Exit> {
    if args.baseline.is_some() {
        return Err(UsageError(
            "--baseline does not apply to a --scale run; judge a step folder".into(),
        )
        .into());
    }
    let mut extra = None;
    let out = args.out.clone().unwrap_or_else(|| args.run.clone());
    let (mut figures, mut runs, mut interrupted) = (Vec::new(), Vec::new(), false);
    for (scale, name, dir) in steps {
        let stored = StoredRun::open(&dir)?;
        // Every step ran the same profile: the first one's names check the file.
        if let (Some(path), None) = (&args.gate, &extra) {
            extra = Some(gate_file_for(path, &stored.result)?);
        }
        let mut gate = stored.gate()?.clone();
        if let Some(g) = &extra {
            gate.merge(g.clone());
        }
        let step_out = out.join(&name);
        std::fs::create_dir_all(&step_out)
            .with_context(|| format!("cannot create {}", step_out.display()))?;
        let v = judge_into(&dir, &step_out, &stored.result, &gate, None)?;
        figures.push(headroom::step_figures(scale, &name, &stored.result, &v));
        interrupted = stored.result.status == RunStatus::Interrupted;
        runs.push(stored.result);
        if interrupted || !headroom::passes(v.verdict, args.fail_on_warn) {
            break;
        }
    }
    let parent_gate = parent_gate(&args.run, extra.as_ref())?;
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
    let latency = read_latency(&headroom::shown_dir(&v, &args.run)).ok();
    report::write_verdict(&out, shown, &v)
        .and_then(|_| report::write_report(&out, shown, &v, latency.as_ref(), None))
        .with_context(|| format!("cannot write the verdict into {}", out.display()))?;
    println!("{}", verdict_line(&v));
    if interrupted {
        return Ok(Exit::Stopped);
    }
    Ok(exit_for_verdict(v.verdict, args.fail_on_warn))
}

/// A `--gate` file, whose latency and errors selectors must each match a step or scenario the
/// run planned: a typo must not quietly switch an objective off (exit 2, nearest names said).
fn gate_file_for(path: &std::path::Path, run: &crate::result::RunResult) -> anyhow::Result<Gate> {
    let source = crate::config::gate::GateSource::read(path)?;
    let gate = load_gate_file(path)?;
    let names: Vec<&str> = run
        .plan
        .steps
        .iter()
        .chain(run.plan.mix.keys())
        .map(String::as_str)
        .collect();
    if let Some(u) = crate::plan::unmatched_selector(&gate, &names) {
        let located = u.located(path, &source.text, &source.file).map_or_else(
            || format!("{}: {} {}", path.display(), u.key(), u.why),
            |e| e.to_string(),
        );
        return Err(InputError {
            flag: "--gate",
            source: anyhow::anyhow!(located),
        }
        .into());
    }
    Ok(gate)
}

/// The gate stored in a `--scale` parent (which holds no run of its own), with `--gate`
/// merged over it.
fn parent_gate(dir: &Path, extra: Option<&Gate>) -> anyhow::Result<Gate> {
    let mut gate = read_gate(dir)?;
    if let Some(g) = extra {
        gate.merge(g.clone());
    }
    Ok(gate)
}
