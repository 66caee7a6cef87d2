//! The recorded responses in `examples/responses/` through the pipelines that describe them:
//! split with the pipeline's `source.records`, queued as messages, processed.

use jsonpath_rust::JsonPath;
use serde_json::{Map, Value};

use super::load;
use crate::config::Pipeline;
use crate::message::Message;
use crate::process::Record;

fn read(path: &str) -> String {
    let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The message bodies the poller would queue for `response`, fetched for the feed at `feed`.
fn bodies(pipeline: &Pipeline, response: &str, feed: Option<usize>) -> Vec<String> {
    let response: Value = serde_json::from_str(&read(response)).unwrap();
    let feed: Map<String, Value> = feed
        .map(|i| {
            pipeline.feeds[i]
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.0.clone())))
                .collect()
        })
        .unwrap_or_default();
    response
        .query(&pipeline.source.records)
        .unwrap()
        .into_iter()
        .map(|record| {
            Message::new(
                pipeline.name.value.clone(),
                feed.clone(),
                "2024-03-18T10:30:00.000Z".to_owned(),
                record.clone(),
            )
            .to_body()
        })
        .collect()
}

fn process_all(pipeline_file: &str, response: &str, feed: Option<usize>) -> Vec<Record> {
    let pipeline = load(&read(pipeline_file));
    let processor = super::compile(&pipeline).unwrap();
    bodies(&pipeline, response, feed)
        .iter()
        .map(|body| processor.process(body).unwrap_or_else(|p| panic!("{p}")))
        .collect()
}

/// The record's fields as `name=value` with JSON values (numbers show their exact digits).
fn fields(record: &Record) -> Vec<String> {
    record
        .fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[test]
fn stocks_pipeline_on_latest_stock_price() {
    let records = process_all(
        "pipelines/stocks.yaml",
        "examples/responses/latest-stock-price.json",
        None,
    );
    assert_eq!(records.len(), 5);
    assert_eq!(
        fields(&records[0]),
        [
            "symbol=\"NIFTY 50\"",
            "price=22055.7",
            "high=22123.95",
            "low=21917.5",
            "quoted_at=\"2024-03-18T10:29:38.000Z\"",
        ]
    );
    assert_eq!(records[0].key.partition, "NIFTY 50");
    assert_eq!(
        records[0].key.sort.as_deref(),
        Some("2024-03-18T10:29:38.000Z")
    );
    assert_eq!(records[1].key.partition, "RELIANCE");
    assert_eq!(
        records[1].key.sort.as_deref(),
        Some("2024-03-18T10:29:37.000Z")
    );
    assert!(records.iter().all(|r| r.feed.is_empty()));
}

#[test]
fn nse_closing_prices_on_latest_stock_price() {
    let records = process_all(
        "examples/latest-stock-price-any.yaml",
        "examples/responses/latest-stock-price.json",
        None,
    );
    assert_eq!(
        fields(&records[1]),
        [
            "symbol=\"RELIANCE\"",
            "identifier=\"RELIANCEEQN\"",
            "open=2855",
            "high=2910.45",
            "low=2848.1",
            "close=2893.9",
            "previous_close=2856.25",
            "change=37.65",
            "change_percent=1.32",
            "volume=5912384",
            "quoted_at=\"2024-03-18T10:29:37.000Z\"",
        ]
    );
    assert_eq!(fields(&records[3])[7], "change=-8.65");
}

#[test]
fn alpha_vantage_global_quote_keeps_text_digits() {
    let records = process_all(
        "examples/alpha-vantage-global-quote.yaml",
        "examples/responses/alpha-vantage-global-quote.json",
        Some(0),
    );
    assert_eq!(records.len(), 1);
    assert_eq!(
        fields(&records[0]),
        [
            "symbol=\"MSFT\"",
            "open=417.3200",
            "high=422.6000",
            "low=415.2900",
            "price=421.4100",
            "volume=22148012",
            "previous_close=425.2200",
            "change=-3.8100",
            "trading_day=\"2024-03-15T04:00:00.000Z\"",
        ]
    );
    assert_eq!(records[0].key.partition, "MSFT");
    assert_eq!(
        records[0].key.sort.as_deref(),
        Some("2024-03-15T04:00:00.000Z")
    );
    assert_eq!(records[0].feed["symbol"], "MSFT");
}

#[test]
fn alpha_vantage_unknown_symbol_would_be_poison() {
    // `source.errors` keeps this body out of the queue; were it queued, it would be poison.
    let pipeline = load(&read("examples/alpha-vantage-global-quote.yaml"));
    let processor = super::compile(&pipeline).unwrap();
    let bodies = bodies(
        &pipeline,
        "examples/responses/alpha-vantage-unknown-symbol.json",
        Some(0),
    );
    assert_eq!(bodies.len(), 1);
    let reason = processor.process(&bodies[0]).unwrap_err().reason;
    assert_eq!(
        reason,
        "required fields `symbol` (path `$['01. symbol']`) is missing; \
         `price` (path `$['05. price']`) is missing; \
         `trading_day` (path `$['07. latest trading day']`) is missing"
    );
}

#[test]
fn twelve_data_quote_with_epoch_seconds() {
    let records = process_all(
        "examples/twelve-data-quote.yaml",
        "examples/responses/twelve-data-quote.json",
        Some(2),
    );
    assert_eq!(records.len(), 1);
    assert_eq!(
        fields(&records[0]),
        [
            "symbol=\"AMZN\"",
            "name=\"Amazon.com Inc\"",
            "exchange=\"NASDAQ\"",
            "open=176.64000",
            "high=177.92999",
            "low=173.89999",
            "close=174.42000",
            "previous_close=178.75000",
            "change=-4.33000",
            "percent_change=-2.42238",
            "volume=72115500",
            "market_open=false",
            "quoted_at=\"2024-03-15T04:00:00.000Z\"",
        ]
    );
    assert_eq!(records[0].key.partition, "AMZN");
    assert_eq!(
        records[0].key.sort.as_deref(),
        Some("2024-03-15T04:00:00.000Z")
    );
    assert_eq!(records[0].feed["symbol"], "AMZN");
}
