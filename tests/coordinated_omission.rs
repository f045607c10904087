//! Coordinated omission: when the server stalls, every request planned during the stall
//! waits, and the open model records that wait. A closed loop records only its few stuck
//! requests.

use hdrhistogram::Histogram;

use crate::common::{Workspace, peakgate};

const STEP: &str = "ping/version_info";

fn stalled_workspace(load: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "scenarios/ping.toml",
        "description = \"cheap canary call\"\n[[step]]\nname = \"version_info\"\njsonrpc = \"/web/webclient/version_info\"\n",
    );
    ws.write(
        "profiles/stall.toml",
        r#"
workers = 4
[service]
"/web/webclient/version_info" = { median = "5ms", p99 = "5ms" }
[[stall]]
at = "4s"
duration = "2s"
"#,
    );
    ws.write(
        "profiles/co.toml",
        &format!("name = \"co\"\nenvironment = \"staging\"\n[standin]\nconfig = \"stall.toml\"\n[mix]\nping = 1\n{load}"),
    );
    peakgate()
        .args(["run", "--quiet"])
        .arg("--profile")
        .arg(ws.dir.path().join("profiles/co.toml"))
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success();
    ws
}

fn histogram(ws: &Workspace) -> Histogram<u64> {
    let log = std::fs::read(ws.run_dir().join("latency.hlog")).unwrap();
    peakgate::metrics::hlog::read_merged(&log)
        .unwrap()
        .remove(STEP)
        .expect("step in the log")
}

fn at_least(h: &Histogram<u64>, micros: u64) -> u64 {
    h.iter_recorded()
        .filter(|v| v.value_iterated_to() >= micros)
        .map(|v| v.count_at_value())
        .sum()
}

#[test]
fn a_two_second_stall_at_50_per_second_shows_in_about_100_requests() {
    let ws = stalled_workspace(
        "[load]\narrivals = \"uniform\"\ntimeout = \"10s\"\n[[load.stage]]\nduration = \"10s\"\nrate = 50\n",
    );
    let h = histogram(&ws);
    assert_eq!(h.len(), 500);
    assert!(
        h.value_at_quantile(0.99) >= 1_000_000,
        "p99 {} µs",
        h.value_at_quantile(0.99)
    );
    // The 100 requests planned during the stall all waited; the first 50 of them over 1 s.
    let over_100ms = at_least(&h, 100_000);
    let over_1s = at_least(&h, 1_000_000);
    assert!(
        (85..=110).contains(&over_100ms),
        "{over_100ms} requests waited ≥ 100 ms"
    );
    assert!(
        (40..=60).contains(&over_1s),
        "{over_1s} requests waited ≥ 1 s"
    );
    let r = ws.run_json();
    assert!(
        r["transactions"][STEP]["latency_ms"]["p99"]
            .as_f64()
            .unwrap()
            >= 1000.0
    );
}

#[test]
fn a_closed_loop_sees_only_its_stuck_requests() {
    let ws = stalled_workspace(
        "[load]\nmodel = \"closed\"\npacing = \"40ms\"\ntimeout = \"10s\"\n[[load.stage]]\nduration = \"10s\"\nterminals = 4\n",
    );
    let h = histogram(&ws);
    // Four terminals: four requests were stuck in the stall; the rest never got sent.
    let over_1s = at_least(&h, 1_000_000);
    assert!((1..=8).contains(&over_1s), "{over_1s} requests ≥ 1 s");
    assert!(
        h.value_at_quantile(0.99) < 1_000_000,
        "a closed loop hides the stall from p99"
    );
}
