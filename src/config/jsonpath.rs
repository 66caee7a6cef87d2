//! JSONPath values of the pipeline file (`source.records`, `source.errors`, field paths),
//! compiled with the parser the stages run them with (jsonpath-rust, RFC 9535). This is the one
//! place their syntax is checked: the source and the processor compile through it, and
//! `validate` reports what they return.

use jsonpath_rust::parser::errors::JsonPathError;
use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;

use crate::config::Located;
use crate::diag::Diagnostic;

/// Compiles the JSONPath `value`; the error points at the character where parsing failed and
/// names `path`, the setting it came from (such as `source.records`).
pub fn compile(value: &Located<String>, path: &str) -> Result<JpQuery, Diagnostic> {
    let err = match parse_json_path(value) {
        Ok(query) => return Ok(query),
        Err(err) => err,
    };
    let (byte, reason) = match &err {
        JsonPathError::PestError(pest) => {
            let byte = match pest.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((start, _)) => start,
            };
            (byte, pest.variant.message().into_owned())
        }
        other => (0, other.to_string()),
    };
    let column = value.get(..byte).map_or(0, |s| s.chars().count());
    Err(Diagnostic::error(
        value.position,
        format!("invalid JSONPath `{}`: {reason}", value.as_str()),
    )
    .within(value, 0, column)
    .at(path)
    .help("write a JSONPath (RFC 9535) such as `$.price`, `$[*]` or `$['last price']`"))
}
