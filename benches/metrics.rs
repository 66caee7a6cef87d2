//! The metrics' costs (issue 13): a `/metrics` scrape of a pipeline with 50 feeds (the rendering
//! alone, and a whole HTTP GET through the `--metrics` server), what recording one batch's and
//! one feed's metrics costs (set against the drain benchmark's time per batch), and installing
//! the EMF recorder with its first flush (what the metrics add to a Lambda cold start).
//!
//! `cargo bench --bench metrics`; figures in BENCHMARKS.md.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use metrics_exporter_prometheus::PrometheusBuilder;
use stockrun::metrics::{self, FailureKind};

const FEEDS: usize = 50;

/// Everything a pipeline of 50 feeds records in a day of polls every minute: per feed its
/// fetched records, poll durations, last poll, a few failures; per pipeline the rest.
fn record_a_day() {
    metrics::describe();
    for poll in 0..1_440_u64 {
        for feed in 0..FEEDS {
            let label = format!("symbol=SYM{feed:02}");
            let outcome = if poll % 97 == feed as u64 % 97 {
                Err(FailureKind::Http5xx)
            } else {
                Ok(1)
            };
            metrics::feed_polled("stocks", &label, 0.05 + (feed as f64) / 1000.0, outcome);
        }
        metrics::polled("stocks", poll % 97 != 0);
        metrics::quota("stocks", 10_000 - poll, Some(10_000));
        metrics::queued("stocks", FEEDS, 0);
        metrics::batch_settled("stocks", FEEDS, 0, 1, 0);
        metrics::queue_depth("stocks", 0, 0);
    }
    metrics::alerts("stocks", "price-jump", 3, 1);
}

fn scrape(c: &mut Criterion) {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    ::metrics::with_local_recorder(&recorder, record_a_day);
    let text = handle.render();
    println!(
        "a scrape of {FEEDS} feeds: {} lines, {} bytes",
        text.lines().count(),
        text.len()
    );
    c.bench_function("render /metrics, 50 feeds", |b| b.iter(|| handle.render()));

    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let ready = stockrun::http::Ready::default();
    ready.set();
    let router = stockrun::http::metrics_routes(handle.clone(), ready);
    let port = runtime.block_on(async {
        let listener = stockrun::http::bind("127.0.0.1:0".parse().unwrap())
            .await
            .expect("bind");
        let port = listener.local_addr().unwrap().port();
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(stockrun::http::serve(listener, router, stop));
        port
    });
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/metrics");
    c.bench_function("GET /metrics over HTTP, 50 feeds", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = client.get(&url).send().await.expect("GET");
                response.text().await.expect("body").len()
            })
        });
    });
}

fn recording(c: &mut Criterion) {
    let recorder = PrometheusBuilder::new().build_recorder();
    ::metrics::with_local_recorder(&recorder, || {
        metrics::describe();
        // What the consumer records per batch of 10 (the drain benchmark's unit).
        c.bench_function("record one batch (stored, e-mails)", |b| {
            b.iter(|| metrics::batch_settled("stocks", 10, 0, 0, 0));
        });
        c.bench_function("record one feed's poll", |b| {
            b.iter(|| metrics::feed_polled("stocks", "symbol=MSFT", 0.1, Ok(10)));
        });
    });
}

/// Installing the EMF recorder (once per container) and its first flush: timed once, as a cold
/// start does it (a global recorder is installed once per process).
fn cold_start(_: &mut Criterion) {
    let started = Instant::now();
    metrics::install_emf().expect("the first recorder");
    let installed = started.elapsed();
    metrics::feed_polled("stocks", "", 0.2, Ok(13));
    metrics::polled("stocks", true);
    metrics::queued("stocks", 13, 0);
    let mut out = Vec::new();
    let flushing = Instant::now();
    metrics::flush_emf(&mut out).expect("flush");
    let flushed = flushing.elapsed();
    println!(
        "EMF: install + describe {installed:?}, first flush {flushed:?} ({} lines, {} bytes)",
        out.iter().filter(|b| **b == b'\n').count(),
        out.len()
    );
}

#[path = "support/mode.rs"]
mod mode;

criterion_group! {
    name = benches;
    config = mode::criterion().measurement_time(Duration::from_secs(3)).sample_size(50);
    targets = scrape, recording, cold_start
}
criterion_main!(benches);
