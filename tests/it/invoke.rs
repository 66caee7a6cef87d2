//! `stockrun invoke`: the Lambda handler run in process with the event AWS would send, on the
//! local backend; `--print-event` prints events the handler takes.

use serde_json::Value;
use stockrun::runtime::lambda::{Invocation, classify};

use crate::aws_e2e::body;
use crate::support::{assert_contains, stockrun};
use crate::workspace::{Workspace, pipeline, serve};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn print_event_prints_events_the_handler_takes() {
    let sqs = stockrun(&["invoke", "--print-event", "sqs"], &[]);
    assert_eq!(sqs.code, 0, "{}", sqs.stderr);
    let Invocation::Sqs(messages) = classify(json(&sqs.stdout)).expect("an event") else {
        panic!("not an SQS batch:\n{}", sqs.stdout);
    };
    assert_eq!(messages.len(), 1);
    assert!(json(&messages[0].body)["record"].is_object());
    let schedule = stockrun(&["invoke", "--print-event", "schedule"], &[]);
    assert_eq!(schedule.code, 0, "{}", schedule.stderr);
    assert!(matches!(
        classify(json(&schedule.stdout)),
        Ok(Invocation::Scheduled)
    ));
}

#[tokio::test]
async fn a_scheduled_invocation_polls_and_queues_and_answers_with_the_counts() {
    let source = serve(body(3, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", source.uri()), "inv"));
    let out = ws.run(&["invoke", "--event", "schedule"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let response = json(&out.stdout);
    assert_eq!(response["pipeline"], "inv");
    assert_eq!(response["fetched"], 3);
    assert_eq!(response["queued"], 3);
    // Queued locally, where `consume` finds them.
    let consume = ws.run(&["consume", "--once"]);
    assert_contains(&consume.stdout, "stored 3");
}

#[tokio::test]
async fn an_sqs_invocation_stores_and_lists_the_poison_record_in_batch_item_failures() {
    let source = serve(body(2, 1)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", source.uri()), "invsqs"));
    // Without --records: the batch is what one poll fetches.
    let out = ws.run(&["invoke", "--event", "sqs"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let failures = json(&out.stdout)["batchItemFailures"].clone();
    assert_eq!(failures.as_array().map(Vec::len), Some(1), "{}", out.stdout);
    let stored: i64 = ws
        .database("invsqs")
        .query_row("SELECT count(*) FROM items", [], |row| row.get(0))
        .expect("count");
    assert_eq!(stored, 2);
    assert_eq!(ws.emails().len(), 1, "the digest goes to the outbox");
}

#[test]
fn records_from_a_file_are_wrapped_as_the_poller_wraps_them() {
    let ws = Workspace::new(&pipeline("http://127.0.0.1:9/price", "invrec"));
    let records = ws.dir().join("records.json");
    std::fs::write(
        &records,
        r#"[{"symbol": "AAA", "lastPrice": 10.5, "lastUpdateTime": "18-Mar-2024 15:59:38"}]"#,
    )
    .expect("write");
    let records = records.display().to_string();
    let out = ws.run(&["invoke", "--event", "sqs", "--records", &records]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        json(&out.stdout)["batchItemFailures"],
        serde_json::json!([])
    );
    assert_eq!(ws.emails().len(), 1);
}

#[test]
fn a_failed_invocation_exits_3_with_the_error_lambda_reports() {
    // Nothing listens on port 9: the scheduled poll fails, as Lambda would report it.
    let ws = Workspace::new(&pipeline("http://127.0.0.1:9/price", "invfail"));
    let out = ws.run(&["invoke", "--event", "schedule"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(json(&out.stdout)["errorType"], "PollFailed");
}

#[test]
fn bad_records_files_and_usage_errors_are_refused() {
    let ws = Workspace::new(&pipeline("http://127.0.0.1:9/price", "invbad"));
    let records = ws.dir().join("records.json");
    std::fs::write(&records, r#"{"not": "an array"}"#).expect("write");
    let records = records.display().to_string();
    let out = ws.run(&["invoke", "--event", "sqs", "--records", &records]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_contains(&out.stderr, "must hold a JSON array");
    let missing = ws.run(&["invoke", "--event", "sqs", "--records", "no/such.json"]);
    assert_eq!(missing.code, 3, "{}", missing.stderr);
    assert_contains(&missing.stderr, "cannot read the records file");
    for args in [
        &["invoke", "p.yaml"][..],
        &["invoke", "--event", "sqs"],
        &["invoke", "p.yaml", "--event", "sqs", "--print-event", "sqs"],
        &["invoke", "--event", "kafka", "p.yaml"],
    ] {
        let out = stockrun(args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
    let invalid = stockrun(&["invoke", "no/such.yaml", "--event", "sqs"], &[]);
    assert_eq!(invalid.code, 1, "{}", invalid.stderr);
}

#[tokio::test]
async fn an_sqs_invocation_on_aws_stores_in_dynamodb_and_mails_through_ses() {
    let source = serve(body(2, 1)).await;
    let name = crate::moto::unique("inv");
    let ws = crate::aws_e2e::initialised(&format!("{}/price", source.uri()), &name, 3);
    let out = ws.run(&["invoke", "--event", "sqs", "--backend", "aws"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let failures = json(&out.stdout)["batchItemFailures"].clone();
    assert_eq!(failures.as_array().map(Vec::len), Some(1), "{}", out.stdout);
    let aws = crate::moto::aws_at(&crate::moto::moto_url()).await;
    assert_eq!(crate::aws_e2e::item_count(&aws, &name).await, 2);
    assert_eq!(
        crate::aws_e2e::emails_from(&format!("{name}@example.com"))
            .await
            .len(),
        1
    );
    // The batch was built, not received: the queue never saw it.
    assert_eq!(crate::aws_e2e::queue_counts(&aws, &name).await, (0, 0));
    assert!(!ws.state().exists());
}
