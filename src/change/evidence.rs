//! The load evidence of a change: stored runs (a run folder, or a `--scale` parent folder)
//! read through the one loader of stored runs, reduced to what the change gate judges.

use std::path::{Path, PathBuf};

use crate::result::change_record::BaselineRef;
use crate::result::{OpenError, Status, StoredRun, read_verdict};

/// One stored run, as the change gate sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvidence {
    pub dir: PathBuf,
    pub run_id: String,
    pub profile: String,
    /// The release label the run tested (`--release`).
    pub release: Option<String>,
    /// Its verdict.json verdict.
    pub verdict: Status,
    /// Its checks that did not pass, `name (status)`.
    pub not_passed: Vec<String>,
    /// A `--scale` parent's headroom multiplier.
    pub headroom: Option<f64>,
    /// The accepted run it was compared with.
    pub baseline: Option<BaselineRef>,
    /// Every file in the folder (and a scale parent's step folders), relative to `dir`.
    pub artifacts: Vec<PathBuf>,
}

/// Reads a run folder or a `--scale` parent. A folder that is neither is the user's input
/// to mend (exit 2); a run without its verdict.json is damaged (exit 5).
pub fn read(dir: &Path) -> Result<RunEvidence, OpenError> {
    let (run_id, profile, release, verdict) = if dir.join("run.json").is_file() {
        let run = StoredRun::open(dir)?;
        let v = run.verdict()?;
        (
            run.result.run_id,
            run.result.profile.name,
            run.result.release,
            v,
        )
    } else if dir.join("verdict.json").is_file() && dir.join("gate.json").is_file() {
        // A `--scale` parent: its verdict describes the step shown (profile, release).
        let v = read_verdict(dir)?;
        if v.headroom.is_none() {
            return Err(OpenError::NotARun {
                dir: dir.to_path_buf(),
            });
        }
        let profile = v.profile.clone().ok_or(OpenError::Damaged {
            path: dir.join("verdict.json"),
            why: "a --scale verdict without its profile's name (written by an older peakgate: judge it again with peakgate verdict)",
        })?;
        (v.run_id.clone(), profile, v.release.clone(), v)
    } else {
        return Err(OpenError::NotARun {
            dir: dir.to_path_buf(),
        });
    };
    let artifacts = files(dir).map_err(|source| OpenError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(RunEvidence {
        dir: dir.to_path_buf(),
        run_id,
        profile,
        release,
        verdict: verdict.verdict,
        not_passed: verdict
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .map(|c| format!("{} ({})", c.name, c.status))
            .collect(),
        headroom: verdict.headroom.as_ref().map(|h| h.multiplier),
        baseline: verdict.comparisons.as_ref().map(|c| BaselineRef {
            run_id: c.baseline.clone(),
            release: c.baseline_release.clone(),
        }),
        artifacts,
    })
}

/// The files under `dir`, relative to it, sorted; hidden files (a write in progress) left out.
fn files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for entry in std::fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = rel.join(&name);
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
