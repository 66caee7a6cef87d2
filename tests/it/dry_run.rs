//! `run --dry-run` and `poll --dry-run`: a real poll and real processing, a report of what would
//! be queued, stored, dead-lettered and mailed, and nothing written: no state directory locally,
//! no message or item on AWS (moto).

use crate::aws_e2e::{body, emails_from, initialised, item_count, queue_counts};
use crate::moto::{aws_at, moto_url, unique};
use crate::support::assert_contains;
use crate::workspace::{Workspace, pipeline, serve};

#[tokio::test]
async fn run_dry_run_reports_what_would_be_stored_and_mailed_and_writes_nothing() {
    let source = serve(body(2, 1)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", source.uri()), "dry"));
    let out = ws.run(&["run", "--dry-run"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    for line in [
        "dry: dry run: nothing is queued, stored or mailed",
        "polled: 1 requests, 0 failed feeds, 3 records",
        "would queue 3 messages:",
        "would store 2 records:",
        r#"{"symbol":"E2E000","quoted_at":"2024-03-18T10:29:38.000Z","price":1000.000"#,
        "would dead-letter 1 record:",
        "record-3: required field `price`",
        "would mail 1 e-mail:",
        "  From: stockrun@example.com",
        "  To: me@example.com",
        "  Subject: 2 new quotes",
        "    E2E001: 1001.010 (high 200.50, low 99.25)",
    ] {
        assert_contains(&out.stdout, line);
    }
    assert!(
        !ws.state().exists(),
        "the dry run created the state directory"
    );
    // The same run for real stores what the dry run said.
    let real = ws.run(&["run", "--once"]);
    assert_eq!(real.code, 0, "{}", real.stderr);
    assert_contains(&real.stdout, "stored 2");
}

#[tokio::test]
async fn poll_dry_run_prints_the_messages_and_queues_none() {
    let source = serve(body(2, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", source.uri()), "drypoll"));
    let out = ws.run(&["poll", "--dry-run"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, "would queue 2 messages:");
    assert_contains(&out.stdout, r#""record":{"symbol":"E2E001""#);
    assert!(!out.stdout.contains("would store"), "{}", out.stdout);
    assert!(
        !ws.state().exists(),
        "the dry run created the state directory"
    );
}

#[test]
fn a_dry_run_whose_every_request_fails_exits_3_and_writes_nothing() {
    // Nothing listens on port 9 (discard) here: every request fails.
    let ws = Workspace::new(&pipeline("http://127.0.0.1:9/price", "dryfail"));
    for command in ["run", "poll"] {
        let out = ws.run(&[command, "--dry-run"]);
        assert_eq!(out.code, 3, "{command}: {}\n{}", out.stdout, out.stderr);
        assert_contains(&out.stdout, "1 failed feeds, 0 records");
    }
    assert!(!ws.state().exists());
}

#[test]
fn a_dry_run_of_an_invalid_pipeline_exits_1_and_dry_run_is_not_an_option_of_consume() {
    let ws = Workspace::new("name: broken\n");
    assert_eq!(ws.run(&["run", "--dry-run"]).code, 1);
    let consume = ws.run(&["consume", "--dry-run"]);
    assert_eq!(consume.code, 2, "{}", consume.stderr);
    assert!(!ws.state().exists());
}

#[tokio::test]
async fn a_dry_run_on_aws_sends_no_message_and_writes_no_item() {
    let source = serve(body(3, 1)).await;
    let name = unique("dry");
    let ws = initialised(&format!("{}/price", source.uri()), &name, 3);
    let aws = aws_at(&moto_url()).await;
    for command in ["run", "poll"] {
        let out = ws.run(&[command, "--dry-run", "--backend", "aws"]);
        assert_eq!(out.code, 0, "{command}: {}\n{}", out.stdout, out.stderr);
        assert_contains(&out.stdout, "would queue 4 messages:");
    }
    assert_eq!(queue_counts(&aws, &name).await, (0, 0));
    assert_eq!(queue_counts(&aws, &format!("{name}-dlq")).await, (0, 0));
    assert_eq!(item_count(&aws, &name).await, 0);
    assert!(emails_from(&format!("{name}@example.com")).await.is_empty());
}
