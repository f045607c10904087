//! The configuration review: the deployment's configuration ([`super::deployment`]) against
//! what was measured (`peakgate capacity`'s capacity.json, and the runs given), by four
//! rules, each a check whose message names the file and the key to change:
//!
//! | check | rule |
//! |---|---|
//! | `preflight config_review connections` | (pods + rollout surge) × (workers × db_maxconn + max_cron_threads) ≤ max_connections − reserved |
//! | `preflight config_review workers` | pods × workers ≥ ⌈workers needed at the peak × (1 + worker_margin)⌉ |
//! | `preflight config_review time_limits` | limit_time_real and each ingress timeout ≥ slowest step p99.9 × (1 + time_margin) |
//! | `preflight config_review memory` | the container's memory limit ≥ measured peak × (1 + memory_margin) |
//! | `preflight config_review rate_limits` | each Traefik rate limit ≥ the sized peak's request rate (else warn) |
//!
//! "pods" is the autoscaler's maxReplicas (else the Deployment's replicas). The memory rule is
//! judged where a probe measured memory (policy `[preflight] memory_series`).

use std::path::{Path, PathBuf};

use super::deployment::{Ingress, OdooConf, Pods};
use super::postgres::PgSnapshot;
use super::preflight::Settings;
use crate::capacity::report::CapacityReport;
use crate::config::ConfigError;
use crate::result::{Check, RunResult, Status};
use crate::verdict::fmt_num;

pub const CONNECTIONS: &str = "preflight config_review connections";
pub const WORKERS: &str = "preflight config_review workers";
pub const TIME_LIMITS: &str = "preflight config_review time_limits";
pub const MEMORY: &str = "preflight config_review memory";
pub const RATE_LIMITS: &str = "preflight config_review rate_limits";

/// The configuration and the measurements it is reviewed against.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub odoo: OdooConf,
    pub pods: Pods,
    pub ingress: Option<Ingress>,
    pub measured: Measured,
}

/// What the load runs and the capacity report measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    /// What capacity.json sized.
    pub capacity: Option<Sized>,
    /// The slowest step over the runs: run id, step, p99.9 ms.
    pub slowest_step: Option<(String, String, f64)>,
    /// The highest value of the memory series: run id, series, bytes.
    pub memory_peak: Option<(String, String, f64)>,
}

/// capacity.json's sizing.
#[derive(Debug, Clone, PartialEq)]
pub struct Sized {
    pub path: PathBuf,
    /// Workers needed at the sized peak: the larger of the Erlang C sizing and the latency
    /// objectives' simulation.
    pub workers_needed: u32,
    /// The load multiple of the profile it was sized at (`--at-scale`).
    pub at_scale: f64,
    /// Requests per second at the sized peak.
    pub peak_request_rate_per_s: f64,
}

impl Measured {
    /// Reads capacity.json (when given) and the runs' steps and memory series.
    pub fn read(
        capacity: Option<&Path>,
        runs: &[PathBuf],
        memory_series: Option<&str>,
    ) -> Result<Measured, ConfigError> {
        let mut m = Measured::default();
        if let Some(path) = capacity {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let rep: CapacityReport = serde_json::from_str(&text).map_err(|e| ConfigError::At {
                path: path.to_path_buf(),
                line: e.line(),
                column: e.column(),
                message: format!("not a capacity.json of this peakgate: {e}"),
            })?;
            let needed = rep
                .total
                .workers_needed
                .max(rep.slo.as_ref().and_then(|s| s.workers).unwrap_or(0) as u32);
            m.capacity = Some(Sized {
                path: path.to_path_buf(),
                workers_needed: needed,
                at_scale: rep.options.at_scale,
                peak_request_rate_per_s: rep.peak_request_rate_per_s,
            });
        }
        for dir in runs {
            // A --scale parent's steps run above the profile's load: not its latency.
            if !dir.join("run.json").is_file() {
                continue;
            }
            let run = RunResult::load(dir).map_err(|e| ConfigError::Flag {
                flag: "--runs".into(),
                message: e.to_string(),
            })?;
            for (name, tx) in run.transactions.iter().filter(|(n, _)| n.contains('/')) {
                if tx.count > 0
                    && m.slowest_step
                        .as_ref()
                        .is_none_or(|s| tx.latency_ms.p999 > s.2)
                {
                    m.slowest_step = Some((run.run_id.clone(), name.clone(), tx.latency_ms.p999));
                }
            }
            if let Some(series) = memory_series {
                for probe in run.probes.values() {
                    let peak = probe
                        .points(series)
                        .and_then(|p| p.iter().map(|[_, v]| *v).reduce(f64::max));
                    if let Some(peak) = peak
                        && m.memory_peak.as_ref().is_none_or(|x| peak > x.2)
                    {
                        m.memory_peak = Some((run.run_id.clone(), series.to_string(), peak));
                    }
                }
            }
        }
        Ok(m)
    }
}

fn check(
    name: &str,
    status: Status,
    observed: Option<f64>,
    fail: Option<f64>,
    message: String,
) -> Check {
    Check {
        name: name.into(),
        status,
        observed,
        warn: None,
        fail,
        message,
    }
}

fn gib(bytes: f64) -> String {
    format!(
        "{} GiB",
        fmt_num((bytes / 1024f64.powi(3) * 100.0).round() / 100.0)
    )
}

/// The review's checks. `postgres` is the live server (its max_connections), or why it
/// could not be read.
pub fn judge(d: &Deployment, postgres: Result<&PgSnapshot, String>, s: &Settings) -> Vec<Check> {
    let mut out = vec![
        connections(d, postgres),
        workers(d, s.worker_margin),
        time_limits(d, s.time_margin),
    ];
    if let Some(series) = &s.memory_series {
        out.push(memory(d, series, s.memory_margin));
    }
    if let Some(i) = &d.ingress
        && !i.rate_limits.is_empty()
    {
        out.push(rate_limits(i, d.measured.capacity.as_ref()));
    }
    out
}

fn connections(d: &Deployment, postgres: Result<&PgSnapshot, String>) -> Check {
    let o = &d.odoo;
    let pods = d.pods.max_pods();
    // A rollout (the change itself) runs the surge pods beside the old ones.
    let surge = d.pods.surge.at(pods);
    let per_pod = o.workers.max(1) * o.db_maxconn + o.max_cron_threads;
    let need = i64::from(pods + surge) * i64::from(per_pod);
    let pg = match postgres {
        Ok(pg) => pg,
        Err(why) => {
            return check(
                CONNECTIONS,
                Status::Fail,
                Some(need as f64),
                None,
                format!("not checked: {why}; the pods can open {need} connections"),
            );
        }
    };
    let usable = pg.usable_connections();
    let sum = format!(
        "({pods} pods ({}) + {surge} surge pod(s) of a rollout (maxSurge {} of Deployment {})) × ({} workers × db_maxconn {} + {} cron threads) = {need} connections, and {} allows {usable} (max_connections {} − superuser_reserved_connections {}{})",
        d.pods.max_pods_key(),
        d.pods.surge.describe(),
        d.pods.deployment,
        o.workers.max(1),
        o.db_maxconn,
        o.max_cron_threads,
        pg.target,
        pg.max_connections,
        pg.superuser_reserved_connections,
        if pg.reserved_connections > 0 {
            format!(" − reserved_connections {}", pg.reserved_connections)
        } else {
            String::new()
        }
    );
    if need <= usable {
        check(
            CONNECTIONS,
            Status::Pass,
            Some(need as f64),
            Some(usable as f64),
            sum,
        )
    } else {
        check(
            CONNECTIONS,
            Status::Fail,
            Some(need as f64),
            Some(usable as f64),
            format!(
                "{sum}: lower db_maxconn (or workers) in {}, or maxReplicas or maxSurge, or raise max_connections in postgresql.conf (or put a pooler between)",
                o.path.display()
            ),
        )
    }
}

fn workers(d: &Deployment, margin: f64) -> Check {
    let o = &d.odoo;
    let pods = d.pods.max_pods();
    let have = pods * o.workers;
    let Some(Sized {
        path,
        workers_needed: needed,
        at_scale,
        ..
    }) = &d.measured.capacity
    else {
        return check(
            WORKERS,
            Status::Fail,
            Some(f64::from(have)),
            None,
            "not checked: give the measured capacity with --capacity capacity.json (peakgate capacity)".into(),
        );
    };
    let want = (f64::from(*needed) * (1.0 + margin)).ceil();
    let sum = format!(
        "{pods} pods ({}) × workers {} ({}) = {have} workers; {} sizes {needed} at ×{} of the profile's peak, with the policy's {}% margin {want}",
        d.pods.max_pods_key(),
        o.workers,
        o.path.display(),
        path.display(),
        fmt_num(*at_scale),
        fmt_num(margin * 100.0),
    );
    if o.workers == 0 {
        return check(
            WORKERS,
            Status::Fail,
            Some(0.0),
            Some(want),
            format!(
                "{}: workers = 0 runs Odoo threaded, one process per pod: set workers in [options]",
                o.path.display()
            ),
        );
    }
    if f64::from(have) >= want {
        check(
            WORKERS,
            Status::Pass,
            Some(f64::from(have)),
            Some(want),
            sum,
        )
    } else {
        check(
            WORKERS,
            Status::Fail,
            Some(f64::from(have)),
            Some(want),
            format!(
                "{sum}: raise maxReplicas or workers in {}",
                o.path.display()
            ),
        )
    }
}

fn time_limits(d: &Deployment, margin: f64) -> Check {
    let o = &d.odoo;
    let Some((run, step, p999)) = &d.measured.slowest_step else {
        return check(
            TIME_LIMITS,
            Status::Fail,
            None,
            None,
            "not checked: no run given with --runs measured a step".into(),
        );
    };
    let want_s = p999 / 1000.0 * (1.0 + margin);
    let mut limits = vec![(
        format!("{}: limit_time_real", o.path.display()),
        o.limit_time_real,
    )];
    if let Some(i) = &d.ingress {
        for (key, s) in &i.timeouts {
            limits.push((format!("{}: {key}", i.path.display()), *s));
        }
    }
    let short: Vec<String> = limits
        .iter()
        .filter(|(_, s)| *s < want_s)
        .map(|(k, s)| format!("{k} = {}s", fmt_num(*s)))
        .collect();
    let shortest = limits.iter().map(|l| l.1).fold(f64::INFINITY, f64::min);
    let all: Vec<String> = limits
        .iter()
        .map(|(k, s)| format!("{k} = {}s", fmt_num(*s)))
        .collect();
    let sum = format!(
        "slowest step {step} p99.9 {} ms ({run}), with the policy's {}% margin {}s; {}",
        fmt_num(*p999),
        fmt_num(margin * 100.0),
        fmt_num((want_s * 1000.0).round() / 1000.0),
        all.join(", ")
    );
    if short.is_empty() {
        check(TIME_LIMITS, Status::Pass, Some(shortest), Some(want_s), sum)
    } else {
        check(
            TIME_LIMITS,
            Status::Fail,
            Some(shortest),
            Some(want_s),
            format!(
                "{sum}: raise {} (the slowest requests would be cut off)",
                short.join(", ")
            ),
        )
    }
}

fn memory(d: &Deployment, series: &str, margin: f64) -> Check {
    let p = &d.pods;
    let key = format!(
        "{}: Deployment {} container {} resources.limits.memory",
        p.deployment_file.display(),
        p.deployment,
        p.container
    );
    let Some((run, _, peak)) = &d.measured.memory_peak else {
        // No limit is known from the manifest alone; a limit without a measurement is not
        // judged.
        let (status, what) = match p.memory_limit {
            None => (
                Status::Fail,
                format!("{key} is not set: a pod may take its node's memory; set it"),
            ),
            Some(limit) => (Status::Warn, format!("{key} = {}", gib(limit))),
        };
        return check(
            MEMORY,
            status,
            p.memory_limit,
            None,
            format!(
                "{what}; not judged against a measurement: no run given with --runs has the probe series {series} (policy [preflight] memory_series)"
            ),
        );
    };
    let want = peak * (1.0 + margin);
    let Some(limit) = p.memory_limit else {
        return check(
            MEMORY,
            Status::Fail,
            None,
            Some(want),
            format!(
                "{key} is not set: a pod may take its node's memory; measured peak {} ({run}), set it to at least {}",
                gib(*peak),
                gib(want)
            ),
        );
    };
    let sum = format!(
        "{key} = {}; measured peak {} ({series}, {run}), with the policy's {}% margin {}",
        gib(limit),
        gib(*peak),
        fmt_num(margin * 100.0),
        gib(want)
    );
    if limit >= want {
        check(MEMORY, Status::Pass, Some(limit), Some(want), sum)
    } else {
        check(
            MEMORY,
            Status::Fail,
            Some(limit),
            Some(want),
            format!(
                "{sum}: raise it (or lower workers, limit_memory_soft/hard in {})",
                d.odoo.path.display()
            ),
        )
    }
}

/// Traefik rate limits against the sized peak's request rate. A limit counts per client IP
/// unless its `sourceCriterion` groups them, so one below the peak is a warning, not a
/// failure: it bites when the stores reach Odoo through one address (a NAT, a CDN).
fn rate_limits(i: &Ingress, sized: Option<&Sized>) -> Check {
    let lowest = i
        .rate_limits
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|l| l.1)
        .unwrap_or(f64::INFINITY);
    let all: Vec<String> = i
        .rate_limits
        .iter()
        .map(|(k, r)| format!("{}: {k} = {} requests/s", i.path.display(), fmt_num(*r)))
        .collect();
    let Some(sized) = sized else {
        return check(
            RATE_LIMITS,
            Status::Warn,
            Some(lowest),
            None,
            format!(
                "not judged: no --capacity capacity.json gives the peak request rate; {}",
                all.join(", ")
            ),
        );
    };
    let peak = sized.peak_request_rate_per_s;
    let under: Vec<&String> = i
        .rate_limits
        .iter()
        .zip(&all)
        .filter(|((_, r), _)| *r < peak)
        .map(|(_, text)| text)
        .collect();
    let sum = format!(
        "{} sizes the peak at {} requests/s (×{} of the profile)",
        sized.path.display(),
        fmt_num(peak),
        fmt_num(sized.at_scale)
    );
    if under.is_empty() {
        check(
            RATE_LIMITS,
            Status::Pass,
            Some(lowest),
            Some(peak),
            format!("{sum}; {}", all.join(", ")),
        )
    } else {
        check(
            RATE_LIMITS,
            Status::Warn,
            Some(lowest),
            Some(peak),
            format!(
                "{sum}; below it: {} (a limit counts per client IP unless its sourceCriterion groups them: raise `average` where stores share an address)",
                under
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests;
