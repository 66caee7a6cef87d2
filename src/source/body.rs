//! From a response body to records: parse it as JSON, reject it when a `source.errors` JSONPath
//! matches a value that is not null, false or empty, or matches at all through a filter (APIs
//! that report errors with HTTP 200), then take each `source.records` match as one
//! record, with what the record shares with its response when fields ask for it (the name of
//! the member it was, the values of `root` JSONPaths), and the next page's link or cursor. The
//! JSONPaths are compiled once, which is where `validate` checks them too.

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::query::js_path_process;
use serde_json::{Map, Value};

use super::fetch::Fetched;
use crate::config::{Located, jsonpath};
use crate::diag::Diagnostic;

/// How many characters of a body or value an error message shows.
const PREVIEW_CHARS: usize = 100;

/// Why a body gave no records.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The body does not parse as JSON.
    #[error("{what} is not JSON{}: {preview}", content_type.as_ref().map(|c| format!(" (content-type {c})")).unwrap_or_default())]
    NotJson {
        /// `response` or `file`.
        what: &'static str,
        /// The `Content-Type` header.
        content_type: Option<String>,
        /// For a response, the start of the body, or why it does not parse when it looks like
        /// JSON; for a file, only why it does not parse (its content is never shown: a file may
        /// hold anything, credentials included).
        preview: String,
    },
    /// A `source.errors` JSONPath matched.
    #[error("the body is an error (`{path}` matched){}", value.as_ref().map(|v| format!(": {v}")).unwrap_or_default())]
    ErrorBody {
        /// The JSONPath that matched.
        path: String,
        /// What it matched, shortened; `None` for a file, whose content is never shown.
        value: Option<String>,
    },
    /// A JSONPath could not be evaluated on this body.
    #[error("`{path}` cannot be evaluated on this body: {reason}")]
    Query {
        /// The JSONPath.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The compiled `source.records` and `source.errors`, and what else a response is read for.
#[derive(Clone)]
pub(crate) struct Extractor {
    records: (String, JpQuery),
    /// Each rule, compiled, and whether it has a filter (`[?…]`): a filter is the rule's own
    /// test, so every value it matches counts.
    errors: Vec<(String, JpQuery, bool)>,
    /// Whether each record's member name is wanted (a field has `member_name: true`).
    member_name: bool,
    /// The fields' `root` JSONPaths, evaluated on the whole response.
    root: Vec<(String, JpQuery)>,
    /// `source.next`'s `link` or `cursor` JSONPath.
    next: Option<(String, JpQuery)>,
}

/// One record and the name of the member it was, when it was one and that is wanted.
#[derive(Debug, PartialEq)]
pub(crate) struct Selected {
    /// The record as `source.records` selected it.
    pub(crate) record: Value,
    /// Its member name.
    pub(crate) member: Option<String>,
}

/// What one response holds for a test or a recorded response: its records, copied.
#[derive(Debug)]
pub(crate) struct Page {
    /// Its records.
    pub(crate) records: Vec<Selected>,
    /// The values of the `root` JSONPaths that select exactly one value, by JSONPath.
    pub(crate) root: Map<String, Value>,
}

impl Extractor {
    /// Compiles `source.records` and `source.errors`; the error lists every JSONPath that does
    /// not parse.
    pub(crate) fn new(
        records: &Located<String>,
        errors: &[Located<String>],
    ) -> Result<Extractor, Vec<Diagnostic>> {
        let compile = |path: &Located<String>, setting: &str| {
            jsonpath::compile(path, setting).map(|query| (path.value.clone(), query))
        };
        let records = compile(records, "source.records");
        let errors: Vec<_> = errors
            .iter()
            .enumerate()
            .map(|(i, path)| compile(path, &format!("source.errors[{i}]")))
            .collect();
        let mut problems: Vec<Diagnostic> = records.as_ref().err().cloned().into_iter().collect();
        problems.extend(errors.iter().filter_map(|e| e.as_ref().err().cloned()));
        match records {
            Ok(records) if problems.is_empty() => Ok(Extractor {
                records,
                member_name: false,
                root: Vec::new(),
                next: None,
                errors: errors
                    .into_iter()
                    .flatten()
                    .map(|(path, query)| {
                        let filtered = has_filter(&query);
                        (path, query, filtered)
                    })
                    .collect(),
            }),
            _ => Err(problems),
        }
    }

    /// The same extractor, also reading each record's member name (when `member_name`) and the
    /// values of the `root` JSONPaths. A `root` path that does not compile is left out: the
    /// processor reports it.
    pub(crate) fn with_context(mut self, member_name: bool, root: &[Located<String>]) -> Extractor {
        self.member_name = member_name;
        self.root = root
            .iter()
            .filter_map(|path| {
                jsonpath::compile(path, "")
                    .ok()
                    .map(|query| (path.value.clone(), query))
            })
            .collect();
        self
    }

    /// The same extractor, also reading the next page's link or cursor at `path`.
    pub(crate) fn with_next(mut self, path: (String, JpQuery)) -> Extractor {
        self.next = Some(path);
        self
    }

    /// The records in a response body, or why it holds none. Zero matches is not an error.
    #[cfg(test)]
    pub(crate) fn records(&self, fetched: &Fetched) -> Result<Vec<Value>, BodyError> {
        Ok(self
            .page(fetched.clone())?
            .records
            .into_iter()
            .map(|selected| selected.record)
            .collect())
    }

    /// Everything a response body holds for the poller, or why it holds no records: each
    /// record copied out of the parsed body.
    pub(crate) fn page(&self, fetched: Fetched) -> Result<Page, BodyError> {
        self.read(fetched, |found| Page {
            records: found
                .records
                .into_iter()
                .map(|(record, member)| Selected {
                    record: record.clone(),
                    member,
                })
                .collect(),
            root: found.root,
        })
    }

    /// Parses a response body (its bytes dropped once parsed) and gives `take` what it holds,
    /// each record borrowed from the parsed body: the poller writes the records' messages from
    /// there, so a response is in memory once, not twice. The error says why the body holds no
    /// records.
    pub(crate) fn read<T>(
        &self,
        fetched: Fetched,
        take: impl FnOnce(Found<'_>) -> T,
    ) -> Result<T, BodyError> {
        let body = parse(&fetched)?;
        let is_file = fetched.status.is_none();
        drop(fetched);
        for (path, query, filtered) in &self.errors {
            if let Some(value) = matches(path, query, &body)?
                .into_iter()
                .find(|v| *filtered || is_error(v))
            {
                return Err(BodyError::ErrorBody {
                    path: path.clone(),
                    value: (!is_file).then(|| shorten(&value_text(value), PREVIEW_CHARS * 2)),
                });
            }
        }
        let (path, query) = &self.records;
        let found = js_path_process(query, &body).map_err(|err| BodyError::Query {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        let records = found
            .into_iter()
            .map(|found| {
                let member = if self.member_name {
                    last_member(&found.path)
                } else {
                    None
                };
                (found.val(), member)
            })
            .collect();
        let mut root = Map::new();
        for (path, query) in &self.root {
            match matches(path, query, &body)?.as_slice() {
                [] => {}
                [one] => {
                    root.insert(path.clone(), (*one).clone());
                }
                many => tracing::warn!(
                    root = %path,
                    matches = many.len(),
                    "a `root` path matches several values; a field takes exactly one, so its records lack it"
                ),
            }
        }
        let next = match &self.next {
            None => Ok(None),
            Some((path, query)) => next_value(path, &matches(path, query, &body)?),
        };
        Ok(take(Found {
            records,
            root,
            next,
        }))
    }
}

/// What one response holds, its records borrowed from the parsed body.
pub(crate) struct Found<'a> {
    /// Each record and its member name (when it was a member and that is wanted).
    pub(crate) records: Vec<(&'a Value, Option<String>)>,
    /// The values of the `root` JSONPaths that select exactly one value, by JSONPath.
    pub(crate) root: Map<String, Value>,
    /// The next page's link or cursor (`None`: this is the last page), or why the value found
    /// there is neither.
    pub(crate) next: Result<Option<String>, String>,
}

/// The next page's link or cursor among what its JSONPath matched: text or a number; nothing,
/// `null` or `""` means there is no next page.
fn next_value(path: &str, found: &[&Value]) -> Result<Option<String>, String> {
    match found {
        [] | [Value::Null] => Ok(None),
        [Value::String(text)] if text.is_empty() => Ok(None),
        [Value::String(text)] => Ok(Some(text.clone())),
        [Value::Number(number)] => Ok(Some(number.to_string())),
        [other] => Err(format!(
            "`{path}` selects {}, not a link or cursor",
            crate::message::json_kind(other)
        )),
        many => Err(format!(
            "`{path}` selects {} values; a link or cursor is one",
            many.len()
        )),
    }
}

/// The member name a normalized path (RFC 9535 §2.7, as jsonpath-rust writes them:
/// `$['a']['b c'][0]`) ends with; `None` when it ends with an index or is `$`.
fn last_member(path: &str) -> Option<String> {
    let mut chars = path.strip_prefix('$')?.chars();
    let mut last = None;
    while let Some(open) = chars.next() {
        if open != '[' {
            return None;
        }
        match chars.next()? {
            '\'' => {
                let mut name = String::new();
                loop {
                    match chars.next()? {
                        '\'' => break,
                        '\\' => name.push(match chars.next()? {
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            'u' => {
                                let hex: String = chars.by_ref().take(4).collect();
                                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                            }
                            other => other,
                        }),
                        c => name.push(c),
                    }
                }
                if chars.next()? != ']' {
                    return None;
                }
                last = Some(name);
            }
            _ => {
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
                last = None;
            }
        }
    }
    last
}

/// Whether a JSONPath selects with a filter (`$[?@.status == 'error']`, `$..[?…]`).
fn has_filter(query: &JpQuery) -> bool {
    fn selects_by_filter(segment: &Segment) -> bool {
        match segment {
            Segment::Descendant(inner) => selects_by_filter(inner),
            Segment::Selector(selector) => matches!(selector, Selector::Filter(_)),
            Segment::Selectors(selectors) => {
                selectors.iter().any(|s| matches!(s, Selector::Filter(_)))
            }
        }
    }
    query.segments.iter().any(selects_by_filter)
}

/// Whether a value an `errors` JSONPath without a filter matched marks the body as an error:
/// anything but `null`, `false`, `""`, `[]` and `{}`, which APIs send on success
/// (`{"error": false, …}`). A rule that needs something else says so with a filter
/// (`$[?@.status == 'error']`), whose every match counts.
fn is_error(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(true) | Value::Number(_) => true,
    }
}

fn matches<'a>(path: &str, query: &JpQuery, body: &'a Value) -> Result<Vec<&'a Value>, BodyError> {
    js_path_process(query, body)
        .map(|found| found.into_iter().map(|r| r.val()).collect())
        .map_err(|err| BodyError::Query {
            path: path.to_owned(),
            reason: err.to_string(),
        })
}

/// Parses the body; a UTF-8 byte-order mark is skipped.
fn parse(fetched: &Fetched) -> Result<Value, BodyError> {
    let bytes = fetched
        .body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&fetched.body);
    serde_json::from_slice(bytes).map_err(|err| {
        let text = String::from_utf8_lossy(bytes);
        let looks_like_json = text.trim_start().starts_with(['{', '[']);
        if fetched.status.is_none() {
            return BodyError::NotJson {
                what: "file",
                content_type: None,
                preview: if text.trim().is_empty() {
                    "the file is empty".to_owned()
                } else {
                    format!("{err} ({} bytes; the content is not shown)", bytes.len())
                },
            };
        }
        BodyError::NotJson {
            what: "response",
            content_type: fetched.content_type.clone(),
            preview: if text.trim().is_empty() {
                "the body is empty".to_owned()
            } else if looks_like_json {
                format!("{err}; it starts with {}", quoted(&text))
            } else {
                quoted(&text)
            },
        }
    })
}

/// What an error response (4xx, 5xx) says: its JSON `message` (or `error`), else its start.
pub(crate) fn error_message(body: &[u8], content_type: Option<&str>) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text)
        && let Some(message) = ["message", "error", "Error Message"]
            .iter()
            .find_map(|key| map.get(*key).and_then(Value::as_str))
    {
        return shorten(message, PREVIEW_CHARS * 2);
    }
    match (text.trim().is_empty(), content_type) {
        (true, _) => "empty body".to_owned(),
        (false, Some(content_type)) => format!("{content_type} body {}", quoted(&text)),
        (false, None) => format!("body {}", quoted(&text)),
    }
}

/// A value as text: strings without their quotes.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The start of `text`, whitespace collapsed, in backticks.
fn quoted(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("`{}`", shorten(&collapsed, PREVIEW_CHARS))
}

/// At most `max` characters of `text`, with `…` when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;
