//! What alert rules cost: compiling a pipeline's 3 rules (cold start), and evaluating their 3
//! conditions for one record (a field against `prev`, a window, a level), the part of the
//! ≤ 5 µs per record budget that is the expressions'; then the live path over a store of
//! 1 000 000 items (`live` below): `runtime::alerts::raise` for batches of 10 records of 10
//! series, as a consumer runs it after storing a batch.
//!
//!     cargo bench --bench alerts
//!     cargo bench --bench alerts -- raise     # only the live path (builds the 1 000 000 items)

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use stockrun::alert::Fields;
use stockrun::alert::expr::{Condition, Scope, Vocabulary};
use stockrun::config::Located;
use stockrun::config::model::FieldType;

const RULES: [&str; 3] = [
    "prev.price > 0.0 && abs(price - prev.price) / prev.price > 0.02",
    "price > max_over(price, \"20d\") && count_over(\"1d\") >= 3",
    "symbol == 'NIFTY 50' && price >= 2000.0",
];

fn vocabulary() -> Vocabulary {
    let mut vocabulary = Vocabulary::default();
    for (name, kind) in [
        ("symbol", FieldType::String),
        ("price", FieldType::Number),
        ("quoted_at", FieldType::Timestamp),
    ] {
        vocabulary.fields.insert(name.to_owned(), kind);
        vocabulary.always.insert(name.to_owned());
    }
    vocabulary
}

fn compile_all(vocabulary: &Vocabulary) -> Vec<Condition> {
    RULES
        .iter()
        .map(|text| {
            let text = Located::unlocated((*text).to_owned());
            Condition::compile(&text, "notify.rules.r.when", vocabulary)
                .expect("compiles")
                .0
        })
        .collect()
}

fn record(price: f64) -> Fields {
    serde_json::from_value(json!({
        "symbol": "NIFTY 50", "price": format!("{price:.2}"), "quoted_at": "2026-01-02T10:00:00Z"
    }))
    .expect("a record")
}

fn bench(c: &mut Criterion) {
    let vocabulary = vocabulary();
    c.bench_function("compile 3 rules", |b| {
        b.iter(|| compile_all(black_box(&vocabulary)))
    });
    let conditions = compile_all(&vocabulary);
    let (now, prev) = (record(2051.5), record(2000.0));
    let windows: [Option<Value>; 2] = [Some(json!(2040.25)), Some(json!(12))];
    c.bench_function("evaluate 3 rules for one record", |b| {
        b.iter(|| {
            for condition in &conditions {
                let windows = &windows[..condition.windows.len()];
                let scope = Scope {
                    fields: &now,
                    prev: Some(&prev),
                    windows,
                };
                black_box(condition.evaluate(black_box(&scope)).expect("evaluates"));
            }
        })
    });
}

#[path = "alerts/live.rs"]
mod live;

criterion_group!(benches, bench, live::bench);
criterion_main!(benches);
