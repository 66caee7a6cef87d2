//! The pipeline format as Rust types. Field doc comments are the user documentation: they end up
//! in the JSON Schema (`stockrun schema`) that editors show while a pipeline is written.

mod chart;
mod duration;
mod notify;
mod process;
mod queue;
mod size;
mod source;
mod store;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use chart::{Chart, ChartFields, ChartOverrides, MAIL_HEIGHT, MAIL_WIDTH, MailChart};
pub use duration::Duration;
pub use notify::{Notify, Resolved, Rule};
pub use process::{Ambiguous, Field, FieldType, Process};
pub use queue::{MAX_BATCH_SIZE, Queue};
pub use size::Size;
pub(crate) use source::redacted_url;
pub use source::{
    ActiveWindow, Feed, FeedValue, Method, Next, Quota, QuotaPeriod, RateLimitHeaders, Source,
};
pub use store::{KeyAttribute, Store, TableKey};

use super::Located;

/// A stockrun pipeline: where records come from, how they are queued, which fields are kept,
/// where they are stored and who is told.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "stockrun pipeline")]
pub struct Pipeline {
    /// Name of the pipeline: letters, digits, `-` and `_`, at most 80 characters. It names the
    /// local database file and is the default queue name.
    pub name: Located<String>,
    /// The REST API to poll.
    pub source: Source,
    /// One map per request: each poll calls `source.url` once per feed, with the feed's keys
    /// available as `{{key}}` in the URL and headers and as `feed` in templates. Empty: one request.
    #[serde(default)]
    pub feeds: Vec<Located<Feed>>,
    /// The queue between the poller and the processor (SQS on AWS, a table in SQLite locally).
    #[serde(default)]
    pub queue: Queue,
    /// Which values each record keeps, and their types.
    pub process: Process,
    /// Where processed records are written (a DynamoDB table on AWS, SQLite locally).
    pub store: Store,
    /// An e-mail after every processed batch (SES v2 on AWS, `.eml` files in an outbox locally).
    /// Leave it out to send no e-mail.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<Notify>,
    /// Which fields `stockrun chart` and the chart in the e-mail (`notify.chart`) draw. Leave it
    /// out when the pipeline has one number field and needs no band.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<Chart>,
}

/// The top-level keys of a pipeline, in the order they are written.
pub const SECTIONS: [&str; 8] = [
    "name", "source", "feeds", "queue", "process", "store", "notify", "chart",
];
