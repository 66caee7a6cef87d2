//! `source.schedule` (the `cron` crate's dialect: a seconds field first, an optional year last)
//! translated to an EventBridge `cron(min hour day-of-month month day-of-week year)` expression.
//!
//! The two dialects number weekdays the same way: the `cron` crate maps `sun` → 1 … `sat` → 7
//! (its `DAY_OF_WEEK_MAP`, allowed range 1..=7, and it matches days with chrono's
//! `Weekday::number_from_sunday`), and EventBridge counts 1-7 = SUN-SAT. Numbers therefore pass
//! through unchanged (a unit test checks the crate's side); names are written as EventBridge's
//! three-letter upper-case names (`Mon` → `MON`, `Thursday` → `THU`, `January` → `JAN`).
//!
//! What EventBridge cannot express is an error, never a different schedule: more than one firing
//! a minute (the seconds field must hold one value; EventBridge has no seconds and fires once in
//! the minute), and a day-of-month *and* a day-of-week restriction (the crate fires on days that
//! match both; EventBridge needs one of them to be `?`).
//!
//! The expression arrives parsed ([`Schedule`], built once when the pipeline is compiled): every
//! rule about what a valid expression is lives in `source::schedule`, none here.
//!
//! `source.active` is folded in where a cron can say it ([`fold_active`]): when every window is
//! in the schedule's zone, the hour field keeps only the hours a window touches and (when the
//! day of the month is free) the day-of-week field only the days a window is open. The result
//! fires at every active minute and, unless the windows are whole hours on the same days, at a
//! few more (NSE's 09:15–15:30 keeps 09:00–09:14 and 15:30–15:59): the function's own check
//! (`Handler::poll`) drops those invocations without a request. Windows in another zone are not
//! folded at all; the function's check does all the work.

use chrono::Weekday;

use crate::source::Schedule;

/// Why a schedule has no EventBridge equivalent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// More than one firing a minute.
    #[error(
        "the schedule `{expression}` fires more than once a minute (seconds field `{seconds}`); EventBridge schedules fire at most once a minute"
    )]
    SubMinute {
        /// The schedule as written.
        expression: String,
        /// Its seconds field.
        seconds: String,
    },
    /// Both day fields restricted.
    #[error(
        "the schedule `{expression}` restricts both the day of the month (`{day_of_month}`) and the day of the week (`{day_of_week}`); EventBridge cron allows only one of them (the other must be `?`)"
    )]
    BothDays {
        /// The schedule as written.
        expression: String,
        /// Its day-of-month field.
        day_of_month: String,
        /// Its day-of-week field.
        day_of_week: String,
    },
    /// A form the translation does not know (fields split other than by whitespace).
    #[error("the schedule `{expression}` cannot be translated to EventBridge cron: {reason}")]
    Unsupported {
        /// The schedule as written.
        expression: String,
        /// What is not supported.
        reason: String,
    },
}

impl CronError {
    /// What to write instead.
    pub fn help(&self) -> String {
        match self {
            CronError::Unsupported { .. } => {
                "write `sec min hour day-of-month month day-of-week [year]`, such as `0 */5 * * * *`"
                    .to_owned()
            }
            CronError::SubMinute { expression, .. } => {
                let rest: Vec<&str> = expression.split_whitespace().skip(1).collect();
                format!(
                    "write one second, such as `0 {}` (once a minute at most), or poll from a host with `stockrun poll` instead of the Lambda schedule",
                    rest.join(" ")
                )
            }
            CronError::BothDays { .. } => {
                "keep one of them: write `*` as the day of the month or as the day of the week"
                    .to_owned()
            }
        }
    }
}

/// One field of the expression: its bounds and the names it accepts.
struct Unit {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

impl Unit {
    /// A field written only as numbers from `min` to `max`.
    const fn numbers(min: u32, max: u32) -> Unit {
        Unit {
            min,
            max,
            names: &[],
        }
    }

    /// A field that also takes names: `names[0]` is 1, and the last name is the largest value.
    #[expect(clippy::cast_possible_truncation, reason = "twelve names at most")]
    const fn named(names: &'static [&'static str]) -> Unit {
        Unit {
            min: 1,
            max: names.len() as u32,
            names,
        }
    }
}

const MINUTES: Unit = Unit::numbers(0, 59);
const HOURS: Unit = Unit::numbers(0, 23);
const DAYS_OF_MONTH: Unit = Unit::numbers(1, 31);
const MONTHS: Unit = Unit::named(&[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
]);
const DAYS_OF_WEEK: Unit = Unit::named(&["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]);
const YEARS: Unit = Unit::numbers(1970, 2100);

/// Translates `schedule` to the six EventBridge fields (without the `cron(...)` around them).
pub fn to_eventbridge(schedule: &Schedule) -> Result<String, CronError> {
    let expression = schedule.expression();
    let longhand = match expression.trim() {
        "@yearly" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * SUN",
        "@daily" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        other => other,
    };
    let fields: Vec<&str> = longhand.split_whitespace().collect();
    let unsupported = |reason: &str| CronError::Unsupported {
        expression: expression.to_owned(),
        reason: reason.to_owned(),
    };
    let text = |index: usize| {
        fields
            .get(index)
            .copied()
            .ok_or_else(|| unsupported("fields not separated by spaces"))
    };
    if schedule.seconds_per_minute() != 1 {
        return Err(CronError::SubMinute {
            expression: expression.to_owned(),
            seconds: text(0)?.to_owned(),
        });
    }
    let field = |index: usize, unit: &Unit| {
        let written = text(index)?;
        translate_field(written, unit).ok_or_else(|| unsupported(&format!("field `{written}`")))
    };
    let (day_of_month, day_of_week) = match (
        schedule.restricts_day_of_month(),
        schedule.restricts_day_of_week(),
    ) {
        (false, false) => ("*".to_owned(), "?".to_owned()),
        (false, true) => ("?".to_owned(), field(5, &DAYS_OF_WEEK)?),
        (true, false) => (field(3, &DAYS_OF_MONTH)?, "?".to_owned()),
        (true, true) => {
            return Err(CronError::BothDays {
                expression: expression.to_owned(),
                day_of_month: text(3)?.to_owned(),
                day_of_week: text(5)?.to_owned(),
            });
        }
    };
    let year = match fields.get(6) {
        Some(_) => field(6, &YEARS)?,
        None => "*".to_owned(),
    };
    Ok(format!(
        "{} {} {day_of_month} {} {day_of_week} {year}",
        field(1, &MINUTES)?,
        field(2, &HOURS)?,
        field(4, &MONTHS)?,
    ))
}

/// `fields` (six EventBridge fields, from [`to_eventbridge`]) with the whole hours and days of
/// `schedule`'s active windows folded in (see the module doc); unchanged when it has no windows,
/// when a window is in another zone, or when the schedule fires in none of them (`validate`
/// warns about that).
pub fn fold_active(schedule: &Schedule, fields: &str) -> String {
    let windows = schedule.windows();
    if windows.is_empty() || windows.iter().any(|w| w.zone() != schedule.zone()) {
        return fields.to_owned();
    }
    let mut parts: Vec<String> = fields.split(' ').map(str::to_owned).collect();
    if parts.len() != 6 {
        return fields.to_owned();
    }
    let hours: Vec<u32> = (0..24)
        .filter(|h| schedule.fires_in_hour(*h) && windows.iter().any(|w| w.touches_hour(*h)))
        .collect();
    // Sunday first: EventBridge's 1-7 = SUN-SAT.
    let week = [
        Weekday::Sun,
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
    ];
    let days: Vec<u32> = (1..=7)
        .filter(|n| {
            let day = week[*n as usize - 1];
            schedule.fires_on(day) && windows.iter().any(|w| w.open_on(day))
        })
        .collect();
    if hours.is_empty() || days.is_empty() {
        return fields.to_owned();
    }
    if hours.len() < 24 {
        parts[1] = ranges(&hours, |n| n.to_string());
    }
    if !schedule.restricts_day_of_month() && days.len() < 7 {
        parts[2] = "?".to_owned();
        parts[4] = ranges(&days, |n| DAYS_OF_WEEK.names[n as usize - 1].to_owned());
    }
    parts.join(" ")
}

/// Sorted values as a cron list of ranges: `[9, 10, 11, 14]` → `9-11,14`.
fn ranges(values: &[u32], spell: impl Fn(u32) -> String) -> String {
    let mut items: Vec<String> = Vec::new();
    let mut start = 0;
    while start < values.len() {
        let mut end = start;
        while end + 1 < values.len() && values[end + 1] == values[end] + 1 {
            end += 1;
        }
        items.push(if end == start {
            spell(values[start])
        } else {
            format!("{}-{}", spell(values[start]), spell(values[end]))
        });
        start = end + 1;
    }
    items.join(",")
}

/// One field, item by item (`,`). `None` for a form the `cron` crate would not have accepted.
fn translate_field(text: &str, unit: &Unit) -> Option<String> {
    let items = text
        .split(',')
        .map(|item| translate_item(item, unit))
        .collect::<Option<Vec<String>>>()?;
    if items.iter().any(|item| item == "*") {
        return Some("*".to_owned());
    }
    Some(items.join(","))
}

/// `*`, `?`, `N`, `NAME`, `A-B`, each optionally followed by `/STEP`.
fn translate_item(item: &str, unit: &Unit) -> Option<String> {
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(step.parse::<u32>().ok()?)),
        None => (item, None),
    };
    let range = match base {
        "*" | "?" => None,
        _ => Some(match base.split_once('-') {
            Some((start, end)) => (ordinal(start, unit)?, Some(ordinal(end, unit)?)),
            None => (ordinal(base, unit)?, None),
        }),
    };
    Some(match (range, step) {
        (None, None) => "*".to_owned(),
        // `*/N` counts from the field's first value, as EventBridge's `FIRST/N` does.
        (None, Some(step)) => format!("{}/{step}", unit.min),
        (Some((start, None)), None) => spell(base, start, unit),
        (Some((start, Some(end))), None) => {
            let (first, last) = base.split_once('-')?;
            format!("{}-{}", spell(first, start, unit), spell(last, end, unit))
        }
        (Some((start, None)), Some(step)) => format!("{start}/{step}"),
        // EventBridge documents no `A-B/N`: the values, listed.
        (Some((start, Some(end))), Some(step)) => (start..=end)
            .step_by(usize::try_from(step).ok()?)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(","),
    })
}

/// The value of a number or (month, weekday) name, within the unit's bounds.
fn ordinal(text: &str, unit: &Unit) -> Option<u32> {
    let value = match text.parse::<u32>() {
        Ok(number) => number,
        Err(_) => {
            let prefix = text.get(..3)?.to_ascii_uppercase();
            let index = unit.names.iter().position(|name| *name == prefix)?;
            unit.min + u32::try_from(index).ok()?
        }
    };
    (unit.min..=unit.max).contains(&value).then_some(value)
}

/// A value as EventBridge reads it: numbers as written, names as the three-letter upper-case
/// name of the same value.
fn spell(text: &str, value: u32, unit: &Unit) -> String {
    if text.parse::<u32>().is_ok() {
        return value.to_string();
    }
    usize::try_from(value - unit.min)
        .ok()
        .and_then(|index| unit.names.get(index))
        .map_or_else(|| value.to_string(), |name| (*name).to_owned())
}

#[cfg(test)]
mod tests;
