//! `stockrun show FILE`: what the store holds, newest first, as an aligned table (or the
//! dead-letter queue with `--dead`). Every cell is shown with its control characters escaped
//! ([`visible::one_line`]): values come from the API, and must not drive the terminal.

use std::io::Write;
use std::path::PathBuf;

use comfy_table::{Table, presets};
use serde_json::Value;

use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::runtime::backend::Backend;
use crate::visible;

/// What `show` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pipeline file.
    pub file: PathBuf,
    /// Where the stages run.
    pub backend: Backend,
    /// At most this many rows.
    pub limit: usize,
    /// List the dead-letter queue instead of the store.
    pub dead: bool,
}

/// Prints the table to `out` (the pipeline's warnings go to stderr first).
pub async fn run(options: &Options, env: &Environment, out: &mut impl Write) -> anyhow::Result<()> {
    let loaded = super::load_pipeline(&options.file, env, UnsetVariables::Warn)?;
    let pipeline = &loaded.pipeline;
    if options.dead {
        let queue = options.backend.existing_local_queue(pipeline)?;
        let dead = queue.dead_letters().await?;
        let mut table = table(["id", "receives", "reason", "message"]);
        for letter in dead.iter().rev().take(options.limit) {
            table.add_row([
                cell(&letter.id),
                letter.receive_count.to_string(),
                cell(
                    &loaded
                        .redactor
                        .redact(letter.last_error.as_deref().unwrap_or("")),
                ),
                cell(&loaded.redactor.redact(&truncate(&letter.body, 120))),
            ]);
        }
        writeln!(out, "{}", table.trim_fmt())?;
        writeln!(
            out,
            "{} dead-lettered message(s) in queue `{}`",
            dead.len(),
            crate::naming::queue_name(pipeline)
        )?;
        return Ok(());
    }
    let store = options.backend.existing_store(pipeline)?;
    let items = store.recent(options.limit).await?;
    let total = store.count().await?;
    let mut columns: Vec<String> = vec![pipeline.store.key.partition.name.value.clone()];
    if let Some(sort) = &pipeline.store.key.sort {
        columns.push(sort.name.value.clone());
    }
    for name in pipeline.process.fields.keys() {
        if !columns.contains(name) {
            columns.push(name.clone());
        }
    }
    columns.push(pipeline.store.inserted_at.value.clone());
    let header: Vec<String> = columns.iter().map(|name| cell(name)).collect();
    let mut table = table(header.iter().map(String::as_str));
    for item in &items {
        table.add_row(columns.iter().map(|name| match item.attributes.get(name) {
            Some(Value::String(text)) => cell(text),
            Some(Value::Null) | None => String::new(),
            // JSON text: serde_json already escapes control characters in strings.
            Some(other) => cell(&other.to_string()),
        }));
    }
    writeln!(out, "{}", table.trim_fmt())?;
    writeln!(
        out,
        "{} of {total} item(s) in table `{}`, newest first",
        items.len(),
        pipeline.store.table.value
    )?;
    Ok(())
}

fn table<'a>(header: impl IntoIterator<Item = &'a str>) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header(header);
    table
}

/// A value as a table cell: on one line, control characters escaped.
fn cell(text: &str) -> String {
    visible::one_line(text).into_owned()
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
