//! `peakgate k8s job`: the Kubernetes manifests of a sharded run of a profile, written as
//! YAML files: a ConfigMap of the profile's files, an Indexed Job of shards, a merge Job.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{Exit, UsageError, parse_duration, parse_scale};
use crate::config::profile::ProfileSource;
use crate::k8s::{ConfigFile, JobSpec, SecretEnv, name_from, relative_layout};
use crate::plan::shard::StartAt;
use crate::plan::{Overrides, Plan, Target};
use crate::result::write_atomic;
use crate::target::data::DataSets;

#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Write the manifests of a sharded run: a ConfigMap holding the profile, scenarios and
    /// data; an Indexed Job of N shards; a merge Job that waits for them and judges the run.
    Job(K8sJobArgs),
}

#[derive(Debug, Args)]
pub struct K8sJobArgs {
    /// The profile to run (profiles/*.toml).
    #[arg(long, short, value_name = "FILE")]
    pub profile: PathBuf,
    /// Shards: pods of the Indexed Job, each running every N-th journey.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub shards: u32,
    /// The peakgate image (built from the Dockerfile), e.g. registry.example/peakgate:0.1.0.
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// Folder the manifests are written to.
    #[arg(long, value_name = "DIR", default_value = "k8s")]
    pub out: PathBuf,
    /// Base of the objects' names (default: peakgate-<profile name>).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Shard pods at once (default: all N; fewer makes shards start apart, and the merged
    /// verdict inconclusive).
    #[arg(long, value_name = "N")]
    pub parallelism: Option<u32>,
    /// The Secret holding the variables the profile reads secrets from (default:
    /// <name>-secrets); its keys are the variables' names.
    #[arg(long, value_name = "NAME")]
    pub secret: Option<String>,
    /// A ReadWriteMany PersistentVolumeClaim the shards and the merge share (/results).
    #[arg(long, value_name = "NAME", default_value = "peakgate-results")]
    pub results_claim: String,
    /// The shards' common start (`run --start-at`): an RFC 3339 instant, or `every:DURATION`,
    /// the next whole period after the pods start.
    #[arg(long, value_name = "TIME", default_value = "every:1m")]
    pub start_at: String,
    /// How long the merge Job waits for the shards (default: the plan's duration + 15m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub merge_wait: Option<Duration>,
    /// The results store's location, passed to every pod as PEAKGATE_STORE.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// A Secret with the results store's credentials, passed to every pod with envFrom.
    #[arg(long, value_name = "NAME")]
    pub store_secret: Option<String>,
    /// Drive this Odoo (run --target).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Label of the release under test (run --release).
    #[arg(long, value_name = "LABEL")]
    pub release: Option<String>,
    /// The Odoo database (run --database).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// The plan's seed (run --seed); every shard must have the same.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Multiply every arrival rate (run --rate-scale).
    #[arg(long, value_name = "X", value_parser = parse_scale)]
    pub rate_scale: Option<f64>,
    /// Stretch or cut the plan (run --duration).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The merge exits 1 on warn.
    #[arg(long)]
    pub fail_on_warn: bool,
}

/// Runs `peakgate k8s ...`.
pub fn k8s(command: K8sCommand) -> anyhow::Result<Exit> {
    match command {
        K8sCommand::Job(args) => job(args),
    }
}

fn job(args: K8sJobArgs) -> anyhow::Result<Exit> {
    let start_at = args
        .start_at
        .parse::<StartAt>()
        .map_err(|e| UsageError(format!("--start-at {e}")))?;
    // Every pod would refuse a start already past (exit 2): say so now, before anything is
    // applied.
    if let StartAt::At(t) = start_at
        && t <= std::time::SystemTime::now()
    {
        return Err(UsageError(format!(
            "--start-at {}: that instant is past, and every shard would refuse it; give a later one, or `every:DURATION`",
            args.start_at
        ))
        .into());
    }
    let src = ProfileSource::read(&args.profile)?;
    let overrides = Overrides {
        target: args.target.clone(),
        release: args.release.clone(),
        duration: args.duration,
        rate_scale: args.rate_scale,
        seed: args.seed,
        database: args.database.clone(),
        secrets_elsewhere: true,
        ..Overrides::default()
    };
    // The plan must build here as it will in the pods (their secrets are theirs alone).
    let plan = Plan::build(&src, &overrides, &DataSets::offline())?;
    // Without a target each shard pod would start and load its own in-process stand-in: a
    // run that touches nothing of the cluster's.
    if let Target::StandIn { .. } = plan.target {
        return Err(UsageError(format!(
            "{}: no target: give --target URL or a [target] url in the profile (a sharded run on Kubernetes drives an Odoo, never the built-in stand-in)",
            src.path.display()
        ))
        .into());
    }
    let (files, profile) = config_files(&src)?;
    let name = args.name.clone().unwrap_or_else(|| name_from(&plan.name));
    let mut run_flags = Vec::new();
    let mut flag = |f: &str, v: Option<String>| {
        if let Some(v) = v {
            run_flags.extend([f.to_string(), v]);
        }
    };
    flag("--target", args.target.clone());
    flag("--release", args.release.clone());
    flag("--database", args.database.clone());
    flag("--seed", args.seed.map(|s| s.to_string()));
    flag("--rate-scale", args.rate_scale.map(|s| s.to_string()));
    flag(
        "--duration",
        args.duration
            .map(|d| humantime::format_duration(d).to_string()),
    );
    if args.fail_on_warn {
        run_flags.push("--fail-on-warn".into());
    }
    let wait = args
        .merge_wait
        .unwrap_or(plan.duration() + Duration::from_secs(15 * 60));
    // The run of this set of manifests (UTC, to the second): in the Jobs' names and the
    // results paths, so that the shards of another run are never merged into this one.
    let run = jiff::Timestamp::now().strftime("%y%m%d%H%M%S").to_string();
    let spec = JobSpec {
        run,
        secret_name: args.secret.clone().unwrap_or(format!("{name}-secrets")),
        name,
        image: args.image.clone(),
        shards: args.shards,
        parallelism: args.parallelism.unwrap_or(args.shards),
        profile,
        files,
        secrets: secret_envs(&src, &plan),
        run_flags,
        start_at: args.start_at.clone(),
        results_claim: args.results_claim.clone(),
        merge_wait: humantime::format_duration(Duration::from_secs(wait.as_secs())).to_string(),
        store: args.store.clone(),
        store_secret: args.store_secret.clone(),
    };
    let manifests = spec.manifests().map_err(|e| UsageError(e.to_string()))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for (file, doc) in &manifests {
        let path = args.out.join(file);
        let yaml = crate::k8s::to_yaml(doc).context("cannot render YAML")?;
        write_atomic(&path, yaml.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    eprintln!(
        "peakgate: run {} of {}: the merged run folder will be under {}/{}/{}/merged",
        spec.run,
        spec.name,
        crate::k8s::RESULTS_DIR,
        spec.name,
        spec.run
    );
    if !spec.secrets.is_empty() {
        let vars: Vec<&str> = spec.secrets.iter().map(|s| s.var.as_str()).collect();
        eprintln!(
            "peakgate: the shards read {} from the Secret `{}` (create it before applying: kubectl create secret generic {} --from-literal={}=...)",
            vars.join(", "),
            spec.secret_name,
            spec.secret_name,
            vars[0]
        );
    }
    Ok(Exit::Pass)
}

/// Every file a run of the profile reads, and the profile's own path among them: the profile,
/// its scenarios and their data folder, its `[data]` files and its stand-in config.
fn config_files(src: &ProfileSource) -> anyhow::Result<(Vec<ConfigFile>, String)> {
    // The pods see the files at their paths relative to one another: an absolute path in the
    // profile would point into this machine.
    let f = &src.file;
    let named = [
        ("scenarios_dir", f.scenarios_dir.clone()),
        ("[standin] config", f.standin.config.clone()),
    ]
    .into_iter()
    .chain(
        f.data
            .iter()
            .map(|(k, v)| ("[data]", Some(format!("{k} = {}", v.get_ref())))),
    );
    for (key, value) in named {
        if let Some(v) = value
            && (Path::new(&v).is_absolute() || v.contains("= /"))
        {
            return Err(UsageError(format!(
                "{}: {key} `{v}` is an absolute path, which a pod cannot see: make it relative to the profile",
                src.path.display()
            ))
            .into());
        }
    }
    let mut paths = vec![absolute(&src.path)];
    let scenarios = src.scenarios_dir();
    for dir in [scenarios.clone(), scenarios.join("data")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        paths.extend(found.iter().map(|p| absolute(p)));
    }
    for file in src.file.data.values() {
        paths.push(absolute(&src.base.join(file.get_ref())));
    }
    if let Some(c) = &src.file.standin.config {
        paths.push(absolute(&src.base.join(c)));
    }
    let mut seen = std::collections::HashSet::new();
    paths.retain(|p| seen.insert(p.clone()));
    let layout = relative_layout(&paths);
    let mut files = Vec::new();
    for (path, rel) in paths.iter().zip(&layout) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read it for the ConfigMap", path.display()))?;
        files.push(ConfigFile {
            path: rel.clone(),
            text,
        });
    }
    Ok((files, layout[0].clone()))
}

/// The variables the run reads secrets from: the target's password (when it drives an Odoo)
/// and the probes' URLs named by `url_env`.
fn secret_envs(src: &ProfileSource, plan: &Plan) -> Vec<SecretEnv> {
    let mut out = Vec::new();
    if let Target::Odoo { password_env, .. } = &plan.target {
        out.push(SecretEnv {
            var: password_env.clone(),
            optional: false,
        });
    }
    let p = &src.file.probes;
    let probes = [
        p.postgres
            .as_ref()
            .map(|x| (x.get_ref().url_env.as_ref(), x.get_ref().optional)),
        p.redis
            .as_ref()
            .map(|x| (x.get_ref().url_env.as_ref(), x.get_ref().optional)),
        p.prometheus
            .as_ref()
            .map(|x| (x.get_ref().url_env.as_ref(), x.get_ref().optional)),
    ];
    for (var, optional) in probes.into_iter().flatten() {
        if let Some(var) = var {
            out.push(SecretEnv {
                var: var.get_ref().clone(),
                optional,
            });
        }
    }
    out
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p)
        .or_else(|_| std::path::absolute(p))
        .unwrap_or_else(|_| p.to_path_buf())
}
