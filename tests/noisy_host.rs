//! A/A on a noisy host: the same release run twice, the second time with busy loops on every
//! core, is judged inconclusive (the load generator could not keep its plan) or pass, never
//! fail. Its own test binary, because cargo runs test binaries one after another: the busy
//! loops must not starve the other tests' runs, which run in parallel inside theirs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process};

use assert_cmd::Command;
use serde_json::Value;

fn smoke(out: &Path, extra: &[&str]) -> (PathBuf, i32) {
    let output = Command::cargo_bin("peakgate")
        .expect("binary built")
        .env_remove("ODOO_PASSWORD")
        .args([
            "run",
            "--quiet",
            "--duration",
            "8s",
            "--seed",
            "1",
            "--profile",
        ])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/smoke.toml"))
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

/// Busy loops that end by themselves after `seconds`, even if this test dies.
struct BusyLoops(Vec<Child>);

impl BusyLoops {
    fn start(n: usize, seconds: u32) -> BusyLoops {
        BusyLoops(
            (0..n)
                .map(|_| {
                    Process::new("timeout")
                        .arg(seconds.to_string())
                        .args(["sh", "-c", "while :; do :; done"])
                        .spawn()
                        .expect("timeout(1) and sh run")
                })
                .collect(),
        )
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        // SIGTERM, which timeout(1) passes on to its loop (a SIGKILL would orphan the loop).
        for c in &mut self.0 {
            let _ = Process::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }
}

#[test]
fn a_a_with_busy_loops_on_the_host_is_inconclusive_or_pass_never_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, code) = smoke(&tmp.path().join("base"), &[]);
    assert_eq!(code, 0, "the quiet baseline passes");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let busy = BusyLoops::start(2 * cores, 30);
    let (cand, code) = smoke(
        &tmp.path().join("cand"),
        &["--baseline", base.to_str().unwrap()],
    );
    drop(busy);
    let v: Value = serde_json::from_slice(&std::fs::read(cand.join("verdict.json")).unwrap())
        .expect("verdict.json");
    let verdict = v["verdict"].as_str().unwrap();
    assert!(
        matches!(
            (verdict, code),
            ("inconclusive", 4) | ("pass", 0) | ("warn", 0)
        ),
        "an unchanged release on a noisy host must not fail: verdict {verdict}, exit {code}\n{v:#}"
    );
    // The generator's evidence is in the run: the host was starved.
    let run: Value =
        serde_json::from_slice(&std::fs::read(cand.join("run.json")).unwrap()).unwrap();
    let g = &run["generator"];
    assert!(g["cores"].as_u64().unwrap() >= 1, "{g}");
    if let Some(p) = g["cpu_pressure_mean"].as_f64() {
        assert!(
            p > 0.5,
            "busy loops on every core leave tasks waiting for a CPU: {g}"
        );
    }
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "load generator kept its plan")
        .expect("the generator is judged");
    assert_eq!(
        check["status"],
        if verdict == "inconclusive" {
            "inconclusive"
        } else {
            "pass"
        }
    );
}
