//! The release gate end to end: verdict files and exit codes, the baseline comparison
//! (A/A passes, a slow POS sync fails and is named), `peakgate verdict` reproducing the
//! run's verdict byte for byte, `--scale` headroom, `[gate.abort]`, located gate errors.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use predicates::str::contains;
use serde_json::Value;

use crate::common::{Workspace, peakgate, repo_file, run_quiet};

/// Runs the smoke profile for a few seconds; returns the run folder and the exit code.
fn smoke(out: &Path, extra: &[&str]) -> (PathBuf, i32) {
    let args: Vec<&str> = ["--duration", "5s"].iter().chain(extra).copied().collect();
    run_quiet(out, "profiles/smoke.toml", &args)
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file written")).expect("JSON")
}

/// One accepted baseline run (seed 1) shared by the comparison tests.
fn baseline() -> &'static (Workspace, PathBuf) {
    static BASE: OnceLock<(Workspace, PathBuf)> = OnceLock::new();
    BASE.get_or_init(|| {
        let ws = Workspace::new();
        let (dir, code) = smoke(&ws.out(), &["--seed", "1", "--release", "17.0.41"]);
        assert_eq!(code, 0);
        (ws, dir)
    })
}

fn check<'a>(verdict: &'a Value, name: &str) -> &'a Value {
    verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {verdict:#}"))
}

#[test]
fn a_passing_run_writes_the_three_verdict_files_and_exits_0() {
    let (_, base) = baseline();
    for f in ["verdict.json", "junit.xml", "summary.md", "gate.json"] {
        assert!(base.join(f).is_file(), "{f} missing");
    }
    let v = json(&base.join("verdict.json"));
    assert_eq!(v["schema"], "peakgate.verdict/1");
    assert_eq!(v["verdict"], "pass", "{v:#}");
    // The smoke profile's gate: run status, the load generator, 2 journey checks, 1 error,
    // 3 latency checks.
    assert_eq!(v["checks"].as_array().unwrap().len(), 8, "{v:#}");
    assert_eq!(check(&v, "load generator kept its plan")["status"], "pass");
    let p95 = check(&v, "latency p95 pos_order_sync/*");
    assert!(p95["observed"].as_f64().unwrap() > 10.0);
    assert_eq!(
        (p95["warn"].as_f64(), p95["fail"].as_f64()),
        (Some(800.0), Some(1500.0))
    );
    let junit = std::fs::read_to_string(base.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 8);
    assert!(junit.contains("failures=\"0\""));
    let md = std::fs::read_to_string(base.join("summary.md")).unwrap();
    assert!(md.starts_with("# peakgate verdict: **PASS**"), "{md}");
    assert!(!md.contains("Checks that did not pass"));
}

#[test]
fn a_a_two_seeds_of_the_baseline_release_pass_with_no_regression_flagged() {
    let (_, base) = baseline();
    let ws = Workspace::new();
    let (dir, code) = smoke(
        &ws.out(),
        &["--seed", "2", "--baseline", base.to_str().unwrap()],
    );
    let v = json(&dir.join("verdict.json"));
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["verdict"], "pass", "{v:#}");
    let c = &v["comparisons"];
    assert_eq!(c["baseline_release"], "17.0.41");
    let latency = c["latency"].as_array().unwrap();
    // Steps with fewer than 20 requests on a side are listed as not compared.
    assert!(latency.len() >= 4, "{c:#}");
    assert!(
        latency
            .iter()
            .any(|l| l["step"] == "pos_order_sync/create_from_ui")
    );
    let skipped = c["not_compared"].as_array().unwrap();
    assert_eq!(latency.len() + skipped.len(), 9, "{c:#}");
    for l in latency {
        assert_eq!(l["status"], "pass", "{l:#}");
        assert_eq!(l["test"], "mann_whitney_u");
        let (lo, hi) = (
            l["interval_ms"][0].as_f64().unwrap(),
            l["interval_ms"][1].as_f64().unwrap(),
        );
        assert!(lo <= l["shift_ms"].as_f64().unwrap() && l["shift_ms"].as_f64().unwrap() <= hi);
    }
    assert!(
        c["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "pass")
    );
}

#[test]
fn slow_pos_sync_against_the_baseline_fails_the_pos_sync_comparison_and_names_it() {
    let (_, base) = baseline();
    let ws = Workspace::new();
    let (dir, code) = smoke(
        &ws.out(),
        &[
            "--seed",
            "2",
            "--standin-release",
            "slow-pos-sync",
            "--baseline",
            base.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    let v = json(&dir.join("verdict.json"));
    assert_eq!(v["verdict"], "fail");
    let failed: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // The comparison catches it; an absolute POS SLO may catch it too, nothing else fails.
    assert!(
        failed.contains(&"compare latency pos_order_sync/create_from_ui"),
        "{v:#}"
    );
    assert!(
        failed.iter().all(|n| n.contains("pos_order_sync")),
        "{failed:?}"
    );
    let pos = v["comparisons"]["latency"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["step"] == "pos_order_sync/create_from_ui")
        .unwrap();
    assert_eq!(pos["significant"], true);
    assert!(pos["p_value"].as_f64().unwrap() < 1e-6, "{pos:#}");
    // Median 40 → 200 ms: the shift is well over 100 ms.
    assert!(pos["shift_ms"].as_f64().unwrap() > 100.0, "{pos:#}");
    assert!(pos["p95_ratio"].as_f64().unwrap() > 2.0, "{pos:#}");
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.starts_with("# peakgate verdict: **FAIL**"));
    assert!(
        md.contains("| compare latency pos_order_sync/create_from_ui | FAIL |"),
        "{md}"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("failures=\"{}\"", failed.len())),
        "{junit}"
    );

    // `peakgate verdict` recomputes the same bytes from the stored artifacts.
    let again = ws.dir.path().join("again");
    peakgate()
        .args(["verdict"])
        .arg(&dir)
        .arg("--baseline")
        .arg(base)
        .arg("--out")
        .arg(&again)
        .assert()
        .code(1)
        .stdout(contains(
            "compare latency pos_order_sync/create_from_ui (fail)",
        ));
    for f in ["verdict.json", "junit.xml", "summary.md"] {
        assert_eq!(
            std::fs::read(again.join(f)).unwrap(),
            std::fs::read(dir.join(f)).unwrap(),
            "{f} differs"
        );
    }
}

#[test]
fn peakgate_verdict_reproduces_verdict_json_and_takes_a_stricter_gate() {
    let (ws_base, base) = baseline();
    let out = ws_base.dir.path().join("reverdict");
    peakgate()
        .arg("verdict")
        .arg(base)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read(out.join("verdict.json")).unwrap(),
        std::fs::read(base.join("verdict.json")).unwrap()
    );
    // A gate file merged over the stored gate: a p50 nobody meets warns; --fail-on-warn → 1.
    let strict = ws_base.write(
        "strict.toml",
        "[gate.latency.\"*/*\"]\np50 = { warn = 0.001 }\n",
    );
    let out2 = ws_base.dir.path().join("strict");
    for (flag, code) in [(None, 0), (Some("--fail-on-warn"), 1)] {
        let mut cmd = peakgate();
        cmd.arg("verdict")
            .arg(base)
            .arg("--gate")
            .arg(&strict)
            .arg("--out")
            .arg(&out2);
        if let Some(f) = flag {
            cmd.arg(f);
        }
        cmd.assert().code(code);
    }
    let v = json(&out2.join("verdict.json"));
    assert_eq!(v["verdict"], "warn");
    assert_eq!(check(&v, "latency p50 */*")["status"], "warn");
    // The stored gate's checks are still there.
    assert_eq!(check(&v, "latency p95 pos_order_sync/*")["status"], "pass");

    // In place (on a copy of the run), the gate a verdict used is recorded beside it: a later
    // `verdict` with no flags says the same, and `report` renders that stored verdict.
    let copy = ws_base.dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(base).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
    }
    let base = &copy;
    peakgate()
        .arg("verdict")
        .arg(base)
        .arg("--gate")
        .arg(&strict)
        .assert()
        .code(0);
    peakgate().arg("verdict").arg(base).assert().code(0);
    assert_eq!(json(&base.join("verdict.json"))["verdict"], "warn");
    peakgate().arg("report").arg(base).assert().success();
    let summary = std::fs::read_to_string(base.join("summary.md")).unwrap();
    assert!(summary.contains("**WARN**"), "{summary}");
    // Without its gate.json a run cannot be judged: exit 5, never a pass.
    std::fs::remove_file(base.join("gate.json")).unwrap();
    peakgate()
        .arg("verdict")
        .arg(base)
        .assert()
        .code(5)
        .stderr(contains("gate.json"));
}

#[test]
fn scale_finds_where_queueing_breaks_the_slo_and_stops_there() {
    let ws = Workspace::new();
    // Two workers, POS sync only (~48 ms of worker time each): ~40 syncs/s of capacity.
    let profile = ws.profile(
        "queue",
        r#"
name = "queue"
environment = "ci"
[load]
arrivals = "uniform"
timeout = "10s"
[[load.stage]]
duration = "3s"
rate = 10
[mix]
pos_order_sync = 1
[standin]
workers = 2
[gate.latency."pos_order_sync/*"]
p95 = { fail = 300 }
[gate.scale]
headroom = { warn = 4, fail = 1 }
"#,
    );
    let output = peakgate()
        .args(["run", "--quiet", "--scale", "1,2,6,12"])
        .arg("--profile")
        .arg(&profile)
        .arg("--out")
        .arg(ws.out())
        .output()
        .unwrap();
    // Headroom 2 is under the warn level 4: warn, exit 0.
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parent = ws.run_dir();
    let v = json(&parent.join("verdict.json"));
    assert_eq!(v["verdict"], "warn", "{v:#}");
    let h = &v["headroom"];
    assert_eq!(h["multiplier"], 2.0, "{v:#}");
    let steps = h["steps"].as_array().unwrap();
    let scales: Vec<f64> = steps.iter().map(|s| s["scale"].as_f64().unwrap()).collect();
    assert_eq!(
        scales,
        [1.0, 2.0, 6.0],
        "stops after the first failing step"
    );
    assert_eq!(steps[2]["verdict"], "fail");
    assert_eq!(steps[2]["not_passed"][0], "latency p95 pos_order_sync/*");
    assert!(steps[2]["worst_p95_ms"].as_f64().unwrap() > 300.0);
    assert!(steps[1]["worst_p95_ms"].as_f64().unwrap() < 300.0);
    assert!(!parent.join("x12").exists());
    for step in ["x1", "x2", "x6"] {
        let r = json(&parent.join(step).join("run.json"));
        assert!(parent.join(step).join("verdict.json").is_file());
        let scale: f64 = step[1..].parse().unwrap();
        assert_eq!(r["plan"]["rate_scale"].as_f64(), Some(scale));
    }
    assert_eq!(check(&v, "headroom")["observed"], 2.0);
    let md = std::fs::read_to_string(parent.join("summary.md")).unwrap();
    assert!(md.contains("## Headroom: ×2"), "{md}");

    // `peakgate verdict` on the parent judges the steps again and rebuilds the same bytes.
    let again = ws.dir.path().join("again");
    peakgate()
        .arg("verdict")
        .arg(&parent)
        .arg("--out")
        .arg(&again)
        .assert()
        .code(0)
        .stdout(contains("headroom (warn)"));
    for f in [
        "verdict.json",
        "summary.md",
        "x6/verdict.json",
        "x1/junit.xml",
    ] {
        assert_eq!(
            std::fs::read(again.join(f)).unwrap(),
            std::fs::read(parent.join(f)).unwrap(),
            "{f} differs"
        );
    }
}

/// An aborted run is a failed release (exit 1, DESIGN.md), not an interrupted one (3).
#[test]
fn an_abort_condition_stops_a_broken_release_exit_1_with_artifacts() {
    let ws = Workspace::new();
    let gate = ws.write(
        "abort.toml",
        "[gate.abort]\nwindow = \"2s\"\nerror_rate = 0.3\nmin_requests = 10\n",
    );
    let (dir, code) = smoke(
        &ws.out(),
        &[
            "--standin-release",
            "broken",
            "--gate",
            gate.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    let r = json(&dir.join("run.json"));
    // Stopped a couple of seconds in, not at the plan's 5 s end: judged on the run's own
    // clock, which a busy machine's process start and artifact writing do not stretch.
    let ran = r["duration_s"].as_f64().unwrap();
    assert!(ran < 4.5, "the run lasted {ran} s of its 5");
    assert_eq!(r["status"], "aborted");
    assert!(
        r["duration_s"].as_f64().unwrap() < 4.0,
        "{}",
        r["duration_s"]
    );
    let v = json(&dir.join("verdict.json"));
    assert_eq!(v["verdict"], "fail");
    let c = check(&v, "run completed");
    assert_eq!(c["status"], "fail");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("above the abort limit 30%"),
        "{c}"
    );
    assert!(dir.join("latency.hlog").is_file() && dir.join("junit.xml").is_file());
}

#[test]
fn a_bad_gate_is_refused_at_its_line_with_exit_2() {
    let ws = Workspace::new();
    let gate = ws.write(
        "gate.toml",
        "[gate.latency.\"pos_order_sync/*\"]\np95 = { warn = 900, fail = 500 }\n",
    );
    peakgate()
        .args(["run", "--quiet"])
        .arg("--profile")
        .arg(repo_file("profiles/smoke.toml"))
        .arg("--gate")
        .arg(&gate)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .code(2)
        .stderr(contains("gate.toml:2:7"))
        .stderr(contains("`warn` (900) must be at most `fail` (500)"));
    let profile = ws.profile(
        "typo",
        "name = \"typo\"\nenvironment = \"ci\"\n[load]\n[[load.stage]]\nduration = \"1s\"\nrate = 1\n[mix]\npos_order_sync = 1\n[gate.errors.\"*/*\"]\nrat = { fail = 0.1 }\n",
    );
    peakgate()
        .args(["check"])
        .arg(&profile)
        .assert()
        .code(2)
        .stderr(contains("typo.toml:11:1"))
        .stderr(contains("rat"));
    assert!(!ws.out().exists(), "nothing is run on bad input");
}
