//! The human-readable plan `peakgate check` prints: stages, the level over time, expected
//! journeys per scenario, duration and target.

use std::fmt::Write;

use super::Plan;
use super::gate::{Limits, Worse};
use crate::config::profile::{ArrivalKind, ModelKind};

/// Width of the level-over-time chart, in characters.
const CHART_WIDTH: usize = 60;
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Renders the plan as text.
pub fn describe(plan: &Plan) -> String {
    let mut out = String::new();
    let curve = &plan.load.curve;
    let unit = match plan.load.model {
        ModelKind::Open => "journeys/s",
        ModelKind::Closed => "terminals",
    };
    let _ = writeln!(
        out,
        "profile   {} ({})",
        plan.name,
        plan.profile_path.display()
    );
    if !plan.description.is_empty() {
        let _ = writeln!(out, "          {}", plan.description);
    }
    let version = match (&plan.declared_version, plan.data_online) {
        (Some(v), _) => {
            format!("Odoo {v} (the profile's odoo_version; another target version is refused)")
        }
        (None, true) => format!("Odoo {} (the target's)", plan.odoo_version),
        (None, false) => format!(
            "Odoo: the target's, read before the load (steps shown for {})",
            plan.odoo_version
        ),
    };
    let _ = writeln!(
        out,
        "target    {} [{}], {version}",
        plan.target_label(),
        plan.environment
    );
    let _ = writeln!(
        out,
        "load      {}, max in flight {}, timeout {} ms, seed {}",
        match plan.load.model {
            ModelKind::Open =>
                format!("open model, {:?} arrivals", plan.load.arrivals).to_lowercase(),
            ModelKind::Closed => format!("closed model, pacing {} ms", plan.load.pacing_ms),
        },
        plan.load.max_in_flight,
        plan.load.timeout_ms,
        plan.seed
    );
    for p in &plan.probes {
        let _ = writeln!(
            out,
            "probe     {:<10} {} every {}, timeout {}{}",
            p.kind.name(),
            p.shown_url.as_deref().unwrap_or("(the target)"),
            humantime::format_duration(p.interval),
            humantime::format_duration(p.timeout),
            if p.optional { ", optional" } else { "" }
        );
    }
    for why in &plan.probes_off {
        let _ = writeln!(out, "          {why}");
    }
    match &plan.annotations {
        Some(g) => {
            let token = match &g.token {
                Some(_) => format!("token from {}", g.token_env),
                None => format!(
                    "{} is not set: nothing will be posted and the run will warn",
                    g.token_env
                ),
            };
            let _ = writeln!(
                out,
                "annotate  grafana {} dashboard {}{}, {token}, timeout {}",
                g.url,
                g.dashboard_uid.as_deref().unwrap_or("(any, by tag)"),
                g.panel_id
                    .map(|p| format!(" panel {p}"))
                    .unwrap_or_default(),
                humantime::format_duration(g.timeout)
            );
        }
        None => {
            let _ = writeln!(out, "annotate  off (no [annotations.grafana])");
        }
    }
    for note in &plan.data_notes {
        let _ = writeln!(out, "{note}");
    }
    let _ = writeln!(
        out,
        "duration  {}",
        humantime::format_duration(plan.duration())
    );
    let _ = writeln!(out, "\nstages ({unit})");
    for s in &curve.stages {
        let level = if (s.from - s.to).abs() < 1e-9 {
            shown_level(s.from)
        } else {
            format!("{} → {}", shown_level(s.from), shown_level(s.to))
        };
        let journeys = match plan.load.model {
            ModelKind::Open => format!(
                "{:>9} journeys",
                shown_journeys(curve.cumulative(s.end_s()) - curve.cumulative(s.start_s))
            ),
            ModelKind::Closed => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:>7.1}s – {:>7.1}s  {:<34} {:>14}  {journeys}{}",
            s.start_s,
            s.end_s(),
            s.name,
            level,
            if s.mix.is_some() { "  (own mix)" } else { "" }
        );
    }
    if !plan.events.is_empty() {
        let _ = writeln!(out, "\nevents (real clock → run clock)");
        for e in &plan.events {
            let _ = writeln!(
                out,
                "  {:<24} {}  →  {:>7.1}s – {:>7.1}s  ×{}",
                e.name,
                e.clock,
                e.start_s,
                e.start_s + e.duration_s,
                e.factor
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{unit} over time (peak {})",
        shown_level(curve.peak())
    );
    let _ = writeln!(out, "  {}", sparkline(plan));
    let _ = writeln!(
        out,
        "  0s{:>w$}",
        format!("{:.0}s", curve.duration_s()),
        w = CHART_WIDTH - 2
    );
    let expected = expected_per_scenario(plan);
    let total: f64 = expected.iter().sum();
    let _ = writeln!(out, "\nmix (stage mixes included)");
    for (i, s) in plan.scenarios.iter().enumerate() {
        let share = if total > 0.0 {
            expected[i] / total
        } else {
            plan.weights[i] / plan.weights.iter().sum::<f64>()
        };
        let journeys = match plan.load.model {
            ModelKind::Open => format!("{:>9} journeys expected", shown_journeys(expected[i])),
            ModelKind::Closed => String::new(),
        };
        let role = match (plan.setup == Some(i), plan.teardown == Some(i)) {
            (true, _) => "  (setup: once per terminal)",
            (_, true) => "  (teardown: once per terminal)",
            _ => "",
        };
        let _ = writeln!(
            out,
            "  {:<22} {:>5.1}%  {} steps  {journeys}{role}",
            s.name,
            share * 100.0,
            s.steps.len()
        );
    }
    if plan.load.model == ModelKind::Open {
        let _ = writeln!(
            out,
            "  {:<22} {:>6}  {:>7}  {:>9} journeys expected",
            "total",
            "",
            "",
            shown_journeys(total)
        );
        // Uniform arrivals sit at the half-integers of the expected count; Poisson arrivals
        // are drawn, so below 1 expected most runs start none.
        if total < 1.0 {
            let _ = writeln!(
                out,
                "  {}",
                match plan.load.arrivals {
                    ArrivalKind::Uniform if total < 0.5 => {
                        "the plan starts no journey at this rate and duration".to_string()
                    }
                    ArrivalKind::Uniform => {
                        "the plan starts 1 journey at this rate and duration".to_string()
                    }
                    ArrivalKind::Poisson => format!(
                        "the plan expects fewer than 1 journey at this rate and duration: a run starts none {:.0}% of the time",
                        (-total).exp() * 100.0
                    ),
                }
            );
        }
    }
    let sets = plan.datasets();
    if !sets.is_empty() {
        let _ = writeln!(
            out,
            "\ndata read from the target before the load (target-data.json)"
        );
        for name in &sets {
            let about = crate::target::data::schema(name).map_or("", |s| s.about);
            let _ = writeln!(out, "  {name:<16} {about}");
        }
        if sets.contains("pos_sessions") {
            let _ = writeln!(
                out,
                "  POS sessions are opened before the load and closed after it (their orders posted)"
            );
        }
    }
    describe_tenants(plan, &mut out);
    describe_gate(plan, &mut out);
    out
}

/// The tenants and the noisy-neighbour check of a multi-tenant profile.
fn describe_tenants(plan: &Plan, out: &mut String) {
    if plan.tenants.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "
tenants (each its own run, database and target data; the stages above are the profile's)"
    );
    for t in &plan.tenants {
        let load = match t.load {
            super::tenants::TenantLoad::Share(x) => format!("the stages ×{x}"),
            super::tenants::TenantLoad::Steady(x) => format!("steady {x} through every stage"),
        };
        let _ = writeln!(
            out,
            "  {:<16} database {}{}, {load}",
            t.name,
            t.database,
            t.url.as_ref().map_or(String::new(), |u| format!(" at {u}"))
        );
    }
    if let Some(n) = &plan.noisy_neighbour {
        let _ = writeln!(
            out,
            "  noisy neighbour: canary {}'s latency in stages {} against stages {} ([gate.compare] rules)",
            n.canary,
            n.loaded.join(", "),
            n.quiet.join(", ")
        );
    }
}

/// An expected journey count as the run stores it (`expected_journeys`, one decimal): whole
/// counts without a decimal (`131`), others with one (`4.5`), and never a count below 1
/// rounded to nothing (`0.04` is `<0.1`).
fn shown_journeys(x: f64) -> String {
    let tenths = (x * 10.0).round() / 10.0;
    if x > 0.0 && tenths == 0.0 {
        "<0.1".to_string()
    } else if tenths.fract() == 0.0 {
        format!("{tenths:.0}")
    } else {
        format!("{tenths:.1}")
    }
}

/// Expected journeys of each scenario: every stage's area shared by that stage's mix.
fn expected_per_scenario(plan: &Plan) -> Vec<f64> {
    let curve = &plan.load.curve;
    let mut out = vec![0.0; plan.scenarios.len()];
    for s in &curve.stages {
        let area = curve.cumulative(s.end_s()) - curve.cumulative(s.start_s);
        let weights = s.mix.as_deref().unwrap_or(&plan.weights);
        let sum: f64 = weights.iter().sum();
        if sum > 0.0 {
            for (o, w) in out.iter_mut().zip(weights) {
                *o += area * w / sum;
            }
        }
    }
    out
}

/// The gate's checks, one a line, so a reviewer sees what the run will be judged by.
fn describe_gate(plan: &Plan, out: &mut String) {
    let g = &plan.gate;
    let limits = |l: &Limits, worse: &str| {
        [("warn", l.warn), ("fail", l.fail)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k} {worse} {v}")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = Vec::new();
    for (sel, stats) in &g.latency {
        for (stat, l) in stats {
            lines.push(format!(
                "latency {} {sel} (ms): {}",
                stat.name(),
                limits(l, ">")
            ));
        }
    }
    for (sel, e) in &g.errors {
        if let Some(l) = &e.rate {
            lines.push(format!("error rate {sel}: {}", limits(l, ">")));
        }
        for (kind, l) in &e.kinds {
            lines.push(format!("error rate {kind} in {sel}: {}", limits(l, ">")));
        }
    }
    if let Some(l) = &g.started_ratio {
        lines.push(format!("journeys started_ratio: {}", limits(l, "<")));
    }
    if let Some(l) = &g.dropped {
        lines.push(format!("journeys dropped: {}", limits(l, ">")));
    }
    for (metric, c) in &g.probes {
        let side = if metric.worse() == Worse::Lower {
            "<"
        } else {
            ">"
        };
        lines.push(format!(
            "probe {}: {}",
            metric.name(),
            limits(&c.limits, side)
        ));
    }
    if let Some(a) = &g.abort {
        let mut conditions = Vec::new();
        if let Some(r) = a.error_rate {
            conditions.push(format!("error rate > {r}"));
        }
        if let Some(p) = a.p95_ms {
            conditions.push(format!("p95 > {p} ms every second"));
        }
        lines.push(format!(
            "abort when {} over {} s",
            conditions.join(" or "),
            a.window_s
        ));
    }
    let _ = writeln!(out, "\ngate");
    if lines.is_empty() {
        let _ = writeln!(out, "  (no checks: every completed run passes)");
    }
    for l in lines {
        let _ = writeln!(out, "  {l}");
    }
}

fn sparkline(plan: &Plan) -> String {
    let curve = &plan.load.curve;
    let peak = curve.peak().max(f64::MIN_POSITIVE);
    let step = curve.duration_s() / CHART_WIDTH as f64;
    (0..CHART_WIDTH)
        .map(|i| {
            let level = curve.level_at((i as f64 + 0.5) * step);
            if level <= 0.0 {
                ' '
            } else {
                BARS[((level / peak) * (BARS.len() - 1) as f64).round() as usize]
            }
        })
        .collect()
}

/// A rate or level as written, to 4 significant digits (`5.0`, `2.5`, `0.04`, `0.0000001`):
/// however small, a rate above 0 never shows as `0.0`.
fn shown_level(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x:.1}");
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    let rounded = (x * scale).round() / scale;
    let text = rounded.to_string();
    if text.contains('.') || text.contains('e') {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod level_tests {
    use super::shown_level;

    #[test]
    fn small_rates_are_shown_as_they_are() {
        assert_eq!(shown_level(0.04), "0.04");
        assert_eq!(shown_level(5.0), "5.0");
        assert_eq!(shown_level(2.5), "2.5");
        assert_eq!(shown_level(0.125), "0.125");
        assert_eq!(shown_level(0.0004), "0.0004");
        assert_eq!(shown_level(1e-7), "0.0000001");
        assert_eq!(shown_level(1e-12), "0.000000000001");
        assert_eq!(shown_level(0.1 + 0.2), "0.3");
        assert_eq!(shown_level(1.0 / 3.0), "0.3333");
        assert_eq!(shown_level(1500.0), "1500.0");
        assert_eq!(shown_level(0.0), "0.0");
    }
}

#[cfg(test)]
mod tests {
    use super::shown_journeys;

    #[test]
    fn expected_journeys_are_shown_with_the_decimal_the_run_keeps() {
        assert_eq!(shown_journeys(262.5), "262.5");
        assert_eq!(shown_journeys(131.25), "131.3");
        assert_eq!(shown_journeys(1050.0), "1050");
        assert_eq!(shown_journeys(4.4999), "4.5");
        assert_eq!(shown_journeys(0.04), "<0.1");
        assert_eq!(shown_journeys(0.0), "0");
    }
}
