//! What alert rules cost: compiling a pipeline's 3 rules (cold start), and evaluating their 3
//! conditions for one record (a field against `prev`, a window, a level), the part of the
//! ≤ 5 µs per record budget that is the expressions'; what rules add to checking and building a
//! pipeline (`cold`: the Lambda's init, ≤ 2 ms more for 3 rules); then the live path over a store of
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
#[path = "support/mode.rs"]
mod mode;

/// The demo pipeline's text: without rules (one mail per batch, as before alert rules), with its
/// one rule, and with two more (a 1 h window and a level): 3 rules.
fn demo_variants() -> [(&'static str, String); 3] {
    let demo = std::fs::read_to_string("examples/demo.yaml").expect("run from the root");
    let (head, _) = demo
        .split_once("\nnotify:\n")
        .expect("demo.yaml has notify");
    let batch_mail = head.to_owned()
        + "\nnotify:\n  from: stockrun@example.com\n  to: [me@example.com]\n  \
           subject: \"{{count}} new quotes\"\n  \
           text: \"{{#each records}}{{symbol}}: {{price}}\\n{{/each}}\"\n";
    let three = demo.replacen(
        "  rules:\n",
        "  rules:\n    hour_high:\n      when: price > max_over(price, \"1h\")\n      \
         subject: \"{{symbol}} above its 1 h high: {{price}}\"\n      text: \"{{symbol}} at {{price}}\"\n    \
         nifty_level:\n      when: symbol == \"NIFTY 50\" && price < 21500.0\n      rearm: price > 21600.0\n      \
         subject: \"NIFTY 50 below 21 500: {{price}}\"\n      text: \"NIFTY 50 at {{price}}\"\n",
        1,
    );
    [
        ("demo.yaml without rules (batch mail)", batch_mail),
        ("demo.yaml (1 rule)", demo),
        ("demo.yaml + 2 rules (3 rules)", three),
    ]
}

/// What rules add to a cold start: checking and building the whole pipeline, as the Lambda's
/// init does (`compile::check`: parse, validate, processor, templates, rules).
fn cold(c: &mut Criterion) {
    let env = stockrun::config::env::Environment::from_pairs([("DEMO_RESPONSE", "x")]);
    let mut group = c.benchmark_group("check and build the pipeline");
    for (name, text) in demo_variants() {
        let checked = stockrun::compile::check(
            text.as_bytes(),
            &env,
            stockrun::config::load::UnsetVariables::Deny,
        );
        let Some(compiled) = checked.compiled else {
            panic!("{name}: {:?}", checked.diagnostics);
        };
        let rules = compiled.rules.map_or(0, |rules| rules.rules.len());
        group.bench_function(format!("{name}: {rules} rules"), |b| {
            b.iter(|| {
                stockrun::compile::check(
                    black_box(text.as_bytes()),
                    &env,
                    stockrun::config::load::UnsetVariables::Deny,
                )
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = mode::criterion();
    targets = bench, cold, live::bench
}
criterion_main!(benches);
