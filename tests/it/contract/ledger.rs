//! The alert ledger contract: what the alert stage relies on from any `AlertLedger` — states
//! read back with their versions, a commit all or nothing (a stale version is a conflict, an
//! alert id raised already a duplicate, and nothing of either commit is written), exactly one of
//! two concurrent committers of one series wins, the outbox hands each alert to one sender per
//! lease, settled alerts leave the outbox but stay in the ledger, the last digest is remembered —
//! run against the SQLite ledger (`local::…`) and DynamoDB in moto (`dynamodb::…`), where the
//! requests of `load` and `commit` are counted too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use chrono::{DateTime, TimeZone, Utc};
use stockrun::alert::ledger::dynamodb::DynamoDbLedger;
use stockrun::alert::ledger::local::LocalLedger;
use stockrun::alert::ledger::{AlertLedger, Commit, CommitError, StateWrite};
use stockrun::alert::{Alert, AlertKind, RuleState, SeriesState, Snapshot, alert_id};
use stockrun::aws::Aws;
use tempfile::TempDir;

use super::contract_tests;
use crate::moto::{aws_at, moto_url, unique};

/// The two implementations of the contract.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// `LocalLedger` in a SQLite file of its own.
    Local,
    /// `DynamoDbLedger` on a moto table of its own, keyed like `stockrun init` makes it.
    DynamoDb,
}

/// A ledger under test, and what must live as long as it.
struct Subject {
    ledger: Arc<dyn AlertLedger>,
    /// Opens a second ledger on the same data (another process, another Lambda).
    second: Arc<dyn AlertLedger>,
    aws: Option<Arc<Aws>>,
    _dir: Option<TempDir>,
}

impl Subject {
    /// Requests sent to AWS so far (`None` on the local backend).
    fn requests(&self) -> Option<u64> {
        self.aws.as_ref().map(|aws| aws.requests())
    }
}

impl Backend {
    /// A fresh, empty ledger.
    async fn ledger(self) -> Subject {
        let table = unique("ledger");
        match self {
            Backend::Local => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let path = dir.path().join("state.db");
                let open = || Arc::new(LocalLedger::open(&path, &table).expect("open the ledger"));
                Subject {
                    ledger: open(),
                    second: open(),
                    aws: None,
                    _dir: Some(dir),
                }
            }
            Backend::DynamoDb => {
                let aws = aws_at(&moto_url()).await;
                let alerts = stockrun::naming::alert_table(&table);
                create_table(&aws, &alerts).await;
                let other = aws_at(&moto_url()).await;
                Subject {
                    ledger: Arc::new(DynamoDbLedger::new(Arc::clone(&aws), &alerts)),
                    second: Arc::new(DynamoDbLedger::new(other, &alerts)),
                    aws: Some(aws),
                    _dir: None,
                }
            }
        }
    }
}

/// Creates the alert table with the key `naming::alert_table_key` names, on-demand billing.
pub(crate) async fn create_table(aws: &Aws, table: &str) {
    let mut request = aws
        .dynamodb()
        .await
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for attribute in stockrun::naming::alert_table_key() {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&attribute.name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("complete attribute definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(&attribute.name)
                    .key_type(KeyType::from(attribute.role.key_type()))
                    .build()
                    .expect("complete key element"),
            );
    }
    request.send().await.unwrap_or_else(|e| {
        panic!(
            "create table {table}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        )
    });
}

/// 2024-03-18 10:00 plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 18, 10, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// The state of `series` after its record at `minute` fired the rule `up`.
fn state(series: &str, minute: i64) -> SeriesState {
    let mut fields = stockrun::alert::Fields::new();
    fields.insert("symbol".to_owned(), series.into());
    fields.insert("price".to_owned(), serde_json::json!(1609.75));
    SeriesState {
        last: Some(Snapshot {
            sort: at(minute).to_rfc3339(),
            fields,
        }),
        rules: BTreeMap::from([(
            "up".to_owned(),
            RuleState {
                firing: true,
                last_fired: Some(at(minute)),
            },
        )]),
        version: 0,
        recent: Vec::new(),
    }
}

/// The alert `up` fired by the record of `series` at `minute`.
fn alert(series: &str, minute: i64) -> Alert {
    let sort = at(minute).to_rfc3339();
    Alert {
        id: alert_id("up", AlertKind::Fired, series, &sort),
        rule: "up".to_owned(),
        kind: AlertKind::Fired,
        series: series.to_owned(),
        sort,
        at: at(minute),
        subject: format!("{series} is up"),
        text: format!("{series} moved at minute {minute}"),
        html: None,
    }
}

/// A commit of `series`' state from `expected` with `alerts`, claimed by nobody.
fn commit(series: &str, expected: u64, minute: i64, alerts: Vec<Alert>) -> Commit {
    Commit {
        states: vec![StateWrite {
            series: series.to_owned(),
            expected_version: expected,
            state: state(series, minute),
        }],
        alerts,
        claimed_until: None,
    }
}

fn ids(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|alert| alert.id.as_str()).collect()
}

// --- the cases ------------------------------------------------------------------------------

/// A committed state reads back as written with version 1, then 2; a series never written is
/// absent. On AWS a load of 10 series is one request, a commit one.
async fn committed_states_read_back_with_their_versions(backend: Backend) {
    let subject = backend.ledger().await;
    let ledger = &subject.ledger;
    let series: Vec<String> = (0..10).map(|i| format!("SYM{i}")).collect();
    assert!(ledger.load(&series).await.expect("load").is_empty());

    let before = subject.requests();
    ledger
        .commit(&commit("SYM1", 0, 1, vec![alert("SYM1", 1)]))
        .await
        .expect("commit");
    let committed = subject.requests();
    let loaded = ledger.load(&series).await.expect("load");
    let after = subject.requests();

    if let (Some(before), Some(committed), Some(after)) = (before, committed, after) {
        assert_eq!(committed - before, 1, "one TransactWriteItems per commit");
        assert_eq!(
            after - committed,
            1,
            "one BatchGetItem per load of 10 series"
        );
    }
    let mut want = state("SYM1", 1);
    want.version = 1;
    assert_eq!(loaded.len(), 1, "{loaded:?}");
    assert_eq!(loaded["SYM1"], want);

    ledger
        .commit(&commit("SYM1", 1, 2, Vec::new()))
        .await
        .expect("commit");
    let mut want = state("SYM1", 2);
    want.version = 2;
    assert_eq!(ledger.load(&series).await.expect("load")["SYM1"], want);
}

/// A commit expecting a version that is not the stored one is a conflict naming the series,
/// and writes nothing: not the other series' state, not its alerts.
async fn a_stale_version_is_a_conflict_and_nothing_is_written(backend: Backend) {
    let subject = backend.ledger().await;
    let ledger = &subject.ledger;
    ledger
        .commit(&commit("INFY", 0, 1, Vec::new()))
        .await
        .expect("commit");
    let mut stale = commit("INFY", 0, 2, vec![alert("INFY", 2)]);
    stale.states.push(StateWrite {
        series: "TCS".to_owned(),
        expected_version: 0,
        state: state("TCS", 2),
    });

    let refused = ledger.commit(&stale).await;

    assert!(
        matches!(&refused, Err(CommitError::Conflict(series)) if series == &["INFY"]),
        "{refused:?}"
    );
    let loaded = ledger
        .load(&["INFY".to_owned(), "TCS".to_owned()])
        .await
        .expect("load");
    assert_eq!(loaded["INFY"].version, 1);
    assert!(!loaded.contains_key("TCS"), "{loaded:?}");
    assert!(ledger.raised_since(at(0)).await.expect("raised").is_empty());
    assert!(
        ledger
            .claim(at(100), Duration::from_secs(60), 10)
            .await
            .expect("claim")
            .is_empty()
    );
}

/// A commit raising an alert whose id the ledger holds is a duplicate naming it, and writes
/// nothing; without that alert it commits.
async fn an_alert_raised_already_is_a_duplicate(backend: Backend) {
    let subject = backend.ledger().await;
    let ledger = &subject.ledger;
    let first = alert("INFY", 1);
    ledger
        .commit(&commit("INFY", 0, 1, vec![first.clone()]))
        .await
        .expect("commit");

    let again = commit("INFY", 1, 2, vec![first.clone(), alert("INFY", 2)]);
    let refused = ledger.commit(&again).await;

    assert!(
        matches!(&refused, Err(CommitError::Duplicate(ids)) if ids == std::slice::from_ref(&first.id)),
        "{refused:?}"
    );
    assert_eq!(
        ledger.load(&["INFY".to_owned()]).await.expect("load")["INFY"].version,
        1
    );
    assert_eq!(
        ids(&ledger.raised_since(at(0)).await.expect("raised")),
        [first.id.as_str()]
    );
    ledger
        .commit(&commit("INFY", 1, 2, vec![alert("INFY", 2)]))
        .await
        .expect("the commit without the duplicate");
    assert_eq!(ledger.raised_since(at(0)).await.expect("raised").len(), 2);
}

/// Two writers that read the same version of a series and commit at once: exactly one wins,
/// the other gets a conflict, round after round.
async fn of_two_concurrent_committers_exactly_one_wins(backend: Backend) {
    let subject = backend.ledger().await;
    for round in 0..5 {
        let version = u64::try_from(round).unwrap();
        let one = commit("INFY", version, round, vec![alert("INFY", 100 + round)]);
        let other = commit("INFY", version, round, vec![alert("INFY", 200 + round)]);

        let (a, b) = tokio::join!(subject.ledger.commit(&one), subject.second.commit(&other));

        let outcomes = [&a, &b];
        let won = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        let lost = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Err(CommitError::Conflict(_))))
            .count();
        assert_eq!((won, lost), (1, 1), "round {round}: {a:?} / {b:?}");
    }
    let loaded = subject
        .ledger
        .load(&["INFY".to_owned()])
        .await
        .expect("load");
    assert_eq!(loaded["INFY"].version, 5);
    assert_eq!(
        subject
            .ledger
            .raised_since(at(0))
            .await
            .expect("raised")
            .len(),
        5,
        "one alert per round"
    );
}

/// The outbox hands out the oldest alerts first, each to one claimer until its lease ends, and
/// to the next claimer after that.
async fn a_claimed_alert_is_handed_out_again_only_after_its_lease(backend: Backend) {
    let subject = backend.ledger().await;
    let ledger = &subject.ledger;
    for (version, minute) in [(0, 1), (1, 2), (2, 3)] {
        ledger
            .commit(&commit(
                "INFY",
                version,
                minute,
                vec![alert("INFY", minute)],
            ))
            .await
            .expect("commit");
    }
    let lease = Duration::from_secs(60);
    let now = Utc::now();
    let pending = |claimed: Vec<stockrun::alert::ledger::Pending>| {
        claimed.into_iter().map(|p| p.alert).collect::<Vec<_>>()
    };

    let first = pending(ledger.claim(now, lease, 2).await.expect("claim"));
    let second = pending(subject.second.claim(now, lease, 10).await.expect("claim"));
    let meanwhile = ledger
        .claim(now + Duration::from_secs(59), lease, 10)
        .await
        .expect("claim");
    let after_lease = pending(
        ledger
            .claim(now + Duration::from_secs(61), lease, 10)
            .await
            .expect("claim"),
    );

    assert_eq!(first, [alert("INFY", 1), alert("INFY", 2)]);
    assert_eq!(second, [alert("INFY", 3)]);
    assert!(meanwhile.is_empty(), "{meanwhile:?}");
    assert_eq!(
        after_lease,
        [alert("INFY", 1), alert("INFY", 2), alert("INFY", 3)]
    );
}

/// Alerts committed as claimed (mailed at once by the committer) are not handed out until that
/// claim ends.
async fn alerts_committed_claimed_wait_for_their_lease(backend: Backend) {
    let subject = backend.ledger().await;
    let now = Utc::now();
    let mut claimed = commit("INFY", 0, 1, vec![alert("INFY", 1)]);
    claimed.claimed_until = Some(now + Duration::from_secs(60));
    subject.ledger.commit(&claimed).await.expect("commit");
    let lease = Duration::from_secs(60);

    assert!(
        subject
            .ledger
            .claim(now, lease, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    let later = subject
        .ledger
        .claim(now + Duration::from_secs(61), lease, 10)
        .await
        .expect("claim");
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(later[0].alert, alert("INFY", 1));
    assert!(
        later[0].queued_at <= Utc::now() && later[0].queued_at >= now - Duration::from_secs(60)
    );
}

/// Settled alerts leave the outbox (never handed out again) and stay in the ledger.
async fn settled_alerts_leave_the_outbox_and_stay_in_the_ledger(backend: Backend) {
    let subject = backend.ledger().await;
    let ledger = &subject.ledger;
    let alerts = vec![alert("INFY", 1), alert("INFY", 2)];
    ledger
        .commit(&commit("INFY", 0, 2, alerts.clone()))
        .await
        .expect("commit");

    ledger
        .settle(&[alerts[0].id.clone(), "never/raised".to_owned()])
        .await
        .expect("settle");

    let later = Utc::now() + Duration::from_secs(3600);
    let left = ledger
        .claim(later, Duration::from_secs(60), 10)
        .await
        .expect("claim");
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].alert, alerts[1]);
    assert_eq!(ledger.raised_since(at(0)).await.expect("raised"), alerts);
    assert_eq!(
        ledger.raised_since(at(2)).await.expect("raised"),
        alerts[1..]
    );
}

/// The time of the last digest is remembered, the later one replacing the earlier.
async fn the_last_digest_is_remembered(backend: Backend) {
    let subject = backend.ledger().await;
    assert_eq!(
        subject.ledger.last_digest().await.expect("last digest"),
        None
    );

    subject
        .ledger
        .digest_sent(at(15))
        .await
        .expect("digest sent");
    subject
        .ledger
        .digest_sent(at(30))
        .await
        .expect("digest sent");

    assert_eq!(
        subject.second.last_digest().await.expect("last digest"),
        Some(at(30))
    );
}

contract_tests! {
    local = Backend::Local, dynamodb = Backend::DynamoDb;
    committed_states_read_back_with_their_versions;
    a_stale_version_is_a_conflict_and_nothing_is_written;
    an_alert_raised_already_is_a_duplicate;
    of_two_concurrent_committers_exactly_one_wins;
    a_claimed_alert_is_handed_out_again_only_after_its_lease;
    alerts_committed_claimed_wait_for_their_lease;
    settled_alerts_leave_the_outbox_and_stay_in_the_ledger;
    the_last_digest_is_remembered;
}
