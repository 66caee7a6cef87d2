//! The schedule: cron errors, zones across changes of clocks, active windows, the warnings.

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn parse(expression: &str) -> Result<Schedule, Diagnostic> {
    Schedule::from_expression(&Located::unlocated(expression.to_owned()))
}

#[test]
fn next_firing_is_strictly_later() {
    let every_minute = parse("0 * * * * *").unwrap();
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
    let weekdays = parse("0 45 10 * * Mon-Fri").unwrap();
    // Friday 2024-03-22 after 10:45 → Monday.
    assert_eq!(
        weekdays.next_after(at("2024-03-22T11:00:00Z")),
        Some(at("2024-03-25T10:45:00Z"))
    );
    let over = parse("0 0 0 1 1 * 2001").unwrap();
    assert_eq!(over.next_after(at("2024-01-01T00:00:00Z")), None);
}

#[test]
fn invalid_expressions_are_errors_at_the_bad_character() {
    let err = parse("0 0 25 * * *").unwrap_err();
    assert_eq!(err.path, "source.schedule");
    assert!(
        err.message.contains("Hours must be less than 23"),
        "{err:?}"
    );
    assert_eq!(err.inside.map(|i| i.column), Some(4));
    let err = parse("0 * * * *").unwrap_err();
    assert!(err.message.contains("has 5 fields"), "{err:?}");
}

/// The schedule of a `source` section written in YAML.
fn source(yaml: &str) -> Result<Schedule, Vec<Diagnostic>> {
    let source: Source =
        serde_saphyr::from_str(&format!("url: https://x.example\n{yaml}")).unwrap();
    Schedule::new(&source)
}

#[test]
fn a_zoned_schedule_follows_daylight_saving_time() {
    let open = source("schedule: \"0 30 9 * * Mon-Fri\"\ntimezone: America/New_York\n").unwrap();
    // 09:30 EST is 14:30Z until Friday 2025-03-07; clocks go forward on Sunday 2025-03-09,
    // and 09:30 EDT is 13:30Z from Monday.
    assert_eq!(
        open.next_after(at("2025-03-06T15:00:00Z")),
        Some(at("2025-03-07T14:30:00Z"))
    );
    assert_eq!(
        open.next_after(at("2025-03-07T15:00:00Z")),
        Some(at("2025-03-10T13:30:00Z"))
    );
}

#[test]
fn skipped_local_times_do_not_fire_and_repeated_ones_fire_once() {
    let night = source("schedule: \"0 30 1,2 * * *\"\ntimezone: America/New_York\n").unwrap();
    // 2025-03-09: 02:30 does not exist in New York (02:00 → 03:00).
    let spring: Vec<_> = night.after(at("2025-03-09T05:00:00Z")).take(2).collect();
    assert_eq!(
        spring,
        [at("2025-03-09T06:30:00Z"), at("2025-03-10T05:30:00Z")]
    );
    // 2025-11-02: 01:30 happens twice (EDT, then EST); it fires the first time only.
    let fall: Vec<_> = night.after(at("2025-11-02T04:00:00Z")).take(3).collect();
    assert_eq!(
        fall,
        [
            at("2025-11-02T05:30:00Z"),
            at("2025-11-02T07:30:00Z"),
            at("2025-11-03T06:30:00Z")
        ]
    );
    // Asked during the repeated hour, the next firing is later, never an hour back.
    let every_minute = source("schedule: \"0 * * * * *\"\ntimezone: America/New_York\n").unwrap();
    assert_eq!(
        every_minute.next_after(at("2025-11-02T06:30:00Z")),
        Some(at("2025-11-02T07:00:00Z"))
    );
    assert_eq!(
        every_minute.next_after(at("2025-11-02T05:30:00Z")),
        Some(at("2025-11-02T05:31:00Z"))
    );
}

#[test]
fn the_next_poll_waits_for_the_active_window() {
    let nse =
        source("active:\n  - { days: mon-fri, hours: \"09:15-15:30\", timezone: Asia/Kolkata }\n")
            .unwrap();
    // Friday 2025-03-21 16:00 IST (10:30Z) → Monday 09:15 IST (03:45Z).
    assert_eq!(
        nse.next_after(at("2025-03-21T10:30:00Z")),
        Some(at("2025-03-24T03:45:00Z"))
    );
    assert!(nse.is_active(at("2025-03-24T09:59:00Z")));
    assert!(!nse.is_active(at("2025-03-24T10:00:00Z")));
    // A window takes `source.timezone` when it names no zone.
    let zoned = source("timezone: Asia/Kolkata\nactive: [{ hours: \"09:15-15:30\" }]\n").unwrap();
    assert!(zoned.is_active(at("2025-03-22T03:45:00Z")));
    // Windows the schedule never fires in: no next poll (and `validate` warns).
    let never = source("schedule: \"0 0 12 * * Sat\"\nactive: [{ days: mon-fri }]\n").unwrap();
    assert_eq!(never.next_after(at("2025-03-21T10:30:00Z")), None);
    assert!(never_active(&never, &Located::unlocated(String::new())).is_some());
    assert!(never_active(&nse, &Located::unlocated(String::new())).is_none());
}

#[test]
fn every_problem_of_zone_and_windows_is_reported() {
    let problems = source(
        "timezone: Mars/Olympus\nactive:\n  - { days: mon-fry, hours: \"9-5\" }\n  - { timezone: Asia/Kolkatta }\n",
    )
    .unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "source.timezone",
            "source.active[0].days",
            "source.active[0].hours",
            "source.active[1].timezone"
        ]
    );
    let empty = source("active: []\n").unwrap_err();
    assert!(empty[0].message.contains("no windows"), "{empty:?}");
}

#[test]
fn numeric_weekdays_are_flagged() {
    let flagged = |e: &str| numeric_weekday(&Located::unlocated(e.to_owned()));
    assert!(flagged("0 0 9 * * 1-5").is_some());
    assert!(flagged("0 0 9 * * Mon-Fri").is_none());
    assert_eq!(column_of_field("0  * * * * Mon", 5), 11);
}

/// The walk the count replaces: every firing of `range`, kept when active, bucketed by
/// `period` from the range's start.
fn walked_busiest(schedule: &Schedule, range: std::ops::Range<DateTime<Utc>>, period: u64) -> u64 {
    let mut buckets = std::collections::HashMap::<i64, u64>::new();
    let firings = schedule
        .after(range.start - chrono::TimeDelta::seconds(1))
        .take_while(|time| *time < range.end)
        .filter(|time| schedule.is_active(*time));
    for time in firings {
        *buckets
            .entry((time - range.start).num_seconds() / period as i64)
            .or_default() += 1;
    }
    buckets.into_values().max().unwrap_or(0)
}

#[test]
fn counted_periods_equal_walked_ones_across_changes_of_clocks() {
    let cases = [
        (
            "schedule: \"0 * * * * *\"\ntimezone: America/New_York\n",
            "2025-03-01T00:00:00Z",
            86_400,
        ),
        (
            "schedule: \"0 30 1,2 * * *\"\ntimezone: America/New_York\n",
            "2025-11-01T00:00:00Z",
            3_600,
        ),
        (
            "schedule: \"*/20 * 0-3 * * *\"\ntimezone: Europe/London\n",
            "2025-10-20T00:00:00Z",
            86_400,
        ),
        (
            "schedule: \"0 */15 * * * *\"\ntimezone: Australia/Lord_Howe\n",
            "2025-04-01T00:00:00Z",
            3_600,
        ),
        (
            "schedule: \"0 0 * * * *\"\ntimezone: America/Santiago\n",
            "2025-04-01T00:00:00Z",
            86_400,
        ),
        (
            "active: [{ days: mon-fri, hours: \"09:30-16:00\", timezone: America/New_York }]\n",
            "2025-03-05T00:00:00Z",
            86_400,
        ),
        (
            "schedule: \"0 * * * * *\"\ntimezone: Asia/Kolkata\nactive: [{ days: mon-fri, hours: \"09:15-15:30\" }]\n",
            "2025-01-01T00:00:00Z",
            30 * 86_400,
        ),
    ];
    for (yaml, start, period) in cases {
        let schedule = source(yaml).unwrap();
        let start = at(start);
        let range = start..start + chrono::TimeDelta::days(12);
        assert_eq!(
            schedule.busiest_period(range.clone(), period),
            walked_busiest(&schedule, range, period),
            "{yaml} from {start}"
        );
    }
}

mod counted_equals_walked {
    use proptest::prelude::*;

    use super::*;

    const SECONDS: &[&str] = &["0", "0,30", "15", "*/20"];
    const MINUTES: &[&str] = &["*", "*/5", "0", "30", "0-10", "59"];
    const HOURS: &[&str] = &["*", "9-17", "1,2", "13-21", "0", "23"];
    const DAYS: &[&str] = &["*", "1,2", "1-15", "31", "?"];
    const MONTHS: &[&str] = &["*", "1", "2-4", "Mar", "10-11"];
    const WEEKDAYS: &[&str] = &["*", "Mon-Fri", "Sat,Sun", "Sun", "?"];
    const ZONES: &[&str] = &[
        "UTC",
        "America/New_York",
        "Asia/Kolkata",
        "Europe/London",
        "Australia/Sydney",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Pacific/Chatham",
    ];
    const WINDOW_DAYS: &[&str] = &["mon-fri", "sat,sun", "fri-mon", "wed"];
    const WINDOW_HOURS: &[&str] = &["09:15-15:30", "00:00-24:00", "01:30-02:30", "22:00-24:00"];
    const PERIODS: &[u64] = &[60, 3_600, 86_400, 30 * 86_400];

    fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
        proptest::sample::select(list)
    }

    prop_compose! {
        fn expression()(s in pick(SECONDS), m in pick(MINUTES), h in pick(HOURS),
                        d in pick(DAYS), mo in pick(MONTHS), w in pick(WEEKDAYS)) -> String {
            // The cron crate wants `?` in at most one of the two day fields.
            let w = if d == "?" && w == "?" { "*" } else { w };
            format!("{s} {m} {h} {d} {mo} {w}")
        }
    }

    prop_compose! {
        fn window()(days in pick(WINDOW_DAYS), hours in pick(WINDOW_HOURS),
                    zone in proptest::option::of(pick(ZONES))) -> String {
            let zone = zone.map_or(String::new(), |z| format!(", timezone: {z}"));
            format!("  - {{ days: \"{days}\", hours: \"{hours}\"{zone} }}\n")
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn for_any_schedule_zone_windows_and_period(
            expression in expression(),
            zone in pick(ZONES),
            windows in proptest::collection::vec(window(), 0..3),
            period in proptest::sample::select(PERIODS),
            start_day in 0_i64..365,
            start_hour in 0_i64..24,
        ) {
            let mut yaml = format!("schedule: \"{expression}\"\ntimezone: {zone}\n");
            if !windows.is_empty() {
                yaml.push_str("active:\n");
                yaml.extend(windows);
            }
            let schedule = source(&yaml).unwrap();
            let start = at("2025-01-01T00:00:00Z")
                + chrono::TimeDelta::days(start_day)
                + chrono::TimeDelta::hours(start_hour);
            // As quota looks: one period and eight days (and never more than 40 here, so the
            // walk stays quick).
            let horizon = (period as i64 + 8 * 86_400).min(40 * 86_400);
            let range = start..start + chrono::TimeDelta::seconds(horizon);
            prop_assert_eq!(
                schedule.busiest_period(range.clone(), period),
                walked_busiest(&schedule, range, period),
                "{}", yaml
            );
        }
    }
}
