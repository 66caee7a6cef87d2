//! What one request of `stockrun serve`'s page costs with 1 000 000 stored items (goal: the
//! page answers in ≤ 100 ms): the data (`commands::serve::page_of`: the series list from the
//! key index, the newest two records of each series, the queue counts, the dead letters, the
//! alerts of the last 7 days) and its HTML, for `pipelines/stocks.yaml` on the embedded backend.
//! The store holds 50 series of 20 000 quotes a minute apart, built once per run in a temporary
//! directory through the store's own schema.
//!
//!     cargo bench --bench page

use criterion::{Criterion, criterion_group, criterion_main};
use stockrun::aws::Aws;
use stockrun::commands::serve::page_of;
use stockrun::compile::load;
use stockrun::config::env::Environment;
use stockrun::config::load::UnsetVariables;
use stockrun::runtime::backend::{Backend, BackendKind};

const SERIES: usize = 50;
/// Quotes per series: 20 000 under `cargo bench` (1 000 000 items), 20 under `cargo test`.
fn per_series() -> usize {
    mode::size(20_000, 20)
}

#[path = "support/mode.rs"]
mod mode;

fn bench(c: &mut Criterion) {
    let env = Environment::from_pairs([("RAPIDAPI_KEY", "bench-key-0123456789")]);
    let loaded = load(
        std::path::Path::new("pipelines/stocks.yaml"),
        &env,
        UnsetVariables::Deny,
    )
    .expect("stocks.yaml loads");
    let state = tempfile::tempdir().expect("temp dir");
    let backend = Backend {
        kind: BackendKind::Local,
        state_dir: state.path().to_owned(),
        smtp: None,
        visibility_timeout: None,
        aws: Aws::new(),
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        // The stages' own schemas: the queue, the store and the alert ledger.
        backend.queue(&loaded.pipeline).expect("queue");
        let store = backend.store(&loaded.pipeline).expect("store");
        store.put_batch(&[]).await.expect("store");
        backend.alert_ledger(&loaded.pipeline).expect("ledger");
    });
    fill(
        &state
            .path()
            .join(format!("{}.db", loaded.pipeline.name.value)),
    );

    let page = runtime.block_on(page_of(&loaded, &backend));
    assert_eq!(page.series.len(), SERIES, "{:?}", page.problems);
    assert!(page.problems.is_empty(), "{:?}", page.problems);

    c.bench_function("page data, 1 000 000 items of 50 series", |b| {
        b.iter(|| runtime.block_on(page_of(&loaded, &backend)))
    });
    c.bench_function("page data and HTML, 1 000 000 items of 50 series", |b| {
        b.iter(|| {
            let page = runtime.block_on(page_of(&loaded, &backend));
            stockrun::page::html::render(&page).expect("renders")
        })
    });
}

/// 50 series of 20 000 quotes each, a minute apart, written straight into the items table.
fn fill(database: &std::path::Path) {
    let mut connection = rusqlite::Connection::open(database).expect("database");
    let transaction = connection.transaction().expect("transaction");
    {
        let mut insert = transaction
            .prepare(
                "INSERT INTO items (table_name, partition_key, sort_key, inserted_at, attributes)
                 VALUES ('stock_prices', ?1, ?2, ?2, ?3)",
            )
            .expect("items table");
        let start = chrono::DateTime::parse_from_rfc3339("2026-01-05T03:45:00Z")
            .expect("a time")
            .to_utc();
        for series in 0..SERIES {
            let symbol = format!("SYM{series:03}");
            for minute in 0..per_series() {
                let at = (start + chrono::Duration::minutes(minute as i64))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let price = 1000.0 + (minute % 97) as f64;
                let attributes = format!(
                    r#"{{"symbol":"{symbol}","price":{price},"high":{},"low":{},"quoted_at":"{at}","inserted_at":"{at}"}}"#,
                    price + 5.0,
                    price - 5.0
                );
                insert
                    .execute(rusqlite::params![symbol, at, attributes])
                    .expect("insert");
            }
        }
    }
    transaction.commit().expect("commit");
}

criterion_group! {
    name = benches;
    config = mode::criterion().sample_size(20);
    targets = bench
}
criterion_main!(benches);
