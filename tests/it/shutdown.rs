//! SIGTERM while a consumer works, on both backends: the batch in hand is finished (stored *and*
//! deleted: no quote is both stored and still queued), the process exits 0 with its summary, and
//! a later drain stores the rest, so every quote is stored exactly once and e-mailed exactly once.
//! And SIGTERM while the e-mail hangs: the e-mail step is cut within a bound, the batch stays
//! queued, and the next run stores and e-mails it.

use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::time::Duration;

use tokio::time::Instant;

use crate::aws_e2e::{
    assert_no_secret_in, emails_from, initialised, item_count, queue_counts, scan,
};
use crate::moto::{aws_at, moto_url, unique};
use crate::smtp::{Hang, HangingSmtp};
use crate::support::assert_contains;
use crate::workspace::{Workspace, count, pipeline, quotes, serve, wait_until};

const N: usize = 60;

fn all_symbols() -> BTreeSet<String> {
    (0..N).map(|i| format!("SYM{i:05}")).collect()
}

/// Sends SIGTERM to `child` and waits (at most `limit`) for it to exit; returns its output.
fn terminate(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!("no exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_secret_in(&text);
    (output.status.code(), text)
}

/// The quote symbols listed in the digest lines of `emails` (`SYM00012: 112.12 …`), with
/// repetitions.
fn emailed_symbols<'a>(emails: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    emails
        .into_iter()
        .flat_map(str::lines)
        .filter_map(|line| line.split(':').next())
        .filter(|word| word.starts_with("SYM") && word.len() == 8)
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_on_the_local_backend_finishes_the_batch_and_loses_or_doubles_nothing() {
    let server = serve(quotes(N, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "term"));
    let polled = ws.run(&["poll", "--once"]);
    assert_eq!(polled.code, 0, "{}", polled.stderr);
    let consumer = ws.spawn(&["consume"]);
    wait_until("the first batch is stored", Duration::from_secs(30), || {
        count(&ws.database("term"), "SELECT count(*) FROM items") > 0
    });

    let (code, output) = terminate(consumer, Duration::from_secs(30));

    assert_eq!(code, Some(0), "{output}");
    assert_contains(&output, "term: fetched 0 records");
    let db = ws.database("term");
    let stored = count(&db, "SELECT count(*) FROM items");
    let overlap = count(
        &db,
        "SELECT count(*) FROM items JOIN queue_messages
           ON items.partition_key = json_extract(queue_messages.body, '$.record.symbol')",
    );
    assert_eq!(
        overlap, 0,
        "a stored quote is still queued: its batch was not finished"
    );
    assert_eq!(
        stored + count(&db, "SELECT count(*) FROM queue_messages"),
        N as i64,
        "every quote is stored or still queued"
    );

    let drained = ws.run(&["consume", "--once"]);
    assert_eq!(drained.code, 0, "{}", drained.stderr);
    assert_eq!(count(&db, "SELECT count(*) FROM items"), N as i64);
    let emails = ws.emails();
    let mut emailed = emailed_symbols(emails.iter().map(String::as_str));
    emailed.sort();
    let want: Vec<String> = all_symbols().into_iter().collect();
    assert_eq!(emailed, want, "every quote in exactly one digest");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_on_aws_finishes_the_batch_and_loses_or_doubles_nothing() {
    let name = unique("term");
    let source = serve(quotes(N, 0)).await;
    let ws = initialised(&format!("{}/price", source.uri()), &name, 3);
    let aws = aws_at(&moto_url()).await;
    let polled = ws.run(&["poll", "--once", "--backend", "aws"]);
    assert_eq!(polled.code, 0, "{}", polled.stderr);
    let consumer = ws.spawn(&["consume", "--backend", "aws"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while item_count(&aws, &name).await == 0 {
        assert!(Instant::now() < deadline, "nothing stored in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A long poll in progress is waited out (at most 20 s) before the exit.
    let (code, output) = terminate(consumer, Duration::from_secs(45));

    assert_eq!(code, Some(0), "{output}");
    assert_contains(&output, &format!("{name}: fetched 0 records"));
    let (visible, in_flight) = queue_counts(&aws, &name).await;
    assert_eq!(
        in_flight, 0,
        "a received batch was left unfinished:\n{output}"
    );
    let stored = item_count(&aws, &name).await;
    // More than N would mean a quote both stored and still queued (its batch not finished).
    assert_eq!(
        stored + visible as usize,
        N,
        "{stored} stored + {visible} queued: every quote is in exactly one of them"
    );

    let drained = ws.run(&["consume", "--backend", "aws", "--once"]);
    assert_eq!(drained.code, 0, "{}", drained.stderr);
    let keys: BTreeSet<String> = scan(&aws, &name).await.into_keys().collect();
    assert_eq!(keys, all_symbols());
    let emails = emails_from(&format!("{name}@example.com")).await;
    let bodies: Vec<&str> = emails.iter().filter_map(|e| e["body"].as_str()).collect();
    let mut emailed = emailed_symbols(bodies);
    emailed.sort();
    let want: Vec<String> = all_symbols().into_iter().collect();
    assert_eq!(emailed, want, "every quote in exactly one digest");
}

/// A mail server that never greets, and the default `notify.timeout` (10 s, retried 3 times):
/// SIGTERM while the first digest is being sent ends `run --once` within the stop's grace (3 s)
/// and a margin, not after the attempts. The batch whose e-mail was cut stays queued (released,
/// not deleted); the next run stores it again (same keys) and e-mails every quote.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_the_mail_server_hangs_cuts_the_email_and_leaves_the_batch_queued() {
    let mail = HangingSmtp::start(Hang::BeforeGreeting);
    let server = serve(quotes(N, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "mailterm"));
    let run = ws.spawn(&["run", "--once", "--smtp", &mail.url()]);
    wait_until(
        "the first batch is stored and its e-mail attempted",
        Duration::from_secs(30),
        || {
            mail.connections() > 0
                && ws.state().join("mailterm.db").exists()
                && count(&ws.database("mailterm"), "SELECT count(*) FROM items") > 0
        },
    );

    let (code, output) = terminate(run, Duration::from_secs(8));

    assert_eq!(code, Some(0), "{output}");
    assert_contains(&output, "e-mail cut short by a stop");
    assert_contains(
        &output,
        "cut short by the stop: 10 stored records left queued",
    );
    assert_eq!(mail.connections(), 1, "no new attempt after the stop");
    let db = ws.database("mailterm");
    let stored = count(&db, "SELECT count(*) FROM items");
    assert_eq!(stored, 10, "{output}");
    let overlap = count(
        &db,
        "SELECT count(*) FROM items JOIN queue_messages
           ON items.partition_key = json_extract(queue_messages.body, '$.record.symbol')",
    );
    assert_eq!(
        overlap, stored,
        "every stored quote whose e-mail was cut stays queued"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM queue_messages"),
        N as i64,
        "nothing was deleted"
    );

    // The next run (the outbox this time) stores the batch again and e-mails every quote once.
    let drained = ws.run(&["consume", "--once"]);
    assert_eq!(drained.code, 0, "{}", drained.stderr);
    assert_eq!(count(&db, "SELECT count(*) FROM items"), N as i64);
    assert_eq!(count(&db, "SELECT count(*) FROM queue_messages"), 0);
    let emails = ws.emails();
    let mut emailed = emailed_symbols(emails.iter().map(String::as_str));
    emailed.sort();
    let want: Vec<String> = all_symbols().into_iter().collect();
    assert_eq!(emailed, want, "every quote in exactly one digest");
}
