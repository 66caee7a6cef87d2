//! The request-rate check: how many requests `source.schedule` × feeds makes per
//! `source.quota` period. It needs the parsed schedule, so it runs where the schedule is built,
//! and counts what the poller does: firings in the schedule's zone, inside `source.active`.
//! A quota per second is not counted that way: the poller paces its requests to it
//! (`source::pace`), so the check is whether a poll at that pace ends before the next firing
//! ([`check_pace`]).

use chrono::{DateTime, TimeZone, Utc};

use super::Schedule;
use crate::config::Located;
use crate::config::model::Quota;
use crate::diag::Diagnostic;

/// A warning when the schedule makes more requests per period than the quota allows.
pub(crate) fn check(
    schedule: &Schedule,
    quota: &Located<Quota>,
    requests_per_poll: usize,
) -> Option<Diagnostic> {
    let period = quota.per.seconds();
    let polls = busiest_period(schedule, period);
    let requests = polls.saturating_mul(requests_per_poll as u64);
    if requests <= quota.requests {
        return None;
    }
    let feeds = if requests_per_poll == 1 {
        String::new()
    } else {
        format!(" ({requests_per_poll} feeds)")
    };
    let allowed = std::time::Duration::from_secs(
        (period * requests_per_poll as u64).div_ceil(quota.requests.max(1)),
    );
    Some(
        Diagnostic::warning(
            quota.position,
            format!(
                "this schedule makes {} requests/{}{feeds}; your quota is {}",
                group_thousands(requests),
                quota.per.name(),
                group_thousands(quota.requests)
            ),
        )
        .at("source.quota")
        .help(format!(
            "the quota allows one poll every {}; poll less often or raise the plan",
            humantime::format_duration(allowed)
        )),
    )
}

/// Firings looked at for the shortest time between two polls.
const GAP_FIRINGS: usize = 100;

/// A warning when a poll of `requests_per_poll` requests, paced to a quota per second, takes
/// longer than the shortest time between two firings: those polls overrun, and the firings they
/// overrun are skipped.
pub(crate) fn check_pace(
    schedule: &Schedule,
    quota: &Located<Quota>,
    requests_per_poll: usize,
) -> Option<Diagnostic> {
    let per_second = quota.requests.max(1);
    // The first `per_second` requests start at once, then `per_second` more every second.
    let takes = (requests_per_poll as u64).saturating_sub(1) / per_second;
    let gap = shortest_gap(schedule)?;
    if takes < gap {
        return None;
    }
    Some(
        Diagnostic::warning(
            quota.position,
            format!(
                "at {per_second} requests/second a poll of {requests_per_poll} feeds takes {takes} s or more; the schedule fires every {gap} s"
            ),
        )
        .at("source.quota")
        .help("each poll overruns the next firing, which is skipped; poll less often, poll fewer feeds, or raise the plan"),
    )
}

/// The shortest time between two active firings of `schedule`, in seconds, among the first
/// [`GAP_FIRINGS`] from a fixed date.
fn shortest_gap(schedule: &Schedule) -> Option<u64> {
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let firings: Vec<DateTime<Utc>> = schedule
        .after(start)
        .filter(|time| schedule.is_active(*time))
        .take(GAP_FIRINGS)
        .collect();
    firings
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).num_seconds().max(0) as u64)
        .min()
}

/// The most times `schedule` fires inside its active windows in one period of `period` seconds,
/// looking one period and eight days ahead (so weekly patterns are seen; at most 92 days), from a
/// fixed date so the answer is the same on every run.
fn busiest_period(schedule: &Schedule, period: u64) -> u64 {
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let horizon = period.saturating_add(8 * 86_400).min(92 * 86_400);
    let end = start + chrono::TimeDelta::seconds(horizon as i64);
    schedule.busiest_period(start..end, period)
}

/// `43200` → `43 200`, as in the warning's text.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polls(expr: &str, period: u64) -> u64 {
        let schedule = Schedule::from_expression(&Located::unlocated(expr.to_owned())).unwrap();
        busiest_period(&schedule, period)
    }

    /// The polls per period of a pipeline's `source` section (YAML).
    fn polls_of(source: &str, period: u64) -> u64 {
        let source: crate::config::model::Source = serde_saphyr::from_str(source).unwrap();
        busiest_period(&Schedule::new(&source).unwrap(), period)
    }

    #[test]
    fn counts_only_polls_inside_active_hours() {
        let nse = "url: https://x.example\nschedule: \"0 * * * * *\"\n\
                   active: [{ days: mon-fri, hours: \"09:15-15:30\", timezone: Asia/Kolkata }]\n";
        // 6 h 15 min a day: 375 polls, five days a week.
        assert_eq!(polls_of(nse, 86_400), 375);
        assert_eq!(polls_of(nse, 7 * 86_400), 5 * 375);
        assert_eq!(polls_of(nse, 30 * 86_400), 22 * 375);
        // Every 15 minutes on weekdays, New York hours in New York time.
        let nyse = "url: https://x.example\nschedule: \"0 */15 * * * *\"\ntimezone: America/New_York\n\
                    active: [{ days: mon-fri, hours: \"09:30-16:00\" }]\n";
        assert_eq!(polls_of(nyse, 86_400), 26);
        // Without windows, the zone changes nothing but the days the firings fall on.
        let zoned =
            "url: https://x.example\nschedule: \"0 0 9 * * Mon-Fri\"\ntimezone: Asia/Tokyo\n";
        assert_eq!(polls_of(zoned, 7 * 86_400), 5);
    }

    #[test]
    fn counts_polls_per_period() {
        assert_eq!(polls("0 * * * * *", 30 * 86_400), 43_200);
        assert_eq!(polls("0 0 9 * * Mon-Fri", 7 * 86_400), 5);
        assert_eq!(polls("* * * * * *", 30 * 86_400), 2_592_000);
        // The busiest period, not the first one.
        assert_eq!(polls("0 * 9 * * *", 3_600), 60);
        assert_eq!(polls("0 * * * * Sat,Sun", 86_400), 1_440);
        // Irregular and dense: counted, not extrapolated from the first days.
        assert_eq!(polls("* * * 1,2 * *", 30 * 86_400), 172_800);
    }

    #[test]
    fn a_poll_paced_to_a_quota_per_second_must_end_before_the_next_firing() {
        let source: crate::config::model::Source = serde_saphyr::from_str(
            "url: https://x.example\nschedule: \"*/30 * * * * *\"\nquota: { requests: 4, per: second }\n",
        )
        .unwrap();
        let schedule = Schedule::new(&source).unwrap();
        let quota = source.quota.as_ref().unwrap();
        assert_eq!(shortest_gap(&schedule), Some(30));
        // 120 requests at 4 a second: the last starts after 29 s.
        assert!(check_pace(&schedule, quota, 120).is_none());
        let warning = check_pace(&schedule, quota, 121).unwrap();
        assert_eq!(
            warning.message,
            "at 4 requests/second a poll of 121 feeds takes 30 s or more; the schedule fires every 30 s"
        );
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group_thousands(43_200), "43 200");
        assert_eq!(group_thousands(500), "500");
        assert_eq!(group_thousands(2_592_000), "2 592 000");
    }
}
