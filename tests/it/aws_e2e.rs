//! `--backend aws` end to end with the real binary against moto: wiremock source → SQS →
//! consumer → DynamoDB → SES v2, checked with the SDK and moto's record of sent e-mails. Every
//! test names its own queue (and DLQ), table and sender with [`unique`], so they run in parallel
//! on the one shared moto. (Table writes over 25 items are split: aws_store.rs,
//! `twenty_six_items_are_written_in_two_requests_of_25_and_1`.)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::process::Child;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use stockrun::aws::Aws;
use tokio::time::Instant;

use crate::moto::{SECRET_ACCESS_KEY, aws_at, aws_env, moto_url, unique};
use crate::support::{Output, assert_contains};
use crate::workspace::{API_KEY, Workspace, quotes, serve};

/// The Asia/Kolkata `lastUpdateTime` every quote below carries, in UTC.
const QUOTED_AT: &str = "2024-03-18T10:29:38.000Z";

/// A quote pipeline polling `url` whose queue (`NAME`, DLQ `NAME-dlq`), table (`NAME`) and
/// sender (`NAME@example.com`) are its own.
pub(crate) fn pipeline(url: &str, name: &str, max_receive_count: u32) -> String {
    format!(
        r#"name: {name}
source:
  url: {url}
  headers:
    X-RapidAPI-Key: ${{RAPIDAPI_KEY}}
  schedule: "* * * * * *"
  timeout: 2s
  records: $[*]
  errors: [$.message]
queue: {{ name: {name}, batch_size: 10, batch_window: 1s, max_receive_count: {max_receive_count} }}
process:
  fields:
    symbol:    {{ path: $.symbol,    type: string, required: true }}
    price:     {{ path: $.lastPrice, type: number, required: true }}
    high:      {{ path: $.dayHigh,   type: number }}
    low:       {{ path: $.dayLow,    type: number }}
    quoted_at: {{ path: $.lastUpdateTime, type: timestamp, required: true, format: "%d-%b-%Y %H:%M:%S", timezone: Asia/Kolkata }}
store:
  table: {name}
  key:
    partition: {{ name: symbol,    value: "{{{{symbol}}}}" }}
    sort:      {{ name: quoted_at, value: "{{{{quoted_at}}}}" }}
notify:
  from: {name}@example.com
  to: [me@example.com]
  subject: "{{{{count}}}} new quotes"
  text: |
    {{{{#each records}}}}{{{{symbol}}}}: {{{{price}}}} (high {{{{high}}}}, low {{{{low}}}}) at {{{{quoted_at}}}}
    {{{{/each}}}}
"#
    )
}

/// A workspace for `pipeline(...)` on moto, after `stockrun init --backend aws`.
pub(crate) fn initialised(source: &str, name: &str, max_receive_count: u32) -> Workspace {
    let ws =
        Workspace::new(&pipeline(source, name, max_receive_count)).with_env(aws_env(&moto_url()));
    let init = ws.run(&["init", "--backend", "aws"]);
    assert_eq!(init.code, 0, "{}\n{}", init.stdout, init.stderr);
    assert_no_secret(&init);
    ws
}

/// Neither the AWS secret key nor the API key in `text`.
#[track_caller]
pub(crate) fn assert_no_secret_in(text: &str) {
    assert!(
        !text.contains(SECRET_ACCESS_KEY),
        "the AWS secret key leaked:\n{text}"
    );
    assert!(!text.contains(API_KEY), "the API key leaked:\n{text}");
}

#[track_caller]
fn assert_no_secret(out: &Output) {
    assert_no_secret_in(&out.stdout);
    assert_no_secret_in(&out.stderr);
}

/// Quote `i` of the bodies below: its symbol and the exact text of its price.
pub(crate) fn symbol(i: usize) -> String {
    format!("E2E{i:03}")
}

pub(crate) fn price(i: usize) -> String {
    // Trailing zeros, so "exact digits" means something: 1010.100, not 1010.1.
    format!("{}.{:02}0", 1000 + i, i % 100)
}

/// `good` quotes, then `poison` without a price, as raw JSON text (the digits stay as written).
pub(crate) fn body(good: usize, poison: usize) -> String {
    let quotes: Vec<String> = (0..good + poison)
        .map(|i| {
            let price = if i < good { price(i) } else { "\"-\"".to_owned() };
            format!(
                r#"{{"symbol": "{}", "lastPrice": {price}, "dayHigh": 200.50, "dayLow": 99.25, "lastUpdateTime": "18-Mar-2024 15:59:38"}}"#,
                symbol(i)
            )
        })
        .collect();
    format!("[{}]", quotes.join(",\n"))
}

/// Every item in `table`, by partition key (`symbol`).
pub(crate) async fn scan(
    aws: &Aws,
    table: &str,
) -> BTreeMap<String, HashMap<String, AttributeValue>> {
    let mut items = BTreeMap::new();
    let mut start = None;
    loop {
        let page = aws
            .dynamodb()
            .await
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "scan {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            });
        for item in page.items() {
            let Some(AttributeValue::S(symbol)) = item.get("symbol") else {
                panic!("an item without a string `symbol`: {item:?}");
            };
            assert!(
                items.insert(symbol.clone(), item.clone()).is_none(),
                "two items for {symbol} (the sort key is the same for all)"
            );
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return items;
        }
    }
}

/// How many items `table` holds (a Scan with `Select::Count`, every page).
pub(crate) async fn item_count(aws: &Aws, table: &str) -> usize {
    let mut count = 0;
    let mut start = None;
    loop {
        let page = aws
            .dynamodb()
            .await
            .scan()
            .table_name(table)
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "count {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                )
            });
        count += usize::try_from(page.count()).expect("a count");
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return count;
        }
    }
}

/// Queue `name`'s URL.
pub(crate) async fn queue_url(aws: &Aws, name: &str) -> String {
    aws.sqs()
        .await
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "queue {name}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })
        .queue_url()
        .expect("a queue URL")
        .to_owned()
}

/// Queue `name`'s (visible, in flight) messages.
pub(crate) async fn queue_counts(aws: &Aws, name: &str) -> (u64, u64) {
    queue_counts_at(aws, &queue_url(aws, name).await).await
}

/// The (visible, in flight) messages of the queue at `url`.
async fn queue_counts_at(aws: &Aws, url: &str) -> (u64, u64) {
    let attributes = aws
        .sqs()
        .await
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .expect("attributes");
    let number = |name: QueueAttributeName| -> u64 {
        attributes
            .get(&name)
            .unwrap_or_else(|| panic!("no {name:?} in {attributes:?}"))
            .parse()
            .expect("a number")
    };
    (
        number(QueueAttributeName::ApproximateNumberOfMessages),
        number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// Receives every message of queue `name` (each once: they stay invisible for 30 s), as JSON.
async fn receive_all(aws: &Aws, name: &str) -> Vec<Value> {
    let url = queue_url(aws, name).await;
    let mut bodies = Vec::new();
    loop {
        let received = aws
            .sqs()
            .await
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        if received.messages().is_empty() {
            return bodies;
        }
        for message in received.messages() {
            let body = message.body().expect("a body");
            bodies.push(serde_json::from_str(body).expect("messages are JSON"));
        }
    }
}

/// The e-mails moto accepted from `from` (as [`crate::moto::sent_emails`] reads them).
///
/// Asked again when moto answers 500: `/moto-api/data.json` first keeps each model attribute
/// that serialises, then serialises them all again, so a DynamoDB table that gets its first item
/// in between (another test writing, in parallel) fails the second pass (`TypeError: keys must
/// be str, ... not DynamoType`).
pub(crate) async fn emails_from(from: &str) -> Vec<Value> {
    let url = format!("{}/moto-api/data.json", moto_url());
    let mut attempt = 0;
    let data: Value = loop {
        attempt += 1;
        let response = reqwest::get(&url)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e:?}"));
        let status = response.status();
        let body = response.text().await.expect("a body");
        if status.is_success() {
            break serde_json::from_str(&body).expect("data.json is JSON");
        }
        assert!(attempt < 20, "GET {url}: {status}\n{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    match &data["ses"]["Message"] {
        Value::Array(emails) => emails
            .iter()
            .filter(|e| e["source"] == from)
            .cloned()
            .collect(),
        Value::Null => Vec::new(),
        other => panic!("data.json's ses.Message is not a list (moto changed?): {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn once_on_aws_stores_emails_each_batch_and_dead_letters_the_poison() {
    const GOOD: usize = 25;
    const POISON: usize = 2;
    let name = unique("e2e-once");
    let source = serve(body(GOOD, POISON)).await;
    let ws = initialised(&format!("{}/price", source.uri()), &name, 2);

    let out = ws.run(&["run", "--backend", "aws", "--once"]);

    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_no_secret(&out);
    assert_contains(
        &out.stdout,
        &format!(
            "{name}: fetched 27 records (1 request), queued 27, stored 25, dead-lettered 2, e-mails 3 via SES, AWS requests "
        ),
    );
    assert_contains(&out.stdout, " per record)");

    // DynamoDB: one item per good quote, the values typed and exact.
    let aws = aws_at(&moto_url()).await;
    let items = scan(&aws, &name).await;
    let want: BTreeSet<String> = (0..GOOD).map(symbol).collect();
    assert_eq!(
        items.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "the good quotes, and no poison one"
    );
    let item = &items[&symbol(10)];
    assert_eq!(item["symbol"], AttributeValue::S(symbol(10)));
    assert_eq!(item["quoted_at"], AttributeValue::S(QUOTED_AT.to_owned()));
    assert_eq!(item["price"], AttributeValue::N("1010.100".to_owned()));
    assert_eq!(item["high"], AttributeValue::N("200.50".to_owned()));
    assert_eq!(item["low"], AttributeValue::N("99.25".to_owned()));
    let Some(AttributeValue::S(inserted_at)) = item.get("inserted_at") else {
        panic!("no string inserted_at in {item:?}");
    };
    let inserted = chrono::DateTime::parse_from_rfc3339(inserted_at)
        .unwrap_or_else(|e| panic!("inserted_at {inserted_at:?} is not RFC 3339: {e}"));
    let age = chrono::Utc::now().signed_duration_since(inserted);
    assert!(
        age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::minutes(5),
        "inserted_at {inserted_at} is not the time of this run"
    );
    assert!(inserted_at.ends_with('Z'), "UTC: {inserted_at}");
    let mut attributes: Vec<&str> = item.keys().map(String::as_str).collect();
    attributes.sort_unstable();
    assert_eq!(
        attributes,
        ["high", "inserted_at", "low", "price", "quoted_at", "symbol"]
    );

    // SES: one digest per batch of stored records (the poison ones are in the last batch).
    let from = format!("{name}@example.com");
    let emails = emails_from(&from).await;
    let mut subjects: Vec<&str> = emails
        .iter()
        .map(|e| e["subject"].as_str().expect("a subject"))
        .collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        ["10 new quotes", "10 new quotes", "5 new quotes"],
        "{emails:#?}"
    );
    let mut lines = Vec::new();
    for email in &emails {
        assert_eq!(
            email["destinations"],
            serde_json::json!({ "ToAddresses": ["me@example.com"] })
        );
        let body = email["body"].as_str().expect("a text body");
        let body_lines: Vec<&str> = body.lines().collect();
        let subject = email["subject"].as_str().expect("a subject");
        let count: usize = subject
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in the subject {subject:?}"));
        assert_eq!(body_lines.len(), count, "one line per record:\n{body}");
        lines.extend(body_lines.into_iter().map(str::to_owned));
    }
    lines.sort();
    let want: Vec<String> = (0..GOOD)
        .map(|i| {
            format!(
                "{}: {} (high 200.50, low 99.25) at {QUOTED_AT}",
                symbol(i),
                price(i)
            )
        })
        .collect();
    assert_eq!(lines, want, "every good quote in exactly one digest");

    // The poison quotes, in the dead-letter queue after two deliveries; the queue is empty.
    assert_eq!(queue_counts(&aws, &name).await, (0, 0));
    assert_eq!(
        queue_counts(&aws, &format!("{name}-dlq")).await,
        (POISON as u64, 0)
    );
    let mut dead: Vec<String> = receive_all(&aws, &format!("{name}-dlq"))
        .await
        .iter()
        .map(|m| {
            assert_eq!(m["pipeline"], name.as_str(), "{m}");
            assert_eq!(m["record"]["lastPrice"], "-", "{m}");
            m["record"]["symbol"].as_str().expect("a symbol").to_owned()
        })
        .collect();
    dead.sort();
    assert_eq!(dead, [symbol(GOOD), symbol(GOOD + 1)]);
}

/// A running consumer, SIGKILLed when dropped (also when the test fails while it runs).
struct Consumer(Child);

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills `consumer` with SIGKILL and checks what it printed (to `log`, so a full pipe never
/// blocks it) for secrets.
fn kill(consumer: Consumer, log: &std::path::Path) {
    drop(consumer);
    let printed = std::fs::read_to_string(log).expect("the consumer's output");
    assert_no_secret_in(&printed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_killed_mid_run_on_aws_loses_nothing() {
    const N: usize = 200;
    let name = unique("e2e-kill");
    let source = serve(quotes(N, 0)).await;
    // Each kill leaves up to a batch in flight, which counts as a delivery: allow more deliveries
    // than kills, so nothing healthy is dead-lettered.
    let ws = initialised(&format!("{}/price", source.uri()), &name, 5);
    let aws = aws_at(&moto_url()).await;

    let polled = ws.run(&["poll", "--once", "--backend", "aws"]);
    assert_eq!(polled.code, 0, "{}\n{}", polled.stdout, polled.stderr);
    assert_contains(&polled.stdout, &format!("queued {N}, stored 0"));
    assert_no_secret(&polled);
    assert_eq!(queue_counts(&aws, &name).await, (N as u64, 0));

    // Killed right after a batch is seen stored (between its write and its delete, or just
    // after), and later in the cycle (a next batch received, maybe not yet stored).
    let kill_delays = [0, 60, 150].map(Duration::from_millis);
    let url = queue_url(&aws, &name).await;
    let mut killed_at = Vec::new();
    for (round, delay) in kill_delays.into_iter().enumerate() {
        let before = item_count(&aws, &name).await;
        if before == N {
            break;
        }
        let log = ws.state().with_extension(format!("consumer-{round}.log"));
        let file = File::create(&log).expect("log file");
        let consumer = Consumer(
            ws.command(&["consume", "--backend", "aws", "--visibility-timeout", "3s"])
                .stdout(file.try_clone().expect("log file"))
                .stderr(file)
                .spawn()
                .expect("stockrun starts"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut kill_at = None;
        loop {
            // The queue first, the table second: a record is stored before its message is
            // deleted, so every quote is counted at least once, whatever happens in between.
            let (visible, in_flight) = queue_counts_at(&aws, &url).await;
            let stored = item_count(&aws, &name).await;
            assert!(
                stored + visible as usize + in_flight as usize >= N,
                "round {round}: {stored} stored + {visible} queued + {in_flight} in flight < {N}: \
                 a message was deleted before its record was stored"
            );
            if kill_at.is_none() && stored > before {
                kill_at = Some(Instant::now() + delay);
            }
            if kill_at.is_some_and(|at| Instant::now() >= at) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the consumer stored nothing beyond {before} in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        kill(consumer, &log);
        killed_at.push(item_count(&aws, &name).await);
    }
    assert!(
        killed_at[0] < N,
        "the first consumer was killed only after storing everything: {killed_at:?}"
    );

    let out = ws.run(&[
        "consume",
        "--backend",
        "aws",
        "--once",
        "--visibility-timeout",
        "3s",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_no_secret(&out);

    let items = scan(&aws, &name).await;
    let want: BTreeSet<String> = (0..N).map(|i| format!("SYM{i:05}")).collect();
    assert_eq!(
        items.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "every quote stored, once (killed at {killed_at:?})"
    );
    assert_eq!(
        queue_counts(&aws, &name).await,
        (0, 0),
        "the queue is empty"
    );
    assert_eq!(
        queue_counts(&aws, &format!("{name}-dlq")).await,
        (0, 0),
        "nothing dead-lettered"
    );
}

/// Regression (found by bench/soak): the consumer deleted a batch's messages before e-mailing its
/// digest, so a consumer killed while SES was slow (throttled, retrying) left stored quotes in
/// no e-mail. Now the messages stay queued until the digest is sent: killed at that moment, the
/// batch is delivered again and e-mailed by the next consumer.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_killed_while_emailing_leaves_the_batch_queued_to_be_emailed_again() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const N: usize = 10;
    let name = unique("e2e-mailkill");
    let source = serve(quotes(N, 0)).await;
    let ws = initialised(&format!("{}/price", source.uri()), &name, 5);
    let aws = aws_at(&moto_url()).await;
    let polled = ws.run(&["poll", "--once", "--backend", "aws"]);
    assert_eq!(polled.code, 0, "{}\n{}", polled.stdout, polled.stderr);

    // An SES that never answers in time: the consumer is caught sending the digest.
    let ses = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(120)))
        .mount(&ses)
        .await;
    let log = ws.state().with_extension("consumer.log");
    let file = File::create(&log).expect("log file");
    let consumer = Consumer(
        ws.command(&["consume", "--backend", "aws", "--visibility-timeout", "2s"])
            .env("AWS_ENDPOINT_URL_SESV2", ses.uri())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("stockrun starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while ses.received_requests().await.unwrap_or_default().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no SendEmail within 30 s: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(item_count(&aws, &name).await, N, "stored before the e-mail");
    let (visible, in_flight) = queue_counts(&aws, &name).await;
    assert_eq!(
        visible + in_flight,
        N as u64,
        "the batch is still queued while its digest is being sent"
    );
    kill(consumer, &log);

    let out = ws.run(&[
        "consume",
        "--backend",
        "aws",
        "--once",
        "--visibility-timeout",
        "2s",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, &format!("stored {N}"));
    assert_contains(&out.stdout, "e-mails 1 via SES");
    assert_eq!(
        queue_counts(&aws, &name).await,
        (0, 0),
        "the queue is empty"
    );
}

/// The SES endpoint accepts the connection and never answers: with `notify.timeout: 1s` each
/// SendEmail attempt is abandoned after 1 s (the SDK has no read timeout of its own), the run
/// ends, the records are stored, and the summary and the status say the e-mail was not sent.
#[tokio::test(flavor = "multi_thread")]
async fn an_ses_endpoint_that_never_answers_costs_the_notify_timeout_per_attempt() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::smtp::{run_within, with_notify_timeout};

    const N: usize = 10;
    let name = unique("e2e-seshang");
    let source = serve(quotes(N, 0)).await;
    let ws = Workspace::new(&with_notify_timeout(
        &pipeline(&format!("{}/price", source.uri()), &name, 5),
        "1s",
    ))
    .with_env(aws_env(&moto_url()));
    let init = ws.run(&["init", "--backend", "aws"]);
    assert_eq!(init.code, 0, "{}\n{}", init.stdout, init.stderr);
    let aws = aws_at(&moto_url()).await;
    let ses = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&ses)
        .await;
    let ws = ws.with_env(vec![("AWS_ENDPOINT_URL_SESV2", ses.uri())]);

    let out = run_within(
        &ws,
        &["run", "--once", "--backend", "aws"],
        Duration::from_secs(60),
    );

    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_no_secret(&out);
    assert_contains(&out.stdout, &format!("stored {N}"));
    assert_contains(&out.stdout, "e-mails 0, 1 failed");
    assert_contains(&out.stderr, "no answer within 1s (notify.timeout)");
    assert_eq!(item_count(&aws, &name).await, N);
    let attempts = ses.received_requests().await.unwrap_or_default().len();
    assert_eq!(attempts, 4, "the first attempt and 3 retries");
    assert_eq!(
        queue_counts(&aws, &name).await,
        (0, 0),
        "the queue is empty"
    );
}
