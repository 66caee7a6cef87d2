//! The SQS queue and `stockrun init --backend aws`, against moto (the endpoint comes from the
//! environment, so the same tests run against any AWS-compatible server). Here: what only SQS
//! does (batching by count and size, the 256 KiB refusal, entry failures, a missing queue,
//! `init`); the queue semantics it shares with the local queue are the contract suite's
//! (`contract::queue`). Library tests build
//! their own `Aws` from an explicit SDK configuration (tests share one process, so no environment
//! variables) and their own uniquely named queues, so they run in parallel on one server. The
//! entry-level failures SQS reports on HTTP 200, which moto never produces, come from wiremock
//! speaking the SQS JSON protocol.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};
use stockrun::aws::Aws;
use stockrun::config::Pipeline;
use stockrun::queue::sqs::SqsQueue;
use stockrun::queue::{Queue, QueueError, Received};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

use crate::moto::{SECRET_ACCESS_KEY, aws_at, aws_env, moto_url, unique};
use crate::support::assert_contains;
use crate::workspace::{Workspace, pipeline_with_receives, quotes, serve};

/// A pipeline whose `queue:` section is `queue` (YAML flow mapping).
pub(crate) fn pipeline(queue: &str) -> Pipeline {
    let yaml = format!(
        r#"name: quotes
source:
  url: http://127.0.0.1:9/any
  schedule: "0 * * * * *"
  records: $[*]
queue: {queue}
process:
  fields:
    symbol: {{ path: $.symbol, type: string, required: true }}
store:
  table: quotes
  key:
    partition: {{ name: symbol, value: "{{{{symbol}}}}" }}
"#
    );
    crate::support::parse_pipeline(&yaml)
}

/// Creates queue `name` with `attributes`; returns its URL.
pub(crate) async fn create_queue(
    aws: &Aws,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> String {
    aws.sqs()
        .await
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.iter().cloned().collect()))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create queue {name}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            )
        })
        .queue_url()
        .expect("a queue URL")
        .to_owned()
}

/// A fresh queue of its own in moto, and the `SqsQueue` on it.
async fn fresh_queue(prefix: &str) -> (Arc<Aws>, SqsQueue) {
    let aws = aws_at(&moto_url()).await;
    let name = unique(prefix);
    create_queue(&aws, &name, &[]).await;
    let queue = SqsQueue::new(aws.clone(), &pipeline(&format!("{{ name: {name} }}")), None);
    (aws, queue)
}

/// Receives until `n` messages are in hand (each receive takes at most ten).
async fn receive_all(queue: &SqsQueue, n: usize) -> Vec<Received> {
    let mut received = Vec::new();
    for _ in 0..20 {
        if received.len() >= n {
            break;
        }
        let batch = queue
            .receive(10, Duration::from_secs(1))
            .await
            .expect("receive");
        assert!(batch.len() <= 10, "a receive returned {}", batch.len());
        received.extend(batch);
    }
    assert_eq!(received.len(), n, "received {received:#?}");
    received
}

fn bodies(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| json!({"record": {"symbol": format!("SYM{i:03}")}}).to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_five_messages_go_in_three_sends_and_come_back_in_receives_of_ten() {
    let (aws, queue) = fresh_queue("sqs-roundtrip").await;
    queue.url().await.expect("the queue URL is looked up");
    let sent = bodies(25);

    let before = aws.requests();
    queue.send_batch(&sent).await.expect("send");
    assert_eq!(aws.requests() - before, 3, "one SendMessageBatch per ten");

    let received = receive_all(&queue, 25).await;
    let got: HashSet<&str> = received.iter().map(|m| m.body.as_str()).collect();
    let want: HashSet<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(got, want);
    assert!(
        received.iter().all(|m| m.receive_count == 1),
        "{received:#?}"
    );
    let ids: HashSet<&str> = received.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 25, "message ids are distinct");
    let counts = queue.counts().await.expect("counts");
    assert_eq!((counts.visible, counts.in_flight, counts.dead), (0, 25, 0));

    let receipts: Vec<&str> = received.iter().map(|m| m.receipt.as_str()).collect();
    let before = aws.requests();
    queue.delete_batch(&receipts).await.expect("delete");
    assert_eq!(aws.requests() - before, 3, "one DeleteMessageBatch per ten");
    assert!(queue.counts().await.expect("counts").is_drained());
}

#[tokio::test(flavor = "multi_thread")]
async fn large_messages_are_split_across_sends_by_total_size() {
    let (aws, queue) = fresh_queue("sqs-large").await;
    queue.url().await.expect("the queue URL is looked up");
    // Three messages of 100 KiB: at most two fit the 256 KiB of one SendMessageBatch.
    let sent: Vec<String> = (0..3)
        .map(|i| format!("{i}{}", "x".repeat(100 * 1024)))
        .collect();

    let before = aws.requests();
    queue.send_batch(&sent).await.expect("send");
    assert_eq!(aws.requests() - before, 2);

    let received = receive_all(&queue, 3).await;
    let mut got: Vec<String> = received.into_iter().map(|m| m.body).collect();
    got.sort();
    assert_eq!(got, sent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_over_256_kib_is_refused_with_its_size() {
    let (aws, queue) = fresh_queue("sqs-too-large").await;
    let too_large = "x".repeat(256 * 1024 + 1);
    let before = aws.requests();

    let error = queue
        .send_batch(&["small".to_owned(), too_large])
        .await
        .expect_err("over the limit");

    assert!(
        matches!(error, QueueError::TooLarge { bytes: 262_145, .. }),
        "{error:?}"
    );
    assert_contains(&error.to_string(), "262145 bytes");
    assert_eq!(aws.requests(), before, "nothing is sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_with_a_bad_receipt_is_an_error_naming_the_entry() {
    let (_aws, queue) = fresh_queue("sqs-bad-receipt").await;

    let error = queue
        .delete_batch(&["not-a-receipt-handle"])
        .await
        .expect_err("the entry fails");

    let message = error.to_string();
    assert_contains(
        &message,
        "DeleteMessageBatch: 1 of 1 entries failed: entry 0: ",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_queue_says_how_to_create_it() {
    let aws = aws_at(&moto_url()).await;
    let name = unique("sqs-missing");
    let queue = SqsQueue::new(aws, &pipeline(&format!("{{ name: {name} }}")), None);

    let error = queue
        .receive(10, Duration::ZERO)
        .await
        .expect_err("no queue");

    assert_eq!(
        error.to_string(),
        format!(
            "SQS: queue `{name}` does not exist in us-east-1: create it with `stockrun init FILE --backend aws`"
        )
    );
}

// --- entries that fail on HTTP 200 (wiremock speaking the SQS JSON protocol) ---------------------

/// A SendMessageBatch answer: every entry of the request succeeds except those in `failures`
/// (`(id, sender_fault)`).
fn send_answer(request: &Request, failures: &[(&str, bool)]) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&request.body).expect("a JSON request");
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for entry in body["Entries"].as_array().expect("entries") {
        let id = entry["Id"].as_str().expect("an id");
        match failures.iter().find(|(failing, _)| *failing == id) {
            Some((_, sender_fault)) => failed.push(json!({
                "Id": id, "SenderFault": sender_fault, "Code": "InternalError", "Message": "try again",
            })),
            None => successful.push(json!({
                "Id": id, "MessageId": format!("m-{id}"), "MD5OfMessageBody": "0",
            })),
        }
    }
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .set_body_string(json!({"Successful": successful, "Failed": failed}).to_string())
}

/// The entry ids of each SendMessageBatch `server` received.
async fn sent_ids(server: &MockServer) -> Vec<Vec<String>> {
    server
        .received_requests()
        .await
        .expect("recording")
        .iter()
        .map(|request| {
            let body: Value = serde_json::from_slice(&request.body).expect("JSON");
            body["Entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| e["Id"].as_str().expect("id").to_owned())
                .collect()
        })
        .collect()
}

/// An `SqsQueue` on a wiremock server at a fixed queue URL (no GetQueueUrl).
async fn wiremock_queue(server: &MockServer) -> SqsQueue {
    let aws = aws_at(&server.uri()).await;
    let url = format!("{}/123456789012/quotes", server.uri());
    SqsQueue::new(aws, &pipeline(&format!("{{ url: \"{url}\" }}")), None)
}

fn send_message_batch() -> MockBuilder {
    Mock::given(method("POST")).and(header("x-amz-target", "AmazonSQS.SendMessageBatch"))
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_that_fail_on_http_200_are_sent_again_alone() {
    let server = MockServer::start().await;
    send_message_batch()
        .respond_with(|request: &Request| send_answer(request, &[("3", false), ("7", false)]))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    send_message_batch()
        .respond_with(|request: &Request| send_answer(request, &[]))
        .mount(&server)
        .await;
    let queue = wiremock_queue(&server).await;

    queue
        .send_batch(&bodies(10))
        .await
        .expect("sent in the end");

    let ids = sent_ids(&server).await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0].len(), 10);
    assert_eq!(ids[1], ["3", "7"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_that_keep_failing_are_an_error_naming_them() {
    let server = MockServer::start().await;
    send_message_batch()
        .respond_with(|request: &Request| send_answer(request, &[("12", false)]))
        .mount(&server)
        .await;
    let queue = wiremock_queue(&server).await;

    let error = queue
        .send_batch(&bodies(15))
        .await
        .expect_err("entry 12 fails");

    let ids = sent_ids(&server).await;
    assert_eq!(ids[0].len(), 10, "the first ten are sent once: {ids:?}");
    assert!(
        ids[1..].iter().skip(1).all(|retry| retry == &["12"]),
        "{ids:?}"
    );
    assert_eq!(
        ids.len(),
        2 + 4,
        "the second chunk, then four retries: {ids:?}"
    );
    assert_contains(
        &error.to_string(),
        "SendMessageBatch (after retries): 1 of 5 entries failed: entry 12: InternalError: try again (SQS fault)",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_at_fault_themselves_are_not_sent_again() {
    let server = MockServer::start().await;
    send_message_batch()
        .respond_with(|request: &Request| send_answer(request, &[("1", true)]))
        .mount(&server)
        .await;
    let queue = wiremock_queue(&server).await;

    let error = queue
        .send_batch(&bodies(3))
        .await
        .expect_err("entry 1 fails");

    assert_eq!(sent_ids(&server).await.len(), 1);
    assert_contains(
        &error.to_string(),
        "SendMessageBatch (at once): 1 of 3 entries failed: entry 1: InternalError: try again (sender fault: not retried)",
    );
}

// --- stockrun init --backend aws (the binary) ---------------------------------------------------

/// A pipeline whose queue, table and sender are its own.
fn init_pipeline(name: &str) -> String {
    format!(
        r#"name: {name}
source:
  url: http://127.0.0.1:9/any
  schedule: "0 * * * * *"
  records: $[*]
queue:
  batch_window: 20s
  max_receive_count: 4
process:
  fields:
    symbol:    {{ path: $.symbol, type: string, required: true }}
    quoted_at: {{ path: $.lastUpdateTime, type: string, required: true }}
store:
  table: {name}-table
  key:
    partition: {{ name: symbol,    value: "{{{{symbol}}}}" }}
    sort:      {{ name: quoted_at, value: "{{{{quoted_at}}}}" }}
notify:
  from: Quotes <{name}@example.com>
  to: [me@example.com]
  subject: quotes
  text: "{{{{#each records}}}}{{{{symbol}}}} {{{{/each}}}}"
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn init_creates_what_the_pipeline_needs_and_then_finds_it() {
    let url = moto_url();
    let name = unique("init");
    let ws = Workspace::new(&init_pipeline(&name)).with_env(aws_env(&url));

    let first = ws.run(&["init", "--backend", "aws"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(
        first.stdout,
        format!(
            "created dead-letter queue {name}-dlq\n\
             created queue {name} (visibility timeout 50s; dead-lettered to {name}-dlq after 4 receives)\n\
             created table {name}-table (key symbol HASH, quoted_at RANGE; on-demand billing)\n\
             created table {name}-table-alerts (key pk HASH, sk RANGE; on-demand billing)\n\
             created SES identity {name}@example.com\n\
             \x20 note: {name}@example.com is not verified yet: SES refuses to send from it until it is (AWS e-mails it a confirmation link; moto and LocalStack need none)\n"
        )
    );

    for text in [&first.stdout, &first.stderr] {
        assert!(
            !text.contains(SECRET_ACCESS_KEY),
            "the secret key leaked:\n{text}"
        );
    }

    let second = ws.run(&["init", "--backend", "aws"]);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let lines: Vec<&str> = second.stdout.lines().collect();
    assert_eq!(
        lines[..5],
        [
            format!("exists  dead-letter queue {name}-dlq"),
            format!("exists  queue {name}"),
            format!("exists  table {name}-table"),
            format!("exists  table {name}-table-alerts"),
            format!("exists  SES identity {name}@example.com"),
        ]
    );

    // What was created, as the SDK sees it.
    let aws = aws_at(&url).await;
    let sqs = aws.sqs().await;
    let queue_url = sqs
        .get_queue_url()
        .queue_name(&name)
        .send()
        .await
        .expect("queue");
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url.queue_url().expect("url"))
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("attributes")
        .attributes
        .expect("attributes");
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "50");
    // The retentions the deploy template writes: 4 days, and 14 for dead letters.
    assert_eq!(
        attributes[&QueueAttributeName::MessageRetentionPeriod],
        "345600"
    );
    let dead_url = sqs
        .get_queue_url()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("dead-letter queue");
    let dead = sqs
        .get_queue_attributes()
        .queue_url(dead_url.queue_url().expect("url"))
        .attribute_names(QueueAttributeName::MessageRetentionPeriod)
        .send()
        .await
        .expect("attributes")
        .attributes
        .expect("attributes");
    assert_eq!(dead[&QueueAttributeName::MessageRetentionPeriod], "1209600");
    let policy: Value =
        serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).expect("JSON");
    assert!(
        policy["deadLetterTargetArn"]
            .as_str()
            .is_some_and(|arn| arn.ends_with(&format!(":{name}-dlq"))),
        "{policy}"
    );
    assert_eq!(policy["maxReceiveCount"].to_string().trim_matches('"'), "4");
    let table = aws
        .dynamodb()
        .await
        .describe_table()
        .table_name(format!("{name}-table"))
        .send()
        .await
        .expect("table");
    let table = table.table().expect("description");
    let key: Vec<(&str, &str)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(key, [("symbol", "HASH"), ("quoted_at", "RANGE")]);
    assert_eq!(
        table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str()),
        Some("PAY_PER_REQUEST")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn init_changes_nothing_that_exists_and_says_what_does_not_fit() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };

    let url = moto_url();
    let name = unique("init-misfit");
    let ws = Workspace::new(&init_pipeline(&name)).with_env(aws_env(&url));
    let aws = aws_at(&url).await;
    // A queue without a redrive policy, and the table keyed by `symbol` alone.
    let queue_url = create_queue(&aws, &name, &[]).await;
    aws.dynamodb()
        .await
        .create_table()
        .table_name(format!("{name}-table"))
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("symbol")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("complete"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("symbol")
                .key_type(KeyType::Hash)
                .build()
                .expect("complete"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("table");

    let out = ws.run(&["init", "--backend", "aws"]);

    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..5],
        [
            format!("created dead-letter queue {name}-dlq"),
            format!("exists  queue {name}"),
            format!(
                "  note: queue {name} has no redrive policy, so poison records are never dead-lettered (not changed: delete the queue and run init again, or set one)"
            ),
            format!("exists  table {name}-table"),
            format!(
                "  error: table {name}-table has the key (symbol HASH), the pipeline's is (symbol HASH, quoted_at RANGE): writes would fail. Use another `store.table`, or delete the table and run init again"
            ),
        ]
    );
    assert_contains(&out.stdout, &format!("SES identity {name}@example.com"));

    // Dead-lettering to a queue other than the pipeline's is reported and left alone.
    let other_url = create_queue(&aws, &format!("{name}-other"), &[]).await;
    let sqs = aws.sqs().await;
    let other_arn = sqs
        .get_queue_attributes()
        .queue_url(&other_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("an ARN");
    let policy = json!({"deadLetterTargetArn": other_arn, "maxReceiveCount": 2}).to_string();
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::RedrivePolicy, policy)
        .send()
        .await
        .expect("redrive policy");

    let again = ws.run(&["init", "--backend", "aws"]);

    let lines: Vec<&str> = again.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            format!("exists  dead-letter queue {name}-dlq"),
            format!("exists  queue {name}"),
            format!(
                "  note: queue {name} dead-letters to {other_arn}, not {name}-dlq (not changed)"
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_on_aws_stores_dead_letters_and_counts_requests() {
    let url = moto_url();
    let name = unique("run");
    let source = serve(quotes(25, 25)).await;
    let yaml = pipeline_with_receives(&format!("{}/price", source.uri()), &name, 2)
        .replace("table: stock_prices", &format!("table: {name}-table"));
    let ws = Workspace::new(&yaml).with_env(aws_env(&url));
    let init = ws.run(&["init", "--backend", "aws"]);
    assert_eq!(init.code, 0, "{}\n{}", init.stdout, init.stderr);

    let out = ws.run(&["run", "--once", "--backend", "aws"]);

    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        &format!(
            "{name}: fetched 25 records (1 request), queued 25, stored 24, dead-lettered 1, e-mails "
        ),
    );
    assert_contains(&out.stdout, " via SES, AWS requests ");
    assert_contains(&out.stdout, " per record)");
    let aws = aws_at(&url).await;
    let items = aws
        .dynamodb()
        .await
        .scan()
        .table_name(format!("{name}-table"))
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .expect("scan");
    assert_eq!(items.count(), 24);
}

#[test]
fn init_on_the_local_backend_creates_nothing() {
    let ws = Workspace::new(&init_pipeline("local-init"));

    let out = ws.run(&["init"]);

    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_contains(&out.stdout, "nothing to create for the local backend");
    assert!(!ws.state().exists(), "no state directory is made");
}
