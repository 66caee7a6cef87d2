//! The page `stockrun serve` shows: what a pipeline holds and how it is doing, as plain data
//! ([`Page`]) and as server-rendered HTML ([`html`]); `feeds` shapes the feeds' last polls.
//! Gathering the data from the stages is the command's job (`commands::serve`); this module only
//! shapes and renders it, so it needs no store, queue or runtime.

pub mod feeds;
pub mod html;

use serde::Serialize;
use serde_json::Value;

use crate::store::Item;

pub use feeds::FeedRow;

/// Everything on the page, ready to render.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Page {
    /// The pipeline's name.
    pub pipeline: String,
    /// Where its stages are, in words (`local state in …`, `AWS`).
    pub backend: String,
    /// When the page was made (RFC 3339, UTC).
    pub generated_at: String,
    /// The column names of [`SeriesRow::cells`]: the pipeline's fields and the insert time.
    pub columns: Vec<String>,
    /// One row per series, in key order.
    pub series: Vec<SeriesRow>,
    /// More series exist than the page lists.
    pub series_truncated: bool,
    /// Alerts raised recently, the newest first.
    pub alerts: Vec<AlertRow>,
    /// The window `alerts` covers, in words (`7 days`).
    pub alerts_window: String,
    /// Dead letters, the newest first.
    pub dead: Vec<DeadRow>,
    /// How many dead letters there are in all.
    pub dead_total: u64,
    /// Messages waiting, in flight and dead, when the queue could be read.
    pub queue: Option<QueueRow>,
    /// Each feed's last poll, by label (empty before the first poll); only feeds the pipeline
    /// still has.
    pub feeds: Vec<FeedRow>,
    /// Feeds with a recorded poll that the pipeline no longer has: counted, not listed.
    pub feeds_removed: usize,
    /// Why a section could not be read (`store: …`), each shown at the top of the page.
    pub problems: Vec<String>,
}

/// The latest record of one series and how it changed since the one before.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesRow {
    /// The partition key value.
    pub key: String,
    /// The latest record's sort key, when the table has one.
    pub sort: Option<String>,
    /// One cell per [`Page::columns`].
    pub cells: Vec<Cell>,
    /// The path of the series' chart image (empty when the pipeline has nothing to draw).
    pub chart: String,
}

/// One value of a series row.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cell {
    /// The latest value, as text (empty when the record has none).
    pub value: String,
    /// For a number that changed since the previous record: `+1.25 (+0.08 %)`.
    pub change: Option<String>,
    /// `up`, `down` or empty: how the number moved (for colour).
    pub direction: &'static str,
}

/// One alert raised.
#[derive(Clone, Debug, Serialize)]
pub struct AlertRow {
    /// When (the record's time, RFC 3339).
    pub at: String,
    /// The rule's name.
    pub rule: String,
    /// `fired` or `resolved`.
    pub kind: &'static str,
    /// The series.
    pub series: String,
    /// The rendered subject.
    pub subject: String,
}

/// One dead letter, with why it is there.
#[derive(Clone, Debug, Serialize)]
pub struct DeadRow {
    /// The message id.
    pub id: String,
    /// How many times it was delivered.
    pub receives: u32,
    /// Why it could not be processed (secrets redacted).
    pub reason: String,
    /// The start of its body (secrets redacted).
    pub body: String,
}

/// The queue's counts.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct QueueRow {
    /// Waiting to be received.
    pub visible: u64,
    /// Received and not yet deleted.
    pub in_flight: u64,
    /// In the dead-letter queue.
    pub dead: u64,
}

/// The row of one series from its newest items (newest first): the latest values of `columns`
/// and, for numbers, the change since the item before.
pub fn series_row(key: &str, newest: &[Item], columns: &[String], chart: String) -> SeriesRow {
    let latest = newest.first();
    let previous = newest.get(1);
    let cells = columns
        .iter()
        .map(|column| {
            let value = latest.and_then(|item| item.attributes.get(column));
            let before = previous.and_then(|item| item.attributes.get(column));
            cell(value, before)
        })
        .collect();
    SeriesRow {
        key: key.to_owned(),
        sort: latest.and_then(|item| item.sort.clone()),
        cells,
        chart,
    }
}

/// A cell: the value, and its change from `before` when both are numbers and differ.
fn cell(value: Option<&Value>, before: Option<&Value>) -> Cell {
    let text = match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let numbers = value
        .and_then(Value::as_f64)
        .zip(before.and_then(Value::as_f64));
    let Some((now, then)) = numbers.filter(|(now, then)| now != then) else {
        return Cell {
            value: text,
            ..Cell::default()
        };
    };
    let difference = now - then;
    let percent = (then != 0.0).then(|| difference / then.abs() * 100.0);
    let change = match percent {
        Some(percent) => format!("{} ({percent:+.2} %)", signed(difference)),
        None => signed(difference),
    };
    Cell {
        value: text,
        change: Some(change),
        direction: if difference > 0.0 { "up" } else { "down" },
    }
}

/// `difference` with its sign and at most four decimals, trailing zeros dropped.
fn signed(difference: f64) -> String {
    let text = format!("{difference:+.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;
    use serde_json::json;

    fn item(sort: &str, price: Value) -> Item {
        Item {
            partition: "INFY".to_owned(),
            sort: Some(sort.to_owned()),
            attributes: IndexMap::from([
                ("symbol".to_owned(), json!("INFY")),
                ("price".to_owned(), price),
            ]),
        }
    }

    #[test]
    fn a_row_shows_the_latest_values_and_how_numbers_moved() {
        let columns = vec!["symbol".to_owned(), "price".to_owned()];
        let newest = [item("b", json!(1667.5)), item("a", json!(1640))];
        let row = series_row("INFY", &newest, &columns, "/chart/INFY.png".to_owned());
        assert_eq!(row.sort.as_deref(), Some("b"));
        assert_eq!(row.cells[0].value, "INFY");
        assert_eq!(row.cells[0].change, None);
        assert_eq!(row.cells[1].value, "1667.5");
        assert_eq!(row.cells[1].change.as_deref(), Some("+27.5 (+1.68 %)"));
        assert_eq!(row.cells[1].direction, "up");
    }

    #[test]
    fn a_fall_an_unchanged_value_and_a_single_record() {
        let columns = vec!["price".to_owned()];
        let fall = series_row(
            "X",
            &[item("b", json!(9)), item("a", json!(10))],
            &columns,
            String::new(),
        );
        assert_eq!(fall.cells[0].change.as_deref(), Some("-1 (-10.00 %)"));
        assert_eq!(fall.cells[0].direction, "down");
        let same = series_row(
            "X",
            &[item("b", json!(9)), item("a", json!(9))],
            &columns,
            String::new(),
        );
        assert_eq!(same.cells[0].change, None);
        let one = series_row("X", &[item("a", json!(9))], &columns, String::new());
        assert_eq!(
            (one.cells[0].value.as_str(), one.cells[0].change.as_ref()),
            ("9", None)
        );
        let from_zero = series_row(
            "X",
            &[item("b", json!(2)), item("a", json!(0))],
            &columns,
            String::new(),
        );
        assert_eq!(from_zero.cells[0].change.as_deref(), Some("+2"));
    }
}
