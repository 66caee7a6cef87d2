//! Positions inside a string value: where character N of line M of a scalar sits in the file,
//! so a bad JSONPath or template points at the offending character, not at the start of the value.

use crate::config::located::Position;

/// How a scalar was written, which decides how its text maps back onto the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarStyle {
    /// Unquoted.
    Plain,
    /// In single or double quotes.
    Quoted,
    /// A `|` or `>` block.
    Block,
}

/// The style of the scalar that starts at `position`.
pub(crate) fn scalar_style(text: &str, position: Position) -> ScalarStyle {
    match position
        .offset
        .and_then(|o| text.get(o..))
        .and_then(|t| t.chars().next())
    {
        Some('"' | '\'') => ScalarStyle::Quoted,
        Some('|' | '>') => ScalarStyle::Block,
        _ => ScalarStyle::Plain,
    }
}

/// The file position of character `column` of line `line` (both 0-based) inside the string value
/// that starts at `value`. Falls back to the value's own position where the mapping is not exact
/// (folded multi-line scalars, escapes).
pub fn position_within(text: &str, value: Position, line: usize, column: usize) -> Position {
    if !value.is_known() {
        return value;
    }
    match scalar_style(text, value) {
        ScalarStyle::Plain | ScalarStyle::Quoted if line == 0 => {
            let quote = usize::from(scalar_style(text, value) == ScalarStyle::Quoted);
            Position {
                line: value.line,
                column: value.column + quote + column,
                offset: None,
            }
        }
        ScalarStyle::Block => {
            let mut body = text.lines().skip(value.line);
            let indent = body
                .clone()
                .find(|l| !l.trim().is_empty())
                .map_or(0, |l| l.len() - l.trim_start().len());
            match body.nth(line) {
                Some(_) => Position {
                    line: value.line + 1 + line,
                    column: indent + column + 1,
                    offset: None,
                },
                None => value,
            }
        }
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, needle: &str) -> Position {
        let offset = text.find(needle).unwrap();
        let line = text[..offset].matches('\n').count() + 1;
        let column = offset - text[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
        Position {
            line,
            column,
            offset: Some(offset),
        }
    }

    #[test]
    fn maps_plain_quoted_and_block_scalars() {
        let text = "a: $.x\nb: \"$.y\"\nc: |\n    one\n    two {{x}}\n";
        assert_eq!(position_within(text, at(text, "$.x"), 0, 2).column, 6);
        assert_eq!(position_within(text, at(text, "\"$.y"), 0, 2).column, 7);
        let block = position_within(text, at(text, "|"), 1, 4);
        assert_eq!((block.line, block.column), (5, 9));
    }
}
