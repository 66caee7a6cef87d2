//! The processor on arbitrary queued message bodies: `Processor::process` never panics, it
//! returns a record or a poison reason. Half the inputs are taken as the whole message body,
//! the other half (when they are JSON) as the record inside a well-formed message, so the
//! field conversions and key rendering are reached too.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use stockrun::config::env::Environment;
use stockrun::config::load::{UnsetVariables, check};
use stockrun::message::Message;
use stockrun::process::Processor;

/// Every field type, a timestamp with a format and a time zone, a two-part key with helpers.
const PIPELINE: &str = r#"
name: fuzz
source:
  url: https://api.example.com/q?symbol={{symbol}}
  records: $[*]
feeds:
  - { symbol: AAPL, exchange: NSE }
process:
  fields:
    symbol:  { path: $.symbol, required: true }
    price:   { path: $.price, type: number, required: true }
    volume:  { path: $.volume, type: integer }
    open:    { path: "$.market.open", type: bool }
    when:    { path: $.time, type: timestamp, format: "%d-%b-%Y %H:%M:%S", timezone: Asia/Kolkata }
    epoch:   { path: $.epoch, type: timestamp }
    tags:    { path: "$.tags[0]" }
store:
  table: quotes
  key:
    partition: { name: symbol, value: "{{feed.exchange}}#{{symbol}}" }
    sort: { name: at, value: "{{when}}-{{price}}" }
"#;

fn processor() -> &'static Processor {
    static PROCESSOR: OnceLock<Processor> = OnceLock::new();
    PROCESSOR.get_or_init(|| {
        let checked = check(
            PIPELINE.as_bytes(),
            &Environment::default(),
            UnsetVariables::Warn,
        );
        let pipeline = checked.pipeline.expect("the fuzz pipeline is valid");
        Processor::new(&pipeline).expect("the fuzz pipeline compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if mode % 2 == 0 {
        let _ = processor().process(&text);
    } else if let Ok(record) = serde_json::from_str::<Value>(&text) {
        let mut feed = Map::new();
        feed.insert("exchange".into(), Value::String("NSE".into()));
        let body = Message {
            pipeline: "fuzz".into(),
            feed,
            fetched_at: "2024-03-18T10:29:38.000Z".into(),
            record,
        }
        .to_body();
        let _ = processor().process(&body);
    }
});
