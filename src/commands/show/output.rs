//! How `show` writes rows: an aligned table for people (every cell on one line, control
//! characters escaped by [`visible::one_line`], as values come from the API and must not drive
//! the terminal), or data for programs: one JSON array, one JSON object per line, or CSV (RFC
//! 4180, by the `csv` crate). Data formats carry the values as stored: numbers with their exact
//! digits, strings unescaped (JSON escapes control characters itself; CSV quotes them).

use std::io::Write;

use comfy_table::{Table, presets};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::visible;

/// `show --format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// An aligned table and a line saying how many rows there are.
    #[default]
    Table,
    /// One JSON array of objects, one per row, keys in column order.
    Json,
    /// One JSON object per line (newline-delimited JSON).
    Ndjson,
    /// CSV with a header row; a missing value is an empty field.
    Csv,
}

/// What `show` prints: named columns and rows of values (`Value::Null` when a row has none).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    /// The column names, in order.
    pub columns: Vec<String>,
    /// One value per column, per row.
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    /// Writes the rows to `out` in `format`.
    pub fn write(&self, format: Format, out: &mut impl Write) -> anyhow::Result<()> {
        match format {
            Format::Table => writeln!(out, "{}", self.table().trim_fmt())?,
            Format::Json => {
                let objects: Vec<Object<'_>> = self.objects().collect();
                // As an io::Error: serde_json's error does not give a closed pipe as its source.
                serde_json::to_writer_pretty(&mut *out, &objects).map_err(std::io::Error::from)?;
                writeln!(out)?;
            }
            Format::Ndjson => {
                for object in self.objects() {
                    serde_json::to_writer(&mut *out, &object).map_err(std::io::Error::from)?;
                    writeln!(out)?;
                }
            }
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(&mut *out);
                writer.write_record(&self.columns).map_err(io_of)?;
                for row in &self.rows {
                    writer
                        .write_record(row.iter().map(csv_field))
                        .map_err(io_of)?;
                }
                writer.flush()?;
            }
        }
        Ok(())
    }

    fn table(&self) -> Table {
        let mut table = Table::new();
        table
            .load_style(presets::NOTHING)
            .set_header(self.columns.iter().map(|name| cell(name)));
        for row in &self.rows {
            table.add_row(row.iter().map(|value| match value {
                Value::String(text) => cell(text),
                Value::Null => String::new(),
                // JSON text: serde_json already escapes control characters in strings.
                other => cell(&other.to_string()),
            }));
        }
        table
    }

    fn objects(&self) -> impl Iterator<Item = Object<'_>> {
        self.rows.iter().map(|values| Object {
            columns: &self.columns,
            values,
        })
    }
}

/// One row as a JSON object whose keys keep the column order.
struct Object<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.columns.len()))?;
        for (name, value) in self.columns.iter().zip(self.values) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A value as a CSV field: a string as it is, a number with its exact digits, null as empty.
fn csv_field(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A CSV error as what it is underneath: writing failed (so a closed pipe is seen as one, which
/// `csv::Error` does not give as its source), or a record the writer refused.
fn io_of(error: csv::Error) -> std::io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => error,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// A value as a table cell: on one line, control characters escaped.
fn cell(text: &str) -> String {
    visible::one_line(text).into_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows() -> Rows {
        Rows {
            columns: vec!["symbol".into(), "price".into(), "note".into()],
            rows: vec![
                vec![json!("TCS"), json!(4173.85), Value::Null],
                vec![json!("A,\"B\""), json!(1), json!("two\nlines")],
            ],
        }
    }

    fn written(format: Format) -> String {
        let mut out = Vec::new();
        rows().write(format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ndjson_is_one_object_per_line_in_column_order() {
        assert_eq!(
            written(Format::Ndjson),
            "{\"symbol\":\"TCS\",\"price\":4173.85,\"note\":null}\n\
             {\"symbol\":\"A,\\\"B\\\"\",\"price\":1,\"note\":\"two\\nlines\"}\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_leaves_null_empty() {
        assert_eq!(
            written(Format::Csv),
            "symbol,price,note\nTCS,4173.85,\n\"A,\"\"B\"\"\",1,\"two\nlines\"\n"
        );
    }

    #[test]
    fn json_is_one_array() {
        let parsed: Value = serde_json::from_str(&written(Format::Json)).unwrap();
        assert_eq!(parsed[0]["symbol"], "TCS");
        assert_eq!(parsed.as_array().unwrap().len(), 2);
    }

    #[test]
    fn the_table_escapes_control_characters() {
        let table = written(Format::Table);
        assert!(!table.contains("two\nlines"), "{table}");
        assert_eq!(table.lines().count(), 3);
    }
}
