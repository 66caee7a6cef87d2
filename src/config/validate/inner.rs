//! Positions inside a string value: where character N of line M of a scalar sits in the file,
//! so a bad JSONPath or template points at the offending character, not at the start of the value.
//!
//! serde-saphyr gives each scalar's span as written: quotes included, and for `|`/`>` blocks
//! starting at the first content line (the indicator comes before the span).

use crate::config::located::Position;

/// How a scalar was written, which decides how its text maps back onto the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarStyle {
    /// Unquoted.
    Plain,
    /// In single or double quotes.
    Quoted,
    /// A `|` block: lines are kept.
    Literal,
    /// A `>` block: lines are folded into one.
    Folded,
}

/// The scalar as written in the file (quotes, escapes and indentation included), when known.
pub(crate) fn raw_text(text: &str, position: Position) -> Option<&str> {
    let start = position.offset?;
    text.get(start..start + position.len?)
}

/// The style of the scalar at `position`.
pub(crate) fn scalar_style(text: &str, position: Position) -> ScalarStyle {
    let Some(offset) = position.offset else {
        return ScalarStyle::Plain;
    };
    let before = text.get(..offset).unwrap_or("");
    let indicator_line = before.trim_end();
    if indicator_line.len() < before.len() && before[indicator_line.len()..].contains(['\n', '\r'])
    {
        // The value starts on a later line than its key: a block if the key's line ends in an
        // indicator such as `|`, `>-` or `|2` (a comment may follow it).
        let tail = indicator_line
            .rsplit(['\n', '\r'])
            .next()
            .unwrap_or("")
            .split(" #")
            .next()
            .unwrap_or("")
            .trim_end();
        let indicator = tail.trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
        if indicator.ends_with('|') {
            return ScalarStyle::Literal;
        }
        if indicator.ends_with('>') {
            return ScalarStyle::Folded;
        }
    }
    match raw_text(text, position).and_then(|raw| raw.chars().next()) {
        Some('"' | '\'') => ScalarStyle::Quoted,
        _ => ScalarStyle::Plain,
    }
}

/// The file position of character `column` of line `line` (both 0-based) inside the string
/// `value` written at `at`. Falls back to the value's own position where the text as written
/// differs from the value (escapes, folded lines), so a position is never wrong, only coarse.
pub fn position_within(
    text: &str,
    at: Position,
    value: &str,
    line: usize,
    column: usize,
) -> Position {
    if !at.is_known() {
        return at;
    }
    let inside = |line: usize, column: usize| Position {
        line,
        column,
        offset: None,
        len: None,
    };
    let raw = raw_text(text, at).unwrap_or("");
    // The value's text before the target, when the target is on its first line.
    let prefix: Option<String> = (line == 0).then(|| value.chars().take(column).collect());
    // Exact where the text as written starts with that prefix (no escape or fold before it).
    let on_first_line = |written: &str, shift: usize| match &prefix {
        Some(prefix) if written.starts_with(prefix.as_str()) => {
            inside(at.line, at.column + shift + column)
        }
        _ => at,
    };
    match scalar_style(text, at) {
        ScalarStyle::Plain | ScalarStyle::Folded => on_first_line(raw, 0),
        ScalarStyle::Quoted => on_first_line(raw.get(1..).unwrap_or(""), 1),
        ScalarStyle::Literal if value.lines().nth(line).is_some() => {
            inside(at.line + line, at.column + column)
        }
        ScalarStyle::Literal => at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The position of `raw` in `text`, as serde-saphyr reports it.
    fn at(text: &str, raw: &str) -> Position {
        let offset = text.find(raw).unwrap();
        let line = text[..offset].matches('\n').count() + 1;
        let column = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
        Position {
            line,
            column,
            offset: Some(offset),
            len: Some(raw.len()),
        }
    }

    #[test]
    fn maps_plain_quoted_and_literal_scalars() {
        let text = "a: $.x\nb: \"$.y\"\nc: |\n    one\n    two {{x}}\n";
        let p = position_within(text, at(text, "$.x"), "$.x", 0, 2);
        assert_eq!((p.line, p.column), (1, 6));
        let p = position_within(text, at(text, "\"$.y\""), "$.y", 0, 2);
        assert_eq!((p.line, p.column), (2, 7));
        let block = at(text, "one\n    two {{x}}\n");
        assert_eq!(scalar_style(text, block), ScalarStyle::Literal);
        let p = position_within(text, block, "one\ntwo {{x}}\n", 1, 4);
        assert_eq!((p.line, p.column), (5, 9));
    }

    #[test]
    fn falls_back_where_escapes_or_folding_change_the_text() {
        let text = "a: \"\\t\u{e9} {{bad}}\"\nb: >-\n  one\n  two\nc: plain\n  more\n";
        let quoted = at(text, "\"\\t\u{e9} {{bad}}\"");
        assert_eq!(
            position_within(text, quoted, "\t\u{e9} {{bad}}", 0, 3),
            quoted
        );
        let folded = at(text, "one\n  two\n");
        assert_eq!(scalar_style(text, folded), ScalarStyle::Folded);
        assert_eq!(position_within(text, folded, "one two", 0, 5), folded);
        let plain = at(text, "plain\n  more");
        assert_eq!(position_within(text, plain, "plain more", 0, 7), plain);
    }

    #[test]
    fn is_exact_up_to_the_first_escape() {
        let text = "a: \"{{x}} {{y}}\\n\"\n";
        let p = position_within(text, at(text, "\"{{x}} {{y}}\\n\""), "{{x}} {{y}}\n", 0, 6);
        assert_eq!((p.line, p.column), (1, 11));
    }

    #[test]
    fn a_block_starting_with_a_quote_is_still_a_block() {
        let text = "a: |\n  \"quoted\" {{x}}\n";
        assert_eq!(
            scalar_style(text, at(text, "\"quoted\" {{x}}\n")),
            ScalarStyle::Literal
        );
    }
}
