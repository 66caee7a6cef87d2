//! Where alert state lives: each series' [`SeriesState`] and the alert ledger (every alert ever
//! raised, by its deterministic id) with its outbox (the alerts not yet mailed). Beside the data:
//! the pipeline's SQLite file locally, a DynamoDB table on AWS (`naming::alert_table`).
//!
//! The guarantees the runtime builds on (RELIABILITY.md, "Alerts"):
//! - [`AlertLedger::commit`] writes new series states and new alerts all or nothing, and only if
//!   every series still has the version that was read (else [`CommitError::Conflict`]: another
//!   writer got there first; read again and evaluate again) and no alert id exists yet (else
//!   [`CommitError::Duplicate`]: that alert was raised already; drop it and commit the rest);
//! - an alert is in the outbox from its commit until [`AlertLedger::settle`]; [`AlertLedger::claim`]
//!   hands each one out to one sender at a time, for a lease.
//!
//! `local` is the SQLite ledger, `dynamodb` the DynamoDB one.

pub mod dynamodb;
pub mod local;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Alert, SeriesState};
use crate::store::StoreError;

/// One series' new state, and the version it was computed from.
#[derive(Clone, Debug, PartialEq)]
pub struct StateWrite {
    /// The series.
    pub series: String,
    /// The version read ([`SeriesState::version`]; 0: the series had no state).
    pub expected_version: u64,
    /// The new state; written with `version = expected_version + 1`.
    pub state: SeriesState,
}

/// What one batch commits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Commit {
    /// New series states.
    pub states: Vec<StateWrite>,
    /// New alerts: into the ledger and the outbox.
    pub alerts: Vec<Alert>,
    /// When set, the new alerts are claimed by the committer until then (it mails them at once);
    /// when not (digest mode), they wait for [`AlertLedger::claim`].
    pub claimed_until: Option<DateTime<Utc>>,
}

/// Why a commit did not happen. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// These series were written by someone else since they were read.
    #[error("series state changed since it was read: {}", .0.join(", "))]
    Conflict(Vec<String>),
    /// These alerts exist already (raised by an earlier delivery or another writer).
    #[error("alerts raised already: {}", .0.join(", "))]
    Duplicate(Vec<String>),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// An alert in the outbox, handed out by [`AlertLedger::claim`].
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    /// The alert.
    pub alert: Alert,
    /// When it entered the outbox.
    pub queued_at: DateTime<Utc>,
}

/// Series state, the alert ledger and its outbox.
#[async_trait]
pub trait AlertLedger: Send + Sync {
    /// The state of each series in `series` (one request on AWS); a series never written is
    /// absent from the map.
    async fn load(&self, series: &[String]) -> Result<HashMap<String, SeriesState>, StoreError>;

    /// Writes `commit` all or nothing (see the module doc). On AWS one request.
    async fn commit(&self, commit: &Commit) -> Result<(), CommitError>;

    /// Claims up to `limit` outbox alerts nobody holds (never claimed, or their lease ended
    /// before `now`) until `now + lease`, oldest first.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Pending>, StoreError>;

    /// Takes mailed alerts out of the outbox (they stay in the ledger).
    async fn settle(&self, ids: &[String]) -> Result<(), StoreError>;

    /// When the last digest mail was sent (`None`: never).
    async fn last_digest(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Records that a digest was sent at `at`.
    async fn digest_sent(&self, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The ledger's alerts raised at or after `since`, oldest first (for tests and `show`).
    async fn raised_since(&self, since: DateTime<Utc>) -> Result<Vec<Alert>, StoreError>;
}
