//! Sharded runs: N `peakgate run --shard I/N` processes against one `peakgate standin`,
//! merged by `peakgate merge`, give the single run of the same seed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{StandinProcess, Workspace, peakgate};

/// Three seconds of open-model load, POS orders among them (the shards sell into POS sessions
/// they leave open for one another). Four processes share the test
/// machine's cores, so the generator's lateness limit is wide: this test judges the merge,
/// not the machine.
const PROFILE: &str = "name = \"sharded\"\nenvironment = \"staging\"\n[load]\narrivals = \"poisson\"\n\
    [[load.stage]]\nduration = \"3s\"\nrate = 12\n\
    [mix]\nbackoffice_sale = 2\necommerce_cart = 1\nproduct_search = 2\npos_order_sync = 2\n\
    [gate.generator]\nlateness_p99_ms = 1000\n";
const SHARDS: u32 = 3;
const LOGIN: &str = "session/authenticate";

fn run(profile: &Path, url: &str, out: &Path, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("peakgate"))
        .args(["run", "--quiet", "--target", url])
        .arg("--profile")
        .arg(profile)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env("ODOO_PASSWORD", "admin")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("peakgate runs")
}

/// The run folder a finished `run --quiet` printed (it must have exited `code`).
fn folder(child: std::process::Child, code: i32) -> PathBuf {
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    PathBuf::from(String::from_utf8(o.stdout).unwrap().trim())
}

fn json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `peakgate merge --quiet DIRS --out OUT`, which must exit `code`: the folder it printed, and
/// what it said on stderr.
fn merge(dirs: &[&Path], out: &Path, code: i32) -> (PathBuf, String) {
    let o = peakgate()
        .arg("merge")
        .args(dirs)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(code), "{err}");
    // Bad input is not judged: no run folder is left.
    assert_eq!(out.exists(), code != 2, "{err}");
    let dir = PathBuf::from(String::from_utf8(o.stdout).unwrap().trim());
    (dir, err)
}

/// The verdict of a merged folder, and its `all shards merged` check.
fn shards_check(merged: &Path) -> (Value, Value) {
    let v = json(merged.join("verdict.json"));
    let check = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "all shards merged")
        .unwrap()
        .clone();
    (v["verdict"].clone(), check)
}

/// Each step's latency from the shards' latency.hlog files added by an independent
/// HdrHistogram reader (Python's `hdrhistogram`, installed by `.ci/run`): tag → [count, p50,
/// p95, p99] in ms, each quantile the nearest rank (as run.json states them).
fn independent_quantiles(shards: &[&Path]) -> Value {
    let script = r#"
import sys, json, math
from hdrh.histogram import HdrHistogram
merged = {}
for path in sys.argv[1:]:
    for l in open(path):
        l = l.strip()
        if not l.startswith('Tag='):
            continue
        parts = l.split(',')
        tag = parts[0][4:]
        h = HdrHistogram.decode(parts[4])
        if tag not in merged:
            merged[tag] = HdrHistogram(1, 3600 * 1000 * 1000, 3)
        merged[tag].add(h)
def at(h, q):
    # The q-quantile as the nearest rank, ceil(q * n), of the values the buckets hold.
    values = []
    for b in h.get_recorded_iterator():
        values += [b.value_iterated_to] * b.count_added_in_this_iter_step
    return values[max(1, math.ceil(q * len(values))) - 1] / 1000.0
print(json.dumps({t: [h.get_total_count()] + [at(h, q) for q in (0.5, 0.95, 0.99)] for t, h in merged.items()}))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .args(shards.iter().map(|d| d.join("latency.hlog")))
        .output()
        .expect("python3 runs (with the hdrhistogram package: pip install hdrhistogram)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn shards_merge_into_the_single_run_of_the_same_seed() {
    let server = StandinProcess::start(&["--workers", "16"]);
    let ws = Workspace::new();
    let profile = ws.profile("sharded", PROFILE);
    let single = run(&profile, &server.url, &ws.dir.path().join("single"), &[]);
    let single = folder(single, 0);

    // The shards, and a stray shard of another seed, wait for one wall-clock start.
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    let at = start.round(jiff::Unit::Second).unwrap().to_string();
    let shards_out = ws.dir.path().join("shards");
    let children: Vec<_> = (0..SHARDS)
        .map(|i| {
            let shard = format!("{i}/{SHARDS}");
            run(
                &profile,
                &server.url,
                &shards_out,
                &["--shard", &shard, "--start-at", &at],
            )
        })
        .collect();
    let other_seed = run(
        &profile,
        &server.url,
        &ws.dir.path().join("other"),
        &["--shard", "0/3", "--seed", "7", "--duration", "1s"],
    );
    let shards: Vec<PathBuf> = children.into_iter().map(|c| folder(c, 0)).collect();
    let other_seed = folder(other_seed, 0);
    let dirs: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    // No shard closed a POS session under another shard's orders: they are left open.
    let actions: Vec<String> = dirs
        .iter()
        .flat_map(|d| {
            let t = json(d.join("target-data.json"));
            let p = t["preparation"].as_array().unwrap().clone();
            p.into_iter()
                .map(|a| a["action"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(
        !actions.iter().any(|a| a.starts_with("close pos.session")),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a.starts_with("leave pos.session")),
        "{actions:?}"
    );

    let (merged, _) = merge(&dirs, &ws.dir.path().join("merged"), 0);
    let (s, m) = (json(single.join("run.json")), json(merged.join("run.json")));

    // Counts exactly: the plan's journeys, each step's requests and errors. Logins are each
    // process's own (a shard logs in its share of the sessions), so they are left out.
    for key in [
        "planned",
        "started",
        "dropped",
        "journeys",
        "journeys_failed",
        "errors",
    ] {
        assert_eq!(m["totals"][key], s["totals"][key], "totals.{key}");
    }
    assert!(
        s["totals"]["planned"].as_u64().unwrap() > 20,
        "{}",
        s["totals"]
    );
    let without_logins = |r: &Value| {
        r["totals"]["requests"].as_u64().unwrap()
            - r["transactions"][LOGIN]["count"].as_u64().unwrap_or(0)
    };
    assert_eq!(without_logins(&m), without_logins(&s));
    let names = |r: &Value| -> Vec<String> {
        r["transactions"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != LOGIN)
            .cloned()
            .collect()
    };
    assert_eq!(names(&m), names(&s));
    for name in names(&s) {
        for key in ["count", "errors"] {
            assert_eq!(
                m["transactions"][&name][key], s["transactions"][&name][key],
                "{name}.{key}"
            );
        }
    }
    // The timeline sums the shards', second by second.
    let planned: u64 = m["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["planned"].as_u64().unwrap())
        .sum();
    assert_eq!(planned, m["totals"]["planned"].as_u64().unwrap());

    // Percentiles within HDR precision of the shards' values added by another reader.
    let expected = independent_quantiles(&dirs);
    for (tag, q) in expected.as_object().unwrap() {
        let tx = &m["transactions"][tag];
        assert_eq!(tx["count"], q[0], "{tag} count");
        for (i, p) in ["p50", "p95", "p99"].iter().enumerate() {
            let (ours, theirs) = (
                tx["latency_ms"][p].as_f64().unwrap(),
                q[i + 1].as_f64().unwrap(),
            );
            assert!(
                (ours - theirs).abs() <= theirs * 0.001 + 0.002,
                "{tag} {p}: merged {ours} ms, the shards' added histograms {theirs} ms"
            );
        }
    }
    // The merged folder is a run folder like any: judged by the shards' gate, with its
    // artifacts, and the merge recorded.
    for file in [
        "verdict.json",
        "junit.xml",
        "summary.md",
        "report.html",
        "latency.hlog",
        "gate.json",
    ] {
        assert!(merged.join(file).is_file(), "{file}");
    }
    assert_eq!(m["merge"]["count"], SHARDS);
    assert_eq!(m["merge"]["missing"], serde_json::json!([]));
    let (_, check) = shards_check(&merged);
    assert_eq!(check["status"], "pass", "{check}");

    // A missing shard is said, and the verdict is inconclusive (exit 4), never a pass.
    let (partial, _) = merge(&[dirs[0], dirs[2]], &ws.dir.path().join("partial"), 4);
    let (verdict, check) = shards_check(&partial);
    assert_eq!(verdict, "inconclusive");
    let message = check["message"].as_str().unwrap();
    assert!(message.contains("shard(s) 1 of 3 missing"), "{check}");

    // A shard of another seed is not of this run: bad input (exit 2), nothing merged.
    let (_, err) = merge(&[dirs[1], &other_seed], &ws.dir.path().join("mixed"), 2);
    assert!(err.contains("the seed differs"), "{err}");
    drop(server);
}

#[test]
fn shard_flags_that_cannot_work_are_refused_before_any_load() {
    let ws = Workspace::new();
    let profile = ws.profile("sharded", PROFILE);
    for (flags, said) in [
        (&["--shard", "2/2"][..], "shard indexes run from 0 to 1"),
        (
            &["--shard", "0/2", "--scale", "1,2"][..],
            "--scale does not combine",
        ),
        (&["--start-at", "2020-01-01T00:00:00Z"][..], "passed"),
        (&["--start-at", "at noon"][..], "not an RFC 3339 instant"),
    ] {
        let o = peakgate()
            .args(["run", "--quiet", "--profile"])
            .arg(&profile)
            .arg("--out")
            .arg(ws.out())
            .args(flags)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(said), "{flags:?}: {err}");
        assert!(!ws.out().exists(), "{flags:?}: a run folder was made");
    }
}
