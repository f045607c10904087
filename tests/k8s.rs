//! `peakgate k8s job` and the Dockerfile: manifests a cluster accepts (validated against the
//! Kubernetes API schemas by `kubernetes-validate`, from PyPI, installed by `.ci/run`), and an
//! image that builds in stages and runs as a non-root user (the Dockerfile parsed by
//! `dockerfile`, from PyPI: BuildKit's own parser).

use std::path::Path;

use serde_json::Value;

use crate::common::{Workspace, peakgate, repo_file, scenarios_dir};

/// A workspace holding a profile with a [target] and the repository's scenarios beside it, as
/// a repository lays them out (`profiles/`, `scenarios/`).
fn workspace() -> (Workspace, std::path::PathBuf) {
    let ws = Workspace::new();
    let profile = ws.write(
        "profiles/staging.toml",
        "name = \"staging-peak\"\nenvironment = \"staging\"\n\
         [target]\nurl = \"http://odoo-staging.shop.svc:8069\"\npassword_env = \"STAGING_ODOO_PASSWORD\"\n\
         [load]\n[[load.stage]]\nduration = \"2m\"\nrate = 40\n\
         [mix]\npos_order_sync = 3\necommerce_cart = 1\n\
         [probes.postgres]\nurl_env = \"STAGING_PG_URL\"\noptional = true\n",
    );
    for dir in ["scenarios", "scenarios/data"] {
        let from = if dir == "scenarios" {
            scenarios_dir()
        } else {
            scenarios_dir().join("data")
        };
        let Ok(entries) = std::fs::read_dir(&from) else {
            continue;
        };
        for e in entries.map(Result::unwrap).filter(|e| e.path().is_file()) {
            let text = std::fs::read_to_string(e.path()).unwrap();
            ws.write(&format!("{dir}/{}", e.file_name().to_string_lossy()), &text);
        }
    }
    (ws, profile)
}

fn validate(files: &[&Path]) -> std::process::Output {
    std::process::Command::new("python3")
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "--kubernetes-version",
            "1.33.0",
        ])
        .args(files)
        .output()
        .expect("python3 runs (with kubernetes-validate: pip install kubernetes-validate)")
}

#[test]
fn k8s_job_writes_manifests_the_kubernetes_schemas_accept() {
    let (ws, profile) = workspace();
    let out = ws.dir.path().join("k8s");
    let o = peakgate()
        .args([
            "k8s",
            "job",
            "--shards",
            "4",
            "--image",
            "registry.example/peakgate:0.1.0",
        ])
        .args([
            "--release",
            "17.0.42",
            "--store",
            "s3://peakgate-runs/staging",
        ])
        .arg("--profile")
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let names = ["configmap.yaml", "shards-job.yaml", "merge-job.yaml"];
    let files: Vec<_> = names.iter().map(|n| out.join(n)).collect();
    let v = validate(&files.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    let said = String::from_utf8_lossy(&v.stdout).to_string() + &String::from_utf8_lossy(&v.stderr);
    assert!(v.status.success(), "{said}");
    assert!(!said.contains("ERROR"), "{said}");

    let read = |n: &str| -> Value {
        serde_saphyr::from_str::<Value>(&std::fs::read_to_string(out.join(n)).unwrap()).unwrap()
    };
    let job = read("shards-job.yaml");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(
        (spec["completions"].as_u64(), spec["parallelism"].as_u64()),
        (Some(4), Some(4))
    );
    let c = &spec["template"]["spec"]["containers"][0];
    let args: Vec<String> = serde_json::from_value(c["args"].clone()).unwrap();
    // The run made at `k8s job` time names the Jobs and the shards' folder.
    let job_name = job["metadata"]["name"].as_str().unwrap();
    let run = job_name
        .strip_prefix("peakgate-staging-peak-")
        .and_then(|r| r.strip_suffix("-shards"))
        .unwrap_or_else(|| panic!("{job_name}"));
    assert!(
        run.len() == 12 && run.bytes().all(|b| b.is_ascii_digit()),
        "{run}"
    );
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--out"
                && w[1] == format!("/results/peakgate-staging-peak/{run}/shards")),
        "{args:?}"
    );
    assert!(
        args.windows(2)
            .any(|w| w == ["--shard", "$(JOB_COMPLETION_INDEX)/4"]),
        "{args:?}"
    );
    assert!(
        args.windows(2)
            .any(|w| w == ["--profile", "/etc/peakgate/profiles/staging.toml"]),
        "{args:?}"
    );
    // The password and the probe's URL by reference only: no value anywhere.
    let env = c["env"].as_array().unwrap();
    let by = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {env:?}"))
    };
    assert_eq!(
        by("STAGING_ODOO_PASSWORD")["valueFrom"]["secretKeyRef"]["name"],
        "peakgate-staging-peak-secrets"
    );
    assert_eq!(
        by("STAGING_PG_URL")["valueFrom"]["secretKeyRef"]["optional"],
        true
    );
    assert_eq!(by("PEAKGATE_STORE")["value"], "s3://peakgate-runs/staging");
    assert_eq!(
        job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
    // The ConfigMap carries the profile and every scenario, at the paths the profile uses.
    let cm = read("configmap.yaml");
    let items =
        &read("merge-job.yaml")["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"];
    let paths: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"profiles/staging.toml")
            && paths.contains(&"scenarios/pos_order_sync.toml"),
        "{paths:?}"
    );
    assert_eq!(cm["data"].as_object().unwrap().len(), paths.len());
    let merge_args = &read("merge-job.yaml")["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(merge_args[0], "merge");
    assert_eq!(merge_args[3], "4");

    // The validator is no rubber stamp: a Job with a field the schema lacks is refused.
    let broken = ws.write(
        "broken.yaml",
        &std::fs::read_to_string(out.join("shards-job.yaml"))
            .unwrap()
            .replace(
                "completionMode: Indexed",
                "completionMode: Indexed\n  shardCount: 4",
            ),
    );
    assert!(!validate(&[&broken]).status.success());
}

#[test]
fn k8s_job_refuses_an_absolute_scenarios_path_a_pod_cannot_see() {
    let ws = Workspace::new();
    let p = ws.profile("abs", "name = \"abs\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"5s\"\nrate = 1\n[mix]\nproduct_search = 1\n");
    let o = peakgate()
        .args([
            "k8s",
            "job",
            "--shards",
            "2",
            "--image",
            "peakgate:dev",
            "--target",
            "http://127.0.0.1:8069",
            "--profile",
        ])
        .arg(&p)
        .arg("--out")
        .arg(ws.dir.path().join("k8s"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("scenarios_dir"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn k8s_job_refuses_a_run_without_a_target_or_one_starting_in_the_past() {
    let ws = Workspace::new();
    let p = ws.profile("bare", "name = \"bare\"\nenvironment = \"staging\"\n[load]\n[[load.stage]]\nduration = \"5s\"\nrate = 1\n[mix]\nproduct_search = 1\n");
    let (_staging_ws, staging) = workspace();
    for (profile, extra, said) in [
        // No [target] and no --target: each pod would load its own stand-in.
        (&p, vec![], "no target"),
        (
            &staging,
            vec!["--start-at", "2020-01-01T00:00:00Z"],
            "is past",
        ),
    ] {
        let out = ws.dir.path().join("k8s-refused");
        let o = peakgate()
            .args(["k8s", "job", "--shards", "2", "--image", "peakgate:dev"])
            .args(extra)
            .arg("--profile")
            .arg(profile)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(said), "{err}");
        assert!(!out.exists(), "no manifests are written");
    }
}

/// The Dockerfile, read by BuildKit's parser: a build stage and a small runtime stage, a
/// non-root user, the results volume the manifests mount, and peakgate as the entrypoint.
#[test]
fn the_dockerfile_builds_in_stages_and_runs_as_a_non_root_user() {
    let script = r#"
import sys, json, dockerfile
cmds = [{"cmd": c.cmd.upper(), "value": list(c.value), "flags": list(c.flags)} for c in dockerfile.parse_file(sys.argv[1])]
print(json.dumps(cmds))
"#;
    let o = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(repo_file("Dockerfile"))
        .output()
        .expect("python3 runs (pip install dockerfile)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cmds: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let of = |cmd: &str| cmds.iter().filter(|c| c["cmd"] == cmd).collect::<Vec<_>>();
    let froms = of("FROM");
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    // The runtime stage: everything after the last FROM.
    let last = cmds.iter().rposition(|c| c["cmd"] == "FROM").unwrap();
    let runtime = &cmds[last..];
    let base = runtime[0]["value"][0].as_str().unwrap();
    assert!(
        base.contains("distroless") || base.contains("slim"),
        "small runtime base: {base}"
    );
    let user = runtime
        .iter()
        .rev()
        .find(|c| c["cmd"] == "USER")
        .expect("a USER in the runtime stage");
    let user = user["value"][0].as_str().unwrap();
    assert!(
        !user.is_empty() && user != "root" && !user.starts_with("0"),
        "non-root user: {user}"
    );
    assert!(
        runtime.iter().any(|c| c["cmd"] == "COPY"
            && c["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.as_str().unwrap().starts_with("--from="))),
        "the binary is copied from the build stage"
    );
    assert!(
        runtime
            .iter()
            .any(|c| c["cmd"] == "VOLUME" && c["value"].to_string().contains("/results")),
        "results volume"
    );
    let entry = runtime
        .iter()
        .find(|c| c["cmd"] == "ENTRYPOINT")
        .expect("ENTRYPOINT");
    assert!(
        entry["value"][0].as_str().unwrap().ends_with("peakgate"),
        "{entry}"
    );
}
