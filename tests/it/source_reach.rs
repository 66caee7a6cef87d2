//! The source's reach against a real HTTP server on loopback (wiremock): `method: POST` with a
//! JSON body template, gzip/deflate/brotli bodies, pagination by a next-page link or a cursor
//! (bounded by `max_pages`, a link to another host refused), and what a record shares with its
//! response (its member name, `root` values) travelling in its message.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use stockrun::config::env::Environment;
use stockrun::config::load::UnsetVariables;
use stockrun::redact::Redactor;
use stockrun::source::{PollReport, Poller, RetryPolicy};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::root;

/// The poller of a pipeline with this `source` block (indented by two spaces) and `feeds`
/// block, built as `run` builds it (through `stockrun::compile`, so the fields' `root` paths
/// and member names reach the source), with millisecond retries.
fn poller(source: &str, feeds: &str, fields: &str) -> Poller {
    let yaml = format!(
        "name: test\nsource:\n{source}\n{feeds}\nprocess:\n  fields:\n{fields}\
         store:\n  table: quotes\n  key:\n    partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n"
    );
    let checked = stockrun::compile::check(
        yaml.as_bytes(),
        &Environment::from_pairs([("K", "v")]),
        UnsetVariables::Deny,
    );
    let compiled = checked
        .compiled
        .unwrap_or_else(|| panic!("invalid pipeline {:#?}\n{yaml}", checked.diagnostics));
    Poller::new(
        &compiled.pipeline.name,
        compiled.source.expect("the source compiles"),
        &root(),
        Redactor::default(),
    )
    .expect("poller")
    .with_retry(RetryPolicy::new(Duration::from_millis(1), 2))
}

const SYMBOL_FIELD: &str = "    symbol: { path: $.symbol }\n";

fn json_response(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string().into_bytes(), "application/json")
}

fn symbols(report: &PollReport) -> Vec<String> {
    report
        .messages
        .iter()
        .map(|m| m.record["symbol"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test]
async fn post_sends_the_body_template_filled_from_each_feed_as_json() {
    let server = MockServer::start().await;
    for symbol in ["IBM", "A\"B"] {
        Mock::given(method("POST"))
            .and(path("/quotes"))
            .and(header("content-type", "application/json"))
            .and(body_json(
                json!({"symbol": symbol, "interval": "1day", "limit": 2}),
            ))
            .respond_with(json_response(&json!([{"symbol": symbol}])))
            .expect(1)
            .mount(&server)
            .await;
    }
    let source = format!(
        "  url: {}/quotes\n  method: POST\n  body: '{{\"symbol\": \"{{{{symbol}}}}\", \"interval\": \"1day\", \"limit\": 2}}'\n  records: $[*]",
        server.uri()
    );
    let report = poller(
        &source,
        "feeds:\n  - { symbol: IBM }\n  - { symbol: 'A\"B' }",
        SYMBOL_FIELD,
    )
    .poll_once()
    .await;
    assert_eq!(symbols(&report), ["IBM", "A\"B"]);
    assert_eq!((report.requests, report.failed_feeds), (2, 0));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    // HTTP's `deflate` is the zlib format (RFC 9110 §8.4.1.2).
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        encoder.write_all(bytes).unwrap();
    }
    out
}

#[tokio::test]
async fn gzip_deflate_and_brotli_bodies_are_decompressed() {
    let body = json!([{"symbol": "IBM", "note": "x".repeat(2000)}]).to_string();
    for (encoding, compressed) in [
        ("gzip", gzip(body.as_bytes())),
        ("deflate", deflate(body.as_bytes())),
        ("br", brotli(body.as_bytes())),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(|request: &wiremock::Request| {
                let accepted = request
                    .headers
                    .get("accept-encoding")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                ["gzip", "deflate", "br"]
                    .iter()
                    .all(|coding| accepted.split(',').any(|a| a.trim() == *coding))
            })
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-encoding", encoding)
                    .set_body_raw(compressed, "application/json"),
            )
            .expect(1)
            .mount(&server)
            .await;
        let source = format!("  url: {}/q\n  records: $[*]", server.uri());
        let report = poller(&source, "", SYMBOL_FIELD).poll_once().await;
        assert_eq!(symbols(&report), ["IBM"], "{encoding}");
        assert_eq!(report.failed_feeds, 0, "{encoding}");
    }
}

#[tokio::test]
async fn the_body_cap_applies_to_the_decompressed_size() {
    // 2 MiB of JSON that gzip makes a few KiB: the cap is what it decompresses to.
    let body = json!([{"symbol": "IBM", "pad": " ".repeat(2 * 1024 * 1024)}]).to_string();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-encoding", "gzip")
                .set_body_raw(gzip(body.as_bytes()), "application/json"),
        )
        .mount(&server)
        .await;
    let source = format!(
        "  url: {}/q\n  records: $[*]\n  max_body: 1MiB",
        server.uri()
    );
    let report = poller(&source, "", SYMBOL_FIELD).poll_once().await;
    assert!(report.messages.is_empty());
    assert_eq!(report.failed_feeds, 1);
}

#[tokio::test]
async fn next_links_are_followed_until_the_last_page() {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(method("GET"))
        .and(path("/q"))
        .and(query_param_is_missing("page"))
        .respond_with(json_response(
            &json!({"data": [{"symbol": "A"}, {"symbol": "B"}], "next": "/q?page=2"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/q"))
        .and(query_param("page", "2"))
        .respond_with(json_response(
            &json!({"data": [{"symbol": "C"}], "next": format!("{uri}/q?page=3")}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/q"))
        .and(query_param("page", "3"))
        .respond_with(json_response(
            &json!({"data": [{"symbol": "D"}], "next": null}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let source = format!("  url: {uri}/q\n  records: $.data[*]\n  next: {{ link: $.next }}");
    let report = poller(&source, "", SYMBOL_FIELD).poll_once().await;
    assert_eq!(symbols(&report), ["A", "B", "C", "D"]);
    assert_eq!(report.positions, [0, 1, 0, 0], "the index within its page");
    assert_eq!((report.requests, report.failed_feeds), (3, 0));
}

#[tokio::test]
async fn a_page_of_many_records_is_handed_on_in_order_whichever_way_it_is_read() {
    // `$.data[*]` follows the response's text; a filter parses it whole. Either way a page's
    // records are handed on a hundred at a time, each with its index in its page.
    for records in ["$.data[*]", "$.data[?@.symbol]"] {
        let server = MockServer::start().await;
        let uri = server.uri();
        let many: Vec<Value> = (0..250)
            .map(|i| json!({"symbol": format!("S{i}")}))
            .collect();
        Mock::given(method("GET"))
            .and(path("/q"))
            .and(query_param_is_missing("page"))
            .respond_with(json_response(
                &json!({"data": many, "next": format!("{uri}/q?page=2")}),
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/q"))
            .and(query_param("page", "2"))
            .respond_with(json_response(
                &json!({"data": [{"symbol": "T0"}, {"symbol": "T1"}], "next": null}),
            ))
            .mount(&server)
            .await;
        let source =
            format!("  url: {uri}/q\n  records: \"{records}\"\n  next: {{ link: $.next }}");
        let report = poller(&source, "", SYMBOL_FIELD).poll_once().await;
        let expected: Vec<String> = (0..250)
            .map(|i| format!("S{i}"))
            .chain(["T0".to_owned(), "T1".to_owned()])
            .collect();
        assert_eq!(symbols(&report), expected, "{records}");
        let positions: Vec<usize> = (0..250).chain(0..2).collect();
        assert_eq!(report.positions, positions, "{records}");
        assert_eq!((report.requests, report.failed_feeds), (2, 0), "{records}");
    }
}

#[tokio::test]
async fn cursors_are_sent_back_as_the_named_query_parameter_up_to_max_pages() {
    let server = MockServer::start().await;
    // Every page has a next cursor: only `max_pages` bounds the poll.
    Mock::given(method("GET"))
        .and(path("/q"))
        .and(query_param("symbol", "IBM"))
        .and(query_param_is_missing("after"))
        .respond_with(json_response(
            &json!({"data": [{"symbol": "p1"}], "meta": {"cursor": "c1"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/q"))
        .and(query_param("symbol", "IBM"))
        .and(query_param("after", "c1"))
        .respond_with(json_response(
            &json!({"data": [{"symbol": "p2"}], "meta": {"cursor": 2}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/q"))
        .and(query_param("after", "2"))
        .respond_with(json_response(
            &json!({"data": [{"symbol": "p3"}], "meta": {"cursor": "c3"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let source = format!(
        "  url: {}/q?symbol={{{{symbol}}}}\n  records: $.data[*]\n  next: {{ cursor: $.meta.cursor, param: after, max_pages: 3 }}",
        server.uri()
    );
    let report = poller(&source, "feeds:\n  - { symbol: IBM }", SYMBOL_FIELD)
        .poll_once()
        .await;
    assert_eq!(symbols(&report), ["p1", "p2", "p3"]);
    assert_eq!((report.requests, report.failed_feeds), (3, 0));
}

#[tokio::test]
async fn a_next_link_to_another_host_is_not_followed() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_response(&json!({
            "data": [{"symbol": "A"}],
            "next": format!("http://localhost:{}/steal", elsewhere.address().port()),
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(json_response(&json!({"data": []})))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let source = format!(
        "  url: {}/q\n  headers:\n    X-Api-Key: ${{K}}\n  records: $.data[*]\n  next: {{ link: $.next }}",
        server.uri()
    );
    let report = poller(&source, "", SYMBOL_FIELD).poll_once().await;
    assert_eq!(symbols(&report), ["A"], "the first page keeps its records");
    assert_eq!((report.requests, report.failed_feeds), (1, 1));
}

#[tokio::test]
async fn each_message_carries_its_member_name_and_the_root_values() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_response(&json!({
            "Meta Data": {"2. Symbol": "IBM"},
            "Time Series (Daily)": {
                "2024-03-15": {"4. close": "191.0700"},
                "2024-03-14": {"4. close": "193.4300"},
            },
        })))
        .expect(1)
        .mount(&server)
        .await;
    let source = format!(
        "  url: {}/q\n  records: \"$['Time Series (Daily)'].*\"",
        server.uri()
    );
    let fields = "    symbol: { root: \"$['Meta Data']['2. Symbol']\" }\n    \
                  date: { member_name: true }\n    close: { path: \"$['4. close']\" }\n";
    let report = poller(&source, "", fields).poll_once().await;
    let carried: Vec<(Option<&str>, Value)> = report
        .messages
        .iter()
        .map(|m| (m.member.as_deref(), Value::Object(m.root.clone())))
        .collect();
    let root = json!({"$['Meta Data']['2. Symbol']": "IBM"});
    assert_eq!(
        carried,
        [
            (Some("2024-03-15"), root.clone()),
            (Some("2024-03-14"), root),
        ]
    );
}

#[tokio::test]
async fn without_fields_that_ask_messages_carry_no_member_name_or_root() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_response(&json!({"a": {"symbol": "A"}})))
        .mount(&server)
        .await;
    let source = format!("  url: {}/q\n  records: $.*", server.uri());
    let report = poller(&source, "", SYMBOL_FIELD).poll_once().await;
    assert_eq!(report.messages.len(), 1);
    let body = report.messages[0].to_body();
    assert!(
        !body.contains("\"member\"") && !body.contains("\"root\""),
        "{body}"
    );
}
