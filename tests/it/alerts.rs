//! Alert rules end to end on the embedded backend, with the real binary: a recorded price series
//! (a sequence of `file:` responses picked by `${PRICES}`, as `examples/demo.yaml` picks its
//! recorded responses) must mail exactly the expected alerts, by subject; `backtest` replays the
//! same history into the same counts. The series and its expected alerts are shared with the AWS
//! tests (`alerts_aws.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use serde_json::Value;

use crate::support::{Output, assert_contains};
use crate::workspace::{Workspace, count};

/// A pipeline `name` reading `file:${PRICES}.json` beside it (queue, table and sender its own),
/// with one rule per behaviour: `level` (fire once, re-arm when false, a resolved mail), `cool`
/// (a cooldown of 1 h), `expiring` (expires at `expires`), `band` (a `rearm` condition) and
/// `move` (against the previous record: late records). `notify_extra` goes into `notify`
/// (`digest: 1m`), `batch_size` into `queue`.
pub(crate) fn pipeline(name: &str, expires: &str, notify_extra: &str, batch_size: u32) -> String {
    format!(
        r#"name: {name}
source:
  url: file:${{PRICES}}.json
  schedule: "* * * * * *"
  records: $[*]
queue: {{ name: {name}, batch_size: {batch_size}, batch_window: 1s, max_receive_count: 2 }}
process:
  fields:
    symbol:    {{ path: $.symbol, type: string, required: true }}
    price:     {{ path: $.price, type: number, required: true }}
    quoted_at: {{ path: $.at, type: timestamp, required: true }}
store:
  table: {name}
  key:
    partition: {{ name: symbol, value: "{{{{symbol}}}}" }}
    sort:      {{ name: quoted_at, value: "{{{{quoted_at}}}}" }}
notify:
  from: {name}@example.com
  to: [me@example.com]
  {notify_extra}
  rules:
    level:
      when: symbol == "LVL" && price > 110.0
      subject: "level {{{{symbol}}}} {{{{quoted_at}}}}"
      text: "{{{{symbol}}}} at {{{{price}}}}"
      resolved:
        subject: "level resolved {{{{symbol}}}} {{{{quoted_at}}}}"
        text: "{{{{symbol}}}} back at {{{{price}}}}"
    cool:
      when: symbol == "COOL" && price < 90.0
      cooldown: 1h
      subject: "cool {{{{symbol}}}} {{{{quoted_at}}}}"
      text: "{{{{symbol}}}} at {{{{price}}}}"
    expiring:
      when: symbol == "EXP" && price > 110.0
      expires: {expires}
      subject: "expiring {{{{symbol}}}} {{{{quoted_at}}}}"
      text: "{{{{symbol}}}} at {{{{price}}}}"
    band:
      when: symbol == "BAND" && price > 110.0
      rearm: price < 100.0
      subject: "band {{{{symbol}}}} {{{{quoted_at}}}}"
      text: "{{{{symbol}}}} at {{{{price}}}}"
      resolved:
        subject: "band resolved {{{{symbol}}}} {{{{quoted_at}}}}"
        text: "{{{{symbol}}}} back at {{{{price}}}}"
    move:
      when: symbol == "LATE" && abs(price - prev.price) / prev.price > 0.05
      subject: "move {{{{symbol}}}} {{{{quoted_at}}}}"
      text: "{{{{symbol}}}} {{{{prev.price}}}} -> {{{{price}}}}"
      resolved:
        subject: "move resolved {{{{symbol}}}} {{{{quoted_at}}}}"
        text: "{{{{symbol}}}} steady at {{{{price}}}}"
"#
    )
}

/// The recorded price series: its polls (written as `poll-N.json` into a workspace), the time
/// they start at and the alerts each poll must mail.
pub(crate) struct Series {
    /// Two days ago, on the hour: the history is recent, so `backtest --since` reaches into it.
    pub base: DateTime<Utc>,
}

/// One quote of a poll: symbol, price (as written) and minutes after [`Series::base`].
type Quote = (&'static str, &'static str, i64);

/// A day, in minutes.
const DAY: i64 = 24 * 60;

/// The polls, in order. Per symbol: `LVL` fires at +5, stays above (nothing), resolves at +15,
/// fires again a day later; `COOL` fires at +5, re-arms at +10 (no resolved mail), is below
/// again at +15 inside its cooldown (nothing) and fires a day later; `EXP` fires at +5 and not
/// after its expiry (+12 h); `BAND` fires at +5, does not re-arm at 105 (its `rearm` wants
/// < 100), resolves at 95; `LATE` gets records out of order: +10 (101, 1 % above +0: nothing),
/// then +5 late (106: 6 % above *its* previous, +0, so it fires), then +2 late (100.5: within
/// 5 % of its previous, which would re-arm a new record, but a late one never re-arms), then +20
/// (110, 9 % above +10: still firing, nothing), then a day later (110.5: re-arms, resolved).
/// Poll 3 is poll 2 again: the same data mails nothing.
const POLLS: [&[Quote]; 7] = [
    &[
        ("LVL", "100", 0),
        ("COOL", "100", 0),
        ("EXP", "100", 0),
        ("BAND", "100", 0),
        ("LATE", "100", 0),
    ],
    &[
        ("LVL", "120", 5),
        ("COOL", "80", 5),
        ("EXP", "120", 5),
        ("BAND", "120", 5),
        ("LATE", "101", 10),
    ],
    &[
        ("LVL", "120", 5),
        ("COOL", "80", 5),
        ("EXP", "120", 5),
        ("BAND", "120", 5),
        ("LATE", "101", 10),
    ],
    &[
        ("LVL", "125", 10),
        ("COOL", "100", 10),
        ("EXP", "100", 10),
        ("BAND", "105", 10),
        ("LATE", "106", 5),
    ],
    &[
        ("LVL", "100", 15),
        ("COOL", "80", 15),
        ("EXP", "100", 15),
        ("BAND", "95", 15),
        ("LATE", "100.5", 2),
    ],
    &[
        ("LVL", "101", 20),
        ("COOL", "100", 20),
        ("EXP", "101", 20),
        ("BAND", "101", 20),
        ("LATE", "110", 20),
    ],
    &[
        ("LVL", "120", DAY),
        ("COOL", "80", DAY),
        ("EXP", "120", DAY),
        ("BAND", "120", DAY),
        ("LATE", "110.5", DAY),
    ],
];

/// The alerts each poll mails: (subject prefix, minutes after base).
const EXPECTED: [&[(&str, i64)]; 7] = [
    &[],
    &[
        ("level LVL", 5),
        ("cool COOL", 5),
        ("expiring EXP", 5),
        ("band BAND", 5),
    ],
    &[],
    &[("move LATE", 5)],
    &[("level resolved LVL", 15), ("band resolved BAND", 15)],
    &[],
    &[
        ("level LVL", DAY),
        ("cool COOL", DAY),
        ("band BAND", DAY),
        ("move resolved LATE", DAY),
    ],
];

impl Series {
    pub(crate) fn new() -> Series {
        let base = (Utc::now() - Duration::days(2))
            .duration_trunc(Duration::hours(1))
            .expect("an hour");
        Series { base }
    }

    /// How many polls there are.
    pub(crate) fn polls(&self) -> usize {
        POLLS.len()
    }

    /// `expiring`'s expiry: after the first polls, before the one a day later.
    pub(crate) fn expires(&self) -> String {
        stamp(self.base + Duration::hours(12))
    }

    /// The stored text of the time `minutes` after base (what `{{quoted_at}}` renders).
    pub(crate) fn at(&self, minutes: i64) -> String {
        stamp(self.base + Duration::minutes(minutes))
    }

    /// Writes every poll into `dir` as `poll-N.json` (N from 1).
    pub(crate) fn write(&self, dir: &std::path::Path) {
        for (n, quotes) in POLLS.iter().enumerate() {
            let body: Vec<String> = quotes
                .iter()
                .map(|(symbol, price, minutes)| {
                    format!(
                        r#"{{"symbol": "{symbol}", "price": {price}, "at": "{}"}}"#,
                        self.at(*minutes)
                    )
                })
                .collect();
            std::fs::write(
                dir.join(format!("poll-{}.json", n + 1)),
                format!("[{}]", body.join(",\n")),
            )
            .expect("write a poll");
        }
    }

    /// The subjects poll `n` (from 1) mails, sorted.
    pub(crate) fn expected(&self, n: usize) -> Vec<String> {
        let mut subjects: Vec<String> = EXPECTED[n - 1]
            .iter()
            .map(|(prefix, minutes)| format!("{prefix} {}", self.at(*minutes)))
            .collect();
        subjects.sort();
        subjects
    }

    /// The UTC day of the time `minutes` after base, as `backtest` names days.
    pub(crate) fn day(&self, minutes: i64) -> String {
        (self.base + Duration::minutes(minutes))
            .format("%Y-%m-%d")
            .to_string()
    }

    /// Fired alerts per rule per day (UTC) over the whole series, as `backtest` counts them.
    pub(crate) fn fired_per_day(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (prefix, minutes) in EXPECTED.iter().flat_map(|poll| poll.iter()) {
            if prefix.contains("resolved") {
                continue;
            }
            let rule = prefix.split(' ').next().expect("a rule").to_owned();
            let day = self.day(*minutes);
            *counts.entry(rule).or_default().entry(day).or_default() += 1;
        }
        counts
    }
}

/// An instant as a stored `timestamp` field's text.
fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Runs `stockrun ARGS FILE --state-dir STATE` with `PRICES=prices`.
pub(crate) fn run_with(ws: &Workspace, args: &[&str], prices: &str) -> Output {
    let output = ws
        .command(args)
        .env("PRICES", prices)
        .output()
        .expect("stockrun runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `Subject:` of every `.eml` file in the workspace's outbox, sorted.
pub(crate) fn outbox_subjects(ws: &Workspace) -> Vec<String> {
    let mut subjects: Vec<String> = ws
        .emails()
        .iter()
        .map(|email| {
            email
                .lines()
                .find_map(|line| line.strip_prefix("Subject: "))
                .unwrap_or_else(|| panic!("no subject in {email}"))
                .to_owned()
        })
        .collect();
    subjects.sort();
    subjects
}

/// `backtest ARGS --format json`, parsed; its fired counts per rule per day.
pub(crate) fn backtest(
    ws: &Workspace,
    args: &[&str],
) -> (Value, BTreeMap<String, BTreeMap<String, u64>>) {
    let mut all = vec!["backtest", "--format", "json"];
    all.extend_from_slice(args);
    let out = run_with(ws, &all, "poll-1");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("backtest --format json is JSON ({e}):\n{}", out.stdout));
    let mut counts = BTreeMap::new();
    for rule in report["rules"].as_array().expect("rules") {
        let per_day: BTreeMap<String, u64> =
            serde_json::from_value(rule["per_day"].clone()).expect("per_day");
        if !per_day.is_empty() {
            counts.insert(rule["rule"].as_str().expect("a rule").to_owned(), per_day);
        }
    }
    (report, counts)
}

#[test]
fn a_price_series_mails_exactly_the_expected_alerts_and_backtest_counts_the_same() {
    let series = Series::new();
    let ws = Workspace::new(&pipeline("series", &series.expires(), "", 10));
    series.write(ws.dir());

    let mut mailed: Vec<String> = Vec::new();
    for n in 1..=series.polls() {
        let out = run_with(&ws, &["run", "--once"], &format!("poll-{n}"));
        assert_eq!(out.code, 0, "poll {n}:\n{}\n{}", out.stdout, out.stderr);
        assert_contains(&out.stdout, "stored 5, dead-lettered 0");
        mailed.extend(series.expected(n));
        mailed.sort();
        assert_eq!(
            outbox_subjects(&ws),
            mailed,
            "after poll {n}:\n{}",
            out.stderr
        );
    }
    let db = ws.database("series");
    assert_eq!(
        count(&db, "SELECT count(*) FROM alert_ledger"),
        mailed.len() as i64,
        "every alert in the ledger once"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM alert_ledger WHERE settled_at IS NULL"
        ),
        0,
        "the outbox is empty: every alert mailed and settled"
    );

    // The same history replayed: the same fired alerts per rule and day.
    // Except `move`: live, LATE's records arrived out of order; the replay takes them in
    // sort-key order (+0, +2, +5, +10, +20), where 106 is 5.5 % above 100.5 and 110 is 8.9 %
    // above 101 after a re-arm at 101: it fires twice that day.
    let (report, counts) = backtest(&ws, &[]);
    let mut want = series.fired_per_day();
    want.insert("move".to_owned(), BTreeMap::from([(series.day(0), 2)]));
    assert_eq!(counts, want, "{report:#}");
    assert_eq!(report["series"], 5);
    // `--series`: one series only.
    let (_, counts) = backtest(&ws, &["--series", "LVL"]);
    let mut want = series.fired_per_day();
    want.retain(|rule, _| rule == "level");
    assert_eq!(counts, want);
    // `--since`: only the last day's records (the day-later poll), replayed from a fresh state:
    // the rules that fired live on that day, fire.
    let (report, counts) = backtest(&ws, &["--since", "36h"]);
    assert_eq!(report["records"], 5, "{report:#}");
    let day = series.day(DAY);
    let want: BTreeMap<String, BTreeMap<String, u64>> = ["band", "cool", "level"]
        .into_iter()
        .map(|rule| (rule.to_owned(), BTreeMap::from([(day.clone(), 1)])))
        .collect();
    assert_eq!(counts, want, "{report:#}");
}
