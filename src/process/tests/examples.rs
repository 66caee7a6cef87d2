//! The recorded responses in `examples/responses/` through the pipelines that describe them:
//! split by the pipeline's compiled source (`source.records`, member names, `root` values),
//! queued as messages, processed.

use serde_json::{Map, Value};

use super::load;
use crate::message::Message;
use crate::process::Record;

fn read(path: &str) -> String {
    let path = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The message bodies the poller would queue for `response`, fetched for the feed at `feed`:
/// split by the pipeline's own compiled source, told what the fields take from the response as
/// `crate::compile` tells it, so as a poll splits it.
fn bodies(pipeline_text: &str, response: &str, feed: Option<usize>) -> Vec<String> {
    let pipeline = load(pipeline_text);
    let source = crate::source::CompiledSource::new(
        &pipeline.source,
        crate::source::Schedule::new(&pipeline.source).ok(),
        Some(&pipeline.feeds),
    )
    .unwrap_or_else(|_| panic!("the source compiles"))
    .with_context(&crate::source::Context {
        member_name: pipeline.process.uses_member_name(),
        root: pipeline.process.root_paths(),
    });
    let feed: Map<String, Value> = feed
        .map(|i| {
            pipeline.feeds[i]
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.0.clone())))
                .collect()
        })
        .unwrap_or_default();
    source
        .messages_of(
            &pipeline.name,
            &feed,
            "2024-03-18T10:30:00.000Z",
            read(response).into_bytes(),
        )
        .unwrap()
        .iter()
        .map(Message::to_body)
        .collect()
}

fn process_all(pipeline_file: &str, response: &str, feed: Option<usize>) -> Vec<Record> {
    let text = read(pipeline_file);
    let processor = super::compile(&load(&text)).unwrap();
    bodies(&text, response, feed)
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
    // So its record is the one `source.records` selects, queued by hand.
    let processor = super::compile(&load(&read("examples/alpha-vantage-global-quote.yaml")));
    let response: Value = serde_json::from_str(&read(
        "examples/responses/alpha-vantage-unknown-symbol.json",
    ))
    .unwrap();
    let body = Message::new(
        "alpha-vantage-global-quote".to_owned(),
        Map::new(),
        "2024-03-18T10:30:00.000Z".to_owned(),
        response["Global Quote"].clone(),
    )
    .to_body();
    let reason = processor.unwrap().process(&body).unwrap_err().reason;
    assert_eq!(
        reason,
        "required fields `symbol` (path `$['01. symbol']`) is missing; \
         `price` (path `$['05. price']`) is missing; \
         `previous_close` (path `$['08. previous close']`) is missing; \
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

#[test]
fn alpha_vantage_daily_takes_the_date_from_the_member_and_the_symbol_from_the_root() {
    let records = process_all(
        "examples/alpha-vantage-daily.yaml",
        "examples/responses/alpha-vantage-time-series-daily.json",
        Some(0),
    );
    assert_eq!(records.len(), 5);
    let rows: Vec<Vec<String>> = records.iter().map(fields).collect();
    assert_eq!(
        rows[0],
        [
            "symbol=\"IBM\"",
            "date=\"2024-03-15T04:00:00.000Z\"",
            "open=191.9900",
            "high=193.0573",
            "low=190.7000",
            "close=191.0700",
            "volume=8828184",
        ]
    );
    assert_eq!(
        rows[4],
        [
            "symbol=\"IBM\"",
            "date=\"2024-03-11T04:00:00.000Z\"",
            "open=192.0000",
            "high=192.7600",
            "low=190.2100",
            "close=191.7300",
            "volume=4080069",
        ]
    );
    let keys: Vec<(&str, Option<&str>)> = records
        .iter()
        .map(|r| (r.key.partition.as_str(), r.key.sort.as_deref()))
        .collect();
    assert_eq!(
        keys,
        [
            ("IBM", Some("2024-03-15T04:00:00.000Z")),
            ("IBM", Some("2024-03-14T04:00:00.000Z")),
            ("IBM", Some("2024-03-13T04:00:00.000Z")),
            ("IBM", Some("2024-03-12T04:00:00.000Z")),
            ("IBM", Some("2024-03-11T04:00:00.000Z")),
        ]
    );
}

#[test]
fn alpha_vantage_daily_messages_carry_the_member_name_and_the_root_value() {
    let text = read("examples/alpha-vantage-daily.yaml");
    let bodies = bodies(
        &text,
        "examples/responses/alpha-vantage-time-series-daily.json",
        Some(0),
    );
    let first: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(first["member"], "2024-03-15");
    assert_eq!(
        first["root"],
        serde_json::json!({"$['Meta Data']['2. Symbol']": "IBM"})
    );
    assert_eq!(first["record"]["4. close"], "191.0700");
}

#[test]
fn without_its_member_name_or_root_value_a_daily_record_is_poison() {
    // A message queued by a poller that did not send them (an older one) names what is missing.
    let text = read("examples/alpha-vantage-daily.yaml");
    let processor = super::compile(&load(&text)).unwrap();
    let body = Message::new(
        "alpha-vantage-daily".to_owned(),
        Map::new(),
        "2024-03-18T10:30:00.000Z".to_owned(),
        serde_json::json!({"4. close": "191.0700"}),
    )
    .to_body();
    assert_eq!(
        processor.process(&body).unwrap_err().reason,
        "required fields `symbol` (root `$['Meta Data']['2. Symbol']`) is missing; \
         `date` (member name) is missing"
    );
}
