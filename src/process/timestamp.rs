//! `timestamp` fields: a strftime `format` (what it accepts is decided here, for the processor
//! and for `validate` alike), RFC 3339 text, or epoch seconds / milliseconds → RFC 3339 UTC.

use std::fmt::Write as _;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

use super::number::{kind_of, parse_text};

/// From this absolute value on, an epoch number is milliseconds, not seconds: 1e11 seconds is
/// the year 5138, and 1e11 milliseconds is March 1973.
pub const EPOCH_MILLIS_FROM: f64 = 100_000_000_000.0;

/// What a timestamp format reads: that decides how its text becomes an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatKind {
    /// A date, a time and a UTC offset (`%z`, `%:z`): the offset in the text wins.
    Offset,
    /// A date and a time without an offset: local time in the field's `timezone`.
    DateTime,
    /// A date only: midnight (the start of the day) in the field's `timezone`.
    Date,
}

/// Why a strftime format cannot be used for a timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatProblem {
    /// A directive chrono does not know, such as `%Q`.
    Invalid,
    /// A directive that only parses (`%#z`), so the format cannot be checked by a round trip.
    ParseOnly,
    /// The format does not read back a full date (it lacks the year, month or day).
    NotAFullDate,
}

impl std::fmt::Display for FormatProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FormatProblem::Invalid => "it has a directive that is not strftime",
            FormatProblem::ParseOnly => "it uses a parse-only directive",
            FormatProblem::NotAFullDate => "it does not give a full date",
        })
    }
}

/// A strftime format compiled once, with what it reads.
#[derive(Clone, Debug)]
pub struct TimestampFormat {
    text: String,
    items: Vec<Item<'static>>,
    kind: FormatKind,
}

impl TimestampFormat {
    /// Compiles `format` and classifies it by formatting a sample instant with it and reading
    /// that back: with an offset, as a date and time, or as a date.
    pub fn new(format: &str) -> Result<TimestampFormat, FormatProblem> {
        let items = StrftimeItems::new(format)
            .parse_to_owned()
            .map_err(|_| FormatProblem::Invalid)?;
        // Some directives (`%#z`) only parse: formatting them fails, which `to_string` would
        // panic on.
        let mut sample = String::new();
        let instant = DateTime::parse_from_rfc3339("2024-03-18T15:59:38+05:30")
            .expect("a valid RFC 3339 sample");
        write!(sample, "{}", instant.format_with_items(items.iter()))
            .map_err(|_| FormatProblem::ParseOnly)?;
        let mut parsed = Parsed::new();
        chrono::format::parse(&mut parsed, &sample, items.iter())
            .map_err(|_| FormatProblem::NotAFullDate)?;
        let kind = if parsed.to_datetime().is_ok() {
            FormatKind::Offset
        } else if parsed.to_naive_datetime_with_offset(0).is_ok() {
            FormatKind::DateTime
        } else if parsed.to_naive_date().is_ok() {
            FormatKind::Date
        } else {
            return Err(FormatProblem::NotAFullDate);
        };
        Ok(TimestampFormat {
            text: format.to_owned(),
            items,
            kind,
        })
    }

    /// What the format reads.
    pub fn kind(&self) -> FormatKind {
        self.kind
    }

    /// The format as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Reads `text` with this format; a time without an offset is local time in `zone`.
    pub fn parse(&self, text: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
        let mut parsed = Parsed::new();
        let mismatch = |err: chrono::ParseError| {
            format!("the text does not match the format `{}`: {err}", self.text)
        };
        chrono::format::parse(&mut parsed, text, self.items.iter()).map_err(mismatch)?;
        match self.kind {
            FormatKind::Offset => Ok(parsed.to_datetime().map_err(mismatch)?.to_utc()),
            FormatKind::DateTime => in_zone(
                parsed.to_naive_datetime_with_offset(0).map_err(mismatch)?,
                zone,
            ),
            FormatKind::Date => start_of_day(parsed.to_naive_date().map_err(mismatch)?, zone),
        }
    }
}

/// Reads `text` with the strftime `format`, as the processor does for a field with `format`.
pub fn parse_with_format(text: &str, format: &str, zone: Tz) -> Result<DateTime<Utc>, String> {
    let format = TimestampFormat::new(format)
        .map_err(|problem| format!("unusable timestamp format `{format}`: {problem}"))?;
    format.parse(text, zone)
}

/// A timestamp without a `format`: RFC 3339 text (any offset); `YYYY-MM-DD HH:MM:SS` (or with a
/// `T`, optional fraction) and `YYYY-MM-DD` as local time in `zone` (UTC unless the field sets
/// `timezone`); or a number, or numeric text, of seconds since 1970-01-01 UTC, read as
/// milliseconds when its absolute value is at least [`EPOCH_MILLIS_FROM`].
pub fn parse_unformatted(value: &Value, zone: Tz) -> Result<DateTime<Utc>, String> {
    match value {
        Value::Number(n) => from_epoch(n.as_str()),
        Value::String(text) => {
            let text = text.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(text) {
                return Ok(t.to_utc());
            }
            for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
                if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                    return in_zone(t, zone);
                }
            }
            if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                return start_of_day(day, zone);
            }
            match parse_text(text) {
                Ok(n) => from_epoch(n.as_str()),
                Err(_) => Err(
                    "the text is not RFC 3339 (such as `2024-03-18T10:29:38Z`), \
                     `YYYY-MM-DD[ HH:MM:SS]` or epoch seconds; set a `format` for other text"
                        .to_owned(),
                ),
            }
        }
        other => Err(format!("{} is not a timestamp", kind_of(other))),
    }
}

/// An instant as stored: RFC 3339 in UTC with milliseconds, such as `2024-03-18T10:29:38.000Z`.
pub fn to_rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Epoch seconds or milliseconds (see [`EPOCH_MILLIS_FROM`]) from a JSON number's text.
fn from_epoch(text: &str) -> Result<DateTime<Utc>, String> {
    let out_of_range = || format!("epoch time {text} is out of range");
    let millis = if let Ok(whole) = text.parse::<i64>() {
        if whole.unsigned_abs() >= EPOCH_MILLIS_FROM as u64 {
            whole
        } else {
            whole * 1000
        }
    } else {
        let value: f64 = text.parse().map_err(|_| out_of_range())?;
        let millis = if value.abs() >= EPOCH_MILLIS_FROM {
            value
        } else {
            value * 1000.0
        };
        if !millis.is_finite() || millis.abs() >= i64::MAX as f64 {
            return Err(out_of_range());
        }
        millis.round() as i64
    };
    DateTime::from_timestamp_millis(millis).ok_or_else(out_of_range)
}

/// A local time in `zone`; the earlier instant when the clocks went back.
fn in_zone(local: NaiveDateTime, zone: Tz) -> Result<DateTime<Utc>, String> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.to_utc()),
        LocalResult::Ambiguous(earliest, _) => Ok(earliest.to_utc()),
        LocalResult::None => Err(format!(
            "{local} does not exist in {zone}: the clocks skipped it (daylight saving)"
        )),
    }
}

/// The first instant of `day` in `zone`: midnight, or the end of a daylight-saving gap that
/// swallowed midnight (as in zones that changed their clocks at 00:00).
fn start_of_day(day: NaiveDate, zone: Tz) -> Result<DateTime<Utc>, String> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    let mut local = midnight;
    while local - midnight < TimeDelta::hours(3) {
        if let Ok(t) = in_zone(local, zone) {
            return Ok(t);
        }
        local += TimeDelta::minutes(15);
    }
    in_zone(midnight, zone)
}
