//! The PostgreSQL stand-in under load: real rows, real locks, real pools, real Redis.
//! Each test has its own database (dropped at the end) so tests run in parallel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::common::Workspace;
use crate::common::pg::{
    PgStandin, QUANT_LOCK, hot_product_scenario, one_stage, query, redis_url, scalar,
};

/// A profile with a single stage of `rate` journeys/s for `secs` seconds on `mix`.
fn profile(ws: &Workspace, name: &str, rate: f64, secs: u32, mix: &str) -> std::path::PathBuf {
    ws.profile(name, &one_stage(name, rate, secs, mix))
}

/// Runs `profile` against the stand-in; returns its run.json.
fn run(ws: &Workspace, standin: &PgStandin, profile: &std::path::Path) -> Value {
    let (dir, code) = standin.run(ws, profile, &[]);
    assert_eq!(code, 0);
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

/// Polls `pg_stat_activity` for the stand-in's backends while a run goes on.
struct Watch {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    max_backends: usize,
    max_idle_in_transaction: usize,
    max_lock_waits: usize,
}

impl Watch {
    fn start(db: &str) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, db) = (stop.clone(), db.to_string());
        let handle = std::thread::spawn(move || {
            let mut seen = Seen::default();
            while !flag.load(Ordering::Relaxed) {
                let rows = query(
                    &db,
                    &format!(
                        "SELECT count(*), count(*) FILTER (WHERE state = 'idle in transaction'), count(*) FILTER (WHERE wait_event_type = 'Lock') \
                         FROM pg_stat_activity WHERE datname = '{db}' AND application_name LIKE 'odoo-%' AND application_name NOT LIKE '%cron%'"
                    ),
                );
                let n = |i: usize| {
                    rows[0][i]
                        .as_deref()
                        .unwrap_or("0")
                        .parse::<usize>()
                        .unwrap()
                };
                seen.max_backends = seen.max_backends.max(n(0));
                seen.max_idle_in_transaction = seen.max_idle_in_transaction.max(n(1));
                seen.max_lock_waits = seen.max_lock_waits.max(n(2));
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        });
        Watch { stop, handle }
    }

    fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

fn ok_count(r: &Value, step: &str) -> u64 {
    let t = &r["transactions"][step];
    t["count"].as_u64().unwrap_or(0)
        - t["errors"]
            .as_object()
            .map_or(0, |e| e.values().map(|v| v.as_u64().unwrap()).sum())
}

#[test]
fn baseline_orders_and_stock_quants_match_what_the_run_sold() {
    let s = PgStandin::start(
        "orders",
        &[
            "--workers",
            "4",
            "--db-maxconn",
            "4",
            "--max-cron-threads",
            "0",
        ],
    );
    let before = scalar(&s.db, "SELECT sum(quantity) FROM stock_quant");
    let ws = Workspace::new();
    let p = profile(&ws, "pos", 10.0, 3, "pos_order_sync = 1");
    let r = run(&ws, &s, &p);
    let synced = ok_count(&r, "pos_order_sync/create_from_ui");
    assert!(synced >= 25, "synced {synced}");
    assert_eq!(
        scalar(&s.db, "SELECT count(*) FROM pos_order") as u64,
        synced
    );
    let sold = scalar(&s.db, "SELECT sum(qty) FROM pos_order_line");
    let after = scalar(&s.db, "SELECT sum(quantity) FROM stock_quant");
    assert!(sold > synced as f64 - 0.5, "every order has a line");
    assert!(
        (before - after - sold).abs() < 1e-6,
        "quants went from {before} to {after}, {sold} sold"
    );
    // Every order is paid in full and booked.
    assert_eq!(
        scalar(
            &s.db,
            "SELECT count(*) FROM pos_order o WHERE abs(o.amount_total - (SELECT sum(amount) FROM pos_payment p WHERE p.order_id = o.id)) > 0.005"
        ),
        0.0
    );
    assert_eq!(
        scalar(
            &s.db,
            "SELECT count(*) FROM pos_order WHERE account_move IS NULL"
        ),
        0.0
    );
}

#[test]
fn the_pool_bounds_backends_and_load_beyond_the_workers_queues() {
    let s = PgStandin::start(
        "pool",
        &[
            "--workers",
            "2",
            "--db-maxconn",
            "2",
            "--max-cron-threads",
            "0",
        ],
    );
    let ws = Workspace::new();
    let light = run(
        &ws,
        &s,
        &profile(&ws, "light", 4.0, 3, "pos_order_sync = 1"),
    );
    let watch = Watch::start(&s.db);
    // Two workers serve ~40 ms POS syncs: about 50/s at best; offer 80/s.
    let heavy = run(
        &ws,
        &s,
        &profile(&ws, "heavy", 80.0, 3, "pos_order_sync = 1"),
    );
    let seen = watch.finish();
    assert!(seen.max_backends >= 1, "{seen:?}");
    assert!(
        seen.max_backends <= 4,
        "2 workers × db_maxconn 2, saw {seen:?}"
    );
    let p95 = |r: &Value| {
        r["transactions"]["pos_order_sync/create_from_ui"]["latency_ms"]["p95"]
            .as_f64()
            .unwrap()
    };
    assert!(
        p95(&heavy) > 3.0 * p95(&light),
        "p95 {} ms under load vs {} ms light",
        p95(&heavy),
        p95(&light)
    );
}

fn own_profile(ws: &Workspace, name: &str, rate: f64, secs: u32, mix: &str) -> std::path::PathBuf {
    ws.write(
        &format!("profiles/{name}.toml"),
        &one_stage(name, rate, secs, mix),
    )
}

#[test]
fn quant_lock_makes_hot_product_syncs_wait_retry_and_fail_with_serialization_errors() {
    let s = PgStandin::start("quantlock", &QUANT_LOCK);
    let ws = Workspace::new();
    let data = hot_product_scenario(&ws);
    let watch = Watch::start(&s.db);
    let mix = format!("hot_sync = 1\n{data}");
    let r = run(&ws, &s, &own_profile(&ws, "hot", 80.0, 4, &mix));
    let seen = watch.finish();
    let stats = s.stats();
    assert!(seen.max_lock_waits > 0, "no lock waits seen: {seen:?}");
    assert!(stats["retries"].as_u64().unwrap() > 0, "{stats}");
    let errors = &r["transactions"]["hot_sync/create_from_ui"]["errors"];
    let failures = errors["psycopg2.errors.SerializationFailure"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        failures > 0,
        "no exhausted retries reached the harness: {errors}"
    );
    assert_eq!(
        failures,
        stats["serialization_failures"].as_u64().unwrap(),
        "{stats}"
    );
}

#[test]
fn conn_leak_leaves_connections_idle_in_transaction() {
    let s = PgStandin::start(
        "leak",
        &[
            "--release",
            "conn-leak",
            "--workers",
            "4",
            "--db-maxconn",
            "4",
            "--max-cron-threads",
            "0",
        ],
    );
    let ws = Workspace::new();
    let watch = Watch::start(&s.db);
    run(
        &ws,
        &s,
        &profile(
            &ws,
            "leak",
            15.0,
            4,
            "pos_order_sync = 1\nbackoffice_sale = 1",
        ),
    );
    let seen = watch.finish();
    assert!(seen.max_idle_in_transaction >= 2, "{seen:?}");
    assert!(s.stats()["leaked_connections"].as_u64().unwrap() > 0);
}

fn redis_used_memory(conn: &mut redis::Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("memory").query(conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Bytes held by one stand-in's sessions (`session:<db>:*`).
fn session_bytes(conn: &mut redis::Connection, db: &str) -> i64 {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("session:{db}:*"))
        .query(conn)
        .unwrap();
    keys.iter()
        .map(|k| {
            redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(k)
                .query::<Option<i64>>(conn)
                .unwrap()
                .unwrap_or(0)
        })
        .sum()
}

fn drop_sessions(conn: &mut redis::Connection, db: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("session:{db}:*"))
        .query(conn)
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL").arg(&keys).query(conn).unwrap();
    }
}

#[test]
fn session_bloat_grows_redis_memory_much_more_than_baseline() {
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .expect("Redis reachable");
    let ws = Workspace::new();
    let mut growth = Vec::new();
    for release in ["baseline", "session-bloat"] {
        let s = PgStandin::start(
            &format!("bloat_{}", release.replace('-', "_")),
            &[
                "--release",
                release,
                "--redis-url",
                &redis_url(),
                "--max-cron-threads",
                "0",
            ],
        );
        run(
            &ws,
            &s,
            &profile(
                &ws,
                release,
                20.0,
                3,
                "ecommerce_cart = 3\npos_order_sync = 1",
            ),
        );
        // What this run's sessions hold in used_memory: the drop when they are deleted
        // (other tests share the server, so a before/after difference would be noisy).
        let mine = session_bytes(&mut redis, &s.db);
        let with_sessions = redis_used_memory(&mut redis);
        drop_sessions(&mut redis, &s.db);
        growth.push((with_sessions - redis_used_memory(&mut redis), mine));
    }
    let (base, bloat) = (growth[0], growth[1]);
    // 60 visitors' sessions: a few hundred bytes each, or 64 KiB each.
    assert!(
        bloat.1 > 20 * base.1.max(1),
        "session bytes {base:?} vs {bloat:?}"
    );
    assert!(
        bloat.0 > base.0 + 2_000_000,
        "used_memory grew {} vs {} bytes",
        bloat.0,
        base.0
    );
}

#[test]
fn slow_report_loses_its_index_and_takes_longer() {
    let ws = Workspace::new();
    let mut p50 = Vec::new();
    for release in ["baseline", "slow-report"] {
        let s = PgStandin::start(
            &format!("report_{}", release.replace('-', "_")),
            &["--release", release, "--max-cron-threads", "0"],
        );
        let r = run(
            &ws,
            &s,
            &profile(&ws, release, 4.0, 3, "month_end_report = 1"),
        );
        let t = &r["transactions"]["month_end_report/general_ledger"];
        assert_eq!(t["errors"].as_object().map_or(0, |e| e.len()), 0, "{t}");
        p50.push(t["service_ms"]["p50"].as_f64().unwrap());
    }
    // A month of 200,000 lines spread over two years through the index, or all of them.
    assert!(
        p50[1] > p50[0] + 5.0,
        "report p50 {} ms baseline vs {} ms slow-report",
        p50[0],
        p50[1]
    );
}

#[test]
fn crons_keep_up_with_threads_and_fall_behind_without() {
    let lag = "SELECT max(extract(epoch FROM (now() at time zone 'utc') - nextcall)) FROM ir_cron WHERE active";
    let with = PgStandin::start("cron_on", &["--max-cron-threads", "1"]);
    let without = PgStandin::start("cron_off", &["--max-cron-threads", "0"]);
    std::thread::sleep(Duration::from_secs(4));
    // Jobs are due every 5 and 10 s: a running cron thread keeps the lag near zero.
    assert!(
        scalar(&with.db, lag) < 1.5,
        "lag {} s with a cron thread",
        scalar(&with.db, lag)
    );
    assert!(
        scalar(
            &with.db,
            "SELECT count(*) FROM ir_cron WHERE lastcall IS NOT NULL"
        ) >= 2.0
    );
    assert!(
        scalar(&without.db, lag) >= 3.5,
        "lag {} s without cron threads",
        scalar(&without.db, lag)
    );
}
