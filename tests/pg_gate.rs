//! Probes and the gate against the PostgreSQL stand-in: each bad release is caught by the
//! check that should catch it, with the probe evidence behind it, and a good one passes.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::Workspace;
use crate::common::pg::{PgStandin, PrivateRedis, QUANT_LOCK, db_url, hot_product_scenario};

/// Writes a profile: `load` TOML, `mix`, probes on the stand-in's database, and `gate`.
fn profile(
    ws: &Workspace,
    name: &str,
    s: &PgStandin,
    load: &str,
    mix: &str,
    extra: &str,
) -> PathBuf {
    ws.profile(
        name,
        &format!(
            "name = \"{name}\"\nenvironment = \"test\"\n[load]\narrivals = \"uniform\"\ntimeout = \"60s\"\n{load}\n[mix]\n{mix}\n\
             [probes.postgres]\nurl = \"{}\"\ndatabase = \"{}\"\ninterval = \"500ms\"\n{extra}\n",
            db_url(&s.db),
            s.db
        ),
    )
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn status<'a>(verdict: &'a Value, name: &str) -> &'a str {
    verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no check `{name}` in {verdict:#}"))
}

fn series_max(run: &Value, probe: &str, series: &str) -> f64 {
    run["probes"][probe]["series"][series]
        .as_array()
        .unwrap_or_else(|| panic!("no series {probe}.{series}"))
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .fold(f64::MIN, f64::max)
}

const POS_LOAD: &str = "[[load.stage]]\nduration = \"4s\"\nrate = 10";

#[test]
fn two_seeds_of_baseline_pass_and_pos_n_plus_one_fails_the_pos_sync_comparison() {
    let ws = Workspace::new();
    let base = PgStandin::start(
        "gate_base",
        &[
            "--workers",
            "4",
            "--db-maxconn",
            "4",
            "--max-cron-threads",
            "0",
        ],
    );
    let p = profile(&ws, "pos", &base, POS_LOAD, "pos_order_sync = 1", "");
    let (accepted, code) = base.run(&ws, &p, &["--seed", "1"]);
    assert_eq!(code, 0);
    let (aa, code) = base.run(
        &ws,
        &p,
        &["--seed", "2", "--baseline", accepted.to_str().unwrap()],
    );
    let v = json(&aa.join("verdict.json"));
    assert_eq!((code, v["verdict"].as_str()), (0, Some("pass")), "{v:#}");
    assert_eq!(
        status(&v, "compare latency pos_order_sync/create_from_ui"),
        "pass"
    );

    let n1 = PgStandin::start(
        "gate_n1",
        &[
            "--release",
            "pos-n-plus-one",
            "--workers",
            "4",
            "--db-maxconn",
            "4",
            "--max-cron-threads",
            "0",
        ],
    );
    let p = profile(&ws, "pos_n1", &n1, POS_LOAD, "pos_order_sync = 1", "");
    let (candidate, code) = n1.run(
        &ws,
        &p,
        &["--seed", "3", "--baseline", accepted.to_str().unwrap()],
    );
    let v = json(&candidate.join("verdict.json"));
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(
        status(&v, "compare latency pos_order_sync/create_from_ui"),
        "fail"
    );
}

#[test]
fn conn_leak_fails_the_idle_in_transaction_check_a_baseline_passes() {
    let gate = "[gate.probes]\npg_idle_in_transaction = { warn = 3, fail = 5 }";
    let load = "[[load.stage]]\nduration = \"5s\"\nrate = 15";
    let mix = "pos_order_sync = 2\nbackoffice_sale = 1";
    let ws = Workspace::new();
    let mut seen = Vec::new();
    for (release, expected) in [("baseline", 0), ("conn-leak", 1)] {
        let s = PgStandin::start(
            &format!("leak_{}", release.replace('-', "_")),
            &[
                "--release",
                release,
                "--workers",
                "4",
                "--db-maxconn",
                "4",
                "--max-cron-threads",
                "0",
            ],
        );
        let p = profile(&ws, &format!("leak_{expected}"), &s, load, mix, gate);
        let (dir, code) = s.run(&ws, &p, &[]);
        let v = json(&dir.join("verdict.json"));
        let r = json(&dir.join("run.json"));
        assert_eq!(code, expected, "{release}: {v:#}");
        let idle = series_max(&r, "postgres", "connections_idle_in_transaction");
        seen.push(idle);
        if expected == 1 {
            assert_eq!(status(&v, "probe pg_idle_in_transaction"), "fail");
            // The report shows the evidence on the server side.
            let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
            assert!(
                html.contains("id=\"chart-postgres-connections\"")
                    && html.contains("idle in transaction")
            );
            // The leak grows over the run: more idle transactions late than at the first sample.
            let points = r["probes"]["postgres"]["series"]["connections_idle_in_transaction"]
                .as_array()
                .unwrap();
            assert!(points[0][1].as_f64().unwrap() < idle, "{points:?}");
        }
    }
    assert!(
        seen[1] >= 5.0 && seen[0] < 3.0,
        "idle in transaction: baseline {}, conn-leak {}",
        seen[0],
        seen[1]
    );
}

#[test]
fn quant_lock_fails_the_serialization_and_lock_wait_checks() {
    let ws = Workspace::new();
    let data = hot_product_scenario(&ws);
    let s = PgStandin::start("gate_quant", &QUANT_LOCK);
    let gate = "[gate.errors.\"*/*\"]\nkinds.\"psycopg2.errors.SerializationFailure\" = { warn = 0.0001, fail = 0.001 }\n\
                [gate.probes]\npg_lock_waits = { warn = 0, fail = 1 }";
    let text = format!(
        "name = \"hot\"\nenvironment = \"test\"\n[load]\narrivals = \"uniform\"\ntimeout = \"60s\"\n[[load.stage]]\nduration = \"4s\"\nrate = 80\n\
         [mix]\nhot_sync = 1\n[probes.postgres]\nurl = \"{}\"\ndatabase = \"{}\"\ninterval = \"200ms\"\n{gate}\n{data}",
        db_url(&s.db),
        s.db
    );
    let p = ws.write("profiles/hot.toml", &text);
    let (dir, code) = s.run(&ws, &p, &[]);
    let v = json(&dir.join("verdict.json"));
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(
        status(&v, "error rate psycopg2.errors.SerializationFailure in */*"),
        "fail"
    );
    assert!(series_max(&json(&dir.join("run.json")), "postgres", "lock_waits") >= 1.0);
    assert_ne!(status(&v, "probe pg_lock_waits"), "pass");
}

#[test]
fn session_bloat_shows_in_the_redis_probe_as_growing_memory() {
    let ws = Workspace::new();
    let mut growth = Vec::new();
    for release in ["baseline", "session-bloat"] {
        let redis = PrivateRedis::start();
        let s = PgStandin::start(
            &format!("redis_{}", release.replace('-', "_")),
            &[
                "--release",
                release,
                "--redis-url",
                &redis.url,
                "--max-cron-threads",
                "0",
            ],
        );
        let redis_probe = format!(
            "[probes.redis]\nurl = \"{}\"\ninterval = \"500ms\"",
            redis.url
        );
        let p = profile(
            &ws,
            &format!("redis_{}", growth.len()),
            &s,
            "[[load.stage]]\nduration = \"4s\"\nrate = 30",
            "ecommerce_cart = 3\npos_order_sync = 1",
            &redis_probe,
        );
        let (dir, code) = s.run(&ws, &p, &[]);
        assert_eq!(code, 0);
        let r = json(&dir.join("run.json"));
        let points = r["probes"]["redis"]["series"]["used_memory_bytes"]
            .as_array()
            .unwrap()
            .clone();
        let (first, last) = (
            points[0][1].as_f64().unwrap(),
            points[points.len() - 1][1].as_f64().unwrap(),
        );
        growth.push(last - first);
    }
    // ~90 visitors: a few hundred bytes of session each, or 64 KiB each.
    assert!(
        growth[1] > 4_000_000.0,
        "session-bloat grew Redis by {} bytes",
        growth[1]
    );
    assert!(
        growth[1] > 5.0 * growth[0].max(1.0),
        "baseline {} vs session-bloat {} bytes",
        growth[0],
        growth[1]
    );
}
