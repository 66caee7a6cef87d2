//! Tests of the SQS queue's own logic (the calls themselves are tested against moto in
//! tests/it/aws_queue.rs).

use super::lookup::arn_account_and_name;
use super::*;

fn bodies(sizes: &[usize]) -> Vec<String> {
    sizes.iter().map(|&n| "x".repeat(n)).collect()
}

#[test]
fn send_chunks_hold_at_most_ten_entries() {
    let chunks = send_chunks(&bodies(&[10; 25]));
    assert_eq!(chunks, vec![0..10, 10..20, 20..25]);
}

#[test]
fn send_chunks_hold_at_most_256_kib() {
    let big = 100 * 1024;
    let chunks = send_chunks(&bodies(&[
        big,
        big,
        big,
        10,
        crate::queue::MAX_MESSAGE_BYTES,
    ]));
    assert_eq!(chunks, vec![0..2, 2..4, 4..5]);
}

#[test]
fn send_chunks_of_nothing_is_nothing() {
    assert!(send_chunks(&[]).is_empty());
}

#[test]
fn redrive_policy_names_the_dead_letter_queue() {
    let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:quotes-dlq","maxReceiveCount":"3"}"#;
    let arn = dead_letter_arn(policy).unwrap();
    assert_eq!(
        arn_account_and_name(&arn),
        Some((Some("123456789012"), "quotes-dlq"))
    );
    assert_eq!(dead_letter_arn("{}"), None);
    assert_eq!(arn_account_and_name("quotes-dlq"), None);
}

#[test]
fn visibility_rounds_up_to_whole_seconds() {
    assert_eq!(whole_seconds_up(Duration::from_millis(1500)), 2);
    assert_eq!(whole_seconds_up(Duration::from_secs(90)), 90);
    assert_eq!(whole_seconds_up(Duration::ZERO), 0);
}

/// A queue `quotes` (by URL, so nothing is looked up) whose SQS endpoint is `server`.
async fn queue_on(server: &wiremock::MockServer) -> SqsQueue {
    use aws_sdk_sqs::config::{Credentials, Region};

    let url = format!("{}/123456789012/quotes", server.uri());
    let yaml = format!(
        "name: t\nsource:\n  url: http://127.0.0.1:9/\n  schedule: \"0 * * * * *\"\n  \
         records: $[*]\nqueue:\n  url: \"{url}\"\nprocess:\n  fields:\n    symbol: {{ path: $.symbol }}\n\
         store:\n  table: quotes\n  key:\n    partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n"
    );
    let checked = crate::config::load::check(
        yaml.as_bytes(),
        &crate::config::env::Environment::default(),
        crate::config::load::UnsetVariables::Deny,
    );
    let pipeline = checked
        .pipeline
        .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(server.uri())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    SqsQueue::new(Aws::with_config(config), &pipeline, None)
}

#[tokio::test]
async fn a_refused_call_names_the_queue_and_what_sqs_said_without_the_response_dump() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender")
                .set_body_raw(
                    r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
                    "application/x-amz-json-1.0",
                ),
        )
        .mount(&server)
        .await;

    let error = queue_on(&server)
        .await
        .receive(10, Duration::ZERO)
        .await
        .expect_err("refused");

    assert_eq!(
        error.to_string(),
        "SQS: queue `quotes`: ReceiveMessage: AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist."
    );
}
