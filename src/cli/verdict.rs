//! `peakgate verdict`: judges a stored run again from its artifacts (run.json, latency.hlog,
//! gate.json), optionally with another gate file or baseline. Same inputs, same bytes.

use super::judge::{exit_for, judge_into, stored_gate, verdict_line};
use super::{Exit, VerdictArgs};
use crate::plan::load_gate_file;
use crate::result::RunResult;
use crate::verdict::Stored;

pub fn verdict(args: VerdictArgs) -> Exit {
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
            return Exit::BadInput;
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
    match judge_into(&args.run, &out, &run, &gate, baseline.as_ref()) {
        Ok(v) => {
            println!("{}", verdict_line(&v));
            exit_for(&run, &v, args.fail_on_warn)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::BadInput
        }
    }
}
