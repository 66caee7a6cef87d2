//! RapidAPI's rate-limit headers (`x-ratelimit-requests-remaining`, `-limit`, `-reset`): logged
//! at debug on every response, and a warning when the allowance is nearly spent.

use reqwest::header::HeaderMap;

const REMAINING: &str = "x-ratelimit-requests-remaining";
const LIMIT: &str = "x-ratelimit-requests-limit";
const RESET: &str = "x-ratelimit-requests-reset";

/// Without a limit header, warn from this many remaining requests down.
const LOW_REMAINING: u64 = 10;

/// Logs the rate-limit headers of a response, if it has them.
pub(crate) fn log(headers: &HeaderMap) {
    let number = |name: &str| -> Option<u64> {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    };
    let Some(remaining) = number(REMAINING) else {
        return;
    };
    let limit = number(LIMIT);
    let reset = number(RESET);
    tracing::debug!(remaining, limit, reset_s = reset, "rate limit");
    if is_low(remaining, limit) {
        tracing::warn!(
            remaining,
            limit,
            reset_s = reset,
            "the API's request allowance is nearly spent"
        );
    }
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
    use super::is_low;

    #[test]
    fn low_is_ten_percent_of_the_limit() {
        assert!(is_low(50, Some(500)));
        assert!(!is_low(51, Some(500)));
        assert!(is_low(0, Some(500)));
        assert!(is_low(10, None));
        assert!(!is_low(11, None));
    }
}
