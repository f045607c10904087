//! Helpers shared by the integration tests: the CLI, profiles written to a temp folder,
//! and reading a run's artifacts.

pub mod odoo;
pub mod pg;
pub mod services;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// The repository's shipped scenarios.
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The `peakgate` binary.
pub fn peakgate() -> Command {
    let mut c = Command::cargo_bin("peakgate").expect("binary built");
    c.env_remove("ODOO_PASSWORD");
    c
}

/// `peakgate run --quiet --profile <repo profile> --out <out> <extra>`: the run folder it
/// printed and its exit code (whatever the verdict).
pub fn run_quiet(out: &Path, profile: &str, extra: &[&str]) -> (PathBuf, i32) {
    let output = peakgate()
        .args(["run", "--quiet", "--profile"])
        .arg(repo_file(profile))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("peakgate runs");
    let dir = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(
        !dir.is_empty(),
        "no run folder: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (PathBuf::from(dir), output.status.code().unwrap())
}

/// A temp folder with `profile.toml` (scenarios from the repo unless the text sets its own).
pub struct Workspace {
    pub dir: TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Writes a file relative to the workspace and returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Writes a profile that uses the repository's scenarios.
    pub fn profile(&self, name: &str, body: &str) -> PathBuf {
        let text = format!(
            "scenarios_dir = {:?}\n{body}",
            scenarios_dir().display().to_string()
        );
        self.write(&format!("profiles/{name}.toml"), &text)
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    /// The only run folder under `out`.
    pub fn run_dir(&self) -> PathBuf {
        let mut dirs: Vec<_> = std::fs::read_dir(self.out())
            .expect("reports folder")
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(dirs.len(), 1, "exactly one run folder: {dirs:?}");
        dirs.pop().unwrap()
    }

    pub fn run_json(&self) -> Value {
        let text =
            std::fs::read_to_string(self.run_dir().join("run.json")).expect("run.json written");
        serde_json::from_str(&text).expect("run.json is JSON")
    }
}

/// A `peakgate standin` process on a free loopback port, stopped when dropped.
pub struct StandinProcess {
    /// Its base URL, from the line it prints on start.
    pub url: String,
    /// That line.
    pub banner: String,
    child: std::process::Child,
}

impl StandinProcess {
    /// Starts `peakgate standin --listen 127.0.0.1:0` with `args`.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> StandinProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("peakgate"))
            .args(["standin", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("stand-in starts");
        let mut banner = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut banner)
            .unwrap();
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {banner:?}"))
            .to_string();
        StandinProcess { url, banner, child }
    }

    /// Stops the process now.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for StandinProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
