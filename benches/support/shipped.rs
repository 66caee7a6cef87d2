//! Every shipped pipeline (`pipelines/` and `examples/`) with the recorded API response it is
//! measured on, and the message bodies a poll of that response queues: shared by the benches
//! that must cover every pipeline the user may run, not only the demo.

use serde_json::{Map, Value};
use stockrun::compile::check;
use stockrun::config::Pipeline;
use stockrun::config::env::Environment;
use stockrun::config::load::UnsetVariables;
use stockrun::message::Message;
use stockrun::process::Processor;

/// Every shipped pipeline and the recorded response it is measured on.
pub const PIPELINES: [(&str, &str); 6] = [
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

pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).expect(path)
}

/// The pipeline, its processor and one message body per record of `response` that it
/// processes (as from its first feed, if it lists feeds).
pub fn setup(pipeline_file: &str, response: &str) -> (Pipeline, Processor, Vec<String>) {
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
    (compiled.pipeline, processor, bodies)
}
