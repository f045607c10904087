//! `peakgate standin` as its own process, driven with `peakgate run --target`.

use predicates::str::contains;

use crate::common::{StandinProcess, Workspace, peakgate, repo_file};

#[test]
fn a_run_against_a_separate_standin_uses_the_odoo_protocol_end_to_end() {
    let server = StandinProcess::start(&["--workers", "2"]);
    let url = server.url.clone();
    assert!(server.banner.contains("2 workers"), "{}", server.banner);

    let ws = Workspace::new();
    peakgate()
        .args([
            "run",
            "--quiet",
            "--duration",
            "3s",
            "--rate-scale",
            "0.5",
            "--target",
            &url,
        ])
        .env("ODOO_PASSWORD", "admin")
        .arg("--profile")
        .arg(repo_file("profiles/smoke.toml"))
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success();
    let r = ws.run_json();
    assert_eq!(r["target"]["kind"], "odoo");
    assert_eq!(r["target"]["url"], url.as_str());
    assert_eq!(r["totals"]["errors"], 0, "{}", r["totals"]);
    assert!(
        r["transactions"]["backoffice_sale/action_confirm"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    drop(server);
}

/// A wrong password is a configuration mistake, not a failed release: the preflight refuses
/// it before any load (exit 2), naming Odoo's error, and leaves no run folder behind.
#[test]
fn a_wrong_password_is_refused_before_the_load_with_access_denied() {
    let server = StandinProcess::start::<&str>(&[]);
    let url = server.url.clone();
    let ws = Workspace::new();
    let p = ws.profile("pos", "name = \"pos\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"2s\"\nrate = 5\n[mix]\npos_order_sync = 1\n");
    peakgate()
        .args(["run", "--quiet", "--target", &url])
        .env("ODOO_PASSWORD", "wrong")
        .arg("--profile")
        .arg(&p)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("AccessDenied"));
    let runs = std::fs::read_dir(ws.out()).map(|d| d.count()).unwrap_or(0);
    assert_eq!(runs, 0, "no run folder for a refused run");
}

#[test]
fn list_releases_names_every_variant() {
    peakgate()
        .args(["standin", "--list-releases"])
        .assert()
        .success()
        .stdout(contains("baseline"))
        .stdout(contains("slow-pos-sync"))
        .stdout(contains("broken"));
}

/// A target whose error names and messages differ on every request: kinds stay bounded (16 a
/// step, then `other`), each kind keeps at most 5 messages, and run.json stays small.
#[test]
fn unique_error_messages_are_kept_bounded_with_counts() {
    let ws = Workspace::new();
    ws.write(
        "noisy.toml",
        "workers = 8\n[service]\ndefault = { median = \"0ms\", p99 = \"1ms\" }\n[release.noisy]\ndescription = \"every name_search fails with its own name and message\"\nerrors.\"name_search\" = { rate = 1.0, name = \"odoo.exceptions.Error{n}\", message = \"row {n} is locked by another transaction\" }\n",
    );
    let p = ws.profile(
        "noisy",
        "name = \"noisy\"\nenvironment = \"test\"\n[standin]\nconfig = \"../noisy.toml\"\nrelease = \"noisy\"\n[load]\narrivals = \"uniform\"\n[[load.stage]]\nduration = \"6s\"\nrate = 100\n[mix]\nproduct_search = 1\n",
    );
    peakgate()
        .args(["run", "--quiet", "--profile"])
        .arg(&p)
        .arg("--out")
        .arg(ws.out())
        .assert()
        .success();
    let r = ws.run_json();
    let step = &r["transactions"]["product_search/name_search"];
    let kinds = step["errors"].as_object().unwrap();
    assert!(kinds.len() <= 16, "{kinds:?}");
    let other = kinds["other"].as_u64().unwrap();
    assert!(other > 400, "{kinds:?}");
    assert_eq!(
        kinds.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        step["count"].as_u64().unwrap()
    );
    let messages = step["messages"].as_array().unwrap();
    assert!(
        !messages.is_empty() && messages.len() <= 16 * 5,
        "{}",
        messages.len()
    );
    assert!(
        messages[0]["message"]
            .as_str()
            .unwrap()
            .contains("is locked by another transaction")
    );
    // Bounded: the record grows with steps and seconds, not with requests.
    let size = std::fs::metadata(ws.run_dir().join("run.json"))
        .unwrap()
        .len();
    assert!(size < 100_000, "run.json is {size} bytes");
    let summary = std::fs::read_to_string(ws.run_dir().join("summary.md")).unwrap();
    assert!(summary.contains("## Top errors"), "{summary}");
}

/// Secrets never reach an artifact or a log: a password holding `#`, `?`, `/` and `@`, given
/// as the target's password and inside a PostgreSQL probe URL, is in no file of the run
/// folder, nor in stdout or stderr, of `check` or `run`.
#[test]
fn a_secret_with_url_delimiters_is_in_no_artifact_and_no_output() {
    let secret = "S3c#r?t/x@y";
    let ws = Workspace::new();
    let config = ws.write("standin.toml", &format!("password = \"{secret}\"\n"));
    let server = StandinProcess::start(&[std::ffi::OsStr::new("--config"), config.as_os_str()]);
    let pg = format!("postgres://postgres:{secret}@127.0.0.1:5432/postgres");
    let p = ws.profile(
        "secret",
        "name = \"secret\"\nenvironment = \"test\"\n[load]\n[[load.stage]]\nduration = \"3s\"\nrate = 4\n[mix]\nproduct_search = 1\n[probes.postgres]\nurl_env = \"PEAKGATE_TEST_SECRET_PG\"\noptional = true\n",
    );
    let mut outputs = Vec::new();
    for args in [vec!["check"], vec!["run", "--out"]] {
        let mut cmd = peakgate();
        cmd.args(&args);
        if args[0] == "run" {
            cmd.arg(ws.out()).arg("--profile");
        }
        let out = cmd
            .arg(&p)
            .args(["--target", &server.url])
            .env("ODOO_PASSWORD", secret)
            .env("PEAKGATE_TEST_SECRET_PG", &pg)
            .output()
            .unwrap();
        if args[0] == "run" {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        outputs.push(String::from_utf8_lossy(&out.stdout).to_string());
        outputs.push(String::from_utf8_lossy(&out.stderr).to_string());
    }
    for text in &outputs {
        assert!(!text.contains(secret), "a secret in the output:\n{text}");
    }
    let run = ws.run_dir();
    for e in std::fs::read_dir(&run).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(secret),
            "{} holds the secret",
            path.display()
        );
        assert!(
            !text.contains("S3c%23r"),
            "{} holds the secret",
            path.display()
        );
    }
    let r = ws.run_json();
    assert_eq!(r["totals"]["errors"], 0, "{:#}", r["totals"]);
}
