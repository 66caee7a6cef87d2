//! Test support for the batch lifecycle: a pipeline on the embedded queue and store with an
//! outbox, whose notifier notes what the queue and the store held when the digest was sent. The
//! consumer's and the Lambda handler's tests check the same moment against [`at_email`].

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::Stages;
use crate::config::env::Environment;
use crate::config::load::{UnsetVariables, check};
use crate::message::Message;
use crate::notify::outbox::Outbox;
use crate::notify::render::Templates;
use crate::notify::{Email, Notifier, NotifyError};
use crate::process::Processor;
use crate::queue::local::LocalQueue;
use crate::queue::{Queue, QueueCounts};
use crate::store::Store;
use crate::store::local::LocalStore;

/// The test pipeline: a `file:` source (never read here), a required symbol (a record without
/// one is poison), the outbox's digest.
const PIPELINE: &str = r#"
name: lifecycle
source:
  url: file:quotes.json
  records: $[*]
process:
  fields:
    symbol: { path: $.symbol, required: true }
    price: { path: $.price, type: number }
store:
  table: quotes
  key:
    partition: { name: symbol, value: "{{symbol}}" }
notify:
  from: bot@example.com
  to: [me@example.com]
  subject: "{{count}} quotes"
  text: "{{#each records}}{{symbol}} {{price}}\n{{/each}}"
"#;

/// Deliveries after which the test queue dead-letters a message.
pub(crate) const MAX_RECEIVE_COUNT: u32 = 2;

/// What the queue and the store held when a digest was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AtEmail {
    /// The queue's messages by state.
    pub queue: QueueCounts,
    /// Records in the store.
    pub stored: u64,
}

/// The one moment the lifecycle promises for a first batch of `good` records and `poison`
/// ones: every record stored, every message still in flight (none deleted, no poison released).
pub(crate) fn at_email(good: usize, poison: usize) -> AtEmail {
    AtEmail {
        queue: QueueCounts {
            visible: 0,
            in_flight: (good + poison) as u64,
            dead: 0,
        },
        stored: good as u64,
    }
}

/// The outbox, noting what the queue and store hold at each send.
pub(crate) struct Probe {
    outbox: Outbox,
    queue: Arc<dyn Queue>,
    store: Arc<dyn Store>,
    seen: Mutex<Vec<AtEmail>>,
}

impl Probe {
    /// What the queue and store held at each e-mail sent so far.
    pub(crate) fn seen(&self) -> Vec<AtEmail> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl Notifier for Probe {
    async fn send(&self, email: &Email) -> Result<String, NotifyError> {
        let seen = AtEmail {
            queue: self.queue.counts().await.expect("queue counts"),
            stored: self.store.count().await.expect("store count"),
        };
        self.seen.lock().unwrap().push(seen);
        self.outbox.send(email).await
    }
}

/// The test pipeline's stages in `dir`, around `queue` (the real embedded queue, or a wrapper of
/// it), with `good` records and then `poison` ones queued.
pub(crate) async fn stages(
    dir: &Path,
    queue: Arc<dyn Queue>,
    good: usize,
    poison: usize,
) -> (Stages, Arc<Probe>) {
    let pipeline = check(
        PIPELINE.as_bytes(),
        &Environment::from_pairs(Vec::<(String, String)>::new()),
        UnsetVariables::Deny,
    )
    .pipeline
    .expect("the test pipeline is valid");
    let store: Arc<dyn Store> = Arc::new(
        LocalStore::open(
            &dir.join("lifecycle.db"),
            &pipeline.store.table,
            &pipeline.store.inserted_at,
        )
        .expect("store"),
    );
    let records = (0..good)
        .map(|i| serde_json::json!({ "symbol": format!("S{i}"), "price": i }))
        .chain((0..poison).map(|i| serde_json::json!({ "price": i })));
    let bodies: Vec<String> = records
        .map(|record| {
            Message::new(
                pipeline.name.value.clone(),
                serde_json::Map::new(),
                "2024-03-18T10:30:00.000Z".to_owned(),
                record,
            )
            .to_body()
        })
        .collect();
    queue.send_batch(&bodies).await.expect("queued");
    let probe = Arc::new(Probe {
        outbox: Outbox::new(&dir.join("outbox"), "lifecycle"),
        queue: Arc::clone(&queue),
        store: Arc::clone(&store),
        seen: Mutex::new(Vec::new()),
    });
    let stages = Stages {
        alerts: None,
        clock: super::clock::BatchClock::system(),
        processor: Processor::new(&pipeline.name, &pipeline.process, &pipeline.store.key)
            .expect("processor"),
        templates: pipeline.notify.as_ref().map(|notify| {
            let fields = pipeline.process.fields.keys().cloned().collect();
            Templates::new(notify, fields, &pipeline.name).expect("templates")
        }),
        notifier: Some(Arc::clone(&probe) as Arc<dyn Notifier>),
        queue,
        store,
        pipeline,
    };
    (stages, probe)
}

/// The embedded queue of the test pipeline in `dir`.
pub(crate) fn local_queue(dir: &Path) -> Arc<LocalQueue> {
    Arc::new(
        LocalQueue::open(
            &dir.join("lifecycle.db"),
            "lifecycle",
            Duration::from_secs(60),
            MAX_RECEIVE_COUNT,
        )
        .expect("queue"),
    )
}

/// The `.eml` files in the test outbox.
pub(crate) fn outbox_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("outbox")).map_or(0, |files| files.count())
}

/// A mail server that accepts every attempt and never answers: each `send` hangs forever.
#[derive(Default)]
pub(crate) struct Hanging {
    attempts: AtomicUsize,
}

impl Hanging {
    /// The attempts started so far.
    pub(crate) fn attempts(&self) -> usize {
        self.attempts.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Notifier for Hanging {
    async fn send(&self, _: &Email) -> Result<String, NotifyError> {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        std::future::pending().await
    }
}

/// The poller of `pipeline`, with relative `file:` URLs under `dir`.
pub(crate) fn poller(pipeline: &crate::config::Pipeline, dir: &Path) -> crate::source::Poller {
    let source = crate::source::CompiledSource::new(
        &pipeline.source,
        crate::source::Schedule::new(&pipeline.source).ok(),
        Some(&pipeline.feeds),
    )
    .expect("the source compiles");
    crate::source::Poller::new(
        &pipeline.name,
        source,
        dir,
        crate::redact::Redactor::default(),
    )
    .expect("poller")
}
