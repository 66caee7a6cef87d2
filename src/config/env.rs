//! Environment variables in a pipeline file: `${VAR}` and `${VAR:-default}`.
//!
//! serde-saphyr substitutes them while parsing (in plain scalars, keeping positions pointing at the
//! original text, and redacting substituted values from its errors). This module finds the
//! references first, so every unset variable is reported at once with its position, and builds the
//! property map the parser substitutes from.

use std::collections::{BTreeSet, HashMap};

use super::located::Position;
use crate::percent::percent_encode;

/// A `${NAME...}` reference in the pipeline text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvReference {
    /// The variable's name.
    pub name: String,
    /// Whether the reference supplies its own value when the variable is unset
    /// (`${NAME:-x}`, `${NAME-x}`, `${NAME:+x}`, `${NAME+x}`).
    pub has_fallback: bool,
    /// Where the `$` is.
    pub position: Position,
}

/// The environment a pipeline is loaded against: a snapshot, so tests need not touch the process
/// environment.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
}

impl Environment {
    /// The current process environment (variables that are not valid UTF-8 are left out).
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment holding exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Environment {
        Environment {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The property map for the parser: every variable the text references, with a stand-in
    /// (`${NAME}` itself) for those that are unset and have no fallback, so the rest of the file
    /// can still be checked. Returns the map and the unset references; a variable set to the
    /// empty string counts as unset there (it is still substituted).
    pub fn properties_for(
        &self,
        references: &[EnvReference],
    ) -> (HashMap<String, String>, Vec<EnvReference>) {
        let mut properties = HashMap::new();
        let mut unset = Vec::new();
        for reference in references {
            match self.get(&reference.name) {
                // Set but empty, with no fallback: substituted as it is, and reported with the
                // unset ones (an empty API key is as good as none).
                Some("") if !reference.has_fallback => {
                    properties.insert(reference.name.clone(), String::new());
                    unset.push(reference.clone());
                }
                Some(value) => {
                    properties.insert(reference.name.clone(), value.to_owned());
                }
                None if reference.has_fallback => {}
                None => {
                    properties.insert(reference.name.clone(), format!("${{{}}}", reference.name));
                    unset.push(reference.clone());
                }
            }
        }
        (properties, unset)
    }

    /// The values substituted from this environment into `references` (each also as a URL
    /// carries it, percent-encoded), with the reference that brought each one (`${NAME}`):
    /// values must never be shown, the reference may be.
    pub fn secrets_in(&self, references: &[EnvReference]) -> Vec<(String, String)> {
        let names: BTreeSet<&str> = references.iter().map(|r| r.name.as_str()).collect();
        let mut secrets: Vec<(String, String)> = names
            .into_iter()
            .filter_map(|name| Some((self.get(name)?, name)))
            .filter(|(value, _)| value.chars().count() >= MIN_SECRET_LEN)
            .flat_map(|(value, name)| {
                // The form a URL carries it in (see [`Environment::encode_in_url`]) too.
                let encoded = percent_encode(value);
                let reference = format!("${{{name}}}");
                let encoded = (encoded != value).then(|| (encoded, reference.clone()));
                std::iter::once((value.to_owned(), reference)).chain(encoded)
            })
            .collect();
        // Longest first, so a value that contains another is replaced whole.
        secrets.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        secrets
    }
    /// `source.url` with every environment value in its path, query or fragment
    /// percent-encoded, as a `{{key}}` from a feed is: `?apikey=${KEY}` with `KEY=a+b&n=5#x`
    /// sends `apikey=a%2Bb%26n%3D5%23x`, so a value can neither add a parameter nor cut the URL.
    /// `raw` is the URL as written in the file, `substituted` what the parser made of it.
    ///
    /// A value that starts the URL (`${API_BASE}/quotes`) is the address itself and is inserted
    /// as written; so is a value inside the host (`https://${HOST}/…`), which must then hold no
    /// `/`, `?`, `#`, `@`, `\`, space or control character: the error names the variable (never
    /// its value). Fallback and alternate texts (`${KEY:-demo}`) are written in the file and
    /// inserted as written. `Ok(None)` when nothing changes, including forms this does not
    /// reproduce exactly (nested references): the parser's value is then kept.
    pub fn encode_in_url(&self, raw: &str, substituted: &str) -> Result<Option<String>, String> {
        let mut plain = String::with_capacity(raw.len());
        let mut encoded = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(at) = rest.find('$') {
            plain.push_str(&rest[..at]);
            encoded.push_str(&rest[..at]);
            rest = &rest[at..];
            if let Some(after) = rest.strip_prefix("$$") {
                plain.push('$');
                encoded.push('$');
                rest = after;
                continue;
            }
            let Some(body_and_rest) = rest.strip_prefix("${") else {
                plain.push('$');
                encoded.push('$');
                rest = &rest[1..];
                continue;
            };
            let Some(close) = body_and_rest.find('}') else {
                return Ok(None);
            };
            let body = &body_and_rest[..close];
            rest = &body_and_rest[close + 1..];
            let Some(reference) = parse_reference(body) else {
                return Ok(None);
            };
            let operator_text = &body[reference.name.len()..];
            if operator_text.contains(['$', '{']) {
                return Ok(None);
            }
            let value = self.get(&reference.name);
            let set_non_empty = value.filter(|v| !v.is_empty());
            // (text, whether it is the environment's value)
            let (text, from_env) = match operator_text {
                "" => match value {
                    Some(v) => (v.to_owned(), true),
                    None => (format!("${{{}}}", reference.name), false), // the unset stand-in
                },
                op => match (op.get(..2), op.get(..1)) {
                    (Some(":-"), _) => match set_non_empty {
                        Some(v) => (v.to_owned(), true),
                        None => (op[2..].to_owned(), false),
                    },
                    (Some(":+"), _) => match set_non_empty {
                        Some(_) => (op[2..].to_owned(), false),
                        None => (String::new(), false),
                    },
                    (_, Some("-")) => match value {
                        Some(v) => (v.to_owned(), true),
                        None => (op[1..].to_owned(), false),
                    },
                    (_, Some("+")) => match value {
                        Some(_) => (op[1..].to_owned(), false),
                        None => (String::new(), false),
                    },
                    _ => return Ok(None),
                },
            };
            if from_env {
                match url_part(&plain) {
                    UrlPart::Start => encoded.push_str(&text),
                    UrlPart::Host => {
                        if text.contains(|c: char| {
                            matches!(c, '/' | '?' | '#' | '@' | '\\')
                                || c.is_whitespace()
                                || c.is_control()
                        }) {
                            return Err(reference.name);
                        }
                        encoded.push_str(&text);
                    }
                    UrlPart::Rest => encoded.push_str(&percent_encode(&text)),
                }
            } else {
                encoded.push_str(&text);
            }
            plain.push_str(&text);
        }
        plain.push_str(rest);
        encoded.push_str(rest);
        Ok((plain == substituted && encoded != plain).then_some(encoded))
    }
}

/// Where in a URL text that follows `before` lands.
enum UrlPart {
    /// At the start, or still in the scheme: the value is (the start of) the address.
    Start,
    /// After `scheme://`, before the path: the host, a port, user info.
    Host,
    /// The path, query or fragment (or the path of a URL without `//`, such as `file:`).
    Rest,
}

fn url_part(before: &str) -> UrlPart {
    if let Some(at) = before.find("://") {
        if before[at + 3..].contains(['/', '?', '#']) {
            UrlPart::Rest
        } else {
            UrlPart::Host
        }
    } else if before.contains([':', '/', '?', '#']) {
        UrlPart::Rest
    } else {
        UrlPart::Start
    }
}

/// Substituted values shorter than this (`10s`, `true`, a port) are not hidden in messages:
/// hiding them would garble unrelated text, and credentials are longer.
const MIN_SECRET_LEN: usize = 6;

/// Finds every `${NAME...}` reference that serde-saphyr substitutes: in plain scalars, outside
/// comments, quotes and `|`/`>` blocks (those are left as written; `validate` warns about them).
pub fn find_references(text: &str) -> Vec<EnvReference> {
    let mut found = Vec::new();
    let mut offset = 0;
    // While inside a block scalar: the indentation of the key that opened it.
    let mut block_parent: Option<usize> = None;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let blank = line.trim().is_empty();
        match block_parent {
            Some(parent) if blank || indent > parent => {
                offset += line.len();
                continue;
            }
            _ => block_parent = None,
        }
        let plain = plain_spans(line);
        if opens_block(line, &plain) {
            block_parent = Some(indent);
        }
        for (start, end) in plain {
            let mut search = start;
            while let Some(at) = line[search..end].find("${").map(|i| i + search) {
                search = at + 2;
                if at > 0 && line.as_bytes()[at - 1] == b'$' {
                    continue; // `$${` is a literal `${`
                }
                if let Some(reference) = parse_reference(&line[at + 2..end]) {
                    found.push(EnvReference {
                        position: Position {
                            line: index + 1,
                            column: line[..at].chars().count() + 1,
                            offset: Some(offset + at),
                            len: None,
                        },
                        ..reference
                    });
                }
            }
        }
        offset += line.len();
    }
    found
}

/// The name and fallback of the reference whose text (after `${`) starts `rest`.
fn parse_reference(rest: &str) -> Option<EnvReference> {
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let after = &rest[name_len..];
    Some(EnvReference {
        name: rest[..name_len].to_owned(),
        has_fallback: ["-", ":-", "+", ":+"]
            .iter()
            .any(|op| after.starts_with(op)),
        position: Position::UNKNOWN,
    })
}

/// Byte ranges of a YAML line that hold plain (unquoted, uncommented) text. A quote opens a
/// quoted scalar only where a scalar starts (after `: `, `- `, `[`, `{`, `,` or at the line's
/// start); `''` and `\"` inside quotes do not close them; `#` after a space starts a comment.
fn plain_spans(line: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    let mut previous = ' ';
    let mut significant = ':'; // the last non-space character outside quotes
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some('\'') if c == '\'' && chars.peek().is_some_and(|&(_, n)| n == '\'') => {
                chars.next();
            }
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some(q) if c == q => {
                quote = None;
                start = i + 1;
            }
            Some(_) => {}
            None if c == '#' && previous.is_whitespace() => {
                spans.push((start, i));
                return spans;
            }
            None if (c == '"' || c == '\'')
                && matches!(significant, ':' | '-' | '[' | '{' | ',' | '?') =>
            {
                spans.push((start, i));
                quote = Some(c);
            }
            None => {}
        }
        if quote.is_none() && !c.is_whitespace() {
            significant = c;
        }
        previous = c;
    }
    if quote.is_none() {
        spans.push((start, line.len()));
    }
    spans
}

/// Whether the line ends (before any comment) with a block scalar indicator: `|`, `>-`, `|2`.
fn opens_block(line: &str, plain: &[(usize, usize)]) -> bool {
    let Some(&(start, end)) = plain.last() else {
        return false;
    };
    let tail = line[start..end].trim_end();
    let indicator = tail.trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
    let before = indicator.len().saturating_sub(1);
    (indicator.ends_with('|') || indicator.ends_with('>'))
        && (before == 0 || indicator[..before].ends_with([' ', ':', '-']))
}

#[cfg(test)]
mod tests;
