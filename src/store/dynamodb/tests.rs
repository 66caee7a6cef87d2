//! Tests of the DynamoDB store against wiremock speaking the DynamoDB JSON protocol.

use std::time::Duration;

use aws_sdk_dynamodb::config::{Credentials, Region};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::config::env::Environment;
use crate::config::load::{UnsetVariables, check};

const TABLE: &str = "quotes";

/// [`store_at`] `server`.
async fn store_on(server: &MockServer) -> DynamoDbStore {
    store_at(&server.uri()).await
}

/// A store on `TABLE` whose DynamoDB endpoint is `uri`, retrying after 1 ms.
async fn store_at(uri: &str) -> DynamoDbStore {
    let yaml = format!(
        "name: t\nsource:\n  url: http://127.0.0.1:9/\n  schedule: \"0 * * * * *\"\n  \
         records: $[*]\nqueue:\n  name: q\nprocess:\n  fields:\n    symbol: {{ path: $.symbol }}\n    \
         price: {{ path: $.price, type: number }}\nstore:\n  table: {TABLE}\n  key:\n    \
         partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n"
    );
    let checked = check(
        yaml.as_bytes(),
        &Environment::default(),
        UnsetVariables::Deny,
    );
    let pipeline = checked
        .pipeline
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(uri)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let mut store = DynamoDbStore::new(Aws::with_config(config), &pipeline);
    store.retry = crate::retry::backoff(Duration::from_millis(1), Duration::from_millis(1), 7);
    store
}

fn items(n: usize) -> Vec<Item> {
    (0..n)
        .map(|i| {
            let mut attributes = IndexMap::new();
            attributes.insert("symbol".to_owned(), Value::String(format!("S{i}")));
            attributes.insert("price".to_owned(), serde_json::from_str("51.7600").unwrap());
            Item {
                partition: format!("S{i}"),
                sort: None,
                attributes,
            }
        })
        .collect()
}

fn batch_write() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(header("x-amz-target", "DynamoDB_20120810.BatchWriteItem"))
}

fn reply(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/x-amz-json-1.0")
}

/// `UnprocessedItems` holding the first item of `items(…)`.
fn unprocessed() -> serde_json::Value {
    serde_json::json!({"UnprocessedItems": {TABLE: [{"PutRequest": {"Item": {
        "symbol": {"S": "S0"}, "price": {"N": "51.7600"}
    }}}]}})
}

/// The `RequestItems` of each BatchWriteItem the server received.
async fn written(server: &MockServer) -> Vec<Vec<serde_json::Value>> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            body["RequestItems"][TABLE].as_array().unwrap().clone()
        })
        .collect()
}

#[tokio::test]
async fn unprocessed_items_are_sent_again_until_none_remain() {
    let server = MockServer::start().await;
    batch_write()
        .respond_with(reply(unprocessed()))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    batch_write()
        .respond_with(reply(serde_json::json!({"UnprocessedItems": {}})))
        .mount(&server)
        .await;
    let store = store_on(&server).await;

    store
        .put_batch(&items(3))
        .await
        .expect("written in the end");

    let requests = written(&server).await;
    let sizes: Vec<usize> = requests.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 1, 1], "then only the unprocessed item, twice");
    assert_eq!(
        requests[0][0],
        serde_json::json!({"PutRequest": {"Item": {
            "symbol": {"S": "S0"}, "price": {"N": "51.7600"}
        }}}),
        "numbers go out with their exact digits"
    );
}

#[tokio::test]
async fn items_left_unprocessed_after_8_attempts_are_an_error_saying_how_many() {
    let server = MockServer::start().await;
    batch_write()
        .respond_with(reply(unprocessed()))
        .mount(&server)
        .await;
    let store = store_on(&server).await;

    let err = store.put_batch(&items(2)).await.expect_err("never written");

    assert_eq!(
        err.to_string(),
        "DynamoDB table quotes: 1 of 2 items still unprocessed after 8 BatchWriteItem \
         attempts (the table's write capacity is exceeded)"
    );
    assert_eq!(written(&server).await.len(), 8);
}

#[tokio::test]
async fn batches_are_split_at_25_items_and_deduplicated_by_key() {
    let server = MockServer::start().await;
    batch_write()
        .respond_with(reply(serde_json::json!({})))
        .mount(&server)
        .await;
    let store = store_on(&server).await;
    let mut batch = items(51);
    batch.push(items(1).remove(0));

    store.put_batch(&batch).await.expect("written");

    let sizes: Vec<usize> = written(&server).await.iter().map(Vec::len).collect();
    assert_eq!(sizes, [25, 25, 1]);
}

#[test]
fn numbers_keep_their_digits_both_ways() {
    for digits in ["51.7600", "1234567890.123456789", "-0.5", "100", "0.000001"] {
        let value: Value = serde_json::from_str(digits).unwrap();
        let attribute = to_attribute(&value).unwrap();
        assert_eq!(attribute, AttributeValue::N(digits.to_owned()));
        assert_eq!(from_attribute(&attribute).to_string(), digits);
    }
}

#[test]
fn null_is_not_stored_and_composites_are_json_text() {
    assert_eq!(to_attribute(&Value::Null), None);
    assert_eq!(
        to_attribute(&serde_json::json!([1, "a"])),
        Some(AttributeValue::S(r#"[1,"a"]"#.to_owned()))
    );
    assert_eq!(
        to_attribute(&Value::Bool(true)),
        Some(AttributeValue::Bool(true))
    );
}

#[tokio::test]
async fn a_failed_scan_names_the_table_the_operation_and_what_aws_said() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_raw(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"One or more parameter values were invalid"}"#,
                "application/x-amz-json-1.0",
            ),
        )
        .mount(&server)
        .await;
    let err = store_on(&server).await.count().await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "DynamoDB table quotes: Scan failed: ValidationException: One or more parameter \
         values were invalid"
    );
}
