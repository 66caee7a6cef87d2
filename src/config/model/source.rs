//! The `source` section: the REST API to poll and how to read its responses.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, Size};
use crate::config::Located;
use crate::config::located::Position;
use crate::redact::is_secret_name;

/// The REST API a pipeline polls.
#[derive(Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// URL to GET, such as `https://api.example.com/quotes?symbol={{symbol}}`. With `feeds`,
    /// `{{key}}` placeholders are filled from each feed, and `${VAR}` values in the path, query
    /// and fragment are percent-encoded like them (a value that starts the URL or sits in the
    /// host is inserted as written). `file:responses/quotes.json` reads a
    /// recorded response instead: relative to the pipeline file, in its folder or below (an
    /// absolute path or a `..` that climbs out is refused).
    pub url: Located<String>,
    /// Request headers. Put secrets in the environment: `X-Api-Key: ${API_KEY}`.
    #[serde(default)]
    pub headers: BTreeMap<String, Located<String>>,
    /// The HTTP method: `GET` (the default) or `POST`, for APIs that take their query in a
    /// request body.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Located<Method>>,
    /// With `method: POST`: the JSON request body, a template like the URL, such as
    /// `'{"symbol": "{{symbol}}", "interval": "1day"}'`. A substituted value is escaped for a
    /// JSON string (so a feed value cannot add a member); `{{{key}}}` inserts it as written. It
    /// must render to JSON for every feed, and is sent with `Content-Type: application/json`
    /// unless `headers` sets one.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Located<String>>,
    /// Pagination: where a response says the next page is, such as `{ link: $.next }` (a URL)
    /// or `{ cursor: $.cursor, param: cursor }` (a value sent as a query parameter). Each poll
    /// requests at most `max_pages` pages per feed. Default: one request per feed.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Located<Next>>,
    /// When to poll: a cron expression with a seconds field (`sec min hour day-of-month month
    /// day-of-week [year]`), read in `timezone` (UTC by default). Day-of-week numbers count
    /// 1 = Sunday; prefer names such as `Mon-Fri`. Default: every minute.
    #[serde(default = "default_schedule")]
    pub schedule: Located<String>,
    /// The IANA time zone `schedule` is read in, such as `Asia/Kolkata` or `America/New_York`
    /// (daylight saving time included: a time skipped when clocks go forward does not fire, one
    /// repeated when they go back fires once). Also the zone of `active` windows that name none.
    /// Default: `UTC`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Located<String>>,
    /// When the pipeline polls at all: a list of windows, such as
    /// `[{ days: mon-fri, hours: "09:15-15:30" }]`. A firing of `schedule` outside every window
    /// is skipped (locally and on Lambda, and `validate`'s quota count leaves it out). Default:
    /// always active.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<Located<Vec<ActiveWindow>>>,
    /// How long one request (or `file:` read) may take before it is retried.
    #[serde(default = "default_timeout")]
    pub timeout: Located<Duration>,
    /// The largest response body read (such as `10MiB`): a bigger one fails the feed, with a
    /// logged error, instead of filling the memory. Default `10MiB`.
    #[serde(default = "default_max_body")]
    pub max_body: Located<Size>,
    /// JSONPath selecting the records in a response body; each match becomes one record.
    /// `$` (the default) takes the whole body as one record; `$[*]` takes each element of an
    /// array.
    #[serde(default = "default_records")]
    pub records: Located<String>,
    /// JSONPaths that mark a response body as an error even on HTTP 200 (for APIs that report
    /// errors in the body, such as `$.message` or `$.error`): when any matches a value that is not
    /// `null`, `false`, `""`, `[]` or `{}`, the body is logged as an error, not queued (so
    /// `$.error` lets `{"error": false, …}` through). A JSONPath with a filter (`[?…]`) is its own
    /// test and every match counts, so for something stricter write a filter:
    /// `$[?@.status == 'error']` matches only an element or member whose `status` is `error`.
    #[serde(default)]
    pub errors: Vec<Located<String>>,
    /// The API plan's request allowance; `validate` warns when `schedule` × feeds exceeds it.
    /// With `per: second`, a poll also paces its requests to stay within it.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Located<Quota>>,
    /// How many requests a poll has in flight at once, from 1 to 64: feeds are requested this
    /// many at a time (their records still queued in feed order). 1 requests them one after
    /// another. Default 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: Located<u32>,
    /// The response headers that tell how much of the API's request allowance is left. Each
    /// response's values are logged at debug, and a warning when the allowance is nearly spent.
    /// Default: the `x-ratelimit-requests-*` names.
    #[serde(default)]
    pub ratelimit_headers: RateLimitHeaders,
}

/// One window of `source.active`: days of the week and a time range, in a time zone.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActiveWindow {
    /// Days of the week, by name: a range such as `mon-fri`, a list such as `mon,wed,fri`, or
    /// both (`mon-wed,fri`). Default: every day.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<Located<String>>,
    /// The time of day, `HH:MM-HH:MM`, from the start (included) to the end (excluded):
    /// `"09:15-15:30"` polls at 09:15 and at 15:29, not at 15:30. The end may be `24:00`; a
    /// window cannot cross midnight (write two). Quote it in YAML. Default: the whole day.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours: Option<Located<String>>,
    /// The IANA time zone of `days` and `hours`, such as `Asia/Kolkata`. Default:
    /// `source.timezone`, or UTC.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Located<String>>,
}

/// The names of the rate-limit response headers, such as
/// `{ limit: X-RateLimit-Limit, remaining: X-RateLimit-Remaining }`. Names are matched ignoring
/// case; a response without the `remaining` header is not checked.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitHeaders {
    /// The header with the number of requests the plan allows. Default:
    /// `x-ratelimit-requests-limit`.
    #[serde(default = "default_limit_header")]
    pub limit: Located<String>,
    /// The header with the number of requests left. Default: `x-ratelimit-requests-remaining`.
    #[serde(default = "default_remaining_header")]
    pub remaining: Located<String>,
    /// The header with the time until the allowance resets, logged as sent. Default:
    /// `x-ratelimit-requests-reset`.
    #[serde(default = "default_reset_header")]
    pub reset: Located<String>,
}

impl Default for RateLimitHeaders {
    fn default() -> Self {
        RateLimitHeaders {
            limit: default_limit_header(),
            remaining: default_remaining_header(),
            reset: default_reset_header(),
        }
    }
}

/// Redacts every header value and the URL's credentials (the password and credential-like query
/// parameters such as `apikey=`): after loading they hold the substituted secrets.
impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: BTreeMap<&str, Redacted> = self
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), Redacted(value.position)))
            .collect();
        f.debug_struct("Source")
            .field(
                "url",
                &Located {
                    value: redacted_url(&self.url),
                    position: self.url.position,
                },
            )
            .field("headers", &headers)
            .field("method", &self.method)
            .field("body", &self.body.as_ref().map(|b| Redacted(b.position)))
            .field("next", &self.next)
            .field("schedule", &self.schedule)
            .field("timezone", &self.timezone)
            .field("active", &self.active)
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .field("records", &self.records)
            .field("errors", &self.errors)
            .field("quota", &self.quota)
            .field("concurrency", &self.concurrency)
            .field("ratelimit_headers", &self.ratelimit_headers)
            .finish()
    }
}

/// A secret value in `Debug` output: where it was written, never what.
struct Redacted(Position);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted> at {}:{}", self.0.line, self.0.column)
    }
}

/// `url` with its password and the values of credential-like query parameters replaced by
/// `<redacted>` (for `Debug`, and for `stockrun echo`).
pub(crate) fn redacted_url(url: &str) -> String {
    let (base, fragment) = url
        .split_once('#')
        .map_or((url, None), |(b, f)| (b, Some(f)));
    let (base, query) = base
        .split_once('?')
        .map_or((base, None), |(b, q)| (b, Some(q)));
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or("");
                    format!("{user}:<redacted>@{host}")
                }
                None => authority.to_owned(),
            };
            let slash = if rest.contains('/') { "/" } else { "" };
            format!("{scheme}://{authority}{slash}{path}")
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_name(name) => format!("{name}=<redacted>"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{out}?{}", pairs.join("&"));
    }
    match fragment {
        Some(fragment) => format!("{out}#{fragment}"),
        None => out,
    }
}

fn default_schedule() -> Located<String> {
    Located::unlocated("0 * * * * *".to_owned())
}

fn default_timeout() -> Located<Duration> {
    Located::unlocated(Duration::from_secs(10))
}

fn default_max_body() -> Located<Size> {
    Located::unlocated(Size::mib(10))
}

fn default_concurrency() -> Located<u32> {
    Located::unlocated(DEFAULT_CONCURRENCY)
}

/// The default `source.concurrency`: eight requests in flight, as many as a browser opens to one
/// host, and enough that 200 feeds answering in 100 ms poll in under 3 s.
pub const DEFAULT_CONCURRENCY: u32 = 8;

fn default_records() -> Located<String> {
    Located::unlocated("$".to_owned())
}

fn default_limit_header() -> Located<String> {
    Located::unlocated("x-ratelimit-requests-limit".to_owned())
}

fn default_remaining_header() -> Located<String> {
    Located::unlocated("x-ratelimit-requests-remaining".to_owned())
}

fn default_reset_header() -> Located<String> {
    Located::unlocated("x-ratelimit-requests-reset".to_owned())
}

/// One feed: values substituted into the source URL and headers (`{{symbol}}`).
pub type Feed = BTreeMap<String, Located<FeedValue>>;

/// A feed value: written as text, a number or a boolean, used as text.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
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

/// The HTTP method of the source's requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET`: the query is in the URL.
    #[default]
    Get,
    /// `POST`: the query is in `source.body` (JSON).
    Post,
}

impl Method {
    /// The method's name as written in the file.
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Where the next page of a response is: exactly one of `link` and `cursor`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Next {
    /// JSONPath of the next page's URL in a response, such as `$.next` or `$.links.next`:
    /// absolute or relative to the page it is in; it must stay on the source's host (headers
    /// carry keys). No value (missing, `null` or `""`) means the last page.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<Located<String>>,
    /// JSONPath of a cursor in a response, such as `$.meta.next_cursor`: the next request is
    /// the feed's own, with the cursor added as the query parameter `param`. No value (missing,
    /// `null` or `""`) means the last page.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Located<String>>,
    /// With `cursor`: the query parameter the cursor is sent in, such as `cursor`.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub param: Option<Located<String>>,
    /// The most pages one feed's poll requests (the first included), from 1 to 1000: a poll
    /// stops there with a warning, so a response that always links on cannot poll forever.
    /// Default 10.
    #[serde(default = "default_max_pages")]
    pub max_pages: Located<u32>,
}

fn default_max_pages() -> Located<u32> {
    Located::unlocated(10)
}

/// A request allowance, such as `{ requests: 500, per: month }`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Requests allowed per period.
    pub requests: u64,
    /// The period the allowance is counted over.
    pub per: QuotaPeriod,
}

/// The period of a quota. A month counts as 30 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
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

#[cfg(test)]
mod tests {
    use super::redacted_url;
    use crate::config::env::Environment;
    use crate::config::load::{UnsetVariables, check};

    const KEY: &str = "sentinel-key-5f4e3d2c1b";

    #[test]
    fn debug_of_a_pipeline_shows_no_header_or_query_secret() {
        let yaml = "name: t\nsource:\n  url: https://user:${KEY}@api.example.com/q?s=1&apikey=${KEY}&token=${KEY}\n  \
                    headers:\n    X-Api-Key: ${KEY}\n    Authorization: Bearer ${KEY}\n    \
                    X-Plain: ${KEY}\nprocess:\n  fields:\n    s: { path: $.s }\n\
                    store:\n  table: quotes\n  key:\n    partition: { name: s, value: \"{{s}}\" }\n";
        let env = Environment::from_pairs([("KEY", KEY)]);
        let checked = check(yaml.as_bytes(), &env, UnsetVariables::Deny);
        let pipeline = checked.pipeline.clone().expect("valid pipeline");
        assert_eq!(pipeline.source.headers["X-Plain"].value, KEY, "substituted");
        for shown in [
            format!("{pipeline:?}"),
            format!("{pipeline:#?}"),
            format!("{checked:?}"),
        ] {
            assert!(!shown.contains(KEY), "secret in Debug output:\n{shown}");
            assert!(shown.contains("X-Api-Key"), "{shown}");
            assert!(
                shown.contains("api.example.com/q?s=1&apikey=<redacted>"),
                "{shown}"
            );
        }
    }

    #[test]
    fn urls_keep_what_is_not_a_credential() {
        assert_eq!(
            redacted_url("https://a:b@h.example/p/q?symbol=X&api_key=k#f"),
            "https://a:<redacted>@h.example/p/q?symbol=X&api_key=<redacted>#f"
        );
        assert_eq!(redacted_url("https://h.example"), "https://h.example");
        assert_eq!(redacted_url("file:quotes.json"), "file:quotes.json");
    }
}
