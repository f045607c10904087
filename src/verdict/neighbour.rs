//! The noisy-neighbour check of a multi-tenant run: the canary tenant runs at one steady
//! level while its neighbours are quiet and then loaded; each of its steps' latency in the
//! loaded stages is compared with the quiet stages of the same run, by the baseline
//! comparison's own rules (`[gate.compare]`: one-sided Mann-Whitney U, Bonferroni over the
//! steps, a Hodges-Lehmann shift and a p95 ratio both beyond a level).
//!
//! Why the same run's quiet stages and not a baseline run: the canary's load, release, data
//! and machine are the same on both sides, so what differs is only what its neighbours do.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::compare::{latency_check, latency_comparison};
use super::fmt_num;
use crate::plan::Stage;
use crate::plan::gate::Compare;
use crate::plan::tenants::NoisyNeighbour;
use crate::result::{Check, Status, is_journey};

/// Every check this module makes is named `noisy neighbour <canary> ...`.
pub const NAME: &str = "noisy neighbour";

pub use crate::result::tenants::{NeighbourEvidence, Windows};

/// The `(from_s, to_s)` of the stages named `names`.
pub fn windows(stages: &[Stage], names: &[String]) -> Windows {
    stages
        .iter()
        .filter(|s| names.contains(&s.name))
        .map(|s| (s.start_s, s.end_s()))
        .collect()
}

/// The quiet and loaded windows of `n` on the canary's run clock. A request counts in the
/// second it completes (latency.hlog's windows), and a loaded stage's requests may still be
/// queued when it ends: each loaded window reaches `timeout_s` (the longest a request lasts)
/// past its stage, but never into a quiet window.
pub fn phases(stages: &[Stage], n: &NoisyNeighbour, timeout_s: f64) -> (Windows, Windows) {
    let quiet = windows(stages, &n.quiet);
    let loaded = windows(stages, &n.loaded)
        .into_iter()
        .map(|(from, to)| {
            let next_quiet = quiet
                .iter()
                .map(|q| q.0)
                .filter(|q| *q >= to)
                .fold(f64::INFINITY, f64::min);
            (from, (to + timeout_s).min(next_quiet))
        })
        .collect();
    (quiet, loaded)
}

/// Judges the canary's steps, quiet (`quiet`, from its latency.hlog's quiet seconds) against
/// loaded (`loaded`). A check that compared nothing warns: it must not pass silently.
pub fn evaluate(
    canary: &str,
    quiet_s: Windows,
    loaded_s: Windows,
    quiet: &BTreeMap<String, Histogram<u64>>,
    loaded: &BTreeMap<String, Histogram<u64>>,
    c: &Compare,
) -> (Vec<Check>, NeighbourEvidence) {
    let min = c.min_count();
    let mut pairs = Vec::new();
    let mut not_compared = Vec::new();
    let steps: std::collections::BTreeSet<&String> = quiet
        .keys()
        .chain(loaded.keys())
        .filter(|s| !is_journey(s))
        .collect();
    for step in steps {
        match (quiet.get(step), loaded.get(step)) {
            (Some(q), Some(l)) if q.len() >= min && l.len() >= min => pairs.push((step, q, l)),
            (q, l) => not_compared.push(format!(
                "{step}: too few requests (quiet {}, loaded {}; need {min})",
                q.map_or(0, Histogram::len),
                l.map_or(0, Histogram::len)
            )),
        }
    }
    let alpha_per_step = c.alpha() / pairs.len().max(1) as f64;
    let mut checks = Vec::new();
    let mut latency = Vec::new();
    for (step, q, l) in pairs {
        let cmp = latency_comparison(step, q, l, alpha_per_step, c);
        let mut check = latency_check(&cmp, c);
        check.name = format!("{NAME} {canary} {step}");
        check.message = format!(
            "canary `{canary}`, quiet stages → loaded stages of its neighbours: {}",
            check.message
        );
        checks.push(check);
        latency.push(cmp);
    }
    if latency.is_empty() {
        checks.push(Check {
            name: format!("{NAME} {canary} coverage"),
            status: Status::Warn,
            observed: Some(0.0),
            warn: None,
            fail: None,
            message: format!(
                "no step of canary `{canary}` could be compared between the quiet and the loaded stages: {}",
                if not_compared.is_empty() {
                    "it measured no step".to_string()
                } else {
                    not_compared.join("; ")
                }
            ),
        });
    }
    let evidence = NeighbourEvidence {
        canary: canary.to_string(),
        quiet_s,
        loaded_s,
        alpha: c.alpha(),
        alpha_per_step: super::round6(alpha_per_step),
        latency,
        not_compared,
    };
    (checks, evidence)
}

/// One line for a human: how many of the canary's steps regressed.
pub fn describe(e: &NeighbourEvidence) -> String {
    let worse: Vec<String> = e
        .latency
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| {
            format!(
                "{} p95 {} → {} ms",
                c.step,
                fmt_num(c.p95_baseline_ms),
                fmt_num(c.p95_candidate_ms)
            )
        })
        .collect();
    if worse.is_empty() {
        format!(
            "canary `{}`: no step slower under load ({} compared)",
            e.canary,
            e.latency.len()
        )
    } else {
        format!(
            "canary `{}` slower under load: {}",
            e.canary,
            worse.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::fixture::hist;

    fn quiet() -> BTreeMap<String, Histogram<u64>> {
        BTreeMap::from([
            (
                "product_search/name_search".to_string(),
                hist((0..60u64).map(|i| 6_000 + (i * 7919) % 4_000)),
            ),
            // A journey (think time included) is never compared.
            (
                "product_search".to_string(),
                hist((0..60u64).map(|i| 300_000 + i)),
            ),
        ])
    }

    #[test]
    fn a_canary_slowed_by_its_neighbours_fails_and_an_unchanged_one_passes() {
        let c = Compare::default();
        let slowed = BTreeMap::from([(
            "product_search/name_search".to_string(),
            hist((0..60u64).map(|i| 400_000 + (i * 7919) % 200_000)),
        )]);
        let (checks, e) = evaluate(
            "canary",
            vec![(0.0, 5.0)],
            vec![(5.0, 10.0)],
            &quiet(),
            &slowed,
            &c,
        );
        assert_eq!(checks.len(), 1, "{checks:?}");
        assert_eq!(
            checks[0].name,
            "noisy neighbour canary product_search/name_search"
        );
        assert_eq!(checks[0].status, Status::Fail, "{}", checks[0].message);
        assert!(e.latency[0].p95_ratio > 30.0, "{:?}", e.latency[0]);
        assert!(
            describe(&e).contains("slower under load"),
            "{}",
            describe(&e)
        );
        // The same latency on both sides: not significant, a pass.
        let (checks, _) = evaluate("canary", vec![], vec![], &quiet(), &quiet(), &c);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].status, Status::Pass, "{}", checks[0].message);
    }

    #[test]
    fn too_few_canary_requests_warn_rather_than_pass() {
        let few = BTreeMap::from([(
            "product_search/name_search".to_string(),
            hist((0..5u64).map(|i| 900_000 + i)),
        )]);
        let (checks, e) = evaluate(
            "canary",
            vec![],
            vec![],
            &quiet(),
            &few,
            &Compare::default(),
        );
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].name, "noisy neighbour canary coverage");
        assert_eq!(checks[0].status, Status::Warn);
        assert!(
            e.not_compared[0].contains("loaded 5; need 20"),
            "{:?}",
            e.not_compared
        );
    }

    #[test]
    fn phases_are_the_named_stages_windows() {
        let stages = crate::plan::Curve::new([
            (
                "quiet".to_string(),
                std::time::Duration::from_secs(4),
                0.0,
                0.0,
            ),
            (
                "loaded".to_string(),
                std::time::Duration::from_secs(6),
                50.0,
                50.0,
            ),
        ])
        .stages;
        let n = NoisyNeighbour {
            canary: "c".into(),
            quiet: vec!["quiet".into()],
            loaded: vec!["loaded".into()],
        };
        // The loaded window reaches the timeout past its stage, for requests still queued.
        assert_eq!(
            phases(&stages, &n, 3.0),
            (vec![(0.0, 4.0)], vec![(4.0, 13.0)])
        );
        // But not into a quiet stage that follows.
        let n = NoisyNeighbour {
            canary: "c".into(),
            quiet: vec!["loaded".into()],
            loaded: vec!["quiet".into()],
        };
        assert_eq!(
            phases(&stages, &n, 30.0),
            (vec![(4.0, 10.0)], vec![(0.0, 4.0)])
        );
    }
}
