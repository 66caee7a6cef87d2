//! When to poll: `source.schedule`, a cron expression with a seconds field, in UTC.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::SourceError;

/// A parsed `source.schedule`.
#[derive(Clone, Debug)]
pub struct Schedule(cron::Schedule);

impl Schedule {
    /// Parses a cron expression (`sec min hour day-of-month month day-of-week [year]`).
    pub fn parse(expression: &str) -> Result<Schedule, SourceError> {
        cron::Schedule::from_str(expression)
            .map(Schedule)
            .map_err(|err| {
                let reason = err.to_string().replace('\n', " ");
                SourceError(format!(
                    "`source.schedule`: invalid cron schedule `{expression}`: {reason}"
                ))
            })
    }

    /// The first firing strictly after `after`; `None` when the schedule never fires again
    /// (a year field in the past).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.0.after(&after).next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn next_firing_is_strictly_later() {
        let every_minute = Schedule::parse("0 * * * * *").unwrap();
        assert_eq!(
            every_minute.next_after(at("2024-03-18T10:00:00Z")),
            Some(at("2024-03-18T10:01:00Z"))
        );
        assert_eq!(
            every_minute.next_after(at("2024-03-18T10:00:30.5Z")),
            Some(at("2024-03-18T10:01:00Z"))
        );
    }

    #[test]
    fn weekdays_and_past_years() {
        let weekdays = Schedule::parse("0 45 10 * * Mon-Fri").unwrap();
        // Friday 2024-03-22 after 10:45 → Monday.
        assert_eq!(
            weekdays.next_after(at("2024-03-22T11:00:00Z")),
            Some(at("2024-03-25T10:45:00Z"))
        );
        let over = Schedule::parse("0 0 0 1 1 * 2001").unwrap();
        assert_eq!(over.next_after(at("2024-01-01T00:00:00Z")), None);
    }

    #[test]
    fn invalid_expressions_are_errors() {
        let err = Schedule::parse("0 0 25 * * *").unwrap_err();
        assert!(err.0.contains("source.schedule"), "{err}");
    }
}
