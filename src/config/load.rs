//! Loading a pipeline: bytes → UTF-8 → environment substitution → typed model, keeping every
//! value's position, then the config-level checks ([`parse`]); after the stages' own checks
//! (`crate::compile`), [`Parsed::finish`] places, redacts and sorts every diagnostic. Problems
//! are collected, never fatal one by one.

use std::marker::PhantomData;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::{Options, PropertySyntax};

use super::env::{Environment, find_references};
use super::located::Position;
use super::model::{Chart, Feed, Notify, Pipeline, Process, Queue, Source, Store};
use super::yaml_error::diagnostic_from_yaml;
use super::{Located, validate};
use crate::diag::Diagnostic;

/// What an environment variable that is used but unset means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsetVariables {
    /// A warning: `validate` must work in CI, where secrets are not set.
    Warn,
    /// An error: `run` cannot call an API without its key.
    Deny,
}

/// The outcome of loading one pipeline file.
#[derive(Debug)]
pub struct Checked {
    /// The pipeline, when the file has no errors.
    pub pipeline: Option<Pipeline>,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// The sections of a pipeline that parsed, for checks that can still run when others did not.
#[derive(Debug, Default)]
pub struct Sections {
    /// `name`.
    pub name: Option<Located<String>>,
    /// `source`.
    pub source: Option<Source>,
    /// `feeds` (empty when absent).
    pub feeds: Option<Vec<Located<Feed>>>,
    /// `queue`.
    pub queue: Option<Queue>,
    /// `process`.
    pub process: Option<Process>,
    /// `store`.
    pub store: Option<Store>,
    /// `notify`; `Some(None)` when the pipeline sends no e-mail.
    pub notify: Option<Option<Notify>>,
    /// `chart`; `Some(None)` when absent.
    pub chart: Option<Option<Chart>>,
}

impl From<Pipeline> for Sections {
    fn from(p: Pipeline) -> Sections {
        Sections {
            name: Some(p.name),
            source: Some(p.source),
            feeds: Some(p.feeds),
            queue: Some(p.queue),
            process: Some(p.process),
            store: Some(p.store),
            notify: Some(p.notify),
            chart: Some(p.chart),
        }
    }
}

impl Sections {
    /// The whole pipeline, when every section parsed.
    fn into_pipeline(self) -> Option<Pipeline> {
        Some(Pipeline {
            name: self.name?,
            source: self.source?,
            feeds: self.feeds?,
            queue: self.queue?,
            process: self.process?,
            store: self.store?,
            notify: self.notify?,
            chart: self.chart?,
        })
    }
}

/// Loads a pipeline from the bytes of a file and runs the config-level checks (see
/// [`parse`]); `crate::compile::check` adds the checks of the stages that run it.
pub fn check(bytes: &[u8], env: &Environment, unset: UnsetVariables) -> Checked {
    parse(bytes, env, unset).finish(Vec::new())
}

/// A file read as far as it goes: every section that parsed, and what the config-level checks
/// found. The stages' checks come next, then [`Parsed::finish`].
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The sections that parsed.
    pub sections: Sections,
    /// The file's text (empty when it is not UTF-8).
    text: &'a str,
    /// Whether the whole file parsed as a pipeline (not only some sections).
    parsed_whole: bool,
    /// What was found so far.
    diagnostics: Vec<Diagnostic>,
    /// Substituted values and the `${NAME}` each came from, hidden from every message.
    secrets: Vec<(String, String)>,
}

/// Reads a pipeline from the bytes of a file: UTF-8, environment substitution, YAML into the
/// typed model (each section on its own when the whole does not parse), then the config-level
/// checks: names, limits, keys, addresses, secrets and template scopes.
pub fn parse<'a>(bytes: &'a [u8], env: &Environment, unset: UnsetVariables) -> Parsed<'a> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            return Parsed {
                sections: Sections::default(),
                text: "",
                parsed_whole: false,
                diagnostics: vec![not_utf8(bytes, err.valid_up_to())],
                secrets: Vec::new(),
            };
        }
    };
    let references = find_references(text);
    let (properties, unset_refs) = env.properties_for(&references);
    let mut diagnostics: Vec<Diagnostic> = unset_refs
        .iter()
        .map(|r| {
            let empty = env.get(&r.name).is_some();
            unset_variable(r.position, &r.name, empty, unset)
        })
        .collect();

    let mut options = Options::default().with_properties(properties);
    options.property_syntax = PropertySyntax::Braced;
    options.strict_booleans = true;
    options.with_snippet = false;

    let parsed = explained(&options, |options| {
        serde_saphyr::from_str_with_options::<Pipeline>(text, options)
    });
    let (parsed_whole, mut sections) = match parsed {
        Ok(pipeline) => (true, Sections::from(pipeline)),
        Err(err) => {
            diagnostics.push(diagnostic_from_yaml(&err, text));
            (false, parse_sections(text, &options, &mut diagnostics))
        }
    };
    if let Some(source) = &mut sections.source {
        diagnostics.extend(encode_url_values(&mut source.url, text, env));
    }
    diagnostics.extend(validate::check(&sections, text));
    Parsed {
        sections,
        text,
        parsed_whole,
        diagnostics,
        secrets: env.secrets_in(&references),
    }
}

impl Parsed<'_> {
    /// Adds what the stages found (`more`) and finishes every diagnostic: places those inside
    /// values at their file line and column, hides substituted secrets, shortens long quotes,
    /// sorts them in file order and drops repeats. The pipeline is kept when the whole file
    /// parsed and nothing is an error.
    pub fn finish(self, more: Vec<Diagnostic>) -> Checked {
        let Parsed {
            sections,
            text,
            parsed_whole,
            mut diagnostics,
            secrets,
        } = self;
        diagnostics.extend(more);
        for diagnostic in &mut diagnostics {
            if let Some(inside) = diagnostic.inside.take() {
                let at = validate::position_within(
                    text,
                    inside.at,
                    &inside.value,
                    inside.line,
                    inside.column,
                );
                diagnostic.line = at.line;
                diagnostic.column = at.column;
            }
            redact(&mut diagnostic.message, &secrets);
            diagnostic.message = crate::diag::shorten_quotes(&diagnostic.message);
            if let Some(help) = &mut diagnostic.help {
                redact(help, &secrets);
                *help = crate::diag::shorten_quotes(help);
            }
        }
        diagnostics.sort_by_key(|d| (d.line, d.column, d.severity));
        diagnostics.dedup();
        crate::diag::redact_secret_lines(&mut diagnostics);
        let has_errors = diagnostics.iter().any(Diagnostic::is_error);
        let pipeline = if parsed_whole && !has_errors {
            sections.into_pipeline()
        } else {
            None
        };
        Checked {
            pipeline,
            diagnostics,
        }
    }
}

/// Parses each section on its own, so one broken section does not hide the problems of the others.
fn parse_sections(text: &str, options: &Options, diagnostics: &mut Vec<Diagnostic>) -> Sections {
    let mut parse = SectionParser {
        text,
        options,
        diagnostics,
        over_budget: false,
    };
    Sections {
        name: parse.value("name").flatten(),
        source: parse.value("source").flatten(),
        feeds: parse.value("feeds").map(Option::unwrap_or_default),
        queue: parse.value("queue").map(Option::unwrap_or_default),
        process: parse.value("process").flatten(),
        store: parse.value("store").flatten(),
        notify: parse.value("notify"),
        chart: parse.value("chart"),
    }
}

/// Parses top-level keys one at a time; their errors go to `diagnostics`.
struct SectionParser<'a> {
    text: &'a str,
    options: &'a Options,
    diagnostics: &'a mut Vec<Diagnostic>,
    /// Set when a section broke the parser's limits (an alias bomb, a runaway list): every
    /// other section would too, since each parse reads the whole file, so they are skipped.
    over_budget: bool,
}

impl SectionParser<'_> {
    /// `None` when the section is broken (or not parsed, over budget), `Some(None)` when it is
    /// absent.
    fn value<T: for<'de> Deserialize<'de>>(&mut self, key: &'static str) -> Option<Option<T>> {
        if self.over_budget {
            return None;
        }
        explained(self.options, |options| section(self.text, options, key))
            .map_err(|err| {
                self.over_budget |=
                    matches!(err.without_snippet(), serde_saphyr::Error::Budget { .. });
                self.diagnostics.push(diagnostic_from_yaml(&err, self.text));
            })
            .ok()
    }
}

/// Runs `parse`, and when it fails, explains the failure with the clearest error available.
///
/// Once a document has substituted any variable, serde-saphyr replaces the text of later errors
/// with "invalid interpolated scalar value" (it cannot tell whether the message quotes a secret).
/// The same parse without substitution reads `${VAR}` literally, so its error quotes no secret:
/// when it fails at the same place, its message is used instead.
fn explained<T>(
    options: &Options,
    parse: impl Fn(Options) -> Result<T, serde_saphyr::Error>,
) -> Result<T, serde_saphyr::Error> {
    let err = match parse(options.clone()) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    let mut literal = options.clone();
    literal.property_map = None;
    match parse(literal) {
        Err(plain) if plain.location() == err.location() => Err(plain),
        _ => Err(err),
    }
}

/// Deserializes the value of one top-level key, skipping the others.
fn section<T: for<'de> Deserialize<'de>>(
    text: &str,
    options: Options,
    key: &'static str,
) -> Result<Option<T>, serde_saphyr::Error> {
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        SectionSeed::<T> {
            key,
            marker: PhantomData,
        }
        .deserialize(de)
    })
}

struct SectionSeed<T> {
    key: &'static str,
    marker: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for SectionSeed<T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for SectionSeed<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a pipeline (a mapping)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.key && found.is_none() {
                found = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

fn not_utf8(bytes: &[u8], valid_up_to: usize) -> Diagnostic {
    let before = String::from_utf8_lossy(&bytes[..valid_up_to]);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Diagnostic::error(
        Position {
            line,
            column,
            offset: Some(valid_up_to),
            len: None,
        },
        format!(
            "the file is not UTF-8 text (invalid byte 0x{:02x})",
            bytes[valid_up_to]
        ),
    )
    .help("save the file as UTF-8")
}

/// Percent-encodes the environment values in `url`'s path, query and fragment
/// ([`Environment::encode_in_url`]), from the URL as written at its position in `text`. The
/// problem is a value in the host that would change where the request goes.
fn encode_url_values(
    url: &mut Located<String>,
    text: &str,
    env: &Environment,
) -> Option<Diagnostic> {
    let (Some(offset), Some(len)) = (url.position.offset, url.position.len) else {
        return None;
    };
    let raw = text.get(offset..offset + len)?;
    match env.encode_in_url(raw, &url.value) {
        Ok(Some(encoded)) => {
            url.value = encoded;
            None
        }
        Ok(None) => None,
        Err(name) => Some(
            Diagnostic::error(
                url.position,
                format!(
                    "`${{{name}}}` is in the URL's host, and its value holds `/`, `?`, `#`, `@`, `\\`, a space or a control character"
                ),
            )
            .at("source.url")
            .help(format!(
                "a value in the host is inserted as written, so it must be only a host name (and `:port`); to take a whole base URL from the environment, start the URL with it: `url: ${{{name}}}/quotes`"
            )),
        ),
    }
}

/// The diagnostic of a `${NAME}` without a fallback whose variable is unset, or set but `empty`.
fn unset_variable(
    position: Position,
    name: &str,
    empty: bool,
    unset: UnsetVariables,
) -> Diagnostic {
    let message = if empty {
        format!("environment variable `{name}` is set but empty")
    } else {
        format!("environment variable `{name}` is not set")
    };
    let help =
        format!("export {name}=… before `stockrun run`, or give a default: ${{{name}:-value}}");
    match unset {
        UnsetVariables::Warn => Diagnostic::warning(position, message),
        UnsetVariables::Deny => Diagnostic::error(position, message),
    }
    .help(help)
}

/// Replaces every substituted value in `text` by the `${NAME}` it came from.
fn redact(text: &mut String, secrets: &[(String, String)]) {
    for (value, reference) in secrets {
        if text.contains(value.as_str()) {
            *text = text.replace(value.as_str(), reference);
        }
    }
}
