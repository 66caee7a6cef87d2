//! How stockrun retries what fails for a moment: one jittered exponential [`backoff`], and every
//! named policy, each saying what it retries and why those numbers. A leaf: the backends, the
//! source and the runtime all take their numbers from here, so a backend never reaches into the
//! runtime for one. The source's HTTP retries ([`HTTP_REQUEST`]) also honour `Retry-After`,
//! which `source::retry` reads; the consumer's pauses ([`store_hold_pause`],
//! [`QUEUE_ERROR_PAUSE`]) are plain waits between rounds of its loop. None of these numbers is
//! configured per pipeline.
//!
//! Delays start at `min` and double, never more than `max` apart; jitter adds up to as much
//! again to each, so consumers that failed together do not retry together.

use std::time::Duration;

use backon::ExponentialBuilder;

/// Jittered exponential backoff from `min` (doubling, at most `max` apart) for `times` retries.
pub(crate) fn backoff(min: Duration, max: Duration, times: usize) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_max_times(times)
        .with_jitter()
}

/// SendMessageBatch entries SQS reported as failed on HTTP 200 (an SQS-side fault; entries at
/// fault themselves are not retried): 4 retries after 100, 200, 400, 800 ms (1.5 s, at most 3 s
/// with jitter). Such faults pass quickly, and the poller is waiting to send the next poll's
/// records, so it gives up after seconds and the poll loop's own retry takes over.
pub(crate) fn sqs_failed_entries() -> ExponentialBuilder {
    backoff(Duration::from_millis(100), Duration::from_secs(2), 4)
}

/// BatchWriteItem's `UnprocessedItems` (the table's write capacity was exceeded): 7 retries,
/// 50 ms doubling to at most 2 s (about 5 s, at most 10 s with jitter), 8 attempts in all. AWS
/// asks for exponential backoff here; throttling lasts longer than a blip, so the policy waits
/// longer than the queue's, and still well inside a message's visibility timeout.
pub(crate) fn unprocessed_items() -> ExponentialBuilder {
    backoff(Duration::from_millis(50), Duration::from_secs(2), 7)
}

/// A store write of a whole batch (the store was unreachable or refused it): 3 retries after
/// 200, 400, 800 ms (1.4 s, at most 2.8 s with jitter). Writes are idempotent, so a retry after
/// a write that did happen is harmless; after that the batch goes back to the queue, which
/// redelivers it after the visibility timeout.
pub(crate) fn store_write() -> ExponentialBuilder {
    backoff(Duration::from_millis(200), Duration::from_secs(2), 3)
}

/// An alert commit that lost to another writer of the same series (a version conflict): read
/// the state again and evaluate again after 10 ms doubling to 1 s, 29 times (about 24 s, at
/// most 48 s with jitter, which keeps two consumers from colliding in step; two consumers whose
/// every batch touches the same series on a slow DynamoDB emulator needed more than 10 tries).
/// After that the batch goes back to the queue and is evaluated again when delivered again.
pub(crate) fn alert_commit() -> ExponentialBuilder {
    backoff(Duration::from_millis(10), Duration::from_secs(1), 29)
}

/// The digest e-mail (the mail server or SES refused it): 3 retries after 200, 400, 800 ms
/// (1.4 s, at most 2.8 s with jitter; the 5 s cap is never reached). The records are stored by
/// then, so giving up loses only the e-mail, which is logged; the batch is not held longer.
pub(crate) fn email() -> ExponentialBuilder {
    backoff(Duration::from_millis(200), Duration::from_secs(5), 3)
}

/// Sending a poll's records to the queue: 5 retries after 200 ms doubling to 3.2 s (6.2 s, at
/// most 12.4 s with jitter; the 10 s cap is never reached). The records of a poll that cannot be
/// queued are given up (and logged), so the poller tries for longer than a batch write does,
/// but for seconds only: the next poll waits meanwhile.
pub(crate) fn queue_send() -> ExponentialBuilder {
    backoff(Duration::from_millis(200), Duration::from_secs(10), 5)
}

/// The numbers of the source's HTTP retries (`source::RetryPolicy`'s defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HttpRetry {
    /// The first backoff delay, before jitter; each next one doubles.
    pub(crate) min_delay: Duration,
    /// The longest backoff delay, before jitter.
    pub(crate) max_delay: Duration,
    /// Attempts after the first.
    pub(crate) retries: usize,
    /// The longest `Retry-After` honoured; a server asking for more skips the feed this poll.
    pub(crate) max_retry_after: Duration,
}

/// A request to the API that failed for a moment (a timeout, a connection error, a 5xx, a 429):
/// 3 retries after about 0.5–1 s, 1–2 s and 2–4 s (the 8 s cap is never reached), and a
/// server's `Retry-After` honoured up to 60 s. Polls are minutes apart and every attempt spends
/// quota, so a feed that still fails is skipped until the next poll rather than hammered.
pub(crate) const HTTP_REQUEST: HttpRetry = HttpRetry {
    min_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(8),
    retries: 3,
    max_retry_after: Duration::from_secs(60),
};

/// The longest pause between two tries of a batch the consumer holds because the store failed.
const MAX_STORE_HOLD_PAUSE: Duration = Duration::from_secs(60);

/// The pause before the `attempt`-th (from 1) retry of a batch the consumer holds because its
/// store write failed even after [`store_write`]'s retries: 2 s doubling (2, 4, 8, 16, 32 s),
/// then 60 s for as long as the store stays down. The store is down for longer than a blip
/// then; the batch stays hidden meanwhile, so waiting longer costs nothing but latency, and
/// a store that comes back is tried within a minute. No jitter: one consumer holds one batch.
pub(crate) fn store_hold_pause(attempt: u32) -> Duration {
    Duration::from_secs(1_u64 << attempt.min(6)).min(MAX_STORE_HOLD_PAUSE)
}

/// How long the consumer waits after a transient queue error (a receive or a count that failed)
/// before it tries again: 5 s, long enough not to flood the log or the queue service, short
/// enough that a blip goes unnoticed.
pub(crate) const QUEUE_ERROR_PAUSE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder;

    use super::*;

    /// The delays of `policy`, jitter included.
    fn delays(policy: ExponentialBuilder) -> Vec<Duration> {
        policy.build().collect()
    }

    /// Asserts each delay lies between its base and twice that (jitter adds up to as much again).
    fn assert_within(policy: ExponentialBuilder, bases_ms: &[u64]) {
        let delays = delays(policy);
        assert_eq!(delays.len(), bases_ms.len(), "{delays:?}");
        for (delay, base) in delays.iter().zip(bases_ms) {
            let base = Duration::from_millis(*base);
            assert!(
                *delay >= base && *delay <= 2 * base,
                "{delay:?} not in {base:?}..={:?}",
                2 * base
            );
        }
    }

    #[test]
    fn every_policy_waits_what_its_doc_says() {
        assert_within(sqs_failed_entries(), &[100, 200, 400, 800]);
        assert_within(unprocessed_items(), &[50, 100, 200, 400, 800, 1600, 2000]);
        assert_within(store_write(), &[200, 400, 800]);
        assert_within(email(), &[200, 400, 800]);
        assert_within(queue_send(), &[200, 400, 800, 1600, 3200]);
        let pauses: Vec<u64> = (1..=8).map(|n| store_hold_pause(n).as_secs()).collect();
        assert_eq!(pauses, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(QUEUE_ERROR_PAUSE, Duration::from_secs(5));
    }
}
