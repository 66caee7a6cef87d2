//! One `process.fields` entry compiled: where its value comes from (a JSONPath in the record,
//! a `root` JSONPath on the whole response, or the record's member name), its conversion, and
//! how that value becomes the field's typed value. Compiling is where a field's JSONPath,
//! timestamp format and time zone are checked, for `validate` and the processor alike.

use chrono_tz::Tz;
use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::query::js_path_process;
use serde_json::{Map, Value};

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
    /// Where the value comes from, for reasons and logs: ``path `$.price` ``,
    /// ``root `$.meta.symbol` `` or `member name`.
    pub path: String,
    /// Whether a record without it is poison.
    pub required: bool,
    origin: Origin,
    conversion: Conversion,
}

/// Where a field's value comes from.
#[derive(Clone)]
enum Origin {
    /// A JSONPath in the record.
    Record(Query),
    /// A `root` JSONPath, as written: its value travels in the message under that text.
    Root(String),
    /// The name of the member the record was.
    Member,
}

/// What a message carries besides its record, for `root` and `member_name` fields.
#[derive(Clone, Copy)]
pub(crate) struct Around<'m> {
    /// The record's member name.
    pub member: Option<&'m str>,
    /// The `root` values, by JSONPath.
    pub root: &'m Map<String, Value>,
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
        let query = origin(name, field, &at);
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
        let (path, origin) = query;
        Ok(CompiledField {
            name: name.to_owned(),
            path,
            required: field.required,
            origin,
            conversion,
        })
    }

    /// The record member the path starts with, when it is a plain name (`$.a…`, `$['a']…`):
    /// then nothing else of the record can matter to this field.
    pub fn first_name(&self) -> Option<&str> {
        match &self.origin {
            Origin::Record(Query::Direct(steps)) => match steps.first() {
                Some(Step::Name(name)) => Some(name),
                _ => None,
            },
            Origin::Record(Query::General(_)) => None,
            Origin::Root(_) | Origin::Member => None,
        }
    }

    /// Whether the value is read from the record itself (not its response or member name).
    pub fn reads_record(&self) -> bool {
        matches!(self.origin, Origin::Record(_))
    }

    /// The field's typed value in `record`, or in what its message carries `around` it.
    pub fn pick(&self, record: &Value, around: Around<'_>) -> Result<Value, Failure> {
        let member;
        let found = match &self.origin {
            Origin::Record(query) => query.single(record),
            Origin::Root(path) => Ok(around.root.get(path)),
            Origin::Member => {
                member = around.member.map(|name| Value::String(name.to_owned()));
                Ok(member.as_ref())
            }
        };
        let value = match found {
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

/// Where `field` takes its value from, checked: exactly one of `path`, `root` and
/// `member_name: true`, its JSONPath compiled. With it, how reasons name it.
fn origin(name: &str, field: &Located<Field>, at: &str) -> Result<(String, Origin), Diagnostic> {
    let member = field.member_name.as_ref().filter(|m| m.value);
    let given: Vec<(&str, crate::config::located::Position)> = [
        ("path", field.path.as_ref().map(|p| p.position)),
        ("root", field.root.as_ref().map(|p| p.position)),
        ("member_name", member.map(|m| m.position)),
    ]
    .into_iter()
    .filter_map(|(key, position)| position.map(|p| (key, p)))
    .collect();
    match given.as_slice() {
        [] => Err(Diagnostic::error(
            field.position,
            format!("field `{name}` says nowhere to take its value from"),
        )
        .at(at)
        .help("give it a `path` in the record (such as `$.price`), a `root` path in the whole response, or `member_name: true`")),
        [_] => Ok(match (&field.path, &field.root) {
            (Some(path), _) => {
                let query = jsonpath::compile(path, &format!("{at}.path"))?;
                (format!("path `{}`", path.as_str()), Origin::Record(Query::compile(query)))
            }
            (None, Some(root)) => {
                jsonpath::compile(root, &format!("{at}.root"))?;
                (format!("root `{}`", root.as_str()), Origin::Root(root.value.clone()))
            }
            (None, None) => ("member name".to_owned(), Origin::Member),
        }),
        [(first, _), (second, position), ..] => Err(Diagnostic::error(
            *position,
            format!("field `{name}` has both `{first}` and `{second}`"),
        )
        .at(format!("{at}.{second}"))
        .help("a field takes its value from one place: keep one of `path`, `root` and `member_name`")),
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
mod tests;
