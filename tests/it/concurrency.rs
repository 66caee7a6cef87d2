//! A poll's feeds requested concurrently (issue 15): never more in flight than
//! `source.concurrency`, records handed on in feed order whatever order the responses arrive
//! in, and never more requests started in a second than a per-second `source.quota` allows.
//! A wiremock responder notes when each request arrived and how long its answer is delayed: a
//! request in flight is one that arrived and whose answer has not been sent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stockrun::config::env::Environment;
use stockrun::config::load::{self, UnsetVariables};
use stockrun::redact::Redactor;
use stockrun::source::{CompiledSource, Poller, Schedule};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::root;

/// Answers `{"symbol": <the request's symbol>}` after a delay that `delay` picks for the
/// symbol's number, and notes each request's arrival and delay.
#[derive(Clone)]
struct Noting {
    arrivals: Arc<Mutex<Vec<(Instant, Duration)>>>,
    delay: fn(usize) -> Duration,
}

impl Respond for Noting {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let symbol = request
            .url
            .query_pairs()
            .find(|(name, _)| name == "symbol")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        let number: usize = symbol.trim_start_matches('S').parse().unwrap_or(0);
        let delay = (self.delay)(number);
        self.arrivals.lock().unwrap().push((Instant::now(), delay));
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({ "symbol": symbol }))
            .set_delay(delay)
    }
}

/// A server answering every request with `delay`; the arrivals it notes.
async fn server(
    delay: fn(usize) -> Duration,
) -> (MockServer, Arc<Mutex<Vec<(Instant, Duration)>>>) {
    let server = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    Mock::given(wiremock::matchers::method("GET"))
        .respond_with(Noting {
            arrivals: Arc::clone(&arrivals),
            delay,
        })
        .mount(&server)
        .await;
    (server, arrivals)
}

/// The poller of a pipeline polling `feeds` symbols `S0`, `S1`, … at `uri`, with these extra
/// `source` lines.
fn poller(uri: &str, feeds: usize, source: &str) -> Poller {
    let feeds: String = (0..feeds).map(|n| format!("  - symbol: S{n}\n")).collect();
    let yaml = format!(
        "name: concurrent\nsource:\n  url: {uri}/quote?symbol={{{{symbol}}}}\n{source}feeds:\n{feeds}\
         process:\n  fields:\n    symbol: {{ path: $.symbol }}\n\
         store:\n  table: quotes\n  key:\n    partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n"
    );
    let env = Environment::from_pairs(Vec::<(String, String)>::new());
    let checked = load::check(yaml.as_bytes(), &env, UnsetVariables::Deny);
    let pipeline = checked
        .pipeline
        .unwrap_or_else(|| panic!("{:#?}\n{yaml}", checked.diagnostics));
    let source = CompiledSource::new(
        &pipeline.source,
        Schedule::new(&pipeline.source).ok(),
        Some(&pipeline.feeds),
    )
    .expect("the source compiles");
    Poller::new(&pipeline.name, source, &root(), Redactor::default()).expect("a poller")
}

/// The most requests in flight at once: at each arrival, the requests that arrived before it
/// and were not answered yet (the client learns of an answer only after its delay).
fn most_in_flight(arrivals: &[(Instant, Duration)]) -> usize {
    arrivals
        .iter()
        .map(|(at, _)| {
            arrivals
                .iter()
                .filter(|(before, delay)| before <= at && *at < *before + *delay)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn symbols(poller_report: &stockrun::source::PollReport) -> Vec<String> {
    poller_report
        .messages
        .iter()
        .map(|m| m.record["symbol"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn never_more_requests_in_flight_than_the_concurrency_and_records_in_feed_order() {
    // Later feeds answer sooner: S11 after 100 ms, S0 after 320 ms.
    let (server, arrivals) = server(|n| Duration::from_millis(100 + 20 * (11 - n as u64))).await;
    let poller = poller(&server.uri(), 12, "  concurrency: 3\n");
    let started = Instant::now();
    let report = poller.poll_once().await;
    let took = started.elapsed();

    let want: Vec<String> = (0..12).map(|n| format!("S{n}")).collect();
    assert_eq!(symbols(&report), want, "handed on in feed order");
    assert_eq!((report.requests, report.failed_feeds), (12, 0));
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 12);
    assert_eq!(most_in_flight(&arrivals), 3, "{arrivals:?}");
    // One after another the delays add up to 2.5 s.
    assert!(took < Duration::from_millis(2_000), "{took:?}");
}

#[tokio::test]
async fn a_concurrency_of_one_requests_the_feeds_one_after_another() {
    let (server, arrivals) = server(|_| Duration::from_millis(50)).await;
    let report = poller(&server.uri(), 4, "  concurrency: 1\n")
        .poll_once()
        .await;
    assert_eq!(symbols(&report), ["S0", "S1", "S2", "S3"]);
    assert_eq!(most_in_flight(&arrivals.lock().unwrap()), 1);
}

#[tokio::test]
async fn a_quota_per_second_paces_the_requests() {
    let (server, arrivals) = server(|_| Duration::ZERO).await;
    let poller = poller(&server.uri(), 10, "  quota: { requests: 4, per: second }\n");
    let started = Instant::now();
    let report = poller.poll_once().await;
    let took = started.elapsed();

    assert_eq!(report.messages.len(), 10);
    let mut arrivals: Vec<Instant> = arrivals.lock().unwrap().iter().map(|(at, _)| *at).collect();
    arrivals.sort();
    // Four start at once, four a second later, two a second after that: no five in a second
    // (a margin for the loopback's jitter between the client's start and the server's arrival).
    for five in arrivals.windows(5) {
        assert!(
            five[4] - five[0] >= Duration::from_millis(950),
            "{:?}",
            arrivals
                .iter()
                .map(|a| *a - arrivals[0])
                .collect::<Vec<_>>()
        );
    }
    assert!(took >= Duration::from_millis(1_950), "{took:?}");
}
