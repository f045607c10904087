//! The page's edge cases, read from the rendered SVG and HTML: axis tick labels, label
//! positions, thresholds as printed. Named after the kind of fault each pins.

use regex::Regex;

use super::charts::{self, WIDTH};
use super::page;
use crate::plan::Stage;
use crate::result::{Check, Headroom, ProbeReport, RunResult, ScaleStep, Status, Verdict};

/// A `<text>` element of an SVG: its position, anchor and content.
#[derive(Debug)]
struct Text {
    x: f64,
    y: f64,
    end_anchor: bool,
    text: String,
}

fn texts(svg: &str) -> Vec<Text> {
    let re = Regex::new(r#"<text ([^>]*)>([^<]*)</text>"#).unwrap();
    let attr = |attrs: &str, name: &str| {
        Regex::new(&format!(r#"\b{name}="([^"]*)""#))
            .unwrap()
            .captures(attrs)
            .map(|c| c[1].to_string())
    };
    re.captures_iter(svg)
        .map(|c| Text {
            x: attr(&c[1], "x").and_then(|v| v.parse().ok()).unwrap_or(0.0),
            y: attr(&c[1], "y").and_then(|v| v.parse().ok()).unwrap_or(0.0),
            end_anchor: attr(&c[1], "text-anchor").as_deref() == Some("end"),
            text: c[2].trim().to_string(),
        })
        .collect()
}

/// The tick labels under the x axis: the texts on the lowest row of numbers.
fn x_ticks(svg: &str) -> Vec<String> {
    let numbers: Vec<Text> = texts(svg)
        .into_iter()
        .filter(|t| t.text.parse::<f64>().is_ok())
        .collect();
    let bottom = numbers.iter().map(|t| t.y).fold(0.0, f64::max);
    numbers
        .into_iter()
        .filter(|t| (t.y - bottom).abs() < 1.0)
        .map(|t| t.text)
        .collect()
}

/// The tick labels beside the y axis: numbers right-aligned at the same x.
fn y_ticks(svg: &str) -> Vec<String> {
    let numbers: Vec<Text> = texts(svg)
        .into_iter()
        .filter(|t| t.text.parse::<f64>().is_ok() && t.end_anchor)
        .collect();
    let left = numbers.iter().map(|t| t.x).fold(f64::MAX, f64::min);
    numbers
        .into_iter()
        .filter(|t| (t.x - left).abs() < 1.0)
        .map(|t| t.text)
        .collect()
}

/// The `<figure>` of a chart in the page.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!("id=\"chart-{id}\""))
        .unwrap_or_else(|| panic!("no chart {id}"));
    &html[at..at + html[at..].find("</figure>").unwrap()]
}

fn verdict(checks: Vec<Check>) -> Verdict {
    Verdict::new("20261126T150102Z-smoke-3fa2".into(), checks)
}

fn render(run: &RunResult, v: &Verdict) -> String {
    page::render(run, v, None, None, None)
}

fn stage(name: &str, start_s: f64) -> Stage {
    Stage {
        name: name.into(),
        start_s,
        duration_s: 2.5,
        from: 5.0,
        to: 5.0,
        mix: None,
    }
}

fn check(name: &str, status: Status, observed: f64, warn: f64, fail: f64) -> Check {
    Check {
        name: name.into(),
        status,
        observed: Some(observed),
        warn: Some(warn),
        fail: Some(fail),
        message: String::new(),
    }
}

#[test]
fn errors_chart_x_axis_spans_the_run_on_a_clean_run() {
    let run = crate::verdict::fixture::run();
    assert!(run.timeline.iter().all(|e| e.errors_by_kind.is_empty()));
    let html = render(&run, &verdict(vec![]));
    let ticks = x_ticks(figure(&html, "errors"));
    // 10 s of run: 0 to 10, not 0 to 1.
    let last: f64 = ticks
        .iter()
        .map(|t| t.parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(last, 10.0, "{ticks:?}");
    assert!(ticks.contains(&"5".to_string()), "{ticks:?}");
}

#[test]
fn errors_chart_stage_labels_are_not_piled_up() {
    let mut run = crate::verdict::fixture::run();
    run.plan.stages = vec![
        stage("warm up", 0.0),
        stage("promotion goes live", 2.5),
        stage("promotion peak", 5.0),
        stage("cool down after the peak", 7.5),
    ];
    let html = render(&run, &verdict(vec![]));
    let svg = figure(&html, "errors");
    let labels: Vec<Text> = texts(svg)
        .into_iter()
        .filter(|t| {
            [
                "warm up",
                "promotion goes live",
                "promotion peak",
                "cool down after the peak",
            ]
            .contains(&t.text.as_str())
        })
        .collect();
    assert_eq!(
        labels.len(),
        4,
        "every stage is labelled, the first too: {labels:?}"
    );
    // Each label's box (6.5 px a character) lies inside the drawing and overlaps no other.
    let boxes: Vec<(f64, f64, f64)> = labels
        .iter()
        .map(|t| {
            let w = t.text.chars().count() as f64 * 6.5;
            let x0 = if t.end_anchor { t.x - w } else { t.x };
            assert!(
                x0 >= 0.0 && x0 + w <= f64::from(WIDTH),
                "{t:?} leaves the chart"
            );
            (x0, x0 + w, t.y)
        })
        .collect();
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let same_row = (a.2 - b.2).abs() < 11.0;
            assert!(
                !same_row || a.1 <= b.0 || b.1 <= a.0,
                "{a:?} and {b:?} overlap"
            );
        }
    }
}

#[test]
fn thresholds_are_not_rounded_to_2_decimals() {
    let run = crate::verdict::fixture::run();
    let v = verdict(vec![check(
        "errors rate */*",
        Status::Warn,
        0.0042,
        0.005,
        0.02,
    )]);
    let html = render(&run, &v);
    let row = &html[html.find("data-check=\"errors rate */*\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<td class=\"warn-limit\">0.005</td>"), "{row}");
    assert!(row.contains("<td class=\"fail-limit\">0.02</td>"), "{row}");
    assert!(row.contains("<td class=\"observed\">0.0042</td>"), "{row}");
    // summary.md and the checks' own sentences say the same.
    let mut md = Vec::new();
    crate::report::Format::write(&crate::report::SummaryMarkdown, &run, &v, &mut md).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert!(md.contains("| 0.005 | 0.02 |"), "{md}");
    let limits = crate::plan::gate::Limits {
        warn: Some(0.0005),
        fail: Some(0.005),
    };
    assert_eq!(
        crate::verdict::describe_limits(limits, crate::plan::gate::Worse::Higher, ""),
        "warn above 0.0005, fail above 0.005"
    );
}

fn stepped() -> Verdict {
    let mut v = verdict(vec![]);
    let step = |scale: f64, p95: f64, errors: f64| ScaleStep {
        scale,
        dir: format!("x{scale}"),
        verdict: Status::Pass,
        started_ratio: Some(1.0),
        requests: 100,
        error_rate: errors,
        worst_p95_ms: p95,
        worst_p95_step: "pos_order_sync/create_from_ui".into(),
        not_passed: Vec::new(),
    };
    v.headroom = Some(Headroom {
        multiplier: 2.0,
        steps: vec![
            step(0.5, 80.0, 0.0),
            step(1.0, 95.0, 0.001),
            step(1.5, 140.0, 0.002),
            step(2.0, 400.0, 0.01),
        ],
    });
    v
}

#[test]
fn scaling_chart_labels_half_load_and_keeps_headroom_label_and_units_apart() {
    let html = render(&crate::verdict::fixture::run(), &stepped());
    let ms = figure(&html, "scale");
    let ticks = x_ticks(ms);
    assert!(
        ticks.contains(&"0.5".to_string()),
        "×0.5 labelled 0.5: {ticks:?}"
    );
    assert!(!ticks.contains(&"0".to_string()), "{ticks:?}");
    // The headroom label sits at the right edge: anchored to end there, inside the chart.
    let label = texts(ms)
        .into_iter()
        .find(|t| t.text == "headroom ×2")
        .expect("headroom label");
    let w = label.text.chars().count() as f64 * 6.5;
    let right = if label.end_anchor {
        label.x
    } else {
        label.x + w
    };
    assert!(right <= f64::from(WIDTH), "{label:?} is clipped");
    // ms and % on their own axes: p95 up to 400 ms, error rate up to 1%.
    let top = |svg: &str| {
        y_ticks(svg)
            .iter()
            .map(|t| t.parse::<f64>().unwrap())
            .fold(0.0, f64::max)
    };
    let label = |svg: &str, l: &str| texts(svg).iter().any(|t| t.text == l);
    assert!(top(ms) >= 400.0 && label(ms, "ms"), "{:?}", y_ticks(ms));
    assert!(!label(ms, "%") && !label(ms, "ms / %"));
    let pct = figure(&html, "scale-errors");
    assert!((1.0..2.0).contains(&top(pct)), "{:?}", y_ticks(pct));
    assert!(label(pct, "%") && !label(pct, "ms"));
}

fn probe(kind: &str, series: serde_json::Value) -> ProbeReport {
    serde_json::from_value(serde_json::json!({
        "kind": kind, "interval_s": 1.0, "coverage": 1.0, "series": series
    }))
    .unwrap()
}

#[test]
fn postgresql_connections_chart_is_drawn_as_stacked_areas() {
    let mut run = crate::verdict::fixture::run();
    run.probes.insert(
        "postgres".into(),
        probe(
            "postgres",
            serde_json::json!({
                "connections_active": [[0, 4.0], [1, 6.0], [2, 5.0]],
                "connections_idle": [[0, 10.0], [1, 8.0], [2, 9.0]],
                "connections_idle_in_transaction": [[0, 1.0], [1, 2.0], [2, 1.0]],
                "connections_idle_in_transaction_aborted": [[0, 0.0], [1, 0.0], [2, 0.0]],
                "max_connections": [[0, 100.0], [1, 100.0], [2, 100.0]],
                "oldest_xact_age_s": [[0, 0.001], [1, 0.004], [2, 0.002]]
            }),
        ),
    );
    let html = render(&run, &verdict(vec![]));
    let svg = figure(&html, "postgres-connections");
    // One filled band per state; max_connections stays a line.
    assert_eq!(svg.matches("<polygon").count(), 4, "{svg}");
    assert!(svg.contains("<polyline"), "max_connections line");
    for state in [
        "active",
        "idle",
        "idle in transaction",
        "idle in transaction (aborted)",
    ] {
        assert!(texts(svg).iter().any(|t| t.text == state), "legend {state}");
    }
    // The oldest transaction's axis tells its ticks apart (4 ms at most: not all 0.00).
    let ages = y_ticks(figure(&html, "postgres-ages"));
    let mut distinct = ages.clone();
    distinct.dedup();
    assert!(distinct.len() >= 3, "{ages:?}");
    assert!(
        ages.iter().any(|t| t.parse::<f64>().unwrap() >= 0.004),
        "{ages:?}"
    );
}

#[test]
fn redis_maxmemory_0_is_no_limit_not_a_line_at_0() {
    let mut run = crate::verdict::fixture::run();
    run.probes.insert(
        "redis".into(),
        probe(
            "redis",
            serde_json::json!({
                "used_memory_bytes": [[0, 2.0e6], [1, 3.0e6]],
                "maxmemory_bytes": [[0, 0.0], [1, 0.0]]
            }),
        ),
    );
    let html = render(&run, &verdict(vec![]));
    let svg = figure(&html, "redis-memory");
    assert!(svg.contains("no limit"), "the title says so");
    assert!(
        !texts(svg).iter().any(|t| t.text == "maxmemory"),
        "no maxmemory line"
    );
    assert!(texts(svg).iter().any(|t| t.text == "used_memory"));
}

#[test]
fn throughput_chart_shows_requests_per_second() {
    let run = crate::verdict::fixture::run();
    let html = render(&run, &verdict(vec![]));
    let svg = figure(&html, "throughput");
    assert!(svg.contains("Requests per second"));
    // The fixture finishes 10 requests a second: the axis reaches 10.
    let top = y_ticks(svg)
        .iter()
        .map(|t| t.parse::<f64>().unwrap())
        .fold(0.0, f64::max);
    assert!((10.0..=11.0).contains(&top), "{:?}", y_ticks(svg));
}

#[test]
fn passing_checks_are_listed_too() {
    let run = crate::verdict::fixture::run();
    let v = verdict(vec![
        check("latency p95 */*", Status::Pass, 120.0, 800.0, 1500.0),
        check("errors rate */*", Status::Pass, 0.001, 0.005, 0.02),
        check("journeys dropped", Status::Warn, 3.0, 0.0, 10.0),
    ]);
    let html = render(&run, &v);
    assert!(html.contains("2 of 3 checks passed."), "count");
    assert_eq!(html.matches("<tr class=\"check pass\"").count(), 2);
    let warn_at = html.find("data-check=\"journeys dropped\"").unwrap();
    let pass_at = html.find("data-check=\"latency p95 */*\"").unwrap();
    assert!(warn_at < pass_at, "what decides the verdict comes first");
    let pass_row = &html[pass_at..pass_at + html[pass_at..].find("</tr>").unwrap()];
    assert!(
        pass_row.contains("<td class=\"warn-limit\">800</td>"),
        "{pass_row}"
    );
}

#[test]
fn journey_rows_and_step_rows_are_marked_apart() {
    let html = render(&crate::verdict::fixture::run(), &verdict(vec![]));
    let row = |name: &str| {
        let at = html.find(&format!("<tr data-name=\"{name}\"")).unwrap();
        html[at..at + html[at..].find("</tr>").unwrap()].to_string()
    };
    let journey = row("pos_order_sync");
    assert!(
        journey.contains("class=\"journey\"") && journey.contains(">journey</td>"),
        "{journey}"
    );
    let step = row("pos_order_sync/create_from_ui");
    assert!(
        step.contains("class=\"step\"") && step.contains(">step</td>"),
        "{step}"
    );
}

#[test]
fn charts_fit_an_800_px_window() {
    let html = render(&crate::verdict::fixture::run(), &verdict(vec![]));
    let svg = figure(&html, "load");
    let root = &svg[svg.find("<svg").unwrap()..];
    let root = &root[..root.find('>').unwrap()];
    assert!(root.contains("width=\"100%\""), "{root}");
    assert!(root.contains(&format!("viewBox=\"0 0 {WIDTH} ")), "{root}");
    assert!(!root.contains(&format!("width=\"{WIDTH}\"")), "{root}");
    // The PNG copies keep their drawn size.
    assert_eq!(charts::WIDTH, 960);
}
