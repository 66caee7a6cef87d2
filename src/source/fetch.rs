//! One attempt at a feed's request: an HTTP GET or a file read, with the body read in chunks up
//! to the size cap so a runaway response is never held whole. Errors say whether retrying can
//! help; their text is redacted by whoever shows it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::{Client, Response, StatusCode, Url};

use super::ratelimit::{LastQuota, RateLimitHeaders};
use super::{body, retry};
use crate::config::model::Method;
use crate::metrics::FailureKind;

/// How much of an error response (4xx, 5xx) is read to find its message.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A response that arrived whole.
#[derive(Clone, Debug)]
pub(crate) struct Fetched {
    /// The HTTP status; `None` for a file.
    pub(crate) status: Option<StatusCode>,
    /// The `Content-Type` header, when there is one.
    pub(crate) content_type: Option<String>,
    /// The body, at most the size cap.
    pub(crate) body: Vec<u8>,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    /// No whole response within `source.timeout`.
    #[error("no response within the {} timeout", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The connection could not be made, broke, or the request could not be sent.
    #[error("request failed: {message}")]
    Transport {
        /// The error and its causes, without the URL.
        message: String,
        /// Whether another attempt can help (a refused or reset connection can).
        retryable: bool,
    },
    /// The server answered with a status other than 2xx.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The body's `message`, or the start of the body.
        message: String,
        /// How long the server asked to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The body is larger than the cap.
    #[error("response body is larger than the {} cap{}; raise `source.max_body` if the API really sends that much", size(*limit), declared.map(|n| format!(" (Content-Length: {n} bytes)")).unwrap_or_default())]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
        /// The size the server declared, when it did.
        declared: Option<u64>,
    },
    /// A `file:` URL could not be read.
    #[error("cannot read {}: {message}", path.display())]
    File {
        /// The resolved path.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl FetchError {
    /// Whether another attempt may succeed: timeouts, connection errors, 429 and 5xx.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            FetchError::Timeout(_) => true,
            FetchError::Transport { retryable, .. } => *retryable,
            FetchError::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            FetchError::TooLarge { .. } | FetchError::File { .. } => false,
        }
    }

    /// The kind of failure, as the metrics count it.
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            FetchError::Timeout(_) => FailureKind::Timeout,
            FetchError::Transport { .. } => FailureKind::Transport,
            FetchError::Status { status, .. } => FailureKind::of_status(status.as_u16()),
            FetchError::TooLarge { .. } => FailureKind::TooLarge,
            FetchError::File { .. } => FailureKind::File,
        }
    }

    /// How long the server asked the client to wait before the next attempt.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What one HTTP request sends.
pub(crate) struct Request<'r> {
    /// GET or POST.
    pub(crate) method: Method,
    /// Where.
    pub(crate) url: &'r Url,
    /// With these headers.
    pub(crate) headers: &'r HeaderMap,
    /// And this body (for POST).
    pub(crate) body: Option<&'r str>,
}

/// Sends `request`; any status but 2xx is an error carrying the body's message. The response's
/// rate-limit headers are logged and kept in `quota`, whatever its status. A compressed body (gzip, deflate,
/// brotli: the client asks for them) is decompressed as it is read, so `limit` caps what it
/// decompresses to.
pub(crate) async fn http(
    client: &Client,
    request: &Request<'_>,
    ratelimit: &RateLimitHeaders,
    quota: &LastQuota,
    limit: usize,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    let url = request.url;
    let builder = match request.method {
        Method::Get => client.get(url.clone()),
        Method::Post => client.post(url.clone()),
    };
    let builder = match request.body {
        Some(body) => builder.body(body.to_owned()),
        None => builder,
    };
    let response = builder
        .headers(request.headers.clone())
        .send()
        .await
        .map_err(|err| transport(err, timeout))?;
    let status = response.status();
    quota.set(ratelimit.log(response.headers()));
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if status.is_success() {
        let body = read_capped(response, limit, timeout).await?;
        return Ok(Fetched {
            status: Some(status),
            content_type,
            body,
        });
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| retry::parse_retry_after(v, chrono::Utc::now()));
    if status.is_redirection() {
        // Only same-host redirects are followed (see `redirect_policy`).
        let target = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url.join(l).ok())
            .map_or_else(
                || "an unknown place".to_owned(),
                |u| u.origin().ascii_serialization(),
            );
        return Err(FetchError::Status {
            status,
            message: format!(
                "redirected to {target}; not followed, so the request's headers stay with {}",
                url.origin().ascii_serialization()
            ),
            retry_after: None,
        });
    }
    // The message is best effort: a broken error body still leaves the status to report.
    let body = read_prefix(response, ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    Err(FetchError::Status {
        status,
        message: body::error_message(&body, content_type.as_deref()),
        retry_after,
    })
}

/// The source's HTTP client, built on the first request rather than with the poller: building
/// it loads the system's root certificates, about 4 ms of CPU (a third of a Lambda's cold start,
/// measured: BENCHMARKS.md), which a function that only handles SQS batches, or a pipeline of
/// `file:` feeds, never needs.
pub(crate) struct LazyClient {
    /// `source.timeout`, per request.
    timeout: Duration,
    /// The client, or why it could not be built (said by every request then).
    client: std::sync::OnceLock<Result<reqwest::Client, String>>,
}

impl LazyClient {
    /// A client whose requests take at most `timeout`, not built yet.
    pub(crate) fn new(timeout: Duration) -> LazyClient {
        LazyClient {
            timeout,
            client: std::sync::OnceLock::new(),
        }
    }

    /// The client, built now when this is the first request.
    pub(crate) fn get(&self) -> Result<&reqwest::Client, FetchError> {
        let built = self.client.get_or_init(|| {
            reqwest::Client::builder()
                .user_agent(concat!("stockrun/", env!("CARGO_PKG_VERSION")))
                .timeout(self.timeout)
                .redirect(redirect_policy())
                .build()
                .map_err(|error| format!("cannot build the HTTP client: {}", chain(&error)))
        });
        built.as_ref().map_err(|message| FetchError::Transport {
            message: message.clone(),
            retryable: false,
        })
    }
}

/// Follows redirects (at most 5) only to the same origin, or to `https` on the same host, so
/// API keys in headers never travel to a server they were not written for.
pub(crate) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        let next = attempt.url();
        let allowed = next.origin() == first.origin()
            || (next.scheme() == "https" && next.host_str() == first.host_str());
        if attempt.previous().len() > 5 || !allowed {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// Reads the file a `file:` URL names (`relative`, already checked to stay inside `base_dir`),
/// up to `limit` bytes and within `timeout`. Symbolic links and `..` are resolved first, and a
/// path that then leads outside `base_dir` is refused, as is anything but a regular file (a FIFO
/// or a device could block forever or never end). The read runs on a thread of its own, so a
/// file that never answers (a stalled network mount) costs that thread, not the process: it
/// neither holds the poll past `timeout` nor keeps the process from exiting.
pub(crate) async fn file(
    base_dir: &Path,
    relative: &Path,
    limit: usize,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    let path = base_dir.join(relative);
    let (base, target) = (base_dir.to_owned(), path.clone());
    let body = match on_own_thread(timeout, move || read_file(&base, &target, limit)).await {
        Ok(read) => read?,
        Err(Stalled::Timeout) => return Err(FetchError::Timeout(timeout)),
        Err(Stalled::Failed(message)) => return Err(FetchError::File { path, message }),
    };
    Ok(Fetched {
        status: None,
        content_type: None,
        body,
    })
}

/// Why [`on_own_thread`] has no result.
#[derive(Debug)]
enum Stalled {
    /// The work did not finish within the timeout (it goes on, unobserved).
    Timeout,
    /// The thread could not start, or ended without a result.
    Failed(String),
}

/// Runs blocking `work` on a thread of its own and waits for it at most `timeout`. Unlike
/// `spawn_blocking`, a thread that never returns does not keep the runtime (and so the process)
/// from shutting down.
async fn on_own_thread<T: Send + 'static>(
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Stalled> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("file-source".to_owned())
        .spawn(move || {
            // The receiver is gone when the work took too long: nobody waits for the result.
            let _ = sender.send(work());
        })
        .map_err(|err| Stalled::Failed(format!("cannot start the read: {err}")))?;
    match tokio::time::timeout(timeout, receiver).await {
        Err(_) => Err(Stalled::Timeout),
        Ok(Err(_)) => Err(Stalled::Failed("the read stopped unexpectedly".to_owned())),
        Ok(Ok(result)) => Ok(result),
    }
}

/// Resolves `path`, checks it is a regular file inside `base_dir`, and reads it up to `limit`.
/// Errors name the path as written, never the file's content.
fn read_file(base_dir: &Path, path: &Path, limit: usize) -> Result<Vec<u8>, FetchError> {
    let failed = |message: String| FetchError::File {
        path: path.to_owned(),
        message,
    };
    let io = |err: std::io::Error| failed(err.to_string());
    let root = std::fs::canonicalize(base_dir).map_err(|err| {
        failed(format!(
            "the pipeline file's folder cannot be resolved: {err}"
        ))
    })?;
    let real = std::fs::canonicalize(path).map_err(io)?;
    if !real.starts_with(&root) {
        return Err(failed(format!(
            "it leads outside the pipeline file's folder {} (through a symbolic link); `file:` reads only files in that folder and below: copy the file there",
            root.display()
        )));
    }
    let regular = |metadata: &std::fs::Metadata| {
        if metadata.is_file() {
            Ok(())
        } else {
            Err(failed(
                "it is not a regular file (a directory, a FIFO, a socket or a device); `file:` reads only recorded responses saved as files".to_owned(),
            ))
        }
    };
    regular(&std::fs::metadata(&real).map_err(io)?)?;
    let file = std::fs::File::open(&real).map_err(io)?;
    // Checked again on what was opened, in case the path changed in between.
    let opened = file.metadata().map_err(io)?;
    regular(&opened)?;
    // Sized to the file (a poll holds it until its records are read): grown by doubling, a
    // 1.2 MB response took a 2 MiB buffer.
    let size = usize::try_from(opened.len()).unwrap_or(usize::MAX);
    let mut body = Vec::with_capacity(size.min(limit.saturating_add(1)));
    file.take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(io)?;
    if body.len() > limit {
        return Err(FetchError::TooLarge {
            limit,
            declared: None,
        });
    }
    Ok(body)
}

/// The whole body, or `TooLarge` as soon as it passes `limit`.
async fn read_capped(
    mut response: Response,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    let declared = response.content_length();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge { limit, declared });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| transport(err, timeout))?
    {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge { limit, declared });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first `limit` bytes of the body.
async fn read_prefix(mut response: Response, limit: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == limit {
            break;
        }
    }
    Ok(body)
}

/// A transport error as a `FetchError`; its text never holds the URL (which may carry a key).
fn transport(err: reqwest::Error, timeout: Duration) -> FetchError {
    if err.is_timeout() {
        return FetchError::Timeout(timeout);
    }
    let retryable = !(err.is_builder() || err.is_redirect() || err.is_decode());
    FetchError::Transport {
        message: chain(&err.without_url()),
        retryable,
    }
}

/// An error and its causes, `: `-separated, each cause once.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `10 MiB`, `64 KiB` or `100 bytes`.
pub(crate) fn size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests;
