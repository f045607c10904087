//! A run's artifacts are one truth and failures fail closed (issue "run trust"): a simulated
//! run carries its gate and is judged by it, an artifact that cannot be written or read is
//! exit 5 (never a pass, never "interrupted"), and a folder that is not a run is exit 2.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;

use crate::common::{Workspace, peakgate, repo_file, run_quiet};

/// One short smoke run shared by these tests.
fn measured() -> &'static (Workspace, PathBuf) {
    static RUN: OnceLock<(Workspace, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let ws = Workspace::new();
        let (dir, code) = run_quiet(&ws.out(), "profiles/smoke.toml", &["--duration", "4s"]);
        assert_eq!(code, 0);
        (ws, dir)
    })
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file written")).expect("JSON")
}

/// A copy of the measured run's files in a fresh folder, to damage.
fn copy_of_run(ws: &Workspace, name: &str) -> PathBuf {
    let (_, dir) = measured();
    let copy = ws.dir.path().join(name);
    std::fs::create_dir_all(&copy).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
        }
    }
    copy
}

#[test]
fn simulate_gate_is_honoured_and_its_folder_is_judged_by_it() {
    let (ws, from) = measured();
    let strict = ws.write(
        "strict-gate.toml",
        "[gate.latency.\"*/*\"]\np50 = { warn = 0.001 }\n",
    );
    let o = peakgate()
        .args(["simulate", "--quiet", "--profile"])
        .arg(repo_file("profiles/smoke.toml"))
        .arg("--from")
        .arg(from)
        .arg("--workers")
        .arg("4")
        .arg("--gate")
        .arg(&strict)
        .arg("--out")
        .arg(ws.dir.path().join("sim"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let sim = PathBuf::from(String::from_utf8(o).unwrap().trim());
    // The folder carries the profile's gate with --gate merged over it.
    let gate = std::fs::read_to_string(sim.join("gate.json")).unwrap();
    assert!(gate.contains("pos_order_sync"), "{gate}");
    assert!(gate.contains("0.001"), "{gate}");
    // `verdict` on it judges by that gate, not by "run completed" alone.
    peakgate().arg("verdict").arg(&sim).assert().code(0);
    let v = json(&sim.join("verdict.json"));
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.len() > 3, "{names:?}");
    assert!(names.contains(&"latency p50 */*"), "{names:?}");
    assert_eq!(v["verdict"], "warn", "{v:#}");
    // `report` renders that verdict.
    peakgate().arg("report").arg(&sim).assert().success();
    let summary = std::fs::read_to_string(sim.join("summary.md")).unwrap();
    assert!(summary.contains("**WARN**"), "{summary}");
}

#[test]
fn an_artifact_write_failure_exits_5_not_3() {
    let (ws, dir) = measured();
    // The verdict's folder cannot be made: a file is in the way.
    let blocked = ws.write("blocked", "a file, not a folder\n");
    peakgate()
        .arg("verdict")
        .arg(dir)
        .arg("--out")
        .arg(blocked.join("verdict"))
        .assert()
        .code(5)
        .stderr(contains("cannot create"));
}

#[test]
fn an_unreadable_stored_artifact_exits_5_and_a_folder_that_is_no_run_exits_2() {
    let ws = Workspace::new();
    // A damaged verdict.json: `report` must not invent one.
    let run = copy_of_run(&ws, "damaged-verdict");
    std::fs::write(run.join("verdict.json"), b"{\"verdict\": \"pa").unwrap();
    peakgate()
        .arg("report")
        .arg(&run)
        .assert()
        .code(5)
        .stderr(contains("verdict.json"));
    // A damaged latency.hlog: `verdict` must not judge on nothing.
    let run = copy_of_run(&ws, "damaged-hlog");
    std::fs::write(
        run.join("latency.hlog"),
        b"#[StartTime: x\nnot a histogram\n",
    )
    .unwrap();
    peakgate()
        .arg("verdict")
        .arg(&run)
        .assert()
        .code(5)
        .stderr(contains("latency.hlog"));
    // An emptied one: no histogram although run.json counts requests.
    let run = copy_of_run(&ws, "emptied-hlog");
    std::fs::write(run.join("latency.hlog"), b"").unwrap();
    peakgate()
        .arg("verdict")
        .arg(&run)
        .assert()
        .code(5)
        .stderr(contains("latency.hlog: damaged: it holds no histogram"));
    // A folder with no run.json is the user's mistake, not peakgate's.
    let empty = ws.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    peakgate()
        .arg("verdict")
        .arg(&empty)
        .assert()
        .code(2)
        .stderr(contains("not a run folder"));
    // So is a run written by a peakgate of another run.json schema: named, never misread.
    let run = copy_of_run(&ws, "other-schema");
    let text = std::fs::read_to_string(run.join("run.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["schema"] = "peakgate.run/99".into();
    std::fs::write(run.join("run.json"), v.to_string()).unwrap();
    peakgate()
        .arg("verdict")
        .arg(&run)
        .assert()
        .code(2)
        .stderr(contains("schema `peakgate.run/99`"));
}

#[test]
fn an_out_that_is_a_file_and_a_gate_file_selecting_nothing_are_input_errors() {
    let ws = Workspace::new();
    let file = ws.dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    peakgate()
        .args(["run", "--quiet", "--duration", "1s", "--profile"])
        .arg(repo_file("profiles/smoke.toml"))
        .arg("--out")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(contains("--out:").and(contains("is a file")));
    // A typo in a --gate file's selector must not switch the objective off.
    let run = copy_of_run(&ws, "gate-typo");
    let gate = ws.dir.path().join("typo.toml");
    std::fs::write(
        &gate,
        "[gate.latency.\"pos_ordre_sync/*\"]\np95 = { fail = 100 }\n",
    )
    .unwrap();
    peakgate()
        .arg("verdict")
        .arg(&run)
        .arg("--gate")
        .arg(&gate)
        .assert()
        .code(2)
        .stderr(contains(
            "typo.toml:1:15: gate.latency.\"pos_ordre_sync/*\" matches no step or scenario",
        ))
        .stderr(contains("the nearest are `pos_order_sync`"));
}
