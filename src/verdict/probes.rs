//! Checks on the probes' time series (`RunResult.probes`): PostgreSQL, Redis, the canary and
//! the probes' own coverage. A check whose probe did not run, or whose series was not
//! collected, is a warning that says so: never a silent pass.

use crate::result::ProbeReport;

use crate::plan::Gate;
use crate::plan::gate::{ProbeCheck, ProbeMetric, Stat, Worse};
use crate::result::RunResult;

use super::{describe_limits, fmt_num};
use crate::result::{Check, Status};

/// Every probe check of `gate`, in the gate's (stable) order.
pub fn evaluate(run: &RunResult, gate: &Gate) -> Vec<Check> {
    let mut out: Vec<Check> = gate
        .probes
        .iter()
        .map(|(metric, check)| probe_check(run, *metric, check))
        .collect();
    // Without a coverage check of its own, the gate still says when a probe's evidence is
    // incomplete: a warning (a probe that cannot reach its server is a setting to mend,
    // never a failed release).
    if !gate.probes.contains_key(&ProbeMetric::ProbeCoverage) {
        for (name, p) in &run.probes {
            // One tick a busy probe thread skipped in a short run is not an outage: a gap,
            // or two intervals or more unsampled, is.
            let missed = ((1.0 - p.coverage) * run.duration_s / interval_s(p)).round();
            if p.coverage < INCOMPLETE_BELOW && (!p.gaps.is_empty() || missed >= 2.0) {
                out.push(Check {
                    name: format!("probe coverage ({name})"),
                    status: Status::Warn,
                    observed: Some(super::round6(p.coverage)),
                    warn: Some(INCOMPLETE_BELOW),
                    fail: None,
                    message: format!(
                        "probe `{name}` covered {}% of the run with {} gap(s){}: the server-side evidence is incomplete (judge it with [gate.probes] probe_coverage)",
                        fmt_num(100.0 * p.coverage),
                        p.gaps.len(),
                        p.gaps
                            .first()
                            .map_or(String::new(), |g| format!(", the first at {} s: {}", fmt_num(g.t), g.reason))
                    ),
                });
            }
        }
    }
    out
}

/// Below this share of the run sampled, a probe's evidence counts as incomplete.
const INCOMPLETE_BELOW: f64 = 0.9;

/// The probe kind a check reads (`None`: any kind).
fn kind_of(metric: ProbeMetric) -> Option<&'static str> {
    metric.probe_kind().map(|k| k.name())
}

fn probe_check(run: &RunResult, metric: ProbeMetric, check: &ProbeCheck) -> Check {
    let name = match &check.probe {
        Some(p) => format!("probe {} ({p})", metric.name()),
        None => format!("probe {}", metric.name()),
    };
    let l = check.limits;
    let kind = kind_of(metric);
    let probes: Vec<(&String, &ProbeReport)> = run
        .probes
        .iter()
        .filter(|(n, v)| {
            check.probe.as_ref().is_none_or(|p| p == *n) && kind.is_none_or(|k| v.kind.name() == k)
        })
        .collect();
    if probes.is_empty() {
        let which = match (&check.probe, kind) {
            (Some(p), Some(k)) => format!("{k} probe `{p}`"),
            (Some(p), None) => format!("probe `{p}`"),
            (None, Some(k)) => format!("{k} probe"),
            (None, None) => "probe".into(),
        };
        return Check::unmeasured(
            name,
            l,
            format!(
                "no {which} ran in this run: {} not evaluated",
                metric.name()
            ),
        );
    }
    let worse = metric.worse();
    let mut best: Option<(f64, &String, String)> = None;
    let mut reasons = Vec::new();
    for (probe, v) in &probes {
        match measure(metric, check, v) {
            Ok((value, evidence)) => {
                let replace = best.as_ref().is_none_or(|(b, _, _)| match worse {
                    Worse::Higher => value > *b,
                    Worse::Lower => value < *b,
                });
                if replace {
                    best = Some((value, probe, evidence));
                }
            }
            Err(why) => reasons.push(format!("{probe}: {why}")),
        }
    }
    match best {
        Some((value, probe, evidence)) => {
            let unit = if metric == ProbeMetric::CanaryLatencyMs {
                " ms"
            } else {
                ""
            };
            Check::graded(
                name,
                value,
                l,
                worse,
                format!(
                    "{evidence} (probe {probe}); {}",
                    describe_limits(l, worse, unit)
                ),
            )
        }
        None => Check::unmeasured(name, l, format!("not evaluated: {}", reasons.join("; "))),
    }
}

/// A series' values (second element of each `[t, value]` point).
fn series(probe: &ProbeReport, name: &str) -> Result<Vec<f64>, String> {
    let Some(points) = probe.points(name) else {
        let missing = probe.missing.join(", ");
        return Err(if missing.is_empty() {
            format!("series `{name}` was not collected")
        } else {
            format!("series `{name}` was not collected (probe reports missing: {missing})")
        });
    };
    let values: Vec<f64> = points.iter().map(|p| p[1]).collect();
    if values.is_empty() {
        return Err(format!("series `{name}` has no value"));
    }
    Ok(values)
}

fn peak(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

fn interval_s(probe: &ProbeReport) -> f64 {
    Some(probe.interval_s).filter(|x| *x > 0.0).unwrap_or(1.0)
}

/// Transactions a PostgreSQL probe saw end over the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transactions {
    pub commits: f64,
    pub rollbacks: f64,
}

/// Commits and rollbacks over the run: Σ rate × interval of `commits_per_s` and
/// `rollbacks_per_s` (the probe turns `pg_stat_database` counters into per-second rates).
pub fn transactions(probe: &ProbeReport) -> Result<Transactions, String> {
    let dt = interval_s(probe);
    let total = |s: &str| -> Result<f64, String> {
        Ok((series(probe, s)?.iter().sum::<f64>() * dt).round())
    };
    Ok(Transactions {
        commits: total("commits_per_s")?,
        rollbacks: total("rollbacks_per_s")?,
    })
}

/// The check's value on one probe, with a sentence of evidence; `Err` says why it is missing.
fn measure(
    metric: ProbeMetric,
    check: &ProbeCheck,
    probe: &ProbeReport,
) -> Result<(f64, String), String> {
    use ProbeMetric::*;
    let peak_of = |s: &str, what: &str| -> Result<(f64, String), String> {
        let v = peak(&series(probe, s)?);
        Ok((v, format!("peak {what} {}", fmt_num(v))))
    };
    // A per-second rate integrated over the run: Σ value × interval.
    let total_of = |s: &str, what: &str| -> Result<(f64, String), String> {
        let v: f64 = series(probe, s)?.iter().sum::<f64>() * interval_s(probe);
        let v = v.round();
        Ok((v, format!("{} {what} over the run", fmt_num(v))))
    };
    match metric {
        PgConnectionsShare => {
            let (total, max) = (
                series(probe, "connections_total")?,
                series(probe, "max_connections")?,
            );
            let (share, used, of) = total
                .iter()
                .zip(&max)
                .filter(|(_, m)| **m > 0.0)
                .map(|(t, m)| (t / m, *t, *m))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .ok_or("max_connections is never above 0")?;
            Ok((
                share,
                format!(
                    "peak {} of max_connections {} in use ({}%)",
                    fmt_num(used),
                    fmt_num(of),
                    fmt_num(100.0 * share)
                ),
            ))
        }
        PgIdleInTransaction => peak_of(
            "connections_idle_in_transaction",
            "sessions idle in transaction",
        ),
        PgLockWaits => peak_of("lock_waits", "backends waiting on a lock"),
        PgRollbacksPerS => peak_of("rollbacks_per_s", "rollbacks/s"),
        PgRollbacksPerCommit => {
            let t = transactions(probe)?;
            if t.commits <= 0.0 {
                return Err(format!(
                    "no transaction committed over the run ({} rollbacks)",
                    fmt_num(t.rollbacks)
                ));
            }
            let v = t.rollbacks / t.commits;
            Ok((
                v,
                format!(
                    "{} rollbacks per committed transaction ({} rollbacks, {} commits over the run)",
                    fmt_num(v),
                    fmt_num(t.rollbacks),
                    fmt_num(t.commits)
                ),
            ))
        }
        PgDeadlocks => total_of("deadlocks_per_s", "deadlocks"),
        PgOldestXactAgeS => peak_of("oldest_xact_age_s", "oldest transaction age s"),
        PgCronLagS => peak_of("cron_max_lag_s", "cron lag s"),
        PgQueueJobBacklog => {
            let (p, e) = (
                series(probe, "queue_job_pending"),
                series(probe, "queue_job_enqueued"),
            );
            let backlog: Vec<f64> = match (p, e) {
                (Ok(p), Ok(e)) => p.iter().zip(&e).map(|(a, b)| a + b).collect(),
                (Ok(one), Err(_)) | (Err(_), Ok(one)) => one,
                (Err(why), Err(_)) => return Err(why),
            };
            let v = peak(&backlog);
            Ok((
                v,
                format!("peak queue_job backlog {} (pending + enqueued)", fmt_num(v)),
            ))
        }
        RedisMemoryShare => {
            let (used, max) = (
                series(probe, "used_memory_bytes")?,
                series(probe, "maxmemory_bytes")?,
            );
            let (share, u, m) = used
                .iter()
                .zip(&max)
                .filter(|(_, m)| **m > 0.0)
                .map(|(u, m)| (u / m, *u, *m))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .ok_or("maxmemory is 0 (no limit): the memory share cannot be judged")?;
            Ok((
                share,
                format!(
                    "peak used_memory {} MiB of maxmemory {} MiB ({}%)",
                    fmt_num(u / 1048576.0),
                    fmt_num(m / 1048576.0),
                    fmt_num(100.0 * share)
                ),
            ))
        }
        RedisEvictedKeys => total_of("evicted_keys_per_s", "keys evicted"),
        RedisRejectedConnections => total_of("rejected_connections_per_s", "connections rejected"),
        CanaryLatencyMs => {
            let stat = check.percentile.unwrap_or(Stat::P95);
            let mut v = series(probe, "latency_ms")?;
            v.sort_by(f64::total_cmp);
            let q = stat.quantile().unwrap_or(0.95);
            // Nearest rank.
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            let value = v[rank - 1];
            Ok((
                value,
                format!(
                    "canary {} {} ms over {} samples",
                    stat.name(),
                    fmt_num(value),
                    v.len()
                ),
            ))
        }
        ProbeCoverage => {
            let c = probe.coverage;
            let gaps = probe.gaps.len();
            Ok((
                c,
                format!(
                    "covered {}% of the run with {gaps} gap(s)",
                    fmt_num(100.0 * c)
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::Status;
    use crate::verdict::fixture::run;
    use serde_json::json;

    fn gate(text: &str) -> Gate {
        let f: crate::config::gate::GateFile = toml::from_str(text).unwrap();
        Gate::build(&f, &|_, m| panic!("{m}")).unwrap()
    }

    fn with_probes() -> RunResult {
        let mut r = run();
        r.probes.insert(
            "pg".into(),
            serde_json::from_value::<ProbeReport>(json!({
                "kind": "postgres", "interval_s": 1.0, "coverage": 0.9,
                "gaps": [{"t": 3.0, "reason": "timeout"}], "missing": ["ir_cron"],
                "series": {
                    "connections_total": [[0.0, 40.0], [1.0, 85.0], [2.0, 60.0]],
                    "max_connections": [[0.0, 100.0], [1.0, 100.0], [2.0, 100.0]],
                    "connections_idle_in_transaction": [[0.0, 0.0], [1.0, 3.0], [2.0, 1.0]],
                    "deadlocks_per_s": [[0.0, 0.0], [1.0, 2.0], [2.0, 1.0]],
                    "commits_per_s": [[0.0, 100.0], [1.0, 150.0], [2.0, 150.0]],
                    "rollbacks_per_s": [[0.0, 20.0], [1.0, 30.0], [2.0, 30.0]],
                    "queue_job_pending": [[0.0, 10.0], [1.0, 30.0]],
                    "queue_job_enqueued": [[0.0, 5.0], [1.0, 4.0]]
                }
            }))
            .unwrap(),
        );
        r.probes.insert(
            "redis".into(),
            serde_json::from_value::<ProbeReport>(json!({
                "kind": "redis", "interval_s": 2.0, "coverage": 1.0, "gaps": [], "missing": [],
                "series": {
                    "used_memory_bytes": [[0.0, 104857600.0], [2.0, 943718400.0]],
                    "maxmemory_bytes": [[0.0, 1073741824.0], [2.0, 1073741824.0]],
                    "evicted_keys_per_s": [[0.0, 0.0], [2.0, 5.0]]
                }
            }))
            .unwrap(),
        );
        r.probes.insert(
            "canary".into(),
            serde_json::from_value::<ProbeReport>(json!({
                "kind": "canary", "interval_s": 1.0, "coverage": 1.0, "gaps": [], "missing": [],
                "series": { "latency_ms": (1..=20).map(|i| json!([i as f64, i as f64 * 10.0])).collect::<Vec<_>>() }
            })).unwrap(),
        );
        r
    }

    fn one(r: &RunResult, text: &str) -> Check {
        let mut c = evaluate(r, &gate(text));
        assert_eq!(c.len(), 1);
        c.pop().unwrap()
    }

    #[test]
    fn postgres_connection_share_is_the_peak_ratio() {
        let c = one(
            &with_probes(),
            "[probes]\npg_connections_share = { warn = 0.7, fail = 0.9 }\n",
        );
        assert_eq!((c.observed, c.status), (Some(0.85), Status::Warn));
        assert!(
            c.message.contains("peak 85 of max_connections 100"),
            "{}",
            c.message
        );
    }

    #[test]
    fn idle_in_transaction_deadlocks_and_backlog() {
        let r = with_probes();
        let c = one(&r, "[probes]\npg_idle_in_transaction = { fail = 2 }\n");
        assert_eq!((c.observed, c.status), (Some(3.0), Status::Fail));
        let c = one(&r, "[probes]\npg_deadlocks = { warn = 1, fail = 5 }\n");
        assert_eq!((c.observed, c.status), (Some(3.0), Status::Warn));
        let c = one(&r, "[probes]\npg_queue_job_backlog = { fail = 100 }\n");
        assert_eq!((c.observed, c.status), (Some(34.0), Status::Pass));
    }

    #[test]
    fn rollbacks_are_judged_per_committed_transaction() {
        // 80 rollbacks for 400 commits: 0.2 per commit, whatever the rate per second.
        let r = with_probes();
        let c = one(
            &r,
            "[probes]\npg_rollbacks_per_commit = { warn = 0.1, fail = 0.5 }\n",
        );
        assert_eq!((c.observed, c.status), (Some(0.2), Status::Warn));
        assert!(
            c.message.contains("80 rollbacks, 400 commits"),
            "{}",
            c.message
        );
        let mut r = with_probes();
        r.probes
            .get_mut("pg")
            .unwrap()
            .series
            .insert("commits_per_s".into(), vec![[0.0, 0.0]]);
        let c = one(&r, "[probes]\npg_rollbacks_per_commit = { fail = 0.5 }\n");
        assert_eq!((c.status, c.observed), (Status::Warn, None));
        assert!(
            c.message.contains("no transaction committed"),
            "{}",
            c.message
        );
    }

    #[test]
    fn redis_memory_share_and_evictions_integrate_the_interval() {
        let r = with_probes();
        let c = one(
            &r,
            "[probes]\nredis_memory_share = { warn = 0.8, fail = 0.95 }\n",
        );
        assert_eq!((c.observed, c.status), (Some(0.878906), Status::Warn));
        // 5 keys/s for one 2-second interval.
        let c = one(&r, "[probes]\nredis_evicted_keys = { fail = 0 }\n");
        assert_eq!((c.observed, c.status), (Some(10.0), Status::Fail));
    }

    #[test]
    fn canary_percentile_uses_the_nearest_rank() {
        let r = with_probes();
        let c = one(&r, "[probes]\ncanary_latency_ms = { fail = 150 }\n");
        assert_eq!((c.observed, c.status), (Some(190.0), Status::Fail));
        let c = one(
            &r,
            "[probes]\ncanary_latency_ms = { fail = 150, percentile = \"p50\" }\n",
        );
        assert_eq!((c.observed, c.status), (Some(100.0), Status::Pass));
    }

    #[test]
    fn coverage_is_the_lowest_probe() {
        let c = one(
            &with_probes(),
            "[probes]\nprobe_coverage = { warn = 0.95, fail = 0.5 }\n",
        );
        assert_eq!((c.observed, c.status), (Some(0.9), Status::Warn));
        assert!(
            c.message.contains("1 gap(s)") && c.message.contains("probe pg"),
            "{}",
            c.message
        );
    }

    #[test]
    fn a_probe_that_did_not_run_warns_and_says_so() {
        let c = one(&run(), "[probes]\npg_lock_waits = { fail = 0 }\n");
        assert_eq!((c.status, c.observed), (Status::Warn, None));
        assert!(c.message.contains("no postgres probe ran"), "{}", c.message);
        let c = one(&run(), "[probes]\nprobe_coverage = { fail = 0.5 }\n");
        assert_eq!(c.status, Status::Warn);
        // A probe named but absent from the run (a gate file over a profile without it).
        let c = one(
            &run(),
            "[probes]\npg_lock_waits = { fail = 0, probe = \"postgres\" }\n",
        );
        assert!(
            c.message.contains("postgres probe `postgres`"),
            "{}",
            c.message
        );
    }

    #[test]
    fn a_series_the_probe_did_not_collect_warns_with_the_probe_s_reason() {
        let c = one(&with_probes(), "[probes]\npg_cron_lag_s = { fail = 60 }\n");
        assert_eq!((c.status, c.observed), (Status::Warn, None));
        assert!(
            c.message.contains("cron_max_lag_s") && c.message.contains("ir_cron"),
            "{}",
            c.message
        );
    }

    #[test]
    fn a_probe_with_incomplete_coverage_warns_even_without_a_coverage_check() {
        let r = with_probes();
        // pg covered 90% (not below the 90% line), so nothing; then one that never connected.
        assert!(evaluate(&r, &Gate::default()).is_empty());
        let mut r = r;
        let redis = r.probes.get_mut("redis").unwrap();
        redis.coverage = 0.0;
        redis.gaps = vec![crate::result::Gap {
            t: 0.0,
            reason: "AuthenticationFailed".into(),
        }];
        let c = evaluate(&r, &Gate::default());
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].status, c[0].observed), (Status::Warn, Some(0.0)));
        assert!(
            c[0].message.contains("AuthenticationFailed"),
            "{}",
            c[0].message
        );
        // A gate with its own coverage check judges it instead.
        assert!(
            evaluate(&r, &gate("[probes]\nprobe_coverage = { fail = 0.5 }\n"))
                .iter()
                .all(|c| c.name == "probe probe_coverage")
        );
        // One tick skipped in a short run (8 of 9 half-second intervals, no gap) is no outage.
        let mut short = with_probes();
        short.duration_s = 4.5;
        for p in short.probes.values_mut() {
            p.interval_s = 0.5;
            p.coverage = 8.0 / 9.0;
            p.gaps.clear();
        }
        assert!(evaluate(&short, &Gate::default()).is_empty());
    }
}
