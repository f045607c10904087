//! ctrl-c mid-run: the load stops, in-flight journeys get a grace, artifacts are written with
//! `status = "interrupted"`, exit 3.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Workspace, repo_file};

#[test]
fn sigint_mid_run_exits_3_with_interrupted_artifacts() {
    let ws = Workspace::new();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("peakgate"))
        .args(["run", "--quiet", "--grace", "1s"])
        .arg("--profile")
        .arg(repo_file("profiles/smoke.toml"))
        .arg("--out")
        .arg(ws.out())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("peakgate starts");
    std::thread::sleep(Duration::from_secs(4));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "peakgate did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3));
    // It stopped within the grace, not at the plan's end (15 s).
    assert!(started.elapsed() < Duration::from_secs(5));
    let r = ws.run_json();
    assert_eq!(r["status"], "interrupted");
    let planned = r["totals"]["planned"].as_u64().unwrap();
    assert!(planned > 10 && planned < 200, "planned {planned} of ~262");
    assert!(r["totals"]["requests"].as_u64().unwrap() > 0);
    let log = std::fs::read(ws.run_dir().join("latency.hlog")).unwrap();
    assert!(
        !peakgate::metrics::hlog::read_merged(&log)
            .unwrap()
            .is_empty()
    );
}
