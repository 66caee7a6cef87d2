//! `--metrics ADDR`: a running `stockrun run` (or `poll`) scraped over HTTP while it polls a
//! wiremock API. The Prometheus text is parsed and the counts asserted exactly; `/ready` and
//! `/live` answer 200. Waits are on conditions with a deadline.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::Duration;

use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::workspace::{Workspace, pipeline, quotes};

/// A port nobody listens on now (bound and released: a small race, good enough for a test).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The samples of a Prometheus text page: `name{labels}` → value (comments left out).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// GETs `http://127.0.0.1:port/path`: the status and the body, or `None` while nothing listens.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let response = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Scrapes `/metrics` until `done` holds for its samples, failing after 30 s with the last page.
async fn scrape_until(
    port: u16,
    child: &mut Child,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    loop {
        if let Some((200, text)) = get(port, "/metrics").await {
            let found = samples(&text);
            if done(&found) {
                return found;
            }
            last = text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("stockrun exited early ({status}); last scrape:\n{last}");
        }
        assert!(
            Instant::now() < deadline,
            "the metrics never got there; last scrape:\n{last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of one series (0 when it is absent).
fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// An API that answers the first request with `first` and every later one with no records,
/// with rate-limit headers: 450 of 500 requests left.
async fn api_once(first: String) -> MockServer {
    let server = MockServer::start().await;
    let answer = |body: String| {
        ResponseTemplate::new(200)
            .set_body_raw(body, "application/json")
            .insert_header("x-ratelimit-requests-remaining", "450")
            .insert_header("x-ratelimit-requests-limit", "500")
    };
    Mock::given(method("GET"))
        .and(path("/price"))
        .respond_with(answer(first))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/price"))
        .respond_with(answer("[]".to_owned()))
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_pipeline_serves_exact_counts_readiness_and_liveness() {
    let api = api_once(quotes(3, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", api.uri()), "scraped"));
    let port = free_port();
    let mut child = ws.spawn(&["run", "--metrics", &port.to_string()]);

    let p = r#"pipeline="scraped""#;
    let found = scrape_until(port, &mut child, |s| {
        value(s, &format!("stockrun_records_stored_total{{{p}}}")) >= 3.0
            && value(s, &format!("stockrun_emails_sent_total{{{p}}}")) >= 1.0
            && value(s, &format!("stockrun_polls_total{{{p},outcome=\"ok\"}}")) >= 2.0
    })
    .await;
    let ready = get(port, "/ready").await;
    let live = get(port, "/live").await;
    let _ = child.kill();
    let output = child.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&output.stderr);

    assert_eq!(ready.map(|r| r.0), Some(200), "{log}");
    assert_eq!(live.map(|r| r.0), Some(200), "{log}");
    let feed = r#"pipeline="scraped",feed="-""#;
    assert_eq!(
        value(&found, &format!("stockrun_records_fetched_total{{{feed}}}")),
        3.0,
        "{found:#?}"
    );
    assert_eq!(
        value(&found, &format!("stockrun_records_queued_total{{{p}}}")),
        3.0
    );
    assert_eq!(
        value(&found, &format!("stockrun_records_stored_total{{{p}}}")),
        3.0
    );
    assert_eq!(
        value(&found, &format!("stockrun_emails_sent_total{{{p}}}")),
        1.0
    );
    assert_eq!(
        value(&found, &format!("stockrun_api_quota_remaining{{{p}}}")),
        450.0
    );
    assert_eq!(
        value(
            &found,
            &format!("stockrun_api_quota_remaining_ratio{{{p}}}")
        ),
        0.9
    );
    let last_poll = value(
        &found,
        &format!("stockrun_last_successful_poll_timestamp_seconds{{{feed}}}"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        last_poll > now - 60.0 && last_poll <= now,
        "{last_poll} vs {now}"
    );
    assert!(
        value(
            &found,
            &format!("stockrun_poll_duration_seconds_count{{{feed}}}")
        ) >= 2.0,
        "{found:#?}"
    );
    assert_eq!(
        value(&found, &format!("stockrun_records_poison_total{{{p}}}")),
        0.0
    );
    assert!(
        !found
            .keys()
            .any(|k| k.starts_with("stockrun_source_failures_total")),
        "{found:#?}"
    );
    // The queue's depth is refreshed in the background: present, and small.
    assert!(
        found.contains_key(&format!("stockrun_queue_depth{{{p}}}")),
        "{found:#?}"
    );
    assert_eq!(
        value(&found, &format!("stockrun_dead_letter_depth{{{p}}}")),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_feed_is_counted_by_kind_and_the_poll_as_failed() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/price"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_raw(r#"{"message":"no such symbol"}"#, "application/json"),
        )
        .mount(&api)
        .await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", api.uri()), "failing"));
    let port = free_port();
    let mut child = ws.spawn(&["poll", "--metrics", &format!("127.0.0.1:{port}")]);

    let p = r#"pipeline="failing""#;
    let found = scrape_until(port, &mut child, |s| {
        value(
            s,
            &format!("stockrun_polls_total{{{p},outcome=\"failed\"}}"),
        ) >= 2.0
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();

    let failures = value(
        &found,
        &format!("stockrun_source_failures_total{{{p},feed=\"-\",kind=\"http_4xx\"}}"),
    );
    let polls = value(
        &found,
        &format!("stockrun_polls_total{{{p},outcome=\"failed\"}}"),
    );
    // Scraped between two polls or during one: every finished poll counted its failure.
    assert!(failures >= polls && failures <= polls + 1.0, "{found:#?}");
    assert_eq!(
        value(
            &found,
            &format!("stockrun_polls_total{{{p},outcome=\"ok\"}}")
        ),
        0.0
    );
    assert!(
        !found
            .keys()
            .any(|k| k.starts_with("stockrun_records_fetched_total")),
        "{found:#?}"
    );
}

#[test]
fn metrics_is_refused_with_once() {
    let ws = Workspace::new(&pipeline("http://127.0.0.1:9/price", "once"));
    let out = ws.run(&["run", "--once", "--metrics", "9100"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--metrics"), "{}", out.stderr);
    let out = ws.run(&["poll", "--metrics", "localhost"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("`localhost` is not an address"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_readme_lists_every_metric() {
    let readme = std::fs::read_to_string(crate::support::root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Metrics section");
    for (name, _, _) in stockrun::metrics::ALL {
        assert!(
            section.contains(&format!("| `{name}` |")),
            "{name} is not in the README's Metrics table"
        );
    }
}
