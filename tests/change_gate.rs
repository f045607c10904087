//! `peakgate gate` end to end on short smoke runs of the stand-in and the shipped examples
//! (examples/change): a change with its evidence passes and its change record says so field
//! by field; a change planned in a freeze fails naming the event and its window; an
//! emergency passes the freeze only with its reason; an unknown change type and a folder
//! that is no run are exit 2; a missing required run fails; a `--scale` parent's headroom is
//! judged against the policy's minimum.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use predicates::str::contains;
use serde_json::Value;
use sha2::Digest;

use crate::common::{Workspace, peakgate, repo_file, run_quiet};

/// An accepted run of 17.0.42, and a run of 17.0.43 compared with it.
struct Runs {
    _ws: Workspace,
    baseline: PathBuf,
    candidate: PathBuf,
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let ws = Workspace::new();
        let smoke = |extra: &[&str]| {
            let args: Vec<&str> = ["--duration", "5s"].iter().chain(extra).copied().collect();
            run_quiet(&ws.out(), "profiles/smoke.toml", &args)
        };
        let (baseline, code) = smoke(&["--release", "17.0.42"]);
        assert_eq!(code, 0, "baseline run");
        let (candidate, code) = smoke(&[
            "--release",
            "17.0.43",
            "--seed",
            "2",
            "--baseline",
            baseline.to_str().unwrap(),
        ]);
        assert!(code == 0 || code == 4, "candidate run exited {code}");
        Runs {
            _ws: ws,
            baseline,
            candidate,
        }
    })
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file written")).expect("JSON")
}

fn example(name: &str) -> PathBuf {
    repo_file(&format!("examples/change/{name}"))
}

/// The example change with other lines in place of its `types`, `planned` and `[scope]`.
fn change_file(ws: &Workspace, types: &str, planned: &str, scope: &str) -> PathBuf {
    let text = std::fs::read_to_string(example("change.toml")).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("types =") {
                format!("types = {types}")
            } else if l.starts_with("planned =") {
                format!("planned = \"{planned}\"")
            } else if l.starts_with("regions =") {
                scope.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    ws.write("change.toml", &(text + "\n"))
}

/// The instant the tests judge at (`--as-of`): before every planned time they use, so a
/// test's verdict does not change when its dates pass.
const AS_OF: &str = "2026-11-01T00:00:00Z";

/// `peakgate gate` with the example policy and calendar: its exit code, stdout and stderr.
fn gate(change: &Path, runs: &[&Path], out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = peakgate();
    cmd.arg("gate")
        .arg("--change")
        .arg(change)
        .arg("--policy")
        .arg(example("policy.toml"))
        .arg("--calendar")
        .arg(example("calendar.toml"))
        .arg("--out")
        .arg(out)
        .args(["--as-of", AS_OF])
        .args(extra);
    if !runs.is_empty() {
        cmd.arg("--runs").args(runs);
    }
    let o = cmd.output().expect("peakgate runs");
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn check<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {record:#}"))
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::canonicalize(a).unwrap() == std::fs::canonicalize(b).unwrap()
}

/// What `git log -1 --format=%H -- FILE` says of a shipped example (none when it is not
/// committed, or git is missing).
fn git_commit(file: &Path) -> Value {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(file.parent().unwrap())
        .args(["log", "-1", "--format=%H", "--"])
        .arg(file.file_name().unwrap())
        .output();
    match out {
        Ok(o) if o.status.success() && !o.stdout.trim_ascii().is_empty() => {
            Value::String(String::from_utf8_lossy(o.stdout.trim_ascii()).into_owned())
        }
        _ => Value::Null,
    }
}

#[test]
fn the_example_change_with_its_evidence_passes_and_the_record_holds_every_field() {
    let r = runs();
    let ws = Workspace::new();
    let out = ws.dir.path().join("record");
    // The candidate given twice, by two paths: one piece of evidence.
    let again = r.candidate.join(".");
    let (code, stdout, stderr) = gate(&example("change.toml"), &[&r.candidate, &again], &out, &[]);
    assert!(stderr.contains("counted once"), "{stderr}");
    let candidate = json(&r.candidate.join("verdict.json"));
    let run_verdict = candidate["verdict"].as_str().unwrap().to_string();
    let record = json(&out.join("change-record.json"));
    assert_eq!(
        code,
        if run_verdict == "inconclusive" { 4 } else { 0 },
        "{stdout}{stderr}{record:#}"
    );
    assert!(
        stdout.starts_with(&format!("change 17.0.43 (standard risk): {run_verdict}")),
        "{stdout}"
    );

    assert_eq!(record["schema"], "peakgate.change-record/1");
    assert_eq!(record["release"], "17.0.43");
    assert_eq!(
        record["types"],
        serde_json::json!([{ "type": "odoo_config", "class": "standard" }])
    );
    assert_eq!(record["risk_class"], "standard");
    assert_eq!(
        record["planned"]["at"],
        "2027-02-16T21:00:00+01:00[Europe/Paris]"
    );
    assert_eq!(record["planned"]["utc"], "2027-02-16T20:00:00Z");
    assert_eq!(record["planned"]["time_zone"], "Europe/Paris");
    assert_eq!(record["judged_at"], AS_OF);
    assert_eq!(
        record["scope"],
        serde_json::json!({ "stores": [], "regions": ["fr"] })
    );
    assert_eq!(record["verdict"], run_verdict);

    // The calendar: outside every window of the standard class (5 promotion and peak-season
    // windows; 15 monthly closes from October 2026 to December 2027 and 1 inventory count).
    assert_eq!(check(&record, "calendar freeze")["status"], "pass");
    let cal = &record["calendar"];
    assert_eq!(cal["status"], "pass");
    assert_eq!(cal["frozen_by"], serde_json::json!([]));
    assert_eq!(cal["windows"].as_array().unwrap().len(), 21, "{cal:#}");
    assert_eq!(cal["emergency"], Value::Null);
    let spring = cal["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["event"] == "Spring sale")
        .unwrap();
    // Two calendar days before 1 April 00:00 +02:00.
    assert_eq!(spring["start"], "2027-03-30T00:00:00+02:00[Europe/Paris]");
    assert_eq!(spring["end"], "2027-04-05T00:00:00+02:00[Europe/Paris]");
    assert_eq!(spring["rule"], "from 2d before the event until it ends");

    // The load: the candidate, its verdict, its baseline, every artifact linked.
    assert_eq!(check(&record, "profile smoke")["status"], run_verdict);
    assert_eq!(check(&record, "release under test")["status"], "pass");
    assert_eq!(check(&record, "baseline smoke")["status"], "pass");
    let loads = record["loads"].as_array().unwrap();
    assert_eq!(loads.len(), 1);
    let load = &loads[0];
    assert_eq!(load["profile"], "smoke");
    assert_eq!(load["required"], true);
    assert_eq!(
        load["run_id"],
        json(&r.candidate.join("run.json"))["run_id"]
    );
    assert!(same_file(
        &out.join(load["dir"].as_str().unwrap()),
        &r.candidate
    ));
    assert_eq!(load["release"], "17.0.43");
    assert_eq!(load["verdict"], run_verdict);
    assert_eq!(load["headroom"], Value::Null);
    let baseline_id = json(&r.baseline.join("run.json"))["run_id"].clone();
    assert_eq!(load["baseline"]["run_id"], baseline_id);
    assert_eq!(load["baseline"]["release"], "17.0.42");
    let artifacts: Vec<&str> = load["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for f in [
        "run.json",
        "verdict.json",
        "summary.md",
        "junit.xml",
        "report.html",
    ] {
        let link = artifacts
            .iter()
            .find(|a| a.ends_with(&format!("/{f}")))
            .unwrap_or_else(|| panic!("{f} not linked: {artifacts:?}"));
        assert!(!Path::new(link).is_absolute(), "{link}");
        assert!(same_file(&out.join(link), &r.candidate.join(f)), "{link}");
    }

    // Rollback readiness: the plan and the accepted baseline.
    let rollback = &record["rollback"];
    assert!(
        rollback["plan"]
            .as_str()
            .unwrap()
            .starts_with("Revert this change's commit in the GitOps repository"),
        "{rollback:#}"
    );
    assert_eq!(rollback["plan_required"], false);
    assert_eq!(rollback["baselines"][0]["profile"], "smoke");
    assert_eq!(rollback["baselines"][0]["baseline"]["run_id"], baseline_id);
    assert_eq!(rollback["baselines"][0]["baseline"]["release"], "17.0.42");
    assert_eq!(record["preflight"], serde_json::json!([]));

    // The inputs: linked, hashed, and the policy's commit when it is committed.
    let policy = &record["inputs"]["policy"];
    assert!(same_file(
        &out.join(policy["path"].as_str().unwrap()),
        &example("policy.toml")
    ));
    let text = std::fs::read(example("policy.toml")).unwrap();
    let sha: String = sha2::Sha256::digest(&text)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(policy["sha256"], sha);
    assert_eq!(policy["commit"], git_commit(&example("policy.toml")));
    assert!(
        record["inputs"]["calendar"]["path"]
            .as_str()
            .unwrap()
            .ends_with("calendar.toml")
    );

    // The markdown says the same, with links that resolve.
    let md = std::fs::read_to_string(out.join("change-record.md")).unwrap();
    assert!(
        md.starts_with(&format!(
            "# Change record: 17.0.43 — **{}**",
            run_verdict.to_uppercase()
        )),
        "{md}"
    );
    assert!(md.contains("| Risk class | **standard** |"), "{md}");
    assert!(
        md.contains(
            "| Planned | 2027-02-16T21:00:00+01:00[Europe/Paris] (UTC 2027-02-16T20:00:00Z) |"
        ),
        "{md}"
    );
    let run_id = load["run_id"].as_str().unwrap();
    let dir_link = load["dir"].as_str().unwrap();
    assert!(md.contains(&format!("[{run_id}]({dir_link})")), "{md}");
    assert!(
        md.contains(&format!(
            "- smoke: run {run_id} was compared with the accepted run {} of release 17.0.42",
            baseline_id.as_str().unwrap()
        )),
        "{md}"
    );
    assert!(md.contains("> Revert this change's commit"), "{md}");
}

#[test]
fn a_change_planned_in_a_freeze_fails_naming_the_event_and_its_window() {
    let r = runs();
    let ws = Workspace::new();
    let change = change_file(
        &ws,
        "[\"odoo_config\"]",
        "2026-11-28T21:00",
        "regions = [\"fr\"]",
    );
    let out = ws.dir.path().join("record");
    let (code, stdout, _) = gate(&change, &[&r.candidate], &out, &[]);
    assert_eq!(code, 1, "{stdout}");
    let record = json(&out.join("change-record.json"));
    let freeze = check(&record, "calendar freeze");
    assert_eq!(freeze["status"], "fail");
    let message = freeze["message"].as_str().unwrap();
    assert!(
        message.starts_with("planned 2026-11-28 21:00 +01:00 Europe/Paris: inside the class standard freeze for promotion \"Black Friday\" (from 2d before the event until it ends: 2026-11-25 00:00 +01:00 Europe/Paris – 2026-12-01 00:00 +01:00 Europe/Paris)"),
        "{message}"
    );
    // The US event's window holds that time too, but not the change's region.
    assert!(!message.contains("Black Friday US"), "{message}");
    let us = record["calendar"]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["event"] == "Black Friday US")
        .unwrap();
    assert_eq!(us["in_scope"], false);
    assert_eq!(us["start"], "2026-11-25T00:00:00-05:00[America/New_York]");
    assert_eq!(record["verdict"], "fail");
    assert_eq!(record["calendar"]["frozen_by"][0]["event"], "Black Friday");
    let md = std::fs::read_to_string(out.join("change-record.md")).unwrap();
    assert!(md.contains("## Calendar: FAIL"), "{md}");
    assert!(stdout.contains("calendar freeze (fail)"), "{stdout}");
}

#[test]
fn an_emergency_passes_a_freeze_only_with_its_reason_and_only_as_an_emergency() {
    let r = runs();
    let ws = Workspace::new();
    let hotfix = change_file(&ws, "[\"hotfix\"]", "2026-12-24T10:00", "");
    let out = ws.dir.path().join("record");
    let (code, _, _) = gate(&hotfix, &[&r.candidate], &out, &[]);
    assert_eq!(code, 1);
    let refused = json(&out.join("change-record.json"));
    assert_eq!(refused["risk_class"], "emergency");
    assert!(
        check(&refused, "calendar freeze")["message"]
            .as_str()
            .unwrap()
            .contains("peak_season \"Peak season\""),
        "{refused:#}"
    );
    let reason = "INC-4711: card payments fail in every store";
    let (code, stdout, stderr) = gate(&hotfix, &[&r.candidate], &out, &["--emergency", reason]);
    let passed = json(&out.join("change-record.json"));
    assert_ne!(code, 1, "{stdout}{stderr}{passed:#}");
    assert_eq!(check(&passed, "calendar freeze")["status"], "pass");
    assert_eq!(passed["calendar"]["emergency"], reason);
    let md = std::fs::read_to_string(out.join("change-record.md")).unwrap();
    assert!(
        md.contains(&format!(
            "Emergency, as its reason was given:\n\n> {reason}\n"
        )),
        "{md}"
    );
    // A standard change cannot claim an emergency.
    let standard = change_file(&ws, "[\"odoo_config\"]", "2026-12-24T10:00", "");
    peakgate()
        .args(["gate", "--as-of", AS_OF, "--change"])
        .arg(&standard)
        .arg("--policy")
        .arg(example("policy.toml"))
        .arg("--calendar")
        .arg(example("calendar.toml"))
        .args(["--emergency", reason, "--runs"])
        .arg(&r.candidate)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(contains(
            "--emergency is for emergency changes only, and this change is class standard (odoo_config → standard)",
        ));
}

#[test]
fn an_unknown_change_type_or_a_folder_that_is_no_run_is_exit_2_with_the_place() {
    let r = runs();
    let ws = Workspace::new();
    let change = change_file(&ws, "[\"odoo_confg\"]", "2027-02-16T21:00", "");
    let out = ws.dir.path().join("record");
    let (code, _, stderr) = gate(&change, &[&r.candidate], &out, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("change.toml:3:10: unknown change type `odoo_confg`"),
        "{stderr}"
    );
    assert!(stderr.contains("the nearest are `odoo_config`"), "{stderr}");
    assert!(!out.join("change-record.json").exists());
    let not_a_run = ws.dir.path().join("empty");
    std::fs::create_dir_all(&not_a_run).unwrap();
    let (code, _, stderr) = gate(&example("change.toml"), &[&not_a_run], &out, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a run folder"), "{stderr}");
    // A mistyped path says it does not exist, not that it is no run.
    let typo = ws.dir.path().join("reprots");
    let (code, _, stderr) = gate(&example("change.toml"), &[&typo], &out, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("reprots: no such folder"), "{stderr}");
    let (code, _, stderr) = gate(
        &example("change.toml"),
        &[&r.candidate],
        &out,
        &["--as-of", "yesterday"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--as-of"), "{stderr}");
}

#[test]
fn a_high_change_without_its_flash_sale_run_fails_and_the_record_names_the_gap() {
    let r = runs();
    let ws = Workspace::new();
    let change = change_file(&ws, "[\"module_upgrade\"]", "2027-02-16T21:00", "");
    let out = ws.dir.path().join("record");
    let (code, stdout, _) = gate(&change, &[&r.candidate], &out, &[]);
    assert_eq!(code, 1, "{stdout}");
    let record = json(&out.join("change-record.json"));
    assert_eq!(record["risk_class"], "high");
    let missing = check(&record, "profile flash-sale");
    assert_eq!(missing["status"], "fail");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .starts_with("the policy requires a passing run of profile flash-sale, and --runs holds none (given: smoke ("),
        "{missing:#}"
    );
    assert_eq!(check(&record, "headroom flash-sale")["status"], "fail");
    // The high class freezes 7 days before a promotion: calendar days back across the
    // daylight-saving change of 28 March 2027, so from midnight at +01:00.
    let spring = record["calendar"]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["event"] == "Spring sale")
        .unwrap();
    assert_eq!(spring["start"], "2027-03-25T00:00:00+01:00[Europe/Paris]");
    // Nothing to look at (no PostgreSQL URL, or the shared one, whose archiving is off).
    assert_eq!(check(&record, "preflight pg_archiving")["status"], "fail");
    let gap = record["loads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["profile"] == "flash-sale")
        .unwrap();
    assert_eq!(gap["run_id"], Value::Null);
    assert_eq!(gap["verdict"], "fail");
    let md = std::fs::read_to_string(out.join("change-record.md")).unwrap();
    assert!(md.contains("| flash-sale | yes | **missing** |"), "{md}");
    assert!(md.contains("## Pre-flight"), "{md}");
}

#[test]
fn a_scale_parent_gives_the_headroom_and_less_than_the_policy_asks_fails() {
    let r = runs();
    let ws = Workspace::new();
    let (parent, code) = run_quiet(
        &ws.out(),
        "profiles/smoke.toml",
        &[
            "--duration",
            "3s",
            "--release",
            "17.0.43",
            "--scale",
            "0.5,1",
        ],
    );
    let parent_verdict = json(&parent.join("verdict.json"));
    let headroom = parent_verdict["headroom"]["multiplier"].as_f64().unwrap();
    assert!(code == 0 || code == 1 || code == 4, "{parent_verdict:#}");
    let policy = ws.write(
        "policy.toml",
        "[types]\nodoo_config = \"high\"\n[class.high]\nprofiles = [\"smoke\"]\nmin_headroom = 1.5\n",
    );
    let out = ws.dir.path().join("record");
    let o = peakgate()
        .args(["gate", "--as-of", AS_OF, "--change"])
        .arg(example("change.toml"))
        .arg("--policy")
        .arg(&policy)
        .arg("--runs")
        .arg(&parent)
        .arg(&r.candidate)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    // At most ×1 was tried, so the ×1.5 the policy asks for cannot have been shown.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let record = json(&out.join("change-record.json"));
    let check = check(&record, "headroom smoke");
    assert_eq!(check["status"], "fail");
    assert_eq!(check["observed"].as_f64(), Some(headroom));
    assert_eq!(check["fail"].as_f64(), Some(1.5));
    let scale = record["loads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["headroom"].is_number())
        .unwrap();
    assert_eq!(scale["run_id"], parent_verdict["run_id"]);
    assert_eq!(scale["release"], "17.0.43");
    assert_eq!(scale["verdict"], parent_verdict["verdict"]);
    // The parent's step folders are linked too.
    assert!(
        scale["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().ends_with("/x1/verdict.json")),
        "{scale:#}"
    );
    // Without a calendar: this policy's class has no freeze rules.
    assert_eq!(record["inputs"]["calendar"], Value::Null);
}

/// A copy of `dir` under `to` (a run folder the test may add files to).
fn copy_dir(dir: &Path, to: &Path) -> PathBuf {
    let dest = to.join(dir.file_name().unwrap());
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::create_dir_all(&dest).unwrap();
            std::fs::copy(entry.path(), dest.join(entry.file_name())).unwrap();
        }
    }
    dest
}

/// The pre-flight checks against the shared PostgreSQL (archiving off there: reported, never
/// passed), a fresh WAL-G status file, and the configuration review of the shipped example
/// deployment against what `peakgate capacity` sized from the smoke run; a malformed status
/// file is exit 2 at its place; the URL's password reaches no artifact.
#[test]
fn preflight_on_the_real_postgres_reports_archiving_off_and_reviews_the_configuration() {
    let r = runs();
    let ws = Workspace::new();
    let run = copy_dir(&r.candidate, ws.dir.path());
    let cap = peakgate().arg("capacity").arg(&run).output().unwrap();
    assert_eq!(
        cap.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&cap.stderr)
    );
    let capacity = json(&run.join("capacity.json"));
    let needed = capacity["total"]["workers_needed"].as_f64().unwrap();
    let policy = ws.write(
        "policy.toml",
        "[types]\nodoo_config = \"standard\"\n[class.standard]\nprofiles = [\"smoke\"]\npreflight = [\"pg_archiving\", \"backup_freshness\", \"replication_lag\", \"connection_headroom\", \"config_review\"]\n[preflight]\npostgres_url_env = \"PEAKGATE_TEST_GATE_PG_URL\"\nrecovery_point_objective = \"15m\"\nbackup_max_age = \"1day\"\n",
    );
    let finished = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
    let fresh = ws.write(
        "backup-list.json",
        &format!(
            "[{{\"backup_name\":\"base_000000010000000000000002\",\"time\":\"{finished}\",\"wal_file_name\":\"000000010000000000000002\",\"storage_name\":\"default\",\"finish_time\":\"{finished}\"}}]"
        ),
    );
    let gate = |status: &Path, out: &Path| {
        peakgate()
            .env(
                "PEAKGATE_TEST_GATE_PG_URL",
                "postgres://postgres:gate-s3cret-pw@127.0.0.1:5432/postgres",
            )
            .args(["gate", "--change"])
            .arg(example("change.toml"))
            .arg("--policy")
            .arg(&policy)
            .arg("--runs")
            .arg(&run)
            .arg("--backup-status")
            .arg(status)
            .arg("--odoo-conf")
            .arg(example("deploy/odoo.conf"))
            .arg("--kubernetes")
            .arg(example("deploy/odoo.yaml"))
            .arg("--traefik")
            .arg(example("deploy/traefik.yaml"))
            .arg("--capacity")
            .arg(run.join("capacity.json"))
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let out = ws.dir.path().join("record");
    let o = gate(&fresh, &out);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let record = json(&out.join("change-record.json"));
    let archiving = check(&record, "preflight pg_archiving");
    assert_eq!(archiving["status"], "fail");
    assert!(
        archiving["message"].as_str().unwrap().starts_with(
            "postgres://postgres:***@127.0.0.1:5432/postgres: WAL archiving is off (archive_mode = off)"
        ),
        "{archiving:#}"
    );
    let backup = check(&record, "preflight backup_freshness");
    assert_eq!(backup["status"], "pass", "{backup:#}");
    assert!(
        (backup["observed"].as_f64().unwrap() - 2.0).abs() < 0.05,
        "{backup:#}"
    );
    assert_eq!(backup["fail"].as_f64(), Some(24.0));
    assert!(
        backup["message"]
            .as_str()
            .unwrap()
            .contains("(WAL-G): last full backup base_000000010000000000000002 finished"),
        "{backup:#}"
    );
    // No standby streams from the shared server.
    let lag = check(&record, "preflight replication_lag");
    assert_eq!(lag["status"], "pass");
    assert!(
        lag["message"]
            .as_str()
            .unwrap()
            .contains("no replicas are configured")
    );
    // Free connections: what the server says now, whatever other tests hold.
    let headroom = check(&record, "preflight connection_headroom");
    assert!(
        headroom["observed"].as_f64().unwrap() >= 0.0,
        "{headroom:#}"
    );
    assert!(
        headroom["message"]
            .as_str()
            .unwrap()
            .contains("connections free = max_connections "),
        "{headroom:#}"
    );
    // (4 pods (the HPA's maxReplicas) + 1 surge pod of a rollout) × (6 × 8 + 2) = 250
    // connections: more than the shared server's max_connections of 100 allows.
    let connections = check(&record, "preflight config_review connections");
    assert_eq!(connections["observed"].as_f64(), Some(250.0));
    assert_eq!(connections["status"], "fail", "{connections:#}");
    assert!(
        connections["message"]
            .as_str()
            .unwrap()
            .contains("odoo.yaml: HorizontalPodAutoscaler odoo spec.maxReplicas"),
        "{connections:#}"
    );
    let workers = check(&record, "preflight config_review workers");
    assert_eq!(workers["observed"].as_f64(), Some(24.0));
    assert_eq!(workers["fail"].as_f64(), Some((needed * 1.25).ceil()));
    assert_eq!(
        workers["status"],
        if 24.0 >= (needed * 1.25).ceil() {
            "pass"
        } else {
            "fail"
        }
    );
    // limit_time_real 120 s and Traefik's 180 s, far above a smoke step's p99.9.
    let time = check(&record, "preflight config_review time_limits");
    assert_eq!(time["status"], "pass", "{time:#}");
    assert_eq!(time["observed"].as_f64(), Some(120.0));
    assert!(
        time["message"].as_str().unwrap().contains("traefik.yaml: http.serversTransports.odoo.forwardingTimeouts.responseHeaderTimeout = 180s"),
        "{time:#}"
    );
    // What was read, field by field.
    let read = &record["configuration"];
    assert_eq!(
        read["postgres"]["target"],
        "postgres://postgres:***@127.0.0.1:5432/postgres"
    );
    assert_eq!(read["postgres"]["archive_mode"], "off");
    assert_eq!(read["postgres"]["replicas"], 0);
    assert!(read["postgres"]["max_connections"].as_u64().unwrap() > 0);
    let odoo = &read["odoo_conf"];
    assert!(
        odoo["path"]
            .as_str()
            .unwrap()
            .ends_with("examples/change/deploy/odoo.conf")
    );
    let k8s = &read["kubernetes"];
    for (section, key, want) in [
        (odoo, "workers", Value::from(6)),
        (odoo, "db_maxconn", Value::from(8)),
        (odoo, "max_cron_threads", Value::from(2)),
        (odoo, "limit_time_real_s", Value::from(120.0)),
        (k8s, "deployment", Value::from("odoo")),
        (k8s, "container", Value::from("odoo")),
        (k8s, "hpa", Value::from("odoo")),
        (k8s, "replicas", Value::from(2)),
        (k8s, "min_replicas", Value::from(2)),
        (k8s, "max_replicas", Value::from(4)),
        (k8s, "max_pods", Value::from(4)),
    ] {
        assert_eq!(section[key], want, "{key} in {section:#}");
    }
    assert_eq!(
        k8s["memory_limit_bytes"].as_f64(),
        Some(8.0 * 1024f64.powi(3))
    );
    assert_eq!(read["traefik"]["timeouts_s"][0][1].as_f64(), Some(180.0));
    assert_eq!(read["measured"]["workers_needed"].as_f64(), Some(needed));
    assert_eq!(
        read["measured"]["slowest_step"][0],
        capacity["runs"][0]["run_id"]
    );
    // Traefik's 300 requests/s against the smoke run's sized peak.
    let rate = check(&record, "preflight config_review rate_limits");
    assert_eq!(rate["observed"].as_f64(), Some(300.0));
    assert_eq!(rate["fail"], capacity["peak_request_rate_per_s"]);
    assert_eq!(record["verdict"], "fail");
    for file in ["change-record.json", "change-record.md"] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(
            !text.contains("gate-s3cret-pw"),
            "{file} holds the password"
        );
    }
    let md = std::fs::read_to_string(out.join("change-record.md")).unwrap();
    assert!(md.contains("- config_review workers: "), "{md}");

    let malformed = ws.write(
        "broken.json",
        "[{\"backup_name\": \"base_1\",\n  \"time\": 12}]",
    );
    let o = gate(&malformed, &ws.dir.path().join("record-2"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.json:2:"), "{stderr}");
}
