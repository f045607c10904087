//! Capacity planning end to end: `capacity fit` and `capacity size` on published numbers, the
//! simulator calibrated from a real stand-in run against real runs at other loads and worker
//! counts, a sweep checked by real runs, and the capacity report over runs.

use std::path::{Path, PathBuf};

use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;
use serde_json::Value;

use crate::common::{Workspace, peakgate};

/// codahale/usl4j's test data.
const USL4J: [f64; 32] = [
    955.16, 1878.91, 2688.01, 3548.68, 4315.54, 5130.43, 5931.37, 6531.08, 7219.8, 7867.61,
    8278.71, 8646.7, 9047.84, 9426.55, 9645.37, 9897.24, 10097.6, 10240.5, 10532.39, 10798.52,
    11151.43, 11518.63, 11806.0, 12089.37, 12075.41, 12177.29, 12211.41, 12158.93, 12155.27,
    12118.04, 12140.4, 12074.39,
];

#[test]
fn capacity_fit_reproduces_usl4j_and_writes_the_fit() {
    let ws = Workspace::new();
    let mut csv = String::from("concurrency,throughput\n");
    for (i, x) in USL4J.iter().enumerate() {
        csv.push_str(&format!("{},{x}\n", i + 1));
    }
    let points = ws.write("points.csv", &csv);
    let out = peakgate()
        .args(["capacity", "fit", "--json", "--points"])
        .arg(&points)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let f = &v["usl"];
    let rel = |a: &Value, b: f64| (a.as_f64().unwrap() - b).abs() / b;
    assert!(rel(&f["sigma"]["value"], 0.02671591) < 1e-3, "{f}");
    assert!(rel(&f["kappa"]["value"], 7.690945e-4) < 1e-3, "{f}");
    assert!(rel(&f["lambda_per_s"]["value"], 995.6486) < 1e-3, "{f}");
    assert!(rel(&f["max_throughput_per_s"], 12341.0) < 1e-3, "{f}");
    assert_eq!(f["amdahl"], false);
    let written: Value =
        serde_json::from_slice(&std::fs::read(ws.dir.path().join("points.usl.json")).unwrap())
            .unwrap();
    assert_eq!(written["usl"], v["usl"]);
    // The text form names the peak.
    peakgate()
        .args(["capacity", "fit", "--points"])
        .arg(&points)
        .assert()
        .success()
        .stdout(contains("N* = √((1−σ)/κ) = 35.5"));
}

#[test]
fn capacity_fit_locates_a_bad_row() {
    let ws = Workspace::new();
    let points = ws.write(
        "bad.csv",
        "concurrency,throughput\n1,10\n2,19\n3,fast\n4,35\n",
    );
    peakgate()
        .args(["capacity", "fit", "--points"])
        .arg(&points)
        .assert()
        .code(2)
        .stderr(contains(
            "bad.csv:4: throughput `fast` is not a number above 0",
        ));
    let missing = ws.write("cols.csv", "n,x\n1,2\n");
    peakgate()
        .args(["capacity", "fit", "--points"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(contains("no `concurrency` column"));
}

#[test]
fn capacity_size_gives_the_erlang_c_count_and_its_neighbours() {
    let out = peakgate()
        .args([
            "capacity",
            "size",
            "--arrival-rate",
            "12/s",
            "--service-time",
            "250ms",
            "--target-wait",
            "1s",
            "--service-level",
            "0.9",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert!((v["offered_erlangs"].as_f64().unwrap() - 3.0).abs() < 1e-9);
    let need = v["workers_needed"].as_u64().unwrap();
    let rows = v["around"].as_array().unwrap();
    let row = |c: u64| rows.iter().find(|r| r["servers"] == c).unwrap();
    assert!(row(need)["service_level"].as_f64().unwrap() >= 0.9);
    assert!(row(need - 1)["service_level"].as_f64().unwrap() < 0.9);
    assert!(rows.iter().any(|r| r["servers"] == need + 2));
    for r in rows {
        assert!(
            (r["occupancy"].as_f64().unwrap() - 3.0 / r["servers"].as_f64().unwrap()).abs() < 1e-9
        );
    }
    // A = 10 on 14 servers, target wait 1/9 of the mean service: the published figures.
    let out = peakgate()
        .args([
            "capacity",
            "size",
            "--arrival-rate",
            "40/s",
            "--service-time",
            "250ms",
            "--target-wait",
            "27778us",
            "--service-level",
            "0.88",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let q14 = v["around"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["servers"] == 14)
        .expect("14 servers listed")
        .clone();
    assert!(
        (q14["p_wait"].as_f64().unwrap() - 0.174).abs() < 0.0005,
        "{q14}"
    );
    assert!(
        (q14["service_level"].as_f64().unwrap() - 0.888).abs() < 0.0005,
        "{q14}"
    );
    peakgate()
        .args([
            "capacity",
            "size",
            "--arrival-rate",
            "12/fortnight",
            "--service-time",
            "1s",
            "--target-wait",
            "1s",
            "--service-level",
            "0.9",
        ])
        .assert()
        .code(2)
        .stderr(contains("/fortnight"));
}

/// A journey of two pages whose service laws the stand-in config fixes.
fn capacity_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "scenarios/browse.toml",
        r#"description = "shop page, then the cart"
session = "none"

[[step]]
name = "shop"
http = "/shop"
think = "200ms"

[[step]]
name = "cart"
http = "/shop/cart"
"#,
    );
    ws.write(
        "profiles/standin.toml",
        r#"[service]
"/shop" = { median = "100ms", p99 = "250ms" }
"/shop/cart" = { median = "80ms", p99 = "200ms" }
"#,
    );
    ws
}

/// A profile of `rate` journeys/s for `seconds` on a stand-in with `workers`.
fn profile(ws: &Workspace, name: &str, rate: f64, seconds: u32, workers: usize) -> PathBuf {
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
rate = {rate}
[mix]
browse = 1
[standin]
workers = {workers}
config = "standin.toml"
"#
        ),
    )
}

fn run(profile: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let o = peakgate()
        .args(["run", "--quiet", "--profile"])
        .arg(profile)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    PathBuf::from(String::from_utf8(o).unwrap().trim())
}

fn simulate(profile: &Path, from: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let o = peakgate()
        .args(["simulate", "--quiet", "--profile"])
        .arg(profile)
        .arg("--from")
        .arg(from)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    PathBuf::from(String::from_utf8(o).unwrap().trim())
}

fn load(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap()
}

fn p95(run: &Value, tx: &str) -> f64 {
    run["transactions"][tx]["latency_ms"]["p95"]
        .as_f64()
        .unwrap()
}

/// Predicted against measured p95: returns the journey's relative error (pinned within 15%) and
/// the worst step's (each step's p95 rests on a few hundred samples on either side, so it is
/// held to a looser 25%).
fn compare(label: &str, predicted: &Value, measured: &Value) -> (f64, f64) {
    let mut worst_step = 0.0f64;
    for tx in ["browse/shop", "browse/cart"] {
        let (p, m) = (p95(predicted, tx), p95(measured, tx));
        eprintln!("{label}: {tx} p95 predicted {p:.0} ms, measured {m:.0} ms");
        worst_step = worst_step.max((p - m).abs() / m);
    }
    let (p, m) = (p95(predicted, "browse"), p95(measured, "browse"));
    eprintln!("{label}: journey p95 predicted {p:.0} ms, measured {m:.0} ms");
    ((p - m).abs() / m, worst_step)
}

#[test]
fn simulation_calibrated_from_a_light_run_predicts_real_runs_below_and_above_saturation() {
    let ws = capacity_workspace();
    // Calibration: 40 journeys/s on 24 workers, about 7.6 Erlangs (32% busy): little queueing.
    let cal = run(&profile(&ws, "calibrate", 40.0, 15, 24), &ws.out(), &[]);
    let sims = ws.dir.path().join("sims");

    // A higher load (×1.25) on 16 workers: 9.5 Erlangs, 59% busy, below saturation.
    let p16 = profile(&ws, "w16", 40.0, 6, 16);
    let real = load(&run(&p16, &ws.out(), &["--rate-scale", "1.25"]));
    let sim_dir = simulate(&p16, &cal, &sims, &["--rate-scale", "1.25"]);
    let sim = load(&sim_dir);
    assert_eq!(sim["target"]["kind"], "simulation");
    assert_eq!(sim["simulation"]["workers"], 16);
    // The run on the stand-in kept Odoo's request log: service times without the wait.
    assert_eq!(sim["simulation"]["service_source"], "odoo.log");
    assert!(sim.get("simulation").is_some() && real.get("simulation").is_none());
    // Same plan, same seed: the simulator replays the run's own arrivals.
    assert_eq!(sim["totals"]["planned"], real["totals"]["planned"]);
    let (below, step) = compare("×1.25 on 16 workers", &sim, &real);
    assert!(
        below < 0.15,
        "below saturation: off by {:.0}%",
        below * 100.0
    );
    assert!(
        step < 0.25,
        "below saturation: a step off by {:.0}%",
        step * 100.0
    );
    // Its interval log reads back like a run's, one histogram per step.
    let log = std::fs::read(sim_dir.join("latency.hlog")).unwrap();
    let merged = peakgate::metrics::hlog::read_merged(&log).unwrap();
    assert_eq!(
        merged["browse/shop"].len(),
        sim["transactions"]["browse/shop"]["count"]
            .as_u64()
            .unwrap()
    );

    // Another worker count, 4: the load needs 7.6, so the queue grows all run long.
    let p4 = profile(&ws, "w4", 40.0, 6, 4);
    let real = load(&run(&p4, &ws.out(), &[]));
    let sim = load(&simulate(&p4, &cal, &sims, &[]));
    assert!(
        p95(&real, "browse/shop") > 1500.0,
        "4 workers should be saturated: {}",
        p95(&real, "browse/shop")
    );
    let (above, step) = compare("×1 on 4 workers", &sim, &real);
    assert!(
        above < 0.15,
        "above saturation: off by {:.0}%",
        above * 100.0
    );
    assert!(
        step < 0.25,
        "above saturation: a step off by {:.0}%",
        step * 100.0
    );
    let q = &sim["simulation"]["queueing"];
    assert!(q["worker_utilization"].as_f64().unwrap() > 0.9, "{q}");
    assert!(q["max_queue"].as_u64().unwrap() > 20, "{q}");

    // A sweep at 8 journeys/s (about 1.5 Erlangs) for p95 ≤ 1 s on every step: 1 worker
    // cannot keep up, 2 can. The real stand-in agrees: 2 workers pass, 1 fails.
    let slow = profile(&ws, "sweep", 8.0, 8, 8);
    let out = peakgate()
        .args([
            "simulate",
            "--json",
            "--sweep",
            "workers=1..8",
            "--slo",
            "p95=1s",
            "--profile",
        ])
        .arg(&slow)
        .arg("--from")
        .arg(&cal)
        .arg("--out")
        .arg(&sims)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let sweep: Value = serde_json::from_slice(&out).unwrap();
    let n = sweep["smallest"].as_u64().unwrap() as usize;
    assert_eq!(sweep["sweep"].as_array().unwrap().len(), n, "{sweep}");
    assert!(n >= 2, "one worker cannot serve 1.5 Erlangs: {sweep}");
    let judge = |workers: usize| {
        let r = load(&run(
            &profile(&ws, &format!("real{workers}"), 8.0, 8, workers),
            &ws.out(),
            &[],
        ));
        let worst = ["browse/shop", "browse/cart"]
            .map(|t| p95(&r, t))
            .into_iter()
            .fold(0.0, f64::max);
        eprintln!("real run on {workers} workers: worst step p95 {worst:.0} ms");
        worst <= 1000.0
    };
    assert!(judge(n), "the sweep's {n} workers fail for real");
    assert!(
        !judge(n - 1),
        "{} workers pass for real: the sweep was not the smallest",
        n - 1
    );
}

#[test]
fn capacity_report_over_simulated_loads_fits_sizes_and_says_what_is_missing() {
    let ws = capacity_workspace();
    let cal = run(&profile(&ws, "calibrate", 20.0, 5, 16), &ws.out(), &[]);
    // Six loads on 4 workers, simulated from the calibration into one folder: the layout of a
    // stepped run (a parent folder whose sub-folders are runs).
    let p4 = profile(&ws, "w4", 20.0, 20, 4);
    let stepped = ws.dir.path().join("stepped");
    let mut dirs = Vec::new();
    for scale in ["0.25", "0.5", "0.75", "1", "1.5", "2"] {
        dirs.push(simulate(&p4, &cal, &stepped, &["--rate-scale", scale]));
    }
    // Give the lightest run a PostgreSQL probe series: 2 connections active and 1 idle in
    // transaction on average, i.e. 3 held.
    let light = &dirs[0];
    let mut r = load(light);
    let x = r["totals"]["requests"].as_f64().unwrap() / r["duration_s"].as_f64().unwrap();
    r["probes"]["postgres"] = serde_json::json!({"kind": "postgres", "interval_s": 1.0, "coverage": 1.0, "series": {
        "connections_active": [[0, 1.0], [1, 3.0]],
        "connections_idle_in_transaction": [[0, 1.0], [1, 1.0]],
        "connections_idle": [[0, 7.0], [1, 7.0]]}});
    // And a Redis probe: 9 clients at most, used_memory grown by 1 MB over the run.
    r["probes"]["redis"] = serde_json::json!({"kind": "redis", "interval_s": 1.0, "coverage": 1.0, "series": {
        "connected_clients": [[0, 5.0], [1, 9.0], [2, 7.0]],
        "used_memory_bytes": [[0, 1.0e6], [1, 1.5e6], [2, 2.0e6]]}});
    let visitors = r["totals"]["started"].as_f64().unwrap();
    std::fs::write(light.join("run.json"), serde_json::to_vec(&r).unwrap()).unwrap();

    let out = peakgate()
        .args(["capacity", "--json", "--at-scale", "3", "--slo", "p95=1s"])
        .arg(&stepped)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let c: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(c["schema"], "peakgate.capacity/1");
    assert_eq!(c["runs"].as_array().unwrap().len(), 6);
    assert!(
        c["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["simulated"] == true)
    );
    let usl = &c["usl"];
    assert!(
        usl["points"] == 6 && usl["r_squared"].as_f64().unwrap() > 0.9,
        "{usl}"
    );
    // Throughput cannot pass 4 workers / mean service; the fit's maximum says so within 25%.
    let total = &c["total"];
    let service_s = total["mean_service_ms"].as_f64().unwrap() / 1000.0;
    let ceiling = 4.0 / service_s;
    let max = usl["max_throughput_per_s"].as_f64().unwrap();
    assert!(
        (max - ceiling).abs() / ceiling < 0.25,
        "USL max {max} vs ceiling {ceiling}"
    );
    // ×3 of 20 journeys/s of two requests each.
    assert!(
        (c["peak_request_rate_per_s"].as_f64().unwrap() - 120.0).abs() < 1.0,
        "{c}"
    );
    let need = total["workers_needed"].as_u64().unwrap() as u32;
    let a = total["offered_erlangs"].as_f64().unwrap();
    assert!(need as f64 > a && total["at_needed"]["service_level"].as_f64().unwrap() >= 0.95);
    // Connections: hold time = 3 held / throughput of the lightest run.
    let hold = c["connections"]["hold_time_ms"].as_f64().unwrap();
    assert!(
        (hold - 3000.0 / x).abs() / hold < 0.01,
        "hold {hold} vs {}",
        3000.0 / x
    );
    let maxconn = c["connections"]["max_connections"].as_u64().unwrap() as u32;
    let db = c["connections"]["db_maxconn"].as_u64().unwrap() as u32;
    assert_eq!(maxconn, (((need * db + 2) as f64) * 1.25).ceil() as u32);
    let redis = &c["redis"];
    assert_eq!(redis["peak_clients_measured"], 9.0);
    let per = redis["bytes_per_session"].as_f64().unwrap();
    assert!((per - 1.0e6 / visitors).abs() < 1e-6, "{redis}");
    let slo_workers = c["slo"]["workers"].as_u64().unwrap();
    // Near the offered load: a 20 s profile lets a slightly overloaded pool meet p95 ≤ 1 s.
    assert!(
        slo_workers as f64 > 0.9 * a && slo_workers as u32 <= need + 2,
        "objectives' workers {slo_workers} vs offered {a} and Erlang C {need}: {c}"
    );
    let rec = c["recommendation"].as_str().unwrap();
    assert!(
        rec.contains(&format!("{need} workers"))
            && rec.contains(&format!("max_connections ≥ {maxconn}")),
        "{rec}"
    );
    // capacity.md in the folder given, saying what is missing.
    let md = std::fs::read_to_string(stepped.join("capacity.md")).unwrap();
    assert!(
        md.contains("bytes per session = used_memory growth 1000000 B"),
        "{md}"
    );
    assert!(md.contains("Little's law"));
    assert!(stepped.join("capacity.json").is_file());

    // Without a probe the hold time is said to be missing.
    let out = peakgate()
        .args(["capacity", "--json"])
        .args(&dirs[1..])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let c: Value = serde_json::from_slice(&out).unwrap();
    assert!(c["connections"]["hold_time_ms"].is_null());
    assert!(c["redis"].is_null());
    let md = std::fs::read_to_string(dirs[1].join("capacity.md")).unwrap();
    assert!(md.contains("MISSING: no run has a Redis probe"), "{md}");
    assert!(
        c["connections"]["basis"][0]
            .as_str()
            .unwrap()
            .contains("MISSING")
    );
    assert!(
        c["usl"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("only 5 points")
    );
}

#[test]
fn simulate_refuses_bad_input_and_exits_1_on_an_unmet_objective() {
    let ws = capacity_workspace();
    let cal = run(&profile(&ws, "calibrate", 10.0, 2, 8), &ws.out(), &[]);
    let p = profile(&ws, "p", 10.0, 5, 8);
    let sims = ws.dir.path().join("sims");
    let sim = |extra: &[&str]| {
        let mut c = peakgate();
        c.args(["simulate", "--profile"])
            .arg(&p)
            .arg("--from")
            .arg(&cal)
            .arg("--out")
            .arg(&sims)
            .args(extra);
        c
    };
    sim(&["--sweep", "workers=8..2"])
        .assert()
        .code(2)
        .stderr(contains("must start at 1 or more and not run backwards"));
    sim(&["--sweep", "cpus=1..4"])
        .assert()
        .code(2)
        .stderr(contains("workers=FROM..TO"));
    sim(&["--sweep", "workers=1..4"])
        .assert()
        .code(2)
        .stderr(contains("needs at least one --slo"));
    sim(&["--slo", "p97=1s"])
        .assert()
        .code(2)
        .stderr(contains("`p97` is not one of"));
    // 1 ms at p50 cannot be met by 80 ms pages.
    sim(&["--slo", "browse/shop:p50=1ms"])
        .assert()
        .code(1)
        .stdout(contains("objective browse/shop p50 ≤ 1 ms: FAIL"));
    // A selector that names nothing of the profile is a typo, known before simulating: an
    // input error with the nearest names, never an objective that "fails" (exit 1).
    sim(&["--slo", "brwose/shop:p95=1s"])
        .assert()
        .code(2)
        .stderr(contains(
            "`brwose/shop` is no step or scenario of the profile",
        ))
        .stderr(contains("the nearest are `browse/shop`"));
    sim(&["--slo", "browse:p95=30s"])
        .assert()
        .success()
        .stdout(contains("objective browse p95 ≤ 30000 ms: pass"))
        .stdout(contains("events/s"));
    // A profile whose steps the calibration run never measured.
    let smoke = crate::common::repo_file("profiles/smoke.toml");
    peakgate()
        .args(["simulate", "--workers", "4", "--profile"])
        .arg(&smoke)
        .arg("--from")
        .arg(&cal)
        .arg("--out")
        .arg(&sims)
        .assert()
        .code(2)
        .stderr(contains(
            "has no measurements of step(s) backoffice_sale/find_customer,",
        ))
        .stderr(contains(
            "pos_order_sync/create_from_ui: calibrate from a run",
        ));
    peakgate()
        .args(["simulate", "--profile"])
        .arg(&p)
        .arg("--from")
        .arg(ws.dir.path())
        .assert()
        .code(2)
        .stderr(contains("run.json"));
}

/// The stage-mix case's scenarios: `customer` makes three requests, `lookup` one.
fn stage_mix_workspace(stages: &str) -> (Workspace, PathBuf) {
    let ws = Workspace::new();
    ws.write(
        "sc/customer.toml",
        r#"description = "customer lookup then products"
session = "user"
[[step]]
name = "find"
call_kw = { model = "res.partner", method = "name_search" }
kwargs = { name = "Smith", limit = 8 }
[[step]]
name = "find_again"
call_kw = { model = "res.partner", method = "name_search" }
kwargs = { name = "Jones", limit = 8 }
[[step]]
name = "products"
call_kw = { model = "product.product", method = "search_read" }
args = [[]]
kwargs = { fields = ["name"], limit = 40 }
"#,
    );
    ws.write(
        "sc/lookup.toml",
        r#"description = "product lookup"
session = "user"
[[step]]
name = "find"
call_kw = { model = "product.product", method = "name_search" }
kwargs = { name = "Blue", limit = 8 }
"#,
    );
    let p = ws.write(
        "profiles/stagemix.toml",
        &format!(
            r#"name = "stagemix"
environment = "staging"
scenarios_dir = "../sc"
[load]
arrivals = "uniform"
{stages}
[mix]
customer = 1
lookup = 1
"#
        ),
    );
    (ws, p)
}

fn capacity_json(dirs: &[&Path], extra: &[&str]) -> Value {
    let out = peakgate()
        .args(["capacity", "--json"])
        .args(extra)
        .args(dirs)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).unwrap()
}

fn flow<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flow"] == name)
        .unwrap_or_else(|| panic!("no flow {name}: {c}"))
}

#[test]
fn capacity_stage_mix_gives_each_flows_peak_from_its_stages_own_mix() {
    let (ws, p) = stage_mix_workspace(
        r#"[[load.stage]]
name = "everyday"
duration = "3s"
rate = 2
[[load.stage]]
name = "promotion"
duration = "3s"
rate = 10
mix = { lookup = 1 }"#,
    );
    let dir = run(&p, &ws.out(), &[]);
    let c = capacity_json(&[&dir], &[]);
    // lookup runs alone at 10/s in `promotion`: not 5/s of a 50:50 split.
    let lookup = flow(&c, "lookup");
    assert_eq!(lookup["peak_stage"], "promotion", "{c}");
    assert!((lookup["peak_journeys_per_s"].as_f64().unwrap() - 10.0).abs() < 1e-9);
    // customer only runs in `everyday`: half of 2/s, three requests each.
    let customer = flow(&c, "customer");
    assert_eq!(customer["peak_stage"], "everyday", "{c}");
    assert!((customer["peak_journeys_per_s"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert!((customer["request_rate_per_s"].as_f64().unwrap() - 3.0).abs() < 0.01);
    // Together at `promotion`: 10 lookups/s (logins are bounded by the pool), nothing of customer.
    assert_eq!(c["total"]["flow"], "all flows");
    assert_eq!(c["total"]["peak_stage"], "promotion");
    assert!((c["total"]["peak_journeys_per_s"].as_f64().unwrap() - 10.0).abs() < 1e-9);
}

#[test]
fn capacity_unmeasured_flow_is_marked_and_a_run_without_journeys_is_refused() {
    // customer is 1 in 51 of 10 journeys: seed 2 draws none of it.
    let (ws, p) = stage_mix_workspace("[[load.stage]]\nduration = \"2s\"\nrate = 5");
    std::fs::write(
        &p,
        std::fs::read_to_string(&p)
            .unwrap()
            .replace("lookup = 1\n", "lookup = 50\n"),
    )
    .unwrap();
    let dir = run(&p, &ws.out(), &["--seed", "2"]);
    assert_eq!(
        load(&dir)["transactions"]["customer"]["count"]
            .as_u64()
            .unwrap_or(0),
        0
    );
    let c = capacity_json(&[&dir], &["--at-scale", "100"]);
    assert!(
        c["flows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["flow"] != "customer"),
        "{c}"
    );
    assert_eq!(c["unmeasured"][0]["flow"], "customer", "{c}");
    assert_eq!(c["total"]["flow"], "all measured flows");
    let rec = c["recommendation"].as_str().unwrap();
    assert!(rec.contains("NOT SIZED: customer"), "{rec}");
    let md = std::fs::read_to_string(dir.join("capacity.md")).unwrap();
    assert!(md.contains("| customer | 9.80 | unmeasured |"), "{md}");

    // No journey at all (one every 10 s, uniform: none in 2 s): refused with the reason,
    // never "0 workers".
    let (ws, p) = stage_mix_workspace("[[load.stage]]\nduration = \"2s\"\nrate = 0.1");
    let dir = run(&p, &ws.out(), &[]);
    peakgate()
        .args(["capacity"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(contains("no journey was measured"))
        .stdout(predicates::str::contains("0 workers").not());
}

#[test]
fn capacity_profile_identity_plans_from_the_copy_stored_with_the_run() {
    let ws = capacity_workspace();
    let p = profile(&ws, "p", 10.0, 2, 8);
    let original = std::fs::read_to_string(&p).unwrap();
    // Run from the workspace with a relative profile path, as a user would.
    let o = peakgate()
        .current_dir(ws.dir.path())
        .args([
            "run",
            "--quiet",
            "--profile",
            "profiles/p.toml",
            "--out",
            "reports",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let dir = ws.dir.path().join(String::from_utf8(o).unwrap().trim());
    assert_eq!(
        std::fs::read_to_string(dir.join("profile.toml")).unwrap(),
        original
    );
    // The original changes (and would plan 100 times the load) after the run: capacity,
    // asked from another folder, still sizes the profile that ran.
    std::fs::write(&p, original.replace("rate = 10", "rate = 1000")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = peakgate()
        .current_dir(elsewhere.path())
        .args(["capacity", "--json", "--slo", "p95=2s"])
        .arg(&dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let c: Value = serde_json::from_slice(&out).unwrap();
    let workers = c["slo"]["workers"].as_u64();
    assert!(workers.is_some_and(|w| w <= 4), "{}", c["slo"]);
    assert!(
        c["slo"]["basis"].as_str().unwrap().contains("profile.toml"),
        "{}",
        c["slo"]
    );
    // A copy changed after the run is not the profile that ran: refused.
    std::fs::write(
        dir.join("profile.toml"),
        original.replace("rate = 10", "rate = 11"),
    )
    .unwrap();
    peakgate()
        .args(["capacity", "--slo", "p95=2s"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(contains("not the profile run"))
        .stderr(contains("the copy in the run folder was changed"));
    // A run folder without a copy (made before copies were kept) falls back to the original,
    // and only while it is still the profile that ran.
    std::fs::remove_file(dir.join("profile.toml")).unwrap();
    peakgate()
        .current_dir(ws.dir.path())
        .args(["capacity", "--slo", "p95=2s"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(contains("the run folder has no copy"));
    std::fs::write(&p, &original).unwrap();
    peakgate()
        .current_dir(ws.dir.path())
        .args(["capacity", "--json", "--slo", "p95=2s"])
        .arg(&dir)
        .assert()
        .success();
}
