//! Control characters made visible in what reaches a terminal or a mail header, so that a value
//! from the API (a symbol holding `ESC ] 0 ; … BEL`) cannot retitle, recolour or rewrite the
//! reader's terminal, forge a table row, or reorder text. Stored data is never changed: only its
//! rendering in `show`, e-mail headers and bodies, and log lines.
//!
//! Escaped: the C0 controls U+0000–U+001F, DEL U+007F, the C1 controls U+0080–U+009F, and the
//! bidirectional embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069. Each is
//! written as a Rust string literal writes it (the notation `tracing` uses for log fields):
//! `\x1b` for an ASCII control, `\u{9b}` and `\u{202e}` for the others. A backslash itself is
//! left alone, so text that already reads `\x1b` looks the same as an escaped ESC: this is for
//! reading, not for parsing back.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is escaped: a C0 or C1 control, DEL, or a bidirectional formatting character.
fn is_escaped(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character escaped, tab and newline included: for one-line places
/// such as a table cell or a mail header, where a newline would forge a row or a header.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// `text` with every control character escaped except tab and newline: for text whose lines
/// are legitimate, such as a plain-text e-mail body or a log line.
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, |c| matches!(c, '\n' | '\t'))
}

/// `text` with the control characters that are not `kept` escaped; borrowed when none is.
fn escape(text: &str, kept: impl Fn(char) -> bool) -> Cow<'_, str> {
    let escaped = |c: char| is_escaped(c) && !kept(c);
    let Some(first) = text.find(escaped) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if !escaped(c) {
            out.push(c);
        } else if c.is_ascii() {
            write!(out, "\\x{:02x}", c as u32).expect("writing to a String");
        } else {
            write!(out, "\\u{{{:x}}}", c as u32).expect("writing to a String");
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{lines, one_line};

    #[test]
    fn terminal_sequences_are_escaped_visibly() {
        assert_eq!(
            one_line("\u{1b}]0;pwned\u{7}AAPL\u{1b}[31m"),
            "\\x1b]0;pwned\\x07AAPL\\x1b[31m"
        );
        assert_eq!(one_line("a\u{7f}b\u{9b}c"), "a\\x7fb\\u{9b}c");
        assert_eq!(
            one_line("\u{202e}LPAA\u{2066}x\u{2069}"),
            "\\u{202e}LPAA\\u{2066}x\\u{2069}"
        );
        assert_eq!(one_line("a\tb\nc\rd\0"), "a\\x09b\\x0ac\\x0dd\\x00");
    }

    #[test]
    fn lines_keep_tabs_and_newlines() {
        assert_eq!(lines("a\tb\nc\rd\u{1b}"), "a\tb\nc\\x0dd\\x1b");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for text in ["RELIANCE", "Müller & Söhne — 51.76 €", "日本", "\\x1b", ""] {
            assert!(matches!(one_line(text), Cow::Borrowed(t) if t == text));
            assert!(matches!(lines(text), Cow::Borrowed(t) if t == text));
        }
    }
}
