//! `stockrun show` as data: `--format json|ndjson|csv`, `--columns`, `--series`, `--since`, a
//! closed pipe, and `--dead` on AWS (moto), which looks at the dead-letter queue and leaves
//! every message in it.

use serde_json::Value;

use crate::aws_e2e::{body, initialised, queue_counts, symbol};
use crate::cli::first_line_of;
use crate::moto::{aws_at, moto_url, unique};
use crate::support::assert_contains;
use crate::workspace::{Workspace, demo_body, pipeline, serve};

/// A workspace that ran the demo response once (12 stored quotes, 1 dead letter).
async fn ran() -> (Workspace, wiremock::MockServer) {
    let server = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "quotes"));
    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    (ws, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn ndjson_json_and_csv_carry_the_stored_values_and_nothing_else() {
    let (ws, _server) = ran().await;

    let ndjson = ws.run(&["show", "--format", "ndjson", "--limit", "100"]);
    assert_eq!(ndjson.code, 0, "{}", ndjson.stderr);
    let rows: Vec<Value> = ndjson
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(rows.len(), 12, "{}", ndjson.stdout);
    let tcs = rows.iter().find(|row| row["symbol"] == "TCS").expect("TCS");
    assert_eq!(tcs["price"].to_string(), "4173.85");
    assert!(ndjson.stdout.contains("\"price\":4173.85"), "exact digits");

    let json = ws.run(&["show", "--format", "json", "--limit", "100"]);
    let array: Value = serde_json::from_str(&json.stdout).expect("one JSON document");
    assert_eq!(array.as_array().map(Vec::len), Some(12));

    let csv = ws.run(&["show", "--format", "csv", "--columns", "symbol,price"]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines[0], "symbol,price");
    assert_eq!(lines.len(), 13, "a header and 12 rows:\n{}", csv.stdout);
    assert!(lines.contains(&"TCS,4173.85"), "{}", csv.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn series_and_since_pick_the_items_and_columns_their_order() {
    let (ws, _server) = ran().await;

    let one = ws.run(&["show", "--series", "TCS", "--columns", "price,symbol"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let lines: Vec<&str> = one.stdout.lines().collect();
    assert!(lines[0].trim_start().starts_with("price"), "{}", one.stdout);
    assert_contains(&one.stdout, "4173.85");
    assert_contains(
        &one.stdout,
        "1 of 1 matching item(s) in table `stock_prices`",
    );

    let recent = ws.run(&["show", "--since", "1h", "--format", "ndjson"]);
    assert_eq!(recent.stdout.lines().count(), 12, "{}", recent.stderr);
    let future = ws.run(&["show", "--since", "2999-01-01", "--format", "ndjson"]);
    assert_eq!(future.code, 0, "{}", future.stderr);
    assert_eq!(future.stdout, "");

    let bad = ws.run(&["show", "--since", "yesterday"]);
    assert_eq!(bad.code, 2);
    assert_contains(&bad.stderr, "is neither a duration");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_column_is_a_usage_error_that_lists_the_columns() {
    let (ws, _server) = ran().await;

    let out = ws.run(&["show", "--columns", "symbol,nope"]);

    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_contains(
        &out.stderr,
        "stockrun: error: --columns: there is no column `nope`; the columns are symbol, quoted_at, price, high, low, inserted_at",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_as_ndjson_carry_the_reason_and_the_whole_body() {
    let (ws, _server) = ran().await;

    let out = ws.run(&["show", "--dead", "--format", "ndjson"]);

    assert_eq!(out.code, 0, "{}", out.stderr);
    let row: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON line");
    assert_contains(row["message"].as_str().unwrap(), "DELISTED");
    assert_contains(row["reason"].as_str().unwrap(), "price");
    assert_eq!(row["receives"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn ndjson_piped_into_head_exits_0_quietly() {
    let (ws, _server) = ran().await;
    ws.database("quotes")
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
             INSERT INTO items SELECT table_name, partition_key || '-' || i, sort_key,
             inserted_at, attributes FROM items, n;",
        )
        .unwrap();

    for format in ["ndjson", "csv", "json"] {
        let (code, first, stderr) =
            first_line_of(&mut ws.command(&["show", "--format", format, "--limit", "5000"]));
        assert!(!first.is_empty(), "{format}");
        assert_eq!(code, 0, "{format}: {stderr}");
        assert!(!stderr.contains("error"), "{format}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_on_aws_looks_at_the_dead_letter_queue_and_leaves_every_message_in_it() {
    const GOOD: usize = 3;
    // More than one receive returns (10), so the look walks the queue.
    const POISON: usize = 12;
    let name = unique("show-dead");
    let source = serve(body(GOOD, POISON)).await;
    let ws = initialised(&format!("{}/price", source.uri()), &name, 2);
    let run = ws.run(&["run", "--backend", "aws", "--once"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let aws = aws_at(&moto_url()).await;
    let dlq = format!("{name}-dlq");
    assert_eq!(queue_counts(&aws, &dlq).await, (POISON as u64, 0));

    for _ in 0..2 {
        let out = ws.run(&[
            "show",
            "--dead",
            "--backend",
            "aws",
            "--format",
            "ndjson",
            "--limit",
            "50",
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let rows: Vec<Value> = out
            .stdout
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON"))
            .collect();
        assert_eq!(rows.len(), POISON, "{}", out.stdout);
        let mut symbols: Vec<String> = rows
            .iter()
            .map(|row| {
                assert_contains(row["reason"].as_str().unwrap(), "lastPrice");
                let message: Value = serde_json::from_str(row["message"].as_str().unwrap())
                    .expect("the body is JSON");
                message["record"]["symbol"]
                    .as_str()
                    .map_or_else(|| message.to_string(), str::to_owned)
            })
            .collect();
        symbols.sort();
        let mut expected: Vec<String> = (GOOD..GOOD + POISON).map(symbol).collect();
        expected.sort();
        assert_eq!(symbols, expected);
        // Every message is still there and visible at once; the pipeline's queue is untouched.
        assert_eq!(queue_counts(&aws, &dlq).await, (POISON as u64, 0));
        assert_eq!(queue_counts(&aws, &name).await, (0, 0));
    }

    let table = ws.run(&["show", "--dead", "--backend", "aws", "--limit", "3"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert_eq!(table.stdout.lines().count(), 5, "{}", table.stdout);
    assert_contains(
        &table.stdout,
        &format!("{POISON} dead-lettered message(s) in queue `{name}`"),
    );
}
