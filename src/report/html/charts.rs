//! Charts drawn with plotters, the same drawing for the inline SVG and the PNG copies:
//! time series on the run's clock (stage boundaries marked) and the latency percentile
//! spectrum. Colors are the Okabe-Ito set, which stays distinguishable in print and for
//! color-blind readers; a second series style (dashes) marks a baseline.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Okabe-Ito palette.
const COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(230, 159, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// Most points a line is drawn with: longer series are bucketed (keeping each bucket's
/// maximum, so spikes survive). The stored data is never touched.
pub const MAX_POINTS: usize = 600;

pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 320;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed-looking (thin, lighter): a baseline or a limit.
    pub secondary: bool,
}

impl Line {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Line {
        Line {
            name: name.into(),
            points: downsample(points),
            secondary: false,
        }
    }
    pub fn secondary(mut self) -> Line {
        self.secondary = true;
        self
    }
}

/// What a chart shows.
#[derive(Debug, Clone)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub lines: Vec<Line>,
    /// Vertical markers (stage boundaries, the headroom), with labels.
    pub markers: Vec<(f64, String)>,
    /// x is log10(1/(1-q)): label ticks as percentiles.
    pub percentile_axis: bool,
}

fn fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The DejaVu font is compiled in: charts look the same on every machine.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Buckets a long series down to [`MAX_POINTS`], keeping each bucket's highest value.
pub fn downsample(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let per = points.len().div_ceil(MAX_POINTS);
    points
        .chunks(per)
        .map(|c| {
            let peak = c.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            (c[0].0, peak)
        })
        .collect()
}

/// The chart as an SVG document.
pub fn svg(chart: &Chart) -> String {
    fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        // Drawing into a String cannot fail for I/O; a layout error leaves an empty chart.
        let _ = draw(&root, chart);
        let _ = root.present();
    }
    out
}

/// The chart as a PNG file, written atomically (a full disk never leaves half a chart).
pub fn png(chart: &Chart, path: &std::path::Path) -> Result<(), String> {
    fonts();
    crate::result::artifacts::write_atomic_with(path, "png", |tmp| {
        let root = BitMapBackend::new(tmp, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for l in &chart.lines {
        for (x, y) in &l.points {
            x0 = x0.min(*x);
            x1 = x1.max(*x);
            y1 = y1.max(*y);
        }
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if (x1 - x0).abs() < 1e-9 {
        x1 = x0 + 1.0;
    }
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.1 };
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, 0.0..y1)?;
    let percentile = chart.percentile_axis;
    let x_fmt = move |x: &f64| {
        if percentile {
            percentile_label(*x)
        } else {
            format!("{x:.0}")
        }
    };
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(if percentile {
            5
        } else {
            ((x1 - x0).ceil() as usize + 1).clamp(2, 12)
        })
        .y_labels(6)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| short(*y))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (x, label) in &chart.markers {
        let grey = RGBColor(150, 150, 150);
        ctx.draw_series(std::iter::once(PathElement::new(
            vec![(*x, 0.0), (*x, y1)],
            grey.stroke_width(1),
        )))?;
        if !label.is_empty() {
            ctx.draw_series(std::iter::once(Text::new(
                label.clone(),
                (*x, y1 * 0.97),
                ("sans-serif", 11).into_font().color(&grey),
            )))?;
        }
    }
    for (i, l) in chart.lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let style = if l.secondary {
            color.mix(0.55).stroke_width(1)
        } else {
            color.stroke_width(2)
        };
        ctx.draw_series(LineSeries::new(l.points.iter().copied(), style))?
            .label(&l.name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
    }
    if !chart.lines.is_empty() {
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    Ok(())
}

/// `x = log10(1/(1-q))` as a percentile: 0 → "0%", 1 → "90%", 3 → "99.9%".
pub fn percentile_label(x: f64) -> String {
    let p = (1.0 - 10f64.powf(-x)) * 100.0;
    if p < 99.0 {
        return format!("{p:.0}%");
    }
    let s = format!("{p:.4}");
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

/// Axis numbers without noise: 1.2k, 35, 0.25.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_series_keep_their_spikes_when_downsampled() {
        let mut points: Vec<(f64, f64)> = (0..7200).map(|t| (t as f64, 1.0)).collect();
        points[4321].1 = 99.0;
        let d = downsample(points);
        assert!(d.len() <= MAX_POINTS);
        assert!(d.iter().any(|p| p.1 == 99.0));
    }

    #[test]
    fn a_chart_renders_to_svg_with_its_lines_and_legend() {
        let chart = Chart {
            id: "t".into(),
            title: "Journeys per second".into(),
            x_label: "seconds".into(),
            y_label: "journeys/s".into(),
            lines: vec![
                Line::new("planned", vec![(0.0, 1.0), (1.0, 2.0)]),
                Line::new("achieved", vec![(0.0, 1.0), (1.0, 1.5)]),
            ],
            markers: vec![(0.5, "peak".into())],
            percentile_axis: false,
        };
        let s = svg(&chart);
        assert!(s.starts_with("<svg"), "{}", &s[..40]);
        assert!(
            s.contains("planned") && s.contains("achieved") && s.contains("Journeys per second")
        );
        assert!(s.matches("<polyline").count() >= 2, "two lines drawn");
    }
}
