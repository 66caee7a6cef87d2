//! `stockrun backtest FILE`: replays the stored history of each series through the pipeline's
//! alert rules, exactly as live evaluation would (`alert::replay`, the live engine), and prints
//! per rule how many alerts would have fired per day, with the first few and the records that
//! raised them. Nothing is written and nothing is mailed: it is how a rule is tuned before it
//! mails anyone.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use comfy_table::{Table, presets};
use serde::Serialize;

use super::Format;
use crate::alert::engine::Engine;
use crate::alert::replay::replay_series;
use crate::alert::{Alert, AlertKind, Fields};
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::exit::ExitStatus;
use crate::process::timestamp::to_rfc3339;
use crate::runtime::backend::Backend;
use crate::visible;

/// How many alerts per rule are shown in full.
const EXAMPLES: usize = 3;

/// What `backtest` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pipeline file.
    pub file: PathBuf,
    /// Where the store is.
    pub backend: Backend,
    /// Replay only the records of the last this long (by each record's time).
    pub since: Option<std::time::Duration>,
    /// Replay only this series (a partition key value).
    pub series: Option<String>,
    /// How to print.
    pub format: Format,
}

/// The result, as `--format json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    pipeline: String,
    series: usize,
    records: usize,
    since: Option<String>,
    rules: Vec<RuleReport>,
}

#[derive(Debug, Serialize)]
struct RuleReport {
    rule: String,
    fired: usize,
    resolved: usize,
    /// Alerts fired per day (UTC date).
    per_day: BTreeMap<String, usize>,
    /// The first few alerts, with the record that raised each.
    first: Vec<Example>,
}

#[derive(Debug, Serialize)]
struct Example {
    kind: AlertKind,
    series: String,
    sort: String,
    at: String,
    subject: String,
    record: Fields,
}

/// Replays the history and prints the report. Exit status 1 when the pipeline has no rules.
pub async fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    let loaded = super::load_pipeline(&options.file, env, UnsetVariables::Warn)?;
    let pipeline = &loaded.pipeline;
    let Some(rules) = &loaded.rules else {
        eprintln!(
            "stockrun: error: {} has no alert rules (`notify.rules`): nothing to replay",
            options.file.display()
        );
        return Ok(ExitStatus::Invalid);
    };
    let store = options.backend.existing_store(pipeline)?;
    let now = Utc::now();
    let since = options
        .since
        .map(|since| now - chrono::Duration::from_std(since).unwrap_or_default());
    // Windows at the start of the replay see the history before it, as they would have live.
    let read_from = since.map(|since| {
        since
            - rules.longest_window.map_or(chrono::Duration::zero(), |w| {
                chrono::Duration::from_std(w).unwrap_or_default()
            })
    });
    let sort_is_time = pipeline
        .store
        .key
        .sort
        .as_ref()
        .is_some_and(|sort| sort.value.trim() == format!("{{{{{}}}}}", rules.time_field));
    let lower_bound = read_from.filter(|_| sort_is_time).map(to_rfc3339);
    let items = store
        .history(lower_bound.as_deref(), options.series.as_deref())
        .await
        .context("cannot read the stored history")?;
    let engine = Engine::new(rules, &pipeline.store.inserted_at);
    let mut by_series: BTreeMap<String, Vec<(String, Fields)>> = BTreeMap::new();
    for item in items {
        if let Some(from) = read_from
            && engine.time_of(&item.attributes, now) < from
        {
            continue;
        }
        by_series
            .entry(item.partition)
            .or_default()
            .push((item.sort.unwrap_or_default(), item.attributes));
    }
    let mut records = 0;
    let mut raised: Vec<(Alert, Fields)> = Vec::new();
    for (series, history) in &mut by_series {
        history.sort_by(|a, b| a.0.cmp(&b.0));
        let counted = history
            .iter()
            .filter(|(_, fields)| since.is_none_or(|since| engine.time_of(fields, now) >= since))
            .count();
        records += counted;
        let fields_of: BTreeMap<&str, &Fields> = history
            .iter()
            .map(|(sort, fields)| (sort.as_str(), fields))
            .collect();
        for alert in replay_series(&engine, series, history, now) {
            if since.is_some_and(|since| alert.at < since) {
                continue;
            }
            let record = fields_of
                .get(alert.sort.as_str())
                .map(|fields| (*fields).clone())
                .unwrap_or_default();
            raised.push((alert, record));
        }
    }
    raised.sort_by_key(|(alert, _)| alert.at);
    let report = Report {
        pipeline: pipeline.name.value.clone(),
        series: by_series.len(),
        records,
        since: since.map(to_rfc3339),
        rules: rules
            .rules
            .iter()
            .map(|rule| rule_report(&rule.name, &raised))
            .collect(),
    };
    match options.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Text => print_text(&report, out)?,
    }
    Ok(ExitStatus::Success)
}

fn rule_report(rule: &str, raised: &[(Alert, Fields)]) -> RuleReport {
    let mine: Vec<&(Alert, Fields)> = raised.iter().filter(|(a, _)| a.rule == rule).collect();
    let mut per_day = BTreeMap::new();
    for (alert, _) in mine.iter().filter(|(a, _)| a.kind == AlertKind::Fired) {
        *per_day.entry(day(alert.at)).or_insert(0) += 1;
    }
    RuleReport {
        rule: rule.to_owned(),
        fired: mine
            .iter()
            .filter(|(a, _)| a.kind == AlertKind::Fired)
            .count(),
        resolved: mine
            .iter()
            .filter(|(a, _)| a.kind == AlertKind::Resolved)
            .count(),
        per_day,
        first: mine
            .iter()
            .take(EXAMPLES)
            .map(|(alert, record)| Example {
                kind: alert.kind,
                series: alert.series.clone(),
                sort: alert.sort.clone(),
                at: to_rfc3339(alert.at),
                subject: alert.subject.clone(),
                record: record.clone(),
            })
            .collect(),
    }
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

fn print_text(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "replayed {} record(s) of {} series{}",
        report.records,
        report.series,
        report
            .since
            .as_ref()
            .map_or(String::new(), |since| format!(" since {since}"))
    )?;
    for rule in &report.rules {
        writeln!(out)?;
        writeln!(
            out,
            "rule {}: fired {}, resolved {}",
            cell(&rule.rule),
            rule.fired,
            rule.resolved
        )?;
        if !rule.per_day.is_empty() {
            let mut table = Table::new();
            table
                .load_style(presets::NOTHING)
                .set_header(["day", "fired"]);
            for (day, count) in &rule.per_day {
                table.add_row([day.clone(), count.to_string()]);
            }
            writeln!(out, "{}", table.trim_fmt())?;
        }
        for example in &rule.first {
            let record = serde_json::to_string(&example.record).unwrap_or_default();
            writeln!(
                out,
                "  {} {} at {}: {}\n    record {}",
                match example.kind {
                    AlertKind::Fired => "fired",
                    AlertKind::Resolved => "resolved",
                },
                cell(&example.series),
                example.at,
                cell(&example.subject),
                cell(&record)
            )?;
        }
    }
    Ok(())
}

/// A value on one line, control characters escaped.
fn cell(text: &str) -> String {
    visible::one_line(text).into_owned()
}
