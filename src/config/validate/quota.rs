//! The request-rate check: how many requests `schedule` × feeds makes per quota period.

use chrono::{DateTime, TimeZone, Utc};

use super::Ctx;
use crate::config::Located;
use crate::config::model::Quota;
use crate::diag::Diagnostic;

/// Occurrences counted exactly before the rate is extrapolated (dense schedules are regular).
const MAX_COUNTED: u64 = 100_000;

/// Warns when the schedule makes more requests per period than the quota allows.
pub(super) fn check(
    ctx: &mut Ctx<'_>,
    schedule: &cron::Schedule,
    quota: &Located<Quota>,
    requests_per_poll: usize,
) {
    let period = quota.per.seconds();
    let polls = polls_per_period(schedule, period);
    let requests = polls.saturating_mul(requests_per_poll as u64);
    if requests <= quota.requests {
        return;
    }
    let feeds = if requests_per_poll == 1 {
        String::new()
    } else {
        format!(" ({requests_per_poll} feeds)")
    };
    let allowed = std::time::Duration::from_secs(
        (period * requests_per_poll as u64).div_ceil(quota.requests.max(1)),
    );
    ctx.push(
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
    );
}

/// Number of times `schedule` fires in `period` seconds, starting from a fixed date so the
/// answer is the same on every run.
pub(crate) fn polls_per_period(schedule: &cron::Schedule, period: u64) -> u64 {
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let Some(end) = start.checked_add_signed(chrono::TimeDelta::seconds(period as i64)) else {
        return 0;
    };
    let before_start = start - chrono::TimeDelta::seconds(1);
    let mut count = 0;
    let mut first = None;
    for time in schedule.after(&before_start) {
        if time >= end {
            return count;
        }
        count += 1;
        let first = *first.get_or_insert(time);
        if count == MAX_COUNTED {
            // Dense schedules repeat regularly: extrapolate from the intervals seen so far.
            let span = (time - first).num_seconds().max(1) as u64;
            return (count - 1).saturating_mul(period) / span;
        }
    }
    count
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
    use std::str::FromStr;

    use super::*;

    fn polls(expr: &str, period: u64) -> u64 {
        polls_per_period(&cron::Schedule::from_str(expr).unwrap(), period)
    }

    #[test]
    fn counts_polls_per_period() {
        assert_eq!(polls("0 * * * * *", 30 * 86_400), 43_200);
        assert_eq!(polls("0 0 9 * * Mon-Fri", 7 * 86_400), 5);
        assert_eq!(polls("* * * * * *", 30 * 86_400), 2_592_000);
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group_thousands(43_200), "43 200");
        assert_eq!(group_thousands(500), "500");
        assert_eq!(group_thousands(2_592_000), "2 592 000");
    }
}
