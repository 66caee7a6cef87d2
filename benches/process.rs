//! How long the processor takes per record, for every shipped pipeline on its recorded API
//! response: `pipelines/stocks.yaml` and `examples/latest-stock-price-any.yaml` on the Latest
//! Stock Price quotes (5 fields, a formatted Asia/Kolkata timestamp, 2 key templates),
//! `examples/demo.yaml` on the demo's quotes (the one without a price is poison and left out),
//! `examples/alpha-vantage-global-quote.yaml`, `examples/twelve-data-quote.yaml` and
//! `examples/alpha-vantage-daily.yaml` (member names and a `root` value) on theirs. The records
//! are split by each pipeline's own compiled source, as a poll splits them.
//!
//!     cargo bench --bench process

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value};
use stockrun::compile::check;
use stockrun::config::env::Environment;
use stockrun::config::load::UnsetVariables;
use stockrun::message::Message;
use stockrun::process::Processor;

/// Every shipped pipeline and the recorded response it is measured on.
const PIPELINES: [(&str, &str); 6] = [
    (
        "pipelines/stocks.yaml",
        "examples/responses/latest-stock-price.json",
    ),
    (
        "examples/latest-stock-price-any.yaml",
        "examples/responses/latest-stock-price.json",
    ),
    (
        "examples/demo.yaml",
        "examples/responses/latest-stock-price-demo.json",
    ),
    (
        "examples/alpha-vantage-global-quote.yaml",
        "examples/responses/alpha-vantage-global-quote.json",
    ),
    (
        "examples/twelve-data-quote.yaml",
        "examples/responses/twelve-data-quote.json",
    ),
    (
        "examples/alpha-vantage-daily.yaml",
        "examples/responses/alpha-vantage-time-series-daily.json",
    ),
];

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path)
}

/// The pipeline's processor and one message body per record of `response` that it processes
/// (as from its first feed, if it lists feeds).
fn setup(pipeline_file: &str, response: &str) -> (Processor, Vec<String>) {
    let env = Environment::from_pairs([("RAPIDAPI_KEY", "x".repeat(20))]);
    let checked = check(&read(pipeline_file), &env, UnsetVariables::Warn);
    let compiled = checked.compiled.expect("the shipped pipeline is valid");
    let pipeline = &compiled.pipeline;
    let feed: Map<String, Value> = pipeline
        .feeds
        .first()
        .map(|feed| {
            feed.iter()
                .map(|(key, value)| (key.clone(), Value::String(value.0.clone())))
                .collect()
        })
        .unwrap_or_default();
    let messages = compiled
        .source
        .as_ref()
        .expect("the source compiles")
        .messages_of(
            &pipeline.name,
            &feed,
            "2024-03-18T10:30:00.000Z",
            read(response),
        )
        .expect("the recorded response has records");
    let processor = compiled.processor;
    let bodies: Vec<String> = messages
        .iter()
        .map(Message::to_body)
        .filter(|body| processor.process(body).is_ok())
        .collect();
    assert!(!bodies.is_empty(), "{pipeline_file}: no record processes");
    (processor, bodies)
}

fn process(c: &mut Criterion) {
    let mut group = c.benchmark_group("process");
    group.throughput(Throughput::Elements(1));
    for (pipeline, response) in PIPELINES {
        let (processor, bodies) = setup(pipeline, response);
        group.bench_function(format!("{pipeline} record"), |b| {
            let mut next = bodies.iter().cycle();
            b.iter(|| processor.process(black_box(next.next().unwrap())))
        });
    }
    let (_, bodies) = setup(PIPELINES[0].0, PIPELINES[0].1);
    group.bench_function("serde_json Message parse alone (reference)", |b| {
        let mut next = bodies.iter().cycle();
        b.iter(|| serde_json::from_str::<Message>(black_box(next.next().unwrap())).unwrap())
    });
    group.finish();
}

#[path = "support/mode.rs"]
mod mode;

criterion_group! {
    name = benches;
    config = mode::criterion();
    targets = process
}
criterion_main!(benches);
