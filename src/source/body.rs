//! From a response body to records: parse it as JSON, reject it when a `source.errors` JSONPath
//! matches a value that is not null, false or empty, or matches at all through a filter (APIs
//! that report errors with HTTP 200), then take each `source.records` match as one
//! record, with what the record shares with its response when fields ask for it (the name of
//! the member it was, the values of `root` JSONPaths), and the next page's link or cursor. The
//! JSONPaths are compiled once, which is where `validate` checks them too.
//!
//! A body is read one of two ways, with the same results (records, their order, member names,
//! errors and their messages): when every JSONPath the source reads is a chain of names and
//! indices with at most a last wildcard (`chain`: `$[*]`, `$.data[*]`, `$['Time Series
//! (Daily)'].*`, `$.message`), its text is followed and its records kept as places in it, each
//! parsed only when it is handed on, and dropped after, so a response is never one parsed tree
//! (about 8 times its size); otherwise (filters, slices, `..`), or when the text is not JSON,
//! the whole body is parsed and jsonpath-rust evaluates the paths on it (`select`).
//! [`Extractor::open`] is the one place that chooses; `reading` hands the records on, a few at a
//! time.

mod chain;
mod json;
mod reading;
mod select;
mod valid;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::fetch::Fetched;
use crate::config::{Located, jsonpath};
use crate::diag::Diagnostic;
use chain::Chain;
pub(crate) use json::error_message;
use json::{PREVIEW_CHARS, json_bytes, parse, shorten, value_text};
pub(crate) use reading::Reading;
use select::{Body, Matches, Stop};

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

/// A compiled JSONPath: as written, parsed, and as a [`Chain`] when it is one.
#[derive(Clone)]
pub(crate) struct Path {
    text: String,
    query: JpQuery,
    chain: Option<Chain>,
}

impl Path {
    /// `query`, compiled from `text`.
    pub(crate) fn new(text: String, query: JpQuery) -> Path {
        let chain = Chain::of(&query);
        Path { text, query, chain }
    }
}

/// The compiled `source.records` and `source.errors`, and what else a response is read for.
#[derive(Clone)]
pub(crate) struct Extractor {
    records: Path,
    /// Each rule, compiled, and whether it has a filter (`[?…]`): a filter is the rule's own
    /// test, so every value it matches counts.
    errors: Vec<(Path, bool)>,
    /// Whether each record's member name is wanted (a field has `member_name: true`).
    member_name: bool,
    /// The fields' `root` JSONPaths, evaluated on the whole response.
    root: Vec<Path>,
    /// `source.next`'s `link` or `cursor` JSONPath.
    next: Option<Path>,
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
            jsonpath::compile(path, setting).map(|query| Path::new(path.value.clone(), query))
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
                    .map(|path| {
                        let filtered = has_filter(&path.query);
                        (path, filtered)
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
                    .map(|query| Path::new(path.value.clone(), query))
            })
            .collect();
        self
    }

    /// The same extractor, also reading the next page's link or cursor at `path`.
    pub(crate) fn with_next(mut self, (text, query): (String, JpQuery)) -> Extractor {
        self.next = Some(Path::new(text, query));
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

    /// Everything a response body holds for a test or a recorded response, or why it holds no
    /// records: each record copied.
    pub(crate) fn page(&self, fetched: Fetched) -> Result<Page, BodyError> {
        let reading = self.open(fetched)?;
        let mut records = Vec::new();
        reading.each_in(0..reading.len(), |record| {
            records.push(Selected {
                record: record.value.clone(),
                member: record.member.map(str::to_owned),
            });
        })?;
        Ok(Page {
            records,
            root: reading.root,
        })
    }

    /// Reads a response body's `errors` rules (a body that is an error is refused here), its
    /// `root` values and next page, and finds its records, to be handed on a few at a time
    /// ([`Reading::each_in`]); the error says why it holds no records. The body's text is
    /// followed when the paths allow it (see the module doc): its records are then parsed
    /// only when handed on. Otherwise, or when that text is not JSON, the body is parsed whole,
    /// its bytes dropped once parsed.
    pub(crate) fn open(&self, fetched: Fetched) -> Result<Reading, BodyError> {
        let fetched = if self.follows_text() {
            match self.open_text(fetched) {
                Ok(read) => return read,
                Err(fetched) => fetched,
            }
        } else {
            fetched
        };
        self.open_tree(fetched)
    }

    /// Whether every JSONPath the source reads is a [`Chain`].
    fn follows_text(&self) -> bool {
        let paths = std::iter::once(&self.records)
            .chain(self.errors.iter().map(|(path, _)| path))
            .chain(&self.root)
            .chain(&self.next);
        paths.into_iter().all(|path| path.chain.is_some())
    }

    /// Reads the body by following its text; or gives it back when the parsed body must decide:
    /// it is not JSON (the parser says why), or a path cannot follow it.
    fn open_text(&self, fetched: Fetched) -> Result<Result<Reading, BodyError>, Fetched> {
        let json = json_bytes(&fetched);
        if !valid::parses(json) {
            return Err(fetched);
        }
        let Ok(text) = serde_json::from_slice::<&RawValue>(json) else {
            return Err(fetched);
        };
        let read = match self.extract(&Body::Text(text), fetched.status.is_none()) {
            Err(Stop::Tree) => None,
            Err(Stop::Rejected(error)) => Some(Err(error)),
            Ok((root, next, records)) => Some(Ok((root, next, records.places(&fetched.body)))),
        };
        match read {
            None => Err(fetched),
            Some(Err(error)) => Ok(Err(error)),
            Some(Ok((root, next, places))) => Ok(Ok(Reading::new(
                reading::Records::text(fetched.body, places),
                root,
                next,
                self.member_name,
            ))),
        }
    }

    /// Reads the body parsed whole, its bytes dropped once parsed.
    fn open_tree(&self, fetched: Fetched) -> Result<Reading, BodyError> {
        let tree = parse(&fetched)?;
        let is_file = fetched.status.is_none();
        drop(fetched);
        let (root, next, places) = self
            .extract(&Body::Tree(&tree), is_file)
            .map(|(root, next, records)| (root, next, records.places(&[])))
            .map_err(Stop::into_error)?;
        Ok(Reading::new(
            reading::Records::tree(tree, places),
            root,
            next,
            self.member_name,
        ))
    }

    /// What `body` holds, read in the order jsonpath-rust's results were always read: the
    /// `errors` rules, the records (selected, not yet parsed), the `root` values, the next
    /// page.
    fn extract<'a>(
        &'a self,
        body: &Body<'a>,
        is_file: bool,
    ) -> Result<(Map<String, Value>, NextValue, Matches<'a>), Stop> {
        for (path, filtered) in &self.errors {
            let mut error = None;
            body.select(path)?.each(|value| {
                if error.is_none() && (*filtered || is_error(value)) {
                    error =
                        Some((!is_file).then(|| shorten(&value_text(value), PREVIEW_CHARS * 2)));
                }
            })?;
            if let Some(value) = error {
                return Err(Stop::Rejected(BodyError::ErrorBody {
                    path: path.text.clone(),
                    value,
                }));
            }
        }
        let records = body.select(&self.records)?;
        let mut root = Map::new();
        for path in &self.root {
            match body.select(path)?.first()? {
                (0, _) => {}
                (1, Some(one)) => {
                    root.insert(path.text.clone(), one);
                }
                (many, _) => tracing::warn!(
                    root = %path.text,
                    matches = many,
                    "a `root` path matches several values; a field takes exactly one, so its records lack it"
                ),
            }
        }
        let next = match &self.next {
            None => Ok(None),
            Some(path) => next_value(&path.text, body.select(path)?.first()?),
        };
        Ok((root, next, records))
    }
}

/// The next page's link or cursor (`None`: the last page), or why the value found is neither.
pub(crate) type NextValue = Result<Option<String>, String>;

/// The next page's link or cursor among what its JSONPath matched (how many values, and the
/// first): text or a number; nothing, `null` or `""` means there is no next page.
fn next_value(path: &str, found: (usize, Option<Value>)) -> NextValue {
    match found {
        (0, _) | (1, Some(Value::Null)) => Ok(None),
        (1, Some(Value::String(text))) if text.is_empty() => Ok(None),
        (1, Some(Value::String(text))) => Ok(Some(text)),
        (1, Some(Value::Number(number))) => Ok(Some(number.to_string())),
        (1, Some(other)) => Err(format!(
            "`{path}` selects {}, not a link or cursor",
            crate::message::json_kind(&other)
        )),
        (many, _) => Err(format!(
            "`{path}` selects {many} values; a link or cursor is one"
        )),
    }
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod alike;
