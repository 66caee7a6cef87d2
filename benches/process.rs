//! How long the processor takes per record, for every shipped pipeline on its recorded API
//! response: `pipelines/stocks.yaml` and `examples/latest-stock-price-any.yaml` on the Latest
//! Stock Price quotes (5 fields, a formatted Asia/Kolkata timestamp, 2 key templates),
//! `examples/demo.yaml` on the demo's quotes (the one without a price is poison and left out),
//! `examples/alpha-vantage-global-quote.yaml` and `examples/twelve-data-quote.yaml` on theirs.
//! The records are picked with each pipeline's own `source.records`.
//!
//!     cargo bench --bench process

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jsonpath_rust::JsonPath;
use serde_json::{Map, Value};
use stockrun::config::env::Environment;
use stockrun::config::load::{UnsetVariables, check};
use stockrun::message::Message;
use stockrun::process::Processor;

/// Every shipped pipeline and the recorded response it is measured on.
const PIPELINES: [(&str, &str); 5] = [
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
];

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path)
}

/// The pipeline's processor and one message body per record of `response` that it processes
/// (as from its first feed, if it lists feeds).
fn setup(pipeline_file: &str, response: &str) -> (Processor, Vec<String>) {
    let env = Environment::from_pairs([("RAPIDAPI_KEY", "x".repeat(20))]);
    let checked = check(&read(pipeline_file), &env, UnsetVariables::Warn);
    let pipeline = checked.pipeline.expect("the shipped pipeline is valid");
    let processor = Processor::new(&pipeline.name, &pipeline.process, &pipeline.store.key)
        .expect("the processor compiles");
    let feed: Map<String, Value> = pipeline
        .feeds
        .first()
        .map(|feed| {
            feed.iter()
                .map(|(key, value)| (key.clone(), Value::String(value.0.clone())))
                .collect()
        })
        .unwrap_or_default();
    let response: Value = serde_json::from_slice(&read(response)).unwrap();
    let records = response
        .query(&pipeline.source.records)
        .expect("source.records is a JSONPath");
    let bodies: Vec<String> = records
        .into_iter()
        .map(|record| {
            Message::new(
                pipeline.name.value.clone(),
                feed.clone(),
                "2024-03-18T10:30:00.000Z".to_owned(),
                record.clone(),
            )
            .to_body()
        })
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

criterion_group!(benches, process);
criterion_main!(benches);
