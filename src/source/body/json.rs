//! A response body as JSON: its bytes, parsed whole, and what error messages show of a body or
//! of a value in it (never a file's content, which may hold anything).

use serde_json::Value;

use super::BodyError;
use crate::source::fetch::Fetched;

/// How many characters of a body or value an error message shows.
pub(super) const PREVIEW_CHARS: usize = 100;

/// The body's JSON: its bytes without a UTF-8 byte-order mark.
pub(super) fn json_bytes(fetched: &Fetched) -> &[u8] {
    fetched
        .body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&fetched.body)
}

/// Parses the body; a UTF-8 byte-order mark is skipped.
pub(super) fn parse(fetched: &Fetched) -> Result<Value, BodyError> {
    let bytes = json_bytes(fetched);
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
pub(super) fn value_text(value: &Value) -> String {
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
