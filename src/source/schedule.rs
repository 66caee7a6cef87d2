//! When to poll: `source.schedule`, a cron expression with a seconds field, read in
//! `source.timezone` (UTC by default), and `source.active`, the windows outside which a firing is
//! skipped. Every rule about them lives here (the windows in `window`): [`Schedule::new`] is what
//! `validate`, the poller, the Lambda's scheduled poll and `deploy-template` (which translates it,
//! `deploy::cron`) build, once per pipeline, and [`numeric_weekday`] is the one warning about it.
//!
//! Daylight saving time is the zone's (chrono-tz), as EventBridge Scheduler applies it: a local
//! time the clocks skip does not fire, and one they repeat fires once (the first time).

mod count;
mod window;

use std::ops::Range;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use cron::TimeUnitSpec;

use crate::config::Located;
use crate::config::model::Source;
use crate::diag::Diagnostic;

pub(crate) use window::Window;

/// Where diagnostics about the expression point.
const PATH: &str = "source.schedule";

/// How far ahead [`Schedule::next_after`] looks for a firing inside the active windows.
const SEARCH_DAYS: i64 = 400;

/// A parsed `source.schedule`, with its zone and active windows.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: cron::Schedule,
    zone: Tz,
    /// Empty: always active.
    windows: Vec<Window>,
}

impl Schedule {
    /// Checks and builds the schedule of `source`: the cron expression, `source.timezone` and
    /// every `source.active` window. The error is every problem found.
    pub fn new(source: &Source) -> Result<Schedule, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let cron = Schedule::cron(&source.schedule)
            .map_err(|p| problems.push(p))
            .ok();
        let zone = match &source.timezone {
            None => Some(Tz::UTC),
            Some(zone) => crate::time_zone::parse(zone, "source.timezone")
                .map_err(|p| problems.push(p))
                .ok(),
        };
        let mut windows = Vec::new();
        if let Some(active) = &source.active {
            if active.is_empty() {
                problems.push(
                    Diagnostic::error(active.position, "`source.active` has no windows: the pipeline would never poll")
                        .at("source.active")
                        .help("list a window, such as `- { days: mon-fri, hours: \"09:15-15:30\" }`, or remove `active` to poll at every firing"),
                );
            }
            for (index, window) in active.iter().enumerate() {
                match Window::new(window, index, zone.unwrap_or(Tz::UTC)) {
                    Ok(window) => windows.push(window),
                    Err(found) => problems.extend(found),
                }
            }
        }
        match (cron, zone) {
            (Some(cron), Some(zone)) if problems.is_empty() => Ok(Schedule {
                cron,
                zone,
                windows,
            }),
            _ => Err(problems),
        }
    }

    /// The schedule of a bare expression: UTC, always active (tests, and what `new` starts
    /// from).
    pub fn from_expression(expression: &Located<String>) -> Result<Schedule, Diagnostic> {
        Ok(Schedule {
            cron: Schedule::cron(expression)?,
            zone: Tz::UTC,
            windows: Vec::new(),
        })
    }

    /// Parses a cron expression (`sec min hour day-of-month month day-of-week [year]`). The
    /// error points at the character the cron parser stopped at; a Unix cron (5 fields, no
    /// seconds) gets its own message, since it would otherwise be read with its fields shifted.
    fn cron(expression: &Located<String>) -> Result<cron::Schedule, Diagnostic> {
        let text = expression.as_str();
        if text.split_whitespace().count() == 5 {
            return Err(Diagnostic::error(
                expression.position,
                format!("`{text}` has 5 fields; stockrun's cron has a seconds field first"),
            )
            .at(PATH)
            .help(format!(
                "write `0 {text}` (sec min hour day-of-month month day-of-week)"
            )));
        }
        cron::Schedule::from_str(text).map_err(|err| {
            // The cron crate prints the expression, a caret under the bad character and, for
            // some errors, a reason on a third line.
            let err = err.to_string();
            let lines: Vec<&str> = err.lines().collect();
            let caret = lines.get(1).and_then(|l| l.find('^'));
            let reason = lines.get(2).map_or("unexpected value", |l| l.trim());
            let diagnostic = Diagnostic::error(
                expression.position,
                format!("invalid cron schedule `{text}`: {reason}"),
            );
            match caret {
                Some(column) => diagnostic.within(expression, 0, column),
                None => diagnostic,
            }
            .at(PATH)
            .help("6 or 7 fields: sec min hour day-of-month month day-of-week [year]; `0 * * * * *` is every minute")
        })
    }

    /// The first firing strictly after `after` inside the active windows; `None` when there is
    /// none in the next 400 days (a year field in the past, or windows the schedule never
    /// fires in: `validate` warns about those).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let limit = after + chrono::TimeDelta::days(SEARCH_DAYS);
        self.after(after)
            .take_while(|time| *time <= limit)
            .find(|time| self.is_active(*time))
    }

    /// The shortest and the longest wait between two firings inside the active windows, over
    /// eight days from a fixed date (so weekly windows are seen; the same answer on every run):
    /// how often a healthy pipeline polls, and how long it can go without a poll
    /// (`deploy-template`'s "feed went silent" alarm). `None` when it fires fewer than twice in
    /// that time.
    pub fn gaps(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        let start = Utc
            .with_ymd_and_hms(2025, 1, 6, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let end = start + chrono::TimeDelta::days(8);
        let mut previous: Option<DateTime<Utc>> = None;
        let mut gaps: Option<(chrono::TimeDelta, chrono::TimeDelta)> = None;
        let firings = self
            .after(start)
            .take_while(|time| *time < end)
            .filter(|time| self.is_active(*time))
            .take(200_000);
        for time in firings {
            if let Some(previous) = previous {
                let gap = time - previous;
                gaps = Some(gaps.map_or((gap, gap), |(shortest, longest)| {
                    (shortest.min(gap), longest.max(gap))
                }));
            }
            previous = Some(time);
        }
        let (shortest, longest) = gaps?;
        Some((shortest.to_std().ok()?, longest.to_std().ok()?))
    }

    /// Whether `at` is inside the active windows (always, without `source.active`).
    pub fn is_active(&self, at: DateTime<Utc>) -> bool {
        self.windows.is_empty() || self.windows.iter().any(|window| window.contains(at))
    }

    /// Every firing of the expression strictly after `after`, in order, active or not: in the
    /// schedule's zone, a skipped local time not at all and a repeated one once.
    pub(crate) fn after(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let zone = self.zone;
        self.cron
            .after_owned(after.with_timezone(&zone))
            .filter(move |time| {
                // The crate yields a repeated local time twice, and may go back an hour to its
                // first instance: keep only the first instance, and only later than `after`.
                let first = match zone.from_local_datetime(&time.naive_local()) {
                    chrono::LocalResult::Ambiguous(earlier, _) => earlier == *time,
                    _ => true,
                };
                first && time.with_timezone(&Utc) > after
            })
            .map(|time| time.with_timezone(&Utc))
    }

    /// The most firings inside the active windows in one period of `period` seconds, periods
    /// counted from `range.start`, among the firings in `range` (end excluded); counted, not
    /// walked (`count`), so a month of every-second firings costs no more than a day's.
    pub(crate) fn busiest_period(&self, range: Range<DateTime<Utc>>, period: u64) -> u64 {
        let period = i64::try_from(period).unwrap_or(i64::MAX);
        count::busiest(self, range.start.timestamp()..range.end.timestamp(), period)
    }

    /// The expression as written: what other dialects are translated from.
    pub fn expression(&self) -> &str {
        self.cron.source()
    }

    /// The zone the expression is read in (`source.timezone`, UTC by default).
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The active windows; empty when the pipeline is always active.
    pub(crate) fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// How many distinct seconds of a minute the schedule fires at (1 for at most once a minute).
    pub fn seconds_per_minute(&self) -> u32 {
        self.cron.seconds().count()
    }

    /// Whether the day-of-month field restricts the days (it is not `*` or `?`).
    pub fn restricts_day_of_month(&self) -> bool {
        !self.cron.days_of_month().is_all()
    }

    /// Whether the day-of-week field restricts the days (it is not `*` or `?`).
    pub fn restricts_day_of_week(&self) -> bool {
        !self.cron.days_of_week().is_all()
    }

    /// Whether the expression fires in hour `hour` (0-23) of some day.
    pub(crate) fn fires_in_hour(&self, hour: u32) -> bool {
        self.cron.hours().includes(hour)
    }

    /// Whether the expression fires on `day` (its day-of-week field only).
    pub(crate) fn fires_on(&self, day: Weekday) -> bool {
        self.cron.days_of_week().includes(day.number_from_sunday())
    }
}

/// Warns when the day-of-week field of a valid expression is numeric: this cron counts
/// 1 = Sunday where Unix cron counts 0 = Sunday, so the days are probably not the ones meant.
pub fn numeric_weekday(expression: &Located<String>) -> Option<Diagnostic> {
    let weekday = expression.split_whitespace().nth(5)?;
    if !weekday.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(
        Diagnostic::warning(
            expression.position,
            format!("day-of-week `{weekday}` is numeric, and this cron counts 1 = Sunday (Unix cron: 0 = Sunday)"),
        )
        .within(expression, 0, column_of_field(expression, 5))
        .at(PATH)
        .help("write day names such as `Mon-Fri` so the days are what you mean"),
    )
}

/// Warns when `schedule` has active windows but fires in none of them (looking eight days ahead
/// from a fixed date, so weekly patterns are seen): the pipeline would never poll.
pub fn never_active(schedule: &Schedule, active: &Located<impl Sized>) -> Option<Diagnostic> {
    if schedule.windows.is_empty() {
        return None;
    }
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()?
        .timestamp();
    let fires = count::any(schedule, start + 1..start + 8 * 86_400);
    (!fires).then(|| {
        Diagnostic::warning(
            active.position,
            format!(
                "`{}` fires inside none of the active windows in a week: the pipeline may never poll",
                schedule.expression()
            ),
        )
        .at("source.active")
        .help("widen the windows or change `source.schedule` so that some firing falls inside them")
    })
}

/// The character column at which whitespace-separated field `n` (0-based) starts.
fn column_of_field(text: &str, n: usize) -> usize {
    let mut seen = 0;
    let mut in_field = false;
    for (column, c) in text.chars().enumerate() {
        if c.is_whitespace() {
            in_field = false;
        } else if !in_field {
            if seen == n {
                return column;
            }
            seen += 1;
            in_field = true;
        }
    }
    0
}

#[cfg(test)]
mod tests;
