//! Was the merged run whole? A run merged from shards (`peakgate merge`) is the plan's load
//! only when every shard is there and they ran at once: a missing shard, or shards whose starts
//! spread beyond a second, leave a load that is not the plan's, so the run is `inconclusive`
//! (DESIGN.md, exit 4), never silently judged on a part.

use crate::result::merge::START_SPREAD_LIMIT;
use crate::result::{Check, RunResult, Status};

/// The check's name in verdict.json.
pub const NAME: &str = "all shards merged";

/// The check of a merged run; `None` for a run made in one process (or a single shard).
pub fn evaluate(run: &RunResult) -> Option<Check> {
    let m = run.merge.as_ref()?;
    let mut broken = Vec::new();
    if !m.missing.is_empty() {
        let list: Vec<String> = m.missing.iter().map(u32::to_string).collect();
        broken.push(format!(
            "shard(s) {} of {} missing (failed, or never ran): the merged load is {} of {} shards",
            list.join(", "),
            m.count,
            m.shards.len(),
            m.count
        ));
    }
    let limit = START_SPREAD_LIMIT.as_secs_f64();
    if m.start_spread_s > limit {
        broken.push(format!(
            "the shards started {:.3}s apart (more than {limit}s): their loads did not overlap as the plan's; start them with one --start-at",
            m.start_spread_s
        ));
    }
    let (status, message) = if broken.is_empty() {
        (
            Status::Pass,
            format!(
                "{} of {} shards merged, started within {:.3}s",
                m.shards.len(),
                m.count,
                m.start_spread_s
            ),
        )
    } else {
        (Status::Inconclusive, broken.join("; "))
    };
    Some(Check {
        name: NAME.into(),
        status,
        observed: Some(m.shards.len() as f64),
        warn: None,
        fail: Some(f64::from(m.count)),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{MergeInfo, MergedShard, RunStatus};

    fn merged(present: &[u32], count: u32, spread: f64) -> RunResult {
        let mut r = crate::verdict::fixture::run();
        r.merge = Some(MergeInfo {
            count,
            shards: present
                .iter()
                .map(|i| MergedShard {
                    index: *i,
                    run_id: format!("r{i}"),
                    dir: format!("d{i}"),
                    status: RunStatus::Completed,
                    started_at: String::new(),
                })
                .collect(),
            missing: (0..count).filter(|i| !present.contains(i)).collect(),
            start_spread_s: spread,
            probes_from: None,
        });
        r
    }

    #[test]
    fn a_whole_merge_passes_and_a_single_run_has_no_such_check() {
        let c = evaluate(&merged(&[0, 1, 2], 3, 0.2)).unwrap();
        assert_eq!(c.status, Status::Pass, "{}", c.message);
        assert!(c.message.contains("3 of 3 shards"), "{}", c.message);
        assert!(evaluate(&crate::verdict::fixture::run()).is_none());
    }

    #[test]
    fn a_missing_shard_makes_the_run_inconclusive_and_names_it() {
        let r = merged(&[0, 2], 3, 0.0);
        let c = evaluate(&r).unwrap();
        assert_eq!(c.status, Status::Inconclusive);
        assert!(
            c.message.contains("shard(s) 1 of 3 missing"),
            "{}",
            c.message
        );
        // Through the verdict: the whole run is inconclusive.
        let v = crate::verdict::judge(&r, &crate::plan::Gate::default(), None, None);
        assert_eq!(v.verdict, Status::Inconclusive);
        assert!(v.checks.iter().any(|c| c.name == NAME));
    }

    #[test]
    fn shards_that_did_not_start_together_are_inconclusive() {
        let c = evaluate(&merged(&[0, 1], 2, 4.5)).unwrap();
        assert_eq!(c.status, Status::Inconclusive);
        assert!(c.message.contains("4.500s apart"), "{}", c.message);
    }
}
