//! Draining a backlog of 100 000 queued quotes into the embedded store (receive, process, store,
//! delete, in batches of 10, exactly as `stockrun consume --once` does), beside raw SQLite
//! inserts of the same rows: the cost of the queue and processing over just writing the data;
//! two floors under it (the stages' calls alone, one transaction per batch in bare SQL); and the
//! drain of every shipped pipeline on its recorded records (`drain_shipped`).
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
use stockrun::store::local::LocalStore;
use stockrun::store::{Item, Store};

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

    // Issue 15: the floor under the drain. The same queue and store calls the consumer makes,
    // with the records already processed: what the lifecycle (processing, items, counters)
    // adds is the difference to the drain above.
    let items: Vec<Item> = bodies
        .iter()
        .map(|body| {
            let record = processor.process(body).expect("good record");
            Item::new(&record, &pipeline.store, inserted_at)
        })
        .collect();
    group.bench_function(
        "floor: the queue and store calls alone (delete_and_receive, put_batch)",
        |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| calls_alone(&runtime, &pipeline, &bodies, &items))
                    .sum()
            });
        },
    );
    // And the floor of a design with one transaction per batch (store N, delete N, lease
    // N+1), written as plain SQL on one connection with no processing at all: the most a
    // single SQLite file could give a drain that keeps the queue's guarantees.
    group.bench_function(
        "floor: one transaction per batch (store, delete, lease), SQL alone",
        |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| one_transaction_per_batch(&runtime, &bodies, &rows, inserted_at))
                    .sum()
            });
        },
    );

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

    // Every shipped pipeline, each on its recorded response's records queued again and again
    // (batches then hold distinct keys, as a poll's do; later copies overwrite them).
    let mut group = c.benchmark_group("drain_shipped");
    group.sample_size(10);
    group.throughput(Throughput::Elements(shipped_records() as u64));
    for (file, response) in shipped::PIPELINES {
        let (mut pipeline, _, recorded) = shipped::setup(file, response);
        pipeline.notify = None; // the e-mail is not what this measures
        let bodies: Vec<String> = recorded
            .iter()
            .cycle()
            .take(shipped_records())
            .cloned()
            .collect();
        group.bench_function(format!("{file}: consume --once"), |b| {
            b.iter_custom(|iterations| {
                (0..iterations)
                    .map(|_| drain_once(&runtime, &pipeline, &bodies))
                    .sum()
            });
        });
    }
    group.finish();
}

/// Records drained per shipped pipeline: 20 000 under `cargo bench`, 200 under `cargo test`.
fn shipped_records() -> usize {
    mode::size(20_000, 200)
}

#[path = "support/shipped.rs"]
mod shipped;

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
        store: Arc::new(
            LocalStore::open(
                &db,
                &pipeline.store.table,
                pipeline.store.inserted_at.as_str(),
            )
            .unwrap(),
        ),
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

/// Queues `bodies` in a new state file and times draining them with the queue's and the store's
/// own calls, the records already processed into `items` (in queue order).
fn calls_alone(
    runtime: &tokio::runtime::Runtime,
    pipeline: &stockrun::config::Pipeline,
    bodies: &[String],
    items: &[Item],
) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let queue = LocalQueue::open(&db, "q", Duration::from_secs(60), 3).unwrap();
    let store = LocalStore::open(&db, &pipeline.store.table, "inserted_at").unwrap();
    runtime.block_on(async {
        for chunk in bodies.chunks(10) {
            queue.send_batch(chunk).await.unwrap();
        }
        let stop = tokio_util::sync::CancellationToken::new();
        let start = Instant::now();
        let mut done: Vec<String> = Vec::new();
        let mut next = items.chunks(10);
        loop {
            let receipts: Vec<&str> = done.iter().map(String::as_str).collect();
            let batch = queue
                .delete_and_receive(&receipts, 10, Duration::ZERO, &stop)
                .await
                .unwrap();
            if batch.is_empty() {
                break;
            }
            store.put_batch(next.next().unwrap()).await.unwrap();
            done = batch.into_iter().map(|message| message.receipt).collect();
        }
        let took = start.elapsed();
        assert!(next.next().is_none(), "every record drained");
        took
    })
}

/// Queues `bodies` in a new state file and times draining them in plain SQL with one
/// transaction per batch: upsert batch N's `rows`, delete N, lease N+1 (as the queue leases:
/// receive count and visibility written for each message).
fn one_transaction_per_batch(
    runtime: &tokio::runtime::Runtime,
    bodies: &[String],
    rows: &[(String, String, String)],
    inserted_at: &str,
) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let queue = LocalQueue::open(&db, "q", Duration::from_secs(60), 3).unwrap();
    drop(LocalStore::open(&db, "stock_prices", "inserted_at").unwrap());
    runtime.block_on(async {
        for chunk in bodies.chunks(10) {
            queue.send_batch(chunk).await.unwrap();
        }
    });
    drop(queue);
    let mut c = stockrun::sqlite::open(&db).unwrap();
    let start = Instant::now();
    let mut done: Vec<(i64, u32, usize)> = Vec::new();
    let mut stored = 0;
    loop {
        let tx = c
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        for (id, count, row) in &done {
            let (partition, sort, attributes) = &rows[*row];
            tx.prepare_cached(
                "INSERT INTO items (table_name, partition_key, sort_key, inserted_at, attributes)
                 VALUES ('stock_prices', ?1, ?2, ?3, ?4)
                 ON CONFLICT (table_name, partition_key, sort_key)
                 DO UPDATE SET inserted_at = excluded.inserted_at, attributes = excluded.attributes",
            )
            .unwrap()
            .execute(params![partition, sort, inserted_at, attributes])
            .unwrap();
            tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1 AND receive_count = ?2")
                .unwrap()
                .execute(params![id, count])
                .unwrap();
        }
        stored += done.len();
        let now = stockrun::sqlite::now_millis();
        let leased: Vec<(i64, String, u32)> = tx
            .prepare_cached(
                "SELECT id, body, receive_count FROM queue_messages
                 WHERE queue = 'q' AND visible_at <= ?1 ORDER BY id LIMIT 10",
            )
            .unwrap()
            .query_map(params![now], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        done.clear();
        for (id, body, count) in leased {
            tx.prepare_cached(
                "UPDATE queue_messages SET receive_count = ?2, visible_at = ?3 WHERE id = ?1",
            )
            .unwrap()
            .execute(params![id, count + 1, now + 60_000])
            .unwrap();
            // The body is what a consumer would process; here only its row is looked up.
            std::hint::black_box(body);
            done.push((id, count + 1, usize::try_from(id).unwrap() - 1));
        }
        tx.commit().unwrap();
        if done.is_empty() {
            break;
        }
    }
    let took = start.elapsed();
    assert_eq!(stored, rows.len());
    took
}

criterion_group! {
    name = benches;
    config = mode::criterion();
    targets = drain
}
criterion_main!(benches);
