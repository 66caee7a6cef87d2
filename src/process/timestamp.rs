//! `timestamp` fields: a strftime `format` (what it accepts is decided here, for the processor
//! and for `validate` alike), RFC 3339 text, or an epoch number → RFC 3339 UTC with
//! milliseconds.
//!
//! Every instant, however it was read, is finished the same way ([`finish`]):
//! - **Milliseconds, truncated.** Digits below the millisecond are dropped (towards the past),
//!   for numbers and text alike: `1763740800.9999` and `2025-11-21T16:00:00.9999Z` both become
//!   `…:00.999Z`, never the next second (or day).
//! - **Years 0000 to 9999 (UTC).** RFC 3339 writes four-digit years, so an instant outside them
//!   (after conversion to UTC: `9999-12-31 23:59:59` in New York is in the year 10000) is refused
//!   and the record becomes a poison record with that reason.
//! - **Leap seconds.** A second `60` (`23:59:60`, which RFC 3339 allows) is stored as the last
//!   millisecond before the next minute, `23:59:59.999`: every reader accepts that, and it still
//!   sorts after the rest of the minute.
//!
//! An epoch number (a JSON number, or numeric text) is read exactly, without floating point, and
//! its unit is told by the magnitude of its integer part ([`EpochUnit::of`]):
//!
//! | absolute value | unit | covers |
//! |---|---|---|
//! | below 10¹¹ | seconds | up to the year 5138 |
//! | 10¹¹ to below 10¹⁴ | milliseconds | 1973-03-03 to 5138 |
//! | 10¹⁴ to below 10¹⁷ | microseconds | 1973-03-03 to 5138 |
//! | 10¹⁷ to below 10²⁰ | nanoseconds | 1973-03-03 to 5138 |
//! | 10²⁰ and above | refused | |
//!
//! So milliseconds, microseconds and nanoseconds before March 1973 read as a coarser unit; no
//! current API sends those.
//!
//! A local time (text without an offset, in the field's `timezone`) that happened twice, in the
//! hour repeated when daylight saving ends, is read as the field's `ambiguous` choice says
//! ([`Ambiguous`]: the earlier instant unless set). A local time the clocks skipped (when
//! daylight saving starts) did not happen: it is refused. A date alone means the first instant
//! of that day in the zone.

use std::fmt::Write as _;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde_json::Value;

use super::number::{kind_of, parse_text};
pub use crate::config::model::Ambiguous;

/// The unit of an epoch number, told by its magnitude (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochUnit {
    /// Seconds: an integer part below 10¹¹ (the year 5138).
    Seconds,
    /// Milliseconds: 10¹¹ (March 1973) to below 10¹⁴.
    Millis,
    /// Microseconds: 10¹⁴ to below 10¹⁷.
    Micros,
    /// Nanoseconds: 10¹⁷ to below 10²⁰.
    Nanos,
}

impl EpochUnit {
    /// The unit of an epoch number whose integer part, without its sign, is `whole`; `None`
    /// from 10²⁰ on.
    pub fn of(whole: u128) -> Option<EpochUnit> {
        match whole {
            0..100_000_000_000 => Some(EpochUnit::Seconds),
            100_000_000_000..100_000_000_000_000 => Some(EpochUnit::Millis),
            100_000_000_000_000..100_000_000_000_000_000 => Some(EpochUnit::Micros),
            100_000_000_000_000_000..100_000_000_000_000_000_000 => Some(EpochUnit::Nanos),
            _ => None,
        }
    }

    /// Nanoseconds in one of this unit.
    fn nanos(self) -> u128 {
        match self {
            EpochUnit::Seconds => 1_000_000_000,
            EpochUnit::Millis => 1_000_000,
            EpochUnit::Micros => 1_000,
            EpochUnit::Nanos => 1,
        }
    }
}

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

    /// Reads `text` with this format; a time without an offset is local time in `zone` (a
    /// repeated local time resolved by `ambiguous`). The instant is [`finish`]ed.
    pub fn parse(
        &self,
        text: &str,
        zone: Tz,
        ambiguous: Ambiguous,
    ) -> Result<DateTime<Utc>, String> {
        finish(self.read(text, zone, ambiguous)?)
    }

    fn read(&self, text: &str, zone: Tz, ambiguous: Ambiguous) -> Result<DateTime<Utc>, String> {
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
                ambiguous,
            ),
            FormatKind::Date => start_of_day(parsed.to_naive_date().map_err(mismatch)?, zone),
        }
    }
}

/// A timestamp without a `format`: RFC 3339 text (any offset); `YYYY-MM-DD HH:MM:SS` (or with a
/// `T`, optional fraction) as local time in `zone` (UTC unless the field sets `timezone`; a
/// repeated local time resolved by `ambiguous`) and `YYYY-MM-DD` as the start of that day there;
/// or a number, or numeric text, since 1970-01-01 UTC in the unit its magnitude says
/// ([`EpochUnit::of`]). The instant is [`finish`]ed.
pub fn parse_unformatted(
    value: &Value,
    zone: Tz,
    ambiguous: Ambiguous,
) -> Result<DateTime<Utc>, String> {
    finish(read_unformatted(value, zone, ambiguous)?)
}

fn read_unformatted(
    value: &Value,
    zone: Tz,
    ambiguous: Ambiguous,
) -> Result<DateTime<Utc>, String> {
    match value {
        Value::Number(n) => from_epoch(n.as_str()),
        Value::String(text) => {
            let text = text.trim();
            if let Ok(t) = DateTime::parse_from_rfc3339(text) {
                return Ok(t.to_utc());
            }
            for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
                if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                    return in_zone(t, zone, ambiguous);
                }
            }
            if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                return start_of_day(day, zone);
            }
            match parse_text(text) {
                Ok(n) => from_epoch(n.as_str()),
                Err(_) => Err(
                    "the text is not RFC 3339 (such as `2024-03-18T10:29:38Z`), \
                     `YYYY-MM-DD[ HH:MM:SS]` or an epoch number; set a `format` for other text"
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

/// The first and last years an RFC 3339 timestamp can write.
const YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

/// An instant as it is stored: a leap second folded to the minute's last millisecond, digits
/// below the millisecond truncated, and a year outside 0000–9999 (in UTC) refused.
pub fn finish(instant: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let nanos = instant.nanosecond();
    let millis = if nanos >= 1_000_000_000 {
        // chrono keeps a leap second as a second `59` with 1 to 2 billion nanoseconds.
        999
    } else {
        nanos / 1_000_000
    };
    let instant = instant
        .with_nanosecond(millis * 1_000_000)
        .expect("a whole number of milliseconds below one second");
    if !YEARS.contains(&instant.year()) {
        return Err(format!(
            "the instant is in the year {} (UTC); a stored timestamp is RFC 3339, \
             whose years are 0000 to 9999",
            instant.year()
        ));
    }
    Ok(instant)
}

/// An epoch number's text (JSON number grammar: sign, digits, fraction, exponent), read exactly
/// in the unit its magnitude says and truncated to milliseconds (towards the past, as
/// [`finish`] truncates text).
fn from_epoch(text: &str) -> Result<DateTime<Utc>, String> {
    let out_of_range = || format!("epoch time {text} is out of range");
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (
            mantissa,
            exponent
                .trim_start_matches('+')
                .parse::<i64>()
                .map_err(|_| out_of_range())?,
        ),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() || !(whole.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit()) {
        return Err(out_of_range());
    }
    // The value is `digits` × 10^`scale`; `nanos` is its absolute value × 10⁹, truncated, and
    // `inexact` says whether that dropped a non-zero digit.
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let scale = exponent.saturating_sub(fraction.len() as i64);
    let shift = scale.saturating_add(9);
    let (kept, dropped) = if digits.is_empty() {
        (String::new(), "")
    } else if shift >= 0 {
        if digits.len() as i64 + shift > 30 {
            return Err(out_of_range());
        }
        (format!("{digits}{}", "0".repeat(shift as usize)), "")
    } else {
        let keep = (digits.len() as i64 + shift).max(0) as usize;
        (digits[..keep].to_owned(), &digits[keep..])
    };
    let nanos: u128 = if kept.is_empty() {
        0
    } else {
        kept.parse().map_err(|_| out_of_range())?
    };
    let inexact = dropped.bytes().any(|b| b != b'0');
    let unit = EpochUnit::of(nanos / 1_000_000_000).ok_or_else(out_of_range)?;
    // `nanos` is in units of 10⁻⁹ of the unit: this many of them make a millisecond.
    let per_milli = 1_000_000_000_000_000 / unit.nanos();
    let mut millis = i64::try_from(nanos / per_milli).map_err(|_| out_of_range())?;
    if negative {
        millis = -millis;
        if inexact || !nanos.is_multiple_of(per_milli) {
            millis -= 1;
        }
    }
    DateTime::from_timestamp_millis(millis).ok_or_else(out_of_range)
}

/// A local time in `zone`; in a daylight-saving overlap, the instant `ambiguous` picks.
fn in_zone(local: NaiveDateTime, zone: Tz, ambiguous: Ambiguous) -> Result<DateTime<Utc>, String> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.to_utc()),
        LocalResult::Ambiguous(earlier, later) => match ambiguous {
            Ambiguous::Earlier => Ok(earlier.to_utc()),
            Ambiguous::Later => Ok(later.to_utc()),
            Ambiguous::Reject => Err(format!(
                "{local} happened twice in {zone} (the clocks went back): it is {} or {}; \
                 set the field's `ambiguous` to `earlier` or `later` to choose",
                to_rfc3339(earlier.to_utc()),
                to_rfc3339(later.to_utc())
            )),
        },
        LocalResult::None => Err(format!(
            "{local} does not exist in {zone}: the clocks skipped it (daylight saving)"
        )),
    }
}

/// The first instant of `day` in `zone`: midnight (its first reading, if it happened twice), or
/// the end of a daylight-saving gap that swallowed midnight (as in zones that changed their
/// clocks at 00:00).
fn start_of_day(day: NaiveDate, zone: Tz) -> Result<DateTime<Utc>, String> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    let mut local = midnight;
    while local - midnight < TimeDelta::hours(3) {
        if let Ok(t) = in_zone(local, zone, Ambiguous::Earlier) {
            return Ok(t);
        }
        local += TimeDelta::minutes(15);
    }
    in_zone(midnight, zone, Ambiguous::Earlier)
}
