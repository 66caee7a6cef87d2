//! Counting firings without visiting each one: how often a [`Schedule`] fires inside its active
//! windows over a stretch of time, per period (`quota`) or at all (the never-active warning).
//!
//! A day's firings are the seconds of day that the hour, minute and second fields allow, the same
//! on every day the date fields allow. The zone's changes of clocks cut the stretch into spans of
//! one UTC offset (found by probing the offset every [`PROBE`] seconds), the windows give the
//! intervals in which a firing counts, and each day of a span is counted by binary searches in
//! the sorted seconds of day. Walking every firing of a month instead took 17 ms for an
//! every-minute schedule, most of `validate` and of a Lambda's start (issue 15); this takes tens
//! of microseconds. The rules are the walk's (`Schedule::after`, `Schedule::is_active`): a local
//! time the clocks skip does not fire, one they repeat fires the first time; a property test
//! (`schedule/tests.rs`) holds the two equal.

use std::ops::{ControlFlow, Range};

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;
use cron::TimeUnitSpec;

use super::{Schedule, Window};

/// Seconds in a day.
const DAY: i64 = 86_400;

/// How often a zone's offset is probed for changes of clocks: two changes closer than this (none
/// in the tz database since 1970) would be seen as one.
const PROBE: i64 = 6 * 3_600;

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// The most firings inside the active windows in one period of `period` seconds, the periods
/// counted from `range.start`, among the firings in `range` (Unix seconds, end excluded).
pub(super) fn busiest(schedule: &Schedule, range: Range<i64>, period: i64) -> u64 {
    let mut tally = Tally {
        start: range.start,
        period: period.max(1),
        bucket: i64::MIN,
        count: 0,
        most: 0,
    };
    let _ = runs(schedule, range, |base, seconds| {
        tally.add_run(base, seconds);
        ControlFlow::Continue(())
    });
    tally.most.max(tally.count)
}

/// Whether the schedule fires inside its active windows at some second of `range`.
pub(super) fn any(schedule: &Schedule, range: Range<i64>) -> bool {
    runs(schedule, range, |_, _| ControlFlow::Break(())).is_break()
}

/// Counts per period, fed in time order.
struct Tally {
    /// Where period 0 starts.
    start: i64,
    period: i64,
    /// The period being counted, and its count so far.
    bucket: i64,
    count: u64,
    /// The largest count of the periods done.
    most: u64,
}

impl Tally {
    /// Adds the firings at `base + s` for each `s` of `seconds` (ascending, later than any
    /// added before), a period at a time.
    fn add_run(&mut self, base: i64, mut seconds: &[u32]) {
        while let Some(&first) = seconds.first() {
            let bucket = (base + i64::from(first) - self.start).div_euclid(self.period);
            let end = self.start + (bucket + 1) * self.period;
            let inside = gallop(seconds, |s| base + i64::from(s) < end);
            if bucket != self.bucket {
                self.most = self.most.max(self.count);
                self.bucket = bucket;
                self.count = 0;
            }
            self.count += inside as u64;
            seconds = &seconds[inside..];
        }
    }
}

/// How many leading elements of `sorted` satisfy `before` (true, then false): cheap when few
/// do, as when each period holds one firing.
fn gallop(sorted: &[u32], before: impl Fn(u32) -> bool) -> usize {
    let mut end = 1;
    while end < sorted.len() && before(sorted[end]) {
        end *= 2;
    }
    let from = end / 2;
    let to = end.min(sorted.len());
    from + sorted[from..to].partition_point(|s| before(*s))
}

/// Calls `visit(base, seconds)` for the firings inside the active windows in `range`, in time
/// order: each is `base + s` (Unix seconds) for `s` in `seconds`. Stops when `visit` breaks.
fn runs(
    schedule: &Schedule,
    range: Range<i64>,
    mut visit: impl FnMut(i64, &[u32]) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if range.is_empty() {
        return ControlFlow::Continue(());
    }
    let seconds = seconds_of_day(schedule);
    let active = active_intervals(schedule, &range);
    // Local times already counted: one the clocks repeat fires only in the first span.
    let mut counted_until = i64::MIN;
    for (span, offset) in offset_spans(schedule.zone, range.start - DAY..range.end) {
        let local = span.start + offset..span.end + offset;
        let from = local.start.max(counted_until);
        counted_until = counted_until.max(local.end);
        let mut day = from.div_euclid(DAY);
        while day * DAY < local.end {
            let base = day * DAY - offset;
            // This day's part of the span, in UTC, inside `range`.
            let utc = ((day * DAY).max(from) - offset).max(range.start)
                ..(((day + 1) * DAY).min(local.end) - offset).min(range.end);
            if !utc.is_empty() && fires_on(schedule, day) {
                let first = active.partition_point(|open| open.end <= utc.start);
                for open in active[first..].iter().take_while(|o| o.start < utc.end) {
                    let (from, to) = (open.start.max(utc.start), open.end.min(utc.end));
                    let low = seconds.partition_point(|s| base + i64::from(*s) < from);
                    let high = seconds.partition_point(|s| base + i64::from(*s) < to);
                    if low < high {
                        visit(base, &seconds[low..high])?;
                    }
                }
            }
            day += 1;
        }
    }
    ControlFlow::Continue(())
}

/// The seconds of a day at which the expression fires, ascending.
fn seconds_of_day(schedule: &Schedule) -> Vec<u32> {
    let cron = &schedule.cron;
    let mut out = Vec::new();
    for hour in cron.hours().iter() {
        for minute in cron.minutes().iter() {
            out.extend(
                cron.seconds()
                    .iter()
                    .map(|s| hour * 3_600 + minute * 60 + s),
            );
        }
    }
    out
}

/// The date of day `day` after 1970-01-01.
fn date(day: i64) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(day + UNIX_EPOCH_DAYS_FROM_CE).ok()?)
}

/// Whether the date fields allow local day `day` (days after 1970-01-01): year, month, day of
/// month and day of week must all match, as the cron crate reads them.
fn fires_on(schedule: &Schedule, day: i64) -> bool {
    let Some(date) = date(day) else { return false };
    let cron = &schedule.cron;
    u32::try_from(date.year()).is_ok_and(|year| cron.years().includes(year))
        && cron.months().includes(date.month())
        && cron.days_of_month().includes(date.day())
        && cron
            .days_of_week()
            .includes(date.weekday().number_from_sunday())
}

/// The UTC intervals of `range` inside some active window, ascending and disjoint: all of
/// `range` without windows.
fn active_intervals(schedule: &Schedule, range: &Range<i64>) -> Vec<Range<i64>> {
    if schedule.windows.is_empty() {
        return vec![range.clone()];
    }
    let mut open: Vec<Range<i64>> = Vec::new();
    for window in &schedule.windows {
        for (span, offset) in offset_spans(window.zone(), range.clone()) {
            open.extend(window_intervals(window, span, offset));
        }
    }
    open.sort_by_key(|interval| interval.start);
    let mut merged: Vec<Range<i64>> = Vec::with_capacity(open.len());
    for interval in open {
        match merged.last_mut() {
            Some(last) if interval.start <= last.end => last.end = last.end.max(interval.end),
            _ => merged.push(interval),
        }
    }
    merged
}

/// The UTC intervals of `span` (in which the window's zone is `offset` seconds ahead of UTC)
/// that `window` is open in.
fn window_intervals(
    window: &Window,
    span: Range<i64>,
    offset: i64,
) -> impl Iterator<Item = Range<i64>> + '_ {
    let local = span.start + offset..span.end + offset;
    let minutes = window.minutes();
    let days = local.start.div_euclid(DAY)..=(local.end - 1).div_euclid(DAY);
    days.filter(move |day| date(*day).is_some_and(|d| window.open_on(d.weekday())))
        .filter_map(move |day| {
            let start = (day * DAY + i64::from(minutes.start) * 60).max(local.start);
            let end = (day * DAY + i64::from(minutes.end) * 60).min(local.end);
            (start < end).then(|| start - offset..end - offset)
        })
}

/// `range` cut where `zone`'s offset from UTC changes: each span with its offset in seconds
/// (local = UTC + offset), in order.
fn offset_spans(zone: Tz, range: Range<i64>) -> Vec<(Range<i64>, i64)> {
    let offset_at = |at: i64| {
        DateTime::from_timestamp(at, 0).map_or(0, |at| {
            i64::from(
                zone.offset_from_utc_datetime(&at.naive_utc())
                    .fix()
                    .local_minus_utc(),
            )
        })
    };
    let mut spans = Vec::new();
    let (mut start, mut offset) = (range.start, offset_at(range.start));
    if zone != Tz::UTC {
        let mut probe = range.start;
        while probe < range.end {
            let next = (probe + PROBE).min(range.end);
            if offset_at(next) != offset {
                // The first second of the new offset, between the probes.
                let (mut before, mut after) = (probe, next);
                while after - before > 1 {
                    let middle = before + (after - before) / 2;
                    if offset_at(middle) == offset {
                        before = middle;
                    } else {
                        after = middle;
                    }
                }
                spans.push((start..after, offset));
                (start, offset) = (after, offset_at(after));
            }
            probe = next;
        }
    }
    spans.push((start..range.end, offset));
    spans
}
