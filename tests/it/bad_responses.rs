//! A corpus of bad API responses through the real poller (wiremock on loopback) and the
//! processor. A body that cannot be read as records fails its feed with a clear, logged reason;
//! a record that cannot be stored is poison with a reason naming the field. Nothing panics.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use stockrun::config::Pipeline;
use stockrun::config::env::Environment;
use stockrun::config::load::{self, UnsetVariables};
use stockrun::process::Processor;
use stockrun::redact::Redactor;
use stockrun::source::{MAX_BODY_BYTES, Poller, RetryPolicy};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::source::Logs;
use crate::support::{assert_contains, root};

/// What a response must come to.
#[derive(Debug)]
enum Outcome {
    /// The body is refused whole: the feed fails and the log line says this.
    Feed(&'static str),
    /// The body holds records: `stored` of them process, and the others are poison with these
    /// reasons, in order.
    Records {
        stored: usize,
        poison: &'static [&'static str],
    },
}

use Outcome::{Feed, Records};

/// `(name, content type, body, outcome)`. The pipeline reads `$[*]`, keeps `symbol` (required
/// string), `price` (required number) and `volume` (optional integer), keyed by symbol.
const CASES: &[(&str, &str, &[u8], Outcome)] = &[
    // The body is not JSON records at all.
    ("empty", "application/json", b"", Feed("the body is empty")),
    (
        "whitespace",
        "application/json",
        b" \n\t ",
        Feed("the body is empty"),
    ),
    (
        "html",
        "text/html",
        b"<!DOCTYPE html><html><body>Service Unavailable</body></html>",
        Feed("response is not JSON (content-type text/html): `<!DOCTYPE html>"),
    ),
    (
        "xml",
        "application/xml",
        b"<?xml version=\"1.0\"?><error>quota</error>",
        Feed("response is not JSON (content-type application/xml)"),
    ),
    (
        "plain-text",
        "text/plain",
        b"Too Many Requests",
        Feed("`Too Many Requests`"),
    ),
    (
        "truncated",
        "application/json",
        br#"[{"symbol":"AAPL","price":1"#,
        Feed("EOF while parsing an object"),
    ),
    (
        "truncated-in-string",
        "application/json",
        br#"[{"symbol":"AA"#,
        Feed("EOF while parsing a string"),
    ),
    (
        "bare-nan",
        "application/json",
        br#"[{"symbol":"AAPL","price":NaN}]"#,
        Feed("expected value"),
    ),
    (
        "bare-infinity",
        "application/json",
        br#"[{"symbol":"AAPL","price":-Infinity}]"#,
        Feed("invalid number"),
    ),
    (
        "not-utf8",
        "application/json",
        b"[{\"symbol\":\"\xff\xfe\",\"price\":1}]",
        Feed("invalid unicode code point"),
    ),
    (
        "lone-surrogate",
        "application/json",
        br#"[{"symbol":"\ud800","price":1}]"#,
        Feed("unexpected end of hex escape"),
    ),
    (
        "trailing-garbage",
        "application/json",
        br#"[{"symbol":"AAPL","price":1}] <!-- cached -->"#,
        Feed("trailing characters"),
    ),
    (
        "comments",
        "application/json",
        b"// quotes\n[{\"symbol\":\"AAPL\",\"price\":1}]",
        Feed("is not JSON (content-type application/json): `// quotes"),
    ),
    // JSON of the wrong shape.
    ("empty-array", "application/json", b"[]", Records {
        stored: 0,
        poison: &[],
    }),
    (
        "object-instead-of-array",
        "application/json",
        br#"{"symbol":"AAPL","price":1}"#,
        Records {
            stored: 0,
            poison: &[
                "`symbol` (path `$.symbol`) is missing",
                "`symbol` (path `$.symbol`) is missing",
            ],
        },
    ),
    (
        "array-of-strings",
        "application/json",
        br#"["AAPL","MSFT"]"#,
        Records {
            stored: 0,
            poison: &["is missing", "is missing"],
        },
    ),
    (
        "nested-nulls",
        "application/json",
        br#"[null,{"symbol":null,"price":null},{"symbol":"AAPL","price":{"value":null}},[null]]"#,
        Records {
            stored: 0,
            poison: &[
                "`symbol` (path `$.symbol`) is missing",
                "`symbol` (path `$.symbol`)",
                "`price` (path `$.price`): {\"value\":null}: an object is not a number",
                "`symbol` (path `$.symbol`) is missing",
            ],
        },
    ),
    (
        "missing-fields",
        "application/json",
        br#"[{},{"symbol":"AAPL"},{"price":1}]"#,
        Records {
            stored: 0,
            poison: &[
                "required fields `symbol` (path `$.symbol`) is missing; `price` (path `$.price`) is missing",
                "required field `price` (path `$.price`) is missing",
                "required field `symbol` (path `$.symbol`) is missing",
            ],
        },
    ),
    (
        "wrong-types",
        "application/json",
        br#"[{"symbol":"A","price":true},{"symbol":"B","price":[1]},{"symbol":{"s":"C"},"price":1}]"#,
        Records {
            stored: 0,
            poison: &[
                "a boolean is not a number",
                "an array is not a number",
                "`symbol` (path `$.symbol`)",
            ],
        },
    ),
    // Numbers the store cannot keep, or that are not numbers.
    (
        "huge-numbers-as-strings",
        "application/json",
        br#"[{"symbol":"A","price":"1e400"},{"symbol":"B","price":"123456789012345678901234567890123456789012345678901234567890"},{"symbol":"C","price":"-1e-400"}]"#,
        Records {
            stored: 0,
            poison: &[
                "out of DynamoDB's range",
                "\"123456789012345678901234567890123456789012345678901234567890\": the number has 59 significant digits; DynamoDB keeps at most 38",
                "out of DynamoDB's range",
            ],
        },
    ),
    (
        "huge-bare-numbers",
        "application/json",
        br#"[{"symbol":"A","price":1e400},{"symbol":"B","price":123456789012345678901234567890123456789012345678901234567890}]"#,
        Records {
            stored: 0,
            poison: &[
                "out of DynamoDB's range",
                "the number has 59 significant digits",
            ],
        },
    ),
    (
        "nan-and-infinity-as-strings",
        "application/json",
        br#"[{"symbol":"A","price":"NaN"},{"symbol":"B","price":"Infinity"},{"symbol":"C","price":"-inf"},{"symbol":"D","price":"1,234.50"},{"symbol":"E","price":""}]"#,
        Records {
            stored: 0,
            poison: &[
                "\"NaN\": the text is not a decimal number",
                "\"Infinity\": the text is not a decimal number",
                "\"-inf\": the text is not a decimal number",
                "\"1,234.50\": the text is not a decimal number",
                "empty text is not a number",
            ],
        },
    ),
    (
        "negative-and-odd-but-valid-numbers",
        "application/json",
        br#"[{"symbol":"A","price":-12.5},{"symbol":"B","price":" +7 "},{"symbol":"C","price":0},{"symbol":"D","price":"1E-130"}]"#,
        Records {
            stored: 4,
            poison: &[],
        },
    ),
    (
        "bad-optional-field-is-left-out",
        "application/json",
        br#"[{"symbol":"A","price":1,"volume":"12.5"},{"symbol":"B","price":1,"volume":"NaN"}]"#,
        Records {
            stored: 2,
            poison: &[],
        },
    ),
    (
        "unicode-garbage",
        "application/json",
        "[{\"symbol\":\"\\u0000\\u202e\u{1F4A5}\\uFFFD\\u200b\",\"price\":1},{\"symbol\":\"\u{0928}\u{093F}\u{092B}\u{094D}\u{091F}\u{0940}\",\"price\":\"\u{0661}\u{0662}\"}]".as_bytes(),
        Records {
            stored: 1,
            poison: &["the text is not a decimal number"],
        },
    ),
    (
        "empty-key",
        "application/json",
        br#"[{"symbol":"","price":1}]"#,
        Records {
            stored: 0,
            poison: &["renders empty for this record"],
        },
    ),
    (
        "good-and-bad-in-one-body",
        "application/json",
        br#"[{"symbol":"A","price":1},{"symbol":"B","price":"x"},{"symbol":"C","price":"2.50"}]"#,
        Records {
            stored: 2,
            poison: &["`price` (path `$.price`): \"x\": the text is not a decimal number"],
        },
    ),
];

/// The corpus pipeline polling `url`.
fn pipeline(url: &str) -> Pipeline {
    let yaml = format!(
        "name: test\nsource:\n  url: {url}\n  records: $[*]\n\
         process:\n  fields:\n    symbol: {{ path: $.symbol, required: true }}\n    \
         price: {{ path: $.price, type: number, required: true }}\n    \
         volume: {{ path: $.volume, type: integer }}\n\
         store:\n  table: quotes\n  key:\n    partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n"
    );
    let checked = load::check(
        yaml.as_bytes(),
        &Environment::default(),
        UnsetVariables::Deny,
    );
    checked
        .pipeline
        .unwrap_or_else(|| panic!("invalid pipeline {:#?}", checked.diagnostics))
}

fn poller(pipeline: &Pipeline) -> Poller {
    Poller::new(pipeline, &root(), Redactor::default())
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
    let processor = Processor::new(&pipeline).expect("processor compiles");
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

/// A server that streams a 50 MB JSON array (chunked, no Content-Length) to the first request
/// and returns how many body bytes it managed to write before the client hung up.
fn streaming_server() -> (String, std::thread::JoinHandle<usize>) {
    const TOTAL: usize = 50 * 1000 * 1000;
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
        while sent < TOTAL {
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
async fn a_50_mb_streamed_body_is_cut_off_at_the_cap() {
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
    eprintln!("the server wrote {sent} of 50 000 000 body bytes before the client hung up");
    // The client stopped reading at the cap (plus what socket buffers held), far short of 50 MB.
    assert!(
        sent < MAX_BODY_BYTES + 8 * 1024 * 1024,
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
