//! `stockrun run` / `poll` / `consume` / `show` end to end on the embedded backend: a real HTTP
//! server (wiremock) as the source, the real binary, the real SQLite file and `.eml` files.

use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::Value;

use crate::cli::first_line_of;
use crate::support::assert_contains;
use crate::workspace::{
    Workspace, count, demo_body, pipeline, pipeline_with_receives, quotes, serve, stored,
    wait_until,
};

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_every_good_record_emails_each_batch_and_dead_letters_the_poison_one() {
    let server = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "quotes"));

    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        "quotes: fetched 13 records (1 request), queued 13, stored 12, dead-lettered 1, e-mails 2",
    );

    let db = ws.database("quotes");
    let items = stored(&db);
    assert_eq!(items.len(), 12);
    let tcs = &items
        .iter()
        .find(|(k, _)| k == "TCS")
        .expect("TCS stored")
        .1;
    assert_eq!(tcs["price"].to_string(), "4173.85");
    assert_eq!(tcs["quoted_at"], "2024-03-18T10:29:36.000Z");
    assert!(
        tcs["inserted_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let keys: Vec<&str> = tcs
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["symbol", "quoted_at", "price", "high", "low", "inserted_at"]
    );

    let emails = ws.emails();
    assert_eq!(emails.len(), 2, "one e-mail per batch");
    let all = emails.join("\n");
    assert_contains(&all, "Subject: 10 new quotes");
    assert_contains(&all, "Subject: 2 new quotes");
    assert_contains(
        &all,
        "TCS: 4173.85 (high 4185, low 4091.3) at 2024-03-18T10:29:36.000Z",
    );
    assert_contains(&all, "To: me@example.com");
    assert!(
        !all.contains("DELISTED"),
        "the poison record is in no e-mail"
    );

    let dead = ws.run(&["show", "--dead"]);
    assert_eq!(dead.code, 0, "{}", dead.stderr);
    assert_contains(&dead.stdout, "DELISTED");
    assert_contains(&dead.stdout, "price");
    assert_contains(&dead.stdout, "1 dead-lettered message(s)");
    assert_eq!(count(&db, "SELECT count(*) FROM queue_messages"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn show_prints_the_stored_rows_newest_first() {
    let server = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "quotes"));
    assert_eq!(ws.run(&["run", "--once"]).code, 0);

    let out = ws.run(&["show", "--limit", "3"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "header, 3 rows, total:\n{}", out.stdout);
    for column in ["symbol", "quoted_at", "price", "high", "low", "inserted_at"] {
        assert_contains(lines[0], column);
    }
    assert_contains(&out.stdout, "2024-03-18T10:29:38.000Z");
    assert_contains(
        &out.stdout,
        "3 of 12 item(s) in table `stock_prices`, newest first",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_overwrites_by_key_instead_of_adding_rows() {
    let server = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "quotes"));
    assert_eq!(ws.run(&["run", "--once"]).code, 0);
    let out = ws.run(&["run", "--once"]);
    assert_contains(&out.stdout, "stored 12, dead-lettered 1");
    assert_eq!(stored(&ws.database("quotes")).len(), 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_then_consume_is_the_same_as_run() {
    let server = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "quotes"));
    let polled = ws.run(&["poll", "--once"]);
    assert_contains(&polled.stdout, "queued 13, stored 0");
    let db = ws.database("quotes");
    assert_eq!(count(&db, "SELECT count(*) FROM queue_messages"), 13);
    let message: String = db
        .query_row(
            "SELECT body FROM queue_messages ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let message: Value = serde_json::from_str(&message).expect("messages are JSON");
    assert_eq!(message["pipeline"], "quotes");
    assert_eq!(message["record"]["symbol"], "NIFTY 50");
    assert!(
        message["fetched_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    let consumed = ws.run(&["consume", "--once"]);
    assert_contains(
        &consumed.stdout,
        "queued 0, stored 12, dead-lettered 1, e-mails 2",
    );
}

#[test]
fn run_refuses_a_pipeline_whose_variable_is_unset() {
    let ws = Workspace::new(&pipeline("https://example.invalid/price", "quotes"));
    let out = ws
        .command(&["run", "--once"])
        .env_remove("RAPIDAPI_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_contains(&stderr, "RAPIDAPI_KEY");
    assert_contains(&stderr, "cannot run");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_killed_mid_run_loses_nothing_and_duplicates_nothing() {
    const N: usize = 300;
    let server = serve(quotes(N, 50)).await;
    // Each kill leaves up to a batch in flight, and every delivery counts towards the
    // dead-letter queue (as on SQS): allow more deliveries than kills.
    let ws = Workspace::new(&pipeline_with_receives(
        &format!("{}/price", server.uri()),
        "bulk",
        6,
    ));
    assert_contains(&ws.run(&["poll", "--once"]).stdout, &format!("queued {N}"));
    let good = N - N / 50;

    let db = ws.database("bulk");
    for _ in 0..3 {
        let before = count(&db, "SELECT count(*) FROM items");
        if before as usize == good {
            break;
        }
        let mut consumer = ws.spawn(&["consume", "--visibility-timeout", "2s"]);
        wait_until(
            "the consumer stores more records",
            Duration::from_secs(30),
            || count(&db, "SELECT count(*) FROM items") > before,
        );
        consumer.kill().expect("SIGKILL the consumer");
        consumer.wait().expect("reaped");
    }
    let out = ws.run(&["consume", "--once", "--visibility-timeout", "2s"]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    assert_eq!(
        count(&db, "SELECT count(*) FROM items") as usize,
        good,
        "every good record stored once"
    );
    assert_eq!(
        count(&db, "SELECT count(DISTINCT partition_key) FROM items") as usize,
        good
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM dead_letters") as usize,
        N / 50
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM queue_messages"),
        0,
        "nothing left queued"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_batch_in_hand_and_exits_0() {
    let server = serve(quotes(40, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "stop"));
    let mut run = ws.spawn(&["run"]);
    let db_path = ws.state().join("stop.db");
    wait_until(
        "the first records are stored",
        Duration::from_secs(30),
        || db_path.exists() && count(&ws.database("stop"), "SELECT count(*) FROM items") > 0,
    );
    let status = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = run.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "run did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = run.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        exit.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_contains(&stdout, "stop: fetched");
    // Whatever was received is either stored (and deleted) or still queued: nothing in between.
    let db = ws.database("stop");
    assert!(count(&db, "SELECT count(*) FROM items") > 0);
    let covered = count(
        &db,
        "SELECT count(*) FROM (SELECT partition_key FROM items
                               UNION SELECT json_extract(body, '$.record.symbol') FROM queue_messages)",
    );
    assert_eq!(covered, 40, "every quote is stored or still queued");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_store_stops_the_drain_with_exit_3_and_keeps_every_record_queued() {
    let server = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "broken"));
    // A table that refuses every row: a real SQLite write error on each store attempt.
    std::fs::create_dir_all(ws.state()).unwrap();
    Connection::open(ws.state().join("broken.db"))
        .unwrap()
        .execute_batch(
            "CREATE TABLE items (table_name TEXT, partition_key TEXT, sort_key TEXT,
             inserted_at TEXT, attributes TEXT, PRIMARY KEY (table_name, partition_key, sort_key),
             CHECK (partition_key = 'nothing'));",
        )
        .unwrap();

    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        "stored 0 (10 not stored: store failing), dead-lettered 0, e-mails 0",
    );
    assert_contains(
        &out.stderr,
        "the store is failing: 10 record(s) could not be stored and stay queued",
    );
    let db = ws.database("broken");
    assert_eq!(
        count(&db, "SELECT count(*) FROM queue_messages"),
        13,
        "nothing lost"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM dead_letters"),
        0,
        "nothing dead-lettered"
    );
}

#[test]
fn show_without_state_says_so_exits_3_and_creates_nothing() {
    let ws = Workspace::new(&pipeline("https://example.invalid/price", "never"));
    let out = ws.run(&["show"]);
    assert_eq!(out.code, 3);
    assert_contains(&out.stderr, "pipeline `never` has no local state");
    assert_contains(&out.stderr, "--state-dir");
    assert!(
        !ws.state().exists(),
        "show created {}",
        ws.state().display()
    );
}

#[test]
fn a_visibility_timeout_within_the_batch_window_is_a_usage_error() {
    let ws = Workspace::new(&pipeline("https://example.invalid/price", "quotes"));
    let out = ws.run(&["consume", "--once", "--visibility-timeout", "1s"]);
    assert_eq!(out.code, 2);
    assert_contains(
        &out.stderr,
        "--visibility-timeout 1s must be longer than the pipeline's batch_window (1s)",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_outage_holds_the_batch_and_dead_letters_nothing_healthy() {
    let server = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "outage"));
    assert_contains(&ws.run(&["poll", "--once"]).stdout, "queued 13");
    let db = ws.database("outage");
    let broken = "CREATE TABLE items (table_name TEXT, partition_key TEXT, sort_key TEXT,
         inserted_at TEXT, attributes TEXT, PRIMARY KEY (table_name, partition_key, sort_key),
         CHECK (partition_key = 'nothing'));";
    db.execute_batch(broken).unwrap();

    // Deliveries are short, so a consumer that kept receiving during the outage would spend
    // every record's two deliveries within seconds.
    let mut consumer = ws.spawn(&["consume", "--visibility-timeout", "2s"]);
    wait_until(
        "the consumer holds a failed batch",
        Duration::from_secs(20),
        || {
            count(
                &db,
                "SELECT count(*) FROM queue_messages WHERE receive_count > 0",
            ) > 0
        },
    );
    std::thread::sleep(Duration::from_secs(8)); // an outage of four visibility timeouts
    // The store comes back: the same table, without the constraint.
    db.execute_batch(
        "DROP TABLE items;
         CREATE TABLE items (table_name TEXT NOT NULL, partition_key TEXT NOT NULL,
         sort_key TEXT NOT NULL, inserted_at TEXT NOT NULL, attributes TEXT NOT NULL,
         PRIMARY KEY (table_name, partition_key, sort_key)) WITHOUT ROWID;",
    )
    .unwrap();
    wait_until(
        "every healthy quote is stored",
        Duration::from_secs(60),
        || count(&db, "SELECT count(*) FROM items") == 12,
    );
    consumer.kill().unwrap();
    consumer.wait().unwrap();
    let dead: Vec<String> = db
        .prepare("SELECT json_extract(body, '$.record.symbol') FROM dead_letters")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        dead.iter().all(|symbol| symbol == "DELISTED"),
        "healthy records were dead-lettered: {dead:?}"
    );
}

#[test]
fn run_once_exits_3_when_every_request_fails() {
    let ws = Workspace::new(&pipeline("file:no-such-response.json", "nothing"));
    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        "nothing: fetched 0 records (1 request, 1 failed)",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_exits_3_when_records_cannot_be_queued() {
    let server = serve(quotes(5, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "full"));
    // A poll and a drain create the database and leave the queue empty; then the queue refuses
    // every message.
    assert_eq!(ws.run(&["poll", "--once"]).code, 0);
    assert_eq!(ws.run(&["consume", "--once"]).code, 0);
    ws.database("full")
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON queue_messages
             BEGIN SELECT RAISE(ABORT, 'the queue refuses'); END;",
        )
        .unwrap();

    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        "full: fetched 5 records (1 request), queued 0 (5 not queued)",
    );
    assert_contains(&out.stderr, "records not queued after retries");
}

#[tokio::test(flavor = "multi_thread")]
async fn show_piped_into_head_exits_0_quietly() {
    let server = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "many"));
    assert_eq!(ws.run(&["run", "--once"]).code, 0);
    // Enough rows that the table is far larger than a pipe holds: the writes after `head`
    // leaves fail with EPIPE, whatever the timing.
    ws.database("many")
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
             INSERT INTO items SELECT table_name, partition_key || '-' || i, sort_key,
             inserted_at, attributes FROM items, n;",
        )
        .unwrap();

    let (code, first, stderr) = first_line_of(&mut ws.command(&["show", "--limit", "5000"]));
    assert_contains(&first, "symbol");
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");

    // `--limit 50`: the rows fit in the pipe, so nothing is cut short; still 0 and quiet.
    let (code, _, stderr) = first_line_of(&mut ws.command(&["show", "--limit", "50"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_with_stdout_closed_still_drains_and_exits_0() {
    let server = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "closed"));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = ws
        .command(&["run", "--once"])
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stored(&ws.database("closed")).len(), 12);
}
