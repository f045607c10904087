//! End to end: the shipped smoke profile against the built-in stand-in, and the two models.

use predicates::str::contains;
use serde_json::Value;

use crate::common::{Workspace, peakgate, repo_file};

const DESIGN_KEYS: [&str; 11] = [
    "schema",
    "run_id",
    "status",
    "profile",
    "release",
    "target",
    "plan",
    "totals",
    "transactions",
    "timeline",
    "probes",
];
const LATENCY_KEYS: [&str; 7] = ["p50", "p90", "p95", "p99", "p999", "max", "mean"];

#[test]
fn smoke_run_writes_run_json_with_the_design_keys_and_a_histogram_per_step() {
    let ws = Workspace::new();
    let smoke = repo_file("profiles/smoke.toml");
    peakgate()
        .args(["run", "--quiet", "--duration", "8s", "--release", "17.0.42"])
        .arg("--profile")
        .arg(&smoke)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success()
        .stdout(contains("-smoke-"));
    let r = ws.run_json();
    for key in DESIGN_KEYS {
        assert!(r.get(key).is_some(), "run.json lacks `{key}`");
    }
    assert_eq!(r["schema"], "peakgate.run/1");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["release"], "17.0.42");
    assert_eq!(r["profile"]["name"], "smoke");
    assert_eq!(r["profile"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(r["target"]["kind"], "standin");

    let totals = &r["totals"];
    let (planned, started) = (
        totals["planned"].as_f64().unwrap(),
        totals["started"].as_f64().unwrap(),
    );
    // 262.5 journeys over 15 s, stretched to 8 s: 140 expected, Poisson.
    let expected = r["plan"]["expected_journeys"].as_f64().unwrap();
    assert!((expected - 140.0).abs() < 0.01, "expected {expected}");
    assert!(
        (planned - expected).abs() < 5.0 * expected.sqrt(),
        "planned {planned}"
    );
    assert!(started / planned >= 0.99, "started {started} of {planned}");
    assert_eq!(totals["dropped"], 0);
    assert_eq!(totals["errors"], 0, "{totals}");

    let tx = r["transactions"].as_object().unwrap();
    let steps = [
        "pos_order_sync/create_from_ui",
        "ecommerce_cart/shop",
        "ecommerce_cart/product_page",
        "ecommerce_cart/cart_update",
        "ecommerce_cart/cart_page",
        "backoffice_sale/find_customer",
        "backoffice_sale/create",
        "backoffice_sale/action_confirm",
    ];
    let mut requests = 0;
    for step in steps.iter().chain(&["session/authenticate"]) {
        let t = &tx
            .get(*step)
            .unwrap_or_else(|| panic!("no transaction {step}"));
        assert!(t["count"].as_u64().unwrap() > 0, "{step}");
        requests += t["count"].as_u64().unwrap();
        for k in LATENCY_KEYS {
            assert!(
                t["latency_ms"][k].is_number() && t["service_ms"][k].is_number(),
                "{step} {k}"
            );
        }
        let l = &t["latency_ms"];
        let f = |k: &str| l[k].as_f64().unwrap();
        assert!(
            f("p50") <= f("p95") && f("p95") <= f("p99") && f("p99") <= f("max"),
            "{step}: {l}"
        );
        assert!(f("p50") > 0.0, "{step}");
    }
    assert_eq!(requests, totals["requests"].as_u64().unwrap());

    // The timeline adds up to the totals, one entry per second.
    let timeline = r["timeline"].as_array().unwrap();
    assert!(
        (8..=12).contains(&timeline.len()),
        "{} seconds",
        timeline.len()
    );
    let sum = |k: &str| timeline.iter().map(|e| e[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(sum("planned"), totals["planned"].as_u64().unwrap());
    assert_eq!(sum("requests"), totals["requests"].as_u64().unwrap());
    assert!(timeline.iter().enumerate().all(|(i, e)| e["t"] == i as u64));

    // latency.hlog holds every request of every step, exactly.
    let log = std::fs::read(ws.run_dir().join("latency.hlog")).unwrap();
    let merged = peakgate::metrics::hlog::read_merged(&log).unwrap();
    for step in steps {
        assert_eq!(
            merged[step].len(),
            tx[step]["count"].as_u64().unwrap(),
            "{step}"
        );
    }
}

fn profile_closed(ws: &Workspace) -> std::path::PathBuf {
    ws.profile(
        "closed",
        r#"
name = "closed"
environment = "staging"
[load]
model = "closed"
pacing = "50ms"
[[load.stage]]
duration = "3s"
terminals = 3
[mix]
pos_order_sync = 1
"#,
    )
}

#[test]
fn closed_model_terminals_keep_their_session_and_never_exceed_their_number() {
    let ws = Workspace::new();
    let profile = profile_closed(&ws);
    peakgate()
        .args(["run", "--quiet"])
        .arg("--profile")
        .arg(&profile)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success();
    let r = ws.run_json();
    // Each of the 3 terminals logs in once and keeps its session.
    assert_eq!(r["transactions"]["session/authenticate"]["count"], 3);
    let journeys = r["totals"]["journeys"].as_u64().unwrap();
    assert!(journeys > 20, "journeys {journeys}");
    assert!(
        r["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["in_flight"].as_u64().unwrap() <= 3)
    );
}

#[test]
fn arrivals_beyond_max_in_flight_are_dropped_and_counted() {
    let ws = Workspace::new();
    ws.write(
        "profiles/slow.toml",
        "[service]\n\"pos.order.create_from_ui\" = { median = \"400ms\", p99 = \"400ms\" }\n",
    );
    let profile = ws.profile(
        "drops",
        r#"
name = "drops"
environment = "staging"
[standin]
config = "slow.toml"
workers = 64
[load]
arrivals = "uniform"
max_in_flight = 5
[[load.stage]]
duration = "3s"
rate = 40
[mix]
pos_order_sync = 1
"#,
    );
    peakgate()
        .args(["run", "--quiet"])
        .arg("--profile")
        .arg(&profile)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success();
    let r = ws.run_json();
    let t = &r["totals"];
    let n = |k: &str| t[k].as_u64().unwrap();
    assert_eq!(n("planned"), 120);
    assert_eq!(n("planned"), n("started") + n("dropped"));
    // 5 in flight, each journey ~0.4 s (more for the first logins): ~12.5 journeys/s of 40.
    assert!(n("dropped") > 60, "{t}");
    assert!(
        r["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["in_flight"].as_u64().unwrap() <= 5)
    );
    let dropped: u64 = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e: &Value| e["dropped"].as_u64().unwrap())
        .sum();
    assert_eq!(dropped, n("dropped"));
}

/// latency.hlog is read by an independent HdrHistogram reader (Python's `hdrhistogram`,
/// installed by `.ci/run`): every interval line decodes, and its max column, in the header's
/// unit (ms, `MaxValueDivisor` 1000), agrees with the decoded histogram's max (µs).
#[test]
fn latency_hlog_reads_with_an_independent_reader_and_its_max_column_is_in_ms_on_every_line() {
    let ws = Workspace::new();
    peakgate()
        .args(["run", "--quiet", "--duration", "5s"])
        .arg("--profile")
        .arg(repo_file("profiles/smoke.toml"))
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success();
    let script = r#"
import sys
from hdrh.histogram import HdrHistogram
lines = [l.strip() for l in open(sys.argv[1]) if l.strip() and not l.startswith('#') and not l.startswith('"StartTimestamp"')]
assert any(l.startswith('#[MaxValueDivisor: 1000.000]') for l in open(sys.argv[1])), 'no divisor header'
bad = 0
for l in lines:
    parts = l.split(',')
    if parts[0].startswith('Tag='):
        parts = parts[1:]
    max_ms = float(parts[2])
    h = HdrHistogram.decode(parts[3])
    if abs(h.get_max_value() / 1000.0 - max_ms) > max(0.01 * max_ms, 0.002):
        bad += 1
print(len(lines), bad)
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(ws.run_dir().join("latency.hlog"))
        .output()
        .expect("python3 runs (with the hdrhistogram package: pip install hdrhistogram)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut figures = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    let (lines, bad) = (figures.next().unwrap(), figures.next().unwrap());
    assert!(lines > 10, "{lines} interval lines");
    assert_eq!(bad, 0, "{bad} of {lines} lines with a max column not in ms");
}

#[test]
fn stages_at_rate_0_keep_their_time_in_the_run() {
    // A quiet start, 2 s of load, then a 3 s "recovery watch" at rate 0 with no arrival in
    // it: the run, its timeline and its probes last the plan's 6 s, not until the last arrival.
    let ws = Workspace::new();
    let p = ws.profile(
        "zero",
        "name = \"zero\"\nenvironment = \"staging\"\n[load]\narrivals = \"uniform\"\n\
         [[load.stage]]\nname = \"quiet-start\"\nduration = \"1s\"\nrate = 0\n\
         [[load.stage]]\nname = \"busy\"\nduration = \"2s\"\nrate = 5\n\
         [[load.stage]]\nname = \"recovery-watch\"\nduration = \"3s\"\nrate = 0\n\
         [mix]\necommerce_cart = 1\n[probes.canary]\ninterval = \"500ms\"\n",
    );
    let o = peakgate()
        .args(["run", "--quiet", "--profile"])
        .arg(&p)
        .arg("--out")
        .arg(ws.out())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run = ws.run_json();
    let duration = run["duration_s"].as_f64().unwrap();
    assert!(
        duration >= 6.0,
        "the run ended at {duration} s: {}",
        run["timeline"]
    );
    assert!(
        run["timeline"].as_array().unwrap().len() >= 6,
        "{}",
        run["timeline"]
    );
    let canary = run["probes"]["canary"]["series"]["latency_ms"]
        .as_array()
        .unwrap();
    let last_t = canary.last().unwrap()[0].as_f64().unwrap();
    assert!(last_t >= 5.0, "the canary stopped at {last_t} s");
}
