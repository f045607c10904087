//! `peakgate capacity RUN...`: finds the runs (a stepped run's sub-folders, or the folders
//! given), builds the capacity report, sizes workers for the objectives by simulation, and
//! writes `capacity.json` and `capacity.md` into the first folder.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{CapacityReportArgs, UsageError};
use crate::capacity::report::{self, Options, SloSizing};
use crate::capacity::{markdown, slo};
use crate::config::profile::ProfileSource;
use crate::plan::{Overrides, Plan};
use crate::result::{RunResult, StoredRun, write_atomic};
use crate::simulate::calibrate::{Calibration, ServiceTimes};
use crate::simulate::des::{self, Laws, Server};
use crate::target::data::DataSets;

/// Largest worker count a sweep for the objectives tries.
const MAX_WORKERS: usize = 512;

/// A folder with run.json is a run; otherwise its sub-folders with run.json are (a stepped run).
fn find_runs(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, UsageError> {
    let mut out = Vec::new();
    for d in dirs {
        if d.join("run.json").is_file() {
            out.push(d.clone());
            continue;
        }
        let entries = std::fs::read_dir(d)
            .map_err(|e| UsageError(format!("{}: cannot read: {e}", d.display())))?;
        let mut subs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("run.json").is_file())
            .collect();
        if subs.is_empty() {
            return Err(UsageError(format!(
                "{}: neither a run folder (run.json) nor a stepped run (sub-folders with run.json)",
                d.display()
            )));
        }
        subs.sort();
        out.extend(subs);
    }
    Ok(out)
}

pub fn report(args: &CapacityReportArgs) -> anyhow::Result<()> {
    if args.runs.is_empty() {
        return Err(UsageError("name at least one run folder: peakgate capacity reports/<run> [more runs...] (or `capacity fit`, `capacity size`)".into()).into());
    }
    if !(0.0..=10.0).contains(&args.margin) {
        return Err(
            UsageError(format!("--margin {} must be between 0 and 10", args.margin)).into(),
        );
    }
    let dirs = find_runs(&args.runs)?;
    let mut runs = Vec::new();
    for d in &dirs {
        let stored = StoredRun::open(d)?;
        // A run not judged yet has no verdict to show; any other failure to read one counts.
        let verdict = match stored.verdict() {
            Ok(v) => Some(v.verdict.to_string()),
            Err(crate::result::OpenError::Missing { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        runs.push((stored.result, d.display().to_string(), verdict));
    }
    let profiles: std::collections::BTreeSet<&str> = runs
        .iter()
        .map(|(r, _, _)| r.profile.name.as_str())
        .collect();
    if profiles.len() > 1 {
        return Err(UsageError(format!(
            "the runs are of different profiles ({}): a capacity report compares one profile at different loads",
            profiles.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    let at_scale = args.at_scale.unwrap_or_else(|| {
        runs.iter()
            .map(|(r, _, _)| r.plan.rate_scale)
            .fold(0.0, f64::max)
    });
    let options = Options {
        at_scale,
        target_wait_s: args.target_wait.as_secs_f64(),
        service_level: args.service_level,
        margin: args.margin,
    };
    let calibration = calibration_of(&runs);
    // Nothing measured is nothing to size: refused as bad input, never "0 workers".
    let mut rep = report::build(&runs, calibration.as_ref().map(|c| &c.run), &options)
        .map_err(|e| UsageError(e.to_string()))?;
    if !args.slo.is_empty() {
        // The profile the runs ran, from the copy in the first run's folder; a profile that is
        // not the one that ran is refused (exit 2), never simulated in silence.
        let profile = crate::result::stored_profile(&dirs[0], &runs[0].0)?;
        rep.slo = Some(slo_workers(
            &runs,
            &dirs,
            &profile,
            calibration,
            &args.slo,
            at_scale,
        ));
    }
    if let Some(w) = rep.slo.as_ref().and_then(|s| s.workers) {
        rep.recommendation.push_str(&format!(
            "; the latency objectives need {w} workers (simulated)"
        ));
    }
    let out = &args.runs[0];
    let json = serde_json::to_vec_pretty(&rep).context("cannot serialize capacity.json")?;
    write_atomic(&out.join("capacity.json"), &json)
        .with_context(|| format!("cannot write {}", out.join("capacity.json").display()))?;
    write_atomic(&out.join("capacity.md"), markdown::render(&rep).as_bytes())
        .with_context(|| format!("cannot write {}", out.join("capacity.md").display()))?;
    // The run's page gains a capacity section (a single run folder; a --scale parent's page
    // is rebuilt by `peakgate verdict` on it).
    if out.join("run.json").exists() && out.join("report.html").exists() {
        super::regenerate_report(out, None)?;
    }
    if args.json {
        println!("{}", String::from_utf8_lossy(&json));
    } else {
        print!("{}", markdown::render(&rep));
        println!(
            "\nwritten: {} and capacity.md",
            out.join("capacity.json").display()
        );
    }
    Ok(())
}

/// When every run is simulated, the measured run they were calibrated from.
fn calibration_of(runs: &[(RunResult, String, Option<String>)]) -> Option<Calibration> {
    if runs.iter().any(|(r, _, _)| r.simulation.is_none()) {
        return None;
    }
    let dir = &runs[0].0.simulation.as_ref()?.calibration_dir;
    Calibration::load(Path::new(dir), None).ok()
}

/// The smallest worker count whose simulated run of the profile at `at_scale` meets the
/// objectives, calibrated from the lightest measured run (or the simulated runs' calibration).
fn slo_workers(
    runs: &[(RunResult, String, Option<String>)],
    dirs: &[PathBuf],
    profile: &ProfileSource,
    calibration: Option<Calibration>,
    objectives: &[slo::Slo],
    at_scale: f64,
) -> SloSizing {
    let names = objectives.iter().map(ToString::to_string).collect();
    let fail = |basis: String| SloSizing {
        objectives: objectives.iter().map(ToString::to_string).collect(),
        workers: None,
        basis,
    };
    let cal = match calibration {
        Some(c) => c,
        None => {
            let Some(i) = (0..runs.len())
                .filter(|i| runs[*i].0.simulation.is_none())
                .min_by(|a, b| {
                    let x = |r: &RunResult| r.totals.requests as f64 / r.duration_s.max(1e-9);
                    x(&runs[*a].0).total_cmp(&x(&runs[*b].0))
                })
            else {
                return fail("no measured run to calibrate from".into());
            };
            match Calibration::load(&dirs[i], None) {
                Ok(c) => c,
                Err(e) => return fail(e.to_string()),
            }
        }
    };
    // The profile as the runs ran it (a simulated run names the simulated profile).
    let first = &runs[0].0;
    let overrides = Overrides {
        rate_scale: Some(at_scale),
        seed: Some(first.plan.seed),
        ..Overrides::default()
    };
    let plan = match Plan::build(profile, &overrides, &DataSets::offline()) {
        Ok(p) => p,
        Err(e) => {
            return fail(format!(
                "the profile {} no longer builds: {e}",
                profile.path.display()
            ));
        }
    };
    let workers = super::simulate::standin_workers_of(&cal.dir, &cal.run);
    let service = match cal.service_laws(&plan, ServiceTimes::Auto, workers) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let laws = Laws {
        service: service.laws,
        outside_s: service.outside_s,
        failures: plan
            .step_names
            .iter()
            .map(|s| cal.failures.get(s).cloned())
            .collect(),
    };
    let mut workers = None;
    for n in 1..=MAX_WORKERS {
        let server = Server {
            workers: n,
            db_connections: None,
        };
        let sim = match des::run::<std::io::Sink>(&plan, &laws, server, None) {
            Ok(s) => s,
            Err(e) => return fail(format!("the profile cannot be simulated: {e}")),
        };
        let mut r = first.clone();
        r.transactions = sim.figures.transactions;
        if slo::passes(&slo::check(objectives, &r)) {
            workers = Some(n);
            break;
        }
    }
    SloSizing {
        objectives: names,
        workers,
        basis: format!(
            "smallest worker count whose simulated run of {} (the profile that ran, sha256 {}) at ×{at_scale} meets them, service times from {}'s odoo.log where it names the step, else its latency.hlog less the mean wait (peakgate simulate --sweep)",
            profile.path.display(),
            &first.profile.sha256[..first.profile.sha256.len().min(12)],
            cal.run_id
        ),
    }
}
