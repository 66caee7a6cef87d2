//! What each feed requests, resolved once when the source is compiled: feeds do not change
//! while a pipeline runs, so the URL and headers are rendered, parsed and checked up front (this
//! is where `validate` checks them too), and a poll only sends them.
//!
//! A URL is `http(s)://…`, or `file:` for offline demos and replays: `file:responses/x.json`,
//! relative to the pipeline file's directory and confined to it. An absolute path
//! (`file:///etc/x`, `file:/etc/x`) or one that climbs out with `..` (`%2F` decoded first) is an
//! error here, so `validate` reports it; symbolic links are resolved when the file is read
//! (`fetch::file`). `file://x.json` is an error too: after `//` comes a host, not a path.

use std::path::{Component, Path, PathBuf};

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::template::Templates;
use crate::config::Located;
use crate::config::located::Position;
use crate::config::model::{Feed, Method, Source};
use crate::diag::Diagnostic;
use crate::percent::percent_decode;
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
    /// An HTTP request with these headers.
    Http {
        /// `source.method`.
        method: Method,
        /// The URL, placeholders filled.
        url: Url,
        /// `source.headers`, placeholders filled (and `Content-Type` for a body).
        headers: HeaderMap,
        /// `source.body`, placeholders filled and checked to be JSON.
        body: Option<String>,
    },
    /// A file read (a `file:` URL): a relative path that stays inside the pipeline file's
    /// directory, against which the poller resolves it.
    File(PathBuf),
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
    let body = match &source.body {
        Some(template) => match request_body(templates, template, feed) {
            Ok(body) => Some(body),
            Err(found) => {
                failed = true;
                problems.extend(found);
                None
            }
        },
        None => None,
    };
    if body.is_some() && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if failed {
        Err(problems)
    } else {
        Ok(Target::Http {
            method: source.method.as_deref().copied().unwrap_or_default(),
            url,
            headers,
            body,
        })
    }
}

/// One feed's request body: `source.body` rendered, and JSON (the error names the feed whose
/// values broke it, never the text, which may hold a key).
fn request_body(
    templates: &Templates,
    template: &Located<String>,
    feed: &Map<String, Value>,
) -> Result<String, Vec<Diagnostic>> {
    let body = templates.render_body(template, feed)?;
    match serde_json::from_str::<serde::de::IgnoredAny>(&body) {
        Ok(_) => Ok(body),
        Err(err) => {
            let which = if feed.is_empty() {
                String::new()
            } else {
                format!(" for feed `{}`", label(feed))
            };
            Err(vec![
                Diagnostic::error(
                    template.position,
                    format!("the request body{which} is not JSON: {err}"),
                )
                .at("source.body")
                .help(
                    "write the body as JSON with `{{key}}` inside strings, such as \
                     `'{\"symbol\": \"{{symbol}}\"}'`; a value outside quotes needs `{{{key}}}`",
                ),
            ])
        }
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

/// The path a `file:` URL names, relative to the pipeline file's directory, or `None` for any
/// other URL. A path that is absolute or climbs out of that directory is refused: a pipeline
/// file must not make the poller read (and log) files such as `/proc/self/environ`.
pub(crate) fn file_path(url: &str) -> Result<Option<PathBuf>, UrlProblem> {
    let Some(scheme) = url.get(..5).filter(|s| s.eq_ignore_ascii_case("file:")) else {
        return Ok(None);
    };
    let rest = &url[scheme.len()..];
    if let Some(after) = rest.strip_prefix("//")
        && !after.starts_with('/')
    {
        return Err(UrlProblem::new(
            "`file://` is followed by a host, not a path",
            format!(
                "write `file:{after}` for a path relative to the pipeline file (`file:` reads only files in its folder and below)"
            ),
        ));
    }
    let path = PathBuf::from(percent_decode(rest));
    if path.as_os_str().is_empty() {
        return Err(UrlProblem::new(
            "`file:` names no file",
            "write the path after `file:`, such as `file:responses/quotes.json`",
        ));
    }
    confined(&path)?;
    Ok(Some(path))
}

/// Why a `file:` URL may read only inside the pipeline file's folder, and what to do instead.
const CONFINED_HELP: &str = "`file:` reads only files in the pipeline file's folder and below, so that a pipeline cannot make stockrun read (and log) files such as credentials: copy the recorded response next to the pipeline file and write `file:responses/quotes.json`";

/// Refuses a path that is absolute or whose `..` climbs above where it starts.
fn confined(path: &Path) -> Result<(), UrlProblem> {
    let mut depth = 0usize;
    for component in path.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => {
                return Err(UrlProblem::new(
                    format!(
                        "`file:` names an absolute path (`{}`), outside the pipeline file's folder",
                        path.display()
                    ),
                    CONFINED_HELP,
                ));
            }
            Component::ParentDir if depth == 0 => {
                return Err(UrlProblem::new(
                    format!(
                        "`file:` climbs out of the pipeline file's folder (`{}`)",
                        path.display()
                    ),
                    CONFINED_HELP,
                ));
            }
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
        }
    }
    Ok(())
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
    let header_name = header_name(name, template.position, &path)?;
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

/// `name` as an HTTP header name, or an error at `position` (`path` is its place in the pipeline,
/// such as `source.headers.X-Api-Key`): the one rule for every header name a pipeline gives.
pub(super) fn header_name(
    name: &str,
    position: Position,
    path: &str,
) -> Result<HeaderName, Diagnostic> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        Diagnostic::error(
            position,
            format!("`{name}` is not a valid HTTP header name"),
        )
        .at(path)
        .help(
            "a header name is letters, digits and `-` (no spaces, `:` or quotes), such as \
                 `X-Api-Key`",
        )
    })
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
mod tests;
