use super::*;

fn spec() -> JobSpec {
    JobSpec {
        name: "peakgate-smoke".into(),
        run: "261201172500".into(),
        image: "registry.example/peakgate:0.1.0".into(),
        shards: 4,
        parallelism: 4,
        profile: "profiles/smoke.toml".into(),
        files: vec![
            ConfigFile {
                path: "profiles/smoke.toml".into(),
                text: "name = \"smoke\"\n".into(),
            },
            ConfigFile {
                path: "scenarios/data/barcodes.csv".into(),
                text: "barcode\n1\n".into(),
            },
        ],
        secrets: vec![
            SecretEnv {
                var: "ODOO_PASSWORD".into(),
                optional: false,
            },
            SecretEnv {
                var: "PEAKGATE_PG_URL".into(),
                optional: true,
            },
        ],
        secret_name: "peakgate-smoke-secrets".into(),
        run_flags: vec!["--target".into(), "http://odoo:8069".into()],
        start_at: "every:1m".into(),
        results_claim: "peakgate-results".into(),
        merge_wait: "15m 15s".into(),
        store: Some("s3://bucket/runs".into()),
        store_secret: Some("store-creds".into()),
    }
}

#[test]
fn the_indexed_job_runs_each_index_as_its_shard_and_never_more_pods_than_shards() {
    let m = spec().manifests().unwrap();
    let job = &m["shards-job.yaml"];
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 4);
    assert_eq!(job["spec"]["parallelism"], 4);
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(at("--shard"), "$(JOB_COMPLETION_INDEX)/4");
    assert_eq!(at("--start-at"), "every:1m");
    assert_eq!(at("--profile"), "/etc/peakgate/profiles/smoke.toml");
    assert_eq!(at("--target"), "http://odoo:8069");
    assert_eq!(at("--out"), "/results/peakgate-smoke/261201172500/shards");
    // Each set of manifests is its own run: its Jobs and folder are named by it, so
    // re-applying one made later never sees the earlier run's shards.
    assert_eq!(
        job["metadata"]["name"],
        "peakgate-smoke-261201172500-shards"
    );
    assert_eq!(
        m["merge-job.yaml"]["metadata"]["name"],
        "peakgate-smoke-261201172500-merge"
    );
    let mut later = spec();
    later.run = "261201180000".into();
    let later = later.manifests().unwrap();
    assert_ne!(
        later["shards-job.yaml"]["metadata"]["name"],
        job["metadata"]["name"]
    );
    let mut more = spec();
    more.parallelism = 5;
    assert!(matches!(
        more.manifests(),
        Err(K8sError::Parallelism { .. })
    ));
}

#[test]
fn secrets_are_referenced_by_name_and_never_carry_a_value() {
    let m = spec().manifests().unwrap();
    let env = &m["shards-job.yaml"]["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env[0]["name"], "ODOO_PASSWORD");
    assert_eq!(
        env[0]["valueFrom"]["secretKeyRef"],
        json!({"name": "peakgate-smoke-secrets", "key": "ODOO_PASSWORD", "optional": false})
    );
    assert_eq!(env[1]["valueFrom"]["secretKeyRef"]["optional"], true);
    assert!(env[0].get("value").is_none());
    // The store's location is configuration; its credentials come from a Secret.
    assert_eq!(
        env[2],
        json!({"name": "PEAKGATE_STORE", "value": "s3://bucket/runs"})
    );
    let merge = &m["merge-job.yaml"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(merge["envFrom"][0]["secretRef"]["name"], "store-creds");
}

#[test]
fn the_config_map_puts_every_file_back_at_its_path() {
    let m = spec().manifests().unwrap();
    let data = m["configmap.yaml"]["data"].as_object().unwrap();
    assert_eq!(data["f1-scenarios_data_barcodes.csv"], "barcode\n1\n");
    let items =
        &m["merge-job.yaml"]["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"];
    assert_eq!(
        items[1],
        json!({"key": "f1-scenarios_data_barcodes.csv", "path": "scenarios/data/barcodes.csv"})
    );
}

#[test]
fn the_merge_job_waits_for_every_shard_on_the_shared_volume() {
    let m = spec().manifests().unwrap();
    let args = &m["merge-job.yaml"]["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(
        args,
        &json!([
            "merge",
            "/results/peakgate-smoke/261201172500/shards",
            "--expect",
            "4",
            "--wait",
            "15m 15s",
            "--out",
            "/results/peakgate-smoke/261201172500/merged"
        ])
    );
}

#[test]
fn names_and_sizes_a_cluster_refuses_are_refused_here() {
    let mut s = spec();
    s.name = "Peakgate_Smoke".into();
    assert!(matches!(s.manifests(), Err(K8sError::Name(_))));
    let mut s = spec();
    s.files[1].text = "x".repeat(CONFIGMAP_LIMIT);
    let e = s.manifests().unwrap_err().to_string();
    assert!(e.contains("scenarios/data/barcodes.csv"), "{e}");
    assert_eq!(name_from("Peak Season 2026!"), "peakgate-peak-season-2026");
    let long = name_from(&"a".repeat(100));
    assert!(long.len() <= 39, "{long}");
    let mut s = spec();
    s.name = long;
    let m = s.manifests().unwrap();
    // A Job's name, and its pods' hostnames (`<job>-<index>`), fit in 63 characters.
    let job = m["shards-job.yaml"]["metadata"]["name"].as_str().unwrap();
    assert!(job.len() + "-999".len() <= 63, "{job}");
    let mut s = spec();
    s.run = "../x".into();
    assert!(matches!(s.manifests(), Err(K8sError::Run(_))));
}

#[test]
fn files_keep_their_layout_below_their_common_folder() {
    let paths = [
        PathBuf::from("/repo/profiles/smoke.toml"),
        PathBuf::from("/repo/scenarios/a.toml"),
        PathBuf::from("/repo/scenarios/data/b.csv"),
    ];
    assert_eq!(
        relative_layout(&paths),
        [
            "profiles/smoke.toml",
            "scenarios/a.toml",
            "scenarios/data/b.csv"
        ]
    );
}

#[test]
fn the_yaml_reads_back_as_the_manifest() {
    let m = spec().manifests().unwrap();
    let text = to_yaml(&m["shards-job.yaml"]).unwrap();
    let back: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(back, m["shards-job.yaml"]);
    assert!(text.contains("completionMode: Indexed"), "{text}");
}
