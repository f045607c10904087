//! The human-readable plan `peakgate check` prints: stages, the level over time, expected
//! journeys per scenario, duration and target.

use std::fmt::Write;

use super::Plan;
use crate::config::profile::ModelKind;

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
    let _ = writeln!(
        out,
        "target    {} [{}]",
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
    let _ = writeln!(
        out,
        "duration  {}",
        humantime::format_duration(plan.duration())
    );
    let _ = writeln!(out, "\nstages ({unit})");
    for s in &curve.stages {
        let level = if (s.from - s.to).abs() < 1e-9 {
            format!("{:.1}", s.from)
        } else {
            format!("{:.1} → {:.1}", s.from, s.to)
        };
        let journeys = match plan.load.model {
            ModelKind::Open => format!(
                "{:>9.0} journeys",
                curve.cumulative(s.end_s()) - curve.cumulative(s.start_s)
            ),
            ModelKind::Closed => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:>7.1}s – {:>7.1}s  {:<18} {:>16}  {journeys}",
            s.start_s,
            s.end_s(),
            s.name,
            level
        );
    }
    let _ = writeln!(out, "\n{unit} over time (peak {:.1})", curve.peak());
    let _ = writeln!(out, "  {}", sparkline(plan));
    let _ = writeln!(
        out,
        "  0s{:>w$}",
        format!("{:.0}s", curve.duration_s()),
        w = CHART_WIDTH - 2
    );
    let total_weight: f64 = plan.weights.iter().sum();
    let _ = writeln!(out, "\nmix");
    for (s, w) in plan.scenarios.iter().zip(&plan.weights) {
        let share = w / total_weight;
        let expected = match plan.load.model {
            ModelKind::Open => format!(
                "{:>9.0} journeys expected",
                plan.expected_journeys() * share
            ),
            ModelKind::Closed => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<22} {:>5.1}%  {} steps  {expected}",
            s.name,
            share * 100.0,
            s.steps.len()
        );
    }
    if plan.load.model == ModelKind::Open {
        let _ = writeln!(
            out,
            "  {:<22} {:>6}  {:>7}  {:>9.0} journeys expected",
            "total",
            "",
            "",
            plan.expected_journeys()
        );
    }
    out
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
