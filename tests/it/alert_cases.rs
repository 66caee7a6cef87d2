//! Alert cases beyond the price series (`alerts.rs`), on the embedded backend: the digest
//! period (the binary, then `runtime::alerts::flush` driven with an explicit `now`), concurrent
//! consumers on the same series, and a rule whose condition errors.

use std::sync::Arc;

use chrono::{Duration, Utc};
use stockrun::aws::Aws;
use stockrun::compile::load;
use stockrun::config::env::Environment;
use stockrun::config::load::UnsetVariables;
use stockrun::runtime::Stages;
use stockrun::runtime::backend::{Backend, BackendKind};
use tokio_util::sync::CancellationToken;

use crate::alerts::{Series, outbox_subjects, pipeline, run_with};
use crate::support::assert_contains;
use crate::workspace::{Workspace, count};

/// The stages of `ws`'s pipeline on `kind`, as a running consumer builds them.
pub(crate) fn stages(ws: &Workspace, kind: BackendKind, aws: Arc<Aws>) -> Stages {
    let env = Environment::from_pairs([("PRICES", "poll-1")]);
    let loaded = load(&ws.file(), &env, UnsetVariables::Deny).expect("the pipeline loads");
    let backend = Backend {
        kind,
        state_dir: ws.state(),
        smtp: None,
        visibility_timeout: None,
        aws,
    };
    let queue = backend.queue(&loaded.pipeline).expect("the queue opens");
    Stages::open(&loaded, &backend, queue).expect("the stages open")
}

/// The text of every `.eml` in `ws`'s outbox whose subject starts with `prefix`.
fn emails_with_subject(ws: &Workspace, prefix: &str) -> Vec<String> {
    ws.emails()
        .into_iter()
        .filter(|email| email.contains(&format!("Subject: {prefix}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_gathers_a_periods_alerts_into_one_mail_and_the_next_waits_until_due() {
    let series = Series::new();
    let ws = Workspace::new(&pipeline("digest", &series.expires(), "digest: 1m", 10));
    series.write(ws.dir());

    // First run: poll 1 (no alert), poll 2 (four): one digest listing the four.
    for prices in ["poll-1", "poll-2"] {
        let out = run_with(&ws, &["run", "--once"], prices);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    let digests = emails_with_subject(&ws, "digest: ");
    assert_eq!(outbox_subjects(&ws).len(), 1, "one mail: {digests:?}");
    assert_contains(
        &digests[0],
        "Subject: digest: 4 alerts (band, cool, expiring, level)",
    );
    for subject in series.expected(2) {
        assert_contains(&digests[0], &subject);
    }

    // Second run within the period: `move` fires (poll 4, a late record), nothing is mailed.
    for prices in ["poll-3", "poll-4"] {
        let out = run_with(&ws, &["run", "--once"], prices);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    assert_eq!(outbox_subjects(&ws).len(), 1, "the next digest is not due");
    let db = ws.database("digest");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM alert_ledger WHERE settled_at IS NULL"
        ),
        1,
        "`move` waits in the outbox"
    );

    // The period ends: the flush (the consumer's timer, the Lambda schedule) mails it.
    let stages = stages(&ws, BackendKind::Local, Aws::new());
    let stop = CancellationToken::new();
    let now = Utc::now();
    assert_eq!(
        stockrun::runtime::alerts::flush(&stages, &stop, now).await,
        0,
        "not due yet"
    );
    let due = now + Duration::seconds(61);
    assert_eq!(
        stockrun::runtime::alerts::flush(&stages, &stop, due).await,
        1
    );
    let digests = emails_with_subject(&ws, "digest: ");
    assert_eq!(digests.len(), 2);
    let second = digests
        .iter()
        .find(|email| email.contains("Subject: digest: 1 alert (move)"))
        .unwrap_or_else(|| panic!("no digest of `move` in {digests:#?}"));
    for subject in series.expected(4) {
        assert_contains(second, &subject);
    }
    // Nothing left; and a later flush (a period after) mails nothing again.
    let later = due + Duration::seconds(61);
    assert_eq!(
        stockrun::runtime::alerts::flush(&stages, &stop, later).await,
        0
    );
    assert_eq!(ws.emails().len(), 2);
}

/// 30 quotes of each of LVL, BAND and COOL, all past their rule's level, after a first quote
/// of each below it: whatever order the consumers take them in, each rule fires exactly once (a
/// firing rule neither fires again nor re-arms while its condition holds; late records never
/// re-arm).
pub(crate) fn crowded(series: &Series, dir: &std::path::Path) {
    let mut quotes = Vec::new();
    for minute in 1..=30 {
        for (symbol, price) in [("LVL", 120 + minute), ("BAND", 130 + minute), ("COOL", 80)] {
            quotes.push(format!(
                r#"{{"symbol": "{symbol}", "price": {price}, "at": "{}"}}"#,
                series.at(minute)
            ));
        }
    }
    std::fs::write(
        dir.join("crowded.json"),
        format!("[{}]", quotes.join(",\n")),
    )
    .expect("write the quotes");
}

/// The subjects `crowded` must mail, sorted, without their time (which record fires depends on
/// who got there first).
pub(crate) const CROWDED: [&str; 3] = ["band BAND", "cool COOL", "level LVL"];

/// `subjects` without the time, sorted.
pub(crate) fn without_time(subjects: &[String]) -> Vec<String> {
    let mut rules: Vec<String> = subjects
        .iter()
        .map(|s| {
            s.rsplit_once(' ')
                .map_or(s.as_str(), |(rule, _)| rule)
                .to_owned()
        })
        .collect();
    rules.sort();
    rules
}

#[test]
fn two_consumers_on_the_same_series_mail_each_alert_exactly_once() {
    let series = Series::new();
    let ws = Workspace::new(&pipeline("crowd", &series.expires(), "", 3));
    series.write(ws.dir());
    crowded(&series, ws.dir());
    let first = run_with(&ws, &["run", "--once"], "poll-1");
    assert_eq!(first.code, 0, "{}", first.stderr);
    let polled = run_with(&ws, &["poll", "--once"], "crowded");
    assert_contains(&polled.stdout, "queued 90");

    let consumers: Vec<_> = (0..2)
        .map(|_| {
            ws.command(&["consume", "--once"])
                .env("PRICES", "poll-1")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("a consumer starts")
        })
        .collect();
    let mut stored = 0;
    for consumer in consumers {
        let out = consumer.wait_with_output().expect("the consumer ends");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stored += stdout
            .split("stored ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no stored count in {stdout}"));
    }
    assert_eq!(stored, 90, "every message stored once");

    let subjects = outbox_subjects(&ws);
    assert_eq!(without_time(&subjects), CROWDED, "{subjects:#?}");
    let db = ws.database("crowd");
    assert_eq!(count(&db, "SELECT count(*) FROM alert_ledger"), 3);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM alert_ledger WHERE settled_at IS NULL"
        ),
        0
    );
}

#[test]
fn a_rule_that_fails_for_a_record_skips_that_rule_and_the_record_is_stored() {
    let ws = Workspace::new(
        r#"name: failing
source:
  url: file:quotes.json
  records: $[*]
queue: { batch_size: 10, batch_window: 1s, max_receive_count: 2 }
process:
  fields:
    symbol: { path: $.symbol, type: string, required: true }
    price:  { path: $.price, type: number, required: true }
    volume: { path: $.volume, type: integer }
store:
  table: quotes
  key:
    partition: { name: symbol, value: "{{symbol}}" }
notify:
  from: failing@example.com
  to: [me@example.com]
  rules:
    missing:
      when: volume > 1000
      subject: "missing {{symbol}}"
      text: "{{symbol}} traded {{volume}}"
    divided:
      when: 100 / (volume - volume) > 1
      subject: "divided {{symbol}}"
      text: "{{symbol}}"
    level:
      when: price > 110.0
      subject: "level {{symbol}}"
      text: "{{symbol}} at {{price}}"
"#,
    );
    std::fs::write(
        ws.dir().join("quotes.json"),
        r#"[{"symbol": "NOVOL", "price": 120}, {"symbol": "VOL", "price": 120, "volume": 5000}]"#,
    )
    .expect("write the quotes");

    let out = ws.run(&["run", "--once"]);

    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, "stored 2, dead-lettered 0");
    // `missing` fails for NOVOL only, `divided` for both; `level` fires for both.
    assert_eq!(
        outbox_subjects(&ws),
        ["level NOVOL", "level VOL", "missing VOL"]
    );
    let skipped: Vec<&str> = out
        .stderr
        .lines()
        .filter(|line| line.contains("rule skipped for this record"))
        .collect();
    assert_eq!(skipped.len(), 3, "{}", out.stderr);
    for (rule, series) in [
        ("missing", "NOVOL"),
        ("divided", "NOVOL"),
        ("divided", "VOL"),
    ] {
        assert!(
            skipped
                .iter()
                .any(|line| line.contains(&format!("rule=\"{rule}\""))
                    && line.contains(&format!("series=\"{series}\""))),
            "no skip of {rule} for {series}:\n{}",
            out.stderr
        );
    }
    let db = ws.database("failing");
    assert_eq!(count(&db, "SELECT count(*) FROM items"), 2);
    let dead = ws.run(&["show", "--dead"]);
    assert_contains(&dead.stdout, "0 dead-lettered");
}
