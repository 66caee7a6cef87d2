//! One `process.fields` entry compiled: its JSONPath, its conversion, and how a value of the
//! record becomes the field's typed value. Compiling is where a field's JSONPath, timestamp
//! format and time zone are checked, for `validate` and the processor alike.

use chrono_tz::Tz;
use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

use super::number::{kind_of, to_integer, to_number};
use super::timestamp::{Ambiguous, FormatProblem, TimestampFormat, parse_unformatted, to_rfc3339};
use crate::config::model::{Field, FieldType};
use crate::config::{Located, jsonpath};
use crate::diag::Diagnostic;

/// Values shown in reasons and logs are cut to this many characters.
const SHOWN_CHARS: usize = 80;

/// A field ready to pick its value from records.
#[derive(Clone)]
pub(crate) struct CompiledField {
    /// The field's name.
    pub name: String,
    /// The JSONPath as written.
    pub path: String,
    /// Whether a record without it is poison.
    pub required: bool,
    query: Query,
    conversion: Conversion,
}

/// How the value is found: a plain chain of names and indexes is walked directly (the common
/// case, no allocation); anything else goes through jsonpath-rust.
#[derive(Clone)]
enum Query {
    Direct(Vec<Step>),
    General(JpQuery),
}

#[derive(Clone)]
enum Step {
    Name(String),
    Index(i64),
}

#[derive(Clone)]
enum Conversion {
    String,
    Number,
    Integer,
    Bool,
    Timestamp {
        format: Option<TimestampFormat>,
        zone: Tz,
        ambiguous: Ambiguous,
    },
}

/// Why a field has no value in a record.
pub(crate) enum Failure {
    /// The path matched nothing, or matched `null`.
    Missing,
    /// The value (as shown) could not be converted, for this reason.
    Invalid { shown: String, reason: String },
}

impl CompiledField {
    /// Compiles the field `name`; the error lists every problem of its path, format and time
    /// zone. A `format` or `timezone` is checked whatever the type (one is wrong on its own),
    /// though only a timestamp reads it.
    pub fn new(name: &str, field: &Located<Field>) -> Result<CompiledField, Vec<Diagnostic>> {
        let at = format!("process.fields.{name}");
        let query = jsonpath::compile(&field.path, &format!("{at}.path"));
        let format = field
            .format
            .as_ref()
            .map(|format| timestamp_format(format, &format!("{at}.format")))
            .transpose();
        let zone = match &field.timezone {
            Some(zone) => crate::time_zone::parse(zone, &format!("{at}.timezone")),
            None => Ok(Tz::UTC),
        };
        let (query, format, zone) = match (query, format, zone) {
            (Ok(query), Ok(format), Ok(zone)) => (query, format, zone),
            (query, format, zone) => {
                return Err([query.err(), format.err(), zone.err()]
                    .into_iter()
                    .flatten()
                    .collect());
            }
        };
        let conversion = match *field.kind {
            FieldType::String => Conversion::String,
            FieldType::Number => Conversion::Number,
            FieldType::Integer => Conversion::Integer,
            FieldType::Bool => Conversion::Bool,
            FieldType::Timestamp => Conversion::Timestamp {
                format,
                zone,
                ambiguous: field.ambiguous.as_deref().copied().unwrap_or_default(),
            },
        };
        Ok(CompiledField {
            name: name.to_owned(),
            path: field.path.value.clone(),
            required: field.required,
            query: Query::compile(query),
            conversion,
        })
    }

    /// The record member the path starts with, when it is a plain name (`$.a…`, `$['a']…`):
    /// then nothing else of the record can matter to this field.
    pub fn first_name(&self) -> Option<&str> {
        match &self.query {
            Query::Direct(steps) => match steps.first() {
                Some(Step::Name(name)) => Some(name),
                _ => None,
            },
            Query::General(_) => None,
        }
    }

    /// The field's typed value in `record`.
    pub fn pick(&self, record: &Value) -> Result<Value, Failure> {
        let value = match self.query.single(record) {
            Ok(Some(Value::Null) | None) => return Err(Failure::Missing),
            Ok(Some(value)) => value,
            Err(reason) => {
                return Err(Failure::Invalid {
                    shown: "(several values)".to_owned(),
                    reason,
                });
            }
        };
        self.convert(value).map_err(|reason| Failure::Invalid {
            shown: show(value),
            reason,
        })
    }

    fn convert(&self, value: &Value) -> Result<Value, String> {
        match &self.conversion {
            Conversion::String => match value {
                Value::String(_) => Ok(value.clone()),
                Value::Number(n) => Ok(Value::String(n.as_str().to_owned())),
                Value::Bool(b) => Ok(Value::String(b.to_string())),
                other => Err(format!("{} is not text", kind_of(other))),
            },
            Conversion::Number => to_number(value).map(Value::Number),
            Conversion::Integer => to_integer(value).map(Value::Number),
            Conversion::Bool => match value {
                Value::Bool(_) => Ok(value.clone()),
                Value::String(text) if text.trim().eq_ignore_ascii_case("true") => {
                    Ok(Value::Bool(true))
                }
                Value::String(text) if text.trim().eq_ignore_ascii_case("false") => {
                    Ok(Value::Bool(false))
                }
                Value::String(_) => Err("the text is neither `true` nor `false`".to_owned()),
                other => Err(format!("{} is not a boolean", kind_of(other))),
            },
            Conversion::Timestamp {
                format,
                zone,
                ambiguous,
            } => {
                let instant = match (format, value) {
                    (Some(format), Value::String(text)) => format.parse(text, *zone, *ambiguous)?,
                    (Some(format), other) => {
                        return Err(format!(
                            "{} cannot be read with the format `{}`",
                            kind_of(other),
                            format.as_str()
                        ));
                    }
                    (None, value) => parse_unformatted(value, *zone, *ambiguous)?,
                };
                Ok(Value::String(to_rfc3339(instant)))
            }
        }
    }
}

impl Query {
    fn compile(query: JpQuery) -> Query {
        let steps: Option<Vec<Step>> = query
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Selector(Selector::Name(name)) => Some(Step::Name(name.clone())),
                Segment::Selector(Selector::Index(index)) => Some(Step::Index(*index)),
                _ => None,
            })
            .collect();
        match steps {
            Some(steps) => Query::Direct(steps),
            None => Query::General(query),
        }
    }

    /// The one value the path selects (`None` when it selects nothing); selecting several is an
    /// error, since a field holds one value.
    fn single<'v>(&self, record: &'v Value) -> Result<Option<&'v Value>, String> {
        match self {
            Query::Direct(steps) => Ok(steps.iter().try_fold(record, |value, step| match step {
                Step::Name(name) => value.as_object()?.get(name),
                Step::Index(index) => {
                    let array = value.as_array()?;
                    let at = if *index >= 0 {
                        usize::try_from(*index).ok()?
                    } else {
                        array
                            .len()
                            .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
                    };
                    array.get(at)
                }
            })),
            Query::General(query) => {
                let found = js_path_process(query, record)
                    .map_err(|err| format!("the JSONPath cannot be applied: {err}"))?;
                match found.as_slice() {
                    [] => Ok(None),
                    [one] => Ok(Some(one.val)),
                    many => Err(format!(
                        "the path matches {} values; a field takes exactly one",
                        many.len()
                    )),
                }
            }
        }
    }
}

/// A strftime format that is valid and reads back a date (with or without a time), as
/// [`TimestampFormat::new`] decides.
fn timestamp_format(format: &Located<String>, path: &str) -> Result<TimestampFormat, Diagnostic> {
    let error = |message: String| Diagnostic::error(format.position, message).at(path);
    TimestampFormat::new(format).map_err(|problem| match problem {
        FormatProblem::Invalid => error(format!("invalid timestamp format `{}`", format.as_str()))
            .help("use strftime directives such as `%d-%b-%Y %H:%M:%S` or `%Y-%m-%d`"),
        FormatProblem::ParseOnly => error(format!(
            "timestamp format `{}` cannot be checked: it uses a parse-only directive",
            format.as_str()
        ))
        .help("use directives that also format, such as `%z` instead of `%#z`"),
        FormatProblem::NotAFullDate => error(format!(
            "timestamp format `{}` does not give a full date",
            format.as_str()
        ))
        .help("include the year, month and day (and the time if the text has one), such as `%d-%b-%Y %H:%M:%S`"),
    })
}

/// A value as JSON text, cut to [`SHOWN_CHARS`] characters.
pub(crate) fn show(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use jsonpath_rust::parser::parse_json_path;
    use jsonpath_rust::query::js_path_process;
    use serde_json::{Value, json};

    use super::{Query, show};

    /// The direct walk selects what jsonpath-rust selects.
    #[test]
    fn direct_paths_agree_with_jsonpath_rust() {
        let values = [
            json!({"a": {"b": [1, 2, {"c": "x"}]}, "05. price": "1.0", "": 3}),
            json!([[1, 2], [3]]),
            json!("text"),
            json!(null),
        ];
        let paths = [
            "$",
            "$.a",
            "$.a.b",
            "$.a.b[0]",
            "$.a.b[-1]",
            "$.a.b[-3]",
            "$.a.b[-4]",
            "$.a.b[3]",
            "$.a.b[2].c",
            "$['05. price']",
            "$['']",
            "$[0][1]",
            "$[-1][0]",
            "$.missing.deeper",
            "$[0].a",
        ];
        for value in &values {
            for path in paths {
                let parsed = parse_json_path(path).unwrap();
                let expected: Vec<&Value> = js_path_process(&parsed, value)
                    .unwrap()
                    .into_iter()
                    .map(|r| r.val)
                    .collect();
                let query = Query::compile(parsed);
                assert!(matches!(query, Query::Direct(_)), "{path} is not direct");
                let got = query.single(value).unwrap();
                assert_eq!(
                    got.into_iter().collect::<Vec<_>>(),
                    expected,
                    "{path} on {value}"
                );
            }
        }
    }

    #[test]
    fn shown_values_are_cut() {
        assert_eq!(show(&json!("abc")), "\"abc\"");
        let long = show(&json!("é".repeat(200)));
        assert_eq!(long.chars().count(), 81);
        assert!(long.ends_with('…'));
    }
}
