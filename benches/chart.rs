//! What a chart costs: 10 000 points of one series (a line with its low–high band and a few
//! alert markers) rendered to PNG (the mail's and `stockrun chart`'s default format) and to
//! SVG, 1000 × 320 pixels (`stockrun chart`'s default panel). Budget (issue 13): ≤ 50 ms.
//! Also the mail's size, 600 × 240, for 1 000 points (a day of quotes every 90 s).
//!
//!     cargo bench --bench chart

use std::hint::black_box;

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use stockrun::chart::{ChartData, Format, Marker, MarkerKind, Options, Point, Series, render};

/// `n` points a minute apart: a wandering price with a band of ±1 %, and an alert every 2 000.
fn data(n: usize) -> ChartData {
    let start = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).expect("a time");
    let mut price = 1500.0_f64;
    let mut seed = 42_u64;
    let points = (0..n)
        .map(|i| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            price += ((seed >> 33) as f64 / f64::from(u32::MAX >> 1) - 0.5) * 4.0;
            Point {
                at: start + Duration::minutes(i as i64),
                value: price,
                band: Some((price * 0.99, price * 1.01)),
            }
        })
        .collect();
    let markers = (0..n)
        .step_by(2000)
        .map(|i| Marker {
            at: start + Duration::minutes(i as i64),
            kind: MarkerKind::Fired,
            rule: "big_move".to_owned(),
        })
        .collect();
    ChartData {
        series: vec![Series {
            name: "INFY".to_owned(),
            points,
            markers,
        }],
        value: "price".to_owned(),
        band: Some(("low".to_owned(), "high".to_owned())),
    }
}

fn bench(c: &mut Criterion) {
    let big = data(10_000);
    let small = data(1_000);
    let chart = |format| Options {
        format,
        ..Options::default()
    };
    let mail = Options {
        width: 600,
        panel_height: 240,
        ..Options::default()
    };
    for (name, data, options) in [
        ("png_10000_points_1000x320", &big, chart(Format::Png)),
        ("svg_10000_points_1000x320", &big, chart(Format::Svg)),
        ("png_1000_points_600x240_mail", &small, mail),
    ] {
        let bytes = render(data, &options).expect("renders").len();
        eprintln!("{name}: {bytes} bytes");
        c.bench_function(name, |b| {
            b.iter(|| render(black_box(data), black_box(&options)).expect("renders"));
        });
    }
}

#[path = "support/mode.rs"]
mod mode;

criterion_group! {
    name = benches;
    config = mode::criterion();
    targets = bench
}
criterion_main!(benches);
