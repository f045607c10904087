//! A run read back from its folder: the one loader `verdict`, `report`, `capacity` and the
//! baseline comparison use, so they all see the same artifacts and fail the same way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::de::DeserializeOwned;

use super::{ResultError, RunResult, Status, Verdict};
use crate::config::profile::ProfileSource;
use crate::metrics::hlog;
use crate::plan::Gate;

/// A stored run: `run.json`, the per-step histograms of `latency.hlog`, the gate it was judged
/// by (`gate.json`) and its verdict (`verdict.json`).
pub struct StoredRun {
    pub dir: PathBuf,
    pub result: RunResult,
    /// Step → merged latency histogram (µs).
    pub latency: BTreeMap<String, Histogram<u64>>,
    gate: Option<Gate>,
    /// Its verdict.json's verdict, when judged: whether it can serve as an accepted baseline.
    pub verdict_status: Option<Status>,
}

/// Why a folder given as a run is none: it does not exist, is a file, or holds no run.json.
fn not_a_run(dir: &Path) -> String {
    if !dir.exists() {
        format!("{}: no such folder", dir.display())
    } else if !dir.is_dir() {
        format!(
            "{}: a file, not a run folder (give the folder that holds run.json)",
            dir.display()
        )
    } else if dir.join("x1").is_dir() {
        format!(
            "{}: not a run folder (no run.json); a --scale parent's steps are in its x<multiplier>/ folders",
            dir.display()
        )
    } else {
        format!("{}: not a run folder (no run.json)", dir.display())
    }
}

/// Why a stored run cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The folder holds no `run.json`: not a run folder.
    #[error("{}", not_a_run(dir))]
    NotARun { dir: PathBuf },
    /// One tenant's run of a multi-tenant run, given where the whole run is meant.
    #[error("{}: one tenant's run of a multi-tenant run: give the run's folder ({}), whose verdict holds every tenant and the noisy-neighbour check", dir.display(), dir.parent().and_then(Path::parent).unwrap_or(dir).display())]
    TenantOfMany { dir: PathBuf },
    /// An artifact the run should have is missing: it was never written, or was removed.
    #[error("{}: missing ({why})", path.display())]
    Missing { path: PathBuf, why: &'static str },
    #[error("{}: damaged: {why}", path.display())]
    Damaged { path: PathBuf, why: &'static str },
    /// An artifact is there but cannot be read or is not what peakgate wrote.
    #[error(transparent)]
    Result(#[from] ResultError),
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Hlog {
        path: PathBuf,
        source: hlog::HlogError,
    },
    #[error("{}: not a peakgate {what}: {source}", path.display())]
    Parse {
        path: PathBuf,
        what: &'static str,
        source: serde_json::Error,
    },
    /// The profile to plan from does not read or does not build.
    #[error(transparent)]
    Profile(#[from] crate::config::ConfigError),
    /// The profile's text is not the text the run ran (its sha256 in run.json).
    #[error("{}: not the profile run {run_id} ran: its sha256 is {found}, run.json records {recorded}{}", path.display(), if path.ends_with(super::PROFILE_COPY) { " (the copy in the run folder was changed)" } else { " (the run folder has no copy, profile.toml, and the file changed since the run; put back the profile that ran)" })]
    ProfileChanged {
        path: PathBuf,
        run_id: String,
        recorded: String,
        found: String,
    },
}

impl OpenError {
    /// True when the user's input is at fault (exit 2): the folder is not a run, its run.json
    /// is of another schema, or the profile to plan from does not build or is not the one
    /// that ran; false when a run's own artifacts are missing or damaged (exit 5).
    pub fn is_input(&self) -> bool {
        match self {
            OpenError::NotARun { .. }
            | OpenError::TenantOfMany { .. }
            | OpenError::Profile(_)
            | OpenError::ProfileChanged { .. } => true,
            OpenError::Result(r) => r.is_input(),
            _ => false,
        }
    }
}

impl StoredRun {
    /// Reads a run folder. `run.json` and `latency.hlog` must be there; `gate.json` is read
    /// when present and must then parse. `verdict.json` is read by [`StoredRun::verdict`].
    pub fn open(dir: &Path) -> Result<StoredRun, OpenError> {
        if !dir.join("run.json").is_file() {
            return Err(OpenError::NotARun {
                dir: dir.to_path_buf(),
            });
        }
        let result = RunResult::load(dir)?;
        let latency = read_latency(dir)?;
        // A run that sent requests wrote their histograms: none means the file was emptied
        // or cut, and comparing or judging percentiles on it would judge nothing.
        if latency.is_empty() && result.totals.requests > 0 {
            return Err(OpenError::Damaged {
                path: dir.join("latency.hlog"),
                why: "it holds no histogram, and run.json counts requests (emptied or cut?)",
            });
        }
        let verdict_status = read_json::<Verdict>(&dir.join("verdict.json"), "verdict")
            .ok()
            .flatten()
            .map(|v| v.verdict);
        Ok(StoredRun {
            dir: dir.to_path_buf(),
            result,
            latency,
            gate: read_json(&dir.join("gate.json"), "gate")?,
            verdict_status,
        })
    }

    /// A run already in memory, e.g. one just simulated or built by a test.
    pub fn from_parts(
        dir: PathBuf,
        result: RunResult,
        latency: BTreeMap<String, Histogram<u64>>,
        gate: Option<Gate>,
    ) -> StoredRun {
        StoredRun {
            dir,
            result,
            latency,
            gate,
            verdict_status: None,
        }
    }

    /// The gate the run was judged by. Missing is an error: an empty gate would pass anything.
    pub fn gate(&self) -> Result<&Gate, OpenError> {
        self.gate.as_ref().ok_or_else(|| missing_gate(&self.dir))
    }

    /// The verdict written for the run, read when asked for: `peakgate verdict` replaces it
    /// and never needs the old one.
    pub fn verdict(&self) -> Result<Verdict, OpenError> {
        read_verdict(&self.dir)
    }
}

/// The `verdict.json` of a folder: a run's, or a `--scale` parent's (which holds no run.json).
pub fn read_verdict(dir: &Path) -> Result<Verdict, OpenError> {
    let path = dir.join("verdict.json");
    read_json(&path, "verdict")?.ok_or(OpenError::Missing {
        path,
        why: "judge the run first: peakgate verdict RUN_DIR",
    })
}

/// The profile a run ran, to plan from again: the copy in its folder (`profile.toml`), its
/// relative paths resolved against the original's folder; or, for a run made before copies
/// were kept, the file at the path run.json names. Either must have the sha256 run.json
/// records: a profile changed since is refused, never planned from in silence.
pub fn stored_profile(dir: &Path, run: &RunResult) -> Result<ProfileSource, OpenError> {
    let copy = dir.join(super::PROFILE_COPY);
    let original = Path::new(&run.profile.path);
    let base = run.profile.base_dir.as_ref().map_or_else(
        || original.parent().unwrap_or(Path::new(".")).to_path_buf(),
        PathBuf::from,
    );
    let src = if copy.is_file() {
        ProfileSource::read_copy(&copy, &base)?
    } else {
        ProfileSource::read_copy(original, &base)?
    };
    let found = crate::plan::profile_sha256(&src.text);
    if found != run.profile.sha256 {
        return Err(OpenError::ProfileChanged {
            path: src.path,
            run_id: run.run_id.clone(),
            recorded: run.profile.sha256.clone(),
            found,
        });
    }
    Ok(src)
}

/// The gate stored in a folder (a run's, or a `--scale` parent's); missing is an error.
pub fn read_gate(dir: &Path) -> Result<Gate, OpenError> {
    read_json(&dir.join("gate.json"), "gate")?.ok_or_else(|| missing_gate(dir))
}

fn missing_gate(dir: &Path) -> OpenError {
    OpenError::Missing {
        path: dir.join("gate.json"),
        why: "the gate the run was judged with; every run writes it before its load",
    }
}

/// What the run posted to the dashboards (`annotations.json`); `None` when it annotated
/// nothing.
pub fn read_annotations(dir: &Path) -> Result<Option<super::Annotations>, OpenError> {
    read_json(&dir.join(super::ANNOTATIONS), "annotations record")
}

/// The merged per-step histograms of a folder's `latency.hlog`.
pub fn read_latency(dir: &Path) -> Result<BTreeMap<String, Histogram<u64>>, OpenError> {
    let path = dir.join("latency.hlog");
    let bytes = std::fs::read(&path).map_err(|source| OpenError::Read {
        path: path.clone(),
        source,
    })?;
    hlog::read_merged(&bytes).map_err(|source| OpenError::Hlog { path, source })
}

/// A JSON artifact, `None` when the file does not exist.
fn read_json<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<Option<T>, OpenError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(OpenError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| OpenError::Parse {
            path: path.to_path_buf(),
            what,
            source,
        })
}
