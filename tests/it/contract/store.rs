//! The store contract: what `run` and `show` rely on from any `Store` — writes read back as
//! written (attribute order included), `recent` newest first and limited, `count`, one item per
//! key with the later value, numbers digit for digit, tables with and without a sort key, batches
//! over DynamoDB's 25 — and what the alert rules read: a series' previous record, a range of it,
//! stored items by key and the whole history in order — run against the SQLite store (`local::…`) and DynamoDB in moto
//! (`dynamodb::…`).

use std::collections::HashSet;
use std::ops::Deref;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use indexmap::IndexMap;
use serde_json::Value;
use stockrun::config::Pipeline;
use stockrun::store::dynamodb::DynamoDbStore;
use stockrun::store::local::LocalStore;
use stockrun::store::{Item, Store};
use tempfile::TempDir;

use super::contract_tests;
use crate::moto::{aws_at, moto_url, unique};

/// The attribute holding each item's insert time.
const INSERTED_AT: &str = "inserted_at";

/// The two implementations of the contract.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// `LocalStore` in a SQLite file of its own.
    Local,
    /// `DynamoDbStore` on a moto table of its own, created the way `stockrun init` does.
    DynamoDb,
}

/// The key of the table under test: `symbol`, and `quoted_at` as the sort key or a plain field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    PartitionAndSort,
    PartitionOnly,
}

/// A store under test, and what must live as long as it.
struct Subject {
    store: Box<dyn Store>,
    key: Key,
    _dir: Option<TempDir>,
}

impl Deref for Subject {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl Backend {
    /// A fresh, empty table keyed by `key`.
    async fn store(self, key: Key) -> Subject {
        let table = unique("contract");
        let pipeline = pipeline(&table, key);
        let (store, dir): (Box<dyn Store>, _) = match self {
            Backend::Local => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let store = LocalStore::open(&dir.path().join("store.db"), &table, INSERTED_AT)
                    .expect("open the local store");
                (Box::new(store), Some(dir))
            }
            Backend::DynamoDb => {
                let aws = aws_at(&moto_url()).await;
                create_table(&aws, &table, key).await;
                (Box::new(DynamoDbStore::new(aws, &pipeline)), None)
            }
        };
        Subject {
            store,
            key,
            _dir: dir,
        }
    }
}

/// A quote pipeline writing to `table`: fields symbol, price, high, quoted_at.
pub(crate) fn pipeline(table: &str, key: Key) -> Pipeline {
    let sort = match key {
        Key::PartitionAndSort => "\n    sort:      { name: quoted_at, value: \"{{quoted_at}}\" }",
        Key::PartitionOnly => "",
    };
    let yaml = format!(
        r#"name: quotes
source:
  url: http://127.0.0.1:9/any
  schedule: "0 * * * * *"
  records: $[*]
queue:
  name: quotes
process:
  fields:
    symbol:    {{ path: $.symbol, type: string, required: true }}
    price:     {{ path: $.lastPrice, type: number, required: true }}
    high:      {{ path: $.dayHigh, type: number }}
    quoted_at: {{ path: $.lastUpdateTime, type: string, required: true }}
store:
  table: {table}
  key:
    partition: {{ name: symbol, value: "{{{{symbol}}}}" }}{sort}
  inserted_at: {INSERTED_AT}
"#
    );
    crate::support::parse_pipeline(&yaml)
}

/// Creates `table` the way `stockrun init` does: string keys, on-demand billing.
pub(crate) async fn create_table(aws: &stockrun::aws::Aws, table: &str, key: Key) {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("complete attribute definition")
    };
    let element = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("complete key element")
    };
    let mut request = aws
        .dynamodb()
        .await
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute("symbol"))
        .key_schema(element("symbol", KeyType::Hash))
        .billing_mode(BillingMode::PayPerRequest);
    if key == Key::PartitionAndSort {
        request = request
            .attribute_definitions(attribute("quoted_at"))
            .key_schema(element("quoted_at", KeyType::Range));
    }
    request.send().await.unwrap_or_else(|e| {
        panic!(
            "create table {table}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )
    });
}

/// A quote as the batch handler builds it, in display order: the key attributes, the fields in
/// pipeline order, the insert time. `price` and `high` are JSON number text.
fn quote(
    key: Key,
    symbol: &str,
    quoted_at: &str,
    price: &str,
    high: Option<&str>,
    inserted_at: &str,
) -> Item {
    let number = |digits: &str| serde_json::from_str::<Value>(digits).expect("a JSON number");
    let mut attributes = IndexMap::new();
    attributes.insert("symbol".to_owned(), Value::String(symbol.to_owned()));
    if key == Key::PartitionAndSort {
        attributes.insert("quoted_at".to_owned(), Value::String(quoted_at.to_owned()));
    }
    attributes.insert("price".to_owned(), number(price));
    if let Some(high) = high {
        attributes.insert("high".to_owned(), number(high));
    }
    if key == Key::PartitionOnly {
        attributes.insert("quoted_at".to_owned(), Value::String(quoted_at.to_owned()));
    }
    attributes.insert(
        INSERTED_AT.to_owned(),
        Value::String(inserted_at.to_owned()),
    );
    Item {
        partition: symbol.to_owned(),
        sort: (key == Key::PartitionAndSort).then(|| quoted_at.to_owned()),
        attributes,
    }
}

const QUOTED: &str = "2024-03-18T10:29:38.000Z";
const INSERTED: &str = "2024-03-18T10:30:00.000Z";

async fn put(store: &Subject, items: &[Item]) {
    store.put_batch(items).await.expect("put_batch");
}

async fn recent(store: &Subject, limit: usize) -> Vec<Item> {
    store.recent(limit).await.expect("recent")
}

/// Asserts that `read` is `want`, each item's attributes in the same order too (`Item`'s
/// equality ignores the order; `show` prints them in it).
#[track_caller]
fn assert_items(read: &[Item], want: &[Item]) {
    assert_eq!(read, want);
    for (read, want) in read.iter().zip(want) {
        let order = |item: &Item| item.attributes.keys().cloned().collect::<Vec<_>>();
        assert_eq!(order(read), order(want), "the attribute order of {read:?}");
    }
}

async fn count(store: &Subject) -> u64 {
    store.count().await.expect("count")
}

// --- the cases ------------------------------------------------------------------------------

/// Written items are counted and read back as written, newest first, at most `limit`.
async fn written_items_are_counted_and_read_back_newest_first(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    assert_eq!(count(&store).await, 0);
    assert!(recent(&store, 10).await.is_empty());
    let at = |inserted: &str| quote(store.key, "INFY", inserted, "3", Some("3.5"), inserted);
    let oldest = at("2024-03-18T10:00:00.000Z");
    let newest = at("2024-03-18T12:00:00.000Z");
    let middle = at("2024-03-18T11:00:00.000Z");

    put(&store, &[oldest.clone(), newest.clone(), middle.clone()]).await;

    assert_eq!(count(&store).await, 3);
    assert_eq!(
        recent(&store, 2).await,
        vec![newest.clone(), middle.clone()]
    );
    assert_eq!(recent(&store, 10).await, vec![newest, middle, oldest]);
}

/// Writing a key again (same partition and sort) replaces the item: one item, the later value.
async fn the_same_key_written_again_is_one_item_with_the_later_value(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    let other = quote(store.key, "INFY", QUOTED, "1609.7500", None, INSERTED);
    put(
        &store,
        &[
            quote(store.key, "TCS", QUOTED, "3990.10", None, INSERTED),
            other.clone(),
        ],
    )
    .await;
    let later = quote(
        store.key,
        "TCS",
        QUOTED,
        "3990.20",
        None,
        "2024-03-18T10:31:00.000Z",
    );

    put(&store, std::slice::from_ref(&later)).await;

    assert_eq!(count(&store).await, 2);
    assert_items(&recent(&store, 10).await, &[later, other]);
}

/// The same key twice in one batch is one item, the last of the batch.
async fn the_same_key_twice_in_one_batch_is_one_item_and_the_last_wins(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    let first = quote(store.key, "TCS", QUOTED, "1", None, INSERTED);
    let second = quote(store.key, "TCS", QUOTED, "2", None, INSERTED);

    put(&store, &[first, second.clone()]).await;

    assert_eq!(count(&store).await, 1);
    assert_items(&recent(&store, 10).await, &[second]);
}

/// Numbers come back with the digits they were written with: trailing zeros, more digits than
/// an `f64` holds, negative fractions.
async fn numbers_round_trip_digit_for_digit(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    // (DynamoDB itself trims trailing zeros, `51.76`; moto keeps N as sent, like SQLite.)
    let digits = [
        ("A", "51.7600", "123456789012345678.25"),
        ("B", "-0.0001", "1234567890.123456789"),
        ("C", "0", "-98765432109876543210"),
    ];
    let written: Vec<Item> = digits
        .iter()
        .map(|(symbol, price, high)| quote(store.key, symbol, QUOTED, price, Some(high), INSERTED))
        .collect();

    put(&store, &written).await;

    let read = recent(&store, 10).await;
    assert_items(&read, &written);
    for (item, (_, price, high)) in read.iter().zip(digits) {
        assert_eq!(item.attributes["price"].to_string(), price);
        assert_eq!(item.attributes["high"].to_string(), high);
    }
}

/// A table keyed by the partition alone: one item per partition, no sort key read back.
async fn a_table_without_a_sort_key_keeps_one_item_per_partition(backend: Backend) {
    let store = backend.store(Key::PartitionOnly).await;
    let infy = quote(store.key, "INFY", QUOTED, "1609.75", None, INSERTED);
    put(
        &store,
        &[
            quote(store.key, "TCS", QUOTED, "3990.10", None, INSERTED),
            infy.clone(),
        ],
    )
    .await;
    // Another quote time is the same key when the table has no sort key.
    let later = quote(
        store.key,
        "TCS",
        "2024-03-18T10:30:38.000Z",
        "3990.20",
        Some("3991"),
        "2024-03-18T10:31:00.000Z",
    );

    put(&store, std::slice::from_ref(&later)).await;

    assert_eq!(count(&store).await, 2);
    let read = recent(&store, 10).await;
    assert_items(&read, &[later, infy]);
    assert!(read.iter().all(|item| item.sort.is_none()), "{read:#?}");
}

/// A batch over DynamoDB's limit of 25 items per request arrives whole.
async fn every_item_of_a_batch_over_25_arrives(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    let items: Vec<Item> = (0..30)
        .map(|i| {
            quote(
                store.key,
                &format!("SYM{i:02}"),
                QUOTED,
                "1.5",
                None,
                INSERTED,
            )
        })
        .collect();

    put(&store, &items).await;

    assert_eq!(count(&store).await, 30);
    let read: HashSet<String> = recent(&store, 100)
        .await
        .into_iter()
        .map(|item| item.partition)
        .collect();
    let written: HashSet<String> = items.into_iter().map(|item| item.partition).collect();
    assert_eq!(read, written);
}

const T1: &str = "2024-03-18T10:00:00.000Z";
const T2: &str = "2024-03-18T11:00:00.000Z";
const T3: &str = "2024-03-18T12:00:00.000Z";

/// INFY quoted at T1, T2 and T3, TCS at T2; the items written, in that order.
async fn three_infy_one_tcs(store: &Subject) -> Vec<Item> {
    let items: Vec<Item> = [
        ("INFY", T1, "1"),
        ("INFY", T2, "2"),
        ("INFY", T3, "3"),
        ("TCS", T2, "9"),
    ]
    .iter()
    .map(|(symbol, at, price)| quote(store.key, symbol, at, price, None, INSERTED))
    .collect();
    put(store, &items).await;
    items
}

/// The previous record of a series is the one with the greatest sort key below the given one,
/// whatever order they were written in; none before the first.
async fn previous_is_the_greatest_sort_key_below(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    let items = three_infy_one_tcs(&store).await;
    let previous = |before: &'static str| store.previous("INFY", before);

    assert_eq!(
        previous(T3).await.expect("previous"),
        Some(items[1].clone())
    );
    assert_eq!(
        previous("2024-03-18T11:30:00.000Z")
            .await
            .expect("previous"),
        Some(items[1].clone())
    );
    assert_eq!(
        previous("9999").await.expect("previous"),
        Some(items[2].clone())
    );
    assert_eq!(previous(T1).await.expect("previous"), None);
    assert_eq!(store.previous("NONE", T3).await.expect("previous"), None);
}

/// A range is from its start (inclusive) to its end (exclusive), by sort key, of one series.
async fn range_is_from_inclusive_to_before_exclusive(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    let items = three_infy_one_tcs(&store).await;

    assert_eq!(
        store.range("INFY", T1, T3).await.expect("range"),
        items[..2]
    );
    assert_eq!(
        store.range("INFY", T2, "9999").await.expect("range"),
        items[1..3]
    );
    assert_eq!(store.range("TCS", T1, T3).await.expect("range"), items[3..]);
    assert!(store.range("INFY", T3, T1).await.expect("range").is_empty());
    assert!(store.range("INFY", T2, T2).await.expect("range").is_empty());
}

/// `existing` finds the stored items among the keys asked for, however many (DynamoDB reads
/// 100 keys per request), a key asked twice once, a key not stored left out.
async fn existing_finds_the_stored_items_among_many_keys(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    let items = three_infy_one_tcs(&store).await;
    let mut keys: Vec<(String, Option<String>)> = (0..120)
        .map(|i| (format!("MISSING{i}"), Some(T1.to_owned())))
        .collect();
    keys.push(("INFY".to_owned(), Some(T2.to_owned())));
    keys.push(("TCS".to_owned(), Some(T2.to_owned())));
    keys.push(("INFY".to_owned(), Some(T2.to_owned())));
    keys.push(("TCS".to_owned(), Some(T3.to_owned())));

    let mut found = store.existing(&keys).await.expect("existing");

    found.sort_by(|a, b| a.partition.cmp(&b.partition));
    assert_eq!(found, vec![items[1].clone(), items[3].clone()]);
    assert!(store.existing(&[]).await.expect("existing").is_empty());
}

/// The history is every item by partition then sort key, from a sort key on, of one series or
/// all.
async fn history_is_by_partition_then_sort_key_from_since(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    let items = three_infy_one_tcs(&store).await;

    assert_eq!(store.history(None, None).await.expect("history"), items);
    assert_eq!(
        store.history(Some(T2), None).await.expect("history"),
        items[1..]
    );
    assert_eq!(
        store.history(None, Some("INFY")).await.expect("history"),
        items[..3]
    );
    assert_eq!(
        store
            .history(Some(T3), Some("INFY"))
            .await
            .expect("history"),
        items[2..3]
    );
    assert!(
        store
            .history(None, Some("NONE"))
            .await
            .expect("history")
            .is_empty()
    );
}

/// A table keyed by the partition alone has no history: no previous record, no range; its
/// items are still found by key and listed (`since` compares sort keys, which it has none of).
async fn a_table_without_a_sort_key_has_no_previous_record(backend: Backend) {
    let store = backend.store(Key::PartitionOnly).await;
    let infy = quote(store.key, "INFY", T2, "2", None, INSERTED);
    let tcs = quote(store.key, "TCS", T2, "9", None, INSERTED);
    put(&store, &[tcs.clone(), infy.clone()]).await;

    assert_eq!(
        store.previous("INFY", "9999").await.expect("previous"),
        None
    );
    assert!(
        store
            .range("INFY", "", "9999")
            .await
            .expect("range")
            .is_empty()
    );
    let keys = [("INFY".to_owned(), None), ("NONE".to_owned(), None)];
    assert_eq!(
        store.existing(&keys).await.expect("existing"),
        vec![infy.clone()]
    );
    assert_eq!(
        store.history(Some(T3), None).await.expect("history"),
        vec![infy.clone(), tcs]
    );
    assert_eq!(
        store.history(None, Some("INFY")).await.expect("history"),
        vec![infy]
    );
}

/// The series are the distinct partition keys in key order, at most as many as asked; the
/// newest items of a series are by sort key, newest first, at most as many as asked.
async fn series_are_listed_and_the_newest_items_come_first(backend: Backend) {
    let store = backend.store(Key::PartitionAndSort).await;
    assert!(store.series(10).await.expect("series").is_empty());
    let items = three_infy_one_tcs(&store).await;

    assert_eq!(store.series(10).await.expect("series"), ["INFY", "TCS"]);
    assert_eq!(store.series(1).await.expect("series"), ["INFY"]);
    assert_eq!(
        store.newest("INFY", 2).await.expect("newest"),
        vec![items[2].clone(), items[1].clone()]
    );
    assert_eq!(
        store.newest("TCS", 5).await.expect("newest"),
        vec![items[3].clone()]
    );
    assert!(store.newest("NONE", 2).await.expect("newest").is_empty());
}

contract_tests! {
    local = Backend::Local, dynamodb = Backend::DynamoDb;
    written_items_are_counted_and_read_back_newest_first;
    the_same_key_written_again_is_one_item_with_the_later_value;
    the_same_key_twice_in_one_batch_is_one_item_and_the_last_wins;
    numbers_round_trip_digit_for_digit;
    a_table_without_a_sort_key_keeps_one_item_per_partition;
    every_item_of_a_batch_over_25_arrives;
    previous_is_the_greatest_sort_key_below;
    range_is_from_inclusive_to_before_exclusive;
    existing_finds_the_stored_items_among_many_keys;
    history_is_by_partition_then_sort_key_from_since;
    a_table_without_a_sort_key_has_no_previous_record;
    series_are_listed_and_the_newest_items_come_first;
}
