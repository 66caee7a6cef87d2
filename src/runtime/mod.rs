//! The runtime: everything that runs a pipeline. `backend` chooses the stage implementations in
//! one place; `batch` is the one lifecycle from queued messages to stored records, an e-mail and
//! the acknowledgement, for the consumer and the Lambda handler alike;
//! `clock` is the time it stamps records with; `consumer` and `poll_loop` drive it on one machine; `shutdown` turns signals into a graceful
//! stop.

pub mod alerts;
pub mod backend;
pub mod batch;
pub mod chart;
pub mod clock;
pub mod consumer;
pub mod counters;
pub mod lambda;
pub mod poll_loop;
pub mod shutdown;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use self::backend::Backend;
use self::clock::BatchClock;

use crate::compile::Loaded;
use crate::config::Pipeline;
use crate::notify::render::Templates;
use crate::notify::{Notifier, NotifyError};
use crate::process::Processor;
use crate::queue::Queue;
use crate::store::{Store, StoreError};

/// What the consumer side needs: the compiled pipeline and the queue, store and notifier.
pub struct Stages {
    /// The pipeline being run.
    pub pipeline: Pipeline,
    /// Record → typed fields and key.
    pub processor: Processor,
    /// Where messages come from.
    pub queue: Arc<dyn Queue>,
    /// Where records go.
    pub store: Arc<dyn Store>,
    /// The digest templates, when the pipeline sends e-mail.
    pub templates: Option<Templates>,
    /// Who sends the digest, when the pipeline sends e-mail.
    pub notifier: Option<Arc<dyn Notifier>>,
    /// The alert rules and their state, when the pipeline has rules.
    pub alerts: Option<alerts::AlertStage>,
    /// The time records are stamped and alerts evaluated at: the system clock, or `stockrun
    /// test`'s virtual one.
    pub clock: BatchClock,
}

/// Why the consumer's stages cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum StagesError {
    /// The store cannot be opened (the message quotes the cause, so it is not a `source` too:
    /// error chains would print it twice).
    #[error("cannot open the store: {0}")]
    Store(StoreError),
    /// The e-mail sender cannot be set up (the cause is quoted, not a `source`, as for `Store`).
    #[error("cannot set up e-mail: {0}")]
    Notifier(NotifyError),
}

impl From<StoreError> for StagesError {
    fn from(error: StoreError) -> StagesError {
        StagesError::Store(error)
    }
}

impl From<NotifyError> for StagesError {
    fn from(error: NotifyError) -> StagesError {
        StagesError::Notifier(error)
    }
}

impl Stages {
    /// Builds the consumer's stages of a loaded pipeline on `backend`, around `queue`, with the
    /// processor and templates compiled when it was loaded.
    pub fn open(
        loaded: &Loaded,
        backend: &Backend,
        queue: Arc<dyn Queue>,
    ) -> Result<Stages, StagesError> {
        let pipeline = &loaded.pipeline;
        Ok(Stages {
            processor: loaded.processor.clone(),
            queue,
            store: backend.store(pipeline)?,
            templates: loaded.templates.clone(),
            notifier: backend.notifier(pipeline)?,
            alerts: match &loaded.rules {
                Some(rules) => Some(alerts::AlertStage {
                    rules: Arc::clone(rules),
                    ledger: backend.alert_ledger(pipeline)?,
                    lease: alerts::lease_from_env(),
                }),
                None => None,
            },
            pipeline: pipeline.clone(),
            clock: BatchClock::system(),
        })
    }
}
