//! Turns a serde-saphyr error (syntax, wrong type, unknown or missing key) into a diagnostic with
//! a position and, for misspelt keys and values, a did-you-mean.

use serde_saphyr::{Error, MessageFormatter, UserMessageFormatter};

use super::located::Position;
use crate::diag::{Diagnostic, did_you_mean};

/// The diagnostic for an error serde-saphyr reported while reading the pipeline.
pub fn diagnostic_from_yaml(err: &Error, text: &str) -> Diagnostic {
    let err = err.without_snippet();
    let position = err
        .location()
        .map_or(Position::UNKNOWN, |l| Position::from_saphyr(&l));
    match err {
        Error::SerdeUnknownField {
            field, expected, ..
        } => unknown_name(position, "key", &written(field, text, position), expected),
        Error::SerdeUnknownVariant {
            variant, expected, ..
        } => unknown_name(position, "value", &written(variant, text, position), expected),
        Error::SerdeMissingField { field, .. } => {
            Diagnostic::error(position, format!("missing required key `{field}`"))
                .help(format!("add `{field}:` here (see the README's pipeline format)"))
        }
        Error::Eof { .. } if text.trim().is_empty() => {
            Diagnostic::error(position, "the file is empty").help(
                "a pipeline needs at least `name`, `source`, `process` and `store` (see the README's pipeline format)",
            )
        }
        Error::InvalidScalar { ty, .. } => {
            let found = written("an interpolated value", text, position);
            if let Some(max) = integer_max(ty)
                && found.trim_start_matches('-').chars().all(|c| c.is_ascii_digit())
                && !found.is_empty()
            {
                return Diagnostic::error(position, format!("`{found}` is out of range"))
                    .help(format!("the largest value here is {max}"));
            }
            let expected = match *ty {
                "bool" => "`true` or `false`",
                t if t.starts_with('u') => "a whole number, 0 or more",
                t if t.starts_with('i') => "a whole number",
                t if t.starts_with('f') => "a number",
                other => other,
            };
            Diagnostic::error(position, format!("`{found}` is not {expected}"))
        }
        Error::UnresolvedProperty { name, .. } => {
            Diagnostic::error(position, format!("environment variable `{name}` is not set"))
        }
        other => {
            let message = UserMessageFormatter.format_message(other).into_owned();
            let line = text.lines().nth(position.line.saturating_sub(1)).unwrap_or("");
            if let Some(diagnostic) = plain_shape_error(position, &message) {
                return diagnostic;
            }
            let diagnostic = Diagnostic::error(position, message.clone());
            if message.contains("flow") && line.contains("${") {
                diagnostic.help(
                    "`${VAR}` cannot stand inside `{ … }` or `[ … ]`, where YAML reads its braces: write this map or list in block style, one entry per line",
                )
            } else {
                diagnostic
            }
        }
    }
}

/// The parser's terse messages for a value of the wrong shape, or a tab, said plainly with what
/// to write instead.
fn plain_shape_error(position: Position, message: &str) -> Option<Diagnostic> {
    let (said, help) = if message.starts_with("expected mapping start") {
        (
            "expected a mapping here (`key: value` entries)",
            "write one `key: value` per line, indented under the key above, or `{ key: value }`",
        )
    } else if message.starts_with("expected sequence start") {
        (
            "expected a list here",
            "write each item on its own line after `- `, or in brackets: `[a, b]`",
        )
    } else if message.contains("limits breached") || message.contains("recursion limit") {
        let detail = budget_detail(message);
        return Some(
            Diagnostic::error(
                position,
                format!("the file is too large or too complex for a pipeline ({detail})"),
            )
            .help(
                "a pipeline is a few dozen lines: look here for a runaway list, deep nesting, or aliases (`*name`) that repeat large values",
            ),
        );
    } else if message.contains("found a tab") {
        (
            message,
            "YAML indents with spaces only: replace the tab characters with spaces",
        )
    } else {
        return None;
    };
    Some(Diagnostic::error(position, said).help(help))
}

/// Which of the parser's limits a file breached, in words.
fn budget_detail(message: &str) -> String {
    let number: String = message.chars().filter(char::is_ascii_digit).collect();
    let over = number.parse::<u64>().map(|n| n.saturating_sub(1));
    match over {
        Ok(limit) if message.contains("Nodes") => format!("more than {limit} YAML values"),
        Ok(limit) if message.contains("Depth") => format!("nested more than {limit} levels deep"),
        _ if message.contains("recursion limit") => "nested too deeply".to_owned(),
        _ => message
            .rsplit("limits breached: ")
            .next()
            .unwrap_or(message)
            .to_owned(),
    }
}

/// The largest value of an integer type, by its Rust name.
fn integer_max(ty: &str) -> Option<u128> {
    Some(match ty {
        "u8" => u8::MAX.into(),
        "u16" => u16::MAX.into(),
        "u32" => u32::MAX.into(),
        "u64" => u64::MAX.into(),
        "i32" => i32::MAX as u128,
        "i64" => i64::MAX as u128,
        _ => return None,
    })
}

/// The name as written at `position`, when serde-saphyr reports it redacted (it does so once
/// any variable was substituted, in case the name came from one).
fn written(reported: &str, text: &str, position: Position) -> String {
    if !reported.starts_with("an interpolated") {
        return reported.to_owned();
    }
    let rest = position.offset.and_then(|o| text.get(o..)).unwrap_or("");
    let token = scalar_at(rest).trim().trim_matches(['"', '\'']);
    if token.is_empty() {
        reported.to_owned()
    } else {
        token.to_owned()
    }
}

/// The plain or quoted scalar at the start of `rest`: up to the end of the line, a comment, a
/// `: ` (a key), or a flow `,` `]` `}` outside `${…}`.
fn scalar_at(rest: &str) -> &str {
    let mut depth = 0usize;
    let mut previous = ' ';
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map_or(' ', |&(_, n)| n);
        let ends = match c {
            '\n' | '\r' => true,
            '#' => previous.is_whitespace(),
            '{' if previous == '$' => {
                depth += 1;
                false
            }
            '}' if depth > 0 => {
                depth -= 1;
                false
            }
            ',' | ']' | '}' => depth == 0,
            ':' => depth == 0 && next.is_whitespace(),
            _ => false,
        };
        if ends {
            return &rest[..i];
        }
        previous = c;
    }
    rest
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

#[cfg(test)]
mod tests {
    use crate::diag::did_you_mean;

    #[test]
    fn reads_the_scalar_at_a_position() {
        assert_eq!(super::scalar_at("${KEY}\nnext: 1"), "${KEY}");
        assert_eq!(super::scalar_at("shedule: x"), "shedule");
        assert_eq!(super::scalar_at("float }"), "float ");
        assert_eq!(super::scalar_at("ten # comment"), "ten ");
    }

    #[test]
    fn suggests_close_names_only() {
        let keys = ["url", "headers", "schedule", "timeout"];
        assert_eq!(did_you_mean("shedule", &keys), Some("schedule"));
        assert_eq!(did_you_mean("Headers", &keys), Some("headers"));
        assert_eq!(did_you_mean("colour", &keys), None);
    }
}
