//! The API's rate-limit headers (`source.ratelimit_headers`, by default
//! `x-ratelimit-requests-remaining`, `-limit` and `-reset`): logged at debug on every response,
//! and a warning when the allowance is nearly spent. Each name must be a valid HTTP header name:
//! the rule lives in [`RateLimitHeaders::new`], which `validate` calls through the source's
//! constructor. What they said is also handed back ([`Quota`]), so each feed's poll keeps the
//! allowance its latest response reported ([`LastQuota`]) for the feed status.

use std::sync::Mutex;

use reqwest::header::{HeaderMap, HeaderName};

use crate::config::{Located, model};
use crate::diag::Diagnostic;

/// Without a limit header, warn from this many remaining requests down.
const LOW_REMAINING: u64 = 10;

/// The API's allowance as a response's rate-limit headers said it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Requests remaining.
    pub remaining: u64,
    /// Requests allowed in the period, when the API says.
    pub limit: Option<u64>,
}

/// The allowance the latest response of one feed's poll reported: each request of the feed
/// writes it, the poll reads it when the feed ends.
#[derive(Debug, Default)]
pub(crate) struct LastQuota(Mutex<Option<Quota>>);

impl LastQuota {
    /// Keeps `quota`, when a response said one.
    pub(crate) fn set(&self, quota: Option<Quota>) {
        if let Some(quota) = quota {
            *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(quota);
        }
    }

    /// The allowance the latest response that had the headers said.
    pub(crate) fn get(&self) -> Option<Quota> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The header names to read, from `source.ratelimit_headers`.
#[derive(Clone, Debug)]
pub(crate) struct RateLimitHeaders {
    limit: HeaderName,
    remaining: HeaderName,
    reset: HeaderName,
    /// The pipeline the metrics name ([`crate::metrics::quota`]); set by the poller.
    pipeline: String,
}

impl RateLimitHeaders {
    /// The names as configured; the error is every name that is not a valid HTTP header name,
    /// located at it.
    pub(crate) fn new(config: &model::RateLimitHeaders) -> Result<Self, Vec<Diagnostic>> {
        let name =
            |value, key: &str| header_name(value, &format!("source.ratelimit_headers.{key}"));
        match (
            name(&config.limit, "limit"),
            name(&config.remaining, "remaining"),
            name(&config.reset, "reset"),
        ) {
            (Ok(limit), Ok(remaining), Ok(reset)) => Ok(RateLimitHeaders {
                limit,
                remaining,
                reset,
                pipeline: String::new(),
            }),
            (limit, remaining, reset) => Err([limit.err(), remaining.err(), reset.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }

    /// The same headers, reporting the allowance as the metrics of `pipeline`.
    pub(crate) fn for_pipeline(mut self, pipeline: &str) -> Self {
        pipeline.clone_into(&mut self.pipeline);
        self
    }

    /// Logs the rate-limit headers of a response, if it has them, reports them as the API's
    /// quota ([`crate::metrics::quota`]) and returns them.
    pub(crate) fn log(&self, headers: &HeaderMap) -> Option<Quota> {
        let number = |name: &HeaderName| -> Option<u64> {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
        };
        let remaining = number(&self.remaining)?;
        let limit = number(&self.limit);
        let reset = number(&self.reset);
        tracing::debug!(remaining, limit, reset_s = reset, "rate limit");
        crate::metrics::quota(&self.pipeline, remaining, limit);
        if is_low(remaining, limit) {
            tracing::warn!(
                remaining,
                limit,
                reset_s = reset,
                "the API's request allowance is nearly spent"
            );
        }
        Some(Quota { remaining, limit })
    }
}

/// `name` as an HTTP header name, or an error located at it: the source's one header-name rule.
fn header_name(name: &Located<String>, path: &str) -> Result<HeaderName, Diagnostic> {
    super::request::header_name(name, name.position, path)
}

/// Whether `remaining` is at most 10% of `limit`, or at most 10 when the limit is unknown.
fn is_low(remaining: u64, limit: Option<u64>) -> bool {
    match limit {
        Some(limit) => remaining.saturating_mul(10) <= limit,
        None => remaining <= LOW_REMAINING,
    }
}

#[cfg(test)]
mod tests {
    use super::{RateLimitHeaders, header_name, is_low};
    use crate::config::Located;
    use crate::config::model;

    #[test]
    fn low_is_ten_percent_of_the_limit() {
        assert!(is_low(50, Some(500)));
        assert!(!is_low(51, Some(500)));
        assert!(is_low(0, Some(500)));
        assert!(is_low(10, None));
        assert!(!is_low(11, None));
    }

    #[test]
    fn the_default_names_are_the_requests_headers() {
        let headers = RateLimitHeaders::new(&model::RateLimitHeaders::default()).unwrap();
        assert_eq!(headers.limit.as_str(), "x-ratelimit-requests-limit");
        assert_eq!(headers.remaining.as_str(), "x-ratelimit-requests-remaining");
        assert_eq!(headers.reset.as_str(), "x-ratelimit-requests-reset");
    }

    #[test]
    fn an_invalid_name_names_its_key() {
        let config = model::RateLimitHeaders {
            reset: Located::unlocated("X Reset".to_owned()),
            ..model::RateLimitHeaders::default()
        };
        let err = RateLimitHeaders::new(&config).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].path, "source.ratelimit_headers.reset");
        assert_eq!(err[0].message, "`X Reset` is not a valid HTTP header name");
    }

    #[test]
    fn header_names_follow_http() {
        let name = |text: &str| header_name(&Located::unlocated(text.to_owned()), "p");
        assert_eq!(
            name("X-RateLimit-Remaining").unwrap().as_str(),
            "x-ratelimit-remaining"
        );
        for bad in ["", "X RateLimit", "X-Limit:", "Ünicode"] {
            let err = name(bad).unwrap_err();
            assert!(
                err.message.contains("not a valid HTTP header name"),
                "{bad}"
            );
            assert_eq!(err.path, "p");
        }
    }
}
