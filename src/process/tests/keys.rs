//! Rendering the store key.

use serde_json::{Map, json};

use super::{body_for, compile, pipeline};
use crate::process::{Key, Processor};

fn keyed(key: &str) -> Processor {
    let fields = "symbol: { path: $.symbol, required: true }\n\
                  at: { path: $.at, type: timestamp, required: true }\n\
                  price: { path: $.price, type: number }\n\
                  note: { path: $.note }";
    compile(&pipeline(fields, key)).expect("compiles")
}

fn key_of(p: &Processor, record: &str) -> Result<Key, String> {
    let mut feed = Map::new();
    feed.insert("exchange".into(), json!("NSE"));
    p.process(&body_for("test", record, feed))
        .map(|r| r.key)
        .map_err(|p| p.reason)
}

const BOTH: &str =
    "partition: { name: symbol, value: \"{{symbol}}\" }\nsort: { name: at, value: \"{{at}}\" }";

#[test]
fn keys_come_from_typed_fields() {
    let key = key_of(
        &keyed(BOTH),
        r#"{"symbol":"MSFT","at":"2024-03-15T16:00:00-04:00"}"#,
    )
    .unwrap();
    assert_eq!(
        key,
        Key {
            partition: "MSFT".into(),
            sort: Some("2024-03-15T20:00:00.000Z".into())
        }
    );
}

#[test]
fn keys_are_not_html_escaped() {
    for template in ["{{symbol}}", "{{symbol}}#{{at}}", "{{{symbol}}}"] {
        let p = keyed(&format!("partition: {{ name: pk, value: \"{template}\" }}"));
        let key = key_of(&p, r#"{"symbol":"S&P <500> \"x\"","at":0}"#).unwrap();
        assert!(
            key.partition.starts_with("S&P <500> \"x\""),
            "{template}: {}",
            key.partition
        );
    }
}

#[test]
fn templates_combine_fields_and_the_feed() {
    let p = keyed(
        "partition: { name: pk, value: \"{{feed.exchange}}:{{symbol}}\" }\nsort: { name: sk, value: \"{{price}}\" }",
    );
    let key = key_of(&p, r#"{"symbol":"TCS","at":0,"price":4173.850}"#).unwrap();
    assert_eq!(key.partition, "NSE:TCS");
    assert_eq!(key.sort.as_deref(), Some("4173.850"));
}

#[test]
fn a_key_using_a_missing_optional_field_is_poison() {
    let direct = keyed(
        "partition: { name: symbol, value: \"{{symbol}}\" }\nsort: { name: p, value: \"{{price}}\" }",
    );
    let reason = key_of(&direct, r#"{"symbol":"A","at":0}"#).unwrap_err();
    assert_eq!(
        reason,
        "the sort key `{{price}}` needs `price`, which this record does not have (an optional \
         field that is missing or could not be converted)"
    );
    let templated = keyed(
        "partition: { name: symbol, value: \"{{symbol}}\" }\nsort: { name: p, value: \"p{{price}}\" }",
    );
    let reason = key_of(&templated, r#"{"symbol":"A","at":0,"price":"n/a"}"#).unwrap_err();
    assert_eq!(
        reason,
        "the sort key `p{{price}}` needs `price`, which this record does not have (an optional \
         field that is missing or could not be converted)"
    );
}

#[test]
fn an_empty_key_is_poison() {
    let reason = key_of(&keyed(BOTH), r#"{"symbol":"","at":0}"#).unwrap_err();
    assert_eq!(
        reason,
        "the partition key `{{symbol}}` renders empty for this record"
    );
}

#[test]
fn an_oversized_key_is_poison() {
    let long = "x".repeat(1025);
    assert!(
        key_of(
            &keyed(BOTH),
            &format!(r#"{{"symbol":"A","at":0,"note":"{long}"}}"#)
        )
        .is_ok()
    );
    let p = keyed(
        "partition: { name: symbol, value: \"{{symbol}}\" }\nsort: { name: n, value: \"{{note}}\" }",
    );
    let reason = key_of(&p, &format!(r#"{{"symbol":"A","at":0,"note":"{long}"}}"#)).unwrap_err();
    assert_eq!(
        reason,
        "the sort key `{{note}}` renders 1025 bytes; DynamoDB allows at most 1024"
    );
}

#[test]
fn fast_and_handlebars_rendering_agree() {
    let record = r#"{"symbol":"A&B","at":"2024-03-15","price":-0.50}"#;
    for field in ["symbol", "at", "price"] {
        let direct = keyed(&format!(
            "partition: {{ name: pk, value: \"{{{{{field}}}}}\" }}"
        ));
        let spaced = keyed(&format!(
            "partition: {{ name: pk, value: \"{{{{ {field} }}}}\" }}"
        ));
        let general = keyed(&format!(
            "partition: {{ name: pk, value: \"{{{{this.{field}}}}}\" }}"
        ));
        let expected = key_of(&general, record).unwrap();
        assert_eq!(key_of(&direct, record).unwrap(), expected, "{field}");
        assert_eq!(key_of(&spaced, record).unwrap(), expected, "{field}");
    }
}
