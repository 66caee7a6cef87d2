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
use stockrun::message::Message;

fn process(c: &mut Criterion) {
    let mut group = c.benchmark_group("process");
    group.throughput(Throughput::Elements(1));
    for (pipeline, response) in shipped::PIPELINES {
        let (_, processor, bodies) = shipped::setup(pipeline, response);
        group.bench_function(format!("{pipeline} record"), |b| {
            let mut next = bodies.iter().cycle();
            b.iter(|| processor.process(black_box(next.next().unwrap())))
        });
    }
    let (_, _, bodies) = shipped::setup(shipped::PIPELINES[0].0, shipped::PIPELINES[0].1);
    group.bench_function("serde_json Message parse alone (reference)", |b| {
        let mut next = bodies.iter().cycle();
        b.iter(|| serde_json::from_str::<Message>(black_box(next.next().unwrap())).unwrap())
    });
    group.finish();
}

#[path = "support/mode.rs"]
mod mode;
#[path = "support/shipped.rs"]
mod shipped;

criterion_group! {
    name = benches;
    config = mode::criterion();
    targets = process
}
criterion_main!(benches);
