//! The pipeline's `${VAR}` references as template parameters, passed to the function as
//! environment variables of the same name. Secrets (by their name, or because they sit in a
//! credential header or query parameter) are `NoEcho` parameters without a default; the others
//! take the `${VAR:-default}` default when every reference agrees on one. No value of the
//! current environment is ever read here.

use std::collections::BTreeMap;

use crate::config::Pipeline;
use crate::config::env::EnvReference;
use crate::config::located::Position;
use crate::redact::is_secret_name;

/// One variable the pipeline references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    /// The environment variable, such as `API_KEY`.
    pub name: String,
    /// Its parameter's logical id, such as `ApiKey`.
    pub parameter: String,
    /// Whether it holds a credential.
    pub secret: bool,
    /// The default every reference gives (`${VAR:-default}`), if they all give the same one.
    pub default: Option<String>,
}

/// The variables `references` (found in `text`, the pipeline file) name, in name order.
pub fn variables(pipeline: &Pipeline, text: &str, references: &[EnvReference]) -> Vec<Variable> {
    let mut by_name: BTreeMap<&str, Vec<&EnvReference>> = BTreeMap::new();
    for reference in references {
        by_name.entry(&reference.name).or_default().push(reference);
    }
    by_name
        .into_iter()
        .map(|(name, refs)| {
            let secret = is_secret_name(name)
                || refs
                    .iter()
                    .any(|r| in_credential(pipeline, text, r.position));
            let defaults: Vec<Option<&str>> = refs
                .iter()
                .map(|r| default_of(text, r.position, name))
                .collect();
            let default = match defaults.first().copied() {
                Some(Some(first)) if !secret && defaults.iter().all(|d| *d == Some(first)) => {
                    Some(first.to_owned())
                }
                _ => None,
            };
            Variable {
                name: name.to_owned(),
                parameter: parameter_name(name),
                secret,
                default,
            }
        })
        .collect()
}

/// `API_KEY` → `ApiKey` (logical ids are letters and digits).
pub fn parameter_name(variable: &str) -> String {
    let name: String = variable
        .split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    if name.is_empty() {
        "Variable".to_owned()
    } else {
        name
    }
}

/// The `default` of `${NAME:-default}` or `${NAME-default}` at `position`.
fn default_of<'t>(text: &'t str, position: Position, name: &str) -> Option<&'t str> {
    let rest = text.get(position.offset? + 2 + name.len()..)?;
    let rest = rest.strip_prefix(":-").or_else(|| rest.strip_prefix('-'))?;
    rest.find('}').map(|end| &rest[..end])
}

/// Whether `position` is inside the value of a header or URL query parameter whose name says it
/// carries a credential (`X-Api-Key: ${API_KEY}`, `?apikey=${K}`).
fn in_credential(pipeline: &Pipeline, text: &str, position: Position) -> bool {
    let Some(at) = position.offset else {
        return false;
    };
    let inside = |value: Position| matches!((value.offset, value.len), (Some(start), Some(len)) if (start..start + len).contains(&at));
    let in_header = pipeline
        .source
        .headers
        .iter()
        .any(|(name, value)| is_secret_name(name) && inside(value.position));
    let url = pipeline.source.url.position;
    let in_query = inside(url)
        && url
            .offset
            .and_then(|start| text.get(start..at))
            .is_some_and(|before| {
                let parameter = before.rsplit(['?', '&']).next().unwrap_or_default();
                parameter
                    .split_once('=')
                    .is_some_and(|(key, _)| is_secret_name(key))
            });
    in_header || in_query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names_are_pascal_case() {
        assert_eq!(parameter_name("RAPIDAPI_KEY"), "RapidapiKey");
        assert_eq!(parameter_name("TABLE"), "Table");
        assert_eq!(parameter_name("_a__b2_"), "AB2");
        assert_eq!(parameter_name("_"), "Variable");
    }

    #[test]
    fn defaults_are_read_from_the_reference() {
        let text = "a: ${HOST:-api.example.com}/x\nb: ${P-1}\nc: ${Q}\nd: ${R:+y}\n";
        let refs = crate::config::env::find_references(text);
        let got: Vec<_> = refs
            .iter()
            .map(|r| default_of(text, r.position, &r.name))
            .collect();
        assert_eq!(got, [Some("api.example.com"), Some("1"), None, None]);
    }
}
