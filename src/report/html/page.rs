//! The page, top to bottom: verdict, load, latency, errors, server side, scaling, steps.

use std::collections::BTreeMap;
use std::fmt::Write;

use hdrhistogram::Histogram;

use super::charts::{self, Chart, Line};
use super::server::probe_charts;
use crate::capacity::report::CapacityReport;
use crate::result::RunResult;
use crate::result::{Status, Verdict};

/// Steps drawn in the percentile spectrum: the busiest ones.
const SPECTRUM_STEPS: usize = 6;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A measured number: 4 significant digits, so small rates keep their digits (0.0042, not
/// 0.00) and large ones lose their noise.
pub(super) fn num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let decimals = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// A threshold, exactly as the gate states it.
fn limit(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), crate::verdict::fmt_limit)
}

/// Stage starts on the run's clock (the first one's line is the y axis), labelled when there
/// are few enough to read, the first stage too.
fn markers(run: &RunResult) -> Vec<(f64, String)> {
    let stages = &run.plan.stages;
    let label = stages.len() <= 8;
    stages
        .iter()
        .map(|s| {
            (
                s.start_s,
                if label { s.name.clone() } else { String::new() },
            )
        })
        .collect()
}

fn timeline(run: &RunResult, f: impl Fn(&crate::result::TimelineEntry) -> f64) -> Vec<(f64, f64)> {
    run.timeline.iter().map(|e| (e.t as f64, f(e))).collect()
}

pub(super) fn time_chart(
    run: &RunResult,
    id: &str,
    title: &str,
    y: &str,
    lines: Vec<Line>,
) -> Chart {
    Chart {
        id: id.into(),
        title: title.into(),
        x_label: "seconds since the start of the run".into(),
        y_label: y.into(),
        lines,
        markers: markers(run),
        percentile_axis: false,
        // The run's whole clock, even when no line has a point (a clean run's errors).
        x_range: Some((0.0, run.duration_s.max(1.0))),
    }
}

/// The charts that have PNG copies.
pub fn chart_by_id(run: &RunResult, id: &str) -> Option<Chart> {
    match id {
        "load" => Some(time_chart(
            run,
            "load",
            "Journeys per second: planned, started, finished, dropped",
            "journeys/s",
            vec![
                Line::new("planned", timeline(run, |e| e.planned as f64)).secondary(),
                Line::new("started", timeline(run, |e| e.started as f64)),
                Line::new("finished", timeline(run, |e| e.journeys as f64)),
                Line::new("dropped", timeline(run, |e| e.dropped as f64)),
            ],
        )),
        "latency" => Some(time_chart(
            run,
            "latency",
            "Request latency over time, all steps (from the intended start)",
            "ms",
            vec![
                Line::new("p50", timeline(run, |e| e.latency_ms.p50)),
                Line::new("p95", timeline(run, |e| e.latency_ms.p95)),
                Line::new("p99", timeline(run, |e| e.latency_ms.p99)),
            ],
        )),
        "throughput" => Some(time_chart(
            run,
            "throughput",
            "Requests per second: finished and failed",
            "requests/s",
            vec![
                Line::new("requests", timeline(run, |e| e.requests as f64)),
                Line::new("errors", timeline(run, |e| e.errors as f64)),
            ],
        )),
        _ => None,
    }
}

fn in_flight(run: &RunResult) -> Chart {
    time_chart(
        run,
        "in-flight",
        "Journeys in flight",
        "journeys",
        vec![Line::new(
            "in flight",
            timeline(run, |e| e.in_flight as f64),
        )],
    )
}

fn scenario_p95(run: &RunResult) -> Chart {
    let mut names: Vec<&String> = run
        .timeline
        .iter()
        .flat_map(|e| e.scenarios.keys())
        .collect();
    names.sort();
    names.dedup();
    let lines = names
        .into_iter()
        .map(|n| {
            Line::new(
                format!("{n} p95"),
                run.timeline
                    .iter()
                    .filter_map(|e| e.scenarios.get(n).map(|s| (e.t as f64, s.latency_ms.p95)))
                    .collect(),
            )
        })
        .collect();
    time_chart(
        run,
        "scenario-latency",
        "p95 latency per scenario",
        "ms",
        lines,
    )
}

fn errors(run: &RunResult) -> Chart {
    let mut kinds: Vec<&String> = run
        .timeline
        .iter()
        .flat_map(|e| e.errors_by_kind.keys())
        .collect();
    kinds.sort();
    kinds.dedup();
    let lines = kinds
        .into_iter()
        .map(|k| {
            Line::new(
                k.clone(),
                timeline(run, |e| *e.errors_by_kind.get(k).unwrap_or(&0) as f64),
            )
        })
        .collect();
    time_chart(
        run,
        "errors",
        "Errors per second by kind",
        "errors/s",
        lines,
    )
}

/// Percentile spectrum of the busiest steps, HdrHistogram-style: x is log10(1/(1-q)).
fn spectrum(
    latency: &BTreeMap<String, Histogram<u64>>,
    baseline: Option<&BTreeMap<String, Histogram<u64>>>,
) -> Chart {
    let mut steps: Vec<(&String, &Histogram<u64>)> =
        latency.iter().filter(|(_, h)| !h.is_empty()).collect();
    steps.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    steps.truncate(SPECTRUM_STEPS);
    let curve = |h: &Histogram<u64>| -> Vec<(f64, f64)> {
        (0..=80)
            .map(|i| {
                let x = f64::from(i) * 0.05;
                let q = (1.0 - 10f64.powf(-x)).min(0.99999);
                (x, h.value_at_quantile(q) as f64 / 1000.0)
            })
            .collect()
    };
    let mut lines = Vec::new();
    for (name, h) in &steps {
        lines.push(Line::new((*name).clone(), curve(h)));
        if let Some(b) = baseline
            .and_then(|b| b.get(*name))
            .filter(|b| !b.is_empty())
        {
            lines.push(Line::new(format!("{name} (baseline)"), curve(b)).secondary());
        }
    }
    Chart {
        id: "spectrum".into(),
        title: "Latency by percentile (busiest steps)".into(),
        x_label: "percentile".into(),
        y_label: "ms".into(),
        lines,
        markers: Vec::new(),
        percentile_axis: true,
        x_range: None,
    }
}

/// The stepped run's figures per load multiplier, one chart per unit (ms, then %), each
/// with the headroom marked.
fn scale_charts(v: &Verdict) -> Vec<Chart> {
    let Some(h) = v.headroom.as_ref() else {
        return Vec::new();
    };
    let chart = |id: &str, title: &str, y: &str, line: Line| Chart {
        id: id.into(),
        title: format!("{title} (headroom ×{})", num(h.multiplier)),
        x_label: "load multiplier (×)".into(),
        y_label: y.into(),
        lines: vec![line],
        markers: vec![(h.multiplier, format!("headroom ×{}", num(h.multiplier)))],
        percentile_axis: false,
        x_range: None,
    };
    vec![
        chart(
            "scale",
            "Scaling: worst step p95 per load multiplier",
            "ms",
            Line::new(
                "worst step p95",
                h.steps.iter().map(|s| (s.scale, s.worst_p95_ms)).collect(),
            ),
        ),
        chart(
            "scale-errors",
            "Scaling: error rate per load multiplier",
            "%",
            Line::new(
                "error rate",
                h.steps
                    .iter()
                    .map(|s| (s.scale, s.error_rate * 100.0))
                    .collect(),
            ),
        ),
    ]
}

fn section(out: &mut String, id: &str, title: &str, charts: &[Chart]) {
    let _ = writeln!(out, "<section id=\"{id}\"><h2>{}</h2>", esc(title));
    for c in charts {
        let _ = writeln!(
            out,
            "<figure class=\"chart\" id=\"chart-{}\">{}</figure>",
            esc(&c.id),
            charts::svg(c)
        );
    }
    let _ = writeln!(out, "</section>");
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px auto;max-width:1000px;color:#222}\
h1{font-size:24px}h2{font-size:19px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}\
table{border-collapse:collapse;font-size:13px;width:100%}th,td{border:1px solid #ddd;padding:4px 6px;text-align:right}\
th:first-child,td:first-child,td.text{text-align:left}.verdict{display:inline-block;padding:4px 12px;border-radius:4px;color:#fff;font-weight:bold}\
.pass{background:#009E73}.warn{background:#E69F00}.fail{background:#D55E00}.inconclusive{background:#56B4E9}figure.chart{margin:12px 0}\
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{font-weight:bold}\
tr.journey td{background:#f3f6fa;font-weight:bold}tr.step td:first-child{padding-left:18px}svg{display:block}";

/// The USL fit over the measured runs, with the measurements.
fn usl_chart(cap: &CapacityReport) -> Option<Chart> {
    let fit = cap.usl.as_ref()?;
    let mut measured: Vec<(f64, f64)> = cap
        .runs
        .iter()
        .map(|r| (r.concurrency, r.throughput_per_s))
        .collect();
    measured.sort_by(|a, b| a.0.total_cmp(&b.0));
    let top = measured
        .iter()
        .map(|p| p.0)
        .fold(0.0, f64::max)
        .max(fit.peak_concurrency.unwrap_or(0.0))
        * 1.3;
    let curve = (0..=60)
        .map(|i| {
            let n = top * f64::from(i) / 60.0;
            (
                n,
                crate::capacity::usl::throughput(
                    fit.lambda_per_s.value,
                    fit.sigma.value,
                    fit.kappa.value,
                    n,
                ),
            )
        })
        .collect();
    Some(Chart {
        id: "usl".into(),
        title: "Throughput against concurrency: measured runs and the USL fit".into(),
        x_label: "concurrency (requests in flight)".into(),
        y_label: "requests/s".into(),
        lines: vec![
            Line::new("USL fit", curve).secondary(),
            Line::new("measured", measured),
        ],
        markers: fit
            .peak_concurrency
            .map(|n| (n, format!("N* = {n:.0}")))
            .into_iter()
            .collect(),
        percentile_axis: false,
        x_range: None,
    })
}

fn capacity_section(out: &mut String, cap: &CapacityReport) {
    let _ = writeln!(
        out,
        "<section id=\"capacity\"><h2>Capacity</h2><p><strong>{}</strong></p>",
        esc(&cap.recommendation)
    );
    if let Some(c) = usl_chart(cap) {
        let _ = writeln!(
            out,
            "<figure class=\"chart\" id=\"chart-{}\">{}</figure>",
            c.id,
            charts::svg(&c)
        );
    }
    let _ = writeln!(
        out,
        "<table id=\"flows-table\"><tr><th>flow</th><th>peak journeys/s</th><th>requests/s</th><th>mean service ms</th><th>offered erlangs</th><th>workers needed</th></tr>"
    );
    for f in cap.flows.iter().chain([&cap.total]) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&f.flow),
            num(f.peak_journeys_per_s),
            num(f.request_rate_per_s),
            num(f.mean_service_ms),
            num(f.offered_erlangs),
            f.workers_needed
        );
    }
    for u in &cap.unmeasured {
        let _ = writeln!(
            out,
            "<tr class=\"unmeasured\"><td>{}</td><td>{}</td><td class=\"text\" colspan=\"4\">unmeasured: not sized, not in {}</td></tr>",
            esc(&u.flow),
            num(u.peak_journeys_per_s),
            esc(&cap.total.flow)
        );
    }
    let _ = writeln!(
        out,
        "</table><p>Details and the formula behind every figure: <code>capacity.md</code>.</p></section>"
    );
}

/// The whole page.
pub fn render(
    run: &RunResult,
    v: &Verdict,
    latency: Option<&BTreeMap<String, Histogram<u64>>>,
    baseline: Option<&BTreeMap<String, Histogram<u64>>>,
    capacity: Option<&CapacityReport>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>peakgate {} {}</title><style>{STYLE}</style></head><body>",
        esc(&run.profile.name),
        esc(&v.run_id)
    );
    // 1. The verdict and what ran.
    let _ = writeln!(
        out,
        "<section id=\"verdict\"><h1>peakgate: <span class=\"verdict {}\">{}</span></h1>",
        v.verdict,
        v.verdict.to_string().to_uppercase()
    );
    let _ = writeln!(out, "<dl>");
    let target = match &run.target.standin_release {
        Some(r) => format!("{} ({}, release {r})", run.target.url, run.target.kind),
        None => format!("{} ({})", run.target.url, run.target.kind),
    };
    for (k, val) in [
        (
            "release",
            run.release.clone().unwrap_or_else(|| "(unlabelled)".into()),
        ),
        (
            "profile",
            format!("{} — {}", run.profile.name, run.profile.description),
        ),
        ("target", target),
        ("started", run.started_at.clone()),
        (
            "duration",
            format!("{} s, {}", num(run.duration_s), run.status),
        ),
        ("run", v.run_id.clone()),
        (
            "journeys",
            format!(
                "{} planned, {} started, {} dropped",
                run.totals.planned, run.totals.started, run.totals.dropped
            ),
        ),
        (
            "requests",
            format!("{} ({} failed)", run.totals.requests, run.totals.errors),
        ),
        (
            "load generator",
            crate::report::markdown::generator_line(run),
        ),
    ] {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{}</dd>", esc(&val));
    }
    // A parent run (a `--scale` step, a tenant of a multi-tenant run) shows one of its
    // runs' figures: say which.
    if run.run_id != v.run_id {
        let _ = writeln!(
            out,
            "<dt>figures from</dt><dd>{}</dd>",
            esc(&format!(
                "run {}: the target, journeys, requests and charts are that run's",
                run.run_id
            ))
        );
    }
    let _ = writeln!(out, "</dl>");
    // Every check, the ones that decide the verdict first: what passed is evidence too.
    let passed = v.checks.iter().filter(|c| c.status == Status::Pass).count();
    let _ = writeln!(
        out,
        "<p id=\"checks-count\">{passed} of {} checks passed.</p>",
        v.checks.len()
    );
    if !v.checks.is_empty() {
        let _ = writeln!(
            out,
            "<table id=\"checks\"><tr><th>check</th><th>status</th><th>observed</th><th>warn</th><th>fail</th><th>evidence</th></tr>"
        );
        for status in [
            Status::Inconclusive,
            Status::Fail,
            Status::Warn,
            Status::Pass,
        ] {
            for c in v.checks.iter().filter(|c| c.status == status) {
                let _ = writeln!(
                    out,
                    "<tr class=\"check {}\" data-check=\"{}\"><td>{}</td><td class=\"text\"><span class=\"verdict {}\">{}</span></td><td class=\"observed\">{}</td><td class=\"warn-limit\">{}</td><td class=\"fail-limit\">{}</td><td class=\"text\">{}</td></tr>",
                    c.status,
                    esc(&c.name),
                    esc(&c.name),
                    c.status,
                    c.status,
                    c.observed.map_or_else(|| "—".into(), num),
                    limit(c.warn),
                    limit(c.fail),
                    esc(&c.message)
                );
            }
        }
        let _ = writeln!(out, "</table>");
    }
    let _ = writeln!(out, "</section>");
    // 2-4. Load, latency, errors.
    let load = ["load", "throughput"]
        .into_iter()
        .filter_map(|id| chart_by_id(run, id))
        .chain([in_flight(run)])
        .collect::<Vec<_>>();
    section(&mut out, "load", "Load", &load);
    let mut lat = vec![
        chart_by_id(run, "latency").expect("latency chart"),
        scenario_p95(run),
    ];
    if let Some(l) = latency {
        lat.push(spectrum(l, baseline));
    }
    section(&mut out, "latency", "Latency", &lat);
    section(&mut out, "errors", "Errors", &[errors(run)]);
    // What the failures said, the most frequent first (as Locust's failures table).
    let top = run.top_errors(50);
    if !top.is_empty() {
        let _ = writeln!(
            out,
            "<section id=\"failures\"><h2>Failures</h2><table id=\"failures-table\"><tr><th>transaction</th><th>kind</th><th>count</th><th>seen (s)</th><th>message</th></tr>"
        );
        for (name, m) in top {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}–{}</td><td>{}</td></tr>",
                esc(name),
                esc(&m.kind),
                m.count,
                m.first_s,
                m.last_s,
                esc(&m.message)
            );
        }
        let _ = writeln!(out, "</table></section>");
    }
    // 5. Server side.
    let server = probe_charts(run);
    if server.is_empty() {
        let _ = writeln!(
            out,
            "<section id=\"server\"><h2>Server side</h2><p>No probes ran: add <code>[probes.*]</code> to the profile to see PostgreSQL, Redis and worker saturation here.</p></section>"
        );
    } else {
        section(&mut out, "server", "Server side", &server);
    }
    // 6. Scaling.
    let scale = scale_charts(v);
    if !scale.is_empty() {
        section(&mut out, "scale", "Scaling", &scale);
    }
    if let Some(cap) = capacity {
        capacity_section(&mut out, cap);
    }
    // 7. Every step.
    let _ = writeln!(
        out,
        "<section id=\"steps\"><h2>Steps</h2><p>Journey rows time a scenario's whole journey, think time included; step rows time one request.</p><table id=\"steps-table\"><tr><th>transaction</th><th>kind</th><th>count</th><th>error rate</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>service p95 ms</th></tr>"
    );
    for (name, t) in &run.transactions {
        let errors: u64 = t.errors.values().sum();
        let rate = if t.count > 0 {
            100.0 * errors as f64 / t.count as f64
        } else {
            0.0
        };
        let l = &t.latency_ms;
        let kind = if crate::result::is_journey(name) {
            "journey"
        } else {
            "step"
        };
        let _ = writeln!(
            out,
            "<tr data-name=\"{}\" class=\"{kind}\"><td>{}</td><td class=\"text\">{kind}</td><td>{}</td><td>{}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            esc(name),
            t.count,
            num(rate),
            l.p50,
            l.p95,
            l.p99,
            l.max,
            t.service_ms.p95
        );
    }
    let _ = writeln!(out, "</table></section>\n</body></html>");
    out
}
