//! Diagnostics: one problem in a pipeline file, located at `file:line:column`, rendered for people
//! (with the source line and a caret) or as JSON for editors and CI.

use std::fmt::Write as _;

use serde::Serialize;

use crate::located::{Located, Position};

/// How bad a problem is: errors stop a pipeline from running, warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The pipeline cannot run as written.
    Error,
    /// The pipeline runs, but probably not as meant.
    Warning,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found in a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line (0 when the problem is about the whole file).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Where in the pipeline the problem is, such as `source.schedule` (empty when unknown).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Whether this diagnostic is about a secret written in the file.
    #[serde(skip)]
    pub secret: bool,
    /// The source line is shown only up to this column: a secret starts there.
    #[serde(skip)]
    pub redact_from: Option<usize>,
    /// Where inside a string value the problem is, until the file's text places it: a stage
    /// constructor has the value, not the file ([`Diagnostic::within`]).
    #[serde(skip)]
    pub(crate) inside: Option<Box<Inside>>,
}

/// A place inside a string value of the file: character `column` of line `line` (both 0-based)
/// of `value`, written at `at`. Only the loader, which has the file's text, turns it into a file
/// line and column (quotes, escapes and block scalars decide where the character sits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Inside {
    /// Where the value starts in the file.
    pub(crate) at: Position,
    /// The value (after substitution).
    pub(crate) value: String,
    /// 0-based line within the value.
    pub(crate) line: usize,
    /// 0-based character column within that line.
    pub(crate) column: usize,
}

impl Diagnostic {
    /// An error at `position`.
    pub fn error(position: Position, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, position, message)
    }

    /// A warning at `position`.
    pub fn warning(position: Position, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, position, message)
    }

    fn new(severity: Severity, position: Position, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            line: position.line,
            column: position.column,
            path: String::new(),
            message: message.into(),
            help: None,
            secret: false,
            redact_from: None,
            inside: None,
        }
    }

    /// Points at character `column` of line `line` (both 0-based) inside the string `value`
    /// rather than at its start. The file position is worked out when the diagnostics are
    /// finished (`crate::config::load`); until then the diagnostic points at the value.
    pub fn within(mut self, value: &Located<String>, line: usize, column: usize) -> Diagnostic {
        self.line = value.position.line;
        self.column = value.position.column;
        self.inside = Some(Box::new(Inside {
            at: value.position,
            value: value.value.clone(),
            line,
            column,
        }));
        self
    }

    /// Names the place in the pipeline, such as `process.fields.price.path`.
    pub fn at(mut self, path: impl Into<String>) -> Diagnostic {
        self.path = path.into();
        self
    }

    /// Adds advice on how to fix the problem.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Marks the value as a secret: no diagnostic shows its source line past its column.
    pub fn secret(mut self) -> Diagnostic {
        self.secret = true;
        self.redact_from = Some(self.column);
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders `file:line:column: severity: message`, the source line with a caret, and the help.
    pub fn render(&self, file: &str, source: &str) -> String {
        let mut out = String::new();
        if self.line > 0 {
            let _ = write!(out, "{file}:{}:{}: ", self.line, self.column);
        } else {
            let _ = write!(out, "{file}: ");
        }
        let _ = write!(out, "{}: {}", self.severity.label(), self.message);
        if !self.path.is_empty() {
            let _ = write!(out, " (at `{}`)", self.path);
        }
        out.push('\n');
        let line_text = source_lines(source).nth(self.line.wrapping_sub(1));
        if let Some(line_text) = line_text.filter(|l| !l.trim().is_empty()) {
            let number = self.line.to_string();
            let gutter = " ".repeat(number.len());
            let shown = match self.redact_from {
                Some(column) => redact_from(line_text, column),
                None => line_text.trim_end().to_owned(),
            };
            let (shown, pad) = match window(&shown, self.column) {
                Some((cut, before)) => {
                    let pad = pad_before(&cut, before);
                    (cut, pad)
                }
                None => (shown, pad_before(line_text, self.column.saturating_sub(1))),
            };
            let _ = writeln!(out, "{gutter} |");
            let _ = writeln!(out, "{number} | {shown}");
            let _ = writeln!(out, "{gutter} | {pad}^");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// At most this many characters of a source line are shown, around the caret.
const SNIPPET_CHARS: usize = 120;

/// At most this many characters of one `quoted` value are kept in a message.
const QUOTE_CHARS: usize = 80;

/// The part of a long `line` shown around `column` (1-based), cut with `…`, and how many of its
/// characters come before the caret; `None` when the whole line fits.
fn window(line: &str, column: usize) -> Option<(String, usize)> {
    let length = line.chars().count();
    if length <= SNIPPET_CHARS {
        return None;
    }
    let caret = column.saturating_sub(1).min(length);
    let start = caret.saturating_sub(SNIPPET_CHARS / 2);
    let end = (start + SNIPPET_CHARS).min(length);
    let mut shown = String::new();
    let mut before = caret - start;
    if start > 0 {
        shown.push('…');
        before += 1;
    }
    shown.extend(line.chars().skip(start).take(end - start));
    if end < length {
        shown.push('…');
    }
    Some((shown, before))
}

/// Blanks as wide as the first `count` characters of `text` (tabs kept), to place a caret.
fn pad_before(text: &str, count: usize) -> String {
    text.chars()
        .take(count)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect()
}

/// `text` with every `quoted` value longer than [`QUOTE_CHARS`] cut short (with `…`), so a
/// huge value in the file never floods the report. Run after secrets are redacted: a cut
/// secret would no longer be recognised.
pub fn shorten_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(1024));
    for (i, part) in text.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        // Odd parts sit between backticks.
        match part.char_indices().nth(QUOTE_CHARS) {
            Some((end, _)) if i % 2 == 1 => {
                out.push_str(&part[..end]);
                out.push('…');
            }
            _ => out.push_str(part),
        }
    }
    out
}

/// The lines of a file, ending at `\r\n`, `\n` or a lone `\r` as YAML's do.
fn source_lines(source: &str) -> impl Iterator<Item = &str> {
    source
        .split('\n')
        .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'))
}

/// Hides the source line of every diagnostic from the column where a secret on that line starts.
pub fn redact_secret_lines(diagnostics: &mut [Diagnostic]) {
    let secrets: Vec<(usize, usize)> = diagnostics
        .iter()
        .filter(|d| d.secret)
        .map(|d| (d.line, d.column))
        .collect();
    for diagnostic in diagnostics.iter_mut() {
        let first_secret = secrets
            .iter()
            .filter(|(line, _)| *line == diagnostic.line)
            .map(|(_, column)| *column)
            .min();
        if let Some(column) = first_secret {
            let own = diagnostic.redact_from.unwrap_or(column);
            diagnostic.redact_from = Some(own.min(column));
        }
    }
}

/// The line with everything from `column` on replaced, so a secret value is never printed.
fn redact_from(line: &str, column: usize) -> String {
    let kept: String = line.chars().take(column.saturating_sub(1)).collect();
    format!("{kept}<redacted>")
}

/// The candidate closest to `name`, when it is close enough to be a likely typo: for "did you
/// mean" help.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), *c))
        .filter(|&(distance, c)| distance <= (c.chars().count() / 3).max(1))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, c)| c)
}

/// Counts of errors and warnings, for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
}

impl Tally {
    /// Adds the diagnostics of one file.
    pub fn add(&mut self, diagnostics: &[Diagnostic]) {
        for diagnostic in diagnostics {
            match diagnostic.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        write!(
            f,
            "{}, {}",
            plural(self.errors, "error"),
            plural(self.warnings, "warning")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{shorten_quotes, window};

    #[test]
    fn long_lines_are_shown_around_the_caret() {
        let line = format!("name: {}X{}", "a".repeat(500), "b".repeat(500));
        let (shown, caret) = window(&line, 507).expect("cut");
        assert_eq!(shown.chars().nth(caret), Some('X'));
        assert!(shown.starts_with('…') && shown.ends_with('…'));
        assert!(shown.chars().count() <= 122);
        assert_eq!(window("short: line", 8), None);
    }

    #[test]
    fn long_quotes_are_cut_and_short_ones_kept() {
        let long = format!("pipeline name `{}` is not usable", "x".repeat(1000));
        let shown = shorten_quotes(&long);
        assert_eq!(
            shown,
            format!("pipeline name `{}…` is not usable", "x".repeat(80))
        );
        assert_eq!(shorten_quotes("`a` and `b`"), "`a` and `b`");
    }
}
