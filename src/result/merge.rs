//! Merging the shards of one sharded run (`run --shard I/N`) into the run they make together.
//!
//! Exact where the shards measured distributions: HDR histograms add without loss, so every
//! latency and service-time figure of the merged run is computed from the shards' added
//! histograms (`latency.hlog` per step and second, `shard.hlog` for the whole run), never by
//! averaging percentiles. Counters are summed. Timelines are aligned on the shards' wall-clock
//! starts. The probes come from one shard (the lowest index: they watch the same target). The
//! load generator's health is each shard's worst: one starved shard makes the whole run's
//! figures doubtful.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;

use super::figures::{
    ErrorMessage, GeneratorSummary, GeneratorWindow, LatencySummary, MESSAGES_PER_KIND, Quantiles,
    ScenarioWindow, TimelineEntry, Totals, Transaction,
};
use super::{
    MergeInfo, MergedShard, OpenError, RunResult, RunStatus, SHARD_LOG, is_journey, read_gate,
};
use crate::metrics::hlog::{self, Interval};
use crate::metrics::whole_run;
use crate::plan::Gate;

/// One shard's folder, read.
pub struct ShardRun {
    pub dir: PathBuf,
    pub result: RunResult,
    pub gate: Gate,
    /// latency.hlog's intervals: per step, per second from the shard's start.
    intervals: Vec<Interval>,
    /// shard.hlog: whole-run histograms by [`whole_run`] tag.
    whole_run: BTreeMap<String, Histogram<u64>>,
    /// Wall clock at the shard's t0.
    started: SystemTime,
}

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{}: not a shard (made without `run --shard I/N`): only the shards of one run merge", dir.display())]
    NotAShard { dir: PathBuf },
    #[error("{}: run.json's started_at `{value}` is not an RFC 3339 instant", dir.display())]
    StartedAt { dir: PathBuf, value: String },
    #[error("{} and {}: both are shard {index}: give each shard once", first.display(), second.display())]
    Duplicate {
        index: u32,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{} is not of the same run as {}: {what} differs ({theirs} vs {ours}); only the shards of one plan, seed and release merge", dir.display(), first.display())]
    Mismatch {
        dir: PathBuf,
        first: PathBuf,
        what: &'static str,
        theirs: String,
        ours: String,
    },
    #[error("{}: {why}", path.display())]
    Damaged { path: PathBuf, why: String },
    #[error("no shard folder given")]
    Empty,
    #[error("cannot write the merged latency.hlog: {0}")]
    Write(std::io::Error),
}

impl MergeError {
    /// The user's input is at fault (exit 2), except a shard's own damaged artifacts (exit 5).
    pub fn is_input(&self) -> bool {
        match self {
            MergeError::Open(e) => e.is_input(),
            MergeError::Damaged { .. } | MergeError::Write(_) => false,
            _ => true,
        }
    }
}

impl ShardRun {
    /// Reads a shard's run folder: run.json, gate.json, latency.hlog and shard.hlog.
    pub fn open(dir: &Path) -> Result<ShardRun, MergeError> {
        if !dir.join("run.json").is_file() {
            return Err(OpenError::NotARun {
                dir: dir.to_path_buf(),
            }
            .into());
        }
        let result = RunResult::load(dir).map_err(OpenError::from)?;
        if result.shard.is_none() {
            return Err(MergeError::NotAShard {
                dir: dir.to_path_buf(),
            });
        }
        let started =
            humantime::parse_rfc3339(&result.started_at).map_err(|_| MergeError::StartedAt {
                dir: dir.to_path_buf(),
                value: result.started_at.clone(),
            })?;
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| OpenError::Read { path, source })
        };
        let hlog_error = |name: &str, source| OpenError::Hlog {
            path: dir.join(name),
            source,
        };
        let intervals = hlog::read_intervals(&read("latency.hlog")?)
            .map_err(|e| hlog_error("latency.hlog", e))?;
        let whole_run =
            hlog::read_merged(&read(SHARD_LOG)?).map_err(|e| hlog_error(SHARD_LOG, e))?;
        Ok(ShardRun {
            dir: dir.to_path_buf(),
            gate: read_gate(dir)?,
            result,
            intervals,
            whole_run,
            started,
        })
    }

    fn shard(&self) -> crate::plan::shard::Shard {
        self.result.shard.expect("checked when opened")
    }
}

/// The merged run's `run.json` and gate (its `latency.hlog` intervals went to `emit`).
pub struct Merged {
    pub result: RunResult,
    pub gate: Gate,
    /// The folder of the shard whose probes, profile copy and target data the merge keeps.
    pub first_dir: PathBuf,
}

/// Where the merged `latency.hlog` intervals go, in time order: (step, second from the merged
/// start, histogram µs). One at a time, so a long run's merge holds one second's histograms.
pub type Emit<'a> = &'a mut dyn FnMut(&str, u64, &Histogram<u64>) -> std::io::Result<()>;

/// Merges the shards of one run. `run_id` names the merged run. Shards of another plan, seed,
/// release or shard count, a shard given twice, and a run that is no shard are errors; a
/// missing index is recorded in [`MergeInfo::missing`], for the verdict to judge.
pub fn merge(
    mut shards: Vec<ShardRun>,
    run_id: String,
    emit: Emit<'_>,
) -> Result<Merged, MergeError> {
    shards.sort_by_key(|s| s.shard().index);
    let first = shards.first().ok_or(MergeError::Empty)?;
    for s in &shards[1..] {
        same_run(first, s)?;
    }
    for w in shards.windows(2) {
        if w[0].shard().index == w[1].shard().index {
            return Err(MergeError::Duplicate {
                index: w[0].shard().index,
                first: w[0].dir.clone(),
                second: w[1].dir.clone(),
            });
        }
    }
    let count = first.shard().count;
    let present: Vec<u32> = shards.iter().map(|s| s.shard().index).collect();
    let missing = (0..count).filter(|i| !present.contains(i)).collect();
    let start = shards.iter().map(|s| s.started).min().expect("not empty");
    let latest = shards.iter().map(|s| s.started).max().expect("not empty");
    // Whole seconds from the merged t0: the timeline and the interval log count in seconds.
    let offsets: Vec<u64> = shards
        .iter()
        .map(|s| {
            let d = s.started.duration_since(start).unwrap_or_default();
            d.as_secs_f64().round() as u64
        })
        .collect();

    let scenarios = &first.result.plan.scenario_order();
    let added = add_intervals(&shards, &offsets, scenarios, emit)?;
    let timeline = merge_timelines(&shards, &offsets, &added);
    let transactions = merge_transactions(&shards, &offsets, added.steps)?;
    let lateness = add_all(
        shards
            .iter()
            .filter_map(|s| s.whole_run.get(whole_run::LATENESS)),
    );
    let generator = worst_generator(&shards, &lateness);
    let status = if shards
        .iter()
        .any(|s| s.result.status == RunStatus::Interrupted)
    {
        RunStatus::Interrupted
    } else if shards.iter().any(|s| s.result.status == RunStatus::Aborted) {
        RunStatus::Aborted
    } else {
        RunStatus::Completed
    };
    let base = &first.result;
    let duration_s = shards
        .iter()
        .zip(&offsets)
        .map(|(s, o)| s.result.duration_s + *o as f64)
        .fold(0.0, f64::max);
    let info = MergeInfo {
        count,
        shards: shards
            .iter()
            .map(|s| MergedShard {
                index: s.shard().index,
                run_id: s.result.run_id.clone(),
                dir: s.dir.display().to_string(),
                status: s.result.status,
                started_at: s.result.started_at.clone(),
            })
            .collect(),
        missing,
        start_spread_s: round3(
            latest
                .duration_since(start)
                .unwrap_or_default()
                .as_secs_f64(),
        ),
        probes_from: Some(first.shard().index).filter(|_| !base.probes.is_empty()),
    };
    let result = RunResult {
        schema: base.schema.clone(),
        run_id,
        peakgate_version: super::PEAKGATE_VERSION.to_string(),
        status,
        profile: base.profile.clone(),
        release: base.release.clone(),
        target: base.target.clone(),
        started_at: humantime::format_rfc3339_millis(start).to_string(),
        duration_s: round3(duration_s),
        plan: base.plan.clone(),
        totals: sum_totals(shards.iter().map(|s| &s.result.totals)),
        transactions,
        timeline,
        generator,
        probes: base.probes.clone(),
        simulation: None,
        shard: None,
        merge: Some(info),
    };
    Ok(Merged {
        result,
        gate: first.gate.clone(),
        first_dir: first.dir.clone(),
    })
}

/// Refuses a shard of another run.
fn same_run(first: &ShardRun, s: &ShardRun) -> Result<(), MergeError> {
    let (a, b) = (&first.result, &s.result);
    let plan = |r: &RunResult| serde_json::to_string(&r.plan).unwrap_or_default();
    let gate = |g: &Gate| serde_json::to_string(g).unwrap_or_default();
    let checks: [(&'static str, String, String); 6] = [
        (
            "the profile's sha256",
            b.profile.sha256.clone(),
            a.profile.sha256.clone(),
        ),
        ("the seed", b.plan.seed.to_string(), a.plan.seed.to_string()),
        (
            "the release",
            format!("{:?}", b.release),
            format!("{:?}", a.release),
        ),
        (
            "the shard count",
            s.shard().count.to_string(),
            first.shard().count.to_string(),
        ),
        ("the plan", plan(b), plan(a)),
        ("the gate (gate.json)", gate(&s.gate), gate(&first.gate)),
    ];
    for (what, theirs, ours) in checks {
        if theirs != ours {
            let short = |t: String| {
                if t.chars().count() > 80 {
                    "(see run.json)".to_string()
                } else {
                    t
                }
            };
            return Err(MergeError::Mismatch {
                dir: s.dir.clone(),
                first: first.dir.clone(),
                what,
                theirs: short(theirs),
                ours: short(ours),
            });
        }
    }
    Ok(())
}

/// What the shards' latency.hlog intervals add up to: each step's whole-run histogram, and
/// each second's quantiles (all requests, and per scenario).
struct Added {
    steps: BTreeMap<String, Histogram<u64>>,
    seconds: BTreeMap<u64, Quantiles>,
    scenario_seconds: BTreeMap<(u64, String), Quantiles>,
}

/// The second being added: its number, all its requests' histogram, and each scenario's.
struct Second<'a> {
    t: u64,
    all: Histogram<u64>,
    per: BTreeMap<&'a str, Histogram<u64>>,
}

/// Adds the shards' intervals per (second of the merged clock, step), in time order, hands
/// each sum to `emit`, and keeps the step totals and each second's quantiles. A step
/// `scenario/step` counts in its scenario; the shared login step in none.
fn add_intervals(
    shards: &[ShardRun],
    offsets: &[u64],
    scenarios: &[String],
    emit: Emit<'_>,
) -> Result<Added, MergeError> {
    let mut groups: BTreeMap<(u64, &str), Vec<(&Path, &Interval)>> = BTreeMap::new();
    for (s, o) in shards.iter().zip(offsets) {
        for i in &s.intervals {
            let key = (i.start.as_secs() + o, i.tag.as_str());
            groups.entry(key).or_default().push((&s.dir, i));
        }
    }
    let mut added = Added {
        steps: BTreeMap::new(),
        seconds: BTreeMap::new(),
        scenario_seconds: BTreeMap::new(),
    };
    let mut deserializer = Deserializer::new();
    let mut second: Option<Second> = None;
    for ((t, tag), parts) in groups {
        if second.as_ref().is_some_and(|s| s.t != t) {
            close_second(&mut added, second.take());
        }
        let Second { all, per, .. } = second.get_or_insert_with(|| Second {
            t,
            all: histogram(),
            per: BTreeMap::new(),
        });
        let mut h = histogram();
        for (dir, i) in parts {
            let part = i
                .histogram(&mut deserializer)
                .map_err(|e| MergeError::Damaged {
                    path: dir.join("latency.hlog"),
                    why: e.to_string(),
                })?;
            add_into(&mut h, &part);
        }
        emit(tag, t, &h).map_err(MergeError::Write)?;
        add_into(
            added.steps.entry(tag.to_string()).or_insert_with(histogram),
            &h,
        );
        add_into(all, &h);
        if let Some((scenario, _)) = tag.split_once('/')
            && let Some(name) = scenarios.iter().find(|s| s.as_str() == scenario)
        {
            add_into(per.entry(name.as_str()).or_insert_with(histogram), &h);
        }
    }
    close_second(&mut added, second);
    Ok(added)
}

/// Keeps a finished second's quantiles.
fn close_second(added: &mut Added, second: Option<Second>) {
    if let Some(Second { t, all, per }) = second {
        added.seconds.insert(t, Quantiles::from_micros(&all));
        for (name, h) in per {
            added
                .scenario_seconds
                .insert((t, name.to_string()), Quantiles::from_micros(&h));
        }
    }
}

/// The shards' timelines on the merged clock: counts summed, quantiles from the added
/// histograms of each second, the generator's worst.
fn merge_timelines(shards: &[ShardRun], offsets: &[u64], added: &Added) -> Vec<TimelineEntry> {
    let len = shards
        .iter()
        .zip(offsets)
        .map(|(s, o)| s.result.timeline.len() as u64 + o)
        .max()
        .unwrap_or(0);
    let mut out: Vec<TimelineEntry> = (0..len)
        .map(|t| TimelineEntry {
            t,
            ..Default::default()
        })
        .collect();
    for (s, o) in shards.iter().zip(offsets) {
        for e in &s.result.timeline {
            let m = &mut out[(e.t + o) as usize];
            m.planned += e.planned;
            m.started += e.started;
            m.dropped += e.dropped;
            m.journeys += e.journeys;
            m.requests += e.requests;
            m.errors += e.errors;
            m.in_flight += e.in_flight;
            for (k, n) in &e.errors_by_kind {
                *m.errors_by_kind.entry(k.clone()).or_default() += n;
            }
            for (name, w) in &e.scenarios {
                let into = m.scenarios.entry(name.clone()).or_insert(ScenarioWindow {
                    requests: 0,
                    errors: 0,
                    latency_ms: Quantiles::default(),
                });
                into.requests += w.requests;
                into.errors += w.errors;
            }
            m.generator = worst_window(&m.generator, &e.generator);
        }
    }
    for (t, q) in &added.seconds {
        if let Some(m) = out.get_mut(*t as usize) {
            m.latency_ms = q.clone();
        }
    }
    for ((t, name), q) in &added.scenario_seconds {
        if let Some(w) = out
            .get_mut(*t as usize)
            .and_then(|m| m.scenarios.get_mut(name))
        {
            w.latency_ms = q.clone();
        }
    }
    out
}

/// Every transaction: counts and errors summed, distributions from the added histograms.
fn merge_transactions(
    shards: &[ShardRun],
    offsets: &[u64],
    mut step_latency: BTreeMap<String, Histogram<u64>>,
) -> Result<BTreeMap<String, Transaction>, MergeError> {
    let mut out: BTreeMap<String, Transaction> = BTreeMap::new();
    for (s, o) in shards.iter().zip(offsets) {
        for (name, tx) in &s.result.transactions {
            let m = out.entry(name.clone()).or_default();
            m.count += tx.count;
            m.redirects += tx.redirects;
            for (k, n) in &tx.errors {
                *m.errors.entry(k.clone()).or_default() += n;
            }
            for msg in &tx.messages {
                note(&mut m.messages, msg, *o);
            }
        }
    }
    for (name, m) in out.iter_mut() {
        let whole = |tag: String| add_all(shards.iter().filter_map(|s| s.whole_run.get(&tag)));
        let (latency, service) = if is_journey(name) {
            (
                whole(whole_run::journey(name)),
                whole(whole_run::journey_service(name)),
            )
        } else {
            (
                step_latency.remove(name).unwrap_or_else(histogram),
                whole(whole_run::service(name)),
            )
        };
        if latency.len() != m.count || service.len() != m.count {
            let (file, held) = if latency.len() != m.count && !is_journey(name) {
                ("latency.hlog", latency.len())
            } else {
                (SHARD_LOG, service.len().min(latency.len()))
            };
            return Err(MergeError::Damaged {
                path: PathBuf::from(file),
                why: format!(
                    "the shards' {file} hold {held} measurement(s) of `{name}`, and their run.json count {}: a shard's artifacts were cut or changed",
                    m.count
                ),
            });
        }
        m.latency_ms = LatencySummary::from_micros(&latency);
        m.service_ms = LatencySummary::from_micros(&service);
        m.messages.sort_by_key(|x| (x.kind.clone(), x.first_s));
    }
    Ok(out)
}

/// Adds one shard's message (its seconds moved by `offset`) into the merged list, keeping
/// [`MESSAGES_PER_KIND`] distinct messages per kind as the recorder does.
fn note(into: &mut Vec<ErrorMessage>, msg: &ErrorMessage, offset: u64) {
    let (first_s, last_s) = (msg.first_s + offset, msg.last_s + offset);
    if let Some(m) = into
        .iter_mut()
        .find(|m| m.kind == msg.kind && m.message == msg.message)
    {
        m.count += msg.count;
        m.first_s = m.first_s.min(first_s);
        m.last_s = m.last_s.max(last_s);
    } else if into.iter().filter(|m| m.kind == msg.kind).count() < MESSAGES_PER_KIND {
        into.push(ErrorMessage {
            first_s,
            last_s,
            ..msg.clone()
        });
    }
}

fn sum_totals<'a>(all: impl Iterator<Item = &'a Totals>) -> Totals {
    all.fold(Totals::default(), |a, t| Totals {
        planned: a.planned + t.planned,
        started: a.started + t.started,
        dropped: a.dropped + t.dropped,
        journeys: a.journeys + t.journeys,
        journeys_failed: a.journeys_failed + t.journeys_failed,
        requests: a.requests + t.requests,
        errors: a.errors + t.errors,
        reauthentications: a.reauthentications + t.reauthentications,
    })
}

/// One second's generator health over shards: the worst of each figure, and the CPU cores
/// they used together.
fn worst_window(a: &GeneratorWindow, b: &GeneratorWindow) -> GeneratorWindow {
    GeneratorWindow {
        lateness_p99_ms: a.lateness_p99_ms.max(b.lateness_p99_ms),
        lateness_max_ms: a.lateness_max_ms.max(b.lateness_max_ms),
        recorder_lag_ms: a.recorder_lag_ms.max(b.recorder_lag_ms),
        cpu_cores: sum_opt(a.cpu_cores, b.cpu_cores),
        runqueue_wait: max_opt(a.runqueue_wait, b.runqueue_wait),
        host_busy: max_opt(a.host_busy, b.host_busy),
        host_steal: max_opt(a.host_steal, b.host_steal),
        cpu_pressure: max_opt(a.cpu_pressure, b.cpu_pressure),
        load1: max_opt(a.load1, b.load1),
    }
}

/// The run's generator summary: lateness from the shards' added histograms (exact), every
/// other figure the worst shard's.
fn worst_generator(shards: &[ShardRun], lateness: &Histogram<u64>) -> GeneratorSummary {
    let all: Vec<&GeneratorSummary> = shards.iter().map(|s| &s.result.generator).collect();
    let max =
        |f: fn(&GeneratorSummary) -> Option<f64>| all.iter().filter_map(|g| f(g)).reduce(f64::max);
    GeneratorSummary {
        lateness_ms: LatencySummary::from_micros(lateness),
        recorder_lag_max_ms: all
            .iter()
            .map(|g| g.recorder_lag_max_ms)
            .fold(0.0, f64::max),
        // The smallest machine the run had: what its per-core figures are read against.
        cores: all.iter().map(|g| g.cores).min().unwrap_or(0),
        cpu_cores_max: max(|g| g.cpu_cores_max),
        runqueue_wait_mean: max(|g| g.runqueue_wait_mean),
        host_busy_mean: max(|g| g.host_busy_mean),
        host_steal_mean: max(|g| g.host_steal_mean),
        cpu_pressure_mean: max(|g| g.cpu_pressure_mean),
        load1_max: max(|g| g.load1_max),
    }
}

fn sum_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(round3(x + y)),
        (x, None) | (None, x) => x,
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) | (None, x) => x,
    }
}

fn histogram() -> Histogram<u64> {
    let mut h = Histogram::new(3).expect("3 significant digits is valid");
    h.auto(true);
    h
}

fn add_into(into: &mut Histogram<u64>, h: &Histogram<u64>) {
    // Auto-resizing histograms of the same precision: adding cannot fail.
    let _ = into.add(h);
}

fn add_all<'a>(all: impl Iterator<Item = &'a Histogram<u64>>) -> Histogram<u64> {
    let mut out = histogram();
    all.for_each(|h| add_into(&mut out, h));
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// How far apart shard starts may be and still count as one load: the timeline's resolution.
pub const START_SPREAD_LIMIT: Duration = Duration::from_secs(1);

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
