//! The page's "Feeds" section: each feed's last poll as the poller recorded it
//! (`source::status`), shaped for reading — its time and age, outcome, records, last successful
//! poll and the API quota left — and whether it stands out: `failed` (its last poll failed) or
//! `silent` (the schedule fired [`SILENT_PERIODS`] times inside `source.active` since it last
//! answered, the same count as the `FeedSilentAlarm`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::resources::{QUOTA_ALARM_FLOOR, SILENT_PERIODS};
use crate::source::Schedule;
use crate::source::status::FeedStatus;

/// One feed's row.
#[derive(Clone, Debug, Serialize)]
pub struct FeedRow {
    /// The feed's label (`symbol=MSFT`; `-` for a source without `feeds`).
    pub feed: String,
    /// When it was last polled (RFC 3339, UTC).
    pub polled_at: String,
    /// How long before the page that was (`5 min ago`).
    pub age: String,
    /// How that poll ended: `ok`, or the failure kind (`http_4xx`, `timeout`, …).
    pub outcome: String,
    /// Records that poll gave.
    pub records: u64,
    /// When it last answered (RFC 3339), or `never`.
    pub last_ok: String,
    /// The API quota left: `412 / 500 (82 %)`, `412` without a limit, `—` unknown.
    pub quota: String,
    /// The remaining requests, when known (for `/page.json` readers).
    pub quota_remaining: Option<u64>,
    /// The limit, when the API says.
    pub quota_limit: Option<u64>,
    /// `ok`, `failed` or `silent`: how the row stands out.
    pub state: &'static str,
    /// Why a silent feed is (`silent: no answer in 3 scheduled polls`).
    pub note: Option<String>,
    /// The quota is under 10 % of the limit (the `QuotaAlarm`'s floor).
    pub quota_low: bool,
}

/// The row of `status` on a page made at `now`, for a pipeline polling on `schedule`.
pub fn feed_row(status: &FeedStatus, schedule: &Schedule, now: DateTime<Utc>) -> FeedRow {
    let state = if !status.is_ok() {
        "failed"
    } else if is_silent(schedule, status.last_ok_at, now) {
        "silent"
    } else {
        "ok"
    };
    let quota = status.quota;
    FeedRow {
        feed: status.feed.clone(),
        polled_at: rfc3339(status.polled_at),
        age: age(now - status.polled_at),
        outcome: status.outcome.clone(),
        records: status.records,
        last_ok: status
            .last_ok_at
            .map_or_else(|| "never".to_owned(), rfc3339),
        quota: quota.map_or_else(
            || "—".to_owned(),
            |quota| quota_text(quota.remaining, quota.limit),
        ),
        quota_remaining: quota.map(|q| q.remaining),
        quota_limit: quota.and_then(|q| q.limit),
        state,
        note: (state == "silent")
            .then(|| format!("silent: no answer in {SILENT_PERIODS} scheduled polls")),
        quota_low: quota.is_some_and(|q| {
            q.limit
                .is_some_and(|limit| (q.remaining as f64) < limit as f64 * QUOTA_ALARM_FLOOR)
        }),
    }
}

/// Whether the schedule fired [`SILENT_PERIODS`] times (inside `source.active`) after
/// `last_ok` and by `now`: polls were due and none answered. Never answered is silent too.
fn is_silent(schedule: &Schedule, last_ok: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    let Some(mut at) = last_ok else {
        return true;
    };
    for _ in 0..SILENT_PERIODS {
        match schedule.next_after(at) {
            Some(next) if next <= now => at = next,
            _ => return false,
        }
    }
    true
}

/// `412 / 500 (82 %)` (the share rounded down), or `412` without a limit.
fn quota_text(remaining: u64, limit: Option<u64>) -> String {
    match limit.filter(|limit| *limit > 0) {
        Some(limit) => {
            let percent = u128::from(remaining) * 100 / u128::from(limit);
            format!("{remaining} / {limit} ({percent} %)")
        }
        None => remaining.to_string(),
    }
}

/// How long ago, in the largest whole unit: `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
fn age(elapsed: chrono::TimeDelta) -> String {
    let seconds = elapsed.num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..86_400 => format!("{} h ago", seconds / 3_600),
        _ => format!("{} d ago", seconds / 86_400),
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Located;
    use crate::source::Quota;

    /// Every minute, in UTC.
    fn every_minute() -> Schedule {
        Schedule::from_expression(&Located::unlocated("0 * * * * *".to_owned()))
            .expect("a valid schedule")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn status(outcome: &str, last_ok: Option<&str>, quota: Option<Quota>) -> FeedStatus {
        FeedStatus {
            feed: "symbol=MSFT".to_owned(),
            polled_at: at("2026-11-28T12:00:00Z"),
            outcome: outcome.to_owned(),
            records: 3,
            last_ok_at: last_ok.map(at),
            quota,
        }
    }

    #[test]
    fn a_fresh_feed_shows_its_quota_and_age() {
        let quota = Some(Quota {
            remaining: 412,
            limit: Some(500),
        });
        let row = feed_row(
            &status("ok", Some("2026-11-28T12:00:00Z"), quota),
            &every_minute(),
            at("2026-11-28T12:02:30Z"),
        );
        assert_eq!(row.state, "ok");
        assert_eq!(row.quota, "412 / 500 (82 %)");
        assert!(!row.quota_low);
        assert_eq!(row.age, "2 min ago");
        assert_eq!(row.polled_at, "2026-11-28T12:00:00Z");
        assert_eq!(row.last_ok, "2026-11-28T12:00:00Z");
    }

    #[test]
    fn a_failed_feed_a_silent_one_and_a_low_quota_stand_out() {
        let schedule = every_minute();
        let failed = feed_row(
            &status("http_4xx", None, None),
            &schedule,
            at("2026-11-28T12:00:05Z"),
        );
        assert_eq!(
            (failed.state, failed.last_ok.as_str(), failed.quota.as_str()),
            ("failed", "never", "—")
        );
        // Three firings (12:01, 12:02, 12:03) since it last answered.
        let ok = status("ok", Some("2026-11-28T12:00:00Z"), None);
        let silent = feed_row(&ok, &schedule, at("2026-11-28T12:03:00Z"));
        assert_eq!(silent.state, "silent");
        assert_eq!(
            silent.note.as_deref(),
            Some("silent: no answer in 3 scheduled polls")
        );
        let not_yet = feed_row(&ok, &schedule, at("2026-11-28T12:02:59Z"));
        assert_eq!(not_yet.state, "ok");
        let low = feed_row(
            &status(
                "ok",
                Some("2026-11-28T12:00:00Z"),
                Some(Quota {
                    remaining: 49,
                    limit: Some(500),
                }),
            ),
            &schedule,
            at("2026-11-28T12:00:01Z"),
        );
        assert!(low.quota_low);
        assert_eq!(low.quota, "49 / 500 (9 %)");
    }

    #[test]
    fn ages_and_quotas_read_plainly() {
        assert_eq!(age(chrono::TimeDelta::seconds(12)), "12 s ago");
        assert_eq!(age(chrono::TimeDelta::seconds(-3)), "0 s ago");
        assert_eq!(age(chrono::TimeDelta::hours(3)), "3 h ago");
        assert_eq!(age(chrono::TimeDelta::days(2)), "2 d ago");
        assert_eq!(quota_text(412, None), "412");
        assert_eq!(quota_text(0, Some(0)), "0");
    }
}
