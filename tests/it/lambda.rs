//! The Lambda mode against moto. The handler gets the events Lambda would send: SQS batches built
//! from the AWS documentation's sample (`tests/fixtures/lambda/sqs-event.json`) around messages
//! really queued by `stockrun poll` and received from SQS as the event source mapping does, and
//! the documentation's scheduled event. The last tests run the binary itself against a runtime
//! API served by wiremock: the same HTTP exchange as on Lambda.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{Value, json};
use stockrun::aws::Aws;
use stockrun::compile::load;
use stockrun::config::env::Environment;
use stockrun::config::load::UnsetVariables;
use stockrun::naming::alert_table;
use stockrun::runtime::backend::{Backend, BackendKind};
use stockrun::runtime::lambda::{Handler, HandlerError};
use stockrun::source::status::dynamodb::DynamoDbFeedStatus;
use stockrun::source::status::{FeedStatus, FeedStatusStore};
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::aws_e2e::{
    assert_no_secret_in, body, emails_from, initialised, item_count, price, queue_counts,
    queue_url, scan, symbol,
};
use crate::moto::{aws_at, aws_env, moto_url, unique};
use crate::workspace::{API_KEY, Workspace, serve};

pub(crate) fn fixture(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/lambda/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).expect(&file)).expect("JSON")
}

/// The handler of `ws`'s pipeline on moto, as a container builds it.
async fn handler(ws: &Workspace, aws: std::sync::Arc<Aws>) -> Handler {
    let env = Environment::from_pairs([("RAPIDAPI_KEY", API_KEY)]);
    let loaded = load(&ws.file(), &env, UnsetVariables::Deny).expect("the pipeline loads");
    let backend = Backend {
        kind: BackendKind::Aws,
        state_dir: ws.state(),
        smtp: None,
        visibility_timeout: None,
        aws,
    };
    Handler::new(&loaded, &backend).expect("the handler builds")
}

/// A pipeline on moto with `good` quotes and then `poison` ones queued by `stockrun poll --once`.
async fn queued(name: &str, good: usize, poison: usize) -> Workspace {
    let source = serve(body(good, poison)).await;
    let ws = initialised(&format!("{}/price", source.uri()), name, 3);
    let poll = ws.run(&["poll", "--once", "--backend", "aws"]);
    assert_eq!(poll.code, 0, "{}\n{}", poll.stdout, poll.stderr);
    ws
}

/// Receives `n` messages of queue `name` as the event source mapping does and returns the event
/// Lambda would send: the AWS docs sample's record for each, with the message's id, receipt
/// handle, body and receive count.
pub(crate) async fn sqs_event(aws: &Aws, name: &str, n: usize) -> Value {
    let url = queue_url(aws, name).await;
    let template = fixture("sqs-event.json")["Records"][0].clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut records = Vec::new();
    while records.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} messages",
            records.len()
        );
        let received = aws
            .sqs()
            .await
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(i32::try_from(n - records.len()).unwrap().min(10))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .visibility_timeout(60)
            .send()
            .await
            .expect("receive");
        for message in received.messages() {
            let mut record = template.clone();
            record["messageId"] = json!(message.message_id().expect("an id"));
            record["receiptHandle"] = json!(message.receipt_handle().expect("a receipt"));
            record["body"] = json!(message.body().expect("a body"));
            let count = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .expect("a receive count");
            record["attributes"]["ApproximateReceiveCount"] = json!(count);
            record["eventSourceARN"] = json!(format!("arn:aws:sqs:us-east-1:123456789012:{name}"));
            records.push(record);
        }
    }
    json!({ "Records": records })
}

/// The message ids of `event` whose quote symbol is in `symbols`.
fn ids_of(event: &Value, symbols: &[String]) -> BTreeSet<String> {
    event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|record| {
            let body: Value = serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
            symbols
                .iter()
                .any(|s| body["record"]["symbol"] == s.as_str())
        })
        .map(|record| record["messageId"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids a response lists in `batchItemFailures` (and nothing else is in it).
fn failures(response: &Value) -> BTreeSet<String> {
    let object = response.as_object().expect("an object");
    assert_eq!(object.len(), 1, "only batchItemFailures: {response}");
    response["batchItemFailures"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|failure| {
            assert_eq!(failure.as_object().unwrap().len(), 1, "{failure}");
            failure["itemIdentifier"]
                .as_str()
                .expect("an id")
                .to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_batch_is_stored_and_emailed_and_reports_no_failures() {
    let name = unique("lambda-good");
    let ws = queued(&name, 10, 0).await;
    let aws = aws_at(&moto_url()).await;
    let event = sqs_event(&aws, &name, 10).await;

    let response = handler(&ws, aws.clone())
        .await
        .handle(event)
        .await
        .expect("handled");

    assert_eq!(response, json!({ "batchItemFailures": [] }));
    let items = scan(&aws, &name).await;
    assert_eq!(items.len(), 10);
    assert_eq!(items[&symbol(3)]["price"], AttributeValue::N(price(3)));
    let emails = emails_from(&format!("{name}@example.com")).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["subject"], "10 new quotes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_poison_reports_exactly_the_poison_and_releases_it() {
    let name = unique("lambda-poison");
    let ws = queued(&name, 8, 2).await;
    let aws = aws_at(&moto_url()).await;
    let event = sqs_event(&aws, &name, 10).await;
    let poison = ids_of(&event, &[symbol(8), symbol(9)]);
    assert_eq!(poison.len(), 2);

    let response = handler(&ws, aws.clone())
        .await
        .handle(event)
        .await
        .expect("handled");

    assert_eq!(failures(&response), poison);
    assert_eq!(item_count(&aws, &name).await, 8);
    let emails = emails_from(&format!("{name}@example.com")).await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0]["subject"], "8 new quotes");
    // Released: visible again at once, not after the 60 s visibility timeout.
    assert_eq!(queue_counts(&aws, &name).await, (2, 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_reports_every_record_and_sends_no_email() {
    let name = unique("lambda-nostore");
    let ws = queued(&name, 5, 1).await;
    let aws = aws_at(&moto_url()).await;
    let event = sqs_event(&aws, &name, 6).await;
    let every: BTreeSet<String> = event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["messageId"].as_str().unwrap().to_owned())
        .collect();
    aws.dynamodb()
        .await
        .delete_table()
        .table_name(&name)
        .send()
        .await
        .expect("table deleted");

    let response = handler(&ws, aws.clone())
        .await
        .handle(event)
        .await
        .expect("handled");

    assert_eq!(
        failures(&response),
        every,
        "the poison one and the 5 unstored"
    );
    assert_eq!(emails_from(&format!("{name}@example.com")).await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_event_polls_once_and_queues_every_record() {
    let name = unique("lambda-poll");
    let source = serve(body(12, 1)).await;
    let ws = initialised(&format!("{}/price", source.uri()), &name, 3);
    let aws = aws_at(&moto_url()).await;

    let response = handler(&ws, aws.clone())
        .await
        .handle(fixture("scheduled-event.json"))
        .await
        .expect("handled");

    assert_eq!(
        response,
        json!({"pipeline": name, "requests": 1, "failed_feeds": 0, "fetched": 13, "queued": 13, "too_large": 0, "alerts_mailed": 0})
    );
    assert_eq!(queue_counts(&aws, &name).await, (13, 0));
    assert_eq!(source.received_requests().await.unwrap().len(), 1);
    let feeds = feed_status(&aws, &name).await;
    assert_eq!(feeds.len(), 1, "{feeds:?}");
    let only = &feeds[0];
    assert_eq!(
        (only.feed.as_str(), only.outcome.as_str(), only.records),
        ("-", "ok", 13)
    );
    assert_eq!(only.last_ok_at, Some(only.polled_at));
}

/// The feed status the scheduled polls recorded in the pipeline's alert table.
async fn feed_status(aws: &std::sync::Arc<Aws>, name: &str) -> Vec<FeedStatus> {
    DynamoDbFeedStatus::new(aws.clone(), &alert_table(name))
        .all()
        .await
        .expect("the feed status reads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_poll_whose_feed_status_cannot_be_written_still_queues_every_record() {
    let name = unique("lambda-nostatus");
    let source = serve(body(3, 0)).await;
    let ws = initialised(&format!("{}/price", source.uri()), &name, 3);
    let aws = aws_at(&moto_url()).await;
    aws.dynamodb()
        .await
        .delete_table()
        .table_name(alert_table(&name))
        .send()
        .await
        .expect("the alert table is deleted");

    let response = handler(&ws, aws.clone())
        .await
        .handle(fixture("scheduled-event.json"))
        .await
        .expect("the status is a warning, not the poll's failure");

    assert_eq!(response["queued"], 3, "{response}");
    assert_eq!(queue_counts(&aws, &name).await, (3, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_poll_whose_every_request_fails_fails_the_invocation() {
    let name = unique("lambda-pollfail");
    let source = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string(r#"{"message":"Invalid API key."}"#),
        )
        .mount(&source)
        .await;
    let ws = initialised(&format!("{}/price", source.uri()), &name, 3);
    let aws = aws_at(&moto_url()).await;

    let error = handler(&ws, aws.clone())
        .await
        .handle(fixture("scheduled-event.json"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, HandlerError::AllFeedsFailed { failed_feeds: 1 }),
        "{error}"
    );
    let feeds = feed_status(&aws, &name).await;
    assert_eq!(feeds.len(), 1, "{feeds:?}");
    assert_eq!(
        (feeds[0].outcome.as_str(), feeds[0].last_ok_at),
        ("http_4xx", None),
        "the failure is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_events_are_an_error_naming_the_accepted_kinds() {
    let name = unique("lambda-other");
    let ws = initialised("https://example.com/price", &name, 3);
    let handler = handler(&ws, aws_at(&moto_url()).await).await;
    let s3 = json!({"Records": [{"eventSource": "aws:s3", "s3": {}}]});

    let message = handler.handle(s3).await.unwrap_err().to_string();

    assert!(message.contains("source `aws:s3`"), "{message}");
    assert!(
        message.contains("SQS event source mapping batch"),
        "{message}"
    );
    assert!(message.contains("EventBridge scheduled event"), "{message}");
}

// --- the binary, through a runtime API served by wiremock ----------------------------------------

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// An AWS access key id no log line may show.
const ACCESS_KEY_ID: &str = "AKIALAMBDASENTINEL42";

/// A runtime API that hands out `event` once (request id `req-1`) and then keeps the next
/// request waiting, as Lambda does between invocations.
async fn runtime_api(event: Value) -> MockServer {
    let api = MockServer::start().await;
    let deadline_ms = (std::time::SystemTime::now() + Duration::from_secs(300))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    Mock::given(method("GET"))
        .and(path(NEXT))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Lambda-Runtime-Aws-Request-Id", "req-1")
                .insert_header(
                    "Lambda-Runtime-Deadline-Ms",
                    deadline_ms.to_string().as_str(),
                )
                .insert_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:stockrun",
                )
                .set_body_json(event),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&api)
        .await;
    Mock::given(method("GET"))
        .and(path(NEXT))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .with_priority(2)
        .mount(&api)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "OK"})))
        .mount(&api)
        .await;
    api
}

/// The binary in Lambda mode against `api`, with `PIPELINE` = `pipeline` and `env`.
fn lambda_process(api: &MockServer, pipeline: &std::path::Path, env: Vec<(&str, String)>) -> Child {
    Command::new(env!("CARGO_BIN_EXE_stockrun"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.address().to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "stockrun")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("PIPELINE", pipeline)
        .env("RAPIDAPI_KEY", API_KEY)
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stockrun starts")
}

/// The POST requests the runtime API got, once one has arrived (or panics after 30 s).
async fn posts(api: &MockServer) -> Vec<Request> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let posts: Vec<Request> = api
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.method.as_str() == "POST")
            .collect();
        if !posts.is_empty() {
            return posts;
        }
        assert!(
            Instant::now() < deadline,
            "no response was posted within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops `child` and returns what it printed.
fn finish(mut child: Child) -> String {
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_secret_in(&text);
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_an_sqs_invocation_with_batch_item_failures_and_logs_json() {
    let name = unique("lambda-bin");
    let ws = queued(&name, 1, 1).await;
    let aws = aws_at(&moto_url()).await;
    let event = sqs_event(&aws, &name, 2).await;
    let poison = ids_of(&event, &[symbol(1)]);
    let api = runtime_api(event).await;

    // At trace level with a recognisable access key id: the SDK logs that id in some events.
    let mut env = aws_env(&moto_url());
    env.retain(|(name, _)| *name != "AWS_ACCESS_KEY_ID");
    env.push(("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()));
    env.push(("STOCKRUN_LOG", "trace".to_owned()));
    let child = lambda_process(&api, &ws.file(), env);
    let posts = posts(&api).await;
    let log = finish(child);
    assert!(!log.contains(ACCESS_KEY_ID), "the access key id leaked");

    assert_eq!(posts.len(), 1, "{log}");
    assert_eq!(
        posts[0].url.path(),
        "/2018-06-01/runtime/invocation/req-1/response",
        "{log}"
    );
    let response: Value = serde_json::from_slice(&posts[0].body).expect("JSON response");
    assert_eq!(failures(&response), poison);
    assert_eq!(item_count(&aws, &name).await, 1);
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let done = lines
        .iter()
        .find(|line| line["fields"]["message"] == "batch done")
        .unwrap_or_else(|| panic!("no `batch done` line:\n{log}"));
    assert_eq!(done["span"]["pipeline"], name.as_str(), "{done}");
    assert_eq!(done["fields"]["stored"], 1, "{done}");
    assert_eq!(done["fields"]["poison"], 1, "{done}");
    // The invocation's metrics, as CloudWatch Embedded Metric Format lines in the same log.
    let emf = emf_values(&lines, &name);
    assert_eq!(
        emf.get("stockrun_records_stored_total"),
        Some(&json!(1)),
        "{log}"
    );
    assert_eq!(
        emf.get("stockrun_records_poison_total"),
        Some(&json!(1)),
        "{log}"
    );
    assert_eq!(
        emf.get("stockrun_emails_sent_total"),
        Some(&json!(1)),
        "{log}"
    );
}

/// The metric values of the EMF lines among `lines` whose only dimension is the pipeline
/// `name`, after checking each such line's metadata: namespace `stockrun`, the dimension set,
/// every value declared as a metric.
fn emf_values(lines: &[Value], name: &str) -> serde_json::Map<String, Value> {
    emf_lines(lines, name, &["pipeline"])
        .into_iter()
        .flat_map(|line| {
            let metrics = &line["_aws"]["CloudWatchMetrics"][0]["Metrics"];
            metrics
                .as_array()
                .unwrap()
                .iter()
                .map(|metric| {
                    let metric = metric["Name"].as_str().unwrap().to_owned();
                    (metric.clone(), line[&metric].clone())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The EMF lines of pipeline `name` whose dimensions are `dimensions`, checked: namespace
/// `stockrun`, a timestamp, the dimensions' values on the line.
fn emf_lines<'l>(lines: &'l [Value], name: &str, dimensions: &[&str]) -> Vec<&'l Value> {
    lines
        .iter()
        .filter(|line| line.get("_aws").is_some() && line["pipeline"] == name)
        .filter(|line| {
            let set = &line["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(set["Namespace"], "stockrun", "{line}");
            assert!(line["_aws"]["Timestamp"].as_u64().is_some(), "{line}");
            set["Dimensions"] == json!([dimensions])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reports_a_scheduled_polls_metrics_as_emf_lines() {
    let name = unique("lambda-emf");
    let source = serve(body(4, 1)).await;
    let ws = initialised(&format!("{}/price", source.uri()), &name, 3);
    let api = runtime_api(fixture("scheduled-event.json")).await;

    let child = lambda_process(&api, &ws.file(), aws_env(&moto_url()));
    let posts = posts(&api).await;
    let log = finish(child);

    assert_eq!(
        posts[0].url.path(),
        "/2018-06-01/runtime/invocation/req-1/response",
        "{log}"
    );
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let values = emf_values(&lines, &name);
    assert_eq!(
        values.get("stockrun_records_queued_total"),
        Some(&json!(5)),
        "{log}"
    );
    let polls = emf_lines(&lines, &name, &["pipeline", "outcome"]);
    assert_eq!(polls.len(), 1, "{log}");
    assert_eq!(polls[0]["outcome"], "ok");
    assert_eq!(polls[0]["stockrun_polls_total"], 1);
    let feed = emf_lines(&lines, &name, &["pipeline", "feed"]);
    assert_eq!(feed.len(), 1, "{log}");
    assert_eq!(feed[0]["feed"], "-");
    assert_eq!(feed[0]["stockrun_records_fetched_total"], 5);
    assert_eq!(
        feed[0]["stockrun_poll_duration_seconds"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(
        feed[0]["stockrun_last_successful_poll_timestamp_seconds"]
            .as_f64()
            .unwrap()
            > 1.7e9
    );
    // Each line is one document, whole.
    assert!(
        log.lines()
            .filter(|l| l.contains("\"_aws\""))
            .all(|l| l.starts_with('{'))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_pipeline_fails_init_with_the_diagnostics() {
    let ws = Workspace::new("name: broken\nsource: {url: 3}\n");
    let api = runtime_api(json!({})).await;

    let child = lambda_process(&api, &ws.file(), aws_env(&moto_url()));
    let posts = posts(&api).await;
    let output = child.wait_with_output().expect("exits");
    let log = String::from_utf8_lossy(&output.stdout);

    assert_eq!(output.status.code(), Some(1), "{log}");
    assert_eq!(posts[0].url.path(), "/2018-06-01/runtime/init/error");
    assert_eq!(
        posts[0]
            .headers
            .get("lambda-runtime-function-error-type")
            .unwrap(),
        "Runtime.InitError"
    );
    let report: Value = serde_json::from_slice(&posts[0].body).unwrap();
    let message = report["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("pipeline.yaml:2:15: error: invalid URL"),
        "{message}"
    );
    assert!(
        message.contains("missing required key `process`"),
        "{message}"
    );
    assert!(log.contains("init failed"), "{log}");
    let next_requests = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == NEXT)
        .count();
    assert_eq!(
        next_requests, 0,
        "no invocation is taken after a failed init"
    );
}
