//! The translation table, checked two ways: the exact EventBridge text, and (for every row that
//! translates) that the `cron` crate fires at the same minutes for both expressions.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::*;
use crate::config::Located;

/// The schedule `source::Schedule` builds from `expression` (UTC, always active), or its error.
fn parse(expression: &str) -> Result<Schedule, crate::diag::Diagnostic> {
    Schedule::from_expression(&Located::unlocated(expression.to_owned()))
}

/// `expression` parsed, then translated.
fn translate(expression: &str) -> Result<String, CronError> {
    to_eventbridge(&parse(expression).unwrap())
}

/// What a row expects: the six EventBridge fields, or the kind of error (`Invalid`: the
/// expression does not parse, so there is nothing to translate).
enum Expect {
    Fields(&'static str),
    SubMinute,
    BothDays,
    Invalid,
}

use Expect::{BothDays, Fields, Invalid, SubMinute};

const TABLE: &[(&str, Expect)] = &[
    ("0 * * * * *", Fields("* * * * ? *")),
    (
        "0 */15 13-21 * * Mon-Fri",
        Fields("0/15 13-21 ? * MON-FRI *"),
    ),
    ("0 */5 13-21 * * Mon-Fri", Fields("0/5 13-21 ? * MON-FRI *")),
    ("0 45 10 * * Mon-Fri", Fields("45 10 ? * MON-FRI *")),
    ("0 0 12 1 * *", Fields("0 12 1 * ? *")),
    ("0 0 12 * * 1", Fields("0 12 ? * 1 *")),
    ("0 0 12 * * 2-6", Fields("0 12 ? * 2-6 *")),
    ("0 0 8 ? * Sat,Sun", Fields("0 8 ? * SAT,SUN *")),
    ("0 30 9 * Jan-Mar Tue", Fields("30 9 ? JAN-MAR TUE *")),
    ("0 0 0 1 January * 2030", Fields("0 0 1 JAN ? 2030")),
    ("0 0 6 * * Thursday", Fields("0 6 ? * THU *")),
    ("15 5 * * * *", Fields("5 * * * ? *")),
    ("0 5/10 * * * *", Fields("5/10 * * * ? *")),
    ("0 0 10-20/5 * * *", Fields("0 10,15,20 * * ? *")),
    ("0 0 0 * * Mon-Fri/2", Fields("0 0 ? * 2,4,6 *")),
    ("0 0 6 */2 * *", Fields("0 6 1/2 * ? *")),
    ("0 0 0 * * 1-7", Fields("0 0 * * ? *")),
    ("0 0 0 1-31 * Mon", Fields("0 0 ? * MON *")),
    ("0 0 9 * 6,12 * 2027-2029", Fields("0 9 * 6,12 ? 2027-2029")),
    ("@daily", Fields("0 0 * * ? *")),
    ("@weekly", Fields("0 0 ? * SUN *")),
    ("@hourly", Fields("0 * * * ? *")),
    ("* * * * * *", SubMinute),
    ("*/10 * * * * *", SubMinute),
    ("0,30 * * * * *", SubMinute),
    ("10-20 0 * * * *", SubMinute),
    ("0 0 12 1 * Mon", BothDays),
    ("0 0 12 1-15 * Sat,Sun", BothDays),
    ("0 0 25 * * *", Invalid),
    ("every minute", Invalid),
];

#[test]
fn translation_table() {
    for (expression, expect) in TABLE {
        let Ok(schedule) = parse(expression) else {
            assert!(matches!(expect, Invalid), "{expression} does not parse");
            continue;
        };
        let got = to_eventbridge(&schedule);
        match (expect, &got) {
            (Fields(fields), Ok(translated)) => {
                assert_eq!(translated, fields, "{expression}");
                assert_same_minutes(expression, translated);
            }
            (SubMinute, Err(CronError::SubMinute { .. }))
            | (BothDays, Err(CronError::BothDays { .. })) => {}
            _ => panic!("{expression}: unexpected {got:?}"),
        }
    }
}

/// The `cron` crate reads EventBridge's six fields too (it accepts `?`, upper-case names and
/// `N/STEP`): with a seconds field of 0 they must fire at the same minutes as the original.
fn assert_same_minutes(expression: &str, translated: &str) {
    let original = cron::Schedule::from_str(expression).unwrap();
    let back = cron::Schedule::from_str(&format!("0 {translated}")).unwrap();
    let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let minutes = |schedule: &cron::Schedule| -> Vec<DateTime<Utc>> {
        schedule
            .after(&start)
            .take(400)
            .map(|t| t.with_second(0).unwrap())
            .collect()
    };
    assert_eq!(
        minutes(&original),
        minutes(&back),
        "{expression} vs {translated}"
    );
}

#[test]
fn the_cron_crate_counts_weekdays_from_sunday_like_eventbridge() {
    // After Monday 2024-03-18 12:00 UTC, day N fires first on …
    let after = DateTime::parse_from_rfc3339("2024-03-18T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    for (index, name) in days.iter().enumerate() {
        let number = index + 1;
        for field in [number.to_string(), (*name).to_owned()] {
            let schedule = cron::Schedule::from_str(&format!("0 0 0 * * {field}")).unwrap();
            let next = schedule.after(&after).next().unwrap();
            assert_eq!(
                next.weekday().number_from_sunday() as usize,
                number,
                "`{field}` fired on {next}"
            );
            assert_eq!(next.weekday().to_string(), *name, "`{field}`");
        }
    }
    // Unix cron's 0 = Sunday does not exist in this dialect.
    assert!(cron::Schedule::from_str("0 0 0 * * 0").is_err());
}

#[test]
fn errors_say_what_to_write_instead() {
    let sub = translate("*/10 * * * * *").unwrap_err();
    assert_eq!(
        sub.to_string(),
        "the schedule `*/10 * * * * *` fires more than once a minute (seconds field `*/10`); EventBridge schedules fire at most once a minute"
    );
    assert!(sub.help().contains("`0 * * * * *`"), "{}", sub.help());
    let both = translate("0 0 12 1 * Mon").unwrap_err();
    assert!(both.to_string().contains("(`1`)"), "{both}");
    assert!(both.help().contains("`*`"), "{}", both.help());
}

/// The schedule of a `source` section written in YAML (`url` added).
fn zoned(yaml: &str) -> Schedule {
    let source: crate::config::model::Source =
        serde_saphyr::from_str(&format!("url: https://x.example\n{yaml}")).unwrap();
    Schedule::new(&source).unwrap()
}

/// The firings of `schedule` in the three weeks around New York's change to daylight saving
/// time (2025-03-09), with or without its active windows.
fn three_weeks(schedule: &Schedule, active_only: bool) -> Vec<DateTime<Utc>> {
    let start = DateTime::parse_from_rfc3339("2025-03-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let end = start + chrono::TimeDelta::days(21);
    schedule
        .after(start)
        .take_while(|t| *t < end)
        .filter(|t| !active_only || schedule.is_active(*t))
        .collect()
}

#[test]
fn active_hours_fold_into_the_cron_and_the_function_drops_the_rest() {
    for (yaml, folded, exact) in [
        // NSE: not whole hours; the cron keeps 09:00-15:59 on weekdays, the function the rest.
        (
            "schedule: \"0 * * * * *\"\ntimezone: Asia/Kolkata\nactive: [{ days: mon-fri, hours: \"09:15-15:30\" }]\n",
            "* 9-15 ? * MON-FRI *",
            false,
        ),
        // Whole hours in the schedule's zone, across a change of clocks: exact.
        (
            "schedule: \"0 */15 * * * *\"\ntimezone: America/New_York\nactive: [{ days: mon-fri, hours: \"09:00-17:00\" }]\n",
            "0/15 9-16 ? * MON-FRI *",
            true,
        ),
        // Two windows: the hours and days of both (a superset), checked by the function.
        (
            "schedule: \"0 0 * * * *\"\nactive:\n  - { days: mon-wed, hours: \"08:00-10:00\" }\n  - { days: sat, hours: \"12:00-13:00\" }\n",
            "0 8-9,12 ? * MON-WED,SAT *",
            false,
        ),
        // Days only: the hour field stays as written.
        (
            "schedule: \"0 0 * * * *\"\nactive: [{ days: sat-sun }]\n",
            "0 * ? * SUN,SAT *",
            true,
        ),
        // A window in another zone is not folded.
        (
            "schedule: \"0 0 * * * *\"\nactive: [{ days: mon-fri, timezone: Asia/Tokyo }]\n",
            "0 * * * ? *",
            false,
        ),
        // A restricted day of the month keeps its field; the hours still fold.
        (
            "schedule: \"0 0 * 1,3 * *\"\nactive: [{ days: mon-fri, hours: \"09:00-12:00\" }]\n",
            "0 9-11 1,3 * ? *",
            false,
        ),
    ] {
        let schedule = zoned(yaml);
        let fields = fold_active(&schedule, &to_eventbridge(&schedule).unwrap());
        assert_eq!(fields, folded, "{yaml}");
        // EventBridge's expression, read in the same zone by the same rules.
        let zone = schedule.zone().name();
        let eventbridge = zoned(&format!("schedule: \"0 {fields}\"\ntimezone: {zone}\n"));
        let invoked = three_weeks(&eventbridge, false);
        let polled = three_weeks(&schedule, true);
        assert!(!polled.is_empty(), "{yaml}");
        // Every active firing is invoked; the function's check leaves exactly the active ones.
        let kept: Vec<_> = invoked
            .iter()
            .copied()
            .filter(|t| schedule.is_active(*t))
            .collect();
        assert_eq!(kept, polled, "{yaml}");
        assert_eq!(
            invoked == polled,
            exact,
            "{yaml}: {} invocations",
            invoked.len()
        );
    }
}
