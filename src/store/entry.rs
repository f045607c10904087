//! One run in the store's index (`index/<run-id>.json`, schema `peakgate.history/1`): what it
//! ran (profile, target, tenant, release), how it ended and was judged, and the figures the
//! trend draws. Built from the run folder's own run.json and verdict.json, never measured here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::result::{RunResult, RunStatus, Status, read_verdict};

/// Schema tag of an index entry.
pub const SCHEMA: &str = "peakgate.history/1";

/// What kind of folder a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// One run (run.json): usable as a baseline.
    Run,
    /// A `--scale` parent: its steps are sub-folders; it brings the headroom.
    Scale,
}

/// One step's figures in a run (from run.json's `transactions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFigures {
    /// Requests finished, failed ones included.
    pub requests: u64,
    /// Failed / finished requests (0..1).
    pub error_rate: f64,
    /// Latency from the intended start, 95th percentile, ms.
    pub p95_ms: f64,
}

/// A run in the store's index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// [`SCHEMA`].
    pub schema: String,
    pub run_id: String,
    pub kind: RunKind,
    /// The profile's name.
    pub profile: String,
    /// Where the load went: `standin` for the built-in stand-in (its port changes every run),
    /// else the Odoo URL without a trailing `/`.
    pub target: String,
    /// The tenant, for a multi-tenant run (run.json's `tenant`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The release label (`--release`).
    pub release: Option<String>,
    /// Wall-clock start (RFC 3339, UTC).
    pub started_at: String,
    pub status: RunStatus,
    pub verdict: Status,
    /// Requests finished and the share that failed (0..1), over the whole run (a `--scale`
    /// run: over the step at 1× when it ran, else its first step).
    pub requests: u64,
    pub error_rate: f64,
    /// Per step (`scenario/step`), same run as `requests`.
    pub steps: BTreeMap<String, StepFigures>,
    /// A `--scale` run's headroom: the highest multiplier whose gate passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headroom: Option<f64>,
    /// Present when the run is one shard of several (`run --shard I/N`, N > 1): a share of
    /// the load, never a baseline. `store put` refuses such folders; the marker keeps one
    /// put by hand into the index (or by an older peakgate) out of `last-accepted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::plan::shard::Shard>,
}

/// The target key of a run: `standin`, or the URL without a trailing `/`.
pub fn target_key(kind: &str, url: &str) -> String {
    if kind == "standin" {
        "standin".into()
    } else {
        url.trim_end_matches('/').to_string()
    }
}

impl Entry {
    /// The entry of a judged run folder, or of a `--scale` parent.
    pub fn from_dir(dir: &Path) -> Result<Entry, StoreError> {
        let not_a_run = |why: String| StoreError::NotARun {
            dir: dir.to_path_buf(),
            why,
        };
        let verdict = read_verdict(dir).map_err(|e| not_a_run(format!("no verdict: {e}")))?;
        if dir.join("run.json").is_file() {
            let run = RunResult::load(dir).map_err(|e| not_a_run(e.to_string()))?;
            if let Some(shard) = run.shard.filter(|s| s.count > 1) {
                return Err(StoreError::Shard {
                    dir: dir.to_path_buf(),
                    shard,
                });
            }
            let tenant = tenant_of(&run);
            return Ok(Entry::of_run(&run, verdict.verdict, tenant, RunKind::Run));
        }
        let Some(headroom) = &verdict.headroom else {
            return Err(not_a_run(
                "neither a run folder (run.json) nor a --scale parent (verdict.json with headroom)"
                    .into(),
            ));
        };
        let shown = headroom
            .steps
            .iter()
            .find(|s| s.scale == 1.0)
            .or(headroom.steps.first())
            .ok_or_else(|| not_a_run("a --scale parent with no step".into()))?;
        let step_dir = dir.join(&shown.dir);
        let run = RunResult::load(&step_dir).map_err(|e| not_a_run(e.to_string()))?;
        let mut entry = Entry::of_run(&run, verdict.verdict, tenant_of(&run), RunKind::Scale);
        // The stepping started when its first step did, not when the step shown did.
        let first = headroom.steps.first().expect("a step was found above");
        if first.dir != shown.dir {
            let first_dir = dir.join(&first.dir);
            let run = RunResult::load(&first_dir).map_err(|e| not_a_run(e.to_string()))?;
            entry.started_at = run.started_at;
        }
        entry.run_id = verdict.run_id.clone();
        entry.status = verdict.status.unwrap_or(run.status);
        entry.headroom = Some(headroom.multiplier);
        Ok(entry)
    }

    fn of_run(run: &RunResult, verdict: Status, tenant: Option<String>, kind: RunKind) -> Entry {
        let steps = run
            .transactions
            .iter()
            .filter(|(name, _)| !crate::result::is_journey(name))
            .map(|(name, t)| {
                let errors: u64 = t.errors.values().sum();
                let figures = StepFigures {
                    requests: t.count,
                    error_rate: ratio(errors, t.count),
                    p95_ms: t.latency_ms.p95,
                };
                (name.clone(), figures)
            })
            .collect();
        Entry {
            schema: SCHEMA.into(),
            run_id: run.run_id.clone(),
            kind,
            profile: run.profile.name.clone(),
            target: target_key(&run.target.kind, &run.target.url),
            tenant,
            release: run.release.clone(),
            started_at: run.started_at.clone(),
            status: run.status,
            verdict,
            requests: run.totals.requests,
            error_rate: ratio(run.totals.errors, run.totals.requests),
            steps,
            headroom: None,
            shard: run.shard.filter(|s| s.count > 1),
        }
    }

    /// The start as a timestamp (an unreadable one sorts first).
    pub fn started(&self) -> jiff::Timestamp {
        self.started_at
            .parse()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// Accepted: the whole plan ran and the gate passed it (pass, or warn: exit 0 without
    /// `--fail-on-warn`). Failed, inconclusive, interrupted and aborted runs are not.
    pub fn accepted(&self) -> bool {
        self.status == RunStatus::Completed && matches!(self.verdict, Status::Pass | Status::Warn)
    }

    /// The release label, or `-`.
    pub fn release_label(&self) -> &str {
        self.release.as_deref().unwrap_or("-")
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The tenant a run drove (run.json's `plan.tenant.name`), in a multi-tenant run.
pub fn tenant_of(run: &RunResult) -> Option<String> {
    run.plan.tenant.as_ref().map(|t| t.name.clone())
}

/// The newest accepted single run of this profile, target and tenant, other than `except`
/// (the run being judged): never a `--scale` parent, never one shard of several (a merged
/// run is a single run).
pub fn last_accepted<'a>(
    entries: &'a [Entry],
    profile: &str,
    target: &str,
    tenant: Option<&str>,
    except: Option<&str>,
) -> Option<&'a Entry> {
    accepted_newest_first(entries, profile, target, tenant, except)
        .into_iter()
        .next()
}

/// Every run [`last_accepted`] could choose, newest first: the caller may pass over one whose
/// stored run.json turns out to be a shard of several (an entry stored before `store put`
/// refused shards carries no `shard` marker).
pub fn accepted_newest_first<'a>(
    entries: &'a [Entry],
    profile: &str,
    target: &str,
    tenant: Option<&str>,
    except: Option<&str>,
) -> Vec<&'a Entry> {
    let mut found: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            e.kind == RunKind::Run
                && e.shard.is_none_or(|s| s.count <= 1)
                && e.accepted()
                && e.profile == profile
                && e.target == target
                && e.tenant.as_deref() == tenant
                && Some(e.run_id.as_str()) != except
        })
        .collect();
    found.sort_by(|a, b| b.started().cmp(&a.started()).then(b.run_id.cmp(&a.run_id)));
    found
}
