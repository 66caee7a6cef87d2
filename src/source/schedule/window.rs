//! One window of `source.active` (days of the week and a time of day in an IANA zone), checked
//! and compiled: whether an instant is inside it, and what `deploy::cron` may fold into the
//! EventBridge expression (the days and the hours it touches).

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use crate::config::Located;
use crate::config::model::ActiveWindow;
use crate::diag::Diagnostic;

/// Minutes in a day: the largest end of a time range (`24:00`).
const DAY_MINUTES: u32 = 24 * 60;

/// Day names, Monday first (the index is `Weekday::num_days_from_monday`).
const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A compiled `source.active` window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    /// Which days it is open, Monday first.
    days: [bool; 7],
    /// Minutes after midnight it opens (included).
    start: u32,
    /// Minutes after midnight it closes (excluded), at most [`DAY_MINUTES`].
    end: u32,
    /// The zone `days`, `start` and `end` are read in.
    zone: Tz,
}

impl Window {
    /// Checks the window at index `index` of `source.active`; `default_zone` is
    /// `source.timezone` (or UTC). The error lists every problem of the window.
    pub(super) fn new(
        window: &ActiveWindow,
        index: usize,
        default_zone: Tz,
    ) -> Result<Window, Vec<Diagnostic>> {
        let path = |key: &str| format!("source.active[{index}].{key}");
        let days = window
            .days
            .as_ref()
            .map_or(Ok([true; 7]), |days| parse_days(days, &path("days")));
        let hours = window.hours.as_ref().map_or(Ok((0, DAY_MINUTES)), |hours| {
            parse_hours(hours, &path("hours"))
        });
        let zone = window.timezone.as_ref().map_or(Ok(default_zone), |zone| {
            crate::time_zone::parse(zone, &path("timezone"))
        });
        match (days, hours, zone) {
            (Ok(days), Ok((start, end)), Ok(zone)) => Ok(Window {
                days,
                start,
                end,
                zone,
            }),
            (days, hours, zone) => Err([days.err(), hours.err(), zone.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }

    /// Whether `at` falls inside the window, read on the wall clock of its zone.
    pub(crate) fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone);
        let minute = local.hour() * 60 + local.minute();
        self.days[local.weekday().num_days_from_monday() as usize]
            && (self.start..self.end).contains(&minute)
    }

    /// The zone the window is read in.
    pub(crate) fn zone(&self) -> Tz {
        self.zone
    }

    /// Whether the window is open on `day`.
    pub(crate) fn open_on(&self, day: Weekday) -> bool {
        self.days[day.num_days_from_monday() as usize]
    }

    /// The minutes after midnight it is open: start included, end excluded.
    pub(super) fn minutes(&self) -> std::ops::Range<u32> {
        self.start..self.end
    }

    /// Whether the window is open for some minute of hour `hour` (0-23).
    pub(crate) fn touches_hour(&self, hour: u32) -> bool {
        self.start < (hour + 1) * 60 && hour * 60 < self.end
    }
}

/// `mon-fri`, `mon,wed,fri`, `sat-sun`, `fri-mon` (a range may wrap over the week's end); names
/// in any case, three letters or whole.
fn parse_days(days: &Located<String>, path: &str) -> Result<[bool; 7], Diagnostic> {
    let mut open = [false; 7];
    let mut column = 0;
    for item in days.split(',') {
        let (first, last) = item.split_once('-').unwrap_or((item, item));
        let day = |name: &str, offset: usize| {
            day_index(name).ok_or_else(|| {
                Diagnostic::error(
                    days.position,
                    format!("`{}` is not a day of the week", name.trim()),
                )
                .within(days, 0, offset + leading_spaces(name))
                .at(path)
                .help("write day names, a range or a list: `mon-fri`, `sat,sun`, `mon-wed,fri`")
            })
        };
        let start = day(first, column)?;
        let end = day(last, column + first.chars().count() + 1)?;
        let mut index = start;
        loop {
            open[index] = true;
            if index == end {
                break;
            }
            index = (index + 1) % 7;
        }
        column += item.chars().count() + 1;
    }
    Ok(open)
}

/// The index (Monday = 0) of a day name such as `mon` or `Monday`.
fn day_index(name: &str) -> Option<usize> {
    let name = name.trim().to_ascii_lowercase();
    if name.len() < 3 {
        return None;
    }
    DAYS.iter()
        .position(|day| day.starts_with(&name) && (name.len() == 3 || name.len() == day.len()))
}

/// How many spaces `text` starts with (a caret points past them).
fn leading_spaces(text: &str) -> usize {
    text.chars().take_while(|c| c.is_whitespace()).count()
}

/// `HH:MM-HH:MM` → (start, end) in minutes after midnight; the end is after the start.
fn parse_hours(hours: &Located<String>, path: &str) -> Result<(u32, u32), Diagnostic> {
    let error = |message: String, column: usize| {
        Diagnostic::error(hours.position, message)
            .within(hours, 0, column)
            .at(path)
            .help("write `HH:MM-HH:MM` in 24-hour time, start included and end excluded, such as `\"09:15-15:30\"`; the end may be `24:00`")
    };
    let Some((first, last)) = hours.split_once('-') else {
        return Err(error(
            format!("`{}` is not a time range", hours.as_str()),
            0,
        ));
    };
    let after_dash = first.chars().count() + 1;
    let start = time_of_day(first)
        .filter(|m| *m < DAY_MINUTES)
        .ok_or_else(|| {
            error(
                format!("`{}` is not a time of day", first.trim()),
                leading_spaces(first),
            )
        })?;
    let end = time_of_day(last).ok_or_else(|| {
        error(
            format!("`{}` is not a time of day", last.trim()),
            after_dash + leading_spaces(last),
        )
    })?;
    if end <= start {
        return Err(error(
            format!(
                "the range `{}` ends before it starts: a window cannot cross midnight",
                hours.as_str()
            ),
            after_dash + leading_spaces(last),
        )
        .help(format!(
            "write two windows: `\"{}-24:00\"`, and `\"00:00-{}\"` on the days after",
            first.trim(),
            last.trim()
        )));
    }
    Ok((start, end))
}

/// `HH:MM` (00:00 to 24:00) in minutes after midnight.
fn time_of_day(text: &str) -> Option<u32> {
    let (hour, minute) = text.trim().split_once(':')?;
    let digits = |part: &str| part.len() == 2 && part.chars().all(|c| c.is_ascii_digit());
    if !digits(hour) || !digits(minute) {
        return None;
    }
    let (hour, minute): (u32, u32) = (hour.parse().ok()?, minute.parse().ok()?);
    let total = hour * 60 + minute;
    (minute < 60 && total <= DAY_MINUTES).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(
        days: Option<&str>,
        hours: Option<&str>,
        zone: Option<&str>,
    ) -> Result<Window, Vec<Diagnostic>> {
        let text = |s: Option<&str>| s.map(|s| Located::unlocated(s.to_owned()));
        let written = ActiveWindow {
            days: text(days),
            hours: text(hours),
            timezone: text(zone),
        };
        Window::new(&written, 0, Tz::UTC)
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn nse_hours_are_read_in_kolkata() {
        let nse = window(Some("mon-fri"), Some("09:15-15:30"), Some("Asia/Kolkata")).unwrap();
        // Kolkata is UTC+05:30: 09:15 IST = 03:45Z, 15:30 IST = 10:00Z.
        assert!(
            !nse.contains(at("2025-03-17T03:44:00Z")),
            "Monday 09:14 IST"
        );
        assert!(nse.contains(at("2025-03-17T03:45:00Z")), "Monday 09:15 IST");
        assert!(
            nse.contains(at("2025-03-17T09:59:59Z")),
            "Monday 15:29:59 IST"
        );
        assert!(
            !nse.contains(at("2025-03-17T10:00:00Z")),
            "Monday 15:30 IST: the end is excluded"
        );
        assert!(!nse.contains(at("2025-03-15T05:00:00Z")), "Saturday");
        // Sunday 22:00Z is already Monday 03:30 IST: the day is Kolkata's.
        assert!(!nse.contains(at("2025-03-16T22:00:00Z")));
        assert!(nse.contains(at("2025-03-17T04:00:00Z")));
    }

    #[test]
    fn new_york_hours_follow_daylight_saving_time() {
        let nyse = window(
            Some("Mon-Fri"),
            Some("09:30-16:00"),
            Some("America/New_York"),
        )
        .unwrap();
        // Friday 2025-03-07 (EST, UTC-5) and Monday 2025-03-10 (EDT, UTC-4).
        assert!(nyse.contains(at("2025-03-07T14:30:00Z")));
        assert!(!nyse.contains(at("2025-03-07T13:30:00Z")));
        assert!(nyse.contains(at("2025-03-10T13:30:00Z")));
        assert!(!nyse.contains(at("2025-03-10T20:00:00Z")));
    }

    #[test]
    fn days_take_ranges_lists_names_and_wrap() {
        let open = |days: &str| {
            let w = window(Some(days), None, None).unwrap();
            (0..7).filter(|&i| w.days[i]).collect::<Vec<_>>()
        };
        assert_eq!(open("mon-fri"), [0, 1, 2, 3, 4]);
        assert_eq!(open("sat,SUN"), [5, 6]);
        assert_eq!(open("monday-wed, fri"), [0, 1, 2, 4]);
        assert_eq!(open("fri-mon"), [0, 4, 5, 6]);
        assert!(window(None, None, None).unwrap().days.iter().all(|d| *d));
    }

    #[test]
    fn bad_values_point_inside_the_value() {
        let problem = |days: Option<&str>, hours: Option<&str>| {
            let error = window(days, hours, None).unwrap_err().remove(0);
            (error.message, error.inside.map(|i| i.column), error.path)
        };
        let (message, column, path) = problem(Some("mon-fry"), None);
        assert_eq!(message, "`fry` is not a day of the week");
        assert_eq!((column, path.as_str()), (Some(4), "source.active[0].days"));
        assert_eq!(problem(Some("mon,1"), None).1, Some(4));
        let (message, column, _) = problem(None, Some("09:15-25:00"));
        assert_eq!(
            (message.as_str(), column),
            ("`25:00` is not a time of day", Some(6))
        );
        let (message, _, _) = problem(None, Some("22:00-02:00"));
        assert!(message.contains("cannot cross midnight"), "{message}");
        let (message, column, _) = problem(None, Some("9:15"));
        assert_eq!(
            (message.as_str(), column),
            ("`9:15` is not a time range", Some(0))
        );
        let zone = window(None, None, Some("Asia/Kolkatta"))
            .unwrap_err()
            .remove(0);
        assert_eq!(zone.help.as_deref(), Some("did you mean `Asia/Kolkata`?"));
        assert_eq!(
            window(Some("x"), Some("1"), Some("y")).unwrap_err().len(),
            3
        );
    }

    #[test]
    fn whole_day_and_hours_touched() {
        let all = window(None, Some("00:00-24:00"), None).unwrap();
        assert!(all.contains(at("2025-03-17T23:59:59Z")));
        let nse = window(None, Some("09:15-15:30"), None).unwrap();
        let touched: Vec<u32> = (0..24).filter(|h| nse.touches_hour(*h)).collect();
        assert_eq!(touched, [9, 10, 11, 12, 13, 14, 15]);
    }
}
