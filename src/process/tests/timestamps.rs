//! Timestamps: formats with an offset, naive times in a zone, dates, epoch numbers, RFC 3339.

use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{ok, poison, processor, text_of};
use crate::process::timestamp::{
    FormatKind, FormatProblem, TimestampFormat, parse_unformatted, parse_with_format, to_rfc3339,
};

fn formatted(text: &str, format: &str, zone: &str) -> Result<String, String> {
    parse_with_format(text, format, zone.parse::<Tz>().unwrap()).map(to_rfc3339)
}

fn unformatted(value: Value) -> Result<String, String> {
    parse_unformatted(&value, Tz::UTC).map(to_rfc3339)
}

fn body_number(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn formats_are_classified_by_what_they_read() {
    let kind = |f: &str| TimestampFormat::new(f).map(|f| f.kind());
    assert_eq!(kind("%d-%b-%Y %H:%M:%S"), Ok(FormatKind::DateTime));
    assert_eq!(kind("%Y-%m-%dT%H:%M:%S%z"), Ok(FormatKind::Offset));
    assert_eq!(kind("%Y-%m-%d"), Ok(FormatKind::Date));
    assert_eq!(kind("%d/%m/%Y"), Ok(FormatKind::Date));
    assert_eq!(kind("%H:%M %Q").unwrap_err(), FormatProblem::Invalid);
    assert_eq!(kind("%Y-%m-%d %#z").unwrap_err(), FormatProblem::ParseOnly);
    assert_eq!(kind("%H:%M:%S").unwrap_err(), FormatProblem::NotAFullDate);
    assert_eq!(kind("%b %Y").unwrap_err(), FormatProblem::NotAFullDate);
}

#[test]
fn india_time_without_a_zone_is_read_in_asia_kolkata() {
    assert_eq!(
        formatted("18-Mar-2024 15:59:38", "%d-%b-%Y %H:%M:%S", "Asia/Kolkata").unwrap(),
        "2024-03-18T10:29:38.000Z"
    );
}

#[test]
fn an_offset_in_the_text_wins_over_the_zone() {
    assert_eq!(
        formatted(
            "2024-03-18 15:59:38 +0530",
            "%Y-%m-%d %H:%M:%S %z",
            "America/New_York"
        )
        .unwrap(),
        "2024-03-18T10:29:38.000Z"
    );
}

#[test]
fn a_date_is_midnight_in_the_zone() {
    assert_eq!(
        formatted("2024-03-15", "%Y-%m-%d", "America/New_York").unwrap(),
        "2024-03-15T04:00:00.000Z"
    );
    assert_eq!(
        formatted("2024-01-15", "%Y-%m-%d", "America/New_York").unwrap(),
        "2024-01-15T05:00:00.000Z"
    );
    assert_eq!(
        formatted("15/03/2024", "%d/%m/%Y", "UTC").unwrap(),
        "2024-03-15T00:00:00.000Z"
    );
}

#[test]
fn a_date_whose_midnight_was_skipped_starts_at_the_end_of_the_gap() {
    // São Paulo moved its clocks from 00:00 to 01:00 on 2018-11-04.
    assert_eq!(
        formatted("2018-11-04", "%Y-%m-%d", "America/Sao_Paulo").unwrap(),
        "2018-11-04T03:00:00.000Z"
    );
}

#[test]
fn daylight_saving_gaps_and_overlaps() {
    let format = "%Y-%m-%d %H:%M:%S";
    // 02:30 did not happen in New York on 2024-03-10.
    let err = formatted("2024-03-10 02:30:00", format, "America/New_York").unwrap_err();
    assert!(err.contains("does not exist in America/New_York"), "{err}");
    // 01:30 happened twice on 2024-11-03: the earlier one (EDT, -4) is taken.
    assert_eq!(
        formatted("2024-11-03 01:30:00", format, "America/New_York").unwrap(),
        "2024-11-03T05:30:00.000Z"
    );
}

#[test]
fn text_that_does_not_match_the_format_is_refused() {
    let err = formatted("2024-03-18", "%d-%b-%Y %H:%M:%S", "UTC").unwrap_err();
    assert!(
        err.starts_with("the text does not match the format `%d-%b-%Y %H:%M:%S`"),
        "{err}"
    );
    assert!(formatted("31-Feb-2024 10:00:00", "%d-%b-%Y %H:%M:%S", "UTC").is_err());
}

#[test]
fn rfc3339_with_an_offset_becomes_utc() {
    assert_eq!(
        unformatted(json!("2024-03-18T15:59:38+05:30")).unwrap(),
        "2024-03-18T10:29:38.000Z"
    );
    assert_eq!(
        unformatted(json!("2024-03-18T10:29:38.123456Z")).unwrap(),
        "2024-03-18T10:29:38.123Z"
    );
}

#[test]
fn dates_and_times_without_a_zone_are_utc() {
    assert_eq!(
        unformatted(json!("2024-03-15 16:00:00")).unwrap(),
        "2024-03-15T16:00:00.000Z"
    );
    assert_eq!(
        unformatted(json!("2024-03-15")).unwrap(),
        "2024-03-15T00:00:00.000Z"
    );
    let zone = "America/New_York".parse::<Tz>().unwrap();
    assert_eq!(
        to_rfc3339(parse_unformatted(&json!("2024-03-15"), zone).unwrap()),
        "2024-03-15T04:00:00.000Z"
    );
}

#[test]
fn epoch_seconds_and_milliseconds() {
    assert_eq!(
        unformatted(json!(1710475200)).unwrap(),
        "2024-03-15T04:00:00.000Z"
    );
    assert_eq!(
        unformatted(json!("1710475200")).unwrap(),
        "2024-03-15T04:00:00.000Z"
    );
    assert_eq!(
        unformatted(json!(1710475200123_i64)).unwrap(),
        "2024-03-15T04:00:00.123Z"
    );
    assert_eq!(
        unformatted(body_number("1710475200.5")).unwrap(),
        "2024-03-15T04:00:00.500Z"
    );
    assert_eq!(
        unformatted(json!(-86400)).unwrap(),
        "1969-12-31T00:00:00.000Z"
    );
    // The boundary: 99_999_999_999 is seconds (year 5138), 100_000_000_000 milliseconds.
    assert_eq!(
        unformatted(json!(100_000_000_000_i64)).unwrap(),
        "1973-03-03T09:46:40.000Z"
    );
    assert!(
        unformatted(json!(99_999_999_999_i64))
            .unwrap()
            .starts_with("5138-")
    );
    assert!(
        unformatted(body_number("1e300"))
            .unwrap_err()
            .contains("out of range")
    );
}

#[test]
fn other_values_are_not_timestamps() {
    assert!(unformatted(json!("yesterday")).is_err());
    assert!(unformatted(json!("18-Mar-2024 15:59:38")).is_err());
    assert_eq!(
        unformatted(json!(true)).unwrap_err(),
        "a boolean is not a timestamp"
    );
    assert!(unformatted(json!({"t": 1})).is_err());
}

#[test]
fn timestamp_fields_in_records() {
    let p = processor(
        "at: { path: $.at, type: timestamp, required: true, format: \"%d-%b-%Y %H:%M:%S\", timezone: Asia/Kolkata }\n\
         epoch: { path: $.epoch, type: timestamp }",
    );
    let record = ok(
        &p,
        r#"{"symbol":"A","at":"18-Mar-2024 15:59:38","epoch":1710475200}"#,
    );
    assert_eq!(
        text_of(&record, "at").unwrap(),
        "\"2024-03-18T10:29:38.000Z\""
    );
    assert_eq!(
        text_of(&record, "epoch").unwrap(),
        "\"2024-03-15T04:00:00.000Z\""
    );
    let reason = poison(&p, r#"{"symbol":"A","at":1710475200}"#);
    assert!(
        reason.contains("a number cannot be read with the format `%d-%b-%Y %H:%M:%S`"),
        "{reason}"
    );
}
