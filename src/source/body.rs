//! From a response body to records: parse it as JSON, reject it when a `source.errors` JSONPath
//! matches a value that is not null, false or empty, or matches at all through a filter (APIs
//! that report errors with HTTP 200), then take each `source.records` match as one
//! record. The JSONPaths are compiled once, which is where `validate` checks them too.

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

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

/// The compiled `source.records` and `source.errors`.
#[derive(Clone)]
pub(crate) struct Extractor {
    records: (String, JpQuery),
    /// Each rule, compiled, and whether it has a filter (`[?…]`): a filter is the rule's own
    /// test, so every value it matches counts.
    errors: Vec<(String, JpQuery, bool)>,
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

    /// The records in a response body, or why it holds none. Zero matches is not an error.
    pub(crate) fn records(&self, fetched: &Fetched) -> Result<Vec<Value>, BodyError> {
        let body = parse(fetched)?;
        for (path, query, filtered) in &self.errors {
            if let Some(value) = matches(path, query, &body)?
                .into_iter()
                .find(|v| *filtered || is_error(v))
            {
                return Err(BodyError::ErrorBody {
                    path: path.clone(),
                    value: fetched
                        .status
                        .is_some()
                        .then(|| shorten(&value_text(value), PREVIEW_CHARS * 2)),
                });
            }
        }
        let (path, query) = &self.records;
        Ok(matches(path, query, &body)?.into_iter().cloned().collect())
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
mod tests {
    use super::*;

    fn fetched(body: &str, content_type: Option<&str>) -> Fetched {
        Fetched {
            status: Some(reqwest::StatusCode::OK),
            content_type: content_type.map(str::to_owned),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_messages_prefer_the_json_message() {
        assert_eq!(
            error_message(br#"{"message":"Invalid API key"}"#, None),
            "Invalid API key"
        );
        assert_eq!(
            error_message(b"<html>\n <b>Bad</b></html>", Some("text/html")),
            "text/html body `<html> <b>Bad</b></html>`"
        );
        assert_eq!(error_message(b"", None), "empty body");
    }

    #[test]
    fn html_is_not_json() {
        let err = parse(&fetched("<!DOCTYPE html><p>oops</p>", Some("text/html"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "response is not JSON (content-type text/html): `<!DOCTYPE html><p>oops</p>`"
        );
        let err = parse(&fetched("{\"a\":", Some("application/json"))).unwrap_err();
        assert!(err.to_string().contains("EOF while parsing"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_json_is_not_quoted() {
        let mut file = fetched("root:*:20228:0:99999:7::: password=hunter2", None);
        file.status = None;
        let err = parse(&file).unwrap_err().to_string();
        assert!(!err.contains("root") && !err.contains("hunter2"), "{err}");
        assert!(err.starts_with("file is not JSON: expected value"), "{err}");
        file.body = br#"{"password": "hunter2", "#.to_vec();
        let err = parse(&file).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        let path = |p: &str| Located::unlocated(p.to_owned());
        let extractor = Extractor::new(&path("$[*]"), &[path("$.error")]).unwrap();
        file.body = br#"{"error": "token hunter2 expired"}"#.to_vec();
        let err = extractor.records(&file).unwrap_err().to_string();
        assert_eq!(err, "the body is an error (`$.error` matched)");
    }

    #[test]
    fn null_error_matches_do_not_count() {
        let path = |p: &str| Located::unlocated(p.to_owned());
        let extractor = Extractor::new(&path("$[*]"), &[path("$.message")]).unwrap();
        let records = extractor
            .records(&fetched(r#"{"message": null}"#, None))
            .unwrap();
        assert_eq!(records, vec![Value::Null]);
    }

    #[test]
    fn empty_and_false_error_matches_do_not_count() {
        let path = |p: &str| Located::unlocated(p.to_owned());
        let extractor = Extractor::new(&path("$.data[*]"), &[path("$.error")]).unwrap();
        for error in ["null", "false", r#""""#, "[]", "{}"] {
            let body = format!(r#"{{"error": {error}, "data": [{{"symbol": "A"}}]}}"#);
            let records = extractor.records(&fetched(&body, None));
            assert_eq!(records.unwrap().len(), 1, "{error}");
        }
        for error in [
            "true",
            r#""Invalid key""#,
            "0",
            r#"["x"]"#,
            r#"{"code": 1}"#,
        ] {
            let body = format!(r#"{{"error": {error}, "data": []}}"#);
            let err = extractor.records(&fetched(&body, None)).unwrap_err();
            assert!(matches!(err, BodyError::ErrorBody { .. }), "{error}: {err}");
        }
    }

    #[test]
    fn a_filter_matches_only_what_it_tests() {
        let path = |p: &str| Located::unlocated(p.to_owned());
        let extractor =
            Extractor::new(&path("$.result"), &[path("$[?@.status == 'error']")]).unwrap();
        let ok = r#"{"result": {"status": "ok", "price": 1}}"#;
        assert_eq!(extractor.records(&fetched(ok, None)).unwrap().len(), 1);
        // A filter's match counts even when it is empty: the filter is the test.
        let extractor_empty =
            Extractor::new(&path("$.result"), &[path("$[?!@['01. symbol']]")]).unwrap();
        let err = extractor_empty
            .records(&fetched(r#"{"result": {}}"#, None))
            .unwrap_err();
        assert!(matches!(err, BodyError::ErrorBody { .. }), "{err}");
        let failed = r#"{"result": {"status": "error", "reason": "closed"}}"#;
        let err = extractor.records(&fetched(failed, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"the body is an error (`$[?@.status == 'error']` matched): {"status":"error","reason":"closed"}"#
        );
    }

    #[test]
    fn shortens_on_character_boundaries() {
        assert_eq!(shorten("héllo", 2), "hé…");
        assert_eq!(shorten("hé", 2), "hé");
    }
}
