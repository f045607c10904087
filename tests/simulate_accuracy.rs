//! The simulator against reality on settings it was not calibrated on (issue 13, goal 7):
//! calibrated from one light run of the memory stand-in, its per-step p95 must be within 15%
//! of real runs at 70–85% utilisation, at other worker counts, and on a setting drawn with a
//! fixed seed; the old calibration (the run's latency, queueing included) must miss.
//!
//! Settings chosen for a stable measurement on a shared 2-core machine: the stand-in's service
//! laws are long against scheduling noise (about a millisecond) and narrow (lognormal, p99 10%
//! above the median), so a run's queueing comes from its Poisson arrivals, which the
//! simulation replays exactly (same profile, same seed); a wide law would make each run's p95
//! rest on a few busy periods of its own draws. About 75 s of runs.

use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::common::{Workspace, peakgate};

const STEPS: [&str; 2] = ["browse/shop", "browse/cart"];
/// Mean service per journey, s: a lognormal law's mean is median × e^(σ²/2),
/// σ = ln(p99 / median) / 2.326; here 100 ms and 50 ms medians, p99 ×1.1 (σ = 0.041).
const JOURNEY_SERVICE_S: f64 = 0.150_13;
/// The arrival times, the scenario mix and the simulation's draws.
const SEED: &str = "13";

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "scenarios/browse.toml",
        r#"description = "shop page, then the cart"
session = "none"

[[step]]
name = "shop"
http = "/shop"
think = "100ms"

[[step]]
name = "cart"
http = "/shop/cart"
"#,
    );
    ws.write(
        "profiles/standin.toml",
        r#"[service]
"/shop" = { median = "100ms", p99 = "110ms" }
"/shop/cart" = { median = "50ms", p99 = "55ms" }
"#,
    );
    ws
}

/// A profile at `utilisation` of `workers` (journeys/s × mean service per journey / workers).
fn profile(ws: &Workspace, name: &str, workers: usize, utilisation: f64, seconds: u32) -> PathBuf {
    let rate = utilisation * workers as f64 / JOURNEY_SERVICE_S;
    ws.write(
        &format!("profiles/{name}.toml"),
        &format!(
            r#"name = "browse"
environment = "test"
scenarios_dir = "../scenarios"
[load]
arrivals = "poisson"
[[load.stage]]
duration = "{seconds}s"
rate = {rate:.3}
[mix]
browse = 1
[standin]
workers = {workers}
config = "standin.toml"
"#
        ),
    )
}

fn stdout_path(out: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8(out).unwrap().trim())
}

fn run(profile: &Path, out: &Path) -> PathBuf {
    stdout_path(
        peakgate()
            .args(["run", "--quiet", "--seed", SEED, "--profile"])
            .arg(profile)
            .arg("--out")
            .arg(out)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
}

fn simulate(profile: &Path, from: &Path, out: &Path, source: &str) -> PathBuf {
    stdout_path(
        peakgate()
            .args([
                "simulate",
                "--quiet",
                "--seed",
                SEED,
                "--service-times",
                source,
            ])
            .arg("--profile")
            .arg(profile)
            .arg("--from")
            .arg(from)
            .arg("--out")
            .arg(out)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
}

fn load(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap()
}

fn p95(run: &Value, step: &str) -> f64 {
    run["transactions"][step]["latency_ms"]["p95"]
        .as_f64()
        .unwrap()
}

#[test]
fn simulator_within_15_percent_per_step_on_held_out_settings() {
    let ws = workspace();
    let (runs, sims) = (ws.out(), ws.dir.path().join("sims"));
    // Calibration: 2 workers at 50%, where about a third of the requests wait: the old
    // calibration, which took the latency as service time, queued that wait again.
    let cal = run(&profile(&ws, "calibrate", 2, 0.50, 15), &runs);
    assert!(cal.join("odoo.log").is_file(), "the run keeps Odoo's log");

    // Held out: other worker counts at 80% and 75%, and a setting drawn with a fixed seed (3,
    // 5 or 6 workers at 70–85%). On 2 workers (the calibration's count) a 18 s run's p95 rests
    // on a few long busy periods and repeats only within about ±7%: `benches/simulate-accuracy.sh`
    // reports it.
    let mut rng = peakgate::plan::generator::JourneyRng::seed_from_u64(13);
    let drawn_workers = [3, 5, 6][rng.random_range(0..3)];
    let drawn_util = rng.random_range(0.70..0.85);
    let settings = [(4, 0.80), (6, 0.75), (drawn_workers, drawn_util)];

    let mut table = vec![format!(
        "{:<22} {:<12} {:>10} {:>10} {:>8} {:>12} {:>8}",
        "setting", "step", "measured", "simulated", "error", "old calib.", "error"
    )];
    let (mut worst, mut old_worst) = (0.0f64, 0.0f64);
    for (i, (workers, util)) in settings.into_iter().enumerate() {
        let p = profile(&ws, &format!("held{i}"), workers, util, 18);
        let real = load(&run(&p, &runs));
        let sim = load(&simulate(&p, &cal, &sims, "auto"));
        let old = load(&simulate(&p, &cal, &sims, "latency"));
        assert_eq!(sim["totals"]["planned"], real["totals"]["planned"]);
        for step in STEPS {
            let source = sim["simulation"]["service_by_step"][step].as_str().unwrap();
            assert!(source.starts_with("odoo.log: "), "{step}: {source}");
            let (m, s, o) = (p95(&real, step), p95(&sim, step), p95(&old, step));
            let (err, old_err) = ((s - m) / m, (o - m) / m);
            table.push(format!(
                "{:<22} {step:<12} {m:>7.1} ms {s:>7.1} ms {:>+7.1}% {o:>9.1} ms {:>+7.1}%",
                format!("{workers} workers at {:.0}%", util * 100.0),
                err * 100.0,
                old_err * 100.0
            ));
            worst = worst.max(err.abs());
            old_worst = old_worst.max(old_err.abs());
        }
    }
    let table = table.join("\n");
    eprintln!("{table}");
    assert!(
        worst <= 0.15,
        "a step's simulated p95 is off by {:.0}%:\n{table}",
        worst * 100.0
    );
    // The test can fail: the old calibration misses these settings.
    assert!(
        old_worst > 0.3,
        "the latency-as-service calibration should miss by far:\n{table}"
    );
}

/// A server that is not the in-process stand-in: its log is given with `--odoo-log`. Here
/// `peakgate standin --access-log` writes it, line for line as Odoo does.
#[test]
fn a_separate_servers_request_log_calibrates_with_odoo_log() {
    let ws = Workspace::new();
    let log = ws.dir.path().join("odoo-server.log");
    let log_arg = log.display().to_string();
    let server =
        crate::common::StandinProcess::start(&["--workers", "4", "--access-log", &log_arg]);
    let smoke = crate::common::repo_file("profiles/smoke.toml");
    let cal = stdout_path(
        peakgate()
            .args(["run", "--quiet", "--duration", "3s", "--rate-scale", "0.5"])
            .args(["--target", &server.url])
            .env("ODOO_PASSWORD", "admin")
            .arg("--profile")
            .arg(&smoke)
            .arg("--out")
            .arg(ws.out())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    );
    // A run against a target keeps no log of its own: the server's is given.
    assert!(!cal.join("odoo.log").exists());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains(" INFO retail werkzeug: 127.0.0.1 - - [")
                && l.contains(
                    "\"POST /web/dataset/call_kw/pos.order/create_from_ui HTTP/1.1\" 200 - 0 0.000 "
                )),
        "{}",
        text.lines().take(5).collect::<Vec<_>>().join("\n")
    );
    let sims = ws.dir.path().join("sims");
    let sim = |extra: &[&str]| {
        let mut c = peakgate();
        c.args(["simulate", "--workers", "4", "--profile"])
            .arg(&smoke)
            .arg("--from")
            .arg(&cal)
            .arg("--out")
            .arg(&sims)
            .args(extra);
        c
    };
    sim(&["--service-times", "odoo-log"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "has no odoo.log; give Odoo's log with --odoo-log FILE",
        ));
    let dir = stdout_path(
        sim(&["--quiet", "--odoo-log", &log_arg])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    );
    let r = load(&dir);
    let by_step = &r["simulation"]["service_by_step"];
    let pos = by_step["pos_order_sync/create_from_ui"].as_str().unwrap();
    assert!(pos.starts_with("odoo.log: "), "{by_step}");
    assert!(
        r["simulation"]["service_source"]
            .as_str()
            .unwrap()
            .starts_with("odoo.log"),
        "{}",
        r["simulation"]
    );
    // The PostgreSQL backend cannot write Odoo's query fields yet, and says so before starting.
    peakgate()
        .args(["standin", "--backend", "postgres", "--access-log"])
        .arg(&log)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--access-log: the postgres backend does not count its queries yet",
        ));
}
