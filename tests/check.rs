//! `peakgate check`: every shipped profile validates and prints its plan.

use predicates::prelude::*;
use predicates::str::contains;

use crate::common::{Workspace, peakgate, repo_file};

#[test]
fn every_shipped_profile_passes_check() {
    let profiles: Vec<_> = std::fs::read_dir(repo_file("profiles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert!(profiles.len() >= 2);
    peakgate().arg("check").args(&profiles).assert().success();
}

#[test]
fn check_prints_stages_rates_expected_journeys_duration_and_target() {
    peakgate()
        .arg("check")
        .arg(repo_file("profiles/smoke.toml"))
        .assert()
        .success()
        .stdout(contains("duration  15s"))
        .stdout(contains("ramp"))
        .stdout(contains("5.0 → 20.0"))
        .stdout(contains("62.5 journeys"))
        .stdout(contains("pos_order_sync"))
        .stdout(contains("131.3 journeys expected"))
        .stdout(contains("262.5 journeys expected"))
        .stdout(contains("built-in stand-in"))
        .stdout(contains(
            "latency p95 pos_order_sync/* (ms): warn > 800, fail > 1500",
        ))
        .stdout(contains("Odoo: the target's, read before the load"))
        .stdout(contains("shop_products"))
        .stdout(contains(
            "POS sessions are opened before the load and closed after it",
        ))
        .stdout(contains("abort when error rate > 0.5 over 5 s"));
}

#[test]
fn overrides_change_the_printed_plan() {
    peakgate()
        .args([
            "check",
            "--rate-scale",
            "2",
            "--duration",
            "30s",
            "--target",
            "http://127.0.0.1:8069",
        ])
        .arg(repo_file("profiles/smoke.toml"))
        .env("ODOO_PASSWORD", "x")
        .assert()
        .success()
        .stdout(contains("duration  30s"))
        .stdout(contains("1050 journeys expected"))
        .stdout(contains("http://127.0.0.1:8069"));
}

#[test]
fn one_bad_profile_fails_the_check_but_the_others_are_still_shown() {
    let ws = Workspace::new();
    let bad = ws.write("profiles/bad.toml", "name = 1\n");
    peakgate()
        .arg("check")
        .arg(repo_file("profiles/smoke.toml"))
        .arg(&bad)
        .assert()
        .code(2)
        .stdout(contains("profile   smoke"))
        .stderr(contains("bad.toml:1:"))
        .stderr(contains("1 of 2 profile(s) failed"));
}

/// `check --preflight` checks the target as a run would, with no load: a pipeline's first
/// step. A wrong password or a port with nothing listening is exit 2 with the cause.
#[test]
fn check_preflight_connects_reads_the_version_and_logs_in_without_load() {
    let server = crate::common::StandinProcess::start::<&str>(&[]);
    let smoke = repo_file("profiles/smoke.toml");
    peakgate()
        .args(["check", "--preflight", "--target", &server.url])
        .arg(&smoke)
        .env("ODOO_PASSWORD", "admin")
        .assert()
        .success()
        .stdout(contains("preflight"))
        .stdout(contains("Odoo 17.0, database retail, login admin ok"));
    peakgate()
        .args(["check", "--preflight", "--target", &server.url])
        .arg(&smoke)
        .env("ODOO_PASSWORD", "not-it")
        .assert()
        .code(2)
        .stderr(contains("AccessDenied"));
    // A port with nothing listening: the connection error, not a verdict.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    peakgate()
        .args(["check", "--preflight", "--target"])
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&smoke)
        .env("ODOO_PASSWORD", "admin")
        .assert()
        .code(2)
        .stderr(contains(format!("connect 127.0.0.1:{port}")));
}

#[test]
fn check_preflight_connects_the_probes_a_required_one_that_cannot_is_exit_2() {
    let server = crate::common::StandinProcess::start::<&str>(&[]);
    let dead = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("redis://127.0.0.1:{}/0", free.local_addr().unwrap().port())
    };
    // smoke.toml's probes are optional: one that connects and one that cannot, both said.
    let smoke = repo_file("profiles/smoke.toml");
    peakgate()
        .args(["check", "--preflight", "--target", &server.url])
        .arg(&smoke)
        .env("ODOO_PASSWORD", "admin")
        .env("PEAKGATE_PG_URL", crate::common::services::pg_url())
        .env("PEAKGATE_REDIS_URL", &dead)
        .assert()
        .success()
        .stdout(contains("preflight probe postgres ("))
        .stdout(contains("): connected"))
        .stdout(
            contains("preflight probe redis (").and(contains("optional: a run would record a gap")),
        );
    // The same probe required: the check fails before any load, as the run would.
    let ws = Workspace::new();
    let text = std::fs::read_to_string(&smoke)
        .unwrap()
        .replace("url_env = \"PEAKGATE_REDIS_URL\"   # redis://:password@host:6379/0 of the target's session store\noptional = true", "url_env = \"PEAKGATE_REDIS_URL\"\noptional = false");
    assert!(
        text.contains("optional = false"),
        "smoke.toml's redis probe changed shape"
    );
    let required = ws.dir.path().join("smoke.toml");
    let scenarios = format!("scenarios_dir = {:?}\n", repo_file("scenarios"));
    std::fs::write(&required, scenarios + &text).unwrap();
    peakgate()
        .args(["check", "--preflight", "--target", &server.url])
        .arg(&required)
        .env("ODOO_PASSWORD", "admin")
        .env("PEAKGATE_REDIS_URL", &dead)
        .assert()
        .code(2)
        .stderr(contains("probe `redis`").and(contains("cannot connect")));
}

/// The docs say what the shipped profiles do: profiles/README's abort rules are each
/// profile's own `[gate.abort]` values, and the README says nothing stale about the gate.
#[test]
fn docs_agree_with_the_shipped_gates_and_aborts() {
    let readme = std::fs::read_to_string(repo_file("profiles/README.md")).unwrap();
    let mut seen = 0;
    for e in std::fs::read_dir(repo_file("profiles")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let profile: toml::Table =
            toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let abort = &profile["gate"]["abort"];
        let window = humantime::parse_duration(abort["window"].as_str().unwrap()).unwrap();
        let rate = abort["error_rate"].as_float().unwrap();
        let mut rule = format!(
            "- `{name}`: errors above {}% over {} s",
            (rate * 100.0).round(),
            window.as_secs()
        );
        if let Some(p95) = abort.get("p95_ms") {
            let ms = p95
                .as_integer()
                .map_or_else(|| p95.as_float().unwrap(), |i| i as f64);
            rule.push_str(&format!(", or p95 above {} s over it", ms / 1000.0));
        }
        assert!(readme.contains(&rule), "profiles/README.md lacks `{rule}`");
        seen += 1;
    }
    assert!(seen >= 6, "{seen} profiles");
    let main = std::fs::read_to_string(repo_file("README.md")).unwrap();
    assert!(
        !main.contains("not on this branch"),
        "README speaks of a missing module"
    );
}

#[test]
fn check_shows_expected_journeys_as_the_run_counts_them_and_says_when_none_start() {
    // 262.5 journeys at full rate: 4.5 at this scale, as run.json's `expected_journeys`.
    peakgate()
        .args(["check", "--rate-scale", "0.0172"])
        .arg(repo_file("profiles/smoke.toml"))
        .assert()
        .success()
        .stdout(contains(" 4.5 journeys expected"))
        .stdout(contains("fewer than 1 journey").not());
    peakgate()
        .args(["check", "--rate-scale", "0.001"])
        .arg(repo_file("profiles/smoke.toml"))
        .assert()
        .success()
        .stdout(contains(" 0.3 journeys expected"))
        .stdout(contains(
            "the plan expects fewer than 1 journey at this rate and duration: a run starts none 77% of the time",
        ));
    let ws = Workspace::new();
    let uniform = ws.profile(
        "trickle",
        "name = \"trickle\"\nenvironment = \"staging\"\n[load]\nmodel = \"open\"\narrivals = \"uniform\"\n[[load.stage]]\nname = \"hold\"\nduration = \"10s\"\nrate = 0.04\n[mix]\npos_order_sync = 1\n",
    );
    peakgate()
        .arg("check")
        .arg(&uniform)
        .assert()
        .success()
        .stdout(contains(" 0.4 journeys expected"))
        .stdout(contains(
            "the plan starts no journey at this rate and duration",
        ));
}
