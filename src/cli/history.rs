//! `peakgate history`: the runs in the results store with their verdicts, and the trend page.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::Exit;
use super::store::StoreArgs;
use crate::result::write_atomic;
use crate::store::{self, Entry, trend};

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only runs of this profile (its name).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Only runs against this target: an Odoo URL, or `standin` for the built-in stand-in.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Only runs of this tenant.
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
    /// Write the trend page here (HTML): per release stream, per-step p95, error rate and
    /// headroom across releases, and the failed change rate and gated releases per week.
    #[arg(long, value_name = "OUT.html")]
    pub trend: Option<PathBuf>,
    /// Print the index entries as a JSON array instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn history(args: HistoryArgs) -> anyhow::Result<Exit> {
    let address = store::address(args.store.url.as_deref());
    // A local store that does not exist yet holds nothing: an empty list, not an error (the
    // default store before the first `run --store`, or a mistyped --store path: said below).
    let (url, all) = match store::missing_dir(&address) {
        Some(dir) => (dir.display().to_string(), Vec::new()),
        None => {
            let s = store::Store::open(&address)?;
            let all = store::block_on(s.list())??;
            (s.url, all)
        }
    };
    if all.is_empty() {
        eprintln!(
            "peakgate: the store {url} is empty{}",
            if store::missing_dir(&address).is_some() {
                " (no such directory yet: `peakgate store put` or `run --store` create it)"
            } else {
                ""
            }
        );
    }
    let target = args
        .target
        .as_deref()
        .map(|t| t.trim_end_matches('/').to_string());
    let all_empty = all.is_empty();
    let runs: Vec<Entry> = all
        .into_iter()
        .filter(|e| args.profile.as_deref().is_none_or(|p| e.profile == p))
        .filter(|e| target.as_deref().is_none_or(|t| e.target == t))
        .filter(|e| args.tenant.is_none() || e.tenant == args.tenant)
        .collect();
    if let Some(out) = &args.trend {
        write_atomic(out, trend::page(&runs, &url).as_bytes())
            .with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!(
            "peakgate: trend of {} runs written to {}",
            runs.len(),
            out.display()
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else if args.trend.is_none() {
        print!("{}", table(&runs));
        if runs.is_empty() && !all_empty {
            eprintln!("peakgate: no run in the store {url} matches");
        }
    }
    Ok(Exit::Pass)
}

/// One line a run, oldest first.
fn table(runs: &[Entry]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if runs.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:<20} {:<34} {:<12} {:<16} {:<24} {:<11} verdict",
        "started", "run", "release", "profile", "target", "status"
    );
    for e in runs {
        let tenant = e
            .tenant
            .as_ref()
            .map(|t| format!(" [{t}]"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<20} {:<34} {:<12} {:<16} {:<24} {:<11} {}{}",
            e.started().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            e.run_id,
            e.release_label(),
            e.profile,
            e.target,
            e.status.to_string(),
            e.verdict,
            if e.kind == store::RunKind::Scale {
                format!(" (headroom {}×){tenant}", e.headroom.unwrap_or(0.0))
            } else {
                tenant
            }
        );
    }
    out
}
