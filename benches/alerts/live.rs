//! The live alert path over a big embedded store: `runtime::alerts::raise` (load the batch's
//! series states, read each series' window history when a rule has a window, evaluate, commit
//! the states and alerts in one IMMEDIATE transaction) for batches of 10 records of 10 series,
//! on a SQLite file holding 1 000 000 items of 1 000 series (1 000 quotes a minute apart each)
//! and the states of all 1 000 series, built once per run in a temporary directory through the
//! store's own schema (`LocalStore::put_batch`) and the ledger's (`raise` itself).
//!
//! Each measured batch is 10 new quotes (one minute after the series' last), stored first as
//! the consumer does (not timed), then raised (timed). Criterion's time is per batch of 10.
//! Variants: the rules of `pipelines/stocks.yaml` (a `prev` rule and a level) with quiet prices;
//! the same with an alert raised by every third record (cooldown removed, prices moving 3 % and
//! back); and with a third rule over a 1 h window (60 stored quotes read per
//! series per batch). Also the store's `previous` read alone (the look-up of a late record).

use std::cell::Cell;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput};
use serde_json::Value;
use stockrun::alert::Fields;
use stockrun::alert::engine::{Engine, Step};
use stockrun::alert::ledger::local::LocalLedger;
use stockrun::alert::ledger::{AlertLedger, Commit, StateWrite};
use stockrun::alert::rules::Rules;
use stockrun::compile::check;
use stockrun::config::env::Environment;
use stockrun::config::load::UnsetVariables;
use stockrun::queue::local::LocalQueue;
use stockrun::runtime::Stages;
use stockrun::runtime::alerts::{AlertStage, raise};
use stockrun::store::local::LocalStore;
use stockrun::store::{Item, Store};

const SERIES: usize = 1_000;
/// Quotes per series: 1 000 under `cargo bench` (1 000 000 items), 10 under `cargo test`.
fn per_series() -> usize {
    super::mode::size(1_000, 10)
}
const BATCH: usize = 10;
/// `LocalStore::put_batch`'s statement, for building the store fast.
const STORE_UPSERT: &str =
    "INSERT INTO items (table_name, partition_key, sort_key, inserted_at, attributes)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (table_name, partition_key, sort_key)
     DO UPDATE SET inserted_at = excluded.inserted_at, attributes = excluded.attributes";

/// The stocks pipeline's text, with `edit` applied (each pair must match once).
fn stocks_yaml(edits: &[(&str, &str)]) -> String {
    let mut yaml = std::fs::read_to_string("pipelines/stocks.yaml").expect("run from the root");
    for (from, to) in edits {
        assert_eq!(yaml.matches(from).count(), 1, "{from:?} in stocks.yaml");
        yaml = yaml.replace(from, to);
    }
    yaml
}

fn compile(yaml: &str) -> (stockrun::config::Pipeline, Arc<Rules>) {
    let env = Environment::from_pairs([("RAPIDAPI_KEY", "bench-key-0123456789")]);
    let checked = check(yaml.as_bytes(), &env, UnsetVariables::Deny);
    let compiled = checked.compiled.expect("the pipeline is valid");
    (compiled.pipeline, compiled.rules.expect("it has rules"))
}

const NO_COOLDOWN: (&str, &str) = (
    "      cooldown: 30m            # and fires at most every 30 minutes per symbol\n",
    "",
);
const WINDOW_RULE: (&str, &str) = (
    "  rules:\n",
    "  rules:\n    hour_high:\n      when: price > max_over(price, \"1h\")\n      \
     subject: \"{{symbol}} above its 1 h high: {{price}}\"\n      text: \"{{symbol}} at {{price}}\"\n",
);

fn base_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T03:45:00Z")
        .expect("a time")
        .to_utc()
}

/// The quote of series `series` at `minute`: quiet prices move by at most 0.2 % a minute;
/// `jumping` ones go 1.00, 1.03, 1.03 times the base, minute after minute.
fn quote(series: usize, minute: usize, jumping: bool) -> Item {
    let base = 1000.0 + series as f64;
    let factor = if jumping {
        // Down 2.9 % (fires), up 3 % (still firing), flat (re-arms): an alert every 3rd quote.
        [1.0, 1.03, 1.03][minute % 3]
    } else {
        1.0 + 0.002 * ((minute % 7) as f64 - 3.0) / 3.0
    };
    let price = base * factor;
    let at = base_time() + chrono::Duration::minutes(minute as i64);
    let quoted_at = stockrun::process::timestamp::to_rfc3339(at);
    let symbol = format!("SYM{series:04}");
    let number = |value: f64| -> Value { serde_json::from_str(&format!("{value:.2}")).unwrap() };
    let mut attributes = Fields::new();
    attributes.insert("symbol".into(), Value::String(symbol.clone()));
    attributes.insert("quoted_at".into(), Value::String(quoted_at.clone()));
    attributes.insert("price".into(), number(price));
    attributes.insert("high".into(), number(price * 1.01));
    attributes.insert("low".into(), number(price * 0.99));
    attributes.insert(
        "inserted_at".into(),
        Value::String(stockrun::process::timestamp::to_rfc3339(
            at + chrono::Duration::seconds(2),
        )),
    );
    Item {
        partition: symbol,
        sort: Some(quoted_at),
        attributes,
    }
}

/// The store of 1 000 000 items and the states of its 1 000 series.
struct Live {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    stages: Stages,
    ledger: Arc<LocalLedger>,
    /// Batches raised so far: the next batch's series and minute.
    batches: Cell<usize>,
}

impl Live {
    fn build() -> Live {
        let started = Instant::now();
        let runtime = tokio::runtime::Runtime::new().expect("tokio");
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("bench.db");
        let (pipeline, rules) = compile(&stocks_yaml(&[]));
        let store = Arc::new(
            LocalStore::open(&db, &pipeline.store.table, &pipeline.store.inserted_at)
                .expect("store"),
        );
        let ledger = Arc::new(LocalLedger::open(&db, &pipeline.store.table).expect("ledger"));
        let queue = LocalQueue::open(&db, "q", Duration::from_secs(60), 3).expect("queue");
        // A poll every minute of every series, in that order, as a live pipeline stores them:
        // the rows `put_batch` writes, written in one transaction on a connection with a page
        // cache that holds the file (the store's own connection keeps SQLite's default).
        {
            let mut connection = stockrun::sqlite::open(&db).expect("database");
            connection
                .pragma_update(None, "cache_size", -1_000_000)
                .expect("cache size");
            let tx = connection.transaction().expect("transaction");
            {
                let mut upsert = tx.prepare(STORE_UPSERT).expect("the store's upsert");
                for minute in 0..per_series() {
                    for series in 0..SERIES {
                        let item = quote(series, minute, false);
                        let attributes = serde_json::to_string(&item.attributes).unwrap();
                        let inserted_at = item.attributes["inserted_at"].as_str().unwrap();
                        upsert
                            .execute(rusqlite::params![
                                pipeline.store.table.value,
                                item.partition,
                                item.sort.unwrap_or_default(),
                                inserted_at,
                                attributes
                            ])
                            .expect("stored");
                    }
                }
            }
            tx.commit().expect("committed");
        }
        let stages = Stages {
            processor: stockrun::process::Processor::new(
                &pipeline.name,
                &pipeline.process,
                &pipeline.store.key,
            )
            .expect("processor"),
            queue: Arc::new(queue),
            store: store.clone(),
            templates: None,
            notifier: None,
            alerts: Some(AlertStage {
                rules: Arc::clone(&rules),
                ledger: ledger.clone(),
                lease: stockrun::runtime::alerts::LEASE,
            }),
            clock: stockrun::runtime::clock::BatchClock::system(),
            pipeline,
        };
        // The states of every series, from its latest quote.
        let latest: Vec<Item> = (0..SERIES)
            .map(|series| quote(series, per_series() - 1, false))
            .collect();
        runtime
            .block_on(raise(
                &stages,
                stages.alerts.as_ref().unwrap(),
                &latest,
                Utc::now(),
            ))
            .expect("states seeded");
        let count = runtime.block_on(store.count()).expect("count");
        assert_eq!(count, (SERIES * per_series()) as u64);
        let size = std::fs::metadata(&db).map_or(0, |m| m.len());
        eprintln!(
            "live: {count} items of {SERIES} series and their states in {:.1} s ({:.0} MB)",
            started.elapsed().as_secs_f64(),
            size as f64 / 1e6
        );
        Live {
            _dir: dir,
            runtime,
            stages,
            ledger,
            batches: Cell::new(0),
        }
    }

    /// The next batch: 10 quotes of 10 series, one minute after their last.
    fn next_batch(&self, jumping: bool) -> Vec<Item> {
        let batch = self.batches.get();
        self.batches.set(batch + 1);
        let groups = SERIES / BATCH;
        let minute = per_series() + batch / groups;
        let first = (batch % groups) * BATCH;
        (first..first + BATCH)
            .map(|series| quote(series, minute, jumping))
            .collect()
    }

    /// Stores the next batch (not timed) and times `raise` under `rules`; returns the time and
    /// the alerts raised.
    fn raise_next(&self, rules: &Arc<Rules>, jumping: bool) -> (Duration, usize) {
        let items = self.next_batch(jumping);
        let stage = AlertStage {
            rules: Arc::clone(rules),
            ledger: self.ledger.clone(),
            lease: stockrun::runtime::alerts::LEASE,
        };
        self.runtime
            .block_on(self.stages.store.put_batch(&items))
            .expect("stored");
        let start = Instant::now();
        let alerts = self
            .runtime
            .block_on(raise(&self.stages, &stage, &items, Utc::now()))
            .expect("raised");
        (start.elapsed(), alerts.len())
    }
}

/// Where the time of a quiet batch goes: the same steps as `raise`, one by one.
fn parts(c: &mut Criterion, rules: &Arc<Rules>) {
    let mut group = c.benchmark_group("raise's parts, 10 series");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let series: Vec<String> = (0..BATCH).map(|s| format!("SYM{s:04}")).collect();
    group.bench_function("a blocking task's round trip (tokio spawn_blocking)", |b| {
        let live = live();
        b.iter(|| {
            live.runtime
                .block_on(async { tokio::task::spawn_blocking(|| 1).await })
        })
    });
    group.bench_function("ledger load", |b| {
        let live = live();
        b.iter(|| {
            live.runtime
                .block_on(live.ledger.load(&series))
                .expect("load")
        })
    });
    group.bench_function("evaluate 10 new records (engine, no I/O)", |b| {
        let live = live();
        let states = live
            .runtime
            .block_on(live.ledger.load(&series))
            .expect("load");
        let engine = Engine::new(rules, "inserted_at");
        let items: Vec<Item> = (0..BATCH)
            .map(|s| quote(s, per_series() + 100_000, false))
            .collect();
        let now = Utc::now();
        b.iter(|| {
            let mut alerts = 0;
            for item in &items {
                let mut state = states[&item.partition].clone();
                let prev = state.last.as_ref().map(|last| last.fields.clone());
                let sort = item.sort.as_deref().unwrap_or("");
                let arrival = engine.arrival(&state, sort, &item.attributes);
                let step = Step {
                    sort,
                    fields: &item.attributes,
                    prev: prev.as_ref(),
                    history: &[],
                };
                alerts += engine
                    .evaluate(&mut state, &item.partition, arrival, &step, now)
                    .len();
            }
            alerts
        })
    });
    group.bench_function("ledger commit (10 states, no alert)", |b| {
        let live = live();
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let states = live
                    .runtime
                    .block_on(live.ledger.load(&series))
                    .expect("load");
                let commit = Commit {
                    states: states
                        .into_iter()
                        .map(|(series, state)| StateWrite {
                            series,
                            expected_version: state.version,
                            state,
                        })
                        .collect(),
                    ..Commit::default()
                };
                let start = Instant::now();
                live.runtime
                    .block_on(live.ledger.commit(&commit))
                    .expect("committed");
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

// Criterion's closures are `FnMut` on one thread; the store is built on first use only, so
// `cargo bench --bench alerts -- compile` does not pay for it.
thread_local! {
    static LIVE: OnceLock<&'static Live> = const { OnceLock::new() };
}

fn live() -> &'static Live {
    LIVE.with(|cell| *cell.get_or_init(|| Box::leak(Box::new(Live::build()))))
}

pub fn bench(c: &mut Criterion) {
    let variants: [(&str, Arc<Rules>, bool); 3] = [
        (
            "stocks.yaml rules (prev, level), quiet",
            compile(&stocks_yaml(&[])).1,
            false,
        ),
        (
            "stocks.yaml rules without cooldown, an alert every 3rd record",
            compile(&stocks_yaml(&[NO_COOLDOWN])).1,
            true,
        ),
        (
            "stocks.yaml rules + a 1h window (60 stored quotes per series), quiet",
            compile(&stocks_yaml(&[WINDOW_RULE])).1,
            false,
        ),
    ];
    let mut group = c.benchmark_group("raise 10 records of 10 series, 1 000 000 stored");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    for (name, rules, jumping) in &variants {
        let mut alerts = 0;
        let mut records = 0;
        group.bench_function(*name, |b| {
            // Built before criterion's warm-up starts, so it is not taken for a slow batch.
            let live = live();
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let (took, raised) = live.raise_next(rules, *jumping);
                    total += took;
                    alerts += raised;
                    records += BATCH;
                }
                total
            })
        });
        if records > 0 {
            eprintln!("  {alerts} alerts for {records} records");
        }
    }
    group.finish();

    parts(c, &variants[0].1);

    let mut group = c.benchmark_group("store, 1 000 000 stored");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("previous (a late record's look-up)", |b| {
        let live = live();
        let mut n = 0usize;
        b.iter(|| {
            n += 1;
            let series = format!("SYM{:04}", n * 7 % SERIES);
            let before = stockrun::process::timestamp::to_rfc3339(
                base_time() + chrono::Duration::minutes((n % per_series()) as i64),
            );
            live.runtime
                .block_on(live.stages.store.previous(&series, &before))
                .expect("read")
        })
    });
    group.finish();
    if let Some(live) = LIVE.with(|cell| cell.get().copied()) {
        let count = live
            .runtime
            .block_on(live.stages.store.count())
            .unwrap_or(0);
        eprintln!("live: {count} items stored at the end");
    }
}
