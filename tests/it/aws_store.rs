//! The DynamoDB store and the SES v2 notifier against moto, at library level. Each test builds
//! its own `Aws` from an explicit SDK configuration (tests share one process, so no environment
//! variables) and its own uniquely named table or sender, so the tests run in parallel on one
//! server. Here: what only DynamoDB does (BatchWriteItem requests of 25, a missing table) and
//! SES; the store semantics it shares with the local store are the contract suite's
//! (`contract::store`).

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;
use stockrun::aws::Aws;
use stockrun::config::Pipeline;
use stockrun::notify::ses::Ses;
use stockrun::notify::{Email, Notifier};
use stockrun::store::dynamodb::DynamoDbStore;
use stockrun::store::{Item, Store};

use crate::moto::{aws_at, moto_url, sent_emails, unique};

/// An `Aws` talking to moto.
async fn aws() -> Arc<Aws> {
    aws_at(&moto_url()).await
}

/// A quote pipeline writing to `table` (key: symbol + quoted_at): the contract suite's.
fn pipeline(table: &str) -> Pipeline {
    crate::contract::store::pipeline(table, crate::contract::store::Key::PartitionAndSort)
}

/// Creates `table` the way `stockrun init` does: string keys symbol (hash) + quoted_at (range).
async fn create_table(aws: &Aws, table: &str) {
    crate::contract::store::create_table(aws, table, crate::contract::store::Key::PartitionAndSort)
        .await;
}

/// A store on a fresh table of its own.
async fn fresh_store(prefix: &str) -> (Arc<Aws>, DynamoDbStore) {
    let aws = aws().await;
    let table = unique(prefix);
    create_table(&aws, &table).await;
    let store = DynamoDbStore::new(aws.clone(), &pipeline(&table));
    (aws, store)
}

/// A quote as the batch handler builds it: key attributes, fields in pipeline order, insert time.
/// `price` and `high` are JSON number text, kept digit for digit.
fn quote(
    symbol: &str,
    quoted_at: &str,
    price: &str,
    high: Option<&str>,
    inserted_at: &str,
) -> Item {
    let number = |digits: &str| serde_json::from_str::<Value>(digits).expect("a JSON number");
    let mut attributes = IndexMap::new();
    attributes.insert("symbol".to_owned(), Value::String(symbol.to_owned()));
    attributes.insert("quoted_at".to_owned(), Value::String(quoted_at.to_owned()));
    attributes.insert("price".to_owned(), number(price));
    if let Some(high) = high {
        attributes.insert("high".to_owned(), number(high));
    }
    attributes.insert(
        "inserted_at".to_owned(),
        Value::String(inserted_at.to_owned()),
    );
    Item {
        partition: symbol.to_owned(),
        sort: Some(quoted_at.to_owned()),
        attributes,
    }
}

const INSERTED: &str = "2024-03-18T10:30:00.000Z";

#[tokio::test]
async fn twenty_six_items_are_written_in_two_requests_of_25_and_1() {
    let (aws, store) = fresh_store("split").await;
    let items: Vec<Item> = (0..26)
        .map(|i| {
            quote(
                &format!("SYM{i:02}"),
                "2024-03-18T10:29:38Z",
                "1.5",
                None,
                INSERTED,
            )
        })
        .collect();

    let before = aws.requests();
    store.put_batch(&items).await.expect("the batch is written");
    assert_eq!(
        aws.requests() - before,
        2,
        "one BatchWriteItem of 25 items and one of 1"
    );
    assert_eq!(store.count().await.expect("count"), 26);
}

#[tokio::test]
async fn a_missing_table_says_how_to_create_it() {
    let aws = aws().await;
    let table = unique("missing");
    let store = DynamoDbStore::new(aws, &pipeline(&table));
    let hint = format!(
        "DynamoDB table {table} does not exist: create it with `stockrun init FILE --backend aws`"
    );

    let item = quote("X", "2024-03-18T10:29:38Z", "1", None, INSERTED);
    let write = store.put_batch(&[item]).await.expect_err("no table");
    assert_eq!(write.to_string(), hint);
    let count = store.count().await.expect_err("no table");
    assert_eq!(count.to_string(), hint);
    let recent = store.recent(5).await.expect_err("no table");
    assert_eq!(recent.to_string(), hint);
}

/// Creates (in moto: verifies at once) the e-mail identity `address`.
async fn create_identity(aws: &Aws, address: &str) {
    aws.sesv2()
        .await
        .create_email_identity()
        .email_identity(address)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create identity {address}: {}",
                aws_sdk_sesv2::error::DisplayErrorContext(&e)
            )
        });
}

fn email(from: &str, subject: &str, html: Option<&str>) -> Email {
    Email {
        from: from.parse().expect("an address"),
        to: vec![
            "me@example.com".parse().expect("an address"),
            "ops@example.com".parse().expect("an address"),
        ],
        subject: subject.to_owned(),
        text: "RELIANCE: 51.7600 (high 52.10)\n".to_owned(),
        html: html.map(str::to_owned),
        images: Vec::new(),
    }
}

#[tokio::test]
async fn ses_sends_text_and_html_and_text_only_emails() {
    let aws = aws().await;
    let from = format!("{}@example.com", unique("sender"));
    create_identity(&aws, &from).await;
    let ses = Ses::new(aws);
    let with_html = unique("html");
    let text_only = unique("text");

    let sent = ses
        .send(&email(&from, &with_html, Some("<p>RELIANCE: 51.7600</p>")))
        .await
        .expect("sent");
    assert!(sent.starts_with("SES message "), "{sent}");
    ses.send(&email(&from, &text_only, None))
        .await
        .expect("sent");

    let emails = sent_emails();
    let find = |subject: &str| {
        emails
            .iter()
            .find(|e| e["subject"] == subject)
            .unwrap_or_else(|| panic!("no e-mail `{subject}` in {emails:#?}"))
    };
    let to = serde_json::json!({ "ToAddresses": ["me@example.com", "ops@example.com"] });
    let html = find(&with_html);
    assert_eq!(html["source"], from.as_str());
    assert_eq!(html["destinations"], to);
    // With text and HTML, moto keeps only the HTML part.
    assert_eq!(html["body"], "<p>RELIANCE: 51.7600</p>");
    assert_eq!(
        sent,
        format!("SES message {}", html["id"].as_str().expect("an id"))
    );
    let text = find(&text_only);
    assert_eq!(text["source"], from.as_str());
    assert_eq!(text["destinations"], to);
    assert_eq!(text["body"], "RELIANCE: 51.7600 (high 52.10)\n");
}

#[tokio::test]
async fn ses_with_an_unverified_sender_says_how_to_verify_it() {
    let ses = Ses::new(aws().await);
    let from = format!("{}@example.com", unique("nobody"));

    let err = ses
        .send(&email(&from, "never sent", None))
        .await
        .expect_err("the sender identity does not exist");
    let message = err.to_string();
    assert!(
        message.contains(&format!("the e-mail from {from} was rejected"))
            && message.contains("MessageRejected")
            && message
                .ends_with("create/verify the sender identity: `stockrun init FILE --backend aws`"),
        "{message}"
    );
}
