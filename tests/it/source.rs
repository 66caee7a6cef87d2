//! The poller against a real HTTP server on loopback (wiremock): records, feeds, headers, retries
//! (5xx, 429 + Retry-After, timeouts), error bodies on HTTP 200, `file:` URLs, the body cap,
//! secrets kept out of logs, and how each feed's poll ended (for the feed status).

use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stockrun::config::Pipeline;
use stockrun::config::env::{Environment, find_references};
use stockrun::config::load::{self, UnsetVariables};
use stockrun::metrics::FailureKind;
use stockrun::redact::Redactor;
use stockrun::source::{CompiledSource, PollReport, Poller, Quota, RetryPolicy, Schedule};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{assert_contains, root};

const SENTINEL: &str = "sentinel-secret-123456";

/// A pipeline with this `source` block (indented by two spaces) and `feeds` block.
fn pipeline_yaml(source: &str, feeds: &str) -> String {
    format!(
        "name: test\nsource:\n{source}\n{feeds}\nprocess:\n  fields:\n    symbol: {{ path: $.symbol }}\n\
         store:\n  table: quotes\n  key:\n    partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n"
    )
}

/// Loads a pipeline the way `run` does; the redactor knows the substituted variables.
fn load(yaml: &str, vars: &[(&str, &str)]) -> (Pipeline, Redactor) {
    init_logging();
    let env = Environment::from_pairs(vars.iter().copied());
    let checked = load::check(yaml.as_bytes(), &env, UnsetVariables::Deny);
    let pipeline = checked
        .pipeline
        .unwrap_or_else(|| panic!("invalid pipeline {:#?}\n{yaml}", checked.diagnostics));
    let redactor = Redactor::new(env.secrets_in(&find_references(yaml)));
    (pipeline, redactor)
}

/// The poller of `pipeline`, its source compiled as `validate` compiles it; the error is every
/// diagnostic (message and help).
fn build(pipeline: &Pipeline, base: &Path, redactor: Redactor) -> Result<Poller, String> {
    let source = CompiledSource::new(
        &pipeline.source,
        Schedule::new(&pipeline.source).ok(),
        Some(&pipeline.feeds),
    )
    .map_err(|found| {
        found
            .iter()
            .map(|d| format!("{} ({})", d.message, d.help.as_deref().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Poller::new(&pipeline.name, source, base, redactor).map_err(|err| err.to_string())
}

/// A poller with millisecond retry delays (3 retries).
fn poller(source: &str, feeds: &str, vars: &[(&str, &str)]) -> Poller {
    poller_in(source, feeds, vars, &root())
}

fn poller_in(source: &str, feeds: &str, vars: &[(&str, &str)], base: &Path) -> Poller {
    let (pipeline, redactor) = load(&pipeline_yaml(source, feeds), vars);
    build(&pipeline, base, redactor)
        .expect("poller builds")
        .with_retry(RetryPolicy::new(Duration::from_millis(1), 3))
}

fn recorded(name: &str) -> String {
    std::fs::read_to_string(root().join("examples/responses").join(name)).expect("recorded body")
}

fn json_response(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

fn records(report: &PollReport) -> Vec<Value> {
    report.messages.iter().map(|m| m.record.clone()).collect()
}

/// Log lines written on this test's thread while the guard lives.
///
/// One global subscriber routes each thread's events to that thread's buffer: per-test scoped
/// subscribers race with each other over tracing's per-callsite interest cache, and lose events.
/// `#[tokio::test]` runs the test and every task it spawns on one thread.
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

thread_local! {
    static CAPTURE: RefCell<Option<Logs>> = const { RefCell::new(None) };
}

/// Writes to the current thread's capture buffer, if any.
struct ThreadWriter;

impl Write for ThreadWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| {
            if let Some(logs) = &*capture.borrow() {
                logs.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops capturing on drop.
pub(crate) struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// Installs the global subscriber (once), before any poller logs, writing through the same
/// redacting writer as the command line and Lambda.
fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| stockrun::logging::Redacting(ThreadWriter))
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other test sets a global subscriber");
    });
}

impl Logs {
    pub(crate) fn capture() -> (Logs, CaptureGuard) {
        init_logging();
        let logs = Logs::default();
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(logs.clone()));
        (logs, CaptureGuard)
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Polls one feed at `{server}{url_suffix}` (the rest of the `source` block may follow the
/// path) from a server that answers every GET with `response` and must get exactly `requests`
/// of them. The poll must fail: no messages, `requests` requests, one failed feed. Returns the
/// log lines the poll wrote.
async fn failing_poll(response: ResponseTemplate, url_suffix: &str, requests: u64) -> String {
    failing_poll_with(response, url_suffix, requests, |poller| poller).await
}

/// [`failing_poll`] with the poller passed through `tune` first.
async fn failing_poll_with(
    response: ResponseTemplate,
    url_suffix: &str,
    requests: u64,
    tune: impl FnOnce(Poller) -> Poller,
) -> String {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(response)
        .expect(requests)
        .mount(&server)
        .await;
    let (logs, _guard) = Logs::capture();
    let source = format!("  url: {}{url_suffix}", server.uri());
    let report = tune(poller(&source, "", &[])).poll_once().await;
    assert!(report.messages.is_empty());
    assert_eq!((report.requests, report.failed_feeds), (requests, 1));
    logs.text()
}

#[tokio::test]
async fn latest_stock_price_array_becomes_one_message_per_record() {
    let server = MockServer::start().await;
    let body = recorded("latest-stock-price.json");
    Mock::given(method("GET"))
        .and(path("/any"))
        .respond_with(json_response(200, &body))
        .expect(1)
        .mount(&server)
        .await;
    let source = format!("  url: {}/any\n  records: $[*]", server.uri());
    let report = poller(&source, "", &[]).poll_once().await;

    let expected: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(records(&report), expected);
    assert_eq!((report.requests, report.failed_feeds), (1, 0));
    for message in &report.messages {
        assert_eq!(message.pipeline, "test");
        assert!(message.feed.is_empty());
        let at = chrono::DateTime::parse_from_rfc3339(&message.fetched_at).unwrap();
        assert_eq!(at.offset().local_minus_utc(), 0);
        assert!(
            message.fetched_at.ends_with('Z') && message.fetched_at.len() == 24,
            "milliseconds, UTC: {}",
            message.fetched_at
        );
    }
}

/// What the feed status records: per feed, in feed order, its label, records, failure kind and
/// the allowance its latest response's rate-limit headers said, a throttled (429) one's too.
#[tokio::test]
async fn a_poll_reports_each_feeds_end_and_the_quota_its_headers_said() {
    let server = MockServer::start().await;
    let limited = |status: u16, remaining: &str, body: &str| {
        json_response(status, body)
            .append_header("x-ratelimit-requests-remaining", remaining)
            .append_header("x-ratelimit-requests-limit", "500")
    };
    Mock::given(query_param("symbol", "MSFT"))
        .respond_with(limited(
            200,
            "412",
            r#"[{"symbol":"MSFT"},{"symbol":"MSFT"}]"#,
        ))
        .mount(&server)
        .await;
    Mock::given(query_param("symbol", "INFY"))
        .respond_with(limited(429, "0", r#"{"message":"too many requests"}"#))
        .mount(&server)
        .await;
    let source = format!("  url: {}/q?symbol={{{{symbol}}}}", server.uri());
    let feeds = "feeds:\n  - { symbol: MSFT }\n  - { symbol: INFY }";

    let stats = poller(&source, feeds, &[])
        .poll(&mut PollReport::default())
        .await;

    let ends: Vec<(&str, u64, Option<FailureKind>, Option<Quota>)> = stats
        .feeds
        .iter()
        .map(|feed| (feed.feed.as_str(), feed.records, feed.failure, feed.quota))
        .collect();
    let quota = |remaining| {
        Some(Quota {
            remaining,
            limit: Some(500),
        })
    };
    assert_eq!(
        ends,
        [
            ("symbol=MSFT", 1, None, quota(412)),
            ("symbol=INFY", 0, Some(FailureKind::Http4xx), quota(0)),
        ]
    );
    let urls = format!("{:?}", stats.feeds);
    assert!(!urls.contains("/q?"), "no URL in what is recorded: {urls}");
}

#[tokio::test]
async fn each_feed_is_one_request_with_its_value_encoded_in_the_url() {
    let server = MockServer::start().await;
    for symbol in ["MSFT", "NIFTY 50"] {
        Mock::given(method("GET"))
            .and(path("/query"))
            .and(query_param("function", "GLOBAL_QUOTE"))
            .and(query_param("symbol", symbol))
            .respond_with(json_response(200, &format!(r#"{{"symbol":"{symbol}"}}"#)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let source = format!(
        "  url: {}/query?function=GLOBAL_QUOTE&symbol={{{{symbol}}}}",
        server.uri()
    );
    let feeds = "feeds:\n  - { symbol: MSFT }\n  - { symbol: NIFTY 50 }";
    let report = poller(&source, feeds, &[]).poll_once().await;

    assert_eq!((report.requests, report.failed_feeds), (2, 0));
    let feeds: Vec<&Value> = report.messages.iter().map(|m| &m.feed["symbol"]).collect();
    assert_eq!(feeds, [&json!("MSFT"), &json!("NIFTY 50")]);
    assert_eq!(
        records(&report),
        [json!({"symbol": "MSFT"}), json!({"symbol": "NIFTY 50"})]
    );
    let queries: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.query().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        queries[1], "function=GLOBAL_QUOTE&symbol=NIFTY%2050",
        "feed values are percent-encoded"
    );
}

#[tokio::test]
async fn headers_from_the_environment_and_the_feed_reach_the_server() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("X-RapidAPI-Key", "key-from-env-0001"))
        .and(header(
            "X-RapidAPI-Host",
            "latest-stock-price.p.rapidapi.com",
        ))
        .and(header("X-Index", "NIFTY 50"))
        .and(header(
            "user-agent",
            concat!("stockrun/", env!("CARGO_PKG_VERSION")),
        ))
        .respond_with(json_response(200, "[]"))
        .expect(1)
        .mount(&server)
        .await;
    let source = format!(
        "  url: {}/price\n  records: $[*]\n  headers:\n    X-RapidAPI-Key: ${{RAPIDAPI_KEY}}\n    \
         X-RapidAPI-Host: latest-stock-price.p.rapidapi.com\n    X-Index: \"{{{{index}}}}\"",
        server.uri()
    );
    let feeds = "feeds:\n  - { index: NIFTY 50 }";
    let (logs, _guard) = Logs::capture();
    let report = poller(&source, feeds, &[("RAPIDAPI_KEY", "key-from-env-0001")])
        .poll_once()
        .await;
    assert_eq!((report.requests, report.failed_feeds), (1, 0));
    assert!(report.messages.is_empty());
    assert_contains(&logs.text(), "response had no records");
}

#[tokio::test]
async fn rate_limited_request_waits_for_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            json_response(
                429,
                r#"{"message":"You have exceeded the rate limit per second"}"#,
            )
            .insert_header("Retry-After", "1"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(json_response(200, r#"[{"symbol":"A"}]"#))
        .expect(1)
        .mount(&server)
        .await;
    let source = format!("  url: {}/any\n  records: $[*]", server.uri());
    let started = Instant::now();
    let report = poller(&source, "", &[]).poll_once().await;
    assert_eq!(records(&report), [json!({"symbol": "A"})]);
    assert_eq!((report.requests, report.failed_feeds), (2, 0));
    // The backoff alone would be milliseconds: the second request waited for the server.
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn retry_after_beyond_the_cap_skips_the_feed_this_poll() {
    let quota = json_response(429, r#"{"message":"You have exceeded the MONTHLY quota"}"#)
        .insert_header("Retry-After", "3600");
    let logs = failing_poll(quota, "/any", 1).await;
    assert_contains(&logs, "longer than the cap");
    assert_contains(
        &logs,
        "429 Too Many Requests: You have exceeded the MONTHLY quota",
    );
}

#[tokio::test]
async fn server_errors_are_retried_until_one_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(json_response(200, r#"[{"symbol":"A"},{"symbol":"B"}]"#))
        .expect(1)
        .mount(&server)
        .await;
    let source = format!("  url: {}/any\n  records: $[*]", server.uri());
    let report = poller(&source, "", &[]).poll_once().await;
    assert_eq!(report.messages.len(), 2);
    assert_eq!((report.requests, report.failed_feeds), (3, 0));
}

#[tokio::test]
async fn persistent_server_errors_fail_the_feed_after_the_retries() {
    failing_poll(ResponseTemplate::new(503), "/any", 4).await;
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retried() {
    let slow = json_response(200, "[]").set_delay(Duration::from_secs(2));
    let two_retries = |p: Poller| p.with_retry(RetryPolicy::new(Duration::from_millis(1), 2));
    let logs = failing_poll_with(slow, "/any\n  timeout: 200ms", 3, two_retries).await;
    assert_contains(&logs, "no response within the 200ms timeout");
}

#[tokio::test]
async fn an_html_page_with_status_200_is_a_failure() {
    let html = ResponseTemplate::new(200).set_body_raw(
        "<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>",
        "text/html; charset=utf-8",
    );
    let logs = failing_poll(html, "/any\n  records: $[*]", 1).await;
    assert_contains(
        &logs,
        "response is not JSON (content-type text/html; charset=utf-8): `<!DOCTYPE html> <html>",
    );
}

#[tokio::test]
async fn an_error_body_on_status_200_is_not_a_record() {
    let throttled = json_response(200, &recorded("alpha-vantage-throttled.json"));
    let logs = failing_poll(
        throttled,
        "/query\n  records: $['Global Quote']\n  errors: [$.Note]",
        1,
    )
    .await;
    assert_contains(
        &logs,
        "the body is an error (`$.Note` matched): Thank you for using Alpha Vantage!",
    );
}

#[tokio::test]
async fn an_empty_global_quote_is_queued_when_errors_do_not_catch_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_response(
            200,
            &recorded("alpha-vantage-unknown-symbol.json"),
        ))
        .mount(&server)
        .await;
    let source = format!(
        "  url: {}/query\n  records: $['Global Quote']\n  errors: [$.Note]",
        server.uri()
    );
    let report = poller(&source, "", &[]).poll_once().await;
    assert_eq!(records(&report), [json!({})]);
    assert_eq!(report.failed_feeds, 0);
}

/// examples/alpha-vantage-global-quote.yaml as written, pointed at the mock server: its
/// `errors` filters turn every kind of Alpha Vantage and RapidAPI error into a failed feed.
#[tokio::test]
async fn the_alpha_vantage_example_keeps_only_real_quotes() {
    let server = MockServer::start().await;
    let answers = [
        ("MSFT", 200, "alpha-vantage-global-quote.json"),
        ("AAPL", 200, "alpha-vantage-unknown-symbol.json"),
        ("AMZN", 200, "alpha-vantage-throttled.json"),
        ("GOOGL", 200, "rapidapi-invalid-key.json"),
        ("NVDA", 403, "rapidapi-invalid-key.json"),
    ];
    for (symbol, status, file) in answers {
        Mock::given(query_param("symbol", symbol))
            .and(header("X-RapidAPI-Key", SENTINEL))
            .respond_with(json_response(status, &recorded(file)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let yaml = std::fs::read_to_string(root().join("examples/alpha-vantage-global-quote.yaml"))
        .unwrap()
        .replace("https://alpha-vantage.p.rapidapi.com", &server.uri());
    let (pipeline, redactor) = load(&yaml, &[("RAPIDAPI_KEY", SENTINEL)]);
    let report = build(&pipeline, &root(), redactor)
        .unwrap()
        .with_retry(RetryPolicy::new(Duration::from_millis(1), 3))
        .poll_once()
        .await;
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].record["05. price"], json!("421.4100"));
    assert_eq!(report.messages[0].feed["symbol"], json!("MSFT"));
    assert_eq!((report.requests, report.failed_feeds), (5, 4));
}

#[tokio::test]
async fn an_invalid_key_is_not_retried() {
    let invalid_key = json_response(401, &recorded("rapidapi-invalid-key.json"));
    let logs = failing_poll(invalid_key, "/any", 1).await;
    assert_contains(&logs, "HTTP 401 Unauthorized: Invalid API key.");
}

#[tokio::test]
async fn rate_limit_headers_warn_when_the_allowance_is_nearly_spent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            json_response(200, "[]")
                .insert_header("x-ratelimit-requests-limit", "500")
                .insert_header("x-ratelimit-requests-remaining", "12")
                .insert_header("x-ratelimit-requests-reset", "86400"),
        )
        .mount(&server)
        .await;
    let (logs, _guard) = Logs::capture();
    let source = format!("  url: {}/any", server.uri());
    poller(&source, "", &[]).poll_once().await;
    let logs = logs.text();
    assert_contains(&logs, "nearly spent remaining=12 limit=500 reset_s=86400");
}

/// Polls once a server whose every response carries `headers`, with this `ratelimit_headers`
/// block (empty for the default); returns the logs.
async fn rate_limit_logs(headers: &[(&str, &str)], ratelimit_headers: &str) -> String {
    let server = MockServer::start().await;
    let mut response = json_response(200, "[]");
    for (name, value) in headers {
        response = response.insert_header(*name, *value);
    }
    Mock::given(method("GET"))
        .respond_with(response)
        .mount(&server)
        .await;
    let (logs, _guard) = Logs::capture();
    let source = format!("  url: {}/any\n{ratelimit_headers}", server.uri());
    poller(&source, "", &[]).poll_once().await;
    logs.text()
}

#[tokio::test]
async fn configured_rate_limit_headers_are_read_instead_of_the_default_ones() {
    let headers = [
        ("X-RateLimit-Limit", "100"),
        ("X-RateLimit-Remaining", "7"),
        ("X-RateLimit-Reset", "1767225600"),
        // The default names, with an allowance far from spent: not read once others are set.
        ("x-ratelimit-requests-limit", "500"),
        ("x-ratelimit-requests-remaining", "400"),
    ];
    let configured = "  ratelimit_headers:\n    limit: X-RateLimit-Limit\n    \
                      remaining: X-RateLimit-Remaining\n    reset: X-RateLimit-Reset";
    let logs = rate_limit_logs(&headers, configured).await;
    assert_contains(
        &logs,
        "nearly spent remaining=7 limit=100 reset_s=1767225600",
    );
    assert!(!logs.contains("remaining=400"), "{logs}");
}

#[tokio::test]
async fn unset_rate_limit_header_names_keep_their_defaults() {
    // Only `remaining` is configured: the limit is read from `x-ratelimit-requests-limit`.
    let headers = [
        ("X-RateLimit-Remaining", "40"),
        ("x-ratelimit-requests-limit", "500"),
    ];
    let logs = rate_limit_logs(
        &headers,
        "  ratelimit_headers: { remaining: X-RateLimit-Remaining }",
    )
    .await;
    assert_contains(&logs, "nearly spent remaining=40 limit=500");

    // The API sends other names than the configured (default) ones: nothing is read.
    let logs = rate_limit_logs(&headers, "").await;
    assert!(!logs.contains("rate limit"), "{logs}");
    assert!(!logs.contains("nearly spent"), "{logs}");
}

#[tokio::test]
async fn file_urls_resolve_against_the_base_directory_and_fill_templates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("responses")).unwrap();
    std::fs::write(
        dir.path().join("responses/MSFT.json"),
        recorded("alpha-vantage-global-quote.json"),
    )
    .unwrap();
    let source = "  url: file:responses/{{symbol}}.json\n  records: $['Global Quote']";
    let feeds = "feeds:\n  - { symbol: MSFT }";
    let report = poller_in(source, feeds, &[], dir.path()).poll_once().await;
    assert_eq!((report.requests, report.failed_feeds), (1, 0));
    assert_eq!(report.messages.len(), 1);
    assert_eq!(report.messages[0].record["01. symbol"], json!("MSFT"));

    // `..` that stays inside the folder is fine.
    std::fs::write(
        dir.path().join("latest.json"),
        recorded("latest-stock-price.json"),
    )
    .unwrap();
    let inside = "  url: file:responses/../latest.json\n  records: $[*]";
    let report = poller_in(inside, "", &[], dir.path()).poll_once().await;
    assert_eq!(report.messages.len(), 5);
}

#[tokio::test]
async fn a_missing_file_fails_naming_the_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _guard) = Logs::capture();
    let report = poller_in("  url: file:nowhere/quotes.json", "", &[], dir.path())
        .poll_once()
        .await;
    assert_eq!((report.requests, report.failed_feeds), (1, 1));
    let expected = dir.path().join("nowhere/quotes.json");
    assert_contains(&logs.text(), &format!("cannot read {}", expected.display()));
}

#[tokio::test]
async fn a_body_over_the_cap_fails_without_retrying() {
    let big = format!("[{}]", vec![r#"{"symbol":"AAAA"}"#; 200].join(","));
    // `source.max_body` in the pipeline sets the cap.
    let logs = failing_poll_with(
        json_response(200, &big),
        "/any\n  records: $[*]\n  max_body: 1KiB",
        1,
        |p| p,
    )
    .await;
    assert_contains(&logs, "response body is larger than the 1 KiB cap");
    assert_contains(
        &logs,
        "raise `source.max_body` if the API really sends that much",
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.json"), &big).unwrap();
    let file_source = "  url: file:big.json\n  max_body: 1KiB";
    let report = poller_in(file_source, "", &[], dir.path())
        .poll_once()
        .await;
    assert_eq!(report.failed_feeds, 1);
}

#[tokio::test]
async fn a_failing_feed_does_not_stop_the_others() {
    let server = MockServer::start().await;
    Mock::given(query_param("symbol", "BAD"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(query_param("symbol", "GOOD"))
        .respond_with(json_response(200, r#"{"symbol":"GOOD"}"#))
        .mount(&server)
        .await;
    let source = format!("  url: {}/q?symbol={{{{symbol}}}}", server.uri());
    let feeds = "feeds:\n  - { symbol: BAD }\n  - { symbol: GOOD }";
    let report = poller(&source, feeds, &[]).poll_once().await;
    assert_eq!(records(&report), [json!({"symbol": "GOOD"})]);
    assert_eq!((report.requests, report.failed_feeds), (2, 1));
}

/// The key is in the URL query and a header, and the server echoes it back in its error bodies;
/// neither the logs (written through the log writer, `stockrun::logging::Redacting`, as the
/// command line and Lambda write them) nor the failure messages show it, with the redactor `run`
/// builds or with none (the poller registers credential-like header and query values itself).
#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let server = MockServer::start().await;
    Mock::given(query_param("symbol", "MSFT"))
        .respond_with(json_response(
            401,
            &format!(r#"{{"message":"Invalid API key {SENTINEL}"}}"#),
        ))
        .mount(&server)
        .await;
    Mock::given(query_param("symbol", "AAPL"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_raw(format!("<html>key={SENTINEL}</html>"), "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(query_param("symbol", "AMZN"))
        .respond_with(json_response(
            200,
            &format!(r#"{{"message":"not subscribed: {SENTINEL}"}}"#),
        ))
        .mount(&server)
        .await;
    // A port nobody listens on: the connection error must not show the URL either.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);

    for base in [server.uri(), format!("http://127.0.0.1:{closed_port}")] {
        let source = format!(
            "  url: {base}/query?symbol={{{{symbol}}}}&apikey=${{API_KEY}}\n  headers:\n    \
             X-RapidAPI-Key: ${{API_KEY}}\n  errors: [$.message]"
        );
        let yaml = pipeline_yaml(
            &source,
            "feeds:\n  - { symbol: MSFT }\n  - { symbol: AAPL }\n  - { symbol: AMZN }",
        );
        for with_env_redactor in [true, false] {
            let (pipeline, env_redactor) = load(&yaml, &[("API_KEY", SENTINEL)]);
            let redactor = if with_env_redactor {
                env_redactor
            } else {
                Redactor::default()
            };
            let (logs, guard) = Logs::capture();
            let report = build(&pipeline, &root(), redactor)
                .unwrap()
                .with_retry(RetryPolicy::new(Duration::from_millis(1), 1))
                .poll_once()
                .await;
            drop(guard);
            assert_eq!(report.failed_feeds, 3);
            let logs = logs.text();
            assert_contains(&logs, "feed failed");
            assert!(!logs.contains(SENTINEL), "secret in the logs:\n{logs}");
        }
    }
}

#[tokio::test]
async fn polling_can_run_on_any_runtime_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let poller = poller("  url: https://example.com/any", "", &[]);
    let future = poller.poll_once();
    assert_send(&future);
}

#[test]
fn next_fire_follows_the_schedule_in_utc() {
    let source = "  url: https://example.com/any\n  schedule: \"0 45 10 * * Mon-Fri\"";
    let poller = poller(source, "", &[]);
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    assert_eq!(
        poller.next_fire(at("2024-03-22T10:45:00Z")),
        Some(at("2024-03-25T10:45:00Z"))
    );
}

#[test]
fn validate_accepts_file_urls_inside_the_folder_but_not_file_with_a_host() {
    let env = Environment::default();
    let check = |url: &str| {
        let yaml = pipeline_yaml(&format!("  url: {url}"), "");
        stockrun::compile::check(yaml.as_bytes(), &env, UnsetVariables::Deny)
    };
    for ok in [
        "file:examples/responses/latest-stock-price.json",
        "file:responses/../quotes.json",
    ] {
        let checked = check(ok);
        assert!(
            checked.compiled.is_some(),
            "{ok}: {:#?}",
            checked.diagnostics
        );
    }
    for outside in ["file:///tmp/quotes.json", "file:../quotes.json"] {
        let checked = check(outside);
        assert!(checked.compiled.is_none(), "{outside}");
        assert_contains(
            &checked.diagnostics[0].message,
            "the pipeline file's folder",
        );
    }
    let checked = check("file://examples/responses/x.json");
    assert!(checked.compiled.is_none());
    assert_contains(
        &checked.diagnostics[0].message,
        "`file://` is followed by a host, not a path",
    );
    let checked = check("ftp://example.com/x.json");
    assert_contains(
        &checked.diagnostics[0].message,
        "unsupported URL scheme `ftp`",
    );
}

#[test]
fn a_file_url_with_a_host_is_refused_when_the_source_compiles() {
    let yaml = pipeline_yaml("  url: https://example.com/any", "");
    let (mut pipeline, redactor) = load(&yaml, &[]);
    pipeline.source.url.value = "file://responses/x.json".to_owned();
    let err = build(&pipeline, &root(), redactor).err().expect("refused");
    assert_contains(&err, "`file:responses/x.json`");
}

#[tokio::test]
async fn redirects_are_followed_only_within_the_same_origin() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_response(200, r#"{"symbol":"ELSEWHERE"}"#))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let server = MockServer::start().await;
    Mock::given(path("/old"))
        .respond_with(ResponseTemplate::new(301).insert_header("Location", "/any"))
        .mount(&server)
        .await;
    Mock::given(path("/any"))
        .respond_with(json_response(200, r#"{"symbol":"A"}"#))
        .mount(&server)
        .await;
    Mock::given(path("/moved"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/any", elsewhere.uri()).as_str()),
        )
        .mount(&server)
        .await;
    let report = poller(&format!("  url: {}/old", server.uri()), "", &[])
        .poll_once()
        .await;
    assert_eq!(records(&report), [json!({"symbol": "A"})]);

    let (logs, _guard) = Logs::capture();
    let report = poller(&format!("  url: {}/moved", server.uri()), "", &[])
        .poll_once()
        .await;
    assert_eq!((report.requests, report.failed_feeds), (1, 1));
    assert_contains(
        &logs.text(),
        &format!(
            "HTTP 302 Found: redirected to {}; not followed",
            elsewhere.uri()
        ),
    );
}
