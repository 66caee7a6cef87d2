//! Records too big for a queue message (SQS takes 256 KiB; the embedded queue keeps the same
//! limit): each is refused on its own with a clear error, the rest of the poll is queued and
//! stored, and nothing is retried in vain. On both backends.

use serde_json::{Value, json};

use crate::aws_e2e::initialised;
use crate::moto::unique;
use crate::support::assert_contains;
use crate::workspace::{Workspace, count, pipeline, quotes, serve};

/// 12 ordinary quotes and, in the middle, one with a 300 KiB `note`.
fn body_with_a_huge_record() -> String {
    let mut quotes: Vec<Value> = serde_json::from_str(&quotes(12, 0)).unwrap();
    quotes.insert(
        5,
        json!({
            "symbol": "HUGE",
            "lastPrice": 1.5,
            "lastUpdateTime": "18-Mar-2024 15:59:38",
            "note": "x".repeat(300 * 1024),
        }),
    );
    serde_json::to_string(&quotes).unwrap()
}

const REFUSED: &str = "record not queued: as a message it is over the queue's 256 KiB limit";

#[tokio::test(flavor = "multi_thread")]
async fn a_record_over_256_kib_is_refused_alone_on_the_local_backend() {
    let server = serve(body_with_a_huge_record()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "huge"));

    let out = ws.run(&["run", "--once"]);

    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        "huge: fetched 13 records (1 request), queued 12 (1 refused: over 256 KiB), stored 12, dead-lettered 0",
    );
    assert_contains(&out.stderr, REFUSED);
    assert_eq!(
        out.stderr.matches(REFUSED).count(),
        1,
        "refused once, never retried"
    );
    assert_eq!(
        count(&ws.database("huge"), "SELECT count(*) FROM items"),
        12
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_over_256_kib_is_refused_alone_on_aws() {
    let name = unique("huge");
    let server = serve(body_with_a_huge_record()).await;
    let ws = initialised(&format!("{}/price", server.uri()), &name, 3);

    let out = ws.run(&["run", "--backend", "aws", "--once"]);

    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        &format!(
            "{name}: fetched 13 records (1 request), queued 12 (1 refused: over 256 KiB), stored 12, dead-lettered 0"
        ),
    );
    assert_eq!(out.stderr.matches(REFUSED).count(), 1, "{}", out.stderr);
    assert!(!out.stderr.contains("retrying"), "{}", out.stderr);
}

#[test]
fn max_body_outside_1_kib_to_1_gib_is_a_located_error() {
    let yaml = pipeline("https://example.com/price", "cap")
        .replace("  timeout: 2s\n", "  timeout: 2s\n  max_body: 100\n");
    let ws = Workspace::new(&yaml);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stockrun"))
        .arg("validate")
        .arg(ws.file())
        .env("RAPIDAPI_KEY", "k")
        .output()
        .expect("stockrun runs");
    let stdout = String::from_utf8_lossy(&out.stdout);

    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_contains(
        &stdout,
        "pipeline.yaml:8:13: error: `max_body` is 100 B: it must be from 1 KiB to 1 GiB",
    );
}
