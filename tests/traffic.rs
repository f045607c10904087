//! The retail traffic library: shipped profiles run, calendars plan what they say, scenario
//! payloads have Odoo's shapes, and profiles built from access logs reproduce the log.

use std::collections::BTreeMap;
use std::path::Path;

use peakgate::plan::{Overrides, Plan};
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::common::{Workspace, peakgate, repo_file};

fn runs_green(profile: &str, duration: &str, scale: &str) {
    let ws = Workspace::new();
    peakgate()
        .args([
            "run",
            "--quiet",
            "--duration",
            duration,
            "--rate-scale",
            scale,
        ])
        .arg("--profile")
        .arg(repo_file(&format!("profiles/{profile}.toml")))
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success();
    let r = ws.run_json();
    assert_eq!(r["status"], "completed");
    assert!(
        r["totals"]["journeys"].as_u64().unwrap() > 5,
        "{}",
        r["totals"]
    );
    assert_eq!(r["totals"]["errors"], 0, "{profile}: {}", r["totals"]);
    // Green: the profile's own gate passes; at a reduced scale a rare flow may not run at all,
    // and its check then warns that it has nothing to judge (it never passes silently).
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.run_dir().join("verdict.json")).unwrap()).unwrap();
    for c in verdict["checks"].as_array().unwrap() {
        let unmeasured = c["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("no transaction matches");
        assert!(
            c["status"] == "pass" || (c["status"] == "warn" && unmeasured),
            "{profile}: {c:#}"
        );
    }
}

#[test]
fn flash_sale_runs_green_at_reduced_scale() {
    runs_green("flash-sale", "6s", "0.3");
}

#[test]
fn pos_store_opening_runs_green_at_reduced_scale() {
    runs_green("pos-store-opening", "6s", "0.3");
}

#[test]
fn month_end_close_runs_green_at_reduced_scale() {
    runs_green("month-end-close", "6s", "0.5");
}

#[test]
fn ecommerce_burst_runs_green_at_reduced_scale() {
    runs_green("ecommerce-burst", "6s", "0.3");
}

#[test]
fn peak_season_rehearsal_runs_green_at_reduced_scale() {
    runs_green("peak-season-rehearsal", "8s", "0.3");
}

#[test]
fn store_opening_tills_load_their_session_once_and_close_it() {
    let ws = Workspace::new();
    peakgate()
        .args(["run", "--quiet", "--duration", "12s", "--rate-scale", "0.2"])
        .arg("--profile")
        .arg(repo_file("profiles/pos-store-opening.toml"))
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success();
    let r = ws.run_json();
    let count = |k: &str| r["transactions"][k]["count"].as_u64().unwrap_or(0);
    // 30 tills × 0.2 = 6 at the peak; every till that opened also closed, once per opening.
    let opened = count("pos_session_open");
    assert!((6..=12).contains(&opened), "opened {opened}");
    assert_eq!(count("pos_session_close"), opened);
    assert!(
        count("pos_order_sync") > 2 * opened,
        "{} orders",
        count("pos_order_sync")
    );
}

#[test]
fn the_compressed_calendar_plans_each_hour_and_places_its_events() {
    let plan = Plan::load(
        &repo_file("profiles/peak-season-rehearsal.toml"),
        &Overrides::default(),
    )
    .unwrap();
    // 24 h → 24 min at the real rate: an hour of D journeys becomes a minute of D/60.
    let demand = [
        20000.0, 12000.0, 9000.0, 8000.0, 8000.0, 12000.0, 30000.0, 60000.0, 110000.0, 150000.0,
        190000.0, 200000.0, 230000.0, 210000.0, 180000.0, 170000.0, 180000.0, 200000.0, 240000.0,
        260000.0, 220000.0, 150000.0, 80000.0, 40000.0,
    ];
    let mut per_slot = [0u32; 24];
    let arrivals = peakgate::engine::scheduler::Arrivals::new(
        plan.load.curve.clone(),
        plan.load.arrivals,
        plan.stage_mix.clone(),
        11,
    );
    for a in arrivals {
        per_slot[(a.at_s / 60.0) as usize] += 1;
    }
    for (hour, d) in demand.iter().enumerate() {
        let factor = if hour == 10 { 1.5 } else { 1.0 }; // the doorbuster promotion
        let expected = d * factor / 60.0;
        let got = f64::from(per_slot[hour]);
        assert!(
            (got - expected).abs() < 5.0 * expected.sqrt(),
            "{hour:02}:00 planned {got}, expected {expected}"
        );
    }
    let promo = plan
        .events
        .iter()
        .find(|e| e.name == "doorbuster promotion")
        .unwrap();
    assert_eq!(
        (promo.start_s, promo.duration_s, promo.clock.as_str()),
        (600.0, 60.0, "10:00")
    );
    let evening = plan
        .events
        .iter()
        .find(|e| e.name == "evening e-commerce peak")
        .unwrap();
    assert_eq!((evening.start_s, evening.duration_s), (1080.0, 180.0));
    // The check command shows the compressed timeline.
    peakgate()
        .arg("check")
        .arg(repo_file("profiles/peak-season-rehearsal.toml"))
        .assert()
        .success()
        .stdout(contains(
            "doorbuster promotion     10:00  →    600.0s –   660.0s  ×1.5",
        ));
}

#[test]
fn scenarios_pick_their_odoo_version_and_send_odoo_shaped_orders() {
    let ws = Workspace::new();
    for (version, step) in [
        ("16.0", "create_from_ui"),
        ("17.0", "create_from_ui"),
        ("18.0", "sync_from_ui"),
    ] {
        let p = ws.profile(
            &format!("v{version}"),
            &format!("name = \"v\"\nenvironment = \"staging\"\nodoo_version = \"{version}\"\n[load]\n[[load.stage]]\nduration = \"1s\"\nrate = 1\n[mix]\npos_order_sync = 1\npos_session_open = 1\n"),
        );
        let plan = Plan::load(&p, &Overrides::default()).unwrap();
        assert!(
            plan.step_names.contains(&format!("pos_order_sync/{step}")),
            "{version}: {:?}",
            plan.step_names
        );
        let open = if version == "18.0" {
            "load_data"
        } else {
            "load_pos_data"
        };
        assert!(
            plan.step_names
                .contains(&format!("pos_session_open/{open}")),
            "{version}: {:?}",
            plan.step_names
        );
    }
}

/// Writes an nginx access log: `counts[minute]` = (flow anchor request, how many).
fn write_log(path: &Path, minutes: &[Vec<(&str, &str, u32)>]) -> BTreeMap<usize, u32> {
    let mut text = String::new();
    let mut journeys = BTreeMap::new();
    for (m, requests) in minutes.iter().enumerate() {
        let mut n = 0;
        for (method, route, count) in requests {
            for i in 0..*count {
                let second = (i * 59 / count.max(&1)) as usize;
                text.push_str(&format!(
                    "10.1.2.3 - - [26/Nov/2026:09:{:02}:{second:02} +0000] \"{method} {route} HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0\"\n",
                    10 + m
                ));
                if !route.starts_with("/web/assets") {
                    n += 1;
                }
            }
        }
        // Assets and a broken line: neither is a journey.
        text.push_str(&format!("10.1.2.3 - - [26/Nov/2026:09:{:02}:30 +0000] \"GET /web/assets/1/web.assets_frontend.min.js HTTP/1.1\" 200 9 \"-\" \"x\"\n", 10 + m));
        text.push_str("this is not an access log line\n");
        journeys.insert(m, n);
    }
    std::fs::write(path, text).unwrap();
    journeys
}

#[test]
fn a_profile_from_an_access_log_reproduces_its_per_minute_demand() {
    let ws = Workspace::new();
    let log = ws.dir.path().join("access.log");
    let pos = "/web/dataset/call_kw/pos.order/create_from_ui";
    let minutes: Vec<Vec<(&str, &str, u32)>> = (0..10u32)
        .map(|m| {
            vec![
                ("POST", pos, 30 + 5 * m),
                ("GET", "/shop", 60 + 20 * (m % 4)),
                ("POST", "/web/dataset/call_kw/sale.order/create", 3),
            ]
        })
        .collect();
    let journeys = write_log(&log, &minutes);
    let out = ws.dir.path().join("profiles/my-day.toml");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    for scale in [1.0, 3.0] {
        peakgate()
            .args(["profile", "from-log", "--scale", &scale.to_string()])
            .arg("--scenarios-dir")
            .arg(crate::common::scenarios_dir())
            .arg(&log)
            .arg("--out")
            .arg(&out)
            .assert()
            .success()
            .stdout(contains("10 minutes"))
            .stderr(contains("skipped"));
        let plan = Plan::load(&out, &Overrides::default()).unwrap();
        // A default gate, so the generated profile's runs can fail: each flow's steps, and
        // failed requests of every step.
        for flow in ["pos_order_sync", "shop_browse", "backoffice_sale"] {
            let p95 = plan.gate.latency[&format!("{flow}/*")][&peakgate::plan::gate::Stat::P95];
            assert_eq!((p95.warn, p95.fail), (Some(1500.0), Some(3000.0)), "{flow}");
        }
        assert_eq!(plan.gate.errors["*/*"].rate.unwrap().fail, Some(0.02));
        let curve = &plan.load.curve;
        assert_eq!(curve.stages.len(), 10);
        for (m, n) in &journeys {
            let planned =
                curve.cumulative(60.0 * (*m as f64 + 1.0)) - curve.cumulative(60.0 * *m as f64);
            let expected = f64::from(*n) * scale;
            assert!(
                (planned - expected).abs() <= 0.02 * expected,
                "minute {m}: planned {planned}, log {expected}"
            );
        }
        // Each minute keeps its own mix: minute 3 has 45 POS syncs of 170 journeys.
        let pos_index = plan
            .scenarios
            .iter()
            .position(|s| s.name == "pos_order_sync")
            .unwrap();
        let mix = curve.stages[3].mix.as_ref().unwrap();
        assert!(
            (mix[pos_index] / mix.iter().sum::<f64>() - 45.0 / 168.0).abs() < 1e-9,
            "{mix:?}"
        );
    }
}

#[test]
fn a_generated_profile_checks_wherever_out_points_and_an_invalid_one_is_not_written() {
    let ws = Workspace::new();
    let log = ws.dir.path().join("access.log");
    write_log(
        &log,
        &[vec![("GET", "/shop", 20)], vec![("GET", "/shop", 30)]],
    );
    // From the repository, with no --scenarios-dir, into a folder far from it: the written
    // `scenarios_dir` is relative to that folder and `check` passes there.
    let deep = ws.dir.path().join("a/b/c/day.toml");
    std::fs::create_dir_all(deep.parent().unwrap()).unwrap();
    peakgate()
        .current_dir(crate::common::repo_file(""))
        .args(["profile", "from-log"])
        .arg(&log)
        .arg("--out")
        .arg(&deep)
        .assert()
        .success();
    let text = std::fs::read_to_string(&deep).unwrap();
    assert!(text.contains("scenarios_dir = \"../../../"), "{text}");
    let elsewhere = tempfile::tempdir().unwrap();
    peakgate()
        .current_dir(elsewhere.path())
        .arg("check")
        .arg(&deep)
        .assert()
        .success();
    // A relative --scenarios-dir is taken from here and rebased onto the profile's folder.
    let rebased = ws.dir.path().join("x/y.toml");
    std::fs::create_dir_all(rebased.parent().unwrap()).unwrap();
    peakgate()
        .current_dir(crate::common::repo_file(""))
        .args(["profile", "from-log", "--scenarios-dir", "scenarios"])
        .arg(&log)
        .arg("--out")
        .arg(&rebased)
        .assert()
        .success();
    peakgate().arg("check").arg(&rebased).assert().success();
    // A demand scaled to nothing would fail its own check: refused, nothing left behind.
    let zero = ws.dir.path().join("a/zero.toml");
    peakgate()
        .current_dir(crate::common::repo_file(""))
        .args(["profile", "from-log", "--scale", "1e-300"])
        .arg(&log)
        .arg("--out")
        .arg(&zero)
        .assert()
        .code(2)
        .stderr(contains("does not pass `peakgate check`"));
    assert!(!zero.exists());
    // --out naming the log itself, or a folder: input errors, the log untouched.
    let before = std::fs::read(&log).unwrap();
    peakgate()
        .args(["profile", "from-log"])
        .arg(&log)
        .arg("--out")
        .arg(&log)
        .assert()
        .code(2)
        .stderr(contains("is the access log itself"));
    assert_eq!(std::fs::read(&log).unwrap(), before);
    peakgate()
        .args(["profile", "from-log"])
        .arg(&log)
        .arg("--out")
        .arg(ws.dir.path())
        .assert()
        .code(2)
        .stderr(contains("is a folder"));
}

#[test]
fn from_log_says_a_missing_out_folder_and_the_strays_skipped_before_a_span_refusal() {
    let ws = Workspace::new();
    let log = ws.dir.path().join("access.log");
    let line = |day: u32| {
        format!(
            "10.0.0.7 - - [{day:02}/Nov/2026:10:00:00 +0000] \"GET /shop HTTP/1.1\" 200 512 \"-\" \"t\""
        )
    };
    let mut lines: Vec<String> = [20, 22, 24, 26, 28].into_iter().map(line).collect();
    lines.insert(
        2,
        "10.0.0.7 - - [01/Jan/1970:00:00:00 +0000] \"GET /shop HTTP/1.1\" 200 512 \"-\" \"t\""
            .to_string(),
    );
    std::fs::write(&log, lines.join("\n")).unwrap();
    // The folder --out names does not exist: a flag error naming it, no temporary file name.
    let missing = ws.dir.path().join("nodir/x");
    peakgate()
        .args(["profile", "from-log"])
        .arg(&log)
        .arg("--out")
        .arg(missing.join("p.toml"))
        .assert()
        .code(2)
        .stderr(contains(format!(
            "the folder {} does not exist",
            missing.display()
        )))
        .stderr(contains(".peakgate-").not());
    // The rest spans 8 days once the 1970 line is set aside: refused, and that line is said.
    peakgate()
        .current_dir(crate::common::repo_file(""))
        .args(["profile", "from-log"])
        .arg(&log)
        .arg("--out")
        .arg(ws.dir.path().join("p.toml"))
        .assert()
        .failure()
        .stderr(contains(format!(
            "warning: {}:3: skipped: its time 1970-01-01T00:00:00Z",
            log.display()
        )))
        .stderr(contains("more than the 7 days a profile covers"));
}
