//! Draws the panels on any plotters backend (the bitmap one for PNG, the SVG one): per series a
//! caption, the axes, the band, the line and the alert markers. All panels share one time range
//! so they line up.

use plotters::coord::Shift;
use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;

use super::font::FAMILY;
use super::ticks::{decimals, time_label, time_ticks};
use super::{ChartData, ChartError, MarkerKind, Options, Point, Series};

/// The line's colour.
pub(super) const LINE: RGBColor = RGBColor(31, 119, 180);
/// A fired alert's colour.
pub const FIRED: RGBColor = RGBColor(214, 39, 40);
/// A re-armed alert's colour.
pub const RESOLVED: RGBColor = RGBColor(44, 160, 44);
/// The band's opacity over the line's colour.
const BAND_OPACITY: f64 = 0.2;
/// The grid's colour.
const GRID: RGBColor = RGBColor(225, 225, 225);

/// Any drawing error, as text.
fn failed(error: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(error.to_string())
}

/// Fills the image behind `backend` with one panel per series of `data`.
pub(super) fn panels<DB: DrawingBackend>(
    backend: DB,
    data: &ChartData,
    options: &Options,
) -> Result<(), ChartError> {
    let root = backend.into_drawing_area();
    root.fill(&WHITE).map_err(failed)?;
    if data.series.is_empty() {
        note(&root, "no data")?;
    } else {
        let range = time_range(&data.series);
        let areas = root.split_evenly((data.series.len(), 1));
        for (area, series) in areas.iter().zip(&data.series) {
            panel(area, series, data, options, range)?;
        }
    }
    root.present().map_err(failed)
}

/// A line of text in the middle of `area`.
fn note<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str) -> Result<(), ChartError> {
    let (width, height) = area.dim_in_pixel();
    let grey = BLACK.mix(0.6);
    let style = TextStyle::from((FAMILY, 16).into_font()).color(&grey).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    area.draw_text(
        text,
        &style,
        (
            i32::try_from(width / 2).unwrap_or(0),
            i32::try_from(height / 2).unwrap_or(0),
        ),
    )
    .map_err(failed)
}

/// The first and last time (seconds) of every point and marker, with 3 % of the span on either
/// side (so the markers at the ends show whole); half an hour either side of a single time.
fn time_range(series: &[Series]) -> (i64, i64) {
    let times = series.iter().flat_map(|s| {
        s.points
            .iter()
            .map(|p| p.at.timestamp())
            .chain(s.markers.iter().map(|m| m.at.timestamp()))
    });
    let (start, end) = times.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    if start > end {
        let now = chrono::Utc::now().timestamp();
        return (now - 3600, now);
    }
    if start == end {
        return (start - 1800, end + 1800);
    }
    let margin = ((end - start) * 3 / 100).max(1);
    (start - margin, end + margin)
}

/// The lowest and highest value of `points`, line and band, with a margin.
fn value_range(points: &[Point]) -> (f64, f64) {
    let (low, high) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        let (band_low, band_high) = p.band.unwrap_or((p.value, p.value));
        (
            lo.min(p.value).min(band_low),
            hi.max(p.value).max(band_high),
        )
    });
    if low > high {
        return (0.0, 1.0);
    }
    let margin = if high > low {
        (high - low) * 0.06
    } else {
        (low.abs() * 0.01).max(1.0)
    };
    (low - margin, high + margin)
}

/// One series' panel.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    series: &Series,
    data: &ChartData,
    options: &Options,
    (start, end): (i64, i64),
) -> Result<(), ChartError> {
    let caption = match &data.band {
        Some((low, high)) => format!("{} · {} (band {low}–{high})", series.name, data.value),
        None => format!("{} · {}", series.name, data.value),
    };
    let zone = options.timezone;
    let most_ticks = (area.dim_in_pixel().0 / 120).max(2) as usize;
    let (ticks, step) = time_ticks(start, end, zone, most_ticks);
    let crosses_days =
        time_label(start, zone, 86_400, false) != time_label(end, zone, 86_400, false);
    let (low, high) = value_range(&series.points);
    let digits = decimals(high - low);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FAMILY, 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((start..end).with_key_points(ticks), low..high)
        .map_err(failed)?;
    let time_formatter = |t: &i64| time_label(*t, zone, step, crosses_days);
    let value_formatter = |v: &f64| format!("{v:.digits$}");
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 12))
        .x_desc(format!("time ({zone})"))
        .x_label_formatter(&time_formatter)
        .y_label_formatter(&value_formatter)
        .draw()
        .map_err(failed)?;
    if series.points.is_empty() {
        return note(area, "no data in this period");
    }
    let points = super::thin::thin(&series.points, chart.plotting_area().dim_in_pixel().0);
    let band_style = LINE.mix(BAND_OPACITY).filled();
    for run in band_runs(&points) {
        if let [only] = run {
            let (lo, hi) = only.band.unwrap_or_default();
            let t = only.at.timestamp();
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(t, lo), (t, hi)],
                    LINE.mix(0.5).stroke_width(3),
                )))
                .map_err(failed)?;
            continue;
        }
        let outline: Vec<(i64, f64)> = run
            .iter()
            .map(|p| (p.at.timestamp(), p.band.unwrap_or_default().1))
            .chain(
                run.iter()
                    .rev()
                    .map(|p| (p.at.timestamp(), p.band.unwrap_or_default().0)),
            )
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(outline, band_style)))
            .map_err(failed)?;
    }
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.at.timestamp(), p.value)),
            LINE.stroke_width(2),
        ))
        .map_err(failed)?;
    if let [only] = &*points {
        chart
            .draw_series(std::iter::once(Circle::new(
                (only.at.timestamp(), only.value),
                4,
                LINE.filled(),
            )))
            .map_err(failed)?;
    }
    for marker in &series.markers {
        let t = marker.at.timestamp();
        let y = value_at(&series.points, marker.at).unwrap_or(high);
        let (color, triangle) = match marker.kind {
            MarkerKind::Fired => (FIRED, vec![(-7, 6), (7, 6), (0, -7)]),
            MarkerKind::Resolved => (RESOLVED, vec![(-7, -6), (7, -6), (0, 7)]),
        };
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(t, low), (t, high)],
                color.mix(0.45).stroke_width(1),
            )))
            .map_err(failed)?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((t, y)) + Polygon::new(triangle, color.filled()),
            ))
            .map_err(failed)?;
    }
    Ok(())
}

/// The runs of consecutive points that have a band.
fn band_runs(points: &[Point]) -> impl Iterator<Item = &[Point]> {
    points
        .split(|p| p.band.is_none())
        .filter(|run| !run.is_empty())
}

/// The value of the last point at or before `at` (the first point's when none is).
fn value_at(points: &[Point], at: chrono::DateTime<chrono::Utc>) -> Option<f64> {
    let after = points.partition_point(|p| p.at <= at);
    points.get(after.saturating_sub(1)).map(|p| p.value)
}
