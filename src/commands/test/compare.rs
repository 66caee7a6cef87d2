//! A case's expectations against what it did: each part rendered as lines (one JSON line per
//! item, numbers in a canonical form so `1620.50` equals `1620.5`), compared, and shown as a
//! line diff when they differ (`-` expected, `+` actual). The e-mails are compared with the
//! case's snapshot file, which `--update` writes.

use std::path::Path;

use serde_json::{Map, Value};

use super::harness::Observed;
use super::spec::{Expect, Stored};
use crate::alert::AlertKind;

/// One expectation a case did not meet.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mismatch {
    /// What was compared: `stored`, `dead`, `alerts`, `rejected` or `e-mails`.
    pub what: String,
    /// The difference, line by line: `-` expected, `+` actual, ` ` both.
    pub diff: String,
}

/// What became of a case's snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Snapshot {
    /// It matched.
    Matched,
    /// It was written (`--update`), new or changed.
    Written,
    /// It differs or is missing (a mismatch says how).
    Differs,
}

/// Compares what a case did with what it expects.
pub fn expectations(expect: &Expect, observed: &Observed) -> Vec<Mismatch> {
    let mut found = Vec::new();
    if let Some(stored) = &expect.stored {
        let (filter, expected) = match stored {
            Stored::All(items) => (None, items),
            Stored::Some { filter, items } => (Some(filter), items),
        };
        let actual: Vec<Value> = observed
            .stored
            .iter()
            .map(|item| Value::Object(item.attributes.clone().into_iter().collect()))
            .filter(|item| filter.is_none_or(|filter| matches(item, filter)))
            .collect();
        let expected: Vec<Value> = expected.iter().cloned().map(Value::Object).collect();
        compare_sets("stored", &expected, &actual, &mut found);
    }
    if let Some(dead) = &expect.dead {
        let expected: Vec<Value> = dead.iter().map(to_value).collect();
        let actual: Vec<Value> = observed
            .dead
            .iter()
            .map(|(reason, record)| serde_json::json!({ "reason": reason, "record": record }))
            .collect();
        compare_sets("dead", &expected, &actual, &mut found);
    }
    if let Some(alerts) = &expect.alerts {
        let expected: Vec<String> = alerts.iter().map(|a| line(&to_value(a))).collect();
        let actual: Vec<String> = observed
            .alerts
            .iter()
            .map(|alert| {
                line(&serde_json::json!({
                    "rule": alert.rule,
                    "kind": match alert.kind {
                        AlertKind::Fired => "fired",
                        AlertKind::Resolved => "resolved",
                    },
                    "series": alert.series,
                    "sort": alert.sort,
                    "at": crate::process::timestamp::to_rfc3339(alert.at),
                }))
            })
            .collect();
        compare_lines("alerts", &expected, &actual, &mut found);
    }
    if let Some(rejected) = &expect.rejected {
        compare_lines("rejected", rejected, &observed.rejected, &mut found);
    }
    found
}

/// Compares the case's e-mails with its snapshot at `path`, writing it instead when `update`.
pub fn snapshot(path: &Path, observed: &Observed, update: bool) -> (Snapshot, Option<Mismatch>) {
    let actual = render_emails(observed);
    let expected = std::fs::read_to_string(path).ok();
    if expected.as_deref() == Some(actual.as_str()) {
        return (Snapshot::Matched, None);
    }
    if update {
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, &actual));
        return match written {
            Ok(()) => (Snapshot::Written, None),
            Err(e) => (
                Snapshot::Differs,
                Some(Mismatch {
                    what: "e-mails".to_owned(),
                    diff: format!("cannot write the snapshot {}: {e}", path.display()),
                }),
            ),
        };
    }
    let diff = match expected {
        None => format!(
            "no snapshot {} yet: run `stockrun test --update` to write it, then review it\n{}",
            path.display(),
            actual
                .lines()
                .map(|l| format!("+{l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        Some(expected) => {
            let expected: Vec<String> = expected.lines().map(str::to_owned).collect();
            let actual: Vec<String> = actual.lines().map(str::to_owned).collect();
            format!(
                "differs from {} (`stockrun test --update` accepts the new one)\n{}",
                path.display(),
                diff(&expected, &actual)
            )
        }
    };
    (
        Snapshot::Differs,
        Some(Mismatch {
            what: "e-mails".to_owned(),
            diff,
        }),
    )
}

/// The case's e-mails as the snapshot holds them: subject, recipients, text and HTML of each.
pub fn render_emails(observed: &Observed) -> String {
    if observed.emails.is_empty() {
        return "(no e-mails)\n".to_owned();
    }
    let count = observed.emails.len();
    let mut text = String::new();
    for (i, email) in observed.emails.iter().enumerate() {
        let to: Vec<String> = email.to.iter().map(ToString::to_string).collect();
        text.push_str(&format!(
            "=== e-mail {} of {count}\nFrom: {}\nTo: {}\nSubject: {}\n--- text\n{}",
            i + 1,
            email.from,
            to.join(", "),
            email.subject,
            with_newline(&email.text)
        ));
        if let Some(html) = &email.html {
            text.push_str(&format!("--- html\n{}", with_newline(html)));
        }
    }
    text
}

fn with_newline(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

/// Whether `item` has every value in `filter`.
fn matches(item: &Value, filter: &Map<String, Value>) -> bool {
    filter
        .iter()
        .all(|(name, value)| item.get(name).map(canonical) == Some(canonical(value)))
}

fn to_value(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Compares two lists in any order: both sorted by their lines.
fn compare_sets(what: &str, expected: &[Value], actual: &[Value], found: &mut Vec<Mismatch>) {
    let mut expected: Vec<String> = expected.iter().map(line).collect();
    let mut actual: Vec<String> = actual.iter().map(line).collect();
    expected.sort();
    actual.sort();
    compare_lines(what, &expected, &actual, found);
}

fn compare_lines(what: &str, expected: &[String], actual: &[String], found: &mut Vec<Mismatch>) {
    if expected != actual {
        found.push(Mismatch {
            what: what.to_owned(),
            diff: diff(expected, actual),
        });
    }
}

/// A value as one line of JSON, its numbers canonical.
fn line(value: &Value) -> String {
    canonical(value).to_string()
}

/// `value` with every number written one way: no `+`, no trailing zeros after the point (and
/// no point left bare), so numbers compare by value and not by how they were written. Numbers
/// with an exponent are left as they are.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Number(number) => {
            let text = number.to_string();
            if text.contains(['e', 'E']) || !text.contains('.') {
                return value.clone();
            }
            let trimmed = text.trim_end_matches('0').trim_end_matches('.');
            let trimmed = if trimmed == "-0" { "0" } else { trimmed };
            serde_json::from_str(trimmed).unwrap_or_else(|_| value.clone())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), canonical(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A line diff of `expected` and `actual` (longest common subsequence): `-` only expected, `+`
/// only actual, ` ` both.
pub fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    // common[i][j]: the longest common subsequence of expected[i..] and actual[j..].
    let mut common = vec![vec![0_usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            common[i][j] = if expected[i] == actual[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out: Vec<String> = Vec::new();
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            out.push(format!(" {}", expected[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || common[i + 1][j] >= common[i][j + 1]) {
            out.push(format!("-{}", expected[i]));
            i += 1;
        } else {
            out.push(format!("+{}", actual[j]));
            j += 1;
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_diff_marks_what_only_one_side_has() {
        assert_eq!(diff(&lines("a\nb\nc"), &lines("a\nx\nc")), " a\n-b\n+x\n c");
        assert_eq!(diff(&lines(""), &lines("a")), "+a");
    }

    #[test]
    fn numbers_compare_by_value_not_by_how_they_are_written() {
        let written: Value = serde_json::from_str(r#"{"p": 1620.50, "q": 2.0, "r": 7}"#).unwrap();
        assert_eq!(line(&written), r#"{"p":1620.5,"q":2,"r":7}"#);
    }
}
