//! The runtime: everything that runs a pipeline. `backend` chooses the stage implementations in
//! one place; `batch` is the one lifecycle from queued messages to stored records, an e-mail and
//! the acknowledgement, for the consumer and the Lambda handler alike;
//! `consumer` and `poll_loop` drive it on one machine; `shutdown` turns signals into a graceful
//! stop.

pub mod backend;
pub mod batch;
pub mod consumer;
pub mod counters;
pub mod lambda;
pub mod loaded;
pub mod poll_loop;
pub mod shutdown;
#[cfg(test)]
mod testing;

use std::sync::Arc;
use std::time::Duration;

use backon::ExponentialBuilder;

use self::backend::Backend;
use self::loaded::Loaded;

use crate::config::Pipeline;
use crate::notify::render::{RenderError, Templates};
use crate::notify::{Notifier, NotifyError};
use crate::process::{Processor, ProcessorError};
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
}

/// Why the consumer's stages cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum StagesError {
    /// A field's JSONPath or type cannot be compiled (only for a pipeline `validate` rejects).
    #[error(transparent)]
    Processor(#[from] ProcessorError),
    /// The store cannot be opened (the message quotes the cause, so it is not a `source` too:
    /// error chains would print it twice).
    #[error("cannot open the store: {0}")]
    Store(StoreError),
    /// The e-mail templates do not compile.
    #[error(transparent)]
    Templates(#[from] RenderError),
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
    /// Builds the consumer's stages of a loaded pipeline on `backend`, around `queue`.
    pub fn open(
        loaded: &Loaded,
        backend: &Backend,
        queue: Arc<dyn Queue>,
    ) -> Result<Stages, StagesError> {
        let pipeline = &loaded.pipeline;
        Ok(Stages {
            processor: Processor::new(pipeline)?,
            queue,
            store: backend.store(pipeline)?,
            templates: Templates::new(pipeline)?,
            notifier: backend.notifier(pipeline)?,
            pipeline: pipeline.clone(),
        })
    }
}

/// Jittered exponential backoff from `min` (doubling, at most `max` apart) for `times` retries:
/// how the runtime retries a queue send, a store write or an e-mail.
pub(crate) fn backoff(min: Duration, max: Duration, times: usize) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_max_times(times)
        .with_jitter()
}
