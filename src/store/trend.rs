//! The trend page (`peakgate history --trend OUT.html`): per release stream (profile, target,
//! tenant), one point per release of per-step p95, error rate and headroom, failed releases
//! marked; and the change-gate figures of each stream: failed change rate and gated releases
//! per week. One self-contained HTML page (inline SVG, no script), drawn with the run report's
//! charts.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::entry::{Entry, RunKind};
use crate::report::html::charts::{Chart, Line, Look, svg_with};
use crate::result::{RunStatus, Status};

/// One release of a stream: its newest judged run, and its newest `--scale` run's headroom.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleasePoint {
    pub release: String,
    /// The run the point's latency and error figures come from.
    pub run_id: String,
    pub started_at: String,
    pub verdict: Status,
    pub status: RunStatus,
    /// Step → p95 latency, ms.
    pub p95_ms: BTreeMap<String, f64>,
    /// Failed / finished requests (0..1).
    pub error_rate: f64,
    /// Highest multiplier whose gate passed, when the release had a `--scale` run.
    pub headroom: Option<f64>,
}

impl ReleasePoint {
    /// The gate failed this release (verdict fail, or the abort rule stopped its load).
    pub fn failed(&self) -> bool {
        self.verdict == Status::Fail || self.status == RunStatus::Aborted
    }

    /// The gate judged this release: an interrupted or inconclusive run is no evidence.
    pub fn gated(&self) -> bool {
        self.status != RunStatus::Interrupted && self.verdict != Status::Inconclusive
    }
}

/// One release stream: runs of one profile on one target (and tenant).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stream {
    pub profile: String,
    pub target: String,
    pub tenant: Option<String>,
    /// Releases in the order they were first run.
    pub releases: Vec<ReleasePoint>,
    /// Releases the gate judged (pass, warn or fail).
    pub gated_releases: usize,
    /// Of those, the ones it failed.
    pub failed_releases: usize,
    /// failed / gated releases (0..1); `None` when none was gated.
    pub failed_change_rate: Option<f64>,
    /// Gated releases per week, over the weeks from the first gated run to the last (one
    /// week at least).
    pub gated_per_week: f64,
}

/// Groups entries into streams and keeps one point per release (its newest run). Runs without
/// a release label are left out: a trend across releases needs the label.
pub fn streams(entries: &[Entry]) -> Vec<Stream> {
    type Key = (String, String, Option<String>);
    let mut by_stream: BTreeMap<Key, Vec<&Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.release.is_some()) {
        by_stream
            .entry((e.profile.clone(), e.target.clone(), e.tenant.clone()))
            .or_default()
            .push(e);
    }
    by_stream
        .into_iter()
        .map(|((profile, target, tenant), mut runs)| {
            runs.sort_by_key(|e| e.started());
            let mut order: Vec<&str> = Vec::new();
            for e in &runs {
                if !order.contains(&e.release_label()) {
                    order.push(e.release_label());
                }
            }
            let releases: Vec<ReleasePoint> = order
                .iter()
                .filter_map(|release| point(release, &runs))
                .collect();
            stream_figures(profile, target, tenant, releases, &runs)
        })
        .collect()
}

fn point(release: &str, runs: &[&Entry]) -> Option<ReleasePoint> {
    let of_release: Vec<&&Entry> = runs
        .iter()
        .filter(|e| e.release_label() == release)
        .collect();
    // The newest single run speaks for the release; a --scale run only when there is none.
    let judged = of_release
        .iter()
        .rev()
        .find(|e| e.kind == RunKind::Run)
        .or_else(|| of_release.last())?;
    let headroom = of_release
        .iter()
        .rev()
        .find(|e| e.kind == RunKind::Scale)
        .and_then(|e| e.headroom);
    Some(ReleasePoint {
        release: release.to_string(),
        run_id: judged.run_id.clone(),
        started_at: judged.started_at.clone(),
        verdict: judged.verdict,
        status: judged.status,
        p95_ms: judged
            .steps
            .iter()
            .map(|(k, s)| (k.clone(), s.p95_ms))
            .collect(),
        error_rate: judged.error_rate,
        headroom,
    })
}

fn stream_figures(
    profile: String,
    target: String,
    tenant: Option<String>,
    releases: Vec<ReleasePoint>,
    runs: &[&Entry],
) -> Stream {
    let gated: Vec<&ReleasePoint> = releases.iter().filter(|p| p.gated()).collect();
    let failed = gated.iter().filter(|p| p.failed()).count();
    let starts: Vec<jiff::Timestamp> = runs
        .iter()
        .filter(|e| gated.iter().any(|p| p.run_id == e.run_id))
        .map(|e| e.started())
        .collect();
    let span_s = match (starts.iter().min(), starts.iter().max()) {
        (Some(a), Some(b)) => b.as_second() - a.as_second(),
        _ => 0,
    };
    let weeks = (span_s as f64 / (7.0 * 86_400.0)).max(1.0);
    Stream {
        profile,
        target,
        tenant,
        gated_releases: gated.len(),
        failed_releases: failed,
        failed_change_rate: (!gated.is_empty()).then(|| failed as f64 / gated.len() as f64),
        gated_per_week: gated.len() as f64 / weeks,
        releases,
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:1em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}.fail{color:#b00;font-weight:bold}.pass{color:#070}\
.warn{color:#a60}.inconclusive{color:#555}figure{margin:1em 0}dl{display:grid;grid-template-columns:max-content auto;gap:2px 1em}";

/// The trend page over `entries` (already filtered by the user's --profile/--target).
pub fn page(entries: &[Entry], store_url: &str) -> String {
    let streams = streams(entries);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>peakgate trend</title><style>{STYLE}</style></head><body>\n<h1>peakgate: release trend</h1>\n<p>{} runs from the store {}; one point per release (its newest run), releases in the order first run. Every release is a dot on the charts, named on the x axis.</p>\n",
        entries.len(),
        esc(store_url)
    );
    if streams.is_empty() {
        out.push_str("<p id=\"empty\">No run with a release label matches.</p>\n");
    }
    for (i, s) in streams.iter().enumerate() {
        stream_section(&mut out, i, s);
    }
    out.push_str("</body></html>\n");
    out
}

fn stream_section(out: &mut String, i: usize, s: &Stream) {
    let tenant = s
        .tenant
        .as_ref()
        .map(|t| format!(", tenant {}", esc(t)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "<section class=\"stream\" id=\"stream-{i}\"><h2>{} on {}{tenant}</h2>",
        esc(&s.profile),
        esc(&s.target)
    );
    let rate = s.failed_change_rate.map_or_else(
        || "n/a (no gated release)".into(),
        |r| format!("{:.1} %", r * 100.0),
    );
    let _ = writeln!(
        out,
        "<dl class=\"gate-figures\"><dt>failed change rate</dt><dd data-key=\"failed_change_rate\">{rate} ({} of {} gated releases failed)</dd><dt>gated releases per week</dt><dd data-key=\"gated_per_week\">{:.2}</dd></dl>",
        s.failed_releases, s.gated_releases, s.gated_per_week
    );
    let x = |n: usize| (n + 1) as f64;
    let failed_markers: Vec<(f64, String)> = s
        .releases
        .iter()
        .enumerate()
        .filter(|(_, p)| p.failed())
        .map(|(n, p)| (x(n), format!("failed {}", p.release)))
        .collect();
    // Half a release of room each side: a point (or the only one) is never on the edge.
    let x_range = Some((0.5, s.releases.len() as f64 + 0.5));
    let mut steps: Vec<&String> = s.releases.iter().flat_map(|p| p.p95_ms.keys()).collect();
    steps.sort();
    steps.dedup();
    let p95_lines = steps
        .iter()
        .map(|step| {
            let pts = s
                .releases
                .iter()
                .enumerate()
                .filter_map(|(n, p)| p.p95_ms.get(*step).map(|v| (x(n), *v)))
                .collect();
            Line::new(step.as_str(), pts)
        })
        .collect();
    let mut charts = vec![
        Chart {
            id: format!("trend-{i}-p95"),
            title: "p95 latency per step".into(),
            x_label: "release".into(),
            y_label: "ms".into(),
            lines: p95_lines,
            markers: failed_markers.clone(),
            percentile_axis: false,
            x_range,
        },
        Chart {
            id: format!("trend-{i}-errors"),
            title: "error rate (% of requests failed)".into(),
            x_label: "release".into(),
            y_label: "% of requests".into(),
            lines: vec![Line::new(
                "error rate",
                s.releases
                    .iter()
                    .enumerate()
                    .map(|(n, p)| (x(n), p.error_rate * 100.0))
                    .collect(),
            )],
            markers: failed_markers.clone(),
            percentile_axis: false,
            x_range,
        },
    ];
    let headroom: Vec<(f64, f64)> = s
        .releases
        .iter()
        .enumerate()
        .filter_map(|(n, p)| p.headroom.map(|h| (x(n), h)))
        .collect();
    if !headroom.is_empty() {
        charts.push(Chart {
            id: format!("trend-{i}-headroom"),
            title: "headroom (highest load multiplier the gate passed)".into(),
            x_label: "release".into(),
            y_label: "×".into(),
            lines: vec![Line::new("headroom", headroom)],
            markers: failed_markers,
            percentile_axis: false,
            x_range,
        });
    }
    let names: Vec<String> = s.releases.iter().map(|p| p.release.clone()).collect();
    for c in &charts {
        let look = Look {
            x_names: Some(&names),
            // The error rate is drawn in percent (0.5 is half a percent): every tick says so.
            y_unit: c.id.ends_with("-errors").then_some(" %"),
            point_marks: true,
            legend_beside: true,
        };
        let _ = writeln!(
            out,
            "<figure class=\"chart\" id=\"chart-{}\"><figcaption>{}</figcaption>{}</figure>",
            c.id,
            esc(&c.title),
            svg_with(c, &look)
        );
    }
    let _ = writeln!(
        out,
        "<table class=\"releases\"><tr><th>#</th><th>release</th><th>verdict</th><th>run</th><th>started</th><th>worst p95 ms</th><th>error rate</th><th>headroom</th></tr>"
    );
    for (n, p) in s.releases.iter().enumerate() {
        let (worst_step, worst) = p
            .p95_ms
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(("-".to_string(), 0.0), |(k, v)| (k.clone(), *v));
        let verdict = if p.status == RunStatus::Completed {
            p.verdict.to_string()
        } else {
            format!("{} ({})", p.verdict, p.status)
        };
        let _ = writeln!(
            out,
            "<tr data-release=\"{}\" class=\"{}\"><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td title=\"{}\">{worst:.1}</td><td>{:.2} %</td><td>{}</td></tr>",
            esc(&p.release),
            if p.failed() { "failed" } else { "ok" },
            n + 1,
            esc(&p.release),
            p.verdict,
            esc(&verdict),
            esc(&p.run_id),
            esc(&p.started_at),
            esc(&worst_step),
            p.error_rate * 100.0,
            p.headroom.map_or("-".into(), |h| format!("{h}×")),
        );
    }
    out.push_str("</table></section>\n");
}
