//! `run --dry-run` and `poll --dry-run`: one real poll, then, for `run`, the real batch lifecycle
//! (`runtime::batch::handle_batch`) on stages that keep everything in memory, and a report of
//! what would have been queued, stored, dead-lettered and mailed (each e-mail rendered). Nothing
//! is written anywhere: no state directory, queue, table, outbox, SMTP server or AWS call.
//!
//! What a dry run cannot know without reading the state, it does not guess: it compares with
//! nothing stored (every record counts as new, as on a first run), and it does not evaluate the
//! alert rules (they read the stored history and the rules' state).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::run::{Halves, Options};
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::exit::ExitStatus;
use crate::notify::{Email, Notifier, NotifyError};
use crate::queue::{Queue, QueueCounts, QueueError, Received};
use crate::redact::redact_registered;
use crate::runtime::Stages;
use crate::runtime::batch::{Acknowledge, handle_batch};
use crate::runtime::clock::BatchClock;
use crate::store::{Item, Store, StoreError};

/// Polls once and reports what `run` (or `poll`) would do with what came back, writing nothing.
/// `Failure` when every request failed, as for `--once`.
pub async fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    let loaded = super::load_pipeline(&options.file, env, UnsetVariables::Deny)?;
    let pipeline = &loaded.pipeline;
    let report = loaded.poller()?.poll_once().await;
    writeln!(
        out,
        "{}: dry run: nothing is queued, stored or mailed",
        pipeline.name.value
    )?;
    writeln!(
        out,
        "polled: {} requests, {} failed feeds, {} records",
        report.requests,
        report.failed_feeds,
        report.messages.len()
    )?;
    let bodies: Vec<String> = report.messages.iter().map(|m| m.to_body()).collect();
    section(out, "would queue", bodies.len(), "message")?;
    for body in &bodies {
        writeln!(out, "  {}", redact_registered(body))?;
    }
    let all_failed = report.messages.is_empty() && report.failed_feeds > 0;
    if options.halves == Halves::Poll {
        return Ok(ExitStatus::success_or(!all_failed, ExitStatus::Failure));
    }
    let recorder = Arc::new(Recorder::default());
    let stages = Stages {
        pipeline: pipeline.clone(),
        processor: loaded.processor.clone(),
        queue: Arc::new(Nowhere),
        store: Arc::new(InMemory::default()),
        templates: loaded.templates.clone(),
        notifier: loaded
            .templates
            .as_ref()
            .map(|_| Arc::clone(&recorder) as Arc<dyn Notifier>),
        alerts: None,
        clock: BatchClock::system(),
    };
    let received = as_received(&bodies);
    let batch_size = (*pipeline.queue.batch_size as usize).max(1);
    let mut poison: Vec<Received> = Vec::new();
    for batch in received.chunks(batch_size) {
        let settled = handle_batch(
            &stages,
            batch.to_vec(),
            Acknowledge::Unlisted,
            &CancellationToken::new(),
        )
        .await;
        poison.extend(settled.poison);
    }
    let stored = stages.store.history(None, None).await.unwrap_or_default();
    section(out, "would store", stored.len(), "record")?;
    for item in &stored {
        let attributes = serde_json::to_string(&item.attributes)?;
        writeln!(out, "  {}", redact_registered(&attributes))?;
    }
    section(out, "would dead-letter", poison.len(), "record")?;
    for message in &poison {
        let reason = match stages.processor.process(&message.body) {
            Err(poison) => poison.reason,
            Ok(_) => "poison".to_owned(),
        };
        writeln!(out, "  {}: {}", message.id, redact_registered(&reason))?;
    }
    let emails = recorder.emails();
    section(out, "would mail", emails.len(), "e-mail")?;
    for email in &emails {
        write_email(out, email)?;
    }
    if loaded.rules.is_some() {
        writeln!(
            out,
            "alert rules are not evaluated in a dry run (they read the stored history and their state)"
        )?;
    }
    Ok(ExitStatus::success_or(!all_failed, ExitStatus::Failure))
}

/// A section's heading, such as `would store 2 records:`.
fn section(out: &mut impl Write, what: &str, n: usize, noun: &str) -> std::io::Result<()> {
    let plural = if n == 1 { "" } else { "s" };
    let colon = if n == 0 { "" } else { ":" };
    writeln!(out, "{what} {n} {noun}{plural}{colon}")
}

/// One rendered e-mail: its headers, the text body and the HTML body, indented.
fn write_email(out: &mut impl Write, email: &Email) -> std::io::Result<()> {
    let to: Vec<String> = email.to.iter().map(ToString::to_string).collect();
    writeln!(out, "  From: {}", email.from)?;
    writeln!(out, "  To: {}", to.join(", "))?;
    writeln!(out, "  Subject: {}", redact_registered(&email.subject))?;
    writeln!(out)?;
    for line in redact_registered(&email.text).lines() {
        writeln!(out, "    {line}")?;
    }
    if let Some(html) = &email.html {
        writeln!(out, "  HTML:")?;
        for line in redact_registered(html).lines() {
            writeln!(out, "    {line}")?;
        }
    }
    Ok(())
}

/// The bodies as a queue would deliver them, each received once.
fn as_received(bodies: &[String]) -> Vec<Received> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| Received {
            id: format!("record-{}", i + 1),
            receipt: String::new(),
            body: body.clone(),
            receive_count: 1,
        })
        .collect()
}

/// A queue that holds nothing and accepts everything: what the lifecycle acknowledges or
/// releases goes nowhere.
struct Nowhere;

#[async_trait]
impl Queue for Nowhere {
    async fn send_batch(&self, _: &[String]) -> Result<(), QueueError> {
        Ok(())
    }
    async fn receive_until(
        &self,
        _: usize,
        _: Duration,
        _: &CancellationToken,
    ) -> Result<Vec<Received>, QueueError> {
        Ok(Vec::new())
    }
    async fn delete_batch(&self, _: &[&str]) -> Result<(), QueueError> {
        Ok(())
    }
    async fn release(&self, _: &[(&str, &str)]) -> Result<(), QueueError> {
        Ok(())
    }
    async fn extend_visibility(&self, _: &[&str], _: Duration) -> Result<(), QueueError> {
        Ok(())
    }
    async fn counts(&self) -> Result<QueueCounts, QueueError> {
        Ok(QueueCounts::default())
    }
}

/// A store in memory that starts empty: it keeps what the dry run writes (by key, as a table
/// does) and reads back nothing else.
#[derive(Default)]
struct InMemory {
    items: Mutex<Vec<Item>>,
}

impl InMemory {
    fn items(&self) -> std::sync::MutexGuard<'_, Vec<Item>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Store for InMemory {
    async fn put_batch(&self, items: &[Item]) -> Result<(), StoreError> {
        let mut stored = self.items();
        for item in items {
            stored.retain(|old| (&old.partition, &old.sort) != (&item.partition, &item.sort));
            stored.push(item.clone());
        }
        Ok(())
    }
    async fn recent(&self, limit: usize) -> Result<Vec<Item>, StoreError> {
        Ok(self.items().iter().rev().take(limit).cloned().collect())
    }
    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.items().len() as u64)
    }
    async fn previous(&self, _: &str, _: &str) -> Result<Option<Item>, StoreError> {
        Ok(None)
    }
    async fn range(&self, _: &str, _: &str, _: &str) -> Result<Vec<Item>, StoreError> {
        Ok(Vec::new())
    }
    async fn existing(&self, _: &[(String, Option<String>)]) -> Result<Vec<Item>, StoreError> {
        Ok(Vec::new())
    }
    /// Everything written, in the order it was written.
    async fn history(&self, _: Option<&str>, _: Option<&str>) -> Result<Vec<Item>, StoreError> {
        Ok(self.items().clone())
    }
    async fn series(&self, _: usize) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
    async fn newest(&self, _: &str, _: usize) -> Result<Vec<Item>, StoreError> {
        Ok(Vec::new())
    }
}

/// A notifier that keeps the e-mails instead of sending them.
#[derive(Default)]
struct Recorder {
    emails: Mutex<Vec<Email>>,
}

impl Recorder {
    fn emails(&self) -> Vec<Email> {
        self.emails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Notifier for Recorder {
    async fn send(&self, email: &Email) -> Result<String, NotifyError> {
        self.emails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(email.clone());
        Ok("the dry run's report".to_owned())
    }
}
