//! Runs one test case through the real lifecycle on a throwaway embedded backend: a fresh state
//! directory, the local queue, store, alert ledger and outbox, the consumer draining the queue.
//! Only the source is replaced: each recorded response is split into messages by the
//! pipeline's own compiled source (`CompiledSource::messages_of`, as a poll splits a body) and
//! queued at its virtual time, which the lifecycle's clock then reads. Nothing touches the
//! network or AWS.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::spec::{Case, Response};
use crate::alert::Alert;
use crate::aws::Aws;
use crate::compile::Loaded;
use crate::notify::{Email, Notifier, NotifyError};
use crate::queue::MAX_BATCH;
use crate::runtime::Stages;
use crate::runtime::backend::{Backend, BackendKind};
use crate::runtime::clock::BatchClock;
use crate::runtime::consumer::{Until, consume};
use crate::runtime::counters::Counters;
use crate::store::Item;

/// What a case did.
#[derive(Debug, Default)]
pub struct Observed {
    /// Every stored item at the end, by partition and sort key.
    pub stored: Vec<Item>,
    /// The dead-lettered records: the reason and the record.
    pub dead: Vec<(String, Value)>,
    /// The alerts raised, by their records' times.
    pub alerts: Vec<Alert>,
    /// The e-mails sent, in order.
    pub emails: Vec<Email>,
    /// Why each response that gave no records gave none, in order.
    pub rejected: Vec<String>,
}

/// Plays `case`'s responses through the pipeline `loaded`; the test file is in `dir` (response
/// files are relative to it). An error is the case failing to run at all (a response file that
/// cannot be read, the queue or store failing): the message says why.
pub async fn run_case(loaded: &Loaded, case: &Case, dir: &Path) -> Result<Observed, String> {
    let state = TempState::new()?;
    let pipeline = &loaded.pipeline;
    let source = loaded.source().ok_or(
        "`source.url` holds an unset `${…}` variable: give it a value under `env` in the test file",
    )?;
    let backend = Backend {
        kind: BackendKind::Local,
        state_dir: state.0.clone(),
        smtp: None,
        visibility_timeout: None,
        aws: Aws::new(),
    };
    let queue = backend.queue(pipeline).map_err(|e| e.to_string())?;
    let mut stages =
        Stages::open(loaded, &backend, Arc::clone(&queue)).map_err(|e| e.to_string())?;
    let recorder = stages.notifier.take().map(|inner| {
        Arc::new(Recorder {
            inner,
            sent: Mutex::default(),
        })
    });
    stages.notifier = recorder
        .clone()
        .map(|recorder| recorder as Arc<dyn Notifier>);
    let first = case.responses[0].time()?;
    let clock = BatchClock::fixed(first);
    stages.clock = clock.clone();
    let mut observed = Observed::default();
    for response in &case.responses {
        let at = response.time()?;
        clock.set(at);
        let feed = feed_of(loaded, response)?;
        let fetched_at = crate::process::timestamp::to_rfc3339(at);
        let messages =
            match source.messages_of(&pipeline.name, &feed, &fetched_at, response.bytes(dir)?) {
                Ok(messages) => messages,
                Err(reason) => {
                    observed.rejected.push(reason);
                    continue;
                }
            };
        let bodies: Vec<String> = messages.iter().map(|m| m.to_body()).collect();
        for chunk in bodies.chunks(MAX_BATCH) {
            queue
                .send_batch(chunk)
                .await
                .map_err(|e| format!("cannot queue the response at {}: {e}", response.at))?;
        }
        let until = Until {
            drained: true,
            stop: CancellationToken::new(),
        };
        consume(&stages, &Counters::default(), &until)
            .await
            .map_err(|e| format!("the response at {}: {e}", response.at))?;
    }
    observed.stored = stages
        .store
        .history(None, None)
        .await
        .map_err(|e| e.to_string())?;
    let dead = backend
        .existing_local_queue(pipeline)
        .map_err(|e| e.to_string())?
        .dead_letters()
        .await
        .map_err(|e| e.to_string())?;
    observed.dead = dead
        .into_iter()
        .map(|letter| {
            let record = serde_json::from_str::<Value>(&letter.body)
                .ok()
                .and_then(|mut body| body.get_mut("record").map(Value::take))
                .unwrap_or(Value::String(letter.body));
            (letter.last_error.unwrap_or_default(), record)
        })
        .collect();
    if let Some(stage) = &stages.alerts {
        observed.alerts = stage
            .ledger
            .raised_since(chrono::DateTime::UNIX_EPOCH)
            .await
            .map_err(|e| e.to_string())?;
    }
    if let Some(recorder) = recorder {
        observed.emails = recorder
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
    }
    Ok(observed)
}

/// The feed `response` answers, as the poller sends it with each message: the one with the
/// values it names, else the first.
fn feed_of(loaded: &Loaded, response: &Response) -> Result<Map<String, Value>, String> {
    let feeds: Vec<Map<String, Value>> = loaded
        .pipeline
        .feeds
        .iter()
        .map(|feed| {
            feed.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.0.clone())))
                .collect()
        })
        .collect();
    match &response.feed {
        None => Ok(feeds.into_iter().next().unwrap_or_default()),
        Some(wanted) => {
            let wanted: Map<String, Value> = wanted
                .iter()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    (k.clone(), Value::String(text))
                })
                .collect();
            feeds.into_iter().find(|feed| *feed == wanted).ok_or_else(|| {
                format!(
                    "the response at {} names the feed {}, which is not among the pipeline's `feeds`",
                    response.at,
                    Value::Object(wanted)
                )
            })
        }
    }
}

/// The notifier the pipeline would use (the outbox), noting every e-mail it sent.
struct Recorder {
    inner: Arc<dyn Notifier>,
    sent: Mutex<Vec<Email>>,
}

#[async_trait]
impl Notifier for Recorder {
    async fn send(&self, email: &Email) -> Result<String, NotifyError> {
        let sent = self.inner.send(email).await?;
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(email.clone());
        Ok(sent)
    }
}

/// A state directory of its own under the system's temporary directory, removed when dropped.
struct TempState(PathBuf);

impl TempState {
    fn new() -> Result<TempState, String> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "stockrun-test-{}-{nanos}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)
            .map_err(|e| format!("cannot create the state directory {}: {e}", dir.display()))?;
        Ok(TempState(dir))
    }
}

impl Drop for TempState {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
