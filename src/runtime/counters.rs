//! Counts of what a run did, shared by the poller and the consumer and printed as the summary of
//! `stockrun run --once`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::queue::MAX_MESSAGE_KIB;

/// Running totals; every field only grows.
#[derive(Debug, Default)]
pub struct Counters {
    /// HTTP requests (or file reads) made by the poller, retries included.
    pub requests: AtomicU64,
    /// Feeds whose request failed or whose body was an error.
    pub failed_feeds: AtomicU64,
    /// Firings of the schedule skipped because the poll before was still running (logged).
    pub skipped_polls: AtomicU64,
    /// Records found in responses.
    pub fetched: AtomicU64,
    /// Records sent to the queue.
    pub queued: AtomicU64,
    /// Records the poller could not queue (logged with the reason).
    pub not_queued: AtomicU64,
    /// Records refused because their message would be over the queue's size limit (logged).
    pub too_large: AtomicU64,
    /// Records written to the store.
    pub stored: AtomicU64,
    /// Deliveries of poison records.
    pub poison: AtomicU64,
    /// Records whose store write failed (they stay queued).
    pub store_failures: AtomicU64,
    /// E-mails sent: batch mails and alert mails.
    pub emails: AtomicU64,
    /// Alerts raised (committed to the ledger's outbox).
    pub alerts: AtomicU64,
    /// Alerts mailed from the outbox by a flush (leftovers, digests).
    pub alerts_mailed_later: AtomicU64,
    /// Digest e-mails not sent after every attempt (or not rendered): their records are stored,
    /// the e-mail is lost (logged).
    pub emails_not_sent: AtomicU64,
    /// Stored records whose e-mail a stop cut short: they stay queued, to be stored and
    /// e-mailed again by the next run.
    pub emails_cut: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A counter's current value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The one-line summary of a run: `fetched 20 records (1 request), queued 20, stored 20, …`;
/// e-mails that could not be sent are counted after the sent ones: `e-mails 0, 2 failed`.
pub struct Summary<'a> {
    /// The totals.
    pub counters: &'a Counters,
    /// Messages this run moved to the dead-letter queue.
    pub dead_lettered: u64,
    /// Where e-mails went (`in .stockrun/outbox/`, `via smtp://host:port`), if any were sent.
    pub emails_to: Option<String>,
    /// Requests sent to AWS, when the backend is AWS.
    pub aws_requests: Option<u64>,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counters;
        let get = Counters::get;
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            "fetched {} ({}",
            plural(get(&c.fetched), "record", "records"),
            plural(get(&c.requests), "request", "requests")
        )?;
        if get(&c.failed_feeds) > 0 {
            write!(f, ", {} failed", get(&c.failed_feeds))?;
        }
        write!(f, "), queued {}", get(&c.queued))?;
        if get(&c.not_queued) > 0 {
            write!(f, " ({} not queued)", get(&c.not_queued))?;
        }
        if get(&c.too_large) > 0 {
            write!(
                f,
                " ({} refused: over {MAX_MESSAGE_KIB} KiB)",
                get(&c.too_large)
            )?;
        }
        write!(f, ", stored {}", get(&c.stored))?;
        if get(&c.store_failures) > 0 {
            write!(f, " ({} not stored: store failing)", get(&c.store_failures))?;
        }
        write!(f, ", dead-lettered {}", self.dead_lettered)?;
        if get(&c.alerts) > 0 {
            write!(f, ", alerts {}", get(&c.alerts))?;
        }
        write!(
            f,
            ", e-mails {}",
            get(&c.emails) + get(&c.alerts_mailed_later)
        )?;
        if let Some(to) = &self.emails_to
            && get(&c.emails) + get(&c.alerts_mailed_later) > 0
        {
            write!(f, " {to}")?;
        }
        if get(&c.emails_not_sent) > 0 {
            write!(f, ", {} failed", get(&c.emails_not_sent))?;
        }
        if get(&c.emails_cut) > 0 {
            write!(
                f,
                " (cut short by the stop: {} stored records left queued to be e-mailed again)",
                get(&c.emails_cut)
            )?;
        }
        if let Some(requests) = self.aws_requests {
            write!(f, ", AWS requests {requests}")?;
            // Per record that went through: fetched by the poller, or handled by a consumer.
            let records = get(&c.fetched).max(get(&c.stored) + get(&c.poison));
            if records > 0 {
                let per_record = requests as f64 / records as f64;
                write!(f, " ({per_record:.2} per record)")?;
            }
        }
        Ok(())
    }
}
