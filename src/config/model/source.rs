//! The `source` section: the REST API to poll and how to read its responses.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::Duration;
use crate::config::Located;

/// The REST API a pipeline polls.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// URL to GET. With `feeds`, `{{key}}` placeholders are filled from each feed.
    pub url: Located<String>,
    /// Request headers. Put secrets in the environment: `X-RapidAPI-Key: ${RAPIDAPI_KEY}`.
    #[serde(default)]
    pub headers: BTreeMap<String, Located<String>>,
    /// When to poll: a cron expression with a seconds field (`sec min hour day-of-month month
    /// day-of-week [year]`), evaluated in UTC. Day-of-week numbers count 1 = Sunday; prefer names
    /// such as `Mon-Fri`. Default: every minute.
    #[serde(default = "default_schedule")]
    pub schedule: Located<String>,
    /// How long one request may take before it is retried.
    #[serde(default = "default_timeout")]
    pub timeout: Located<Duration>,
    /// JSONPath selecting the records in a response body; each match becomes one record.
    /// `$` (the default) takes the whole body as one record; `$[*]` takes each element of an
    /// array.
    #[serde(default = "default_records")]
    pub records: Located<String>,
    /// JSONPaths that mark a response body as an error even on HTTP 200 (for APIs such as Alpha
    /// Vantage or Twelve Data): when any matches, the body is logged as an error, not queued.
    #[serde(default)]
    pub errors: Vec<Located<String>>,
    /// The API plan's request allowance; `validate` warns when `schedule` × feeds exceeds it.
    #[serde(default)]
    pub quota: Option<Located<Quota>>,
}

fn default_schedule() -> Located<String> {
    Located::unlocated("0 * * * * *".to_owned())
}

fn default_timeout() -> Located<Duration> {
    Located::unlocated(Duration::from_secs(10))
}

fn default_records() -> Located<String> {
    Located::unlocated("$".to_owned())
}

/// One feed: values substituted into the source URL and headers (`{{symbol}}`).
pub type Feed = BTreeMap<String, Located<FeedValue>>;

/// A feed value: written as text, a number or a boolean, used as text.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct FeedValue(pub String);

impl JsonSchema for FeedValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FeedValue".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// A request allowance, such as `{ requests: 500, per: month }`.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Requests allowed per period.
    pub requests: u64,
    /// The period the allowance is counted over.
    pub per: QuotaPeriod,
}

/// The period of a quota. A month counts as 30 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    /// One second.
    Second,
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day.
    Day,
    /// 30 days.
    Month,
}

impl QuotaPeriod {
    /// Length of the period in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            QuotaPeriod::Second => 1,
            QuotaPeriod::Minute => 60,
            QuotaPeriod::Hour => 3_600,
            QuotaPeriod::Day => 86_400,
            QuotaPeriod::Month => 30 * 86_400,
        }
    }

    /// The period's name as written in the file.
    pub fn name(self) -> &'static str {
        match self {
            QuotaPeriod::Second => "second",
            QuotaPeriod::Minute => "minute",
            QuotaPeriod::Hour => "hour",
            QuotaPeriod::Day => "day",
            QuotaPeriod::Month => "month",
        }
    }
}
