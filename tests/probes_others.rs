//! The redis, canary and prometheus probes, probes that cannot connect at start, probe keys
//! that are wrong, and what the probes cost.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use predicates::str::contains;
use redis::AsyncCommands;

use crate::common::services::{
    assert_probe_shape, max_of, pg_url, points, redis_url, spawn_run, unique,
};
use crate::common::{Workspace, peakgate};

const REDIS_SERIES: [&str; 13] = [
    "connected_clients",
    "blocked_clients",
    "rejected_connections_per_s",
    "used_memory_bytes",
    "maxmemory_bytes",
    "mem_fragmentation_ratio",
    "evicted_keys_per_s",
    "expired_keys_per_s",
    "keyspace_hits_per_s",
    "keyspace_misses_per_s",
    "instantaneous_ops_per_sec",
    "keys",
    "ping_ms",
];

fn light_load(seconds: u32) -> String {
    format!(
        r#"
environment = "test"
[[load.stage]]
duration = "{seconds}s"
rate = 4
[mix]
pos_order_sync = 1
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_probe_sees_used_memory_grow_as_sessions_pile_up() {
    let ws = Workspace::new();
    let profile = ws.profile(
        "probe-redis",
        &format!(
            "name = \"probe-redis\"\n{}\n[probes.redis]\nurl_env = \"PEAKGATE_PROBE_REDIS_URL\"\ninterval = \"500ms\"\n",
            light_load(6)
        ),
    );
    let run = spawn_run(
        &profile,
        &ws.out(),
        &[("PEAKGATE_PROBE_REDIS_URL", &redis_url())],
    );

    // Sessions the way session_redis stores them pile up: 48 of 96 KiB each, over 4 s.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let prefix = format!("session:peakgate-test-{}", unique());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let blob = "x".repeat(96 * 1024);
    for i in 0..48 {
        let key = format!("{prefix}:{i}");
        let _: () = conn.set_ex(&key, &blob, 120).await.unwrap();
        let _: Option<String> = conn.get(&key).await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    let out = run.await.unwrap();
    let keys: Vec<String> = (0..48).map(|i| format!("{prefix}:{i}")).collect();
    let _: () = conn.del(&keys).await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let r = ws.run_json();
    let p = assert_probe_shape(&r, "redis", "redis");
    assert_eq!(p["target"], peakgate::secrets::redact_url(&redis_url()));
    assert_eq!(p["gaps"].as_array().unwrap().len(), 0);
    assert!(p["coverage"].as_f64().unwrap() >= 0.9);
    let mut names: Vec<&str> = p["series"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort();
    let mut want = REDIS_SERIES.to_vec();
    want.sort();
    assert_eq!(names, want);
    let used = points(&p, "used_memory_bytes");
    let growth = used.last().unwrap().1 - used.first().unwrap().1;
    assert!(
        growth > 3.0 * 1024.0 * 1024.0,
        "used_memory grew by {growth} bytes: {used:?}"
    );
    assert!(max_of(&p, "connected_clients") >= 2.0);
    assert!(max_of(&p, "keyspace_hits_per_s") >= 5.0);
    // The 48 sessions are keys of the server's keyspace while they live.
    let keys = points(&p, "keys");
    let gained = max_of(&p, "keys") - keys.first().unwrap().1;
    assert!(gained >= 40.0, "keys gained {gained}: {keys:?}");
    assert!(
        points(&p, "ping_ms")
            .iter()
            .all(|x| x.1 > 0.0 && x.1 < 400.0)
    );
}

/// A Prometheus endpoint whose counters grow at known rates from its start.
async fn serve_metrics() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let started = Instant::now();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                    let s = started.elapsed().as_secs_f64();
                    let body = format!(
                        "# HELP http_requests_total Requests served.\n\
                         # TYPE http_requests_total counter\n\
                         http_requests_total{{service=\"odoo\",code=\"200\"}} {}\n\
                         http_requests_total{{service=\"odoo\",code=\"500\"}} {}\n\
                         http_requests_total{{service=\"shop\",code=\"200\"}} {}\n\
                         # TYPE open_connections gauge\n\
                         open_connections{{service=\"odoo\"}} 7\n\
                         open_connections{{service=\"shop\"}} 2\n\
                         # TYPE request_seconds histogram\n\
                         request_seconds_bucket{{service=\"odoo\",le=\"0.1\"}} {}\n\
                         request_seconds_bucket{{service=\"odoo\",le=\"+Inf\"}} {}\n\
                         request_seconds_sum{{service=\"odoo\"}} {}\n\
                         request_seconds_count{{service=\"odoo\"}} {}\n",
                        1000.0 + 50.0 * s,
                        5.0 * s,
                        100.0 * s,
                        20.0 * s,
                        30.0 * s,
                        3.0 * s,
                        30.0 * s,
                    );
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_probe_turns_labelled_counters_into_rates_and_keeps_gauges() {
    let addr = serve_metrics().await;
    let ws = Workspace::new();
    let profile = ws.profile(
        "probe-prom",
        &format!(
            r#"name = "probe-prom"
{}
[probes.prometheus]
url = "http://{addr}/metrics"
metrics = [
  'http_requests_total{{service="odoo",code="200"}}',
  'http_requests_total{{service="odoo"}}',
  'http_requests_total',
  'open_connections{{service="odoo"}}',
  'request_seconds_bucket{{service="odoo"}}',
  'request_seconds_count',
  'odoo_absent_total',
]
"#,
            light_load(5)
        ),
    );
    let out = spawn_run(&profile, &ws.out(), &[]).await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = ws.run_json();
    let p = assert_probe_shape(&r, "prometheus", "prometheus");
    assert_eq!(p["target"], format!("http://{addr}/metrics"));
    assert_eq!(p["missing"], serde_json::json!(["odoo_absent_total"]));
    let near = |series: &str, want: f64| {
        let pts = points(&p, series);
        assert!(pts.len() >= 3, "{series}: {pts:?}");
        assert!(
            pts.iter().all(|x| (x.1 - want).abs() <= want * 0.1),
            "{series} should stay near {want}: {pts:?}"
        );
    };
    near(r#"http_requests_total{service="odoo",code="200"}"#, 50.0);
    near(r#"http_requests_total{service="odoo"}"#, 55.0);
    near("http_requests_total", 155.0);
    near(r#"open_connections{service="odoo"}"#, 7.0);
    near(r#"request_seconds_bucket{service="odoo",le="0.1"}"#, 20.0);
    near(r#"request_seconds_bucket{service="odoo",le="+Inf"}"#, 30.0);
    near("request_seconds_count", 30.0);
    // The gauge is sampled from t0; a rate needs two samples.
    assert!(points(&p, r#"open_connections{service="odoo"}"#)[0].0 < 0.5);
    assert!(points(&p, "http_requests_total")[0].0 >= 0.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_latency_rises_when_the_offered_load_exceeds_the_workers() {
    let ws = Workspace::new();
    ws.write(
        "profiles/standin.toml",
        r#"
[service]
"pos.order.create_from_ui" = { median = "50ms", p99 = "50ms" }
"/web/session/authenticate" = { median = "20ms", p99 = "20ms" }
"#,
    );
    // Two workers serve 40 orders/s. A calm stage at 5/s, then 60/s; max_in_flight keeps
    // the queue (and so the canary's wait) bounded near 14 requests × 25 ms.
    let profile = ws.profile(
        "probe-canary",
        r#"
name = "probe-canary"
environment = "test"
[standin]
workers = 2
config = "standin.toml"
[load]
max_in_flight = 14
[[load.stage]]
name = "calm"
duration = "4s"
rate = 5
[[load.stage]]
name = "overload"
duration = "5s"
rate = 60
[mix]
pos_order_sync = 1
[probes.canary]
interval = "500ms"
"#,
    );
    let out = spawn_run(&profile, &ws.out(), &[]).await.unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = ws.run_json();
    let c = assert_probe_shape(&r, "canary", "canary");
    assert!(
        c["series"].get("odoo_backends").is_none(),
        "no postgres probe, no count"
    );
    let median = |from: f64, to: f64, series: &str| {
        let mut v: Vec<f64> = points(&c, series)
            .iter()
            .filter(|p| p.0 >= from && p.0 < to)
            .map(|p| p.1)
            .collect();
        assert!(v.len() >= 4, "{series} {from}..{to}: {v:?}");
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let calm = median(0.0, 4.0, "latency_ms");
    let overload = median(5.0, 9.0, "latency_ms");
    assert!(calm < 30.0, "calm canary latency {calm} ms");
    assert!(
        overload > 100.0 && overload > 4.0 * calm,
        "overloaded canary latency {overload} ms (calm {calm} ms)"
    );
    assert!(median(5.0, 9.0, "in_flight") >= 10.0);
    assert!(median(0.0, 4.0, "in_flight") <= 3.0);
    assert!(r["totals"]["dropped"].as_u64().unwrap() > 0);
}

fn unreachable_redis(ws: &Workspace, optional: bool) -> std::path::PathBuf {
    ws.profile(
        "probe-down",
        &format!(
            "name = \"probe-down\"\n{}\n[probes.canary]\n[probes.redis]\nurl = \"redis://127.0.0.1:1\"\noptional = {optional}\n",
            light_load(3)
        ),
    )
}

#[test]
fn a_required_probe_that_cannot_connect_at_start_is_exit_2_naming_it() {
    let ws = Workspace::new();
    let profile = unreachable_redis(&ws, false);
    peakgate()
        .args(["run", "--quiet", "--profile"])
        .arg(&profile)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .code(2)
        .stderr(contains("probe `redis` cannot connect"))
        .stderr(contains("optional = true"));
    let left = std::fs::read_dir(ws.out()).map_or(0, |d| d.count());
    assert_eq!(left, 0, "no run folder is left behind");
}

#[test]
fn an_optional_probe_that_cannot_connect_records_a_gap_and_the_run_goes_on() {
    let ws = Workspace::new();
    let profile = unreachable_redis(&ws, true);
    peakgate()
        .args(["run", "--quiet", "--profile"])
        .arg(&profile)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success()
        .stderr(contains("probe redis: coverage 0%"));
    let r = ws.run_json();
    assert_eq!(r["status"], "completed");
    let p = assert_probe_shape(&r, "redis", "redis");
    assert_eq!(p["coverage"], 0.0);
    assert_eq!(p["series"], serde_json::json!({}));
    let gaps = p["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "one outage, however many retries: {gaps:?}");
    assert_eq!(gaps[0]["t"], 0.0);
    // The other probe is unaffected.
    let canary = assert_probe_shape(&r, "canary", "canary");
    assert!(canary["coverage"].as_f64().unwrap() >= 0.75);
}

#[test]
fn probe_keys_are_checked_at_their_line() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "[probes.postgres]\nurl = \"postgres://odoo:s3cret@db/retail\"\n",
            ":2:7",
            "url_env",
        ),
        (
            "[probes.redis]\nurl = \"redis://r:6379\"\nurl_env = \"X\"\n",
            ":3:11",
            "not both",
        ),
        (
            "[probes.redis]\ninterval = \"1s\"\n",
            ":1:1",
            "needs `url` or `url_env`",
        ),
        (
            "[probes.canary]\ninterval = \"1s\"\ntimeout = \"2s\"\n",
            ":3:11",
            "shorter than the interval",
        ),
        (
            "[probes.prometheus]\nurl = \"http://m:9100/metrics\"\nmetrics = ['x{a=b}']\n",
            ":3:12",
            "must be quoted",
        ),
        (
            "[probes.mysql]\nurl = \"mysql://db\"\n",
            ":1:",
            "unknown field `mysql`",
        ),
    ];
    for (probes, at, message) in cases {
        let ws = Workspace::new();
        let profile = ws.profile("p", &format!("name = \"p\"\n{}\n{probes}", light_load(1)));
        let text = std::fs::read_to_string(&profile).unwrap();
        let first = text[..text.find(probes).unwrap()].lines().count() + 1;
        let (line, rest) = at[1..].split_once(':').unwrap();
        let want = format!(
            "p.toml:{}:{rest}",
            first + line.parse::<usize>().unwrap() - 1
        );
        peakgate()
            .arg("check")
            .arg(&profile)
            .assert()
            .code(2)
            .stderr(contains(want))
            .stderr(contains(message));
    }
}

#[test]
fn probes_at_a_one_second_interval_with_10_hz_wait_sampling_cost_under_two_percent_of_a_core() {
    // Measured on this project's 2-core machine (release build, 20 s): 0.24% of one core with
    // the postgres probe's 10 Hz wait sampling, 0.07% before it; this debug build: 0.8-1%.
    let ws = Workspace::new();
    let profile = ws.profile(
        "probe-cost",
        &format!(
            "name = \"probe-cost\"\n{}\n[probes.postgres]\nurl_env = \"PEAKGATE_PROBE_PG_URL\"\n[probes.redis]\nurl_env = \"PEAKGATE_PROBE_REDIS_URL\"\n[probes.canary]\n",
            light_load(8)
        ),
    );
    let out = peakgate()
        .args(["run", "--quiet", "--profile"])
        .arg(&profile)
        .arg("--out")
        .arg(ws.out())
        .env("PEAKGATE_PROBE_PG_URL", pg_url())
        .env("PEAKGATE_PROBE_REDIS_URL", redis_url())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    // "peakgate: probes used 5.1 ms of CPU in 8.0 s (0.064% of one core)"
    let share: f64 = stderr
        .lines()
        .find_map(|l| l.strip_suffix("% of one core)"))
        .and_then(|l| l.rsplit('(').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no CPU figure on stderr: {stderr}"));
    assert!(
        share > 0.0 && share < 2.0,
        "probes used {share}% of one core"
    );
    let r = ws.run_json();
    for name in ["postgres", "redis", "canary"] {
        assert!(
            r["probes"][name]["coverage"].as_f64().unwrap() >= 0.85,
            "{name}"
        );
    }
}
