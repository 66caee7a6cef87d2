//! Timestamps: formats with an offset, naive times in a zone, dates, epoch numbers, RFC 3339.

use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{ok, poison, processor, text_of};
use crate::process::timestamp::{
    Ambiguous, EpochUnit, FormatKind, FormatProblem, TimestampFormat, parse_unformatted, to_rfc3339,
};

fn formatted(text: &str, format: &str, zone: &str) -> Result<String, String> {
    formatted_with(text, format, zone, Ambiguous::default())
}

fn formatted_with(
    text: &str,
    format: &str,
    zone: &str,
    ambiguous: Ambiguous,
) -> Result<String, String> {
    // As the processor reads a field with `format`: the format compiled once, then applied.
    let compiled = TimestampFormat::new(format)
        .map_err(|problem| format!("unusable timestamp format `{format}`: {problem}"))?;
    compiled
        .parse(text, zone.parse::<Tz>().unwrap(), ambiguous)
        .map(to_rfc3339)
}

fn unformatted(value: Value) -> Result<String, String> {
    unformatted_in(value, "UTC", Ambiguous::default())
}

fn unformatted_in(value: Value, zone: &str, ambiguous: Ambiguous) -> Result<String, String> {
    parse_unformatted(&value, zone.parse::<Tz>().unwrap(), ambiguous).map(to_rfc3339)
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
    assert_eq!(
        unformatted_in(json!("2024-03-15"), "America/New_York", Ambiguous::Earlier).unwrap(),
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

#[test]
fn epoch_units_are_told_by_magnitude() {
    assert_eq!(EpochUnit::of(99_999_999_999), Some(EpochUnit::Seconds));
    assert_eq!(EpochUnit::of(100_000_000_000), Some(EpochUnit::Millis));
    assert_eq!(EpochUnit::of(99_999_999_999_999), Some(EpochUnit::Millis));
    assert_eq!(EpochUnit::of(100_000_000_000_000), Some(EpochUnit::Micros));
    assert_eq!(
        EpochUnit::of(99_999_999_999_999_999),
        Some(EpochUnit::Micros)
    );
    assert_eq!(
        EpochUnit::of(100_000_000_000_000_000),
        Some(EpochUnit::Nanos)
    );
    assert_eq!(
        EpochUnit::of(99_999_999_999_999_999_999),
        Some(EpochUnit::Nanos)
    );
    assert_eq!(EpochUnit::of(100_000_000_000_000_000_000), None);
}

#[test]
fn epoch_microseconds_and_nanoseconds() {
    // Read as milliseconds, this was the year 57860.
    assert_eq!(
        unformatted(json!(1763740800123456_i64)).unwrap(),
        "2025-11-21T16:00:00.123Z"
    );
    assert_eq!(
        unformatted(json!("1763740800123456")).unwrap(),
        "2025-11-21T16:00:00.123Z"
    );
    assert_eq!(
        unformatted(json!(1763740800123456789_i64)).unwrap(),
        "2025-11-21T16:00:00.123Z"
    );
    assert_eq!(
        unformatted(body_number("1763740800123456789.5")).unwrap(),
        "2025-11-21T16:00:00.123Z"
    );
    // The lower boundaries: 10^14 µs and 10^17 ns are both 10^11 ms, March 1973.
    assert_eq!(
        unformatted(json!(100_000_000_000_000_i64)).unwrap(),
        "1973-03-03T09:46:40.000Z"
    );
    assert_eq!(
        unformatted(json!(100_000_000_000_000_000_i64)).unwrap(),
        "1973-03-03T09:46:40.000Z"
    );
    // Just below them: the coarser unit, up to the year 5138.
    assert!(
        unformatted(json!(99_999_999_999_999_i64))
            .unwrap()
            .starts_with("5138-")
    );
    assert!(
        unformatted(json!(99_999_999_999_999_999_i64))
            .unwrap()
            .starts_with("5138-")
    );
    // 10^20 and more has no unit.
    assert!(
        unformatted(body_number("100000000000000000000"))
            .unwrap_err()
            .contains("out of range")
    );
    // An exponent is read exactly too.
    assert_eq!(
        unformatted(body_number("1.7634752e9")).unwrap(),
        "2025-11-18T14:13:20.000Z"
    );
    assert_eq!(
        unformatted(body_number("0e999")).unwrap(),
        "1970-01-01T00:00:00.000Z"
    );
}

#[test]
fn instants_are_truncated_to_milliseconds_for_numbers_and_text() {
    // Rounding the number gave 21:00:01.000 while the text gave 21:00:00.999.
    assert_eq!(
        unformatted(body_number("1763758800.9999")).unwrap(),
        "2025-11-21T21:00:00.999Z"
    );
    assert_eq!(
        unformatted(json!("2025-11-21T21:00:00.9999Z")).unwrap(),
        "2025-11-21T21:00:00.999Z"
    );
    assert_eq!(
        unformatted(json!("2025-11-21 21:00:00.9999")).unwrap(),
        "2025-11-21T21:00:00.999Z"
    );
    assert_eq!(
        unformatted(body_number("1763758800999.9")).unwrap(),
        "2025-11-21T21:00:00.999Z"
    );
    // Exact: no floating-point error in `.123` (1710475200.123 × 1000 is 1710475200122.99… in f64).
    assert_eq!(
        unformatted(body_number("1710475200.123")).unwrap(),
        "2024-03-15T04:00:00.123Z"
    );
    // Before 1970, truncation is towards the past, as for text.
    assert_eq!(
        unformatted(body_number("-0.0001")).unwrap(),
        "1969-12-31T23:59:59.999Z"
    );
    assert_eq!(
        unformatted(json!("1969-12-31T23:59:59.9999Z")).unwrap(),
        "1969-12-31T23:59:59.999Z"
    );
    assert_eq!(
        unformatted(body_number("-1.5")).unwrap(),
        "1969-12-31T23:59:58.500Z"
    );
}

#[test]
fn years_outside_0000_to_9999_are_refused() {
    // 9999-12-31 23:59:59 in New York is 10000-01-01 04:59:59 UTC.
    let err = formatted(
        "9999-12-31 23:59:59",
        "%Y-%m-%d %H:%M:%S",
        "America/New_York",
    )
    .unwrap_err();
    assert!(err.contains("the year 10000"), "{err}");
    let err = unformatted_in(
        json!("9999-12-31 23:59:59"),
        "America/New_York",
        Ambiguous::Earlier,
    )
    .unwrap_err();
    assert!(err.contains("the year 10000"), "{err}");
    assert!(
        unformatted(json!("0000-01-01T01:00:00+02:00"))
            .unwrap_err()
            .contains("the year -1")
    );
    assert!(
        unformatted(body_number("-99999999999"))
            .unwrap_err()
            .contains("year")
    );
    // The edges themselves are kept.
    assert_eq!(
        unformatted(json!("9999-12-31T23:59:59.999Z")).unwrap(),
        "9999-12-31T23:59:59.999Z"
    );
    assert_eq!(
        unformatted(json!("0000-01-01T00:00:00Z")).unwrap(),
        "0000-01-01T00:00:00.000Z"
    );
}

#[test]
fn a_leap_second_is_the_last_millisecond_of_its_minute() {
    assert_eq!(
        unformatted(json!("2016-12-31T23:59:60Z")).unwrap(),
        "2016-12-31T23:59:59.999Z"
    );
    assert_eq!(
        unformatted(json!("2016-12-31T23:59:60.5Z")).unwrap(),
        "2016-12-31T23:59:59.999Z"
    );
    assert_eq!(
        unformatted(json!("2017-01-01T05:29:60+05:30")).unwrap(),
        "2016-12-31T23:59:59.999Z"
    );
    assert_eq!(
        unformatted(json!("2016-12-31 23:59:60")).unwrap(),
        "2016-12-31T23:59:59.999Z"
    );
    assert_eq!(
        formatted("31-Dec-2016 23:59:60", "%d-%b-%Y %H:%M:%S", "UTC").unwrap(),
        "2016-12-31T23:59:59.999Z"
    );
}

#[test]
fn a_repeated_local_time_is_read_as_the_field_says() {
    // 01:30 happened twice in New York on 2024-11-03: at -04:00, then at -05:00.
    let format = "%Y-%m-%d %H:%M:%S";
    let zone = "America/New_York";
    let read = |ambiguous| formatted_with("2024-11-03 01:30:00", format, zone, ambiguous);
    assert_eq!(
        read(Ambiguous::Earlier).unwrap(),
        "2024-11-03T05:30:00.000Z"
    );
    assert_eq!(read(Ambiguous::Later).unwrap(), "2024-11-03T06:30:00.000Z");
    let err = read(Ambiguous::Reject).unwrap_err();
    assert!(err.contains("happened twice in America/New_York"), "{err}");
    assert!(
        err.contains("2024-11-03T05:30:00.000Z or 2024-11-03T06:30:00.000Z"),
        "{err}"
    );
    // The same without a format.
    let read = |ambiguous| unformatted_in(json!("2024-11-03 01:30:00"), zone, ambiguous);
    assert_eq!(read(Ambiguous::Later).unwrap(), "2024-11-03T06:30:00.000Z");
    assert!(read(Ambiguous::Reject).is_err());
    // Outside the overlap the choice does not matter.
    assert_eq!(
        formatted_with("2024-11-03 03:30:00", format, zone, Ambiguous::Reject).unwrap(),
        "2024-11-03T08:30:00.000Z"
    );
}

#[test]
fn a_skipped_local_time_is_refused_whatever_the_choice() {
    for ambiguous in [Ambiguous::Earlier, Ambiguous::Later, Ambiguous::Reject] {
        let err = unformatted_in(json!("2024-03-10 02:30:00"), "America/New_York", ambiguous)
            .unwrap_err();
        assert!(err.contains("does not exist in America/New_York"), "{err}");
    }
}

#[test]
fn the_ambiguous_option_reaches_the_processor() {
    let p = processor(
        "at: { path: $.at, type: timestamp, required: true, format: \"%Y-%m-%d %H:%M:%S\", timezone: America/New_York, ambiguous: later }\n\
         strict: { path: $.strict, type: timestamp, timezone: America/New_York, ambiguous: reject }",
    );
    let record = ok(&p, r#"{"symbol":"A","at":"2024-11-03 01:30:00"}"#);
    assert_eq!(
        text_of(&record, "at").unwrap(),
        "\"2024-11-03T06:30:00.000Z\""
    );
    let reason = poison(&p, r#"{"symbol":"A","at":"9999-12-31 23:59:59"}"#);
    assert!(reason.contains("the year 10000"), "{reason}");
}
