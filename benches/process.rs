//! How long the processor takes per record: `pipelines/stocks.yaml` on the recorded Latest Stock
//! Price response (5 fields with a formatted Asia/Kolkata timestamp, 2 key templates).
//!
//!     cargo bench --bench process

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use stockrun::config::env::Environment;
use stockrun::config::load::{UnsetVariables, check};
use stockrun::message::Message;
use stockrun::process::Processor;

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path)
}

/// The stocks pipeline's processor and one message body per recorded quote.
fn setup() -> (Processor, Vec<String>) {
    let env = Environment::from_pairs([("RAPIDAPI_KEY", "x".repeat(20))]);
    let checked = check(&read("pipelines/stocks.yaml"), &env, UnsetVariables::Warn);
    let pipeline = checked.pipeline.expect("pipelines/stocks.yaml is valid");
    let processor = Processor::new(&pipeline.name, &pipeline.process, &pipeline.store.key)
        .expect("the processor compiles");
    let response: Vec<Value> =
        serde_json::from_slice(&read("examples/responses/latest-stock-price.json")).unwrap();
    let bodies = response
        .into_iter()
        .map(|record| {
            Message {
                pipeline: pipeline.name.value.clone(),
                feed: Default::default(),
                fetched_at: "2024-03-18T10:30:00.000Z".into(),
                record,
            }
            .to_body()
        })
        .collect();
    (processor, bodies)
}

fn process(c: &mut Criterion) {
    let (processor, bodies) = setup();
    for body in &bodies {
        processor
            .process(body)
            .expect("every recorded quote processes");
    }
    let mut group = c.benchmark_group("process");
    group.throughput(Throughput::Elements(1));
    group.bench_function("latest-stock-price record", |b| {
        let mut next = bodies.iter().cycle();
        b.iter(|| processor.process(black_box(next.next().unwrap())))
    });
    group.bench_function("serde_json Message parse alone (reference)", |b| {
        let mut next = bodies.iter().cycle();
        b.iter(|| serde_json::from_str::<Message>(black_box(next.next().unwrap())).unwrap())
    });
    group.finish();
}

criterion_group!(benches, process);
criterion_main!(benches);
