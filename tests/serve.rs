//! `peakgate serve` driven by requests shaped like Flagger's pre-rollout webhook, against a
//! `peakgate standin`: 200 on pass, 422 on a failed gate, 429 to a second request while a
//! run is in progress, 400 on metadata it does not read, and no secret in its log.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::common::{StandinProcess, Workspace};

struct Serve {
    child: Child,
    addr: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Flagger's payload: `{name, namespace, phase, metadata}` (+ a `checksum`, as Flagger
/// sends).
fn flagger(metadata: Value) -> String {
    serde_json::json!({
        "name": "odoo-web",
        "namespace": "retail-staging",
        "phase": "Progressing",
        "checksum": "6c8b3d9b",
        "metadata": metadata,
    })
    .to_string()
}

/// POSTs `body` to `/`: the status and the JSON answer.
fn post(addr: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status: u16 = answer[9..12].parse().unwrap();
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

#[test]
fn serve_answers_flaggers_webhook_one_run_at_a_time() {
    let standin = StandinProcess::start::<&str>(&[]);
    let ws = Workspace::new();
    let load = "[load]\ntimeout = \"2s\"\n[[load.stage]]\nduration = \"2s\"\nrate = 5\n[mix]\nproduct_search = 1\n";
    ws.profile(
        "tiny",
        &format!("name = \"tiny\"\nenvironment = \"staging\"\n{load}"),
    );
    ws.profile(
        "broken",
        &format!("name = \"broken\"\nenvironment = \"staging\"\n{load}no_such_scenario = 1\n"),
    );
    ws.profile(
        "strict",
        &format!("name = \"strict\"\nenvironment = \"staging\"\n{load}[gate.latency.\"*/*\"]\np95 = {{ warn = 0.001, fail = 0.002 }}\n"),
    );
    let log = ws.dir.path().join("serve.log");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("peakgate"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--target",
            &standin.url,
            "--profiles",
        ])
        .arg(ws.dir.path().join("profiles"))
        .arg("--out")
        .arg(ws.out())
        .env("ODOO_PASSWORD", "admin")
        .env_remove("PEAKGATE_STORE")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let addr = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_string();
    let serve = Serve { child, addr };

    // A pass, while a second request is told the gate is busy.
    let first = {
        let addr = serve.addr.clone();
        std::thread::spawn(move || {
            post(
                &addr,
                &flagger(serde_json::json!({"profile": "tiny", "release": "17.0.9"})),
            )
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(400));
    let (busy, why) = post(
        &serve.addr,
        &flagger(serde_json::json!({"profile": "tiny"})),
    );
    assert_eq!(busy, 429, "{why}");
    assert!(why["error"].as_str().unwrap().starts_with("busy"), "{why}");
    let (status, answer) = first.join().unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["exit"], 0);
    assert!(
        matches!(answer["verdict"].as_str(), Some("pass" | "warn")),
        "{answer}"
    );
    let run_dir = std::path::PathBuf::from(answer["run_dir"].as_str().unwrap());
    let run: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["release"], "17.0.9");
    assert_eq!(
        run["target"]["url"].as_str().unwrap().trim_end_matches('/'),
        standin.url.trim_end_matches('/')
    );

    // A failed gate is an error status, with the checks that did not pass.
    let (status, answer) = post(
        &serve.addr,
        &flagger(serde_json::json!({"profile": "strict"})),
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["verdict"], "fail");
    assert!(
        answer["not_passed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("latency p95")),
        "{answer}"
    );

    // A run that ends without a verdict (exit 2) answers with its error, located.
    let (status, answer) = post(
        &serve.addr,
        &flagger(serde_json::json!({"profile": "broken"})),
    );
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["exit"], 2, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("broken.toml")),
        "{answer}"
    );

    // Metadata it does not read, a path for a profile, a value of the wrong shape, or no
    // JSON: 400, no run, no echo.
    for body in [
        flagger(serde_json::json!("s3cret-as-metadata")),
        flagger(serde_json::json!({"profile": "tiny", "password": "s3cret-in-a-request"})),
        flagger(serde_json::json!({"profile": "../../etc/passwd"})),
        "not json".to_string(),
    ] {
        let (status, answer) = post(&serve.addr, &body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(!answer.to_string().contains("s3cret"), "{answer}");
    }
    drop(serve);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains(
            "retail-staging/odoo-web (phase Progressing): running profile tiny, release 17.0.9"
        ),
        "{log}"
    );
    assert!(
        log.contains("exit 1 (the release failed the gate)"),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
    // A refusal's line names the canary and phase, as every line does.
    assert!(
        log.contains("retail-staging/odoo-web (phase Progressing): refused:"),
        "{log}"
    );
}

#[test]
fn serve_refuses_to_start_without_a_target_to_gate() {
    let ws = Workspace::new();
    ws.profile(
        "tiny",
        "name = \"tiny\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"2s\"\nrate = 5\n[mix]\nproduct_search = 1\n",
    );
    let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("peakgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--profiles"])
        .arg(ws.dir.path().join("profiles"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no target") && err.contains("tiny.toml"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "it never listened");
}
