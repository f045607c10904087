//! Building the typed gate from its file form: every value checked, every error located in
//! the file it came from.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::{
    Abort, ErrorLimits, Gate, Limits, ProbeCheck, ProbeMetric, Selector, ServerMetric, Stat, Worse,
};
use crate::config::ConfigError;
use crate::config::gate::{GateFile, LimitsFile};

impl Gate {
    /// Builds a gate from its file form; `locate` turns a span of that file into an error.
    pub fn build(
        f: &GateFile,
        locate: &dyn Fn(Range<usize>, String) -> ConfigError,
    ) -> Result<Gate, ConfigError> {
        let at = |s: &Spanned<LimitsFile>, m: String| locate(s.span(), m);
        let mut gate = Gate::default();
        for (sel, lat) in &f.latency {
            let (span, lat, sel) = (lat.span(), lat.get_ref(), sel.get_ref());
            let first = [
                &lat.p50, &lat.p90, &lat.p95, &lat.p99, &lat.p999, &lat.max, &lat.mean,
            ];
            let mut stats = BTreeMap::new();
            for (limits, stat) in first.into_iter().zip([
                Stat::P50,
                Stat::P90,
                Stat::P95,
                Stat::P99,
                Stat::P999,
                Stat::Max,
                Stat::Mean,
            ]) {
                if let Some(l) = limits {
                    check_selector(sel).map_err(|m| at(l, m))?;
                    let key = format!("gate.latency.\"{sel}\".{}", stat.name());
                    stats.insert(stat, limits_of(l, Worse::Higher, None, &key, &at)?);
                }
            }
            if stats.is_empty() {
                return Err(locate(
                    span,
                    format!(
                        "gate.latency.\"{sel}\" sets no statistic (p50, p90, p95, p99, p999, max, mean)"
                    ),
                ));
            }
            gate.latency.insert(sel.clone(), stats);
        }
        for (sel, e) in &f.errors {
            let sel = sel.get_ref();
            let mut limits = ErrorLimits::default();
            if let Some(r) = &e.rate {
                check_selector(sel).map_err(|m| at(r, m))?;
                let key = format!("gate.errors.\"{sel}\".rate");
                limits.rate = Some(limits_of(r, Worse::Higher, Some(1.0), &key, &at)?);
            }
            for (kind, l) in &e.kinds {
                check_selector(sel).map_err(|m| at(l, m))?;
                let key = format!("gate.errors.\"{sel}\".kinds.\"{kind}\"");
                limits.kinds.insert(
                    kind.clone(),
                    limits_of(l, Worse::Higher, Some(1.0), &key, &at)?,
                );
            }
            gate.errors.insert(sel.clone(), limits);
        }
        if let Some(l) = &f.journeys.started_ratio {
            let key = "gate.journeys.started_ratio";
            gate.started_ratio = Some(limits_of(l, Worse::Lower, Some(1.0), key, &at)?);
        }
        if let Some(l) = &f.journeys.dropped {
            gate.dropped = Some(limits_of(
                l,
                Worse::Higher,
                None,
                "gate.journeys.dropped",
                &at,
            )?);
        }
        for (name, p) in &f.probes {
            let span = p.span();
            let p = p.get_ref();
            let Some(metric) = ProbeMetric::ALL.into_iter().find(|m| m.name() == name) else {
                let known: Vec<_> = ProbeMetric::ALL.iter().map(|m| m.name()).collect();
                return Err(locate(
                    span,
                    format!("unknown probe check `{name}`; known: {}", known.join(", ")),
                ));
            };
            let percentile = match (&p.percentile, metric) {
                (None, _) => None,
                (Some(s), ProbeMetric::CanaryLatencyMs) => match Stat::parse(s) {
                    Some(st) if st.quantile().is_some() => Some(st),
                    _ => {
                        return Err(locate(
                            span,
                            format!(
                                "gate.probes.{name}.percentile: `{s}` is not one of p50, p90, p95, p99, p999"
                            ),
                        ));
                    }
                },
                (Some(_), _) => {
                    return Err(locate(
                        span,
                        format!(
                            "gate.probes.{name}: `percentile` applies to canary_latency_ms only"
                        ),
                    ));
                }
            };
            // Probes are named by their kind: a name that is not the check's own kind would
            // leave the check unmeasured in every run, quietly.
            if let Some(probe) = &p.probe {
                let fits: Vec<&str> = match metric.probe_kind() {
                    Some(k) => vec![k.name()],
                    None => crate::plan::ProbeKind::ALL
                        .iter()
                        .map(|k| k.name())
                        .collect(),
                };
                if !fits.contains(&probe.as_str()) {
                    return Err(locate(
                        span,
                        format!(
                            "gate.probes.{name}: `probe = \"{probe}\"` names no probe this check reads (probes are named by their table: {})",
                            fits.iter()
                                .map(|k| format!("`{k}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
            let spanned = Spanned::new(
                span,
                LimitsFile {
                    warn: p.warn,
                    fail: p.fail,
                },
            );
            let cap = metric.is_share().then_some(1.0);
            let key = format!("gate.probes.{name}");
            let limits = limits_of(&spanned, metric.worse(), cap, &key, &at)?;
            gate.probes.insert(
                metric,
                ProbeCheck {
                    limits,
                    probe: p.probe.clone(),
                    percentile,
                },
            );
        }
        let c = &f.compare;
        if let Some(a) = &c.alpha {
            let v = *a.get_ref();
            if !(v > 0.0 && v < 1.0) {
                return Err(locate(
                    a.span(),
                    format!("gate.compare.alpha must be between 0 and 1, got {v}"),
                ));
            }
            gate.compare.alpha = Some(v);
        }
        if let Some(l) = &c.p95_ratio {
            let limits = limits_of(l, Worse::Higher, None, "gate.compare.p95_ratio", &at)?;
            gate.compare.p95_ratio = Some(limits);
        }
        if let Some(l) = &c.shift_ms {
            gate.compare.shift_ms = Some(limits_of(
                l,
                Worse::Higher,
                None,
                "gate.compare.shift_ms",
                &at,
            )?);
        }
        // The one-number forms: the fail level, with no warn level.
        let min_effect = |v: &Spanned<f64>,
                          key: &str,
                          table: &str,
                          other: bool,
                          floor: f64|
         -> Result<Limits, ConfigError> {
            if other {
                return Err(locate(
                    v.span(),
                    format!(
                        "gate.compare.{key} and gate.compare.{table} set the same limit: keep one"
                    ),
                ));
            }
            let x = *v.get_ref();
            if !(x.is_finite() && x >= floor) {
                return Err(locate(
                    v.span(),
                    format!("gate.compare.{key} must be at least {floor}, got {x}"),
                ));
            }
            Ok(Limits {
                warn: None,
                fail: Some(x),
            })
        };
        if let Some(v) = &c.min_ratio {
            let l = min_effect(v, "min_ratio", "p95_ratio", c.p95_ratio.is_some(), 1.0)?;
            gate.compare.p95_ratio = Some(l);
        }
        if let Some(v) = &c.min_shift_ms {
            let l = min_effect(v, "min_shift_ms", "shift_ms", c.shift_ms.is_some(), 0.0)?;
            gate.compare.shift_ms = Some(l);
        }
        if let Some(l) = &c.error_rate_increase {
            let key = "gate.compare.error_rate_increase";
            gate.compare.error_rate_increase =
                Some(limits_of(l, Worse::Higher, Some(1.0), key, &at)?);
        }
        if let Some(l) = &c.rollbacks_per_commit_increase {
            let key = "gate.compare.rollbacks_per_commit_increase";
            gate.compare.rollbacks_per_commit_increase =
                Some(limits_of(l, Worse::Higher, None, key, &at)?);
        }
        if let Some(n) = &c.min_count {
            if *n.get_ref() < 1 {
                return Err(locate(
                    n.span(),
                    "gate.compare.min_count must be at least 1".into(),
                ));
            }
            gate.compare.min_count = Some(*n.get_ref() as u64);
        }
        if let Some(srv) = &c.server {
            for (metric, l) in [
                (ServerMetric::LockWaitShare, &srv.lock_wait_share),
                (ServerMetric::IdleInTransaction, &srv.idle_in_transaction),
                (ServerMetric::ConnectionsInUse, &srv.connections_in_use),
                (ServerMetric::RedisBytesPerKey, &srv.redis_bytes_per_key),
            ] {
                if let Some(l) = l {
                    let key = format!("gate.compare.server.{}", metric.name());
                    let cap = (metric == ServerMetric::LockWaitShare).then_some(1.0);
                    let limits = limits_of(l, Worse::Higher, cap, &key, &at)?;
                    gate.compare.server.insert(metric, limits);
                }
            }
            if let Some(v) = &srv.min_ratio {
                let x = *v.get_ref();
                if !(x.is_finite() && x >= 1.0) {
                    return Err(locate(
                        v.span(),
                        format!("gate.compare.server.min_ratio must be at least 1, got {x}"),
                    ));
                }
                gate.compare.server_min_ratio = Some(x);
            }
        }
        let g = &f.generator;
        for (value, key, slot, max) in [
            (
                &g.lateness_p99_ms,
                "lateness_p99_ms",
                &mut gate.generator.lateness_p99_ms,
                f64::INFINITY,
            ),
            (
                &g.runqueue_wait,
                "runqueue_wait",
                &mut gate.generator.runqueue_wait,
                f64::INFINITY,
            ),
            (
                &g.cpu_pressure,
                "cpu_pressure",
                &mut gate.generator.cpu_pressure,
                1.0,
            ),
            (
                &g.recorder_lag_ms,
                "recorder_lag_ms",
                &mut gate.generator.recorder_lag_ms,
                f64::INFINITY,
            ),
        ] {
            if let Some(v) = value {
                let x = *v.get_ref();
                if !(x > 0.0 && x <= max) {
                    let range = if max.is_finite() {
                        format!("above 0 and at most {max}")
                    } else {
                        "above 0".into()
                    };
                    return Err(locate(
                        v.span(),
                        format!("gate.generator.{key} must be {range}, got {x}"),
                    ));
                }
                *slot = Some(x);
            }
        }
        if let Some(a) = &f.abort {
            let window = humantime::parse_duration(a.window.get_ref().trim()).map_err(|e| {
                locate(
                    a.window.span(),
                    format!(
                        "gate.abort.window: `{}` is not a duration: {e}",
                        a.window.get_ref()
                    ),
                )
            })?;
            let window_s = window.as_secs();
            if window_s < 1 || window.subsec_nanos() != 0 {
                return Err(locate(
                    a.window.span(),
                    "gate.abort.window must be a whole number of seconds, at least 1s".into(),
                ));
            }
            let error_rate = match &a.error_rate {
                Some(r) if !(*r.get_ref() >= 0.0 && *r.get_ref() < 1.0) => {
                    return Err(locate(
                        r.span(),
                        format!(
                            "gate.abort.error_rate must be in [0, 1), got {}",
                            r.get_ref()
                        ),
                    ));
                }
                r => r.as_ref().map(|r| *r.get_ref()),
            };
            let p95_ms = match &a.p95_ms {
                Some(p) if !(p.get_ref().is_finite() && *p.get_ref() > 0.0) => {
                    return Err(locate(
                        p.span(),
                        format!("gate.abort.p95_ms must be above 0, got {}", p.get_ref()),
                    ));
                }
                p => p.as_ref().map(|p| *p.get_ref()),
            };
            if error_rate.is_none() && p95_ms.is_none() {
                return Err(locate(
                    a.window.span(),
                    "gate.abort sets no condition: add error_rate or p95_ms".into(),
                ));
            }
            let min_requests = match &a.min_requests {
                Some(n) if *n.get_ref() < 1 => {
                    return Err(locate(
                        n.span(),
                        "gate.abort.min_requests must be at least 1".into(),
                    ));
                }
                Some(n) => *n.get_ref() as u64,
                None => 20,
            };
            gate.abort = Some(Abort {
                window_s,
                error_rate,
                p95_ms,
                min_requests,
            });
        }
        if let Some(l) = &f.scale.headroom {
            gate.headroom = Some(limits_of(
                l,
                Worse::Lower,
                None,
                "gate.scale.headroom",
                &at,
            )?);
        }
        Ok(gate)
    }
}

/// A selector is a transaction name or a glob of them (`*` does not cross `/`).
fn check_selector(sel: &str) -> Result<(), String> {
    Selector::new(sel).map(|_| ())
}

fn limits_of(
    l: &Spanned<LimitsFile>,
    worse: Worse,
    cap: Option<f64>,
    key: &str,
    at: &dyn Fn(&Spanned<LimitsFile>, String) -> ConfigError,
) -> Result<Limits, ConfigError> {
    let LimitsFile { warn, fail } = *l.get_ref();
    if warn.is_none() && fail.is_none() {
        return Err(at(l, format!("{key}: set `warn`, `fail` or both")));
    }
    for v in [warn, fail].into_iter().flatten() {
        if !v.is_finite() || v < 0.0 || cap.is_some_and(|c| v > c) {
            let range = cap.map_or("≥ 0".to_string(), |c| format!("between 0 and {c}"));
            return Err(at(l, format!("{key}: thresholds must be {range}, got {v}")));
        }
    }
    if let (Some(w), Some(f)) = (warn, fail) {
        let ordered = match worse {
            Worse::Higher => w <= f,
            Worse::Lower => w >= f,
        };
        if !ordered {
            let how = match worse {
                Worse::Higher => "at most",
                Worse::Lower => "at least",
            };
            return Err(at(
                l,
                format!("{key}: `warn` ({w}) must be {how} `fail` ({f})"),
            ));
        }
    }
    Ok(Limits { warn, fail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::gate::GateFile;

    fn build(text: &str) -> Result<Gate, String> {
        let f: GateFile = toml::from_str(text).map_err(|e| e.to_string())?;
        Gate::build(&f, &|span, m| {
            ConfigError::at(std::path::Path::new("g.toml"), text, span.start, m)
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_gate_builds_and_keeps_every_threshold() {
        let g = build(
            r#"
            [latency."pos_order_sync/*"]
            p95 = { warn = 800, fail = 1500 }
            [errors."*/*"]
            rate = { warn = 0.01, fail = 0.05 }
            kinds."timeout" = { fail = 0.001 }
            [journeys]
            started_ratio = { warn = 0.99, fail = 0.95 }
            [probes]
            probe_coverage = { warn = 0.9, fail = 0.5 }
            canary_latency_ms = { fail = 2000, percentile = "p99" }
            [compare]
            alpha = 0.05
            [abort]
            window = "10s"
            error_rate = 0.3
            "#,
        )
        .unwrap();
        assert_eq!(
            g.latency["pos_order_sync/*"][&Stat::P95],
            Limits {
                warn: Some(800.0),
                fail: Some(1500.0)
            }
        );
        assert_eq!(g.errors["*/*"].kinds["timeout"].fail, Some(0.001));
        assert_eq!(g.started_ratio.unwrap().fail, Some(0.95));
        assert_eq!(
            g.probes[&ProbeMetric::CanaryLatencyMs].percentile,
            Some(Stat::P99)
        );
        assert_eq!(g.compare.alpha(), 0.05);
        assert_eq!(g.compare.min_count(), 20);
        let a = g.abort.unwrap();
        assert_eq!(
            (a.window_s, a.error_rate, a.min_requests),
            (10, Some(0.3), 20)
        );
    }

    #[test]
    fn thresholds_in_the_wrong_order_are_located() {
        let e = build("[latency.\"a/b\"]\np95 = { warn = 900, fail = 500 }\n").unwrap_err();
        assert!(e.contains("g.toml:2:7"), "{e}");
        assert!(
            e.contains("`warn` (900) must be at most `fail` (500)"),
            "{e}"
        );
        let e = build("[journeys]\nstarted_ratio = { warn = 0.9, fail = 0.95 }\n").unwrap_err();
        assert!(e.contains("must be at least"), "{e}");
    }

    #[test]
    fn a_gate_survives_gate_json_unchanged() {
        let g = build(
            r#"
            [latency."pos_order_sync/*"]
            p95 = { warn = 800, fail = 1500 }
            mean = { fail = 300.5 }
            [errors."*/*"]
            kinds."timeout" = { fail = 0.001 }
            [probes]
            pg_connections_share = { warn = 0.7, fail = 0.9, probe = "postgres" }
            canary_latency_ms = { fail = 2000, percentile = "p99" }
            [compare]
            shift_ms = { warn = 5, fail = 10 }
            rollbacks_per_commit_increase = { warn = 0.1, fail = 0.3 }
            [compare.server]
            lock_wait_share = { warn = 0.02, fail = 0.2 }
            min_ratio = 2.0
            [abort]
            window = "10s"
            p95_ms = 10000
            [scale]
            headroom = { warn = 2, fail = 1 }
            "#,
        )
        .unwrap();
        let json = serde_json::to_string_pretty(&g).unwrap();
        assert!(
            json.contains("\"pg_connections_share\"") && json.contains("\"p95\""),
            "{json}"
        );
        let back: Gate = serde_json::from_str(&json).unwrap();
        assert_eq!(back, g);
        let lock = g.compare.server_increase(ServerMetric::LockWaitShare);
        assert_eq!((lock.warn, lock.fail), (Some(0.02), Some(0.2)));
        assert_eq!(g.compare.server_min_ratio(), 2.0);
        // A metric not set keeps its default.
        assert_eq!(
            g.compare.server_increase(ServerMetric::IdleInTransaction),
            ServerMetric::IdleInTransaction.default_increase()
        );
    }

    #[test]
    fn server_comparison_limits_out_of_range_are_located() {
        let e = build(
            "[compare.server]
lock_wait_share = { fail = 1.5 }
",
        )
        .unwrap_err();
        assert!(
            e.contains("g.toml:2") && e.contains("between 0 and 1"),
            "{e}"
        );
        let e = build(
            "[compare.server]
min_ratio = 0.5
",
        )
        .unwrap_err();
        assert!(e.contains("min_ratio must be at least 1"), "{e}");
        let e = build(
            "[compare.server]
locks = { fail = 1 }
",
        )
        .unwrap_err();
        assert!(e.contains("locks"), "{e}");
    }

    #[test]
    fn a_latency_selector_without_a_statistic_is_located() {
        let e = build("[latency.\"a/*\"]\n").unwrap_err();
        assert!(
            e.contains("g.toml:1:") && e.contains("sets no statistic"),
            "{e}"
        );
        let e = build("x = 1\n[latency.\"a/*\"]\nlatency = 2\n").unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn a_probe_check_naming_no_probe_it_reads_is_located() {
        let e = build("[probes.pg_connections_share]\nfail = 0.9\nprobe = \"pgx\"\n").unwrap_err();
        assert!(
            e.starts_with("g.toml:1:1: gate.probes.pg_connections_share: `probe = \"pgx\"` names no probe this check reads (probes are named by their table: `postgres`)"),
            "{e}"
        );
        let e = build("[probes.redis_evicted_keys]\nfail = 1\nprobe = \"postgres\"\n").unwrap_err();
        assert!(e.contains("`redis`"), "{e}");
        build("[probes.probe_coverage]\nfail = 0.9\nprobe = \"canary\"\n").unwrap();
        build("[probes.pg_deadlocks]\nfail = 1\nprobe = \"postgres\"\n").unwrap();
    }

    #[test]
    fn unknown_keys_and_checks_are_refused() {
        assert!(
            build("[latency.\"a\"]\np96 = { fail = 1 }\n")
                .unwrap_err()
                .contains("p96")
        );
        let e = build("[probes]\npg_magic = { fail = 1 }\n").unwrap_err();
        assert!(e.contains("unknown probe check `pg_magic`"), "{e}");
        let e = build("[errors.\"*\"]\nrate = { fail = 2 }\n").unwrap_err();
        assert!(e.contains("between 0 and 1"), "{e}");
        let e = build("[abort]\nwindow = \"1.5s\"\nerror_rate = 0.2\n").unwrap_err();
        assert!(e.contains("whole number of seconds"), "{e}");
    }

    #[test]
    fn min_ratio_and_min_shift_ms_set_the_fail_levels_and_clash_with_their_tables() {
        let g = build("[compare]\nmin_ratio = 1.5\nmin_shift_ms = 40\n").unwrap();
        assert_eq!(
            (g.compare.p95_ratio(), g.compare.shift_ms()),
            (
                Limits {
                    warn: None,
                    fail: Some(1.5)
                },
                Limits {
                    warn: None,
                    fail: Some(40.0)
                }
            )
        );
        let e = build("[compare]\nshift_ms = { fail = 10 }\nmin_shift_ms = 40\n").unwrap_err();
        assert!(
            e.contains("g.toml:3:") && e.contains("set the same limit"),
            "{e}"
        );
        let e = build("[compare]\nmin_ratio = 0.9\n").unwrap_err();
        assert!(e.contains("min_ratio must be at least 1, got 0.9"), "{e}");
    }

    #[test]
    fn merging_replaces_same_named_checks_and_keeps_the_others() {
        let mut base = build(
            "[latency.\"a/*\"]\np95 = { fail = 100 }\np99 = { fail = 200 }\n[compare]\nalpha = 0.05\n",
        )
        .unwrap();
        let over =
            build("[latency.\"a/*\"]\np95 = { fail = 50 }\n[compare]\nmin_count = 5\n").unwrap();
        base.merge(over);
        assert_eq!(base.latency["a/*"][&Stat::P95].fail, Some(50.0));
        assert_eq!(base.latency["a/*"][&Stat::P99].fail, Some(200.0));
        assert_eq!((base.compare.alpha(), base.compare.min_count()), (0.05, 5));
    }
}
