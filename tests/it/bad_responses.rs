//! A corpus of bad API responses through the real poller (wiremock on loopback) and the
//! processor. A body that cannot be read as records fails its feed with a clear, logged reason;
//! a record that cannot be stored is poison with a reason naming the field. Nothing panics.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use stockrun::config::Pipeline;
use stockrun::process::Processor;
use stockrun::redact::Redactor;
use stockrun::source::{CompiledSource, MAX_BODY_BYTES, Poller, RetryPolicy, Schedule};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::source::Logs;
use crate::support::{assert_contains, root};

mod cases;

use cases::CASES;
use cases::Outcome::{self, Feed, Records};

/// The corpus pipeline polling `url`.
fn pipeline(url: &str) -> Pipeline {
    let yaml = format!(
        "name: test\nsource:\n  url: {url}\n  records: $[*]\n\
         process:\n  fields:\n    symbol: {{ path: $.symbol, required: true }}\n    \
         price: {{ path: $.price, type: number, required: true }}\n    \
         volume: {{ path: $.volume, type: integer }}\n\
         store:\n  table: quotes\n  key:\n    partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n"
    );
    crate::support::parse_pipeline(&yaml)
}

fn poller(pipeline: &Pipeline) -> Poller {
    let source = CompiledSource::new(
        &pipeline.source,
        Schedule::new(&pipeline.source).ok(),
        Some(&pipeline.feeds),
    )
    .unwrap_or_else(|found| panic!("the source compiles: {found:#?}"));
    Poller::new(&pipeline.name, source, &root(), Redactor::default())
        .expect("poller builds")
        .with_retry(RetryPolicy::new(Duration::from_millis(1), 1))
}

/// What one body came to: the feed error logged, or how many records stored and the poison
/// reasons.
async fn outcome_of(server: &MockServer, name: &str, content_type: &str, body: &[u8]) -> String {
    Mock::given(method("GET"))
        .and(path(format!("/{name}")))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.to_vec(), content_type))
        .mount(server)
        .await;
    let pipeline = pipeline(&format!("{}/{name}", server.uri()));
    let processor = Processor::new(&pipeline.name, &pipeline.process, &pipeline.store.key)
        .expect("processor compiles");
    let (logs, guard) = Logs::capture();
    let report = poller(&pipeline).poll_once().await;
    drop(guard);
    if report.failed_feeds > 0 {
        assert!(
            report.messages.is_empty(),
            "{name}: a failed feed queued records"
        );
        return format!("feed failed: {}", logs.text());
    }
    let mut stored = 0;
    let mut poison = Vec::new();
    for message in &report.messages {
        match processor.process(&message.to_body()) {
            Ok(_) => stored += 1,
            Err(p) => poison.push(p.reason),
        }
    }
    format!("stored {stored}, poison [{}]", poison.join(" | "))
}

/// Whether `got` (from [`outcome_of`]) is the `expected` outcome.
fn check(got: &str, expected: &Outcome) -> Result<(), String> {
    match expected {
        Feed(message) if got.starts_with("feed failed: ") && got.contains(message) => Ok(()),
        Feed(message) => Err(format!("expected the feed to fail with `{message}`")),
        Records { stored, poison } => {
            let prefix = format!("stored {stored}, poison [");
            let reasons = got
                .strip_prefix(&prefix)
                .ok_or_else(|| format!("expected {expected:?}"))?;
            let count = if reasons == "]" {
                0
            } else {
                reasons.split(" | ").count()
            };
            if count != poison.len() {
                return Err(format!("expected {} poison records", poison.len()));
            }
            let mut rest = reasons;
            for reason in *poison {
                let at = rest
                    .find(reason)
                    .ok_or_else(|| format!("`{reason}` is not among the reasons, in order"))?;
                rest = &rest[at + reason.len()..];
            }
            Ok(())
        }
    }
}

#[tokio::test]
async fn every_bad_response_fails_its_feed_or_poisons_its_records_with_a_reason() {
    let server = MockServer::start().await;
    let mut wrong = Vec::new();
    let (mut feeds, mut records, mut poisoned) = (0, 0, 0);
    for (name, content_type, body, expected) in CASES {
        let got = outcome_of(&server, name, content_type, body).await;
        if let Err(why) = check(&got, expected) {
            let shown: String = got
                .lines()
                .filter(|l| !l.contains("hyper"))
                .collect::<Vec<_>>()
                .join("\n");
            wrong.push(format!("{name}: {why}; got {shown}"));
        }
        match expected {
            Feed(_) => feeds += 1,
            Records { stored, poison } => {
                records += stored + poison.len();
                poisoned += poison.len();
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    // The corpus size, as RELIABILITY.md states it.
    assert_eq!(
        (CASES.len(), feeds, records, poisoned),
        (27, 13, 36, 27),
        "update RELIABILITY.md with the new counts"
    );
}

#[tokio::test]
async fn a_deeply_nested_body_fails_its_feed_instead_of_overflowing_the_stack() {
    let server = MockServer::start().await;
    let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let got = outcome_of(&server, "deep", "application/json", body.as_bytes()).await;
    assert_contains(&got, "recursion limit exceeded");
}

/// How many body bytes [`streaming_server`] offers: far more than the cap plus every buffer
/// between the two ends, so a client that hangs up at the cap leaves most of it unsent.
const STREAMED_BYTES: usize = 100 * 1000 * 1000;

/// A server that streams a 100 MB JSON array (chunked, no Content-Length) to the first request
/// and returns how many body bytes it managed to write before the client hung up.
fn streaming_server() -> (String, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/big", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        // Only so a client that never hangs up cannot hang the test; the count is the result.
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        if stream.write_all(head.as_bytes()).is_err() {
            return 0;
        }
        let record = br#"{"symbol":"AAAA","price":1},"#;
        let mut chunk = b"[".to_vec();
        while chunk.len() < 64 * 1024 {
            chunk.extend_from_slice(record);
        }
        let mut sent = 0;
        while sent < STREAMED_BYTES {
            let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if stream.write_all(&framed).is_err() {
                break;
            }
            sent += chunk.len();
            chunk[0] = b' '; // only the first chunk opens the array
        }
        sent
    });
    (url, handle)
}

#[tokio::test]
async fn a_100_mb_streamed_body_is_cut_off_at_the_cap() {
    let (url, server) = streaming_server();
    let pipeline = pipeline(&url);
    let (logs, guard) = Logs::capture();
    let report = poller(&pipeline).poll_once().await;
    drop(guard);
    assert_eq!((report.failed_feeds, report.messages.len()), (1, 0));
    assert_contains(&logs.text(), "response body is larger than the 10 MiB cap");
    let sent = tokio::task::spawn_blocking(move || server.join().expect("server thread"))
        .await
        .unwrap();
    eprintln!("the server wrote {sent} of {STREAMED_BYTES} body bytes before the client hung up");
    // The client stopped reading at the cap. What the server got written beyond it sat in socket
    // buffers: Linux grows a loopback receive buffer up to `tcp_rmem`'s maximum (32 MiB on a
    // busy CI machine, where 18 MiB in all was once exceeded) plus a send buffer of up to
    // `tcp_wmem`'s 4 MiB. Reading on to the end would have written all 100 MB.
    const SOCKET_BUFFERS: usize = 40 * 1024 * 1024;
    assert!(
        sent < MAX_BODY_BYTES + SOCKET_BUFFERS,
        "the server wrote {sent} bytes"
    );
}

#[tokio::test]
async fn a_key_longer_than_dynamodb_allows_is_poison() {
    let server = MockServer::start().await;
    let body = format!(r#"[{{"symbol":"{}","price":1}}]"#, "A".repeat(3000));
    let got = outcome_of(&server, "long-key", "application/json", body.as_bytes()).await;
    assert!(got.starts_with("stored 0, poison ["), "{got}");
    assert_contains(&got, "2048");
}
