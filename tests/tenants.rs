//! Multi-tenant runs (`[[tenant]]`): two databases on one stand-in, each tenant its own run
//! and verdict, and the noisy-neighbour check on the canary tenant.

use serde_json::Value;

use crate::common::{StandinProcess, Workspace, peakgate, repo_file, run_quiet};

fn json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn check<'a>(verdict: &'a Value, name: &str) -> &'a Value {
    verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {verdict}"))
}

/// On a machine too busy for the load generator to keep its plan a tenant's run is
/// inconclusive (exit 4): allowed only when the generator's check is the one that did not
/// pass, in every tenant.
fn only_the_generator_may_not_pass(index: &Value) {
    for t in index["tenants"].as_array().unwrap() {
        let not_passed = t["not_passed"].as_array().unwrap();
        assert!(
            not_passed.iter().all(|c| c
                .as_str()
                .unwrap()
                .starts_with("load generator kept its plan")),
            "tenant {}: {not_passed:?}",
            t["name"]
        );
    }
}

/// The shipped profile: one stand-in worker shared by both databases, so the flagship's
/// promotion queues the small store's searches behind its own.
#[test]
fn a_tenant_saturating_the_shared_workers_fails_the_canarys_noisy_neighbour_check() {
    let ws = Workspace::new();
    let (dir, code) = run_quiet(&ws.out(), "profiles/noisy-neighbour.toml", &[]);
    let index = json(&dir.join("tenants.json"));
    assert_eq!(index["schema"], "peakgate.tenants/1");
    // The gate fails on the noisy neighbour (or a busy machine made the run inconclusive).
    only_the_generator_may_not_pass(&index);
    match code {
        1 => assert_eq!(index["verdict"], "fail"),
        4 => assert_eq!(index["verdict"], "inconclusive"),
        _ => panic!("exit {code}: {index}"),
    }
    let tenants = index["tenants"].as_array().unwrap();
    let names: Vec<&str> = tenants
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["flagship", "small-store"]);
    // Each tenant is an ordinary run of its own database, with its own discovered data.
    for (t, db) in tenants.iter().zip(["retail_flagship", "retail_small"]) {
        assert_eq!(t["database"], db);
        let tdir = dir.join(t["dir"].as_str().unwrap());
        let run = json(&tdir.join("run.json"));
        assert_eq!(run["plan"]["tenant"]["database"], db, "{}", run["plan"]);
        assert_eq!(run["target"]["database"], db);
        assert_eq!(run["totals"]["errors"], 0, "{}", run["totals"]);
        assert_eq!(json(&tdir.join("target-data.json"))["database"], db);
        assert_eq!(json(&tdir.join("verdict.json"))["verdict"], t["verdict"]);
        assert!(t["requests"].as_u64().unwrap() > 100, "{t}");
    }
    // The canary kept its steady level through both stages; the flagship had none, then 100/s.
    let levels = |name: &str| -> Vec<f64> {
        json(&dir.join(format!("tenants/{name}/run.json")))["plan"]["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["from"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(levels("small-store"), [8.0, 8.0]);
    assert_eq!(levels("flagship"), [0.0, 100.0]);
    // Each tenant passes its own gate (no errors); the canary's latency under load fails.
    let verdict = json(&dir.join("verdict.json"));
    assert_eq!(verdict["verdict"], index["verdict"]);
    for t in ["flagship", "small-store"] {
        let status = &check(&verdict, &format!("tenant {t}"))["status"];
        assert!(status == "pass" || code == 4, "{t}: {status}");
    }
    let slowed = check(
        &verdict,
        "noisy neighbour small-store product_search/name_search",
    );
    assert_eq!(slowed["status"], "fail", "{slowed}");
    let nn = &index["noisy_neighbour"];
    assert_eq!(nn["canary"], "small-store");
    assert_eq!(nn["quiet_s"], serde_json::json!([[0.0, 5.0]]));
    let cmp = nn["latency"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["step"] == "product_search/name_search")
        .unwrap();
    assert!(cmp["significant"].as_bool().unwrap(), "{cmp}");
    assert!(cmp["p95_ratio"].as_f64().unwrap() > 3.0, "{cmp}");
    assert!(
        cmp["n_baseline"].as_u64().unwrap() >= 20 && cmp["n_candidate"].as_u64().unwrap() >= 20
    );
    // JUnit: a suite per tenant and one for the overall checks, the failure among them.
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testsuite ").count(), 3, "{junit}");
    assert!(junit.contains("tenant small-store"), "{junit}");
    assert!(junit.contains("<failure"), "{junit}");
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(
        md.contains("canary `small-store` slower under load"),
        "{md}"
    );
    // The parent's page: the overall checks over the canary's figures, saying whose.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("noisy neighbour small-store product_search/name_search"));
    assert!(
        html.contains(&format!(
            "<dt>figures from</dt><dd>run {}-small-store:",
            index["run_id"].as_str().unwrap()
        )),
        "no 'figures from' line"
    );
    // As change-gate evidence the run counts by its overall verdict; one tenant's folder,
    // which passed on its own, is refused.
    let policy = ws.write(
        "policy.toml",
        "[types]\nodoo_config = \"standard\"\n[class.standard]\nprofiles = [\"noisy-neighbour\"]\n",
    );
    let gate = |runs: &std::path::Path| {
        peakgate()
            .args(["gate", "--as-of", "2026-11-01T00:00:00Z", "--change"])
            .arg(repo_file("examples/change/change.toml"))
            .arg("--policy")
            .arg(&policy)
            .arg("--runs")
            .arg(runs)
            .arg("--out")
            .arg(ws.dir.path().join("record"))
            .output()
            .unwrap()
    };
    let whole = gate(&dir);
    let record = json(&ws.dir.path().join("record/change-record.json"));
    assert_eq!(
        record["loads"][0]["verdict"],
        index["verdict"],
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    let part = gate(&dir.join("tenants/small-store"));
    assert_eq!(part.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&part.stderr).contains("one tenant's run of a multi-tenant run"),
        "{}",
        String::from_utf8_lossy(&part.stderr)
    );
}

/// The same load on a separate `peakgate standin` hosting both databases with enough
/// workers: nothing queues, so the canary's latency does not regress and the run passes.
#[test]
fn with_workers_to_spare_the_same_two_tenant_load_passes_against_a_separate_standin() {
    let server = StandinProcess::start(&[
        "--workers",
        "8",
        "--database",
        "retail_flagship",
        "--database",
        "retail_small",
    ]);
    assert!(
        server.banner.contains("retail_flagship, retail_small"),
        "{}",
        server.banner
    );
    let shipped = std::fs::read_to_string(repo_file("profiles/noisy-neighbour.toml")).unwrap();
    let body = shipped.replace("[standin]\nworkers = 1\n", "").replace(
        "[load]\n",
        &format!(
            "[target]\nurl = \"{}\"\npassword_env = \"ODOO_PASSWORD\"\n\n[load]\n",
            server.url
        ),
    );
    assert!(body.contains("[target]") && !body.contains("[standin]"));
    let ws = Workspace::new();
    let profile = ws.profile("nn", &body);
    let out = peakgate()
        .args(["run", "--quiet", "--profile"])
        .arg(&profile)
        .arg("--out")
        .arg(ws.out())
        .env("ODOO_PASSWORD", "admin")
        .output()
        .unwrap();
    let dir = ws.run_dir();
    let verdict = json(&dir.join("verdict.json"));
    only_the_generator_may_not_pass(&json(&dir.join("tenants.json")));
    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(4)),
        "exit {code:?}: {}\n{verdict}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Unless the load generator could not keep its plan (then nothing is judged: exit 4),
    // the canary kept its latency.
    if code == Some(0) {
        assert_eq!(verdict["verdict"], "pass");
        let calm = check(
            &verdict,
            "noisy neighbour small-store product_search/name_search",
        );
        assert_eq!(calm["status"], "pass", "{calm}");
    }
    let run = json(&dir.join("tenants/small-store/run.json"));
    assert_eq!(run["target"]["kind"], "odoo");
    assert_eq!(run["target"]["database"], "retail_small");
}
