//! The processor: one queued message → the typed fields the pipeline keeps and the key it is
//! stored under. Pure code (no I/O), so the consumer, the Lambda handler and the benchmarks share
//! it. A record that cannot be processed is a [`Poison`] record with the reason.

mod fields;
mod incoming;
mod key;
pub mod number;
pub mod timestamp;

#[cfg(test)]
mod tests;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use self::fields::{Around, CompiledField, Failure};
use self::key::KeyRenderer;
use crate::config::model::{Process, TableKey};
use crate::diag::Diagnostic;

/// A processed record: what is stored and what the e-mail templates see.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The rendered table key.
    pub key: Key,
    /// The picked fields in the order the pipeline declares them; a missing optional field is
    /// absent. Values: strings (also timestamps, RFC 3339 UTC), exact numbers, booleans.
    pub fields: IndexMap<String, Value>,
    /// The feed the record was fetched for (empty without `feeds`).
    pub feed: Map<String, Value>,
}

/// A record's table key, rendered from `store.key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    /// The partition key's value.
    pub partition: String,
    /// The sort key's value, when the table has one.
    pub sort: Option<String>,
}

/// A record that cannot be processed, and why. It is retried, then dead-lettered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Poison {
    /// What is wrong, naming the field and the value's JSONPath (never a secret).
    pub reason: String,
}

/// Everything compiled once from the pipeline: JSONPaths, timestamp formats, key templates.
#[derive(Clone)]
pub struct Processor {
    pipeline: String,
    fields: Vec<CompiledField>,
    /// The record members the fields can reach, when their paths all start with a name.
    members: Option<Vec<String>>,
    key: KeyRenderer,
}

impl Processor {
    /// Compiles `process.fields` and `store.key` for the pipeline named `pipeline`. The error
    /// is every diagnostic: each field's JSONPath, format and time zone, and the key templates.
    pub fn new(
        pipeline: &str,
        process: &Process,
        key: &TableKey,
    ) -> Result<Processor, Vec<Diagnostic>> {
        let fields = compile_fields(process);
        let names: Vec<&str> = process.fields.keys().map(String::as_str).collect();
        match (fields, KeyRenderer::new(key, &names)) {
            (Ok(fields), Ok(key)) => Ok(Processor {
                pipeline: pipeline.to_owned(),
                members: record_members(&fields),
                fields,
                key,
            }),
            (fields, key) => Err(fields
                .err()
                .into_iter()
                .chain(key.err())
                .flatten()
                .collect()),
        }
    }

    /// The diagnostics of `process.fields` alone, for a pipeline whose `store` section is
    /// broken (the key cannot be compiled, the fields still can).
    pub fn check_fields(process: &Process) -> Vec<Diagnostic> {
        compile_fields(process).err().unwrap_or_default()
    }

    /// Processes one queued message body: the JSON of a [`Message`](crate::message::Message)
    /// for this pipeline.
    ///
    /// Every field is picked and converted; a required field that is missing or cannot be
    /// converted makes the record poison (the reason lists all of them), an optional one is
    /// left out (and logged when its value could not be converted). Then the key is rendered.
    pub fn process(&self, body: &str) -> Result<Record, Poison> {
        let message = parse_message(body, self.members.as_deref())?;
        if message.pipeline != self.pipeline {
            return Err(Poison {
                reason: format!(
                    "the message is for pipeline `{}`, this is `{}`",
                    message.pipeline, self.pipeline
                ),
            });
        }
        let mut fields = IndexMap::with_capacity(self.fields.len());
        let mut problems = Vec::new();
        let around = Around {
            member: message.member.as_deref(),
            root: &message.root,
        };
        for field in &self.fields {
            match field.pick(&message.record, around) {
                Ok(value) => {
                    fields.insert(field.name.clone(), value);
                }
                Err(Failure::Missing) if field.required => {
                    problems.push(format!("`{}` ({}) is missing", field.name, field.path))
                }
                Err(Failure::Missing) => {}
                Err(Failure::Invalid { shown, reason }) if field.required => problems.push(
                    format!("`{}` ({}): {shown}: {reason}", field.name, field.path),
                ),
                Err(Failure::Invalid { shown, reason }) => {
                    tracing::warn!(
                        pipeline = %self.pipeline,
                        field = %field.name,
                        path = %field.path,
                        value = %shown,
                        reason = %reason,
                        "optional field not converted: left out of the record",
                    );
                }
            }
        }
        if !problems.is_empty() {
            let noun = if problems.len() == 1 {
                "field"
            } else {
                "fields"
            };
            return Err(Poison {
                reason: format!("required {noun} {}", problems.join("; ")),
            });
        }
        let key = self.key.render(&fields, &message.feed)?;
        Ok(Record {
            key,
            fields,
            feed: message.feed,
        })
    }
}

/// Every field compiled, or every problem found.
fn compile_fields(process: &Process) -> Result<Vec<CompiledField>, Vec<Diagnostic>> {
    let mut fields = Vec::with_capacity(process.fields.len());
    let mut problems = Vec::new();
    for (name, field) in process.fields.iter() {
        match CompiledField::new(name, field) {
            Ok(field) => fields.push(field),
            Err(found) => problems.extend(found),
        }
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(problems)
    }
}

/// The record members that `fields` read, when every path in the record starts with a member
/// name (`root` and `member_name` fields read none).
fn record_members(fields: &[CompiledField]) -> Option<Vec<String>> {
    let mut members: Vec<String> = Vec::with_capacity(fields.len());
    for field in fields.iter().filter(|field| field.reads_record()) {
        let name = field.first_name()?;
        if !members.iter().any(|m| m == name) {
            members.push(name.to_owned());
        }
    }
    Some(members)
}

/// The message in a body: not JSON, or JSON of another shape, is poison.
fn parse_message(body: &str, members: Option<&[String]>) -> Result<incoming::Incoming, Poison> {
    incoming::parse(body, members).map_err(|err| {
        let what = match err.classify() {
            serde_json::error::Category::Data => "is not a stockrun message",
            _ => "is not JSON",
        };
        Poison {
            reason: format!("the message body {what}: {err}"),
        }
    })
}
