//! The renderer's output, read back: the PNG decoded (size, colours), the SVG's elements.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// Six hours of a quote every five minutes, from 2026-11-27 00:00 UTC, with a band.
fn series(name: &str, markers: Vec<Marker>) -> Series {
    let start = at("2026-11-27T00:00:00Z");
    Series {
        name: name.to_owned(),
        points: (0..=72)
            .map(|i| {
                let value = 1500.0 + 20.0 * (f64::from(i) / 7.0).sin();
                Point {
                    at: start + Duration::minutes(5 * i64::from(i)),
                    value,
                    band: Some((value - 8.0, value + 8.0)),
                }
            })
            .collect(),
        markers,
    }
}

fn data(series: Vec<Series>) -> ChartData {
    ChartData {
        series,
        value: "price".to_owned(),
        band: Some(("low".to_owned(), "high".to_owned())),
    }
}

fn svg(data: &ChartData, timezone: &str) -> String {
    let options = Options {
        format: Format::Svg,
        timezone: timezone.parse().unwrap(),
        ..Options::default()
    };
    String::from_utf8(render(data, &options).unwrap()).unwrap()
}

/// The PNG's width, height and distinct colours.
pub(crate) fn decode_png(bytes: &[u8]) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let colours: HashSet<&[u8]> = pixels[..info.buffer_size()].chunks(3).collect();
    (info.width, info.height, colours.len())
}

#[test]
fn the_embedded_font_parses() {
    assert!(
        plotters::style::register_font(
            "check",
            plotters::style::FontStyle::Normal,
            font::DEJAVU_SANS
        )
        .is_ok()
    );
}

#[test]
fn a_png_has_the_size_asked_for_one_panel_per_series_and_is_not_blank() {
    let options = Options {
        width: 640,
        panel_height: 240,
        ..Options::default()
    };
    let png = render(
        &data(vec![series("INFY", vec![]), series("TCS", vec![])]),
        &options,
    )
    .unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let (width, height, colours) = decode_png(&png);
    assert_eq!((width, height), (640, 480));
    assert!(colours > 20, "{colours} colours: blank?");
}

#[test]
fn an_svg_has_the_line_the_band_and_the_series_name() {
    let svg = svg(&data(vec![series("INFY", vec![])]), "UTC");
    assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
    assert!(svg.contains("<polyline"), "no line");
    assert!(svg.contains("<polygon"), "no band");
    assert!(svg.contains("INFY · price (band low–high)"), "no caption");
    assert!(svg.contains("time (UTC)"));
}

#[test]
fn time_labels_are_in_the_zone_asked_for() {
    let data = data(vec![series("INFY", vec![])]);
    let utc = svg(&data, "UTC");
    let new_york = svg(&data, "America/New_York");
    // 00:00–06:00 UTC is 19:00–01:00 in New York (UTC−5 in November).
    // A label ends with the time ("26 Nov 20:00" when the span crosses a local midnight).
    let label = |text: &str| format!("{text}\n</text>");
    assert!(utc.contains(&label("02:00")) && !utc.contains(&label("20:00")));
    assert!(new_york.contains(&label("20:00")) && !new_york.contains(&label("02:00")));
    assert!(new_york.contains("26 Nov 20:00"));
    assert!(new_york.contains("time (America/New_York)"));
}

#[test]
fn alert_firings_are_marked() {
    let fired = |at_: &str, kind| Marker {
        at: at(at_),
        kind,
        rule: "big_move".to_owned(),
    };
    let without = svg(&data(vec![series("INFY", vec![])]), "UTC");
    let with = svg(
        &data(vec![series(
            "INFY",
            vec![
                fired("2026-11-27T02:00:00Z", MarkerKind::Fired),
                fired("2026-11-27T04:00:00Z", MarkerKind::Resolved),
            ],
        )]),
        "UTC",
    );
    let red = format!(
        "#{:02X}{:02X}{:02X}",
        draw::FIRED.0,
        draw::FIRED.1,
        draw::FIRED.2
    );
    let green = format!(
        "#{:02X}{:02X}{:02X}",
        draw::RESOLVED.0,
        draw::RESOLVED.1,
        draw::RESOLVED.2
    );
    assert!(!without.contains(&red) && !without.contains(&green));
    assert!(with.contains(&format!("fill=\"{red}\"")), "no fired marker");
    assert!(
        with.contains(&format!("fill=\"{green}\"")),
        "no re-armed marker"
    );
}

#[test]
fn no_series_and_a_single_point_still_draw() {
    let empty = render(&data(vec![]), &Options::default()).unwrap();
    assert!(decode_png(&empty).2 > 2);
    let mut one = series("INFY", vec![]);
    one.points.truncate(1);
    one.points[0].band = None;
    let png = render(&data(vec![one]), &Options::default()).unwrap();
    assert!(decode_png(&png).2 > 2);
}

#[test]
fn a_size_out_of_range_is_refused() {
    let options = Options {
        width: 50,
        ..Options::default()
    };
    assert!(matches!(
        render(&data(vec![]), &options),
        Err(ChartError::Size { .. })
    ));
}

#[test]
fn the_format_follows_the_extension() {
    assert_eq!(Format::from_path("a/b.PNG".as_ref()), Some(Format::Png));
    assert_eq!(Format::from_path("b.svg".as_ref()), Some(Format::Svg));
    assert_eq!(Format::from_path("b.jpg".as_ref()), None);
}
