//! `stockrun echo`: the pipeline as stockrun reads it, every default filled in and every
//! `${VAR}` substituted, printed as a pipeline file (YAML or JSON). Secrets never show: the
//! values of the secret variables (those `deploy-template` makes `NoEcho` parameters), every
//! value of a secret-looking header and the credentials in the URL (its password,
//! `apikey=`-like query parameters) are written `<redacted>`. The output
//! is itself a valid pipeline, and echoing it again prints the same text.

use std::io::Write;
use std::path::PathBuf;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::compile::{LoadError, load_bytes};
use crate::config::Pipeline;
use crate::config::env::{EnvReference, Environment, find_references};
use crate::config::load::UnsetVariables;
use crate::config::model::redacted_url;
use crate::exit::ExitStatus;
use crate::redact::{Redactor, is_secret_name};

/// What a secret is shown as.
const REDACTED: &str = "<redacted>";

/// How the pipeline is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML, as a pipeline file is written.
    Yaml,
    /// JSON, pretty-printed.
    Json,
}

/// What `echo` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pipeline file.
    pub file: PathBuf,
    /// The output format.
    pub format: Format,
}

/// Loads the pipeline (an unset `${VAR}` is a warning and stays as written) and prints it
/// resolved. An invalid pipeline is an error (exit 1), as for every command that loads one.
pub fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    let bytes = crate::config::file::read(&options.file).map_err(LoadError::from)?;
    let loaded = load_bytes(&options.file, &bytes, env, UnsetVariables::Warn)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    let redactor = secrets(&loaded.pipeline, &String::from_utf8_lossy(&bytes), env);
    let mut pipeline = loaded.pipeline.clone();
    for (name, value) in &mut pipeline.source.headers {
        if is_secret_name(name) {
            value.value = REDACTED.to_owned();
        }
    }
    pipeline.source.url.value = redacted_url(&pipeline.source.url);
    let mut value = serde_json::to_value(&pipeline)?;
    redact_strings(&mut value, &redactor);
    match options.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)?;
        }
        Format::Yaml => write!(out, "{}", serde_saphyr::to_string(&Plain(&value))?)?,
    }
    Ok(ExitStatus::Success)
}

/// What the secret variables hold, each shown as `<redacted>`: those `deploy-template` makes
/// `NoEcho` parameters (by their name, or because they sit in a credential header or query
/// parameter). The values of the other variables are shown, substituted.
fn secrets(pipeline: &Pipeline, text: &str, env: &Environment) -> Redactor {
    let references = find_references(text);
    let secret: Vec<String> = crate::deploy::parameters::variables(pipeline, text, &references)
        .into_iter()
        .filter(|variable| variable.secret)
        .map(|variable| variable.name)
        .collect();
    let references: Vec<EnvReference> = references
        .into_iter()
        .filter(|reference| secret.contains(&reference.name))
        .collect();
    Redactor::new(env.secrets_in(&references)).showing_all_as(REDACTED)
}

/// Replaces every secret in every string of `value`, keys included.
fn redact_strings(value: &mut Value, redactor: &Redactor) {
    match value {
        Value::String(text) => *text = redactor.redact(text).into_owned(),
        Value::Array(values) => values
            .iter_mut()
            .for_each(|value| redact_strings(value, redactor)),
        Value::Object(members) => {
            let redacted = std::mem::take(members)
                .into_iter()
                .map(|(key, mut value)| {
                    redact_strings(&mut value, redactor);
                    (redactor.redact(&key).into_owned(), value)
                })
                .collect();
            *members = redacted;
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A JSON value serialised with plain numbers: with `arbitrary_precision` a `serde_json::Number`
/// serialises as a private map, which a YAML writer would print as one. The pipeline's numbers
/// are whole (counts, sizes), so they are written as integers.
struct Plain<'a>(&'a Value);

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(value) => serializer.serialize_bool(*value),
            Value::Number(number) => match (number.as_u64(), number.as_i64(), number.as_f64()) {
                (Some(whole), _, _) => serializer.serialize_u64(whole),
                (None, Some(whole), _) => serializer.serialize_i64(whole),
                (None, None, Some(real)) => serializer.serialize_f64(real),
                (None, None, None) => serializer.serialize_str(&number.to_string()),
            },
            Value::String(text) => serializer.serialize_str(text),
            Value::Array(values) => {
                let mut seq = serializer.serialize_seq(Some(values.len()))?;
                for value in values {
                    seq.serialize_element(&Plain(value))?;
                }
                seq.end()
            }
            Value::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, &Plain(value))?;
                }
                map.end()
            }
        }
    }
}
