//! The message that travels through the queue: one raw record and where it came from. Always
//! JSON, so any consumer (this binary, a Lambda, a person with the AWS console) can read it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One record as the poller fetched it, before any field is picked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The pipeline's `name`, so a consumer can refuse messages meant for another pipeline.
    pub pipeline: String,
    /// The feed the request was made for (its keys and values); empty without `feeds`.
    #[serde(default)]
    pub feed: Map<String, Value>,
    /// When the response arrived, RFC 3339 UTC with milliseconds.
    pub fetched_at: String,
    /// The record exactly as `source.records` selected it from the response body.
    pub record: Value,
}

impl Message {
    /// The JSON text sent to the queue.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a JSON value always serialises")
    }
}
