//! The run folder `reports/<run-id>/` and atomic writes into it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A run's artifact folder, created before the load starts so a late failure loses nothing.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `out/<run_id>/`.
    pub fn create(out: &Path, run_id: &str) -> std::io::Result<RunDir> {
        let path = out.join(run_id);
        std::fs::create_dir_all(&path)?;
        Ok(RunDir { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// A run id: UTC time, profile name and a short random suffix, e.g.
/// `20261126T150102Z-smoke-3fa2`. Sorts by time; unique even for parallel runs.
pub fn new_run_id(profile: &str, at: SystemTime) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let safe: String = profile
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..4];
    format!("{stamp}-{safe}-{suffix}")
}

/// Writes `bytes` to `path` through a temporary file and a rename: readers see the old file
/// or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn run_ids_sort_by_time_and_name_the_profile() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let id = new_run_id("flash sale", t);
        // 1_795_000_000 s after the epoch is 2026-11-18 11:06:40 UTC.
        assert!(id.starts_with("20261118T110640Z-"), "{id}");
        assert!(id.contains("-flash_sale-"), "{id}");
        assert!(!id.contains(':'));
        let later = new_run_id("flash sale", t + Duration::from_secs(3600));
        assert!(later > id);
    }
}
