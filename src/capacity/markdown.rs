//! `capacity.md`: the capacity report for people, every figure with its basis.

use std::fmt::Write;

use super::report::{CapacityReport, describe_usl};

/// Renders the report as Markdown.
pub fn render(r: &CapacityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Capacity: {}\n", r.profile);
    let _ = writeln!(out, "**Recommendation:** {}\n", r.recommendation);
    let _ = writeln!(out, "## Runs\n");
    let _ = writeln!(
        out,
        "| run | rate scale | throughput /s | concurrency (Little) | journeys in flight | worst step p95 ms | errors | verdict |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|");
    for p in &r.runs {
        let fitted = r.usl.as_ref().map_or(String::new(), |f| {
            format!(
                " (USL {:.1})",
                super::usl::throughput(
                    f.lambda_per_s.value,
                    f.sigma.value,
                    f.kappa.value,
                    p.concurrency
                )
            )
        });
        let _ = writeln!(
            out,
            "| {}{} | {} | {:.1}{fitted} | {:.2} | {:.1} | {:.1} | {} | {} |",
            p.run_id,
            if p.simulated { " (simulated)" } else { "" },
            p.rate_scale,
            p.throughput_per_s,
            p.concurrency,
            p.journeys_in_flight_mean,
            p.worst_step_p95_ms,
            p.errors,
            p.verdict.as_deref().unwrap_or("no verdict.json")
        );
    }
    let _ = writeln!(
        out,
        "\nConcurrency is the mean number of requests in flight by Little's law: Σ(requests × mean latency) / duration.\n"
    );
    let _ = writeln!(out, "## Scalability (Universal Scalability Law)\n");
    match (&r.usl, &r.usl_error) {
        (Some(f), _) => {
            let _ = writeln!(out, "```\n{}```", describe_usl(f));
        }
        (None, Some(e)) => {
            let _ = writeln!(out, "No fit: {e}.");
        }
        (None, None) => {}
    }
    match r.headroom {
        Some(h) => {
            let _ = writeln!(
                out,
                "\nHeadroom at ×{}: {h:.2}× (maximum throughput / {:.1} requests/s at peak).\n",
                r.options.at_scale, r.peak_request_rate_per_s
            );
        }
        None => {
            let _ = writeln!(out, "\nHeadroom: unknown.\n");
        }
    }
    let _ = writeln!(
        out,
        "## Workers (Erlang C, M/M/c): {:.0}% of requests wait ≤ {} ms\n",
        r.options.service_level * 100.0,
        r.options.target_wait_s * 1000.0
    );
    let _ = writeln!(
        out,
        "| flow | peak journeys/s | requests/s | mean service ms | offered Erlangs | workers | P(wait) | mean wait ms | occupancy |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for f in &r.flows {
        flow_row(&mut out, f, &f.flow);
    }
    for u in &r.unmeasured {
        let _ = writeln!(
            out,
            "| {} | {:.2} | unmeasured | unmeasured | unmeasured | not sized | | | |",
            u.flow, u.peak_journeys_per_s
        );
    }
    let total = if r.unmeasured.is_empty() {
        r.total.flow.clone()
    } else {
        format!(
            "{} (without {})",
            r.total.flow,
            r.unmeasured
                .iter()
                .map(|u| u.flow.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    flow_row(&mut out, &r.total, &total);
    let _ = writeln!(
        out,
        "\nEach flow is sized at its own peak: the stage where its share of the load (the stage's own mix, or `[mix]`) is highest; all flows together at the stage where they offer the most work."
    );
    for f in r.flows.iter().chain([&r.total]) {
        if let Some(s) = &f.peak_stage {
            let _ = writeln!(out, "- {}: peak in stage `{s}`", f.flow);
        }
    }
    for u in &r.unmeasured {
        let _ = writeln!(out, "- **{} is unmeasured**: {}", u.flow, u.reason);
    }
    if let Some(l) = &r.logins {
        let _ = writeln!(out, "- logins: {}", l.basis);
    }
    let _ = writeln!(
        out,
        "\nOffered load A = request rate × mean service time; workers = the fewest c with 1 − C(c, A)·e^(−(c−A)·t/S) ≥ the service level.\n"
    );
    if let Some(s) = &r.slo {
        let _ = writeln!(out, "### Workers for the latency objectives\n");
        let _ = writeln!(
            out,
            "{}: {}. {}\n",
            s.objectives.join(", "),
            s.workers
                .map_or("no worker count in range meets them".into(), |w| format!(
                    "{w} workers"
                )),
            s.basis
        );
    }
    let _ = writeln!(out, "## Database connections\n");
    let c = &r.connections;
    let _ = writeln!(
        out,
        "db_maxconn **{}**, max_connections **≥ {}**, busy at peak {:.2}.\n",
        c.db_maxconn, c.max_connections, c.busy_at_peak
    );
    for b in &c.basis {
        let _ = writeln!(out, "- {b}");
    }
    let _ = writeln!(out, "\n## Redis\n");
    match &r.redis {
        Some(x) => {
            for b in &x.basis {
                let _ = writeln!(out, "- {b}");
            }
            if x.basis.is_empty() {
                let _ = writeln!(out, "The Redis probe has no client or memory series.");
            }
        }
        None => {
            let _ = writeln!(
                out,
                "MISSING: no run has a Redis probe (`probes.redis`): clients and memory per session not sized."
            );
        }
    }
    let _ = writeln!(out, "\n## Notes\n");
    for n in &r.notes {
        let _ = writeln!(out, "- {n}");
    }
    out
}

fn flow_row(out: &mut String, f: &super::report::FlowSizing, label: &str) {
    let q = &f.at_needed;
    let _ = writeln!(
        out,
        "| {label} | {:.2} | {:.2} | {:.1} | {:.3} | {} | {:.3} | {:.1} | {:.2} |",
        f.peak_journeys_per_s,
        f.request_rate_per_s,
        f.mean_service_ms,
        f.offered_erlangs,
        f.workers_needed,
        q.p_wait,
        q.mean_wait_s * 1000.0,
        q.occupancy
    );
}
