//! The DynamoDB alert ledger beyond the contract suite (`contract::ledger`): `stockrun init`
//! creates its table beside the records table (every pipeline has one), a commit of
//! more alerts than one transaction holds lands whole, and a missing table says how to make it.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use stockrun::alert::ledger::dynamodb::DynamoDbLedger;
use stockrun::alert::ledger::{AlertLedger, Commit, StateWrite};
use stockrun::alert::{Alert, AlertKind, SeriesState, alert_id};

use crate::moto::{aws_at, aws_env, moto_url, unique};
use crate::workspace::Workspace;

/// A pipeline with one alert rule, whose queue, tables and sender are its own.
fn pipeline_with_rules(name: &str) -> String {
    format!(
        r#"name: {name}
source:
  url: http://127.0.0.1:9/any
  schedule: "0 * * * * *"
  records: $[*]
process:
  fields:
    symbol:    {{ path: $.symbol, type: string, required: true }}
    price:     {{ path: $.price, type: number, required: true }}
    quoted_at: {{ path: $.quoted_at, type: timestamp, required: true }}
store:
  table: {name}
  key:
    partition: {{ name: symbol,    value: "{{{{symbol}}}}" }}
    sort:      {{ name: quoted_at, value: "{{{{quoted_at}}}}" }}
notify:
  from: {name}@example.com
  to: [me@example.com]
  rules:
    big_move:
      when: 'abs(price - prev.price) / prev.price > 0.02'
      subject: '{{{{symbol}}}} moved'
      text: '{{{{symbol}}}} at {{{{price}}}}'
"#
    )
}

/// `n` alerts of one series.
fn alerts(series: &str, n: usize) -> Vec<Alert> {
    (0..n)
        .map(|i| {
            let sort = format!("2024-03-18T10:{:02}:{:02}Z", i / 60, i % 60);
            Alert {
                id: alert_id("big_move", AlertKind::Fired, series, &sort),
                rule: "big_move".to_owned(),
                kind: AlertKind::Fired,
                series: series.to_owned(),
                sort,
                at: Utc.with_ymd_and_hms(2024, 3, 18, 10, 0, 0).unwrap()
                    + chrono::Duration::seconds(i64::try_from(i).unwrap()),
                subject: format!("{series} moved"),
                text: format!("alert {i}"),
                html: None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn init_creates_the_alert_table_and_the_ledger_uses_it() {
    let url = moto_url();
    let name = unique("ledger-init");
    let ws = Workspace::new(&pipeline_with_rules(&name)).with_env(aws_env(&url));

    let first = ws.run(&["init", "--backend", "aws"]);
    let second = ws.run(&["init", "--backend", "aws"]);

    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(
        first.stdout.contains(&format!(
            "created table {name}-alerts (key pk HASH, sk RANGE; on-demand billing)\n"
        )),
        "{}",
        first.stdout
    );
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(
        second
            .stdout
            .contains(&format!("exists  table {name}-alerts\n")),
        "{}",
        second.stdout
    );
    let ledger = DynamoDbLedger::new(aws_at(&url).await, &format!("{name}-alerts"));
    let commit = Commit {
        states: vec![StateWrite {
            series: "INFY".to_owned(),
            expected_version: 0,
            state: SeriesState::default(),
        }],
        alerts: alerts("INFY", 1),
        claimed_until: None,
    };
    ledger.commit(&commit).await.expect("commit");
    let loaded = ledger.load(&["INFY".to_owned()]).await.expect("load");
    assert_eq!(loaded["INFY"].version, 1);
}

/// 60 alerts are 120 transaction items with the state: more than one TransactWriteItems holds
/// (100). They are split, the state going last, and every alert arrives once.
#[tokio::test]
async fn a_commit_of_more_alerts_than_a_transaction_holds_lands_whole() {
    let url = moto_url();
    let table = format!("{}-alerts", unique("ledger-big"));
    let aws = aws_at(&url).await;
    crate::contract::ledger::create_table(&aws, &table).await;
    let ledger = DynamoDbLedger::new(Arc::clone(&aws), &table);
    let raised = alerts("INFY", 60);
    let commit = Commit {
        states: vec![StateWrite {
            series: "INFY".to_owned(),
            expected_version: 0,
            state: SeriesState::default(),
        }],
        alerts: raised.clone(),
        claimed_until: None,
    };

    let before = aws.requests();
    ledger.commit(&commit).await.expect("commit");

    assert_eq!(aws.requests() - before, 2, "two transactions");
    let since = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(ledger.raised_since(since).await.expect("raised"), raised);
    let claimed = ledger
        .claim(Utc::now(), std::time::Duration::from_secs(60), 100)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 60);
}

#[tokio::test]
async fn a_missing_alert_table_says_how_to_create_it() {
    let ledger = DynamoDbLedger::new(aws_at(&moto_url()).await, &unique("no-such-alerts"));

    let error = ledger
        .load(&["INFY".to_owned()])
        .await
        .expect_err("no table");

    assert!(
        error
            .to_string()
            .ends_with("does not exist: create it with `stockrun init FILE --backend aws`"),
        "{error}"
    );
}
