//! Server-side evidence compared with the baseline, with the latency comparison's logic: a
//! regression needs significance, a relative change (candidate / baseline mean at least
//! `[gate.compare.server] min_ratio`) and an absolute increase beyond the metric's level.
//!
//! - PostgreSQL series (`lock_wait_share`, `idle_in_transaction`, `connections_in_use`)
//!   compare the per-interval values of the two runs: a one-sided Mann-Whitney U test for
//!   significance, and the increase of the mean with a normal confidence interval (Welch's
//!   standard error). Not the Hodges-Lehmann shift: it is a median, and lock waits come in
//!   bursts, so when most intervals are 0 on both sides it says 0 however often the
//!   candidate waits (a `quant-lock` release: mean 0 → 0.15, shift 0). Successive intervals are not
//!   independent (a backend idle in transaction stays so for several samples), which makes
//!   the p-value optimistic; the effect levels are what keeps an unchanged release from
//!   failing.
//! - Redis memory per key (`redis_bytes_per_key`) is what the server grows by per key it
//!   gains: the least-squares slope of `used_memory_bytes` on `keys` over the run's samples.
//!   Two slopes are compared with z = Δ / √(se_b² + se_k²). Keys and memory are the
//!   server's, so a Redis that also serves other stores dilutes the figure.
//!
//! Levels are Bonferroni-corrected over the comparisons made.

use hdrhistogram::Histogram;

use crate::plan::gate::{Compare, ServerMetric, Worse};
use crate::result::{Check, ProbeReport, RunResult, ServerComparison, Status};

use super::compare::CONFIDENCE;
use super::stats::{self};
use super::{describe_limits, fmt_num, grade, round6};

/// Intervals each side needs for a per-interval comparison.
const MIN_INTERVALS: usize = 5;
/// Keys the Redis server must gain (max − min over the run) on each side for a slope.
const MIN_KEYS_GAINED: f64 = 20.0;
/// Per-interval values are compared as integers in thousandths.
const SCALE: f64 = 1000.0;

/// One side of a comparison.
enum Side {
    /// One value per probe interval.
    Intervals(Vec<f64>),
    /// A least-squares slope with its standard error, over `n` samples.
    Slope { slope: f64, se: f64, n: u64 },
}

/// Every server-side comparison both runs allow; also what could not be compared, and why.
pub fn compare(
    run: &RunResult,
    base: &RunResult,
    c: &Compare,
) -> (Vec<Check>, Vec<ServerComparison>, Vec<String>) {
    let mut pairs = Vec::new();
    let mut not_compared = Vec::new();
    for (probe, k) in &run.probes {
        let Some(b) = base.probes.get(probe).filter(|b| b.kind == k.kind) else {
            continue;
        };
        for metric in ServerMetric::ALL {
            if metric.probe_kind() != k.kind {
                continue;
            }
            match (side(metric, b), side(metric, k)) {
                (Ok(sb), Ok(sk)) => pairs.push((probe, metric, sb, sk)),
                (Err(why), _) => {
                    not_compared.push(format!("{} ({probe}): baseline {why}", metric.name()))
                }
                (_, Err(why)) => {
                    not_compared.push(format!("{} ({probe}): candidate {why}", metric.name()))
                }
            }
        }
    }
    let alpha = c.alpha() / pairs.len().max(1) as f64;
    let (mut checks, mut out) = (Vec::new(), Vec::new());
    for (probe, metric, b, k) in pairs {
        let cmp = comparison(probe, metric, &b, &k, alpha, c);
        checks.push(check(&cmp, metric, alpha, c));
        out.push(cmp);
    }
    (checks, out, not_compared)
}

/// The check's name: `compare <metric> (<probe>)`.
pub fn check_name(metric: &str, probe: &str) -> String {
    format!("compare {metric} ({probe})")
}

fn series<'a>(p: &'a ProbeReport, name: &str) -> Result<&'a [[f64; 2]], String> {
    p.points(name)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("has no `{name}` series"))
}

/// Sums series point by point, matching points by their time.
fn summed(p: &ProbeReport, names: &[&str]) -> Result<Vec<f64>, String> {
    let mut total: std::collections::BTreeMap<u64, f64> = series(p, names[0])?
        .iter()
        .map(|[t, v]| (t.to_bits(), *v))
        .collect();
    for name in &names[1..] {
        let other: std::collections::HashMap<u64, f64> = series(p, name)?
            .iter()
            .map(|[t, v]| (t.to_bits(), *v))
            .collect();
        total.retain(|t, v| match other.get(t) {
            Some(x) => {
                *v += x;
                true
            }
            None => false,
        });
    }
    Ok(total.into_values().collect())
}

fn side(metric: ServerMetric, p: &ProbeReport) -> Result<Side, String> {
    let values = match metric {
        ServerMetric::LockWaitShare => series(p, "lock_wait_share")?.iter().map(|x| x[1]).collect(),
        ServerMetric::IdleInTransaction => series(p, "connections_idle_in_transaction")?
            .iter()
            .map(|x| x[1])
            .collect(),
        ServerMetric::ConnectionsInUse => summed(
            p,
            &[
                "connections_active",
                "connections_idle_in_transaction",
                "connections_idle_in_transaction_aborted",
            ],
        )?,
        ServerMetric::RedisBytesPerKey => return slope(p),
    };
    let values: Vec<f64> = values.into_iter().filter(|v: &f64| v.is_finite()).collect();
    if values.len() < MIN_INTERVALS {
        return Err(format!(
            "has {} interval(s) of it (need {MIN_INTERVALS})",
            values.len()
        ));
    }
    Ok(Side::Intervals(values))
}

/// Least-squares slope of used memory on keys, matched by sample time.
fn slope(p: &ProbeReport) -> Result<Side, String> {
    let keys: std::collections::HashMap<u64, f64> = series(p, "keys")?
        .iter()
        .map(|[t, v]| (t.to_bits(), *v))
        .collect();
    let xy: Vec<(f64, f64)> = series(p, "used_memory_bytes")?
        .iter()
        .filter_map(|[t, m]| keys.get(&t.to_bits()).map(|k| (*k, *m)))
        .collect();
    let (lo, hi) = xy
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| {
            (lo.min(*x), hi.max(*x))
        });
    if xy.len() < MIN_INTERVALS || hi - lo < MIN_KEYS_GAINED {
        return Err(format!(
            "gained {} key(s) over {} sample(s) (need {MIN_KEYS_GAINED} over {MIN_INTERVALS}): too few new sessions to price one",
            fmt_num((hi - lo).max(0.0)),
            xy.len()
        ));
    }
    let n = xy.len() as f64;
    let (mx, my) = (
        xy.iter().map(|p| p.0).sum::<f64>() / n,
        xy.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = xy.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let sxy: f64 = xy.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = sxy / sxx;
    let residual: f64 = xy
        .iter()
        .map(|(x, y)| (y - my - slope * (x - mx)).powi(2))
        .sum();
    let se = (residual / (n - 2.0) / sxx).sqrt();
    Ok(Side::Slope {
        slope,
        se,
        n: xy.len() as u64,
    })
}

fn histogram(values: &[f64]) -> Histogram<u64> {
    // Up to 10⁹ (a share, or a count of backends, in thousandths) with 3 significant figures.
    let mut h = Histogram::<u64>::new_with_max(1_000_000_000_000, 3).expect("valid bounds");
    for v in values {
        h.saturating_record((v.max(0.0) * SCALE).round() as u64);
    }
    h
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The sample variance (n − 1); 0 for fewer than two values.
fn variance(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64
}

fn comparison(
    probe: &str,
    metric: ServerMetric,
    b: &Side,
    k: &Side,
    alpha: f64,
    c: &Compare,
) -> ServerComparison {
    // (test, n_b, n_k, mean_b, mean_k, increase, [low, high], p)
    let (test, nb, nk, mb, mk, increase, interval, p) = match (b, k) {
        (Side::Intervals(vb), Side::Intervals(vk)) => {
            let mw = stats::mann_whitney_hist(&histogram(vb), &histogram(vk));
            let (mb, mk) = (mean(vb), mean(vk));
            let d = mk - mb;
            let se = (variance(vb) / vb.len() as f64 + variance(vk) / vk.len() as f64).sqrt();
            let z = stats::two_sided_z(CONFIDENCE);
            (
                "mann_whitney_u",
                vb.len() as u64,
                vk.len() as u64,
                mb,
                mk,
                d,
                [d - z * se, d + z * se],
                mw.p_greater,
            )
        }
        (
            Side::Slope {
                slope: sb,
                se: eb,
                n: nb,
            },
            Side::Slope {
                slope: sk,
                se: ek,
                n: nk,
            },
        ) => {
            let d = sk - sb;
            let se = (eb * eb + ek * ek).sqrt();
            let p = if se > 0.0 {
                stats::upper_tail(d / se)
            } else if d > 0.0 {
                0.0
            } else {
                1.0
            };
            let z = stats::two_sided_z(CONFIDENCE);
            (
                "slope_z",
                *nb,
                *nk,
                *sb,
                *sk,
                d,
                [d - z * se, d + z * se],
                p,
            )
        }
        _ => unreachable!("a metric reads the same kind of side from both runs"),
    };
    let ratio = (mb > 0.0).then(|| mk / mb);
    let significant = p < alpha;
    // From nothing to something is a rise of any ratio.
    let ratio_reached = ratio.map_or(mk > 0.0, |r| r >= c.server_min_ratio());
    let status = if significant && ratio_reached {
        grade(increase, c.server_increase(metric), Worse::Higher)
    } else {
        Status::Pass
    };
    ServerComparison {
        probe: probe.to_string(),
        metric: metric.name().into(),
        mechanism: metric.mechanism().into(),
        test: test.into(),
        n_baseline: nb,
        n_candidate: nk,
        baseline: round6(mb),
        candidate: round6(mk),
        increase: round6(increase),
        interval: [round6(interval[0]), round6(interval[1])],
        confidence: CONFIDENCE,
        ratio: ratio.map(round6),
        p_value: round6(p),
        significant,
        status,
    }
}

fn check(cmp: &ServerComparison, metric: ServerMetric, alpha: f64, c: &Compare) -> Check {
    let limits = c.server_increase(metric);
    let unit = metric.unit();
    let what = match metric {
        ServerMetric::RedisBytesPerKey => "memory per key gained (least-squares slope)",
        _ => "mean per interval",
    };
    let increase = match metric {
        ServerMetric::RedisBytesPerKey => "slope difference",
        _ => "increase of the mean",
    };
    Check {
        name: check_name(&cmp.metric, &cmp.probe),
        status: cmp.status,
        observed: Some(cmp.increase),
        warn: limits.warn,
        fail: limits.fail,
        message: format!(
            "{} {what} {}{unit} → {}{unit} ({}), {increase} {}{unit} [{}, {}] ({}%), one-sided p = {} ({}significant at {}); a regression needs significance, a ratio of at least {} and an increase beyond a level: {}; a rise points at {}",
            cmp.metric,
            fmt_num(cmp.baseline),
            fmt_num(cmp.candidate),
            cmp.ratio
                .map_or("from 0".to_string(), |r| format!("×{}", fmt_num(r))),
            fmt_num(cmp.increase),
            fmt_num(cmp.interval[0]),
            fmt_num(cmp.interval[1]),
            fmt_num(100.0 * cmp.confidence),
            fmt_num(cmp.p_value),
            if cmp.significant { "" } else { "not " },
            fmt_num(alpha),
            fmt_num(c.server_min_ratio()),
            describe_limits(limits, Worse::Higher, unit),
            metric.mechanism(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ProbeKind;
    use crate::verdict::fixture::run;

    fn probe(kind: ProbeKind, series: &[(&str, Vec<f64>)]) -> ProbeReport {
        let mut p: ProbeReport = serde_json::from_value(serde_json::json!({
            "kind": kind, "interval_s": 1.0, "coverage": 1.0, "series": {}
        }))
        .unwrap();
        for (name, values) in series {
            let points = values
                .iter()
                .enumerate()
                .map(|(i, v)| [i as f64 + 1.0, *v])
                .collect();
            p.series.insert(name.to_string(), points);
        }
        p
    }

    fn pg(lock_share: Vec<f64>, idle_in_tx: Vec<f64>) -> ProbeReport {
        let n = lock_share.len();
        probe(
            ProbeKind::Postgres,
            &[
                ("lock_wait_share", lock_share),
                ("connections_idle_in_transaction", idle_in_tx),
                ("connections_active", vec![3.0; n]),
                ("connections_idle_in_transaction_aborted", vec![0.0; n]),
            ],
        )
    }

    fn runs(b: ProbeReport, k: ProbeReport) -> (RunResult, RunResult) {
        let (mut rb, mut rk) = (run(), run());
        rb.probes.insert("pg".into(), b);
        rk.probes.insert("pg".into(), k);
        (rb, rk)
    }

    fn find<'a>(cmps: &'a [ServerComparison], metric: &str) -> &'a ServerComparison {
        cmps.iter().find(|c| c.metric == metric).unwrap()
    }

    #[test]
    fn a_large_rise_in_lock_waits_fails_and_names_lock_contention() {
        let quiet: Vec<f64> = (0..15).map(|i| 0.01 * (i % 3) as f64).collect();
        let locked: Vec<f64> = (0..15).map(|i| 0.3 + 0.01 * (i % 4) as f64).collect();
        let (b, k) = runs(pg(quiet.clone(), vec![0.0; 15]), pg(locked, vec![0.0; 15]));
        let (checks, cmps, not) = compare(&k, &b, &Compare::default());
        assert!(not.is_empty(), "{not:?}");
        let lock = find(&cmps, "lock_wait_share");
        assert_eq!(
            (lock.status, lock.mechanism.as_str()),
            (Status::Fail, "lock contention")
        );
        assert!(lock.increase > 0.28 && lock.increase < 0.33, "{lock:?}");
        let check = checks
            .iter()
            .find(|c| c.name == "compare lock_wait_share (pg)")
            .unwrap();
        assert_eq!(check.status, Status::Fail);
        // Nothing else moved: idle in transaction and connections in use pass.
        assert_eq!(find(&cmps, "idle_in_transaction").status, Status::Pass);
        assert_eq!(find(&cmps, "connections_in_use").status, Status::Pass);
        // The same series on both sides: nothing.
        let (b, k) = runs(pg(quiet.clone(), vec![0.0; 15]), pg(quiet, vec![0.0; 15]));
        let (_, cmps, _) = compare(&k, &b, &Compare::default());
        assert!(cmps.iter().all(|c| c.status == Status::Pass), "{cmps:?}");
    }

    #[test]
    fn lock_waits_in_bursts_from_none_are_sized_by_the_mean_not_a_median() {
        // Most intervals see no waiter on either side; the candidate waits in one interval
        // of three (mean 0 → 0.15): a median-based shift would say 0 and pass it.
        let none = vec![0.0; 60];
        let bursts: Vec<f64> = (0..60)
            .map(|i| if i % 3 == 0 { 0.45 } else { 0.0 })
            .collect();
        let (b, k) = runs(pg(none, vec![0.0; 60]), pg(bursts, vec![0.0; 60]));
        let (_, cmps, _) = compare(&k, &b, &Compare::default());
        let lock = find(&cmps, "lock_wait_share");
        assert!((lock.increase - 0.15).abs() < 1e-9, "{lock:?}");
        assert!(
            lock.interval[0] > 0.05 && lock.interval[1] < 0.25,
            "{lock:?}"
        );
        assert_eq!((lock.status, lock.ratio), (Status::Fail, None), "{lock:?}");
    }

    #[test]
    fn a_significant_rise_below_the_ratio_or_the_level_passes() {
        // 0.40 → 0.44: significant, +0.04 is under the 0.05 warn level and ×1.1 under 1.5.
        let b: Vec<f64> = (0..30).map(|i| 0.40 + 0.001 * (i % 5) as f64).collect();
        let k: Vec<f64> = b.iter().map(|v| v + 0.04).collect();
        let (rb, rk) = runs(pg(b, vec![0.0; 30]), pg(k, vec![0.0; 30]));
        let (_, cmps, _) = compare(&rk, &rb, &Compare::default());
        let lock = find(&cmps, "lock_wait_share");
        assert!(lock.significant, "{lock:?}");
        assert_eq!(lock.status, Status::Pass);
        // A large shift on a high base, under the ratio: 0.5 → 0.7 is ×1.4.
        let b: Vec<f64> = (0..30).map(|i| 0.5 + 0.001 * (i % 5) as f64).collect();
        let k: Vec<f64> = b.iter().map(|v| v + 0.2).collect();
        let (rb, rk) = runs(pg(b, vec![0.0; 30]), pg(k, vec![0.0; 30]));
        let (_, cmps, _) = compare(&rk, &rb, &Compare::default());
        assert_eq!(find(&cmps, "lock_wait_share").status, Status::Pass);
    }

    #[test]
    fn idle_in_transaction_from_zero_fails_and_a_missing_series_is_said() {
        let (b, k) = runs(
            pg(vec![0.0; 12], vec![0.0; 12]),
            pg(
                vec![0.0; 12],
                vec![
                    6.0, 9.0, 11.0, 12.0, 12.0, 12.0, 11.0, 12.0, 12.0, 10.0, 12.0, 12.0,
                ],
            ),
        );
        let (_, cmps, _) = compare(&k, &b, &Compare::default());
        let idle = find(&cmps, "idle_in_transaction");
        assert_eq!((idle.status, idle.ratio), (Status::Fail, None), "{idle:?}");
        // Connections in use rise too, but only warn by default.
        assert_eq!(find(&cmps, "connections_in_use").status, Status::Warn);
        // A baseline recorded before the 10 Hz sampler has no lock_wait_share.
        let mut old = pg(vec![0.0; 12], vec![0.0; 12]);
        old.series.remove("lock_wait_share");
        let (b, _) = runs(old, pg(vec![0.0; 12], vec![0.0; 12]));
        let (_, cmps, not) = compare(&k, &b, &Compare::default());
        assert!(cmps.iter().all(|c| c.metric != "lock_wait_share"));
        assert_eq!(
            not,
            vec!["lock_wait_share (pg): baseline has no `lock_wait_share` series"]
        );
    }

    fn redis(bytes_per_key: f64, noise: f64) -> ProbeReport {
        // 30 samples, 10 keys more each, memory growing by `bytes_per_key` each key.
        let keys: Vec<f64> = (0..30).map(|i| 1000.0 + 10.0 * i as f64).collect();
        let memory = keys
            .iter()
            .enumerate()
            .map(|(i, k)| 5e6 + bytes_per_key * k + noise * ((i * 7 % 5) as f64 - 2.0))
            .collect();
        probe(
            ProbeKind::Redis,
            &[("keys", keys), ("used_memory_bytes", memory)],
        )
    }

    #[test]
    fn redis_memory_per_key_is_the_slope_of_memory_on_keys() {
        let (mut b, mut k) = (run(), run());
        b.probes.insert("redis".into(), redis(400.0, 3000.0));
        k.probes
            .insert("redis".into(), redis(400.0 + 65536.0, 3000.0));
        let (_, cmps, _) = compare(&k, &b, &Compare::default());
        let r = find(&cmps, "redis_bytes_per_key");
        assert_eq!(r.test, "slope_z");
        assert!((r.baseline - 400.0).abs() < 50.0, "{r:?}");
        assert!((r.increase - 65536.0).abs() < 100.0, "{r:?}");
        assert_eq!(
            (r.status, r.mechanism.as_str()),
            (Status::Fail, "Redis memory per session")
        );
        // An unchanged release: the slopes agree within their noise.
        k.probes.insert("redis".into(), redis(430.0, 3000.0));
        let (_, cmps, _) = compare(&k, &b, &Compare::default());
        assert_eq!(find(&cmps, "redis_bytes_per_key").status, Status::Pass);
        // No sessions created: no slope, and the reason is given.
        let mut flat = redis(400.0, 0.0);
        flat.series.insert(
            "keys".into(),
            (0..30).map(|i| [i as f64 + 1.0, 1000.0]).collect(),
        );
        k.probes.insert("redis".into(), flat);
        let (_, cmps, not) = compare(&k, &b, &Compare::default());
        assert!(cmps.is_empty());
        assert!(not[0].contains("too few new sessions"), "{not:?}");
    }
}
