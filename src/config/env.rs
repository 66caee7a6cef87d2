//! Environment variables in a pipeline file: `${VAR}` and `${VAR:-default}`.
//!
//! serde-saphyr substitutes them while parsing (in plain scalars, keeping positions pointing at the
//! original text, and redacting substituted values from its errors). This module finds the
//! references first, so every unset variable is reported at once with its position, and builds the
//! property map the parser substitutes from.

use std::collections::{BTreeSet, HashMap};

use super::located::Position;

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
    /// can still be checked. Returns the map and the unset references.
    pub fn properties_for(
        &self,
        references: &[EnvReference],
    ) -> (HashMap<String, String>, Vec<EnvReference>) {
        let mut properties = HashMap::new();
        let mut unset = Vec::new();
        for reference in references {
            match self.get(&reference.name) {
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

    /// The values substituted from this environment into `references`, with the reference that
    /// brought each one (`${NAME}`): values must never be shown, the reference may be.
    pub fn secrets_in(&self, references: &[EnvReference]) -> Vec<(String, String)> {
        let names: BTreeSet<&str> = references.iter().map(|r| r.name.as_str()).collect();
        let mut secrets: Vec<(String, String)> = names
            .into_iter()
            .filter_map(|name| Some((self.get(name)?, name)))
            .filter(|(value, _)| !value.is_empty())
            .map(|(value, name)| (value.to_owned(), format!("${{{name}}}")))
            .collect();
        // Longest first, so a value that contains another is replaced whole.
        secrets.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        secrets
    }
}

/// Finds every `${NAME...}` reference in `text`, outside comments.
pub fn find_references(text: &str) -> Vec<EnvReference> {
    let mut found = Vec::new();
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let content = strip_comment(line);
        let mut search = 0;
        while let Some(start) = content[search..].find("${").map(|i| i + search) {
            search = start + 2;
            let escaped = start > 0 && content.as_bytes()[start - 1] == b'$';
            if escaped {
                continue;
            }
            let rest = &content[start + 2..];
            let name_len = rest
                .char_indices()
                .find(|&(i, c)| {
                    !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
                })
                .map_or(rest.len(), |(i, _)| i);
            if name_len == 0 {
                continue;
            }
            let after = &rest[name_len..];
            let has_fallback = ["-", ":-", "+", ":+"]
                .iter()
                .any(|op| after.starts_with(op));
            found.push(EnvReference {
                name: rest[..name_len].to_owned(),
                has_fallback,
                position: Position {
                    line: index + 1,
                    column: content[..start].chars().count() + 1,
                    offset: Some(offset + start),
                },
            });
        }
        offset += line.len();
    }
    found
}

/// The part of a YAML line before its comment: a `#` at the start or after white space, outside
/// quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && previous.is_whitespace() => return &line[..i],
            None if (c == '"' || c == '\'') && (previous.is_whitespace() || previous == ':') => {
                quote = Some(c)
            }
            None => {}
        }
        previous = c;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_references_with_and_without_fallback() {
        let refs = find_references("a: ${KEY}\nb: x-${HOST:-localhost}/${P-1}\n");
        let summary: Vec<_> = refs
            .iter()
            .map(|r| {
                (
                    r.name.as_str(),
                    r.has_fallback,
                    r.position.line,
                    r.position.column,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("KEY", false, 1, 4),
                ("HOST", true, 2, 6),
                ("P", true, 2, 25)
            ]
        );
    }

    #[test]
    fn ignores_comments_escapes_and_non_names() {
        let refs = find_references("# ${A}\nb: x # ${B}\nc: $${C}\nd: ${1X}\ne: \"#${E}\"\n");
        let names: Vec<_> = refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["E"]);
    }

    #[test]
    fn stands_in_for_unset_variables_and_reports_them() {
        let env = Environment::from_pairs([("SET", "value")]);
        let refs = find_references("a: ${SET}\nb: ${UNSET}\nc: ${DEFAULTED:-x}\n");
        let (properties, unset) = env.properties_for(&refs);
        assert_eq!(properties.get("SET").map(String::as_str), Some("value"));
        assert_eq!(
            properties.get("UNSET").map(String::as_str),
            Some("${UNSET}")
        );
        assert!(!properties.contains_key("DEFAULTED"));
        assert_eq!(unset.len(), 1);
        assert_eq!(
            env.secrets_in(&refs),
            [("value".to_owned(), "${SET}".to_owned())]
        );
    }
}
