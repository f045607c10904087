//! `peakgate merge`: the shards of one sharded run (`run --shard I/N`) made into one run
//! folder, judged by the shards' gate the way `peakgate run` judges a run.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{Exit, InputError};
use crate::metrics::hlog::HlogWriter;
use crate::result::merge::{MergeError, Merged, ShardRun, merge as merge_shards};
use crate::result::{PROFILE_COPY, RunDir, new_run_id, write_atomic};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' run folders (each made by `peakgate run --shard I/N`), or folders holding
    /// them (every sub-folder with a run.json is a shard).
    #[arg(value_name = "RUN_DIR", required = true)]
    pub runs: Vec<PathBuf>,
    /// The shards to wait for: with --wait, poll until this many have written run.json.
    #[arg(long, value_name = "N")]
    pub expect: Option<usize>,
    /// How long to wait for --expect shards before merging those there are (a shard still
    /// missing then is named in the verdict, which is inconclusive).
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration, requires = "expect")]
    pub wait: Option<Duration>,
    /// Folder the merged run folder is created in, as `run --out`.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// A run folder of the accepted release, or `last-accepted` (the newest passing run of
    /// the same profile, target and tenant in the results store): compare the merged run
    /// with it step by step.
    #[arg(long, value_name = "DIR|last-accepted")]
    pub baseline: Option<PathBuf>,
    /// The results store the merged run is put into, and `last-accepted` is looked up in.
    #[command(flatten)]
    pub store: super::store::StoreArgs,
    /// Exit 1 when the verdict is warn.
    #[arg(long)]
    pub fail_on_warn: bool,
    /// Only the merged run folder's path on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `peakgate merge`.
pub fn merge(args: MergeArgs) -> anyhow::Result<Exit> {
    let dirs = wait_for_shards(&args)?;
    let shards = dirs
        .iter()
        .map(|d| ShardRun::open(d))
        .collect::<Result<Vec<_>, MergeError>>()?;
    let first = &shards[0].result;
    let candidate = super::store::Candidate::of(first, false);
    let baseline = args
        .baseline
        .as_deref()
        .map(|flag| super::store::open_baseline(flag, &args.store, &candidate))
        .transpose()?;
    let name = shards[0].result.profile.name.clone();
    let first_start = shards
        .iter()
        .filter_map(|s| humantime::parse_rfc3339(&s.result.started_at).ok())
        .min()
        .unwrap_or_else(std::time::SystemTime::now);
    let run_id = new_run_id(&name, first_start);
    let out_was_there = args.out.exists();
    let dir = super::create_run_dir(&args.out, &run_id)?;
    let merged = match merge_into(&dir, shards, run_id, first_start) {
        Ok(m) => m,
        Err(e) => {
            // Shards that do not make one run are judged nowhere: no folder is left.
            let _ = std::fs::remove_dir_all(&dir.path);
            if !out_was_there {
                let _ = std::fs::remove_dir(&args.out);
            }
            return Err(e);
        }
    };
    write_merged(&dir, &merged)?;
    let (result, mut verdict) =
        super::judge::judge_and_write(&dir.path, &merged.gate, baseline.as_ref().map(|b| &b.run))?;
    super::store::record_choice(baseline, &dir.path, &result, &mut verdict)?;
    if args.store.url.is_some() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime that writes to the results store")?;
        args.store.put_if_named(&dir.path, &runtime)?;
    }
    if args.quiet {
        println!("{}", dir.path.display());
    } else {
        if let Some(m) = &result.merge {
            println!(
                "merged {} of {} shard(s), started within {:.3}s{}",
                m.shards.len(),
                m.count,
                m.start_spread_s,
                if m.missing.is_empty() {
                    String::new()
                } else {
                    format!("; missing: {:?}", m.missing)
                }
            );
        }
        print!("{}", super::run::summary(&result, &dir));
        println!("{}", super::judge::verdict_line(&verdict));
    }
    Ok(super::judge::exit_for(&result, &verdict, args.fail_on_warn))
}

/// The run folders among the arguments: a run folder itself, or each sub-folder of a
/// folder that holds run.json (a shard still running has a folder with none yet).
fn shard_dirs(args: &MergeArgs) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in &args.runs {
        if dir.join("run.json").is_file() {
            out.push(dir.clone());
            continue;
        }
        let entries = std::fs::read_dir(dir).map_err(|e| InputError {
            flag: "RUN_DIR",
            source: anyhow::anyhow!("{}: {e}", dir.display()),
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("run.json").is_file())
            .collect();
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// The shard folders, after waiting up to --wait for --expect of them.
fn wait_for_shards(args: &MergeArgs) -> anyhow::Result<Vec<PathBuf>> {
    let deadline = args.wait.map(|w| std::time::Instant::now() + w);
    loop {
        let dirs = shard_dirs(args)?;
        let enough = args.expect.is_none_or(|n| dirs.len() >= n);
        match deadline {
            Some(d) if !enough && std::time::Instant::now() < d => {
                std::thread::sleep(Duration::from_secs(2).min(d - std::time::Instant::now()));
            }
            _ if dirs.is_empty() => {
                return Err(InputError {
                    flag: "RUN_DIR",
                    source: anyhow::anyhow!(
                        "no shard run folder (with a run.json) in {}",
                        args.runs
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
                .into());
            }
            _ => {
                if !enough && !args.quiet {
                    eprintln!(
                        "peakgate: {} of {} shard(s) wrote run.json; merging those",
                        dirs.len(),
                        args.expect.unwrap_or(0)
                    );
                }
                return Ok(dirs);
            }
        }
    }
}

/// Merges the shards, writing the merged `latency.hlog` into `dir` second by second.
fn merge_into(
    dir: &RunDir,
    shards: Vec<ShardRun>,
    run_id: String,
    start: std::time::SystemTime,
) -> anyhow::Result<Merged> {
    let hlog_path = dir.file("latency.hlog");
    let file = File::create(&hlog_path)
        .with_context(|| format!("cannot write {}", hlog_path.display()))?;
    let mut log = HlogWriter::new(BufWriter::new(file), start);
    let mut emit = |tag: &str, second: u64, h: &hdrhistogram::Histogram<u64>| {
        log.interval(tag, h, Duration::from_secs(second), Duration::from_secs(1))
    };
    Ok(merge_shards(shards, run_id, &mut emit)?)
}

/// The merged run's own artifacts before it is judged: run.json, gate.json, and the first
/// shard's profile copy and target data.
fn write_merged(dir: &RunDir, m: &Merged) -> anyhow::Result<()> {
    write_json(&dir.file("gate.json"), &m.gate)?;
    write_json(&dir.file("run.json"), &m.result)?;
    for name in [PROFILE_COPY, "target-data.json"] {
        let from = m.first_dir.join(name);
        if from.is_file() {
            std::fs::copy(&from, dir.file(name))
                .with_context(|| format!("cannot copy {} into the merged run", from.display()))?;
        }
    }
    Ok(())
}

fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    write_atomic(path, &bytes).with_context(|| format!("cannot write {}", path.display()))
}
