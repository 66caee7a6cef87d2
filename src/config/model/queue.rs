//! The `queue` section: how records travel from the poller to the processor.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Duration;
use crate::config::Located;

/// The most records one batch holds: SQS receives (and sends and deletes) at most 10 messages
/// per call. `queue.batch_size` is 1 to this, and its default; the queues batch their calls by it.
pub const MAX_BATCH_SIZE: u32 = 10;

/// The queue between poller and processor.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// SQS queue name (its URL is looked up). Default: the pipeline's `name`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Located<String>>,
    /// SQS queue URL, instead of `name`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Located<String>>,
    /// Records processed together, 1 to 10 (the SQS receive limit; the Lambda trigger's
    /// `BatchSize`).
    #[serde(default = "default_batch_size")]
    pub batch_size: Located<u32>,
    /// Process a partial batch after this long, at most `300s` (the Lambda trigger's
    /// `MaximumBatchingWindowInSeconds`).
    #[serde(default = "default_batch_window")]
    pub batch_window: Located<Duration>,
    /// Deliveries of a message before it moves to the dead-letter queue (1 to 1000).
    #[serde(default = "default_max_receive_count")]
    pub max_receive_count: Located<u32>,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            name: None,
            url: None,
            batch_size: default_batch_size(),
            batch_window: default_batch_window(),
            max_receive_count: default_max_receive_count(),
        }
    }
}

fn default_batch_size() -> Located<u32> {
    Located::unlocated(MAX_BATCH_SIZE)
}

fn default_batch_window() -> Located<Duration> {
    Located::unlocated(Duration::from_secs(60))
}

fn default_max_receive_count() -> Located<u32> {
    Located::unlocated(3)
}
