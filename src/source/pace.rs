//! How fast a poll requests: at most `source.concurrency` requests in flight at once and, with a
//! `source.quota` per second, at most that many started in any second. Every request of a poll
//! (each feed's pages, each retry) goes through [`Pace::request`]; a retry's pause holds no
//! place. Compiling the section ([`Limits::new`]) checks the concurrency's range, for `validate`
//! and the poller alike.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use crate::config::model::{QuotaPeriod, Source};
use crate::diag::Diagnostic;

/// The most `source.concurrency` allows: more is a burst few APIs take from one client.
pub(crate) const MAX_CONCURRENCY: u32 = 64;

/// `source.concurrency` and the per-second quota, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Requests in flight at once.
    pub(crate) concurrency: usize,
    /// Requests started in any one second, when `source.quota` is per second.
    pub(crate) per_second: Option<u64>,
}

impl Limits {
    /// The limits of `source`; the error says why its `concurrency` is out of range.
    pub(crate) fn new(source: &Source) -> Result<Limits, Vec<Diagnostic>> {
        let concurrency = &source.concurrency;
        if !(1..=MAX_CONCURRENCY).contains(&concurrency.value) {
            return Err(vec![
                Diagnostic::error(
                    concurrency.position,
                    format!(
                        "`concurrency` is {}: it must be from 1 to {MAX_CONCURRENCY}",
                        concurrency.value
                    ),
                )
                .at("source.concurrency")
                .help("the requests a poll has in flight at once, such as `8`; `1` requests the feeds one after another"),
            ]);
        }
        let per_second = source
            .quota
            .as_ref()
            .filter(|quota| quota.per == QuotaPeriod::Second)
            .map(|quota| quota.requests.max(1));
        Ok(Limits {
            concurrency: concurrency.value as usize,
            per_second,
        })
    }
}

/// The limits at work: a place per request in flight, and the start times of the last second's
/// requests (with a per-second quota). Shared by every poll of one poller, so back-to-back polls
/// keep to the quota too.
pub(crate) struct Pace {
    places: Semaphore,
    per_second: Option<(usize, Mutex<VecDeque<Instant>>)>,
}

impl Pace {
    /// The pace `limits` set.
    pub(crate) fn new(limits: Limits) -> Pace {
        Pace {
            places: Semaphore::new(limits.concurrency),
            per_second: limits.per_second.map(|n| {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                (n, Mutex::new(VecDeque::new()))
            }),
        }
    }

    /// Runs `attempt` (one request) once a place is free and the quota allows another start.
    pub(crate) async fn request<T>(&self, attempt: impl Future<Output = T>) -> T {
        // Never closed: `acquire` fails only on a closed semaphore.
        let _place = self.places.acquire().await.ok();
        if let Some((allowed, started)) = &self.per_second {
            // Held while waiting: the requests behind wait their turn, in order (a fair lock).
            let mut started = started.lock().await;
            let second = Duration::from_secs(1);
            while started.front().is_some_and(|t| t.elapsed() >= second) {
                started.pop_front();
            }
            if started.len() >= *allowed
                && let Some(first) = started.pop_front()
            {
                tokio::time::sleep_until(first + second).await;
            }
            started.push_back(Instant::now());
        }
        attempt.await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn limits(yaml: &str) -> Result<Limits, Vec<Diagnostic>> {
        let source: Source = serde_saphyr::from_str(yaml).unwrap();
        Limits::new(&source)
    }

    #[test]
    fn concurrency_is_one_to_sixty_four_and_defaults_to_eight() {
        let url = "url: https://x.example\n";
        assert_eq!(limits(url).unwrap().concurrency, 8);
        assert_eq!(
            limits(&format!("{url}concurrency: 64\n"))
                .unwrap()
                .concurrency,
            64
        );
        for bad in [0, 65] {
            let problems = limits(&format!("{url}concurrency: {bad}\n")).unwrap_err();
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].line, 2, "{problems:?}");
        }
    }

    #[test]
    fn only_a_quota_per_second_paces() {
        let url = "url: https://x.example\n";
        assert_eq!(limits(url).unwrap().per_second, None);
        let minute = limits(&format!("{url}quota: {{ requests: 5, per: minute }}\n"));
        assert_eq!(minute.unwrap().per_second, None);
        let second = limits(&format!("{url}quota: {{ requests: 5, per: second }}\n"));
        assert_eq!(second.unwrap().per_second, Some(5));
    }

    #[tokio::test]
    async fn never_more_in_flight_than_places_nor_more_starts_a_second_than_the_quota() {
        let pace = Arc::new(Pace::new(Limits {
            concurrency: 2,
            per_second: Some(3),
        }));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..7)
            .map(|_| {
                let (pace, in_flight, most, starts) = (
                    Arc::clone(&pace),
                    Arc::clone(&in_flight),
                    Arc::clone(&most),
                    Arc::clone(&starts),
                );
                tokio::spawn(async move {
                    pace.request(async {
                        starts.lock().unwrap().push(Instant::now());
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        let mut starts = starts.lock().unwrap().clone();
        starts.sort();
        // Any four starts in a row span at least a second: at most three in one.
        for four in starts.windows(4) {
            assert!(four[3] - four[0] >= Duration::from_secs(1), "{starts:?}");
        }
    }
}
