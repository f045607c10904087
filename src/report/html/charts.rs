//! Charts drawn with plotters, the same drawing for the inline SVG and the PNG copies:
//! time series on the run's clock (stage boundaries marked) and the latency percentile
//! spectrum. Colors are the Okabe-Ito set, which stays distinguishable in print and for
//! color-blind readers; a second series style (dashes) marks a baseline.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// Drawing size, px. The inline SVG scales down to its container (a phone, an 800 px
/// window); the PNG copies keep this size.
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 320;

/// Plot area width, px: the drawing less the y label area and the margins.
const PLOT_WIDTH: f64 = (WIDTH - 64 - 20) as f64;
/// Rows stage labels are spread over before one is left out.
const LABEL_ROWS: usize = 3;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed-looking (thin, lighter): a baseline or a limit.
    pub secondary: bool,
    /// Drawn as a filled area down to 0: one layer of a stack whose points already add the
    /// layers below, so each band's height is its own share.
    pub fill: bool,
}

impl Line {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Line {
        Line {
            name: name.into(),
            points: downsample(points),
            secondary: false,
            fill: false,
        }
    }
    pub fn secondary(mut self) -> Line {
        self.secondary = true;
        self
    }
    pub fn filled(mut self) -> Line {
        self.fill = true;
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
    /// The x axis's span when the data does not set it: a time chart spans the run even
    /// when nothing happened (a clean run's errors chart).
    pub x_range: Option<(f64, f64)>,
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

/// How a chart is drawn beyond its data; the default is the run report's look.
#[derive(Debug, Clone, Default)]
pub struct Look<'a> {
    /// Names of the whole x values 1, 2, ... (releases): ticks only there, with the name.
    pub x_names: Option<&'a [String]>,
    /// Written after every y tick (` %`), so the axis says its unit on each number.
    pub y_unit: Option<&'a str>,
    /// A filled dot on every point: a series of one point is a dot, not nothing.
    pub point_marks: bool,
    /// The legend in a column right of the plot, never over the lines.
    pub legend_beside: bool,
}

/// Width of the legend column of [`Look::legend_beside`], px.
const LEGEND_WIDTH: u32 = 240;

/// The chart as an SVG document that scales to its container's width (never wider than it
/// was drawn): the page fits an 800 px window or a phone.
pub fn svg(chart: &Chart) -> String {
    svg_with(chart, &Look::default())
}

/// [`svg`], drawn with `look`.
pub fn svg_with(chart: &Chart, look: &Look<'_>) -> String {
    fonts();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        // Drawing into a String cannot fail for I/O; a layout error leaves an empty chart.
        let _ = draw(&root, chart, look);
        let _ = root.present();
    }
    responsive(out)
}

/// The fixed `width`/`height` of plotters' root element become a `viewBox` with a width of
/// 100% (at most the drawn width) and a height that follows.
fn responsive(svg: String) -> String {
    let fixed = format!("width=\"{WIDTH}\" height=\"{HEIGHT}\"");
    let Some(at) = svg.find(&fixed) else {
        return svg;
    };
    let view_box = if svg[..svg.find('>').unwrap_or(svg.len())].contains("viewBox") {
        String::new()
    } else {
        format!(" viewBox=\"0 0 {WIDTH} {HEIGHT}\"")
    };
    format!(
        "{}width=\"100%\" style=\"max-width:{WIDTH}px;height:auto\" preserveAspectRatio=\"xMinYMin meet\"{view_box}{}",
        &svg[..at],
        &svg[at + fixed.len()..]
    )
}

/// The chart as a PNG file, written atomically (a full disk never leaves half a chart).
pub fn png(chart: &Chart, path: &std::path::Path) -> Result<(), String> {
    fonts();
    crate::result::artifacts::write_atomic_with(path, "png", |tmp| {
        let root = BitMapBackend::new(tmp, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, chart, &Look::default()).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })
}

/// The axes' spans: x from the data, widened to `x_range` and to the markers; y from 0 to
/// a tenth above the highest value.
pub fn ranges(chart: &Chart) -> ((f64, f64), (f64, f64)) {
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for l in &chart.lines {
        for (x, y) in &l.points {
            x0 = x0.min(*x);
            x1 = x1.max(*x);
            y1 = y1.max(*y);
        }
    }
    if let Some((a, b)) = chart.x_range {
        x0 = x0.min(a);
        x1 = x1.max(b);
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    for (x, _) in &chart.markers {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
    }
    if (x1 - x0).abs() < 1e-9 {
        x1 = x0 + 1.0;
    }
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.1 };
    ((x0, x1), (0.0, y1))
}

/// Rows and anchors of the markers' labels: each label on the highest row where it overlaps
/// no other, anchored at its marker's left or (right half of the plot) right so it stays in
/// the plot; `None` when no row has room. Widths are estimated at 6.5 px a character.
pub fn label_rows(chart: &Chart, x0: f64, x1: f64) -> Vec<Option<(usize, bool)>> {
    let mut rows: Vec<Vec<(f64, f64)>> = vec![Vec::new(); LABEL_ROWS];
    chart
        .markers
        .iter()
        .map(|(x, label)| {
            if label.is_empty() {
                return None;
            }
            let px = (x - x0) / (x1 - x0) * PLOT_WIDTH;
            let w = label.chars().count() as f64 * 6.5 + 6.0;
            let right = px > PLOT_WIDTH / 2.0;
            let span = if right { (px - w, px) } else { (px, px + w) };
            let row = rows
                .iter()
                .position(|r| r.iter().all(|(a, b)| span.1 <= *a || span.0 >= *b))?;
            rows[row].push(span);
            Some((row, right))
        })
        .collect()
}

/// Line `i`'s colour, and whether it is dashed: the palette's colours first, then the same
/// colours dashed, so no two series of a chart look alike.
fn series_style(i: usize) -> (RGBColor, bool) {
    (COLORS[i % COLORS.len()], i >= COLORS.len())
}

/// The pieces of an 18 px legend sample starting at `x`: one piece, or two dashes.
fn sample_pieces(x: i32, dashed: bool) -> [(i32, i32); 2] {
    if dashed {
        [(x, x + 7), (x + 11, x + 18)]
    } else {
        [(x, x + 9), (x + 9, x + 18)]
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    look: &Look<'_>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (plot, legend) = if look.legend_beside && !chart.lines.is_empty() {
        let (p, l) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
        (p, Some(l))
    } else {
        (root.clone(), None)
    };
    let ((x0, x1), (_, y1)) = ranges(chart);
    let mut ctx = ChartBuilder::on(&plot)
        .caption(&chart.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, 0.0..y1)?;
    let percentile = chart.percentile_axis;
    let x_span = x1 - x0;
    let x_names = look.x_names;
    let x_fmt = move |x: &f64| {
        if let Some(names) = x_names {
            // Only whole values name a release: 1.5 is no release.
            let n = x.round();
            if (x - n).abs() > 1e-6 || n < 1.0 {
                return String::new();
            }
            names.get(n as usize - 1).cloned().unwrap_or_default()
        } else if percentile {
            percentile_label(*x)
        } else {
            tick(*x, x_span)
        }
    };
    let unit = look.y_unit.unwrap_or("");
    let y_fmt = move |y: &f64| format!("{}{unit}", tick(*y, y1));
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(if let Some(names) = x_names {
            // At most one tick per whole value: the key points then fall on 1, 2, ...
            names.len().clamp(1, 12)
        } else if percentile {
            5
        } else if x_span < 4.0 {
            // A short span (load multipliers ×0.5 to ×2): enough ticks for its halves.
            7
        } else {
            (x_span.ceil() as usize + 1).clamp(2, 12)
        })
        .y_labels(6)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    // Stacked areas first, the top layer (the largest) under the ones it adds to.
    for (i, l) in chart.lines.iter().enumerate().rev().filter(|(_, l)| l.fill) {
        let (color, _) = series_style(i);
        ctx.draw_series(
            AreaSeries::new(l.points.iter().copied(), 0.0, color.mix(0.75))
                .border_style(color.stroke_width(1)),
        )?
        .label(&l.name)
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 18, y + 5)], color.mix(0.75).filled())
        });
    }
    let grey = RGBColor(150, 150, 150);
    let rows = label_rows(chart, x0, x1);
    for ((x, label), row) in chart.markers.iter().zip(rows) {
        ctx.draw_series(std::iter::once(PathElement::new(
            vec![(*x, 0.0), (*x, y1)],
            grey.stroke_width(1),
        )))?;
        if let Some((row, right)) = row {
            let anchor = if right { HPos::Right } else { HPos::Left };
            let font = ("sans-serif", 11)
                .into_font()
                .color(&grey)
                .pos(Pos::new(anchor, VPos::Top));
            ctx.draw_series(std::iter::once(Text::new(
                format!(" {label} "),
                (*x, y1 * (0.99 - 0.07 * row as f64)),
                font,
            )))?;
        }
    }
    for (i, l) in chart.lines.iter().enumerate().filter(|(_, l)| !l.fill) {
        let (color, dashed) = series_style(i);
        let style = if l.secondary {
            color.mix(0.55).stroke_width(1)
        } else {
            color.stroke_width(2)
        };
        let drawn = if dashed {
            ctx.draw_series(DashedLineSeries::new(l.points.iter().copied(), 7, 4, style))?
        } else {
            ctx.draw_series(LineSeries::new(l.points.iter().copied(), style))?
        };
        drawn.label(&l.name).legend(move |(x, y)| {
            let [a, b] = sample_pieces(x, dashed);
            EmptyElement::at((0, 0))
                + PathElement::new(vec![(a.0, y), (a.1, y)], color.stroke_width(3))
                + PathElement::new(vec![(b.0, y), (b.1, y)], color.stroke_width(3))
        });
        if look.point_marks {
            ctx.draw_series(l.points.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
        }
    }
    if let Some(area) = legend {
        // The legend column: one row a series, beside the plot.
        for (i, l) in chart.lines.iter().enumerate() {
            let (color, dashed) = series_style(i);
            let y = 40 + 20 * i as i32;
            if y > HEIGHT as i32 - 10 {
                break;
            }
            for (a, b) in sample_pieces(8, dashed) {
                area.draw(&PathElement::new(
                    vec![(a, y), (b, y)],
                    color.stroke_width(3),
                ))?;
            }
            // A dot over a dashed sample would hide its gap: dashed samples have none.
            if look.point_marks && !dashed {
                area.draw(&Circle::new((17, y), 4, color.filled()))?;
            }
            let font = ("sans-serif", 13)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(l.name.clone(), (32, y), font))?;
        }
    } else if !chart.lines.is_empty() {
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

/// An axis number with as many decimals as the axis's span needs to tell its ticks apart
/// (about six on an axis): 1.2k, 35, 0.5, 0.0004; never every tick `0.00`.
pub fn tick(v: f64, span: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        return format!("{:.1}M", v / 1e6);
    }
    if a >= 1e4 {
        return format!("{:.0}k", v / 1e3);
    }
    // One decimal more than the tick step needs (a step of 0.25 has two), then no
    // trailing zeros: 0.5, 0.75, 1, 0.004.
    let step = (span.abs() / 6.0).max(1e-12);
    let decimals = if step >= 1.0 {
        0
    } else {
        ((-step.log10()).ceil() as usize + 1).min(9)
    };
    let s = format!("{v:.decimals$}");
    if decimals == 0 {
        return s;
    }
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
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
            x_range: None,
        };
        let s = svg(&chart);
        assert!(s.starts_with("<svg"), "{}", &s[..40]);
        assert!(
            s.contains("planned") && s.contains("achieved") && s.contains("Journeys per second")
        );
        assert!(s.matches("<polyline").count() >= 2, "two lines drawn");
    }
}
