//! The postgres probe (and the canary beside it) against the real PostgreSQL: the test opens
//! Odoo-named connections, idle transactions and row-lock contention while a run goes on, and
//! reads them back from `run.json`.

use std::time::Duration;

use crate::common::Workspace;
use crate::common::services::{TestDb, assert_probe_shape, max_of, pg_connect, points, spawn_run};

const POSTGRES_SERIES: [&str; 20] = [
    "connections_total",
    "max_connections",
    "connections_active",
    "connections_idle",
    "connections_idle_in_transaction",
    "connections_idle_in_transaction_aborted",
    "odoo_backends",
    "lock_waits",
    "lock_wait_share",
    "wait_samples",
    "wait_sample_ms",
    "oldest_xact_age_s",
    "commits_per_s",
    "rollbacks_per_s",
    "deadlocks_per_s",
    "conflicts_per_s",
    "temp_bytes_per_s",
    "cache_hit_ratio",
    "cron_max_lag_s",
    "crons_overdue",
];

fn profile(ws: &Workspace, seconds: u32, extra: &str) -> std::path::PathBuf {
    ws.profile(
        "probe-pg",
        &format!(
            r#"
name = "probe-pg"
environment = "test"
[standin]
workers = 4
[[load.stage]]
duration = "{seconds}s"
rate = 5
[mix]
pos_order_sync = 1
[probes.postgres]
url_env = "PEAKGATE_PROBE_PG_URL"
interval = "500ms"
{extra}
"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_probe_sees_odoo_backends_rise_and_fall_idle_transactions_and_lock_waits() {
    let db = TestDb::create(
        "CREATE TABLE stock_quant (id int PRIMARY KEY, quantity int);
         INSERT INTO stock_quant VALUES (1, 100);
         CREATE TABLE ir_cron (id serial PRIMARY KEY, active bool, nextcall timestamp);
         INSERT INTO ir_cron (active, nextcall) VALUES
           (true, (now() AT TIME ZONE 'UTC') - interval '120 seconds'),
           (true, (now() AT TIME ZONE 'UTC') + interval '1 hour'),
           (false, (now() AT TIME ZONE 'UTC') - interval '2 days');",
    )
    .await;
    let ws = Workspace::new();
    let profile = profile(&ws, 9, "[probes.canary]\ninterval = \"500ms\"");
    let (url, password) = db.probe_url();
    let run = spawn_run(&profile, &ws.out(), &[("PEAKGATE_PROBE_PG_URL", &url)]);

    // Mid-run, three Odoo workers connect: one holds a row lock in an open transaction, one
    // waits for that lock, one sits idle in a transaction. At 6 s all of it ends.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let holder = pg_connect(&db.name, "odoo-101").await;
    let waiter = pg_connect(&db.name, "odoo-102").await;
    let idler = pg_connect(&db.name, "odoo-103").await;
    holder
        .batch_execute("BEGIN; UPDATE stock_quant SET quantity = quantity - 1 WHERE id = 1")
        .await
        .unwrap();
    idler.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let blocked = tokio::spawn(async move {
        waiter
            .batch_execute("UPDATE stock_quant SET quantity = quantity - 1 WHERE id = 1")
            .await
            .map(|_| waiter)
    });
    tokio::time::sleep(Duration::from_millis(3500)).await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    let waiter = blocked
        .await
        .unwrap()
        .expect("the waiter gets the row after the rollback");
    idler.batch_execute("ROLLBACK").await.unwrap();
    drop((holder, waiter, idler));

    let out = run.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let ws_json = ws.run_json();

    // The password given through url_env reaches no artifact and no message.
    let text = std::fs::read_to_string(ws.run_dir().join("run.json")).unwrap();
    assert!(
        !text.contains(&password),
        "run.json holds the probe password"
    );
    assert!(!stderr.contains(&password));

    let pg = assert_probe_shape(&ws_json, "postgres", "postgres");
    let target = pg["target"].as_str().unwrap();
    assert!(
        target.starts_with("postgres://") && !target.contains(&password),
        "{target}"
    );
    assert_eq!(pg["interval_s"], 0.5);
    assert_eq!(pg["gaps"].as_array().unwrap().len(), 0, "{}", pg["gaps"]);
    assert!(
        pg["coverage"].as_f64().unwrap() >= 0.9,
        "{}",
        pg["coverage"]
    );
    assert_eq!(pg["missing"], serde_json::json!(["queue_job"]));
    for s in POSTGRES_SERIES {
        assert!(pg["series"].get(s).is_some(), "no series {s}");
    }

    // Odoo backends: none at the start, the three during, none at the end.
    let odoo = points(&pg, "odoo_backends");
    assert_eq!(odoo.first().unwrap().1, 0.0, "{odoo:?}");
    assert_eq!(odoo.last().unwrap().1, 0.0, "{odoo:?}");
    let during: Vec<f64> = odoo.iter().filter(|p| p.1 >= 3.0).map(|p| p.0).collect();
    assert!(during.len() >= 4, "odoo backends never rose to 3: {odoo:?}");
    let (rise, fall) = (during[0], *during.last().unwrap());
    assert!(
        rise > 1.5 && rise < 4.5 && fall > 5.0 && fall < 8.0,
        "{odoo:?}"
    );

    assert!(max_of(&pg, "connections_idle_in_transaction") >= 2.0);
    assert!(
        max_of(&pg, "lock_waits") >= 1.0,
        "{:?}",
        points(&pg, "lock_waits")
    );
    assert_eq!(points(&pg, "lock_waits").last().unwrap().1, 0.0);
    // The 10 Hz wait sampling sees the same wait, as a share of the working backends' time,
    // at about ten samples a second.
    assert!(
        max_of(&pg, "lock_wait_share") > 0.0,
        "{:?}",
        points(&pg, "lock_wait_share")
    );
    assert!(
        max_of(&pg, "wait_samples") >= 3.0,
        "{:?}",
        points(&pg, "wait_samples")
    );
    assert!(max_of(&pg, "oldest_xact_age_s") >= 2.0);
    let max_conn = max_of(&pg, "max_connections");
    let total = max_of(&pg, "connections_total");
    assert!(total >= 4.0 && total <= max_conn, "{total} of {max_conn}");
    // One active cron is two minutes late; the inactive one does not count.
    assert_eq!(max_of(&pg, "crons_overdue"), 1.0);
    let lag = points(&pg, "cron_max_lag_s");
    assert!(lag.iter().all(|p| p.1 >= 119.0 && p.1 < 200.0), "{lag:?}");
    // Our own statements commit: the rate is measured, not a constant.
    assert!(max_of(&pg, "commits_per_s") > 0.0);

    // The canary records the postgres probe's latest count of Odoo workers beside its latency.
    let canary = assert_probe_shape(&ws_json, "canary", "canary");
    assert!(max_of(&canary, "odoo_backends") >= 3.0);
    assert!(points(&canary, "latency_ms").len() >= 15);
    assert!(
        canary["target"]
            .as_str()
            .unwrap()
            .ends_with("/web/webclient/version_info")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_probe_backend_records_a_gap_then_recovers_and_the_run_completes() {
    let db = TestDb::create(
        "CREATE TABLE queue_job (id serial PRIMARY KEY, state varchar);
         INSERT INTO queue_job (state) VALUES
           ('pending'), ('pending'), ('pending'), ('failed'), ('done'), ('done');",
    )
    .await;
    let ws = Workspace::new();
    let profile = profile(&ws, 8, "");
    let (url, _) = db.probe_url();
    let run = spawn_run(&profile, &ws.out(), &[("PEAKGATE_PROBE_PG_URL", &url)]);

    tokio::time::sleep(Duration::from_millis(3000)).await;
    let admin = pg_connect(&db.name, "peakgate-test").await;
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'peakgate-probe' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        killed, 1,
        "the probe's own backend is found by its application_name"
    );
    drop(admin);

    let out = run.await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r = ws.run_json();
    assert_eq!(r["status"], "completed");

    let pg = assert_probe_shape(&r, "postgres", "postgres");
    let gaps = pg["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let gap_t = gaps[0]["t"].as_f64().unwrap();
    assert!(gap_t > 2.0 && gap_t < 5.0, "gap at {gap_t}");
    let reason = gaps[0]["reason"].as_str().unwrap();
    // The backend's FATAL message when it is read first; otherwise the closed or reset socket
    // (the 10 Hz sampler may be mid-query when the backend dies).
    assert!(
        [
            "terminating connection",
            "connection closed",
            "Connection reset by peer"
        ]
        .iter()
        .any(|why| reason.contains(why)),
        "{reason}"
    );
    assert!(stderr.contains("probe postgres: coverage"), "{stderr}");

    // Samples before the gap, and again after it: the probe reconnected.
    let total = points(&pg, "connections_total");
    assert!(total.iter().any(|p| p.0 < gap_t));
    let after = total.iter().filter(|p| p.0 > gap_t).count();
    assert!(
        after >= 4,
        "no recovery after the gap at {gap_t}: {total:?}"
    );
    let coverage = pg["coverage"].as_f64().unwrap();
    assert!((0.7..1.0).contains(&coverage), "coverage {coverage}");

    // OCA queue_job backlog by state; every known state has a series.
    assert_eq!(pg["missing"], serde_json::json!(["ir_cron"]));
    assert_eq!(max_of(&pg, "queue_job_pending"), 3.0);
    assert_eq!(max_of(&pg, "queue_job_failed"), 1.0);
    assert_eq!(max_of(&pg, "queue_job_done"), 2.0);
    assert_eq!(max_of(&pg, "queue_job_started"), 0.0);
    assert!(pg["series"].get("cron_max_lag_s").is_none());
}
