//! A stop signal mid-run (SIGINT from ctrl-c, SIGTERM from CI runners, `timeout` and
//! Kubernetes, SIGHUP from a closed terminal): the load stops, in-flight journeys get a grace,
//! artifacts are written with `status = "interrupted"`, exit 3; what is still in flight when
//! the grace ends is recorded as `interrupted`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Workspace, repo_file};

/// Starts `peakgate run` on `profile`, sends `signal` after `after`, and returns its exit
/// status and how long it took to stop.
fn stopped_by(
    ws: &Workspace,
    profile: &std::path::Path,
    signal: &str,
    after: Duration,
) -> (std::process::ExitStatus, Duration) {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("peakgate"))
        .args(["run", "--quiet", "--grace", "1s"])
        .arg("--profile")
        .arg(profile)
        .arg("--out")
        .arg(ws.out())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("peakgate starts");
    std::thread::sleep(after);
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
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
            "peakgate did not stop after {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, started.elapsed())
}

fn a_signal_mid_run_exits_3_with_interrupted_artifacts(signal: &str) {
    let ws = Workspace::new();
    let (status, took) = stopped_by(
        &ws,
        &repo_file("profiles/smoke.toml"),
        signal,
        Duration::from_secs(4),
    );
    assert_eq!(status.code(), Some(3), "{signal}");
    // It stopped within the grace, not at the plan's end (15 s).
    assert!(took < Duration::from_secs(5), "{signal}: {took:?}");
    for f in [
        "run.json",
        "verdict.json",
        "junit.xml",
        "summary.md",
        "report.html",
    ] {
        assert!(ws.run_dir().join(f).is_file(), "{signal}: {f} missing");
    }
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

#[test]
fn sigint_mid_run_exits_3_with_interrupted_artifacts() {
    a_signal_mid_run_exits_3_with_interrupted_artifacts("INT");
}

#[test]
fn sigterm_mid_run_exits_3_with_interrupted_artifacts() {
    a_signal_mid_run_exits_3_with_interrupted_artifacts("TERM");
}

#[test]
fn sighup_mid_run_exits_3_with_interrupted_artifacts() {
    a_signal_mid_run_exits_3_with_interrupted_artifacts("HUP");
}

/// A target that stops answering: the requests in flight when the grace runs out are recorded
/// as `interrupted`, with their latency up to that moment, instead of vanishing.
#[test]
fn requests_abandoned_at_the_end_of_the_grace_are_recorded_as_interrupted() {
    let ws = Workspace::new();
    ws.write("stall.toml", "[[stall]]\nat = \"2s\"\nduration = \"60s\"\n");
    let profile = ws.profile(
        "stalled",
        "name = \"stalled\"\nenvironment = \"test\"\n[standin]\nconfig = \"../stall.toml\"\n[load]\n[[load.stage]]\nduration = \"30s\"\nrate = 10\n[mix]\nproduct_search = 1\n",
    );
    let (status, _) = stopped_by(&ws, &profile, "TERM", Duration::from_secs(5));
    assert_eq!(status.code(), Some(3));
    let r = ws.run_json();
    let interrupted: u64 = r["transactions"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.contains('/'))
        .map(|(_, t)| t["errors"]["interrupted"].as_u64().unwrap_or(0))
        .sum();
    assert!(interrupted > 0, "{:#}", r["transactions"]);
    let step = &r["transactions"]["product_search/name_search"];
    // Stalled from 2 s, abandoned at about 5 s + 1 s of grace: waited seconds, not zero.
    assert!(
        step["latency_ms"]["max"].as_f64().unwrap() > 1000.0,
        "{step:#}"
    );
    assert!(
        step["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["kind"] == "interrupted"),
        "{step:#}"
    );
}
