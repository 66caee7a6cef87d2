//! When a failed request is tried again: timeouts, connection errors and 5xx after a jittered
//! exponential backoff; 429 (and a 503 that says so) after the server's `Retry-After`, unless it
//! asks for longer than the cap, in which case the feed is skipped this poll. Other 4xx are not
//! retried: the key or the plan is wrong, and asking again only spends quota.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use reqwest::header::HeaderValue;

use super::fetch::FetchError;
use crate::retry::{HTTP_REQUEST, HttpRetry};

/// How failed requests are retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// The first backoff delay (before jitter, which adds up to as much again).
    pub min_delay: Duration,
    /// The longest backoff delay (before jitter).
    pub max_delay: Duration,
    /// Each delay is the previous one times this.
    pub factor: f32,
    /// Attempts after the first.
    pub max_retries: usize,
    /// The longest `Retry-After` honoured; a server asking for more skips the feed this poll.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// [`crate::retry::HTTP_REQUEST`]: 3 retries after about 0.5–1 s, 1–2 s and 2–4 s;
    /// `Retry-After` up to 60 s.
    fn default() -> RetryPolicy {
        let HttpRetry {
            min_delay,
            max_delay,
            retries,
            max_retry_after,
        } = HTTP_REQUEST;
        RetryPolicy {
            min_delay,
            max_delay,
            factor: 2.0,
            max_retries: retries,
            max_retry_after,
        }
    }
}

impl RetryPolicy {
    /// A policy with `max_retries` retries, backing off from `min_delay` (doubling, at most 16 ×
    /// `min_delay`); `Retry-After` is honoured up to 60 s.
    pub fn new(min_delay: Duration, max_retries: usize) -> RetryPolicy {
        RetryPolicy {
            min_delay,
            max_delay: min_delay.saturating_mul(16),
            max_retries,
            ..RetryPolicy::default()
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(self.factor)
            .with_max_times(self.max_retries)
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries run out. Each retry is
    /// logged with its reason and wait.
    pub(crate) async fn run<T, F, Fut>(&self, attempt: F) -> Result<T, FetchError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, FetchError>>,
    {
        let cap = self.max_retry_after;
        attempt
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(FetchError::is_retryable)
            .adjust(|err, backoff| {
                let backoff = backoff?; // retries used up
                match err.retry_after() {
                    Some(wait) if wait > cap => {
                        tracing::warn!(
                            retry_after_s = wait.as_secs(),
                            cap_s = cap.as_secs(),
                            "the server asks to wait longer than the cap; skipping this feed until the next poll"
                        );
                        None
                    }
                    Some(wait) => Some(wait),
                    None => Some(backoff),
                }
            })
            .notify(|error, wait| {
                tracing::warn!(
                    %error,
                    retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "request failed; retrying"
                );
            })
            .await
    }
}

/// The wait a `Retry-After` value asks for: delay-seconds or an HTTP date (a past date is no
/// wait). `None` when it is neither.
pub(crate) fn parse_retry_after(value: &HeaderValue, now: DateTime<Utc>) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(text).ok()?;
    Some(
        (at.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<Duration> {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc);
        parse_retry_after(&HeaderValue::from_str(text).unwrap(), now)
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        assert_eq!(parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse("soon"), None);
        assert_eq!(parse("-5"), None);
    }

    #[test]
    fn new_keeps_the_default_retry_after_cap() {
        let policy = RetryPolicy::new(Duration::from_millis(1), 2);
        assert_eq!(policy.max_delay, Duration::from_millis(16));
        assert_eq!(policy.max_retry_after, Duration::from_secs(60));
    }
}
