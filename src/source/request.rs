//! What each feed requests, resolved once when the source is compiled: feeds do not change
//! while a pipeline runs, so the URL and headers are rendered, parsed and checked up front (this
//! is where `validate` checks them too), and a poll only sends them.
//!
//! A URL is `http(s)://…`, or `file:` for offline demos and replays: `file:responses/x.json`
//! (relative to the pipeline file's directory) or `file:///abs/x.json`. `file://x.json` is an
//! error: after `//` comes a host, not a path.

use std::path::{Path, PathBuf};

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::template::{Templates, percent_decode};
use crate::config::Located;
use crate::config::model::{Feed, Source};
use crate::diag::Diagnostic;
use crate::redact::is_secret_name;

/// One feed's request.
#[derive(Clone)]
pub(crate) struct FeedRequest {
    /// The feed as `key=value` pairs (`symbol=MSFT,market=US`), for logs; empty without feeds.
    pub(crate) label: String,
    /// The feed's keys and values, as they go into each message.
    pub(crate) feed: Map<String, Value>,
    /// Where the request goes.
    pub(crate) target: Target,
}

/// Where a request goes.
#[derive(Clone)]
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(crate) enum Target {
    /// An HTTP GET with these headers.
    Http {
        /// The URL, placeholders filled.
        url: Url,
        /// `source.headers`, placeholders filled.
        headers: HeaderMap,
    },
    /// A file read (a `file:` URL); a relative path is relative to the pipeline file's
    /// directory ([`Target::resolve`]).
    File(PathBuf),
}

impl Target {
    /// The target with a relative file path resolved against `base_dir`.
    pub(crate) fn resolve(self, base_dir: &Path) -> Target {
        match self {
            Target::File(path) if path.is_relative() => Target::File(base_dir.join(path)),
            other => other,
        }
    }
}

/// Every feed's request, and the credentials they carry.
#[derive(Clone)]
pub(crate) struct Requests {
    /// One request per feed (one request when `feeds` is empty).
    pub(crate) feeds: Vec<FeedRequest>,
    /// Values of headers and query parameters whose names say they are credentials: whatever
    /// shows a log line or an error must hide them.
    pub(crate) secrets: Vec<String>,
}

/// Shorter values are not registered as secrets: hiding them would garble unrelated log text.
const MIN_SECRET_LEN: usize = 6;

/// Resolves the request of every feed (one request when `feeds` is empty). The error is every
/// problem of the first feed that has one (the others repeat them). When `source.url` still holds
/// an unset `${VAR}`, a URL that does not parse is not reported: the variable is.
pub(crate) fn build(source: &Source, feeds: &[Located<Feed>]) -> Result<Requests, Vec<Diagnostic>> {
    let templates = Templates::new(source)?;
    let feeds: Vec<Map<String, Value>> = if feeds.is_empty() {
        vec![Map::new()]
    } else {
        feeds.iter().map(|f| feed_map(f)).collect()
    };
    let mut secrets = Vec::new();
    let mut requests = Vec::with_capacity(feeds.len());
    for feed in feeds {
        let target = target(source, &templates, &feed, &mut secrets).map_err(|mut problems| {
            if source.url.contains("${") {
                problems.retain(|p| p.path != "source.url");
            }
            problems
        })?;
        requests.push(FeedRequest {
            label: label(&feed),
            feed,
            target,
        });
    }
    Ok(Requests {
        feeds: requests,
        secrets,
    })
}

/// One feed's target: its URL rendered and checked, and for HTTP its headers.
fn target(
    source: &Source,
    templates: &Templates,
    feed: &Map<String, Value>,
    secrets: &mut Vec<String>,
) -> Result<Target, Vec<Diagnostic>> {
    let url = templates.render_url(&source.url, feed)?;
    if let Some(path) = file_path(&url).map_err(|p| vec![p.located(&source.url)])? {
        return Ok(Target::File(path));
    }
    let url = http_url(&url).map_err(|p| vec![p.located(&source.url)])?;
    register_query_secrets(&url, secrets);
    let mut headers = HeaderMap::new();
    let mut problems = Vec::new();
    let mut failed = false;
    for (name, template) in &source.headers {
        let header = templates
            .render_header(name, template, feed)
            .and_then(|value| header(name, template, &value, secrets).map_err(|p| vec![p]));
        match header {
            Ok((name, value)) => {
                headers.insert(name, value);
            }
            Err(found) => {
                failed = true;
                problems.extend(found);
            }
        }
    }
    if failed {
        Err(problems)
    } else {
        Ok(Target::Http { url, headers })
    }
}

/// What is wrong with a URL, before it is placed at `source.url`.
#[derive(Debug)]
pub(crate) struct UrlProblem {
    message: String,
    help: String,
}

impl UrlProblem {
    fn new(message: impl Into<String>, help: impl Into<String>) -> UrlProblem {
        UrlProblem {
            message: message.into(),
            help: help.into(),
        }
    }

    /// The problem as a diagnostic at `url`.
    fn located(self, url: &Located<String>) -> Diagnostic {
        Diagnostic::error(url.position, self.message)
            .at("source.url")
            .help(self.help)
    }
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

/// The path a `file:` URL names, as written (relative paths are resolved later), or `None` for
/// any other URL.
pub(crate) fn file_path(url: &str) -> Result<Option<PathBuf>, UrlProblem> {
    let Some(scheme) = url.get(..5).filter(|s| s.eq_ignore_ascii_case("file:")) else {
        return Ok(None);
    };
    let rest = &url[scheme.len()..];
    if let Some(after) = rest.strip_prefix("//") {
        if !after.starts_with('/') {
            return Err(UrlProblem::new(
                "`file://` is followed by a host, not a path",
                format!(
                    "write `file:{after}` for a path relative to the pipeline file, or `file:///{after}` for an absolute path"
                ),
            ));
        }
        return Ok(Some(PathBuf::from(percent_decode(after))));
    }
    let path = PathBuf::from(percent_decode(rest));
    if path.as_os_str().is_empty() {
        return Err(UrlProblem::new(
            "`file:` names no file",
            "write the path after `file:`, such as `file:responses/quotes.json`",
        ));
    }
    Ok(Some(path))
}

/// Parses an `http(s)` URL.
fn http_url(text: &str) -> Result<Url, UrlProblem> {
    let url = Url::parse(text).map_err(|err| {
        UrlProblem::new(
            format!("invalid URL: {err}"),
            "write a full URL such as `https://api.example.com/quotes`",
        )
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(UrlProblem::new(
            format!("unsupported URL scheme `{other}`"),
            "the source is a REST API: use an `https://` URL (or `file:` for a recorded response)",
        )),
    }
}

/// One header, marked sensitive (and its value kept as a secret) when its name says it holds a
/// credential. `template` is the value as written, where a problem is reported.
fn header(
    name: &str,
    template: &Located<String>,
    value: &str,
    secrets: &mut Vec<String>,
) -> Result<(HeaderName, HeaderValue), Diagnostic> {
    let path = format!("source.headers.{name}");
    let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        Diagnostic::error(template.position, format!("`{name}` is not a header name"))
            .at(&path)
            .help("a header name is letters, digits and `-`, such as `X-Api-Key`")
    })?;
    let mut header_value = HeaderValue::from_str(value).map_err(|_| {
        // The value is not shown: it may be a key.
        Diagnostic::error(
            template.position,
            "the value has characters a header cannot carry (a line break or a control character)",
        )
        .at(&path)
    })?;
    if is_secret_name(name) {
        header_value.set_sensitive(true);
        if value.chars().count() >= MIN_SECRET_LEN {
            secrets.push(value.to_owned());
        }
    }
    Ok((header_name, header_value))
}

/// Registers the values of credential-like query parameters (`?apikey=…`), as written in the
/// URL and decoded.
fn register_query_secrets(url: &Url, secrets: &mut Vec<String>) {
    let Some(query) = url.query() else { return };
    for pair in query.split('&') {
        let Some((name, raw)) = pair.split_once('=') else {
            continue;
        };
        if is_secret_name(&percent_decode(name)) && raw.chars().count() >= MIN_SECRET_LEN {
            secrets.push(percent_decode(raw));
            secrets.push(raw.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;

    #[test]
    fn file_urls_keep_their_path_until_resolved() {
        let base = Path::new("/pipelines");
        let path = |url: &str| file_path(url).unwrap();
        assert_eq!(
            path("file:responses/a%20b.json").map(|p| Target::File(p).resolve(base)),
            Some(Target::File(PathBuf::from("/pipelines/responses/a b.json")))
        );
        assert_eq!(
            path("FILE:///data/x.json"),
            Some(PathBuf::from("/data/x.json"))
        );
        assert_eq!(
            path("file:/data/x.json"),
            Some(PathBuf::from("/data/x.json"))
        );
        assert_eq!(path("https://h/x"), None);
        let err = file_path("file://responses/x.json").unwrap_err();
        assert!(err.help.contains("`file:responses/x.json`"), "{err:?}");
        assert!(file_path("file:").is_err());
    }

    #[test]
    fn only_http_schemes_are_fetched_over_the_network() {
        assert!(http_url("https://h/x").is_ok());
        assert!(http_url("ftp://h/x").unwrap_err().message.contains("`ftp`"));
        assert!(http_url("not a url").is_err());
    }

    #[test]
    fn credential_values_become_secrets() {
        let mut secrets = Vec::new();
        let url = Url::parse("https://h/q?symbol=MSFT&apikey=abc%2Fdef123").unwrap();
        register_query_secrets(&url, &mut secrets);
        let written = |v: &str| Located::unlocated(v.to_owned());
        let key = written("key-0123456789");
        let (_, value) = header("X-Api-Key", &key, &key, &mut secrets).unwrap();
        assert!(value.is_sensitive());
        let host = written("api.example.com");
        let (_, host) = header("X-Api-Host", &host, &host, &mut secrets).unwrap();
        assert!(!host.is_sensitive());
        let mut redactor = Redactor::default();
        for secret in secrets {
            redactor.add(secret);
        }
        assert_eq!(
            redactor.redact("MSFT abc/def123 abc%2Fdef123 key-0123456789 api.example.com"),
            "MSFT <redacted> <redacted> <redacted> api.example.com"
        );
    }
}
