//! The load evidence of a change: stored runs (a run folder, or a `--scale` parent folder)
//! read through the one loader of stored runs, reduced to what the change gate judges.

use std::path::{Path, PathBuf};

use crate::result::change_record::BaselineRef;
use crate::result::tenants::{TENANTS_FILE, TenantsIndex};
use crate::result::{OpenError, RunResult, RunStatus, Status, StoredRun, read_verdict};

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
    /// The `--rate-scale` the run (or a `--scale` run's ×1 step) ran the profile at: a
    /// headroom of ×2 at rate scale 0.2 is ×0.4 of the profile's load.
    pub rate_scale: f64,
    /// Stopped by a person or a signal before its plan ended: not evidence of anything.
    pub interrupted: bool,
    /// The accepted run it was compared with.
    pub baseline: Option<BaselineRef>,
    /// Every file in the folder (and a scale parent's step folders), relative to `dir`.
    pub artifacts: Vec<PathBuf>,
}

/// Reads a run folder or a `--scale` parent. A folder that is neither is the user's input
/// to mend (exit 2); a run without its verdict.json is damaged (exit 5).
pub fn read(dir: &Path) -> Result<RunEvidence, OpenError> {
    let (run_id, profile, release, verdict, rate_scale, interrupted) = if dir
        .join("run.json")
        .is_file()
    {
        let run = StoredRun::open(dir)?;
        if run.result.plan.tenant.is_some() {
            return Err(OpenError::TenantOfMany {
                dir: dir.to_path_buf(),
            });
        }
        let v = run.verdict()?;
        let r = run.result;
        let interrupted = r.status == RunStatus::Interrupted;
        (
            r.run_id,
            r.profile.name,
            r.release,
            v,
            r.plan.rate_scale,
            interrupted,
        )
    } else if dir.join(TENANTS_FILE).is_file() {
        // A multi-tenant run: its overall verdict (every tenant, the noisy-neighbour check).
        let path = dir.join(TENANTS_FILE);
        let text = std::fs::read(&path).map_err(|source| OpenError::Read {
            path: path.clone(),
            source,
        })?;
        let index: TenantsIndex =
            serde_json::from_slice(&text).map_err(|_| OpenError::Damaged {
                path: path.clone(),
                why: "not a tenants index peakgate wrote",
            })?;
        let v = read_verdict(dir)?;
        let first = index.tenants.first().ok_or(OpenError::Damaged {
            path,
            why: "a multi-tenant run without tenants",
        })?;
        let rate_scale = RunResult::load(&dir.join(&first.dir))?.plan.rate_scale;
        (
            index.run_id,
            index.profile,
            index.release,
            v,
            rate_scale,
            index.status == RunStatus::Interrupted,
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
        // The base rate scale (a step's rate scale over its multiplier), and whether the
        // stepping was stopped (its last step interrupted).
        let steps = v.headroom.as_ref().map_or(&[][..], |h| &h.steps[..]);
        let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
            return Err(OpenError::Damaged {
                path: dir.join("verdict.json"),
                why: "a --scale verdict without its steps",
            });
        };
        let base = RunResult::load(&dir.join(&first.dir))?.plan.rate_scale / first.scale;
        let interrupted = RunResult::load(&dir.join(&last.dir))?.status == RunStatus::Interrupted;
        (
            v.run_id.clone(),
            profile,
            v.release.clone(),
            v,
            base,
            interrupted,
        )
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
        rate_scale,
        interrupted,
        baseline: verdict.comparisons.as_ref().map(|c| BaselineRef {
            run_id: c.baseline.clone(),
            release: c.baseline_release.clone(),
            verdict: c.baseline_verdict,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Headroom, ScaleStep, Verdict};

    fn write_verdict(dir: &Path, v: &Verdict) {
        std::fs::write(dir.join("verdict.json"), serde_json::to_vec(v).unwrap()).unwrap();
    }

    #[test]
    fn a_scale_parent_gives_its_profile_release_headroom_and_step_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Verdict::new("20261201T120000Z-flash-sale-ab12".into(), Vec::new());
        v.profile = Some("flash-sale".into());
        v.release = Some("17.0.43".into());
        v.headroom = Some(Headroom {
            multiplier: 1.5,
            steps: vec![ScaleStep {
                scale: 1.5,
                dir: "x1.5".into(),
                verdict: Status::Pass,
                started_ratio: Some(1.0),
                requests: 100,
                error_rate: 0.0,
                worst_p95_ms: 10.0,
                worst_p95_step: "a/b".into(),
                not_passed: Vec::new(),
            }],
        });
        write_verdict(dir.path(), &v);
        std::fs::write(dir.path().join("gate.json"), "{}").unwrap();
        std::fs::create_dir(dir.path().join("x1.5")).unwrap();
        // The step ran at --rate-scale 0.2 × 1.5.
        let mut step = crate::verdict::fixture::run();
        step.plan.rate_scale = 0.3;
        std::fs::write(
            dir.path().join("x1.5").join("run.json"),
            serde_json::to_vec(&step).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join(".peakgate-1.tmp"), "").unwrap();
        let e = read(dir.path()).unwrap();
        assert_eq!(e.run_id, "20261201T120000Z-flash-sale-ab12");
        assert_eq!(e.profile, "flash-sale");
        assert_eq!(e.release.as_deref(), Some("17.0.43"));
        assert_eq!(e.headroom, Some(1.5));
        assert!((e.rate_scale - 0.2).abs() < 1e-12, "{}", e.rate_scale);
        assert!(!e.interrupted);
        assert_eq!(e.baseline, None);
        // Every file, the steps' included; a write in progress left out.
        assert_eq!(
            e.artifacts,
            vec![
                PathBuf::from("gate.json"),
                PathBuf::from("verdict.json"),
                Path::new("x1.5").join("run.json"),
            ]
        );
    }

    #[test]
    fn a_folder_with_a_verdict_but_no_run_nor_headroom_is_no_run_folder() {
        let dir = tempfile::tempdir().unwrap();
        write_verdict(dir.path(), &Verdict::new("x".into(), Vec::new()));
        std::fs::write(dir.path().join("gate.json"), "{}").unwrap();
        let e = read(dir.path()).unwrap_err();
        assert!(matches!(e, OpenError::NotARun { .. }), "{e}");
        assert!(e.is_input());
        let empty = tempfile::tempdir().unwrap();
        assert!(read(empty.path()).unwrap_err().is_input());
    }

    #[test]
    fn a_scale_verdict_without_its_profile_is_damage_not_input() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = Verdict::new("x".into(), Vec::new());
        v.headroom = Some(Headroom {
            multiplier: 1.0,
            steps: Vec::new(),
        });
        write_verdict(dir.path(), &v);
        std::fs::write(dir.path().join("gate.json"), "{}").unwrap();
        let e = read(dir.path()).unwrap_err();
        assert!(e.to_string().contains("without its profile's name"), "{e}");
        assert!(!e.is_input());
    }
}
