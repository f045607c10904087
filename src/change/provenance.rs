//! Where the record's inputs came from: each file's version (its last git commit when it is
//! in a repository, and the sha256 of what was read), and paths relative to the record's
//! folder, so the record's links work wherever the folder tree is copied.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::result::change_record::FileVersion;

/// The version of `file`, whose text was `text`, linked from `out`.
pub fn version(file: &Path, text: &str, out: &Path) -> FileVersion {
    FileVersion {
        path: relative(file, out),
        sha256: sha256_hex(text.as_bytes()),
        commit: git_commit(file),
        // Modified, staged or untracked (`??`); outside a repository git fails: false.
        uncommitted: git_modified(file),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `git log -1 --format=%H -- FILE`, run in the file's folder; `None` outside a repository,
/// without git, or for a file never committed.
fn git_commit(file: &Path) -> Option<String> {
    let out = git(file, &["log", "-1", "--format=%H", "--"])?;
    let hash = out.trim();
    (hash.len() >= 40 && hash.chars().all(|c| c.is_ascii_hexdigit())).then(|| hash.to_string())
}

/// Whether the file differs from the repository's HEAD (staged or not), or is untracked.
fn git_modified(file: &Path) -> bool {
    git(file, &["status", "--porcelain", "--"]).is_some_and(|s| !s.trim().is_empty())
}

fn git(file: &Path, args: &[&str]) -> Option<String> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = file.file_name()?;
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .arg(name)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `path` relative to the folder `from`, with `/` separators (`../reports/x/verdict.json`).
/// Both are made absolute first; paths on different roots stay absolute.
pub fn relative(path: &Path, from: &Path) -> String {
    let path = absolute(path);
    let from = absolute(from);
    let p: Vec<Component> = path.components().collect();
    let f: Vec<Component> = from.components().collect();
    let common = p.iter().zip(&f).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return path.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..f.len() {
        rel.push("..");
    }
    for c in &p[common..] {
        rel.push(c);
    }
    let text = rel.to_string_lossy().replace('\\', "/");
    if text.is_empty() { ".".into() } else { text }
}

/// Absolute, with `.` and `..` resolved through the real folders where they exist.
fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_go_up_and_down_from_the_records_folder() {
        assert_eq!(
            relative(
                Path::new("/a/reports/r1/verdict.json"),
                Path::new("/a/reports/change-1")
            ),
            "../r1/verdict.json"
        );
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), ".");
        assert_eq!(
            relative(Path::new("/a/b/c.toml"), Path::new("/a")),
            "b/c.toml"
        );
    }

    fn git_in(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args([
                "-c",
                "user.name=peakgate",
                "-c",
                "user.email=peakgate@example.com",
            ])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn a_committed_policy_is_versioned_by_its_commit_and_a_changed_one_says_so() {
        if Command::new("git").arg("--version").output().is_err() {
            eprintln!("skipped: no git on this machine");
            return;
        }
        let repo = tempfile::tempdir().unwrap();
        let deploy = repo.path().join("deploy");
        std::fs::create_dir(&deploy).unwrap();
        let policy = deploy.join("policy.toml");
        std::fs::write(&policy, "[types]\n").unwrap();
        git_in(repo.path(), &["init", "-q"]);
        git_in(repo.path(), &["add", "deploy/policy.toml"]);
        git_in(repo.path(), &["commit", "-q", "-m", "policy"]);
        let head = git_in(repo.path(), &["rev-parse", "HEAD"]);
        // A later commit that does not touch the policy leaves its version alone.
        std::fs::write(repo.path().join("other.txt"), "x").unwrap();
        git_in(repo.path(), &["add", "other.txt"]);
        git_in(repo.path(), &["commit", "-q", "-m", "other"]);
        let out = repo.path().join("reports");
        let v = version(&policy, "[types]\n", &out);
        assert_eq!(v.commit.as_deref(), Some(head.as_str()));
        assert!(!v.uncommitted);
        assert_eq!(v.path, "../deploy/policy.toml");
        assert_eq!(
            v.describe(),
            format!("git {head} (sha256 {})", sha256_hex(b"[types]\n"))
        );
        std::fs::write(&policy, "[types]\nui_only = \"low\"\n").unwrap();
        let v = version(&policy, "[types]\nui_only = \"low\"\n", &out);
        assert_eq!(v.commit.as_deref(), Some(head.as_str()));
        assert!(v.uncommitted);
        assert!(
            v.describe().starts_with(&format!(
                "git {} with uncommitted changes (sha256 ",
                &head[..12]
            )),
            "{}",
            v.describe()
        );
        // A policy written beside it and never added: the repository does not hold it.
        let fresh = deploy.join("calendar.toml");
        std::fs::write(&fresh, "x = 1\n").unwrap();
        let v = version(&fresh, "x = 1\n", &out);
        assert_eq!(v.commit, None);
        assert!(v.uncommitted);
        assert!(
            v.describe()
                .starts_with("not committed to its git repository (sha256 "),
            "{}",
            v.describe()
        );
    }

    #[test]
    fn a_file_outside_any_repository_has_only_its_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.toml");
        std::fs::write(&file, "x = 1\n").unwrap();
        let v = version(&file, "x = 1\n", dir.path());
        assert_eq!(v.commit, None);
        assert!(!v.uncommitted);
        assert_eq!(v.path, "policy.toml");
        // As `printf 'x = 1\n' | sha256sum` gives it.
        assert_eq!(
            v.sha256,
            "9e26bf369911c45c243c684147b23fc9e1dcfcf257d299a1c632016a6fcd33f4"
        );
        assert!(v.describe().starts_with("sha256 "));
    }
}
