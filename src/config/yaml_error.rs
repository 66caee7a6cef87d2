//! Turns a serde-saphyr error (syntax, wrong type, unknown or missing key) into a diagnostic with
//! a position and, for misspelt keys and values, a did-you-mean.

use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};

use super::located::Position;
use crate::diag::Diagnostic;

/// The diagnostic for an error serde-saphyr reported while reading the pipeline.
pub fn diagnostic_from_yaml(err: &Error, text: &str) -> Diagnostic {
    let err = err.without_snippet();
    let position = err.location().map_or(Position::UNKNOWN, |l| Position {
        line: usize::try_from(l.line()).unwrap_or(0),
        column: usize::try_from(l.column()).unwrap_or(0),
        offset: l.span().byte_offset().and_then(|o| usize::try_from(o).ok()),
    });
    match err {
        Error::SerdeUnknownField {
            field, expected, ..
        } => unknown_name(position, "key", field, expected),
        Error::SerdeUnknownVariant {
            variant, expected, ..
        } => unknown_name(position, "value", variant, expected),
        Error::SerdeMissingField { field, .. } => {
            Diagnostic::error(position, format!("missing required key `{field}`"))
                .help(format!("add `{field}:` here (see the README's pipeline format)"))
        }
        Error::Eof { .. } if text.trim().is_empty() => {
            Diagnostic::error(position, "the file is empty").help(
                "a pipeline needs at least `name`, `source`, `process` and `store`; see pipelines/stocks.yaml",
            )
        }
        Error::UnresolvedProperty { name, .. } => {
            Diagnostic::error(position, format!("environment variable `{name}` is not set"))
        }
        other => {
            let message = UserMessageFormatter.format_message(other).into_owned();
            Diagnostic::error(position, message)
        }
    }
}

fn unknown_name(position: Position, what: &str, name: &str, expected: &[&str]) -> Diagnostic {
    let diagnostic = Diagnostic::error(position, format!("unknown {what} `{name}`"));
    let list = expected
        .iter()
        .map(|e| format!("`{e}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match did_you_mean(name, expected) {
        Some(best) => diagnostic.help(format!("did you mean `{best}`? (expected one of {list})")),
        None if expected.is_empty() => diagnostic,
        None => diagnostic.help(format!("expected one of {list}")),
    }
}

/// The candidate closest to `name`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), *c))
        .filter(|&(distance, c)| distance <= (c.chars().count() / 3).max(1))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["url", "headers", "schedule", "timeout"];
        assert_eq!(did_you_mean("shedule", &keys), Some("schedule"));
        assert_eq!(did_you_mean("Headers", &keys), Some("headers"));
        assert_eq!(did_you_mean("colour", &keys), None);
    }
}
