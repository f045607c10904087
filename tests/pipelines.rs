//! examples/pipelines: every file parses as YAML, the GitHub Actions and GitLab CI files pass
//! their schemas (check-jsonschema, PyPI, which .ci/run installs), every peakgate command and
//! flag they use is one `peakgate <command> --help` lists, and the exit codes they tell apart
//! are peakgate's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use peakgate::cli::Exit;
use serde_json::Value;

use crate::common::{peakgate, repo_file};

const FILES: [&str; 4] = [
    "github-actions.yml",
    "gitlab-ci.yml",
    "argo-rollouts-analysistemplate.yaml",
    "flagger-canary.yaml",
];

fn example(name: &str) -> PathBuf {
    repo_file(&format!("examples/pipelines/{name}"))
}

/// Every YAML document of a file, as JSON (ruamel.yaml, check-jsonschema's own parser).
fn documents(path: &Path) -> Vec<Value> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, json\nfrom ruamel.yaml import YAML\nprint(json.dumps(list(YAML(typ='safe').load_all(open(sys.argv[1])))))",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{} does not parse: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The peakgate invocations of a file: shell lines (`peakgate run ... \` continued) and
/// container `args: [run, ...]` lists of the peakgate image. (command, its flags).
fn invocations(text: &str) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let tokens: Vec<String> = if let Some(at) = line
            .find("peakgate ")
            .filter(|_| !line.trim_start().starts_with('#'))
        {
            let mut joined = line[at + "peakgate ".len()..].to_string();
            while joined.trim_end().ends_with('\\') && i + 1 < lines.len() {
                i += 1;
                joined = format!("{} {}", joined.trim_end().trim_end_matches('\\'), lines[i]);
            }
            joined.split_whitespace().map(str::to_string).collect()
        } else if let Some(list) = line.trim().strip_prefix("args: [") {
            list.trim_end_matches(']')
                .split(',')
                .map(|t| t.trim().trim_matches('"').to_string())
                .collect()
        } else {
            i += 1;
            continue;
        };
        i += 1;
        let Some(first) = tokens.first() else {
            continue;
        };
        let known = [
            "run", "verdict", "history", "store", "serve", "report", "gate", "check",
        ];
        if !known.contains(&first.as_str()) {
            continue;
        }
        let command = if first == "store" {
            format!("store {}", tokens[1])
        } else {
            first.clone()
        };
        let flags = tokens
            .iter()
            .filter(|t| t.starts_with("--"))
            .map(|t| t.split('=').next().unwrap().to_string())
            .collect();
        found.push((command, flags));
    }
    found
}

#[test]
fn the_pipeline_examples_parse_pass_their_schemas_and_use_real_flags() {
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    for name in FILES {
        let path = example(name);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!documents(&path).is_empty(), "{name} is empty");
        let used = invocations(&text);
        assert!(!used.is_empty(), "{name} runs no peakgate command");
        for (command, flags) in used {
            let help = helps.entry(command.clone()).or_insert_with(|| {
                let out = peakgate()
                    .args(command.split(' '))
                    .arg("--help")
                    .output()
                    .unwrap();
                assert!(out.status.success(), "peakgate {command} --help");
                String::from_utf8(out.stdout).unwrap()
            });
            for flag in flags {
                assert!(
                    [" ", "\n", ","]
                        .iter()
                        .any(|end| help.contains(&format!("{flag}{end}"))),
                    "{name}: `peakgate {command}` has no flag {flag}"
                );
            }
        }
    }
    for (name, schema) in [
        ("github-actions.yml", "vendor.github-workflows"),
        ("gitlab-ci.yml", "vendor.gitlab-ci"),
    ] {
        let out = Command::new("check-jsonschema")
            .args(["--builtin-schema", schema])
            .arg(example(name))
            .output()
            .expect("check-jsonschema is needed for this test: pip install check-jsonschema (.ci/run installs it)");
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_examples_fail_on_a_failed_gate_and_treat_inconclusive_and_interrupted_apart() {
    let (failed, stopped, inconclusive) = (
        Exit::GateFailed as i64,
        Exit::Stopped as i64,
        Exit::Inconclusive as i64,
    );
    // GitLab: an interrupted run is retried, an inconclusive one allowed to fail (a warning),
    // a failed gate fails the job; junit.xml and the run folders are kept either way.
    let gitlab = &documents(&example("gitlab-ci.yml"))[0]["scaling-gate"];
    assert_eq!(gitlab["retry"]["exit_codes"], serde_json::json!([stopped]));
    assert_eq!(
        gitlab["allow_failure"]["exit_codes"],
        serde_json::json!([inconclusive])
    );
    assert_eq!(gitlab["artifacts"]["when"], "always");
    assert!(
        gitlab["artifacts"]["reports"]["junit"]
            .as_str()
            .unwrap()
            .ends_with("junit.xml")
    );

    // GitHub Actions: 4 is run again once; the last step fails the job on 1, 3 and 4 with
    // different messages.
    let gh = &documents(&example("github-actions.yml"))[0]["jobs"]["gate"]["steps"];
    let steps = gh.as_array().unwrap();
    let retry = steps.iter().find(|s| s["id"] == "retry").unwrap();
    assert_eq!(
        retry["if"],
        format!("steps.gate.outputs.code == '{inconclusive}'")
    );
    let decide = steps.last().unwrap()["run"].as_str().unwrap().to_string();
    for code in [failed, stopped, inconclusive] {
        let arm = decide
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{code})")))
            .unwrap_or_else(|| panic!("no case for exit {code}"));
        assert!(arm.contains("exit 1"), "{arm}");
    }
    assert!(steps.iter().any(|s| {
        s["with"]["report_paths"]
            .as_str()
            .is_some_and(|p| p.ends_with("junit.xml"))
    }));

    // Argo Rollouts: the Job's pod failure policy fails at once on a failed gate and runs
    // the pod again on an interrupted or inconclusive run.
    let argo = &documents(&example("argo-rollouts-analysistemplate.yaml"))[0];
    assert_eq!(argo["kind"], "AnalysisTemplate");
    let job = &argo["spec"]["metrics"][0]["provider"]["job"]["spec"];
    let rules = job["podFailurePolicy"]["rules"].as_array().unwrap();
    let codes = |action: &str| {
        rules.iter().find(|r| r["action"] == action).unwrap()["onExitCodes"]["values"].clone()
    };
    assert_eq!(
        codes("FailJob"),
        serde_json::json!([failed, Exit::BadInput as i64, Exit::Internal as i64])
    );
    assert_eq!(codes("Count"), serde_json::json!([stopped, inconclusive]));
    assert_eq!(job["template"]["spec"]["restartPolicy"], "Never");

    // Flagger: a pre-rollout webhook whose metadata names a shipped profile, with only the
    // keys `peakgate serve` reads.
    let flagger = documents(&example("flagger-canary.yaml"));
    let canary = flagger.iter().find(|d| d["kind"] == "Canary").unwrap();
    let hook = &canary["spec"]["analysis"]["webhooks"][0];
    assert_eq!(hook["type"], "pre-rollout");
    let meta = hook["metadata"].as_object().unwrap();
    assert!(
        meta.keys()
            .all(|k| ["profile", "release", "baseline"].contains(&k.as_str()))
    );
    // The profile it names is in the served ConfigMap, names its target, and reads the
    // scenarios the image ships.
    let profile = meta["profile"].as_str().unwrap();
    let dockerfile = std::fs::read_to_string(repo_file("Dockerfile")).unwrap();
    for (file, docs, profile) in [
        ("flagger-canary.yaml", flagger.clone(), profile.to_string()),
        (
            "argo-rollouts-analysistemplate.yaml",
            documents(&example("argo-rollouts-analysistemplate.yaml")),
            "staging-smoke".to_string(),
        ),
    ] {
        let cm = docs
            .iter()
            .find(|d| d["kind"] == "ConfigMap")
            .unwrap_or_else(|| panic!("{file}: no profiles ConfigMap"));
        let text = cm["data"][format!("{profile}.toml")]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no {profile}.toml"));
        let toml: toml::Value = toml::from_str(text).unwrap();
        assert!(toml["target"]["url"].is_str(), "{file}: no [target] url");
        let dir = toml["scenarios_dir"].as_str().unwrap();
        assert!(
            dockerfile.contains(&format!("COPY scenarios {dir}")),
            "{file}: scenarios_dir {dir} is not where the image has them"
        );
    }
    // serve's store credentials come from a Secret, as the other examples'.
    let deploy = flagger.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let env = deploy["spec"]["template"]["spec"]["containers"][0]["env"].to_string();
    assert!(env.contains("AWS_SECRET_ACCESS_KEY") && env.contains("secretKeyRef"));
    assert!(flagger.iter().any(|d| d["kind"] == "NetworkPolicy"));
}

/// The CI examples build peakgate on the runner (the distroless image has no shell) and run a
/// profile that names its staging server: one peakgate builds a plan of offline (`k8s job`
/// refuses one with no target or a host the profile does not name).
#[test]
fn the_ci_examples_run_a_profile_naming_their_target_outside_the_image() {
    for name in ["github-actions.yml", "gitlab-ci.yml"] {
        let text = std::fs::read_to_string(example(name)).unwrap();
        assert!(
            !text.contains("ghcr.io/acme/peakgate"),
            "{name} runs in the image"
        );
        assert!(text.contains("cargo install --locked --path ."), "{name}");
        assert!(
            text.contains("PROFILE: examples/pipelines/staging.toml"),
            "{name}"
        );
        // An empty store is seeded: --baseline only once `history` lists an accepted run.
        assert!(text.contains("peakgate history --json"), "{name}");
    }
    let out = tempfile::tempdir().unwrap();
    let o = peakgate()
        .args([
            "k8s",
            "job",
            "--shards",
            "1",
            "--image",
            "peakgate:dev",
            "--profile",
        ])
        .arg(example("staging.toml"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
