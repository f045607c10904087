//! The server side of the page: the probes' series on the run's clock.

use super::charts::{Chart, Line};
use super::page::time_chart;
use crate::plan::ProbeKind;
use crate::result::{ProbeReport, RunResult};

fn probe_series(probe: &ProbeReport, name: &str) -> Option<Vec<(f64, f64)>> {
    Some(points(probe.points(name)?))
}

fn points(p: &[[f64; 2]]) -> Vec<(f64, f64)> {
    p.iter().map(|[t, v]| (*t, *v)).collect()
}

/// Lines from a probe's series: `(series, label, scale)`; absent series are left out.
fn probe_lines(probe: &ProbeReport, wanted: &[(&str, &str, f64)]) -> Vec<Line> {
    wanted
        .iter()
        .filter_map(|(s, label, scale)| {
            probe_series(probe, s).map(|pts| {
                Line::new(
                    *label,
                    pts.into_iter().map(|(t, v)| (t, v * scale)).collect(),
                )
            })
        })
        .collect()
}

/// Connections by state as stacked areas (each band one state, its top the states so far
/// added up), against max_connections: drawn as lines, the top one read as the last state.
fn pg_connections(run: &RunResult, name: &str, probe: &ProbeReport) -> Chart {
    let states = [
        ("connections_active", "active"),
        ("connections_idle", "idle"),
        ("connections_idle_in_transaction", "idle in transaction"),
        (
            "connections_idle_in_transaction_aborted",
            "idle in transaction (aborted)",
        ),
    ];
    let mut lines = Vec::new();
    let mut acc: Vec<(f64, f64)> = Vec::new();
    for (series, label) in states {
        if let Some(pts) = probe_series(probe, series) {
            acc = if acc.is_empty() {
                pts
            } else {
                acc.iter()
                    .zip(&pts)
                    .map(|(a, b)| (a.0, a.1 + b.1))
                    .collect()
            };
            lines.push(Line::new(label, acc.clone()).filled());
        }
    }
    lines.extend(
        probe_lines(
            probe,
            &[
                ("max_connections", "max_connections", 1.0),
                ("connections_total", "all connections (server)", 1.0),
            ],
        )
        .into_iter()
        .map(Line::secondary),
    );
    time_chart(
        run,
        &format!("{name}-connections"),
        &format!("PostgreSQL connections by state, stacked ({name})"),
        "connections",
        lines,
    )
}

pub fn probe_charts(run: &RunResult) -> Vec<Chart> {
    let mut out = Vec::new();
    for (name, probe) in &run.probes {
        let c = |id: &str, title: &str, y: &str, lines: Vec<Line>| {
            time_chart(
                run,
                &format!("{name}-{id}"),
                &format!("{title} ({name})"),
                y,
                lines,
            )
        };
        match probe.kind {
            ProbeKind::Postgres => {
                out.push(pg_connections(run, name, probe));
                out.push(c(
                    "workers",
                    "Odoo worker backends and lock waits",
                    "backends",
                    probe_lines(
                        probe,
                        &[
                            ("odoo_backends", "Odoo backends", 1.0),
                            ("lock_waits", "waiting on a lock", 1.0),
                        ],
                    ),
                ));
                out.push(c(
                    "ages",
                    "Oldest open transaction and cron lag",
                    "seconds",
                    probe_lines(
                        probe,
                        &[
                            ("oldest_xact_age_s", "oldest transaction", 1.0),
                            ("cron_max_lag_s", "largest cron lag", 1.0),
                        ],
                    ),
                ));
                out.push(c(
                    "rates",
                    "Commits, rollbacks and deadlocks",
                    "per second",
                    probe_lines(
                        probe,
                        &[
                            ("commits_per_s", "commits", 1.0),
                            ("rollbacks_per_s", "rollbacks", 1.0),
                            ("deadlocks_per_s", "deadlocks", 1.0),
                        ],
                    ),
                ));
            }
            ProbeKind::Redis => {
                // maxmemory 0 is Redis's "no limit": no line at 0 MiB, said in the title.
                let unlimited = probe
                    .points("maxmemory_bytes")
                    .is_some_and(|p| p.iter().all(|[_, v]| *v <= 0.0));
                let mut wanted = vec![("used_memory_bytes", "used_memory", 1.0 / 1048576.0)];
                if !unlimited {
                    wanted.push(("maxmemory_bytes", "maxmemory", 1.0 / 1048576.0));
                }
                out.push(c(
                    "memory",
                    if unlimited {
                        "Redis memory (maxmemory 0: no limit)"
                    } else {
                        "Redis memory against maxmemory"
                    },
                    "MiB",
                    probe_lines(probe, &wanted),
                ));
                out.push(c(
                    "clients",
                    "Redis clients",
                    "clients",
                    probe_lines(
                        probe,
                        &[
                            ("connected_clients", "connected", 1.0),
                            ("blocked_clients", "blocked", 1.0),
                        ],
                    ),
                ));
                out.push(c(
                    "evictions",
                    "Redis evictions and rejected connections",
                    "per second",
                    probe_lines(
                        probe,
                        &[
                            ("evicted_keys_per_s", "evicted keys", 1.0),
                            ("rejected_connections_per_s", "rejected connections", 1.0),
                        ],
                    ),
                ));
            }
            ProbeKind::Canary => {
                out.push(c(
                    "latency",
                    "Canary latency: the wait for a free Odoo worker",
                    "ms",
                    probe_lines(probe, &[("latency_ms", "canary", 1.0)]),
                ));
            }
            ProbeKind::Prometheus => {
                let lines: Vec<Line> = probe
                    .series
                    .iter()
                    .map(|(k, p)| Line::new(k.clone(), points(p)))
                    .collect();
                out.push(c("series", "Prometheus series", "value", lines));
            }
        }
    }
    // A simulated run has no probes: its simulated Odoo's queue stands in for them.
    if let Some(sim) = &run.simulation {
        let q = &sim.queueing;
        out.push(time_chart(
            run,
            "simulator-queue",
            "Simulated Odoo workers: longest queue and busiest count",
            "requests",
            vec![
                Line::new("worker_queue_max", points(&q.queue_series)),
                Line::new("busy_workers_max", points(&q.busy_series)),
            ],
        ));
    }
    out.retain(|c| !c.lines.is_empty());
    out
}
