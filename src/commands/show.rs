//! `stockrun show FILE`: what the store holds, newest first (or the dead-letter queue with
//! `--dead`), as a table for people or as JSON, NDJSON or CSV for programs (`output`).
//! `--series` and `--since` pick the items of one partition key and those inserted since a time;
//! `--columns` picks and orders the columns.

mod output;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

pub use self::output::{Format, Rows};
use crate::compile::Loaded;
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::exit::UsageError;
use crate::runtime::backend::Backend;

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
    /// How to print the rows.
    pub format: Format,
    /// Only items inserted at or after this.
    pub since: Option<Since>,
    /// Only items of this partition key value.
    pub series: Option<String>,
    /// These columns, in this order, instead of all.
    pub columns: Option<Vec<String>>,
}

/// `show --since`: a time, or a duration back from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Since {
    /// This long before now, such as `2h`.
    Ago(Duration),
    /// From this time on.
    At(DateTime<Utc>),
}

impl Since {
    /// Reads `2h`, `7d` (a duration), `2024-03-18` (midnight UTC) or an RFC 3339 time.
    pub fn parse(text: &str) -> Result<Since, String> {
        if let Ok(duration) = humantime::parse_duration(text) {
            return Ok(Since::Ago(duration));
        }
        if let Ok(time) = DateTime::parse_from_rfc3339(text) {
            return Ok(Since::At(time.to_utc()));
        }
        if let Some(midnight) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
        {
            return Ok(Since::At(midnight.and_utc()));
        }
        Err(format!(
            "`{text}` is neither a duration (`2h`, `7d`) nor a time (`2024-03-18`, `2024-03-18T10:00:00Z`)"
        ))
    }

    /// The time it stands for, given the time now.
    pub fn from(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Since::Ago(duration) => now - chrono::Duration::from_std(duration).unwrap_or_default(),
            Since::At(time) => time,
        }
    }
}

/// Prints the rows to `out` (the pipeline's warnings go to stderr first).
pub async fn run(options: &Options, env: &Environment, out: &mut impl Write) -> anyhow::Result<()> {
    let loaded = super::load_pipeline(&options.file, env, UnsetVariables::Warn)?;
    options.backend.ready().await?;
    if options.dead {
        return dead(options, &loaded, out).await;
    }
    let pipeline = &loaded.pipeline;
    let all = columns_of(&loaded);
    let columns = pick(&all, options.columns.as_deref())?;
    let store = options.backend.existing_store(pipeline)?;
    let filtered = options.since.is_some() || options.series.is_some();
    let (items, total) = if filtered {
        let from = options.since.map(|since| since.from(Utc::now()));
        let inserted_at = &pipeline.store.inserted_at.value;
        // Each item's insert time, parsed: the filter and the order (newest first).
        let mut matching: Vec<_> = store
            .history(None, options.series.as_deref())
            .await?
            .into_iter()
            .filter_map(|item| {
                let at = item
                    .attributes
                    .get(inserted_at)
                    .and_then(Value::as_str)
                    .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                    .map(|at| at.to_utc());
                match (from, at) {
                    (Some(from), Some(at)) if at < from => None,
                    (Some(_), None) => None,
                    _ => Some((at, item)),
                }
            })
            .collect();
        matching.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        let total = matching.len() as u64;
        let items = matching
            .into_iter()
            .take(options.limit)
            .map(|(_, item)| item);
        (items.collect::<Vec<_>>(), total)
    } else {
        (store.recent(options.limit).await?, store.count().await?)
    };
    let rows = Rows {
        rows: items
            .iter()
            .map(|item| {
                columns
                    .iter()
                    .map(|name| item.attributes.get(name).cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .collect(),
        columns,
    };
    rows.write(options.format, out)?;
    if options.format == Format::Table {
        let of = if filtered { " matching" } else { "" };
        writeln!(
            out,
            "{} of {total}{of} item(s) in table `{}`, newest first",
            rows.rows.len(),
            pipeline.store.table.value
        )?;
    }
    Ok(())
}

/// Prints the dead letters (see `Backend::dead_letters`). A reason the queue did not keep (SQS
/// keeps none) is worked out again by processing the body with the pipeline as it is now.
async fn dead(options: &Options, loaded: &Loaded, out: &mut impl Write) -> anyhow::Result<()> {
    let all: Vec<String> = ["id", "receives", "reason", "message"]
        .map(str::to_owned)
        .to_vec();
    let columns = pick(&all, options.columns.as_deref())?;
    let dead = options
        .backend
        .dead_letters(&loaded.pipeline, options.limit)
        .await?;
    let redact = |text: &str| loaded.redactor.redact(text).into_owned();
    let rows = dead
        .letters
        .iter()
        .map(|letter| {
            let reason = match &letter.last_error {
                Some(reason) => reason.clone(),
                None => match loaded.processor.process(&letter.body) {
                    Err(poison) => poison.reason,
                    Ok(_) => "none now: the body processes; it was dead-lettered after deliveries that failed for another reason (such as the store failing)".to_owned(),
                },
            };
            let message = if options.format == Format::Table {
                truncate(&letter.body, 120)
            } else {
                letter.body.clone()
            };
            columns
                .iter()
                .map(|name| match name.as_str() {
                    "id" => Value::String(letter.id.clone()),
                    "receives" => Value::from(letter.receive_count),
                    "reason" => Value::String(redact(&reason)),
                    _ => Value::String(redact(&message)),
                })
                .collect()
        })
        .collect();
    let rows = Rows { columns, rows };
    rows.write(options.format, out)?;
    if options.format == Format::Table {
        writeln!(
            out,
            "{} dead-lettered message(s) in queue `{}`",
            dead.total,
            crate::naming::queue_name(&loaded.pipeline)
        )?;
    }
    Ok(())
}

/// The store's columns: the key attributes, the fields, then the insert time.
fn columns_of(loaded: &Loaded) -> Vec<String> {
    let store = &loaded.pipeline.store;
    let mut columns: Vec<String> = vec![store.key.partition.name.value.clone()];
    if let Some(sort) = &store.key.sort {
        columns.push(sort.name.value.clone());
    }
    for name in loaded.pipeline.process.fields.keys() {
        if !columns.contains(name) {
            columns.push(name.clone());
        }
    }
    columns.push(store.inserted_at.value.clone());
    columns
}

/// `--columns`, each one of `all` (else a usage error naming them), or `all`.
fn pick(all: &[String], asked: Option<&[String]>) -> Result<Vec<String>, UsageError> {
    let Some(asked) = asked else {
        return Ok(all.to_vec());
    };
    match asked.iter().find(|name| !all.contains(name)) {
        Some(unknown) => Err(UsageError(format!(
            "--columns: there is no column `{unknown}`; the columns are {}",
            all.join(", ")
        ))),
        None => Ok(asked.to_vec()),
    }
}

/// `text` cut after `max` characters, with `…` when it was longer (a long body in a table).
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_durations_dates_and_times() {
        assert_eq!(
            Since::parse("2h"),
            Ok(Since::Ago(Duration::from_secs(7200)))
        );
        let at = |text: &str| match Since::parse(text) {
            Ok(Since::At(time)) => time.to_rfc3339(),
            other => panic!("{other:?}"),
        };
        assert_eq!(at("2024-03-18"), "2024-03-18T00:00:00+00:00");
        assert_eq!(at("2024-03-18T12:00:00+05:30"), "2024-03-18T06:30:00+00:00");
        assert!(Since::parse("yesterday").is_err());
    }

    #[test]
    fn an_unknown_column_names_the_ones_there_are() {
        let all = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(pick(&all, Some(&["b".to_owned()])).unwrap(), ["b"]);
        let error = pick(&all, Some(&["c".to_owned()])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--columns: there is no column `c`; the columns are a, b"
        );
    }
}
