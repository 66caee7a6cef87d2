//! Where the axes' ticks go and how they read: time ticks on round times of the chosen zone
//! (whole hours there, midnights there), labelled in that zone; value labels with as many
//! decimals as the range needs.

use chrono::{DateTime, Duration, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The steps time ticks may take, in seconds: each divides a day, or is whole days.
const STEPS: [i64; 16] = [
    60,
    2 * 60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    28 * 86_400,
];

/// Time ticks between `start` and `end` (seconds since the epoch), at most `most` of them, on
/// round local times of `zone`, and the step chosen (seconds).
pub(super) fn time_ticks(start: i64, end: i64, zone: Tz, most: usize) -> (Vec<i64>, i64) {
    let span = (end - start).max(1);
    let most = i64::try_from(most.max(2)).unwrap_or(2);
    let step = STEPS
        .iter()
        .copied()
        .find(|step| span / step < most)
        .unwrap_or_else(|| (span / most / 86_400 + 1) * 86_400);
    let Some(first) = DateTime::from_timestamp(start, 0) else {
        return (Vec::new(), step);
    };
    let local = first.with_timezone(&zone).naive_local();
    // The local midnight before `start`, then every step from it (days for day steps).
    let midnight = NaiveDateTime::new(local.date(), NaiveTime::MIN);
    let mut ticks = Vec::new();
    let mut at = midnight;
    // A month of minutes at most: the step keeps the count near `most`.
    for _ in 0..100_000 {
        if let Some(utc) = zone.from_local_datetime(&at).earliest() {
            let seconds = utc.timestamp();
            if seconds > end {
                break;
            }
            if seconds >= start && ticks.last() != Some(&seconds) {
                ticks.push(seconds);
            }
        }
        at += Duration::seconds(step);
    }
    (ticks, step)
}

/// The label of the time tick `at`, in `zone`, for ticks `step` seconds apart over a span that
/// crosses days or not.
pub(super) fn time_label(at: i64, zone: Tz, step: i64, crosses_days: bool) -> String {
    let Some(utc) = DateTime::<Utc>::from_timestamp(at, 0) else {
        return String::new();
    };
    let local = utc.with_timezone(&zone);
    let format = if step >= 86_400 {
        "%d %b"
    } else if crosses_days {
        "%d %b %H:%M"
    } else {
        "%H:%M"
    };
    local.format(format).to_string()
}

/// How many decimals value labels need for ticks over a range of `span`.
pub(super) fn decimals(span: f64) -> usize {
    if !span.is_finite() || span <= 0.0 {
        return 2;
    }
    let magnitude = span.log10().floor();
    // Five ticks over the span: one decimal more than the span's magnitude needs.
    let wanted = 1.0 - magnitude;
    wanted.clamp(0.0, 6.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp()
    }

    #[test]
    fn ticks_fall_on_round_hours_of_the_zone() {
        let zone: Tz = "Asia/Kolkata".parse().unwrap();
        let (ticks, step) = time_ticks(
            at("2026-11-27T00:00:00Z"),
            at("2026-11-27T06:00:00Z"),
            zone,
            8,
        );
        assert_eq!(step, 3600);
        let labels: Vec<String> = ticks
            .iter()
            .map(|t| time_label(*t, zone, step, false))
            .collect();
        // 00:00Z is 05:30 in Kolkata: the first whole hour there is 06:00.
        assert_eq!(
            labels,
            ["06:00", "07:00", "08:00", "09:00", "10:00", "11:00"]
        );
    }

    #[test]
    fn day_steps_fall_on_local_midnights() {
        let zone: Tz = "America/New_York".parse().unwrap();
        let (ticks, step) = time_ticks(
            at("2026-11-01T00:00:00Z"),
            at("2026-11-29T00:00:00Z"),
            zone,
            8,
        );
        assert!(step >= 86_400, "{step}");
        for tick in ticks {
            let local = DateTime::from_timestamp(tick, 0)
                .unwrap()
                .with_timezone(&zone);
            assert_eq!(local.format("%H:%M").to_string(), "00:00", "{local}");
        }
    }

    #[test]
    fn decimals_follow_the_range() {
        assert_eq!(decimals(1000.0), 0);
        assert_eq!(decimals(25.0), 0);
        assert_eq!(decimals(2.5), 1);
        assert_eq!(decimals(0.05), 3);
        assert_eq!(decimals(0.0), 2);
    }
}
