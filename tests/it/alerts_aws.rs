//! Alert rules on AWS (moto), with the real binary and the Lambda handler: the price series of
//! `alerts.rs` mails exactly the expected alerts through SES v2 and `backtest --backend aws`
//! counts the same; two consumers on the same series mail each alert once; a digest waits for
//! its period; an SQS event that fires an alert mails it, and the scheduled event flushes a
//! digest. Every test names its own queue, table and sender ([`unique`]).

use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use stockrun::aws::Aws;
use stockrun::compile::load;
use stockrun::config::env::Environment;
use stockrun::config::load::UnsetVariables;
use stockrun::runtime::backend::{Backend, BackendKind};
use stockrun::runtime::lambda::Handler;
use tokio_util::sync::CancellationToken;

use crate::alert_cases::{CROWDED, crowded, stages, without_time};
use crate::alerts::{Series, backtest, pipeline, run_with};
use crate::aws_e2e::emails_from;
use crate::lambda::{fixture, sqs_event};
use crate::moto::{aws_at, aws_env, moto_url, unique};
use crate::support::assert_contains;
use crate::workspace::Workspace;

/// The price series' pipeline `name` on moto, its polls written, after `stockrun init`.
fn initialised(series: &Series, name: &str, notify_extra: &str, batch_size: u32) -> Workspace {
    let ws = Workspace::new(&pipeline(name, &series.expires(), notify_extra, batch_size))
        .with_env(aws_env(&moto_url()));
    series.write(ws.dir());
    crowded(series, ws.dir());
    let init = run_with(&ws, &["init", "--backend", "aws"], "poll-1");
    assert_eq!(init.code, 0, "{}\n{}", init.stdout, init.stderr);
    ws
}

/// The subjects of the e-mails moto accepted from `name`'s sender, sorted.
async fn subjects(name: &str) -> Vec<String> {
    let mut subjects: Vec<String> = emails_from(&format!("{name}@example.com"))
        .await
        .iter()
        .map(|email| email["subject"].as_str().expect("a subject").to_owned())
        .collect();
    subjects.sort();
    subjects
}

/// How many items of the alert table of `table` have the partition key `pk` (`alert`,
/// `outbox`, `series`).
async fn ledger_count(aws: &Aws, table: &str, pk: &str) -> i32 {
    aws.dynamodb()
        .await
        .query()
        .table_name(stockrun::naming::alert_table(table))
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
        .select(Select::Count)
        .send()
        .await
        .expect("query the alert table")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_price_series_on_aws_mails_exactly_the_expected_alerts_and_backtest_counts_the_same() {
    let name = unique("alerts-series");
    let series = Series::new();
    let ws = initialised(&series, &name, "", 10);

    let mut mailed: Vec<String> = Vec::new();
    for n in 1..=series.polls() {
        let out = run_with(
            &ws,
            &["run", "--backend", "aws", "--once"],
            &format!("poll-{n}"),
        );
        assert_eq!(out.code, 0, "poll {n}:\n{}\n{}", out.stdout, out.stderr);
        assert_contains(&out.stdout, "stored 5, dead-lettered 0");
        mailed.extend(series.expected(n));
        mailed.sort();
        assert_eq!(
            subjects(&name).await,
            mailed,
            "after poll {n}:\n{}",
            out.stderr
        );
    }
    let aws = aws_at(&moto_url()).await;
    assert_eq!(ledger_count(&aws, &name, "alert").await, 11);
    assert_eq!(ledger_count(&aws, &name, "outbox").await, 0);

    let (report, counts) = backtest(&ws, &["--backend", "aws"]);
    let mut want = series.fired_per_day();
    // Replayed in sort-key order, LATE's records fire `move` twice (see `alerts.rs`).
    want.insert(
        "move".to_owned(),
        std::collections::BTreeMap::from([(series.day(0), 2)]),
    );
    assert_eq!(counts, want, "{report:#}");
    let (_, counts) = backtest(&ws, &["--backend", "aws", "--series", "BAND"]);
    want.retain(|rule, _| rule == "band");
    assert_eq!(counts, want);
    let (report, _) = backtest(&ws, &["--backend", "aws", "--since", "36h"]);
    assert_eq!(report["records"], 5, "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_consumers_on_aws_on_the_same_series_mail_each_alert_exactly_once() {
    let name = unique("alerts-crowd");
    let series = Series::new();
    let ws = initialised(&series, &name, "", 3);
    let first = run_with(&ws, &["run", "--backend", "aws", "--once"], "poll-1");
    assert_eq!(first.code, 0, "{}", first.stderr);
    let polled = run_with(&ws, &["poll", "--backend", "aws", "--once"], "crowded");
    assert_contains(&polled.stdout, "queued 90");

    let consumers: Vec<_> = (0..2)
        .map(|_| {
            ws.command(&["consume", "--backend", "aws", "--once"])
                .env("PRICES", "poll-1")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("a consumer starts")
        })
        .collect();
    for consumer in consumers {
        let out = consumer.wait_with_output().expect("the consumer ends");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let subjects = subjects(&name).await;
    assert_eq!(without_time(&subjects), CROWDED, "{subjects:#?}");
    let aws = aws_at(&moto_url()).await;
    assert_eq!(ledger_count(&aws, &name, "alert").await, 3);
    assert_eq!(ledger_count(&aws, &name, "outbox").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_on_aws_waits_for_its_period() {
    let name = unique("alerts-digest");
    let series = Series::new();
    let ws = initialised(&series, &name, "digest: 1m", 10);
    for prices in ["poll-1", "poll-2", "poll-3", "poll-4"] {
        let out = run_with(&ws, &["run", "--backend", "aws", "--once"], prices);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    assert_eq!(
        subjects(&name).await,
        [format!("{name}: 4 alerts (band, cool, expiring, level)")]
    );

    let aws = aws_at(&moto_url()).await;
    let stages = stages(&ws, BackendKind::Aws, aws.clone());
    let stop = CancellationToken::new();
    let now = Utc::now();
    assert_eq!(
        stockrun::runtime::alerts::flush(&stages, &stop, now).await,
        0
    );
    let due = now + Duration::seconds(61);
    assert_eq!(
        stockrun::runtime::alerts::flush(&stages, &stop, due).await,
        1
    );
    let mut want = vec![
        format!("{name}: 4 alerts (band, cool, expiring, level)"),
        format!("{name}: 1 alert (move)"),
    ];
    want.sort();
    assert_eq!(subjects(&name).await, want);
    assert_eq!(ledger_count(&aws, &name, "outbox").await, 0);
}

// --- the Lambda handler -----------------------------------------------------------------------

/// The handler of `ws`'s pipeline on moto, as a container builds it.
fn handler(ws: &Workspace, aws: Arc<Aws>) -> Handler {
    let env = Environment::from_pairs([("PRICES", "poll-1")]);
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

/// Polls `prices` with the binary and hands the 5 queued messages to `handler` as Lambda's
/// event source mapping would.
async fn deliver(ws: &Workspace, handler: &Handler, aws: &Aws, name: &str, prices: &str) {
    let poll = run_with(ws, &["poll", "--backend", "aws", "--once"], prices);
    assert_eq!(poll.code, 0, "{}\n{}", poll.stdout, poll.stderr);
    let event = sqs_event(aws, name, 5).await;
    let response = handler.handle(event).await.expect("handled");
    assert_eq!(response, json!({ "batchItemFailures": [] }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_batch_that_fires_alerts_mails_them_from_lambda() {
    let name = unique("alerts-lambda");
    let series = Series::new();
    let ws = initialised(&series, &name, "", 10);
    let aws = aws_at(&moto_url()).await;
    let handler = handler(&ws, aws.clone());

    deliver(&ws, &handler, &aws, &name, "poll-1").await;
    assert_eq!(subjects(&name).await, Vec::<String>::new());
    deliver(&ws, &handler, &aws, &name, "poll-2").await;
    assert_eq!(subjects(&name).await, series.expected(2));
    assert_eq!(ledger_count(&aws, &name, "outbox").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_event_flushes_the_digest_from_lambda() {
    let name = unique("alerts-lambda-digest");
    let series = Series::new();
    let ws = initialised(&series, &name, "digest: 1m", 10);
    let aws = aws_at(&moto_url()).await;
    let handler = handler(&ws, aws.clone());
    deliver(&ws, &handler, &aws, &name, "poll-1").await;
    deliver(&ws, &handler, &aws, &name, "poll-2").await;
    assert_eq!(subjects(&name).await, Vec::<String>::new(), "gathered");
    assert_eq!(ledger_count(&aws, &name, "outbox").await, 4);

    let response: Value = handler
        .handle(fixture("scheduled-event.json"))
        .await
        .expect("handled");

    assert_eq!(response["alerts_mailed"], 4, "{response}");
    assert_eq!(response["queued"], 5, "it polls as well: {response}");
    assert_eq!(
        subjects(&name).await,
        [format!("{name}: 4 alerts (band, cool, expiring, level)")]
    );
    assert_eq!(ledger_count(&aws, &name, "outbox").await, 0);
}
