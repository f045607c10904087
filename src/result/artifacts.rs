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
    /// Creates `out/<run_id>/`, exclusively: a folder that already exists is an error, never
    /// shared by two runs.
    pub fn create(out: &Path, run_id: &str) -> std::io::Result<RunDir> {
        std::fs::create_dir_all(out)?;
        let path = out.join(run_id);
        std::fs::create_dir(&path)?;
        Ok(RunDir { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// A run id: UTC time, profile name (at most 64 characters of it) and a random suffix, e.g.
/// `20261126T150102Z-smoke-3fa2b7c1`. Sorts by time; unique even for parallel runs.
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
        .take(64)
        .collect();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{stamp}-{safe}-{suffix}")
}

/// Writes `bytes` to `path` through a temporary file and a rename: readers see the old file
/// or the new one, never half of one.
/// The temporary file has a unique name in the same folder and is removed if anything fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = temp_builder(".tmp").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A temporary file beside its artifact, readable as every artifact is (`rw-r--r--`, as a file
/// created under the usual umask 022), not the temporary file's private 0600: run folders are
/// uploaded by CI jobs and served to readers.
fn temp_builder(suffix: &str) -> tempfile::Builder<'static, '_> {
    let mut b = tempfile::Builder::new();
    b.prefix(".peakgate-").suffix(suffix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o644));
    }
    b
}

/// Writes a file through `write` (which is given a temporary path ending in `extension`, e.g.
/// for a library that picks the format from it) and renames it into place; the temporary file
/// is removed if anything fails.
pub fn write_atomic_with(
    path: &Path,
    extension: &str,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let suffix = format!(".{extension}");
    let tmp = temp_builder(&suffix)
        .tempfile_in(dir)
        .map_err(|e| e.to_string())?
        .into_temp_path();
    write(&tmp)?;
    tmp.persist(path).map_err(|e| e.error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[cfg(unix)]
    #[test]
    fn artifacts_are_readable_by_others_like_any_file_not_private_temp_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("verdict.json");
        write_atomic(&a, b"{}").unwrap();
        let b = dir.path().join("chart.png");
        write_atomic_with(&b, "png", |p| {
            std::fs::write(p, b"png").map_err(|e| e.to_string())
        })
        .unwrap();
        for p in [a, b] {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{p:?}");
        }
    }

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

    #[test]
    fn run_folders_are_created_exclusively() {
        let out = tempfile::tempdir().unwrap();
        let first = RunDir::create(out.path(), "20261201T100000Z-smoke-0a1b2c3d").unwrap();
        assert!(first.path.is_dir());
        // A second run with the same id never shares the folder.
        let again = RunDir::create(out.path(), "20261201T100000Z-smoke-0a1b2c3d");
        assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn a_failed_atomic_write_leaves_neither_the_file_nor_a_temp_file() {
        let out = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty folder fails after the temp file was written.
        let target = out.path().join("capacity.json");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), b"x").unwrap();
        assert!(write_atomic(&target, b"{}").is_err());
        let left: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(left, vec!["capacity.json".to_string()]);
        // Two writes in one folder use distinct temp files (capacity.json and capacity.md
        // once shared one name) and both land.
        let a = out.path().join("a.json");
        let b = out.path().join("b.md");
        write_atomic(&a, b"1").unwrap();
        write_atomic(&b, b"2").unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"1");
        assert_eq!(std::fs::read(&b).unwrap(), b"2");
    }
}
