//! The merge on shards made in memory: every figure checked against what one process would
//! have recorded from all the shards' values.

use super::*;
use crate::plan::shard::Shard;
use crate::result::ErrorMessage;

/// Merges, keeping the merged latency.hlog's intervals as (step, second, histogram).
fn merged(shards: Vec<ShardRun>) -> (Merged, Vec<(String, u64, Histogram<u64>)>) {
    let mut log = Vec::new();
    let mut emit = |tag: &str, t: u64, h: &Histogram<u64>| {
        log.push((tag.to_string(), t, h.clone()));
        Ok(())
    };
    let m = merge(shards, "merged".into(), &mut emit).unwrap_or_else(|e| panic!("{e}"));
    (m, log)
}

/// The error of a merge that must fail.
fn refused(shards: Vec<ShardRun>) -> MergeError {
    match merge(shards, "m".into(), &mut |_, _, _| Ok(())) {
        Ok(_) => panic!("merged"),
        Err(e) => e,
    }
}

const STEP: &str = "pos_order_sync/create_from_ui";
const JOURNEY: &str = "pos_order_sync";

fn h(values: &[u64]) -> Histogram<u64> {
    let mut out = histogram();
    values.iter().for_each(|v| out.record(*v).unwrap());
    out
}

/// Shard `index` of `count`, started `late_s` after the first, whose requests took `values`
/// µs: one a second, each its own journey.
fn shard(index: u32, count: u32, late_s: u64, values: &[u64]) -> ShardRun {
    let mut r = crate::verdict::fixture::run();
    let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_140_800 + late_s);
    r.started_at = humantime::format_rfc3339_millis(started).to_string();
    r.shard = Some(Shard { index, count });
    r.run_id = format!("shard-{index}");
    let n = values.len() as u64;
    r.totals = Totals {
        planned: n,
        started: n,
        journeys: n,
        requests: n,
        ..Default::default()
    };
    let tx = Transaction {
        count: n,
        messages: vec![ErrorMessage {
            kind: "timeout".into(),
            message: "read timed out".into(),
            count: 1,
            first_s: 0,
            last_s: 1,
        }],
        ..Default::default()
    };
    r.transactions = BTreeMap::from([(STEP.to_string(), tx.clone()), (JOURNEY.to_string(), tx)]);
    r.timeline = (0..n)
        .map(|t| TimelineEntry {
            t,
            planned: 1,
            requests: 1,
            in_flight: 1,
            ..Default::default()
        })
        .collect();
    let intervals = values
        .iter()
        .enumerate()
        .map(|(t, v)| Interval::new(STEP, Duration::from_secs(t as u64), &h(&[*v])).unwrap())
        .collect();
    let whole_run = BTreeMap::from([
        (whole_run::service(STEP), h(values)),
        (
            whole_run::journey(JOURNEY),
            h(&values.iter().map(|v| v * 3).collect::<Vec<_>>()),
        ),
        (whole_run::journey_service(JOURNEY), h(values)),
        (whole_run::LATENESS.to_string(), h(&[100; 1])),
    ]);
    ShardRun {
        dir: PathBuf::from(format!("reports/shard-{index}")),
        result: r,
        gate: Gate::default(),
        intervals,
        whole_run,
        started,
    }
}

#[test]
fn distributions_are_those_of_every_shards_values_together() {
    let (a, b) = (
        [1_000, 2_000, 3_000, 40_000],
        [5_000, 6_000, 900_000, 7_000],
    );
    let (m, log) = merged(vec![shard(1, 2, 0, &b), shard(0, 2, 0, &a)]);
    assert_eq!(log.len(), 4, "one interval a second, both shards' added");
    let all: Vec<u64> = a.iter().chain(&b).copied().collect();
    let tx = &m.result.transactions[STEP];
    assert_eq!(tx.count, 8);
    assert_eq!(tx.latency_ms, LatencySummary::from_micros(&h(&all)));
    assert_eq!(tx.service_ms, LatencySummary::from_micros(&h(&all)));
    let journeys: Vec<u64> = all.iter().map(|v| v * 3).collect();
    assert_eq!(
        m.result.transactions[JOURNEY].latency_ms,
        LatencySummary::from_micros(&h(&journeys))
    );
    assert_eq!(m.result.totals.requests, 8);
    assert_eq!(m.result.generator.lateness_ms.max, 0.1);
    // The same message of both shards is one, counted twice.
    assert_eq!(tx.messages.len(), 1);
    assert_eq!(tx.messages[0].count, 2);
    let info = m.result.merge.as_ref().unwrap();
    assert_eq!((info.count, info.missing.clone()), (2, vec![]));
    assert_eq!(m.result.shard, None);
}

#[test]
fn timelines_align_on_the_shards_wall_clock_starts() {
    let (m, log) = merged(vec![
        shard(0, 2, 0, &[1_000; 3]),
        shard(1, 2, 2, &[9_000; 3]),
    ]);
    let planned: Vec<u64> = m.result.timeline.iter().map(|e| e.planned).collect();
    // Shard 1 started 2 s later: its seconds 0..3 are the merged run's 2..5.
    assert_eq!(planned, [1, 1, 2, 1, 1]);
    // Second 2 holds shard 0's third request and shard 1's first.
    assert_eq!(
        m.result.timeline[2].latency_ms,
        Quantiles::from_micros(&h(&[1_000, 9_000]))
    );
    assert_eq!(
        m.result.timeline[1].latency_ms,
        Quantiles::from_micros(&h(&[1_000]))
    );
    assert_eq!(m.result.timeline[2].in_flight, 2);
    let seconds: Vec<u64> = log.iter().map(|(_, t, _)| *t).collect();
    assert_eq!(seconds, [0, 1, 2, 3, 4]);
    // The merged interval log adds the shards' second by second.
    assert_eq!(log[2].2.len(), 2);
    let info = m.result.merge.unwrap();
    assert_eq!(info.start_spread_s, 2.0);
    // The later shard's messages move with its clock.
    let msg = &m.result.transactions[STEP].messages[0];
    assert_eq!((msg.first_s, msg.last_s), (0, 3));
}

#[test]
fn a_missing_shard_is_recorded_for_the_verdict_to_judge() {
    let (m, _) = merged(vec![shard(0, 3, 0, &[1_000]), shard(2, 3, 0, &[2_000])]);
    assert_eq!(m.result.merge.unwrap().missing, vec![1]);
}

#[test]
fn shards_of_another_run_or_given_twice_are_refused() {
    let mut other = shard(1, 2, 0, &[1_000]);
    other.result.plan.seed = 7;
    let e = refused(vec![shard(0, 2, 0, &[1_000]), other]);
    assert!(e.to_string().contains("the seed differs (7 vs 1)"), "{e}");
    assert!(e.is_input());
    let e = refused(vec![shard(0, 2, 0, &[1]), shard(0, 2, 0, &[2])]);
    assert!(matches!(e, MergeError::Duplicate { index: 0, .. }), "{e}");
    let e = refused(vec![shard(0, 2, 0, &[1]), shard(1, 3, 0, &[2])]);
    assert!(e.to_string().contains("the shard count differs"), "{e}");
}

#[test]
fn histograms_that_disagree_with_run_json_are_damage_not_a_quiet_merge() {
    let mut cut = shard(1, 2, 0, &[1_000, 2_000]);
    cut.intervals.pop();
    let e = refused(vec![shard(0, 2, 0, &[1_000]), cut]);
    assert!(!e.is_input());
    assert!(e.to_string().contains("hold 2 measurement(s)"), "{e}");
}
