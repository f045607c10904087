//! Grafana annotations: a run posts its region to a local server that checks each request
//! against Grafana's documented annotations HTTP API (method, path, `Authorization: Bearer`,
//! `Content-Type`, field names and types) and answers as Grafana does; the region is patched
//! with the verdict; the token is in no artifact and no output; a Grafana that is down warns
//! and the run still passes.

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use crate::common::{Workspace, peakgate};

const TOKEN: &str = "glsa_peakgateTestToken_7f3c91d2";

/// One request the fake Grafana received, and what was wrong with it (empty: nothing).
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    body: Value,
    problems: Vec<String>,
}

/// What Grafana's API documents for each field of a create (POST) or patch (PATCH) body.
fn shape_problems(body: &Value, patch: bool) -> Vec<String> {
    let mut out = Vec::new();
    let Some(obj) = body.as_object() else {
        return vec![format!("the body is not a JSON object: {body}")];
    };
    let allowed: &[&str] = if patch {
        &["time", "timeEnd", "tags", "text"]
    } else {
        &[
            "dashboardUID",
            "dashboardId",
            "panelId",
            "time",
            "timeEnd",
            "tags",
            "text",
        ]
    };
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            out.push(format!("`{key}` is not a field of the annotations API"));
        }
    }
    for key in ["time", "timeEnd"] {
        if obj.get(key).is_some_and(|v| !v.is_i64()) {
            out.push(format!("`{key}` is not epoch milliseconds (an integer)"));
        }
    }
    if let (Some(t), Some(e)) = (
        obj.get("time").and_then(Value::as_i64),
        obj.get("timeEnd").and_then(Value::as_i64),
    ) && e < t
    {
        out.push("`timeEnd` is before `time`".into());
    }
    if !obj
        .get("tags")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().all(Value::is_string))
    {
        out.push("`tags` is not an array of strings".into());
    }
    if !obj.get("text").is_some_and(Value::is_string) {
        out.push("`text` is not a string".into());
    }
    if obj.get("dashboardUID").is_some_and(|v| !v.is_string()) {
        out.push("`dashboardUID` is not a string".into());
    }
    if obj.get("panelId").is_some_and(|v| !v.is_u64()) {
        out.push("`panelId` is not an integer".into());
    }
    if !patch && obj.get("time").is_none() {
        out.push("a region needs `time`".into());
    }
    out
}

/// A fake Grafana on 127.0.0.1:0 in its own thread; every request is recorded.
fn fake_grafana() -> (String, Arc<Mutex<Vec<Received>>>) {
    let log: Arc<Mutex<Vec<Received>>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = log.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let log = log.clone();
                        async move { Ok::<_, Infallible>(answer(req, &log).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}"), log)
}

/// Checks the request as Grafana would and answers like it.
async fn answer(
    req: Request<hyper::body::Incoming>,
    log: &Mutex<Vec<Received>>,
) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let mut problems = Vec::new();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    if header("authorization") != format!("Bearer {TOKEN}") {
        problems.push("Authorization is not `Bearer <the token>`".to_string());
    }
    if header("content-type") != "application/json" {
        problems.push(format!("Content-Type is `{}`", header("content-type")));
    }
    let bytes = req.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let id_path = path.strip_prefix("/api/annotations/");
    let (status, reply) = match (method.as_str(), path.as_str(), id_path) {
        ("POST", "/api/annotations", _) => {
            problems.extend(shape_problems(&body, false));
            (200, json!({"message": "Annotation added", "id": 4242}))
        }
        ("PATCH", _, Some("4242")) => {
            problems.extend(shape_problems(&body, true));
            (200, json!({"message": "Annotation patched"}))
        }
        _ => {
            problems.push(format!("{method} {path} is not an annotations route"));
            (404, json!({"message": "Not found"}))
        }
    };
    let (status, reply) = if problems.is_empty() {
        (status, reply)
    } else {
        (400, json!({"message": problems.join("; ")}))
    };
    log.lock().unwrap().push(Received {
        method,
        path,
        body,
        problems,
    });
    let mut resp = Response::new(Full::new(Bytes::from(reply.to_string())));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

/// A two-second run of `pos_order_sync` on the stand-in, annotated on `grafana`.
fn profile(ws: &Workspace, grafana: &str) -> std::path::PathBuf {
    ws.profile(
        "annotated",
        &format!(
            r#"name = "annotated"
environment = "ci"
[load]
arrivals = "uniform"
timeout = "10s"
[[load.stage]]
duration = "2s"
rate = 8
[mix]
pos_order_sync = 1
[standin]
workers = 4
[gate.errors."*/*"]
rate = {{ fail = 0.01 }}
[annotations.grafana]
url = "{grafana}"
dashboard_uid = "retail-odoo"
panel_id = 2
tags = ["team:pos"]
timeout = "2s"
"#
        ),
    )
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// The load generator's check: on a machine too busy for it to keep its plan, the run is
/// inconclusive (exit 4), the honest answer; no other check may make it so.
const GENERATOR: &str = "load generator kept its plan";

/// The run's verdict and the exit code it must have had, after checking that every check
/// but the annotations one passed (the load generator's may be inconclusive).
fn verdict_apart_from_annotations(verdict: &Value, annotations: &str) -> (String, i32) {
    for c in verdict["checks"].as_array().unwrap() {
        if c["name"] == "annotations grafana" {
            assert_eq!(c["status"], annotations, "{c}");
        } else if c["name"] == GENERATOR && c["status"] == "inconclusive" {
            continue;
        } else {
            assert_eq!(c["status"], "pass", "{c}");
        }
    }
    let v = verdict["verdict"].as_str().unwrap().to_string();
    let code = if v == "inconclusive" { 4 } else { 0 };
    (v, code)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_run_posts_its_region_and_patches_it_with_the_verdict_without_leaking_the_token() {
    let (url, log) = fake_grafana();
    let ws = Workspace::new();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let out = peakgate()
        .env("PEAKGATE_GRAFANA_TOKEN", TOKEN)
        .args(["run", "--release", "17.0.42", "--profile"])
        .arg(profile(&ws, &url))
        .arg("--out")
        .arg(ws.out())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let dir = ws.run_dir();
    let verdict = read_json(&dir.join("verdict.json"));
    let (v, code) = verdict_apart_from_annotations(&verdict, "pass");
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
    let run_id = dir.file_name().unwrap().to_string_lossy().to_string();
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:#?}");
    for r in &got {
        assert!(
            r.problems.is_empty(),
            "{} {}: {:?}",
            r.method,
            r.path,
            r.problems
        );
    }
    let (post, patch) = (&got[0], &got[1]);
    assert_eq!(
        (post.method.as_str(), post.path.as_str()),
        ("POST", "/api/annotations")
    );
    assert_eq!(
        (patch.method.as_str(), patch.path.as_str()),
        ("PATCH", "/api/annotations/4242")
    );
    assert_eq!(post.body["dashboardUID"], "retail-odoo");
    assert_eq!(post.body["panelId"], 2);
    let run_tag = format!("run:{run_id}");
    assert_eq!(
        post.body["tags"],
        json!([
            "peakgate",
            "profile:annotated",
            "release:17.0.42",
            run_tag,
            "team:pos"
        ])
    );
    // The region is planned from the start over the load's two seconds.
    let time = post.body["time"].as_i64().unwrap();
    assert!(
        time >= before && time - before < 10_000,
        "time {time}, before {before}"
    );
    assert_eq!(post.body["timeEnd"].as_i64().unwrap() - time, 2_000);
    // At the end: the same start, the actual end (after the load), the verdict.
    assert_eq!(patch.body["time"].as_i64(), Some(time));
    let end = patch.body["timeEnd"].as_i64().unwrap();
    assert!(
        end - time >= 2_000,
        "ended {} ms after the start",
        end - time
    );
    let tags = patch.body["tags"].as_array().unwrap();
    assert_eq!(
        tags.last().unwrap(),
        &json!(format!("verdict:{v}")),
        "{tags:?}"
    );
    assert!(tags.contains(&json!(run_tag)));
    let text = patch.body["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("peakgate run {run_id}")) && text.contains(&format!("verdict {v}")),
        "{text}"
    );

    let rec = read_json(&dir.join("annotations.json"));
    assert_eq!(rec["schema"], "peakgate.annotations/1");
    assert_eq!(rec["grafana"]["id"], 4242);
    assert_eq!(
        rec["grafana"]["start"],
        json!({"status": "ok", "http_status": 200, "message": "Annotation added"})
    );
    assert_eq!(
        rec["grafana"]["end"],
        json!({"status": "ok", "http_status": 200, "message": "Annotation patched"})
    );
    assert_eq!(rec["grafana"]["time_end_ms"].as_i64(), Some(end));
    assert!(
        verdict["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "annotations grafana"),
        "{verdict}"
    );

    assert_eq!(files_holding(&dir, TOKEN), Vec::<String>::new());
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));

    // `peakgate verdict` judges the stored record to the same bytes.
    let first = std::fs::read(dir.join("verdict.json")).unwrap();
    peakgate().arg("verdict").arg(&dir).assert().code(code);
    assert_eq!(std::fs::read(dir.join("verdict.json")).unwrap(), first);
}

#[test]
fn a_grafana_that_is_down_warns_and_the_run_still_passes_its_other_checks() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let ws = Workspace::new();
    let out = peakgate()
        .env("PEAKGATE_GRAFANA_TOKEN", TOKEN)
        .args(["run", "--profile"])
        .arg(profile(&ws, &url))
        .arg("--out")
        .arg(ws.out())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let dir = ws.run_dir();
    let verdict = read_json(&dir.join("verdict.json"));
    let (v, code) = verdict_apart_from_annotations(&verdict, "warn");
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
    let post = format!("POST {url}/api/annotations: ");
    assert!(
        stderr.contains(&format!("peakgate: warning: Grafana annotation: {post}")),
        "{stderr}"
    );
    assert!(stdout.contains(&format!("verdict {v}: ")), "{stdout}");
    if v == "warn" {
        assert!(stdout.contains("verdict warn: 1 of"), "{stdout}");
    }
    let check = verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "annotations grafana")
        .unwrap();
    let m = check["message"].as_str().unwrap();
    assert!(
        m.starts_with(&format!("no annotation marks this run on Grafana: {post}")),
        "{m}"
    );
    assert!(m.to_lowercase().contains("refused"), "{m}");
    let rec = read_json(&dir.join("annotations.json"));
    assert_eq!(rec["grafana"]["start"]["status"], "failed");
    assert_eq!(rec["grafana"]["start"]["http_status"], Value::Null);
    assert_eq!(rec["grafana"]["end"]["status"], "skipped");
    assert_eq!(files_holding(&dir, TOKEN), Vec::<String>::new());
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    // The warning fails a gate that fails on warnings.
    peakgate()
        .args(["verdict", "--fail-on-warn"])
        .arg(&dir)
        .assert()
        .code(if v == "warn" { 1 } else { code });
}

#[test]
fn a_run_stopped_by_its_preflight_ends_its_region_without_a_verdict() {
    let (url, log) = fake_grafana();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let ws = Workspace::new();
    let out = peakgate()
        .env("PEAKGATE_GRAFANA_TOKEN", TOKEN)
        .env("ODOO_PASSWORD", "admin")
        .args(["run", "--quiet", "--target", &target, "--profile"])
        .arg(profile(&ws, &url))
        .arg("--out")
        .arg(ws.out())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains(TOKEN), "{stderr}");
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:#?}");
    for r in &got {
        assert!(
            r.problems.is_empty(),
            "{} {}: {:?}",
            r.method,
            r.path,
            r.problems
        );
    }
    assert_eq!(got[1].method, "PATCH");
    let tags = got[1].body["tags"].as_array().unwrap();
    assert_eq!(tags.last().unwrap(), "verdict:none", "{tags:?}");
    let text = got[1].body["text"].as_str().unwrap();
    assert!(text.contains("stopped before a verdict: "), "{text}");
    assert!(text.contains(&target), "{text}");
}

#[test]
fn each_scale_step_gets_its_own_region_patched_with_its_verdict() {
    let (url, log) = fake_grafana();
    let ws = Workspace::new();
    let out = peakgate()
        .env("PEAKGATE_GRAFANA_TOKEN", TOKEN)
        .args([
            "run",
            "--quiet",
            "--duration",
            "1s",
            "--scale",
            "0.5,1",
            "--profile",
        ])
        .arg(profile(&ws, &url))
        .arg("--out")
        .arg(ws.out())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let parent = ws.run_dir();
    let parent_id = parent.file_name().unwrap().to_string_lossy().to_string();
    let got = log.lock().unwrap().clone();
    // The stepping stops after a step that does not pass (a busy machine can make one
    // inconclusive): each step that ran has its region.
    let steps: Vec<&str> = ["x0.5", "x1"]
        .into_iter()
        .filter(|s| parent.join(s).join("verdict.json").exists())
        .collect();
    assert!(!steps.is_empty(), "{stderr}");
    let methods: Vec<&str> = got.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PATCH"].repeat(steps.len()), "{stderr}");
    for (i, step) in steps.iter().enumerate() {
        let (post, patch) = (&got[2 * i], &got[2 * i + 1]);
        assert!(
            post.problems.is_empty() && patch.problems.is_empty(),
            "{got:#?}"
        );
        let run_tag = json!(format!("run:{parent_id}-{step}"));
        assert!(
            post.body["tags"].as_array().unwrap().contains(&run_tag),
            "{}",
            post.body
        );
        let verdict = read_json(&parent.join(step).join("verdict.json"));
        let v = verdict["verdict"].as_str().unwrap();
        assert_eq!(
            patch.body["tags"].as_array().unwrap().last().unwrap(),
            &json!(format!("verdict:{v}"))
        );
        let rec = read_json(&parent.join(step).join("annotations.json"));
        assert_eq!(rec["grafana"]["end"]["status"], "ok");
    }
    assert_eq!(files_holding(&parent, TOKEN), Vec::<String>::new());
}
