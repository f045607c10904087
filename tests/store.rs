//! The results store: runs put into a local store and into S3-compatible object storage (a
//! local `moto_server`), `history` listing them, `--baseline last-accepted` choosing the newest
//! accepted run over failed, inconclusive and interrupted ones, and the trend page in a real
//! headless Chromium.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Workspace, peakgate, repo_file};

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn write_json(p: &Path, v: &Value) {
    std::fs::write(p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// A 3 s smoke run on the stand-in at a third of its rate (light enough that a busy CI
/// machine keeps the plan), labelled `release`; extra flags after.
fn smoke(out: &Path, release: &str, extra: &[&str]) -> (PathBuf, std::process::Output) {
    let output = peakgate()
        .args(["run", "--quiet", "--duration", "3s", "--rate-scale", "0.33"])
        .args(["--release", release])
        .arg("--profile")
        .arg(repo_file("profiles/smoke.toml"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .env_remove("PEAKGATE_STORE")
        .output()
        .unwrap();
    let dir = String::from_utf8(output.stdout.clone())
        .unwrap()
        .trim()
        .to_string();
    assert!(
        !dir.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (PathBuf::from(dir), output)
}

/// A copy of a run folder as another run: its id, release, start, status and verdict set.
fn variant(
    from: &Path,
    parent: &Path,
    id: &str,
    release: &str,
    started_at: &str,
    status: &str,
    verdict: &str,
) -> PathBuf {
    let to = parent.join(id);
    std::fs::create_dir_all(&to).unwrap();
    for f in std::fs::read_dir(from).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    }
    let mut run = json(&to.join("run.json"));
    run["run_id"] = id.into();
    run["release"] = release.into();
    run["started_at"] = started_at.into();
    run["status"] = status.into();
    write_json(&to.join("run.json"), &run);
    let mut v = json(&to.join("verdict.json"));
    v["run_id"] = id.into();
    v["verdict"] = verdict.into();
    write_json(&to.join("verdict.json"), &v);
    to
}

#[test]
fn last_accepted_skips_failed_inconclusive_and_interrupted_runs_and_the_trend_marks_failures() {
    let ws = Workspace::new();
    let store = ws.dir.path().join("store");
    let store_s = store.to_str().unwrap();
    let reports = ws.out();
    let (accepted, out) = smoke(&reports, "17.0.2", &["--store", store_s]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let accepted_id = json(&accepted.join("run.json"))["run_id"]
        .as_str()
        .unwrap()
        .to_string();

    // An older accepted run, and newer runs that are no baseline.
    let made = ws.dir.path().join("made");
    let others = [
        variant(
            &accepted,
            &made,
            "r-old",
            "17.0.1",
            "2026-01-05T10:00:00Z",
            "completed",
            "pass",
        ),
        variant(
            &accepted,
            &made,
            "r-fail",
            "17.0.3",
            "2099-01-01T10:00:00Z",
            "completed",
            "fail",
        ),
        variant(
            &accepted,
            &made,
            "r-inc",
            "17.0.4",
            "2099-01-02T10:00:00Z",
            "completed",
            "inconclusive",
        ),
        variant(
            &accepted,
            &made,
            "r-int",
            "17.0.5",
            "2099-01-03T10:00:00Z",
            "interrupted",
            "pass",
        ),
    ];
    // One shard of a sharded run is a share of the load: refused (exit 2), and none of the
    // folders put with it is stored either.
    let shard = variant(
        &accepted,
        &made,
        "r-shard",
        "17.0.9",
        "2099-02-01T10:00:00Z",
        "completed",
        "pass",
    );
    let mut run = json(&shard.join("run.json"));
    run["shard"] = serde_json::json!({"index": 1, "count": 3});
    write_json(&shard.join("run.json"), &run);
    peakgate()
        .args(["store", "put", "--store", store_s])
        .arg(&others[0])
        .arg(&shard)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("peakgate merge --store"));
    // A release of its own profile: a stream of one point on the trend page.
    let solo = variant(
        &accepted,
        &made,
        "r-solo",
        "17.0.1",
        "2026-01-06T10:00:00Z",
        "completed",
        "pass",
    );
    let mut run = json(&solo.join("run.json"));
    run["profile"]["name"] = "solo".into();
    write_json(&solo.join("run.json"), &run);
    // A shard an older peakgate stored as a run, newest of all: its index entry has no shard
    // marker, only its stored run.json says what it is.
    let old_shard = variant(
        &accepted,
        &made,
        "r-oldshard",
        "-",
        "2099-01-04T10:00:00Z",
        "completed",
        "pass",
    );
    let mut run = json(&old_shard.join("run.json"));
    run["release"] = Value::Null;
    write_json(&old_shard.join("run.json"), &run);
    peakgate()
        .args(["store", "put", "--store", store_s])
        .args(&others)
        .arg(&solo)
        .arg(&old_shard)
        .assert()
        .success();
    let stored = store.join("runs/r-oldshard/run.json");
    let mut run = json(&stored);
    run["shard"] = serde_json::json!({"index": 0, "count": 3});
    write_json(&stored, &run);

    let (candidate, out) = smoke(
        &reports,
        "17.0.6",
        &["--store", store_s, "--baseline", "last-accepted"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "baseline last-accepted: run {accepted_id} (release 17.0.2"
        )) && stderr.contains("passing over r-oldshard: shard 0/3"),
        "{stderr}"
    );
    let v = json(&candidate.join("verdict.json"));
    assert_eq!(
        v["baseline_choice"]["run_id"],
        accepted_id.as_str(),
        "{v:#}"
    );
    assert_eq!(v["baseline_choice"]["rule"], "last-accepted");
    assert_eq!(v["comparisons"]["baseline"], accepted_id.as_str());

    // history: every run, oldest first, with its verdict; filters by profile and target.
    let listed = peakgate()
        .args([
            "history",
            "--store",
            store_s,
            "--profile",
            "smoke",
            "--target",
            "standin",
        ])
        .output()
        .unwrap();
    assert!(listed.status.success());
    let text = String::from_utf8(listed.stdout).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 7, "{text}");
    assert!(
        rows[0].contains("r-old") && rows[0].ends_with(" pass"),
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("r-int") && r.contains("interrupted")),
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("r-fail") && r.ends_with(" fail")),
        "{text}"
    );
    let none = peakgate()
        .args(["history", "--store", store_s, "--profile", "other"])
        .output()
        .unwrap();
    assert!(none.status.success() && none.stdout.is_empty());

    // `peakgate report` overlays the run verdict.json names, from the store it names.
    peakgate()
        .arg("report")
        .arg(&candidate)
        .args(["--baseline", "last-accepted"])
        .env_remove("PEAKGATE_STORE")
        .assert()
        .success();
    // `peakgate verdict` resolves it too, never to the run it judges (stored as well); a
    // store named by a relative path is recorded by its absolute one, so `report` finds it
    // from any working directory.
    let again = peakgate()
        .current_dir(ws.dir.path())
        .arg("verdict")
        .arg(&candidate)
        .args(["--store", "store", "--baseline", "last-accepted", "--out"])
        .arg(ws.dir.path().join("v2"))
        .output()
        .unwrap();
    let recorded = json(&ws.dir.path().join("v2/verdict.json"));
    assert_eq!(
        recorded["baseline_choice"]["store"],
        store.to_str().unwrap(),
        "{recorded:#}"
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains(&format!("run {accepted_id} ")),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // A store with no accepted run of the profile: said, exit 2.
    let empty = ws.dir.path().join("empty-store");
    // A store folder that is not there yet is an empty store: history lists nothing (exit 0,
    // said), and last-accepted finds no run in it (exit 2). Reading never creates it.
    peakgate()
        .args(["history", "--store"])
        .arg(&empty)
        .assert()
        .success()
        .stdout("")
        .stderr(predicates::str::contains("is empty (no such directory yet"));
    assert!(!empty.exists());
    let gone = peakgate()
        .arg("verdict")
        .arg(&candidate)
        .args(["--baseline", "last-accepted", "--out"])
        .arg(ws.dir.path().join("v4"))
        .env("PEAKGATE_STORE", &empty)
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("no accepted run"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    std::fs::create_dir_all(&empty).unwrap();
    let miss = peakgate()
        .arg("verdict")
        .arg(&candidate)
        .args(["--baseline", "last-accepted", "--out"])
        .arg(ws.dir.path().join("v3"))
        .env("PEAKGATE_STORE", &empty)
        .output()
        .unwrap();
    assert_eq!(miss.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&miss.stderr).contains("no accepted run"),
        "{}",
        String::from_utf8_lossy(&miss.stderr)
    );

    // The trend page, in a real browser.
    let page = ws.dir.path().join("trend.html");
    peakgate()
        .args(["history", "--store", store_s, "--trend"])
        .arg(&page)
        .assert()
        .success();
    // Through the report test's browser settings; the page makes no request, so the proxy
    // it is pointed at is never asked.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let dom = crate::report::browse(
        &page,
        proxy.local_addr().unwrap().port(),
        &ws.dir.path().join("chromium"),
        &["--dump-dom"],
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // One point per release: 17.0.1 .. 17.0.6, and the failed one marked.
    for r in ["17.0.1", "17.0.2", "17.0.3", "17.0.4", "17.0.5", "17.0.6"] {
        assert!(
            dom.contains(&format!("data-release=\"{r}\"")),
            "{r} missing"
        );
    }
    assert!(
        dom.contains("<tr data-release=\"17.0.3\" class=\"failed\">"),
        "{dom}"
    );
    assert!(
        dom.contains("failed 17.0.3"),
        "the failed release is marked on the charts"
    );
    assert!(dom.matches("<figure class=\"chart\"").count() >= 2);
    assert!(
        dom.matches("<polyline").count() >= 2,
        "the charts draw lines"
    );
    // A stream of one release is a visible dot, named by its release on the x axis.
    let solo = &dom[dom.find("<h2>solo on standin").expect("the solo stream")..];
    let solo = &solo[..solo.find("</section>").unwrap()];
    let dot = solo.find("<circle").expect("the one point is drawn");
    assert!(
        solo[dot..].starts_with("<circle cx=") && solo[dot..].contains("r=\"4\""),
        "{solo}"
    );
    assert!(
        solo.contains(">17.0.1<") || solo.contains("\n17.0.1\n"),
        "{solo}"
    );
    // Gated: 17.0.1, .2, .3 and the candidate's .6 unless a busy machine made it
    // inconclusive (the inconclusive and interrupted releases are no evidence).
    let cand = v["verdict"].as_str().unwrap();
    let gated = 3 + usize::from(cand != "inconclusive");
    let failed = 1 + usize::from(cand == "fail");
    let rate = 100.0 * failed as f64 / gated as f64;
    let figures = format!("{rate:.1} % ({failed} of {gated} gated releases failed)");
    assert!(dom.contains(&figures), "{figures} not in {dom}");
}

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An S3-compatible endpoint with a new bucket: `PEAKGATE_TEST_S3_ENDPOINT` (.ci/run starts
/// `moto_server` there), else a `moto_server` (PyPI `moto[server]`) started on a free port.
fn s3_endpoint(bucket: &str) -> (Option<Moto>, String) {
    let (moto, endpoint) = match std::env::var("PEAKGATE_TEST_S3_ENDPOINT") {
        Ok(e) => (None, e.trim_end_matches('/').to_string()),
        Err(_) => {
            let port = free_port();
            let child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server is needed for this test: pip install 'moto[server]' (.ci/run installs it)");
            (Some(Moto(child)), format!("http://127.0.0.1:{port}"))
        }
    };
    let host = endpoint
        .strip_prefix("http://")
        .expect("an http:// endpoint")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect(&host) {
            // Create the bucket (moto takes unsigned requests).
            let req = format!(
                "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "bucket not created: {answer}"
            );
            return (moto, endpoint);
        }
        assert!(
            Instant::now() < deadline,
            "the S3-compatible server at {endpoint} did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_run_round_trips_through_s3_compatible_storage() {
    let ws = Workspace::new();
    let bucket = format!("peakgate-runs-{}", std::process::id());
    let (_moto, endpoint) = s3_endpoint(&bucket);
    let s3 = [
        ("AWS_ACCESS_KEY_ID", "AKIDPEAKGATETEST"),
        ("AWS_SECRET_ACCESS_KEY", "s3cret-PEAKGATE-9f3"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let url = format!("s3://{bucket}/staging/smoke");
    let url = url.as_str();
    let (run, out) = smoke(&ws.out(), "17.0.7", &[]);
    assert!(out.status.success());
    let run_id = json(&run.join("run.json"))["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let put = peakgate()
        .args(["store", "put", "--store", url])
        .arg(&run)
        .envs(s3)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );

    let listed = peakgate()
        .args(["history", "--json"])
        .envs(s3)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("PEAKGATE_STORE", url)
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let entries: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 1, "{entries:#}");
    assert_eq!(entries[0]["run_id"], run_id.as_str());
    assert_eq!(entries[0]["release"], "17.0.7");
    assert_eq!(entries[0]["target"], "standin");
    let requests = json(&run.join("run.json"))["totals"]["requests"].clone();
    assert_eq!(entries[0]["requests"], requests);

    // Judging another run against it downloads the stored run and compares with it.
    let candidate = variant(
        &run,
        ws.dir.path(),
        "r-next",
        "17.0.8",
        "2099-01-01T00:00:00Z",
        "completed",
        "pass",
    );
    let judged = peakgate()
        .arg("verdict")
        .arg(&candidate)
        .args(["--baseline", "last-accepted", "--store", url])
        .envs(s3)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&judged.stderr);
    assert!(judged.status.code() == Some(0), "{stderr}");
    let v = json(&candidate.join("verdict.json"));
    assert_eq!(v["baseline_choice"]["run_id"], run_id.as_str());
    assert_eq!(v["baseline_choice"]["store"], url);
    assert_eq!(v["comparisons"]["baseline"], run_id.as_str());
    // Same measurements on both sides: nothing regressed.
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("compare"))
    );

    // Credentials never reach an artifact or the output.
    for text in [
        String::from_utf8_lossy(&put.stdout).to_string(),
        stderr.to_string(),
        std::fs::read_to_string(candidate.join("verdict.json")).unwrap(),
    ] {
        assert!(
            !text.contains("s3cret-PEAKGATE-9f3") && !text.contains("AKIDPEAKGATETEST"),
            "{text}"
        );
    }

    // A missing bucket is the backend's failure (exit 5), said with the store's address.
    let bad = peakgate()
        .args(["history", "--store", "s3://no-such-bucket"])
        .envs(s3)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("s3://no-such-bucket"));
}
