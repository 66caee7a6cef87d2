//! Draining a backlog of 100 000 queued quotes into the embedded store (receive, process, store,
//! delete, in batches of 10, exactly as `stockrun consume --once` does), beside raw SQLite
//! inserts of the same rows: the cost of the queue and processing over just writing the data.
//!
//! `cargo bench --bench drain`; figures in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::params;
use stockrun::config::env::Environment;
use stockrun::config::load::{UnsetVariables, check};
use stockrun::message::Message;
use stockrun::process::Processor;
use stockrun::queue::Queue;
use stockrun::queue::local::LocalQueue;
use stockrun::runtime::Stages;
use stockrun::runtime::consumer::{Until, consume};
use stockrun::runtime::counters::Counters;
use stockrun::store::Item;
use stockrun::store::local::LocalStore;

/// Records drained: 100 000 under `cargo bench`, 1 000 under `cargo test`.
fn records() -> usize {
    mode::size(100_000, 1_000)
}

#[path = "support/mode.rs"]
mod mode;

fn pipeline() -> stockrun::config::Pipeline {
    let yaml = std::fs::read("pipelines/stocks.yaml").expect("run from the repository root");
    let env = Environment::from_pairs([("RAPIDAPI_KEY", "bench-key-0123456789")]);
    let mut pipeline = check(&yaml, &env, UnsetVariables::Deny)
        .pipeline
        .expect("stocks.yaml is valid");
    pipeline.notify = None; // the e-mail is not what this measures
    pipeline
}

fn bodies(pipeline: &str) -> Vec<String> {
    (0..records())
        .map(|i| {
            Message::new(
                pipeline.to_owned(),
                serde_json::Map::new(),
                "2024-03-18T10:30:00.000Z".to_owned(),
                serde_json::json!({
                    "symbol": format!("SYM{i:06}"),
                    "identifier": format!("SYM{i:06}EQN"),
                    "open": 2855, "dayHigh": 2910.45, "dayLow": 2848.1, "lastPrice": 2893.9,
                    "previousClose": 2856.25, "change": 37.65, "pChange": 1.32,
                    "totalTradedVolume": 5912384, "lastUpdateTime": "18-Mar-2024 15:59:38",
                }),
            )
            .to_body()
        })
        .collect()
}

fn drain(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let pipeline = pipeline();
    let bodies = bodies(&pipeline.name);
    let processor =
        Processor::new(&pipeline.name, &pipeline.process, &pipeline.store.key).expect("processor");
    // The rows the drain writes, for the raw inserts.
    let inserted_at = "2024-03-18T10:30:01.000Z";
    let rows: Vec<(String, String, String)> = bodies
        .iter()
        .map(|body| {
            let record = processor.process(body).expect("good record");
            let item = Item::new(&record, &pipeline.store, inserted_at);
            let attributes = serde_json::to_string(&item.attributes).unwrap();
            (item.partition, item.sort.unwrap_or_default(), attributes)
        })
        .collect();

    let mut group = c.benchmark_group("drain_100k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    group.throughput(Throughput::Elements(records() as u64));

    group.bench_function(
        "consume --once (receive, process, store, delete; batches of 10)",
        |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| drain_once(&runtime, &pipeline, &bodies))
                    .sum()
            });
        },
    );
    // Issue 13: what the metrics add (`consume --metrics` installs this recorder).
    group.bench_function("consume --once with the Prometheus recorder", |b| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        b.iter_custom(|iterations| {
            ::metrics::with_local_recorder(&recorder, || {
                stockrun::metrics::describe();
                (0..iterations)
                    .map(|_| drain_once(&runtime, &pipeline, &bodies))
                    .sum()
            })
        });
    });

    for (name, per_transaction) in [
        ("raw insert, 10 rows per transaction", 10),
        ("raw insert, one transaction", records()),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let dir = tempfile::tempdir().unwrap();
                    // Same file settings and table as the store.
                    let store = LocalStore::open(&dir.path().join("raw.db"), "stock_prices", "inserted_at").unwrap();
                    drop(store);
                    let mut db = stockrun::sqlite::open(&dir.path().join("raw.db")).unwrap();
                    let start = Instant::now();
                    for chunk in rows.chunks(per_transaction) {
                        let tx = db.transaction().unwrap();
                        {
                            let mut insert = tx
                                .prepare_cached(
                                    "INSERT INTO items (table_name, partition_key, sort_key, inserted_at, attributes)
                                     VALUES ('stock_prices', ?1, ?2, ?3, ?4)",
                                )
                                .unwrap();
                            for (partition, sort, attributes) in chunk {
                                insert.execute(params![partition, sort, inserted_at, attributes]).unwrap();
                            }
                        }
                        tx.commit().unwrap();
                    }
                    total += start.elapsed();
                }
                total
            });
        });
    }
    group.finish();
}

/// Queues `bodies` in a new state file and times one `consume --once` draining them.
fn drain_once(
    runtime: &tokio::runtime::Runtime,
    pipeline: &stockrun::config::Pipeline,
    bodies: &[String],
) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let queue = LocalQueue::open(&db, "q", Duration::from_secs(60), 3).unwrap();
    runtime.block_on(async {
        for chunk in bodies.chunks(10) {
            queue.send_batch(chunk).await.unwrap();
        }
    });
    let stages = Stages {
        alerts: None,
        clock: Default::default(),
        pipeline: pipeline.clone(),
        processor: Processor::new(&pipeline.name, &pipeline.process, &pipeline.store.key).unwrap(),
        queue: Arc::new(queue),
        store: Arc::new(LocalStore::open(&db, "stock_prices", "inserted_at").unwrap()),
        templates: None,
        notifier: None,
    };
    let counters = Counters::default();
    let until = Until {
        drained: true,
        stop: Default::default(),
    };
    let start = Instant::now();
    runtime
        .block_on(consume(&stages, &counters, &until))
        .expect("drained");
    let took = start.elapsed();
    assert_eq!(Counters::get(&counters.stored), bodies.len() as u64);
    took
}

criterion_group!(benches, drain);
criterion_main!(benches);
