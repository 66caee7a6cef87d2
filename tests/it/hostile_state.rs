//! A hostile state directory (issue 16, items 2, 3 and 9): a damaged queue file, a full disk and a
//! read-only directory, each met by the real binary.
//!
//! The full disk is real: a small tmpfs mounted over the state directory in a user and mount
//! namespace of the child's own (`unshare --user --map-root-user --mount`), so writes fail with
//! ENOSPC as on a full disk, without root and without touching the host's mounts; it vanishes
//! with the child. The read-only directory is a read-only bind mount made the same way: permission
//! bits would not stop a root process (tests run as root here and in CI), a read-only mount stops
//! everyone. Those tests need `unshare` (util-linux) and user namespaces (root has them; most
//! distributions allow them unprivileged): without them they fail, saying so.

use std::path::Path;
use std::process::{Command, Output as ProcessOutput, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Output, assert_contains, root};
use crate::workspace::{Workspace, count, pipeline, quotes, serve};

/// Runs `command` to its end, killing it and failing after `limit`; returns its output and how
/// long it took.
fn run_within(mut command: Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let ProcessOutput { stdout, stderr, .. } = child.wait_with_output().expect("output");
            panic!(
                "still running after {limit:?}\nstdout:\n{}\nstderr (end):\n{}",
                String::from_utf8_lossy(&stdout),
                tail(&String::from_utf8_lossy(&stderr))
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    let took = started.elapsed();
    (
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        took,
    )
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// `inner` run by `sh -c SCRIPT` in a user and mount namespace of its own, after `script` (which
/// gets the mount point as `$0`) has set up the mounts; the command follows as `"$@"`.
fn in_namespace(inner: &Command, mount_point: &Path, script: &str) -> Command {
    let mut outer = Command::new("unshare");
    outer
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg(format!("{script} && exec \"$@\""))
        .arg(mount_point)
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(root())
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (name, value) in inner.get_envs() {
        if let Some(value) = value {
            outer.env(name, value);
        }
    }
    outer
}

/// The precondition of the namespace tests, checked so that a machine without it fails with the
/// reason instead of a puzzling assertion.
fn assert_namespaces_work() {
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c"])
        .arg("d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs \"$d\"")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output();
    match probe {
        Ok(output) if output.status.success() => {}
        other => panic!(
            "these tests mount a small tmpfs in a user namespace of their own (`unshare --user \
             --map-root-user --mount`), which this machine does not allow: {other:?}. Install \
             util-linux, or allow user namespaces (sysctl kernel.unprivileged_userns_clone=1, or \
             kernel.apparmor_restrict_unprivileged_userns=0), or run the tests as root"
        ),
    }
}

/// XORs 1 900 bytes in the middle of page `page` of the database at `path`.
fn damage_page(path: &Path, page: usize) {
    let mut bytes = std::fs::read(path).expect("database reads");
    let start = (page - 1) * 4096 + 1000;
    for byte in &mut bytes[start..start + 1900] {
        *byte ^= 0x5a;
    }
    std::fs::write(path, bytes).expect("database writes");
}

/// Regression (issue 16, item 2): with one page of queue rows damaged, `consume --once
/// --visibility-timeout 3s` wrote 30 000+ `.eml` files in 60 s, the same records stored and
/// mailed again and again. It must stop at once, say the file is damaged and how to recover.
#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_queue_file_stops_consume_with_how_to_recover_and_no_mail_storm() {
    const QUOTES: usize = 300;
    let server = serve(quotes(QUOTES, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "broken"));
    let polled = ws.run(&["poll", "--once"]);
    assert_eq!(polled.code, 0, "{}", polled.stderr);
    let db = ws.state().join("broken.db");
    let pages = {
        let c = ws.database("broken");
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint");
        count(&c, "PRAGMA page_count")
    };
    damage_page(&db, usize::try_from(pages).expect("pages") / 2);

    let (out, took) = run_within(
        ws.command(&["consume", "--once", "--visibility-timeout", "3s"]),
        Duration::from_secs(30),
    );

    assert_ne!(out.code, 0, "{}", out.stderr);
    let error = out
        .stderr
        .lines()
        .find(|line| line.starts_with("stockrun: error:"))
        .unwrap_or_else(|| panic!("no error line in\n{}", tail(&out.stderr)));
    assert_contains(
        error,
        &format!("the state file {} is damaged", db.display()),
    );
    assert_contains(error, &format!("sqlite3 {}.damaged .recover", db.display()));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let emails = ws.emails().len();
    assert!(
        emails <= QUOTES / 10,
        "{emails} e-mails for {QUOTES} quotes in batches of 10: a storm"
    );
}

/// Regression (issue 16, item 3): on a full disk `poll --once` retried every 10-record batch 5
/// times (about 10 s each), then reported `queued 640 (60 not queued)` and exited 0, losing
/// what it could not queue. It must fail at once, naming the state directory.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_poll_at_once_naming_the_state_directory() {
    assert_namespaces_work();
    let server = serve(quotes(700, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "full"));
    std::fs::create_dir_all(ws.state()).expect("state dir");
    let poll = ws.command(&["poll", "--once"]);

    let (out, took) = run_within(
        in_namespace(
            &poll,
            &ws.state(),
            "mount -t tmpfs -o size=200k tmpfs \"$0\"",
        ),
        Duration::from_secs(60),
    );

    assert_ne!(out.code, 0, "{}", out.stderr);
    assert_contains(&out.stdout, "not queued)");
    assert_contains(
        &out.stderr,
        &format!(
            "disk full (no space left on device) writing {}",
            ws.state().display()
        ),
    );
    assert!(
        !out.stderr.contains("retrying"),
        "a full disk is retried:\n{}",
        tail(&out.stderr)
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// Regression (issue 16, item 9): with no space left at all, opening the state read
/// `disk I/O error: Error code 4874` (or `database or disk is full` twice).
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_at_start_up_says_disk_full_once() {
    assert_namespaces_work();
    let server = serve(quotes(10, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "full"));
    std::fs::create_dir_all(ws.state()).expect("state dir");
    let poll = ws.command(&["poll", "--once"]);

    let (out, _) = run_within(
        in_namespace(
            &poll,
            &ws.state(),
            "mount -t tmpfs -o size=200k tmpfs \"$0\" && { head -c 1M /dev/zero >\"$0/filler\" 2>/dev/null; true; }",
        ),
        Duration::from_secs(60),
    );

    assert_ne!(out.code, 0, "{}", out.stderr);
    let error = out
        .stderr
        .lines()
        .find(|line| line.starts_with("stockrun: error:"))
        .unwrap_or_else(|| panic!("no error line in\n{}", out.stderr));
    assert_contains(
        error,
        &format!(
            "disk full (no space left on device) writing {}",
            ws.state().display()
        ),
    );
    for repeated in ["database or disk is full", "disk I/O error", "Error code"] {
        assert!(!error.contains(repeated), "{error}");
    }
}

/// Issue 16, item 3, the consumer's side: a store write on a full disk is not retried again and
/// again; `consume --once` stops at once with the same clear error.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_stops_consume_at_once_with_a_clear_error() {
    assert_namespaces_work();
    let server = serve(quotes(300, 0)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "full"));
    let polled = ws.run(&["poll", "--once"]);
    assert_eq!(polled.code, 0, "{}", polled.stderr);
    // The queue is copied onto a small tmpfs that is then filled but for 96 KiB: enough to open
    // it and lease a batch, not to store and e-mail 300 quotes.
    let full = ws.state().with_file_name("full-state");
    std::fs::create_dir_all(&full).expect("dir");
    let mut consume = ws.command(&["consume", "--once", "--visibility-timeout", "3s"]);
    let args: Vec<_> = consume
        .get_args()
        .map(|arg| {
            if arg == ws.state().as_os_str() {
                full.clone().into_os_string()
            } else {
                arg.to_owned()
            }
        })
        .collect();
    let mut inner = Command::new(consume.get_program());
    inner.args(args);
    for (name, value) in consume.get_envs() {
        if let Some(value) = value {
            inner.env(name, value);
        }
    }
    consume = inner;
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs \"$0\" && cp {db} \"$0/\" && \
         {{ head -c 2M /dev/zero >\"$0/filler\" 2>/dev/null; true; }} && truncate -s -96K \"$0/filler\"",
        db = ws.state().join("full.db").display()
    );

    let (out, took) = run_within(
        in_namespace(&consume, &full, &script),
        Duration::from_secs(60),
    );

    assert_ne!(out.code, 0, "{}", out.stderr);
    assert_contains(
        &out.stderr,
        &format!(
            "disk full (no space left on device) writing {}",
            full.display()
        ),
    );
    assert!(
        !out.stderr.contains("store write failed; retrying"),
        "a full disk is retried:\n{}",
        tail(&out.stderr)
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

/// Regression (issue 16, item 9): `show` on a state directory it cannot write failed with
/// `unable to open database file: unable to open database file: Error code 14`. Inspection
/// opens the database read-only. The directory is a read-only mount, which stops root too.
#[tokio::test(flavor = "multi_thread")]
async fn show_and_show_dead_read_a_state_directory_they_cannot_write() {
    assert_namespaces_work();
    let server = serve(quotes(20, 10)).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "ro"));
    let ran = ws.run(&["run", "--once"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let read_only = "mount --bind \"$0\" \"$0\" && mount -o remount,bind,ro \"$0\"";

    let (shown, _) = run_within(
        in_namespace(&ws.command(&["show"]), &ws.state(), read_only),
        Duration::from_secs(30),
    );
    let (dead, _) = run_within(
        in_namespace(&ws.command(&["show", "--dead"]), &ws.state(), read_only),
        Duration::from_secs(30),
    );

    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_contains(&shown.stdout, "18 of 18 item(s) in table `stock_prices`");
    assert_eq!(dead.code, 0, "{}", dead.stderr);
    assert_contains(&dead.stdout, "2 dead-lettered message(s) in queue `ro`");
    let files: Vec<String> = std::fs::read_dir(ws.state())
        .expect("state dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with("ro.db"))
        .collect();
    assert_eq!(files, ["ro.db"], "show left files behind");
}
