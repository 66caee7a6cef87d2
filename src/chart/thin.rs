//! Thins a long series to what its panel can show: with more points than a few per pixel
//! column, each column keeps its first, lowest, highest and last value (so every spike stays
//! visible) and the band's lowest low and highest high. A line of 10 000 points on a
//! 900-pixel panel draws like the original at a fraction of the cost.

use std::borrow::Cow;

use super::Point;

/// Points per pixel column above which a series is thinned.
const PER_COLUMN: usize = 4;

/// `points` (in time order) thinned for a plot `columns` pixels wide; unchanged when short.
pub(super) fn thin(points: &[Point], columns: u32) -> Cow<'_, [Point]> {
    let columns = columns.max(1) as usize;
    if points.len() <= columns * PER_COLUMN {
        return Cow::Borrowed(points);
    }
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Cow::Borrowed(points);
    };
    let start = first.at.timestamp_millis();
    let span = (last.at.timestamp_millis() - start).max(1) as f64;
    let column_of = |p: &Point| {
        let share = (p.at.timestamp_millis() - start) as f64 / span;
        ((share * columns as f64) as usize).min(columns - 1)
    };
    let mut out = Vec::with_capacity(columns * PER_COLUMN);
    let mut at = 0;
    while at < points.len() {
        let column = column_of(&points[at]);
        let end = at + points[at..].partition_point(|p| column_of(p) == column);
        keep(&points[at..end], &mut out);
        at = end;
    }
    Cow::Owned(out)
}

/// Appends what one column's `points` come down to: first, lowest, highest, last, in time
/// order, each with the column's band envelope.
fn keep(points: &[Point], out: &mut Vec<Point>) {
    let by_value = |a: &&Point, b: &&Point| a.value.total_cmp(&b.value);
    let (Some(low), Some(high)) = (
        points.iter().min_by(by_value),
        points.iter().max_by(by_value),
    ) else {
        return;
    };
    let band = points
        .iter()
        .filter_map(|p| p.band)
        .reduce(|(lo, hi), (l, h)| (lo.min(l), hi.max(h)));
    let mut kept = [points[0], *low, *high, points[points.len() - 1]];
    kept.sort_by_key(|p| p.at);
    let mut previous = None;
    for mut point in kept {
        if previous == Some(point) {
            continue;
        }
        previous = Some(point);
        if points.iter().any(|p| p.band.is_some()) {
            point.band = band;
        }
        out.push(point);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn point(second: i64, value: f64) -> Point {
        Point {
            at: DateTime::<Utc>::from_timestamp(second, 0).unwrap(),
            value,
            band: Some((value - 1.0, value + 1.0)),
        }
    }

    #[test]
    fn short_series_are_left_alone() {
        let points: Vec<Point> = (0..100).map(|i| point(i, 1.0)).collect();
        assert!(matches!(thin(&points, 100), Cow::Borrowed(_)));
    }

    #[test]
    fn a_spike_survives_thinning_and_the_band_envelope_is_kept() {
        let mut points: Vec<Point> = (0..10_000).map(|i| point(i, 100.0)).collect();
        points[5_000].value = 180.0;
        points[5_000].band = Some((179.0, 181.0));
        let thinned = thin(&points, 100);
        assert!(thinned.len() <= 400, "{}", thinned.len());
        assert!(thinned.iter().any(|p| p.value == 180.0));
        assert!(thinned.iter().any(|p| p.band == Some((99.0, 181.0))));
        assert!(thinned.windows(2).all(|w| w[0].at <= w[1].at));
    }
}
