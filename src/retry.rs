//! How stockrun retries what fails for a moment: one jittered exponential [`backoff`], and every
//! named policy built on it, each saying what it retries and why those numbers. A leaf: the
//! backends and the runtime both take their policies from here, so a backend never reaches into
//! the runtime for one. (The source's HTTP retries, which also honour `Retry-After`, are
//! `source::retry`, configured per pipeline.)
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
    }
}
