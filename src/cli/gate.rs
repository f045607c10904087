//! `peakgate gate`: the change gate. Reads the change, policy and calendar (located errors,
//! exit 2), the runs given as evidence, judges them into one verdict and writes the change
//! record (change-record.md, change-record.json).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::judge::exit_for_verdict;
use super::{Exit, GateArgs, InputError, UsageError};
use crate::change::{self, Inputs, evidence, judge, preflight, provenance};
use crate::result::Status;
use crate::result::change_record::{ChangeRecord, Inputs as InputFiles, RiskClass};

pub fn gate(args: GateArgs) -> anyhow::Result<Exit> {
    let emergency = match args.emergency.as_deref().map(str::trim) {
        Some("") => {
            return Err(UsageError(
                "--emergency needs the reason, e.g. --emergency \"INC-4711: payments down\"".into(),
            )
            .into());
        }
        other => other,
    };
    let mut inputs = Inputs::load(&args.change, &args.policy, args.calendar.as_deref())?;
    if let Some(at) = &args.as_of {
        inputs.judged_at = at.trim().parse().map_err(|e| InputError {
            flag: "--as-of",
            source: anyhow::anyhow!(
                "`{at}` is not an instant ({e}); write it with its offset, e.g. 2026-12-01T09:00:00Z"
            ),
        })?;
    }
    if emergency.is_some() && inputs.class != RiskClass::Emergency {
        let types: Vec<String> = inputs
            .types
            .iter()
            .map(|t| format!("{} → {}", t.kind, t.class))
            .collect();
        return Err(UsageError(format!(
            "--emergency is for emergency changes only, and this change is class {} ({})",
            inputs.class,
            types.join(", ")
        ))
        .into());
    }
    let mut runs: Vec<evidence::RunEvidence> = Vec::new();
    for dir in &args.runs {
        let run = evidence::read(dir)?;
        // A run given twice (two paths to one folder, or a copy) is one piece of evidence.
        if let Some(first) = runs.iter().find(|r| r.run_id == run.run_id) {
            eprintln!(
                "--runs: {} is run {} again (given as {}): counted once",
                dir.display(),
                run.run_id,
                first.dir.display()
            );
            continue;
        }
        runs.push(run);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&inputs.change.release));
    if out.exists() && !out.is_dir() {
        return Err(InputError {
            flag: "--out",
            source: anyhow::anyhow!(
                "{} is a file: --out takes the folder the change record is written to",
                out.display()
            ),
        }
        .into());
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let files = InputFiles {
        change: provenance::version(&args.change, &inputs.change.source.text, &out),
        policy: provenance::version(&args.policy, &inputs.policy.source.text, &out),
        calendar: inputs
            .calendar
            .as_ref()
            .map(|c| provenance::version(&c.source.path, &c.source.text, &out)),
    };
    let required = &inputs.rules.preflight;
    let settings = &inputs.policy.preflight;
    let seen = preflight::gather(
        required,
        settings,
        preflight::Files {
            backup_status: args.backup_status.as_deref(),
            odoo_conf: args.odoo_conf.as_deref(),
            kubernetes: &args.kubernetes,
            traefik: args.traefik.as_deref(),
            capacity: args.capacity.as_deref(),
            runs: &args.runs,
        },
    )?;
    let preflight = preflight::judge(required, settings, &seen, inputs.judged_at, |p| {
        provenance::relative(p, &out)
    });
    let record = judge::judge(&inputs, &runs, emergency, preflight, files, |p| {
        provenance::relative(p, &out)
    });
    change::write_record(&out, &record)
        .with_context(|| format!("cannot write the change record into {}", out.display()))?;
    println!("{}", line(&record));
    println!("change record: {}", out.join(change::RECORD_MD).display());
    Ok(exit_for_verdict(record.verdict, args.fail_on_warn))
}

/// `reports/change-<release>`, the release made safe for a folder name.
fn default_out(release: &str) -> PathBuf {
    let safe: String = release
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    Path::new("reports").join(format!("change-{safe}"))
}

/// One line for the terminal: the verdict, the class and the checks that did not pass.
fn line(r: &ChangeRecord) -> String {
    let not_passed: Vec<String> = r
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| format!("{} ({})", c.name, c.status))
        .collect();
    let head = format!(
        "change {} ({} risk): {}",
        r.release, r.risk_class, r.verdict
    );
    if not_passed.is_empty() {
        format!("{head}: {} checks passed", r.checks.len())
    } else {
        format!(
            "{head}: {} of {} checks did not pass: {}",
            not_passed.len(),
            r.checks.len(),
            not_passed.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_folder_is_the_release_made_safe() {
        assert_eq!(
            default_out("17.0.43"),
            Path::new("reports").join("change-17.0.43")
        );
        assert_eq!(
            default_out("release/17 rc"),
            Path::new("reports").join("change-release_17_rc")
        );
    }
}
