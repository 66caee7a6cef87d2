//! JSONPath syntax, checked with the parser the processor uses (jsonpath-rust, RFC 9535).

use jsonpath_rust::parser::errors::JsonPathError;
use jsonpath_rust::parser::parse_json_path;

use super::Ctx;
use crate::config::Located;
use crate::diag::Diagnostic;

/// Reports a JSONPath that does not parse, pointing at the character where parsing failed.
pub(super) fn check(ctx: &mut Ctx<'_>, value: &Located<String>, path: &str) {
    let Err(err) = parse_json_path(value) else {
        return;
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
    ctx.push(
        Diagnostic::error(
            ctx.within(value, 0, column),
            format!("invalid JSONPath `{}`: {reason}", value.as_str()),
        )
        .at(path)
        .help("write a JSONPath (RFC 9535) such as `$.lastPrice`, `$[*]` or `$['05. price']`"),
    );
}
