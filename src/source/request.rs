//! What each feed requests, resolved once when the poller is built: feeds do not change while a
//! pipeline runs, so the URL and headers are rendered, parsed and checked up front, and a poll
//! only sends them.
//!
//! A URL is `http(s)://…`, or `file:` for offline demos and replays: `file:responses/x.json`
//! (relative to the pipeline file's directory) or `file:///abs/x.json`. `file://x.json` is an
//! error: after `//` comes a host, not a path.

use std::path::{Path, PathBuf};

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::SourceError;
use super::template::{Templates, percent_decode};
use crate::config::Pipeline;
use crate::config::model::Feed;
use crate::config::validate::is_secret_name;
use crate::redact::Redactor;

/// One feed's request.
pub(crate) struct FeedRequest {
    /// The feed as `key=value` pairs (`symbol=MSFT,market=US`), for logs; empty without feeds.
    pub(crate) label: String,
    /// The feed's keys and values, as they go into each message.
    pub(crate) feed: Map<String, Value>,
    /// Where the request goes.
    pub(crate) target: Target,
}

/// Where a request goes.
pub(crate) enum Target {
    /// An HTTP GET with these headers.
    Http {
        /// The URL, placeholders filled.
        url: Url,
        /// `source.headers`, placeholders filled.
        headers: HeaderMap,
    },
    /// A file read (a `file:` URL).
    File(PathBuf),
}

/// Shorter values are not registered as secrets: hiding them would garble unrelated log text.
const MIN_SECRET_LEN: usize = 6;

/// Resolves the request of every feed (one request when `feeds` is empty). Header and query
/// values whose name says they are credentials are added to `redactor`.
pub(crate) fn build(
    pipeline: &Pipeline,
    base_dir: &Path,
    redactor: &mut Redactor,
) -> Result<Vec<FeedRequest>, SourceError> {
    let templates = Templates::new();
    let feeds: Vec<Map<String, Value>> = if pipeline.feeds.is_empty() {
        vec![Map::new()]
    } else {
        pipeline.feeds.iter().map(|f| feed_map(f)).collect()
    };
    let source = &pipeline.source;
    feeds
        .into_iter()
        .map(|feed| {
            let url = templates.render_url(&source.url, &feed)?;
            let target = match file_path(&url, base_dir)? {
                Some(path) => Target::File(path),
                None => {
                    let url = http_url(&url)?;
                    register_query_secrets(&url, redactor);
                    let mut headers = HeaderMap::new();
                    for (name, template) in &source.headers {
                        let value = templates.render_header(name, template, &feed)?;
                        let (name, value) = header(name, &value, redactor)?;
                        headers.insert(name, value);
                    }
                    Target::Http { url, headers }
                }
            };
            Ok(FeedRequest {
                label: label(&feed),
                feed,
                target,
            })
        })
        .collect()
}

/// A feed as the JSON map messages carry: every value as a string.
fn feed_map(feed: &Feed) -> Map<String, Value> {
    feed.iter()
        .map(|(key, value)| (key.clone(), Value::String(value.0.clone())))
        .collect()
}

/// `symbol=MSFT,market=US`.
fn label(feed: &Map<String, Value>) -> String {
    feed.iter()
        .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",")
}

/// The path a `file:` URL names, or `None` for any other URL.
pub(crate) fn file_path(url: &str, base_dir: &Path) -> Result<Option<PathBuf>, SourceError> {
    let Some(scheme) = url.get(..5).filter(|s| s.eq_ignore_ascii_case("file:")) else {
        return Ok(None);
    };
    let rest = &url[scheme.len()..];
    if let Some(after) = rest.strip_prefix("//") {
        if !after.starts_with('/') {
            return Err(SourceError(format!(
                "`source.url` `{url}`: after `file://` comes a host, not a path; write \
                 `file:{after}` for a path relative to the pipeline file or `file:///{after}` for \
                 an absolute one"
            )));
        }
        return Ok(Some(PathBuf::from(percent_decode(after))));
    }
    let path = PathBuf::from(percent_decode(rest));
    if path.as_os_str().is_empty() {
        return Err(SourceError(format!("`source.url` `{url}` names no file")));
    }
    Ok(Some(if path.is_absolute() {
        path
    } else {
        base_dir.join(path)
    }))
}

/// Parses an `http(s)` URL.
fn http_url(text: &str) -> Result<Url, SourceError> {
    let url = Url::parse(text)
        .map_err(|err| SourceError(format!("`source.url` `{text}` is not a valid URL: {err}")))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(SourceError(format!(
            "`source.url`: unsupported URL scheme `{other}` (use https://, http:// or file:)"
        ))),
    }
}

/// One header, marked sensitive (and its value registered as a secret) when its name says it
/// holds a credential.
fn header(
    name: &str,
    value: &str,
    redactor: &mut Redactor,
) -> Result<(HeaderName, HeaderValue), SourceError> {
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| SourceError(format!("`source.headers`: `{name}` is not a header name")))?;
    let mut header_value = HeaderValue::from_str(value).map_err(|_| {
        // The value is not shown: it may be a key.
        SourceError(format!(
            "`source.headers.{name}`: the value has characters a header cannot carry (a line \
             break or a control character)"
        ))
    })?;
    if is_secret_name(name) {
        header_value.set_sensitive(true);
        if value.chars().count() >= MIN_SECRET_LEN {
            redactor.add(value);
        }
    }
    Ok((header_name, header_value))
}

/// Registers the values of credential-like query parameters (`?apikey=…`), as written in the
/// URL and decoded.
fn register_query_secrets(url: &Url, redactor: &mut Redactor) {
    let Some(query) = url.query() else { return };
    for pair in query.split('&') {
        let Some((name, raw)) = pair.split_once('=') else {
            continue;
        };
        if is_secret_name(&percent_decode(name)) && raw.chars().count() >= MIN_SECRET_LEN {
            redactor.add(percent_decode(raw));
            redactor.add(raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_resolve_against_the_base_directory() {
        let base = Path::new("/pipelines");
        assert_eq!(
            file_path("file:responses/a%20b.json", base).unwrap(),
            Some(PathBuf::from("/pipelines/responses/a b.json"))
        );
        assert_eq!(
            file_path("FILE:///data/x.json", base).unwrap(),
            Some(PathBuf::from("/data/x.json"))
        );
        assert_eq!(
            file_path("file:/data/x.json", base).unwrap(),
            Some(PathBuf::from("/data/x.json"))
        );
        assert_eq!(file_path("https://h/x", base).unwrap(), None);
        let err = file_path("file://responses/x.json", base).unwrap_err();
        assert!(err.0.contains("`file:responses/x.json`"), "{err}");
        assert!(file_path("file:", base).is_err());
    }

    #[test]
    fn only_http_schemes_are_fetched_over_the_network() {
        assert!(http_url("https://h/x").is_ok());
        assert!(http_url("ftp://h/x").unwrap_err().0.contains("`ftp`"));
        assert!(http_url("not a url").is_err());
    }

    #[test]
    fn credential_values_become_secrets() {
        let mut redactor = Redactor::default();
        let url = Url::parse("https://h/q?symbol=MSFT&apikey=abc%2Fdef123").unwrap();
        register_query_secrets(&url, &mut redactor);
        let (_, value) = header("X-RapidAPI-Key", "key-0123456789", &mut redactor).unwrap();
        assert!(value.is_sensitive());
        let (_, host) = header("X-RapidAPI-Host", "api.example.com", &mut redactor).unwrap();
        assert!(!host.is_sensitive());
        assert_eq!(
            redactor.redact("MSFT abc/def123 abc%2Fdef123 key-0123456789 api.example.com"),
            "MSFT <redacted> <redacted> <redacted> api.example.com"
        );
    }
}
