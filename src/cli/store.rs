//! `peakgate store put RUN_DIR...`, the `--store` flag, and `--baseline last-accepted`: the
//! newest accepted run of the same profile, target and tenant, taken from the results store.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::{Exit, InputError};
use crate::result::{BaselineChoice, StoredRun};
use crate::store::{self, Store, StoreError};

/// The value of `--baseline` that asks the results store for the baseline.
pub const LAST_ACCEPTED: &str = "last-accepted";

/// Where the results store is.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The results store: a local directory, or `s3://BUCKET[/PREFIX]` for S3-compatible
    /// object storage (credentials, region and endpoint from the standard AWS_* environment
    /// variables only). `peakgate run` puts its run there when this is given; other commands
    /// read `.peakgate/store` when it is not.
    #[arg(long = "store", value_name = "URL", env = "PEAKGATE_STORE")]
    pub url: Option<String>,
}

impl StoreArgs {
    /// Opens the store, the default local one when none is named.
    pub fn open(&self) -> Result<Store, StoreError> {
        Store::open(&store::address(self.url.as_deref()))
    }

    /// Puts a judged run folder into the store `--store` (or `PEAKGATE_STORE`) names; nothing
    /// when none is named. Said on stderr.
    pub fn put_if_named(
        &self,
        dir: &Path,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<(), StoreError> {
        let Some(url) = &self.url else {
            return Ok(());
        };
        let store = Store::create(url)?;
        let entry = runtime.block_on(store.put(dir))?;
        eprintln!("peakgate: stored {} in {}", entry.run_id, store.url);
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Put judged run folders (or --scale parents) into the results store, with their index
    /// entries; putting a run again replaces it.
    Put(PutArgs),
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// Run folders (reports/<run-id>) that hold a verdict.json.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn store(command: StoreCommand) -> anyhow::Result<Exit> {
    match command {
        StoreCommand::Put(args) => {
            // Every folder is checked before any is stored: a shard among them stores none.
            for dir in &args.runs {
                store::Entry::from_dir(dir)?;
            }
            let store = Store::create(&store::address(args.store.url.as_deref()))?;
            for dir in &args.runs {
                let e = store::block_on(store.put(dir))??;
                println!(
                    "stored {} ({} {}, release {}, {} {}) in {}",
                    e.run_id,
                    e.profile,
                    e.target,
                    e.release_label(),
                    e.status,
                    e.verdict,
                    store.url
                );
            }
            Ok(Exit::Pass)
        }
    }
}

/// What a baseline is compared against: the run, what chose it, and the scratch folder a
/// downloaded run lives in (removed when this is dropped).
pub struct Baseline {
    pub run: StoredRun,
    pub choice: Option<BaselineChoice>,
    _scratch: Option<tempfile::TempDir>,
}

/// Records in the verdict which run `last-accepted` chose, rewriting verdict.json in `out`;
/// nothing for a baseline given as a folder, or none.
pub fn record_choice(
    baseline: Option<Baseline>,
    out: &Path,
    run: &crate::result::RunResult,
    verdict: &mut crate::result::Verdict,
) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(choice) = baseline.and_then(|b| b.choice) {
        verdict.baseline_choice = Some(choice);
        crate::report::write_verdict(out, run, verdict)
            .with_context(|| format!("writing the verdict into {}", out.display()))?;
    }
    Ok(())
}

/// The run a candidate is matched on for `last-accepted`.
pub struct Candidate<'a> {
    pub profile: &'a str,
    /// [`crate::store::entry::target_key`].
    pub target: String,
    pub tenant: Option<String>,
    /// The candidate's own run id, when it is already a stored run.
    pub run_id: Option<&'a str>,
}

impl<'a> Candidate<'a> {
    /// The candidate a judged run is, keyed as its store entry would be; `own` says whether
    /// the run itself may be in the store (and so must not be its own baseline).
    pub fn of(run: &'a crate::result::RunResult, own: bool) -> Candidate<'a> {
        Candidate {
            profile: &run.profile.name,
            target: crate::store::entry::target_key(&run.target.kind, &run.target.url),
            tenant: crate::store::entry::tenant_of(run),
            run_id: own.then_some(run.run_id.as_str()),
        }
    }
}

/// Opens `--baseline`: a run folder, or `last-accepted` from the store (said on stderr).
pub fn open_baseline(
    flag: &Path,
    store: &StoreArgs,
    candidate: &Candidate<'_>,
) -> anyhow::Result<Baseline> {
    if flag.as_os_str() != LAST_ACCEPTED {
        let run = StoredRun::open(flag).map_err(|e| InputError {
            flag: "--baseline",
            source: e.into(),
        })?;
        return Ok(Baseline {
            run,
            choice: None,
            _scratch: None,
        });
    }
    let address = store::address(store.url.as_deref());
    if let Some(dir) = store::missing_dir(&address) {
        // A store directory that does not exist yet is empty: no run to choose, as in
        // `history`, which lists nothing there.
        return Err(StoreError::NoAccepted {
            url: format!("{} (no such directory yet)", dir.display()),
            profile: candidate.profile.to_string(),
            target: candidate.target.clone(),
            tenant: candidate.tenant.clone(),
        }
        .into());
    }
    let s = Store::open(&address)?;
    let entries = store::block_on(s.list())??;
    let scratch = tempfile::tempdir()?;
    let mut chosen = None;
    for e in store::entry::accepted_newest_first(
        &entries,
        candidate.profile,
        &candidate.target,
        candidate.tenant.as_deref(),
        candidate.run_id,
    ) {
        let dir = store::block_on(s.fetch(&e.run_id, scratch.path()))??;
        let run = StoredRun::open(&dir).map_err(|err| InputError {
            flag: "--baseline",
            source: err.into(),
        })?;
        // An entry stored before `store put` refused shards: its run.json says what it is.
        if let Some(shard) = run.result.shard.filter(|sh| sh.count > 1) {
            eprintln!(
                "peakgate: baseline last-accepted: passing over {}: shard {shard} of a sharded run, not a run",
                e.run_id
            );
            continue;
        }
        chosen = Some((e, run));
        break;
    }
    let Some((e, run)) = chosen else {
        return Err(StoreError::NoAccepted {
            url: s.url.clone(),
            profile: candidate.profile.to_string(),
            target: candidate.target.clone(),
            tenant: candidate.tenant.clone(),
        }
        .into());
    };
    eprintln!(
        "peakgate: baseline last-accepted: run {} (release {}, {}, started {}) from the store {}",
        e.run_id,
        e.release_label(),
        e.verdict,
        e.started_at,
        s.url
    );
    Ok(Baseline {
        run,
        choice: Some(BaselineChoice {
            rule: LAST_ACCEPTED.into(),
            store: s.url.clone(),
            run_id: e.run_id.clone(),
            release: e.release.clone(),
            started_at: e.started_at.clone(),
            verdict: e.verdict,
        }),
        _scratch: Some(scratch),
    })
}

/// The baseline a run was judged against with `--baseline last-accepted` (its verdict.json's
/// `baseline_choice`), from `--store` or else the store the choice names: the same run, even
/// when a newer one was accepted since. The folder, and the scratch folder it may be in.
pub fn chosen_baseline(
    run: &Path,
    store: &StoreArgs,
) -> anyhow::Result<(PathBuf, tempfile::TempDir)> {
    let v = crate::result::read_verdict(run)?;
    let Some(choice) = v.baseline_choice else {
        return Err(InputError {
            flag: "--baseline",
            source: anyhow::anyhow!(
                "{}: the run was not judged with --baseline last-accepted (verdict.json has no baseline_choice)",
                run.display()
            ),
        }
        .into());
    };
    let s = Store::open(store.url.as_deref().unwrap_or(&choice.store))?;
    let scratch = tempfile::tempdir()?;
    let dir = store::block_on(s.fetch(&choice.run_id, scratch.path()))??;
    Ok((dir, scratch))
}
