//! Tests of the processor: conversions, timestamps, required and optional fields, keys, and the
//! recorded API responses with the pipelines that describe them.

mod examples;
mod fields;
mod keys;
mod timestamps;

use serde_json::{Map, Value};

use super::{Poison, Processor, Record};
use crate::config::Pipeline;
use crate::config::env::Environment;
use crate::config::load::{UnsetVariables, check};
use crate::message::Message;

/// The processor of `pipeline`, or every diagnostic of its fields and key.
fn compile(pipeline: &Pipeline) -> Result<Processor, Vec<crate::diag::Diagnostic>> {
    Processor::new(&pipeline.name, &pipeline.process, &pipeline.store.key)
}

/// A pipeline file's text loaded and checked; panics with the diagnostics when it has errors.
fn load(text: &str) -> Pipeline {
    let env = Environment::from_pairs([("RAPIDAPI_KEY", "x".repeat(20))]);
    let checked = check(text.as_bytes(), &env, UnsetVariables::Warn);
    match checked.pipeline {
        Some(pipeline) => pipeline,
        None => panic!("pipeline has errors: {:#?}", checked.diagnostics),
    }
}

/// A pipeline named `test` with these `process.fields` lines and `store.key` lines.
fn pipeline(fields: &str, key: &str) -> Pipeline {
    let indent = |text: &str, by: &str| {
        text.lines()
            .map(|line| format!("{by}{line}\n"))
            .collect::<String>()
    };
    load(&format!(
        "name: test\nsource:\n  url: https://api.example.com/q\n  records: $[*]\n\
         feeds:\n  - {{ exchange: NSE }}\n\
         process:\n  fields:\n{}store:\n  table: quotes\n  key:\n{}",
        indent(fields, "    "),
        indent(key, "    "),
    ))
}

/// A processor with these fields, keyed by `{{symbol}}`.
fn processor(fields: &str) -> Processor {
    let fields = format!("symbol: {{ path: $.symbol, required: true }}\n{fields}");
    compile(&pipeline(
        &fields,
        "partition: { name: symbol, value: \"{{symbol}}\" }",
    ))
    .expect("the processor compiles")
}

/// The body of a message for pipeline `test` whose record is this JSON text (digits kept).
fn body(record: &str) -> String {
    body_for("test", record, Map::new())
}

fn body_for(pipeline: &str, record: &str, feed: Map<String, Value>) -> String {
    Message::new(
        pipeline.to_owned(),
        feed,
        "2024-03-18T10:30:00.000Z".to_owned(),
        serde_json::from_str(record).expect("record JSON"),
    )
    .to_body()
}

/// Processes `record` (JSON text) and returns the record.
fn ok(processor: &Processor, record: &str) -> Record {
    match processor.process(&body(record)) {
        Ok(record) => record,
        Err(poison) => panic!("poison: {poison}"),
    }
}

/// Processes `record` (JSON text) and returns the poison reason.
fn poison(processor: &Processor, record: &str) -> String {
    match processor.process(&body(record)) {
        Ok(record) => panic!("not poison: {record:?}"),
        Err(Poison { reason }) => reason,
    }
}

/// A field's value as JSON text (numbers with their exact digits).
fn text_of(record: &Record, field: &str) -> Option<String> {
    record.fields.get(field).map(Value::to_string)
}

#[test]
fn processor_is_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Processor>();
}
