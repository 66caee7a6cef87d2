//! The source and its records under hostile input (issue 16, items 4, 5, 6 and 10), against the
//! real binary: `file:` URLs that try to leave the pipeline's folder or never end, environment
//! values that would rewrite the URL, `errors` matches that are not errors, and a record too
//! large to queue.

use std::process::Child;
use std::time::{Duration, Instant};

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Output, assert_contains, stockrun};
use crate::workspace::{Workspace, demo_body, pipeline};

/// What a secret file holds: none of it may reach a log line or an error.
const SECRET_FILE: &str = "root:*:20228:0:99999:7:::\ntop-secret-NOTJSON-3141 password=hunter2\n";

/// Fails when `text` shows any part of [`SECRET_FILE`].
#[track_caller]
fn assert_no_file_bytes(text: &str) {
    for part in ["root:*", "top-secret", "hunter2", "NOTJSON"] {
        assert!(
            !text.contains(part),
            "the file's content leaked ({part}):\n{text}"
        );
    }
}

/// Waits for `child` at most `limit`; kills it (and fails) when it is still running then.
fn finish_within(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            child.kill().expect("kill");
            let out = child.wait_with_output().expect("output");
            panic!(
                "still running after {limit:?}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn validate_refuses_file_urls_outside_the_pipeline_folder() {
    for (url, message) in [
        (
            "file:../../../../etc/shadow",
            "climbs out of the pipeline file's folder",
        ),
        (
            "file:..%2F..%2Fetc%2Fshadow",
            "climbs out of the pipeline file's folder",
        ),
        (
            "file:responses/../../x.json",
            "climbs out of the pipeline file's folder",
        ),
        ("file:///etc/shadow", "names an absolute path"),
        ("file:/proc/self/environ", "names an absolute path"),
        ("file:%2Fetc%2Fshadow", "names an absolute path"),
    ] {
        let ws = Workspace::new(&pipeline(url, "outside"));
        let file = ws.file();
        let out = stockrun(&["validate", file.to_str().unwrap()], &[]);
        assert_eq!(out.code, 1, "{url}:\n{}\n{}", out.stdout, out.stderr);
        let all = format!("{}{}", out.stdout, out.stderr);
        assert_contains(&all, "pipeline.yaml:3:8: error");
        assert_contains(&all, message);
        assert_contains(&all, "copy the recorded response next to the pipeline file");
        // `run` refuses it the same way, before reading anything.
        let out = ws.run(&["run", "--once"]);
        assert_eq!(out.code, 1, "{url}:\n{}\n{}", out.stdout, out.stderr);
    }
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_out_of_the_folder_is_refused_when_read() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("shadow");
    std::fs::write(&secret, SECRET_FILE).unwrap();
    let ws = Workspace::new(&pipeline("file:responses/quotes.json", "link"));
    std::fs::create_dir(ws.dir().join("responses")).unwrap();
    std::os::unix::fs::symlink(&secret, ws.dir().join("responses/quotes.json")).unwrap();
    // A link to a folder outside is refused the same way.
    std::os::unix::fs::symlink(outside.path(), ws.dir().join("elsewhere")).unwrap();
    for url in ["file:responses/quotes.json", "file:elsewhere/shadow"] {
        std::fs::write(ws.file(), pipeline(url, "link")).unwrap();
        let out = ws.run(&["run", "--once"]);
        assert_eq!(out.code, 3, "{url}:\n{}\n{}", out.stdout, out.stderr);
        assert_contains(&out.stderr, "leads outside the pipeline file's folder");
        assert_no_file_bytes(&out.stdout);
        assert_no_file_bytes(&out.stderr);
    }
}

#[test]
fn a_file_that_is_not_json_is_never_quoted() {
    let ws = Workspace::new(&pipeline("file:secret.txt", "notjson"));
    std::fs::write(ws.dir().join("secret.txt"), SECRET_FILE).unwrap();
    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stderr,
        "file is not JSON: expected value at line 1 column 1",
    );
    assert_contains(&out.stderr, "the content is not shown");
    assert_no_file_bytes(&out.stderr);
    // Trace logs show nothing of it either.
    let out = finish_within(
        {
            let mut command = ws.command(&["run", "--once"]);
            command
                .env("STOCKRUN_LOG", "trace")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            command.spawn().unwrap()
        },
        Duration::from_secs(30),
    );
    assert_no_file_bytes(&out.stderr);
}

/// A FIFO never ends (and opening it blocks until a writer comes): before, `run --once` waited
/// for it forever, past `source.timeout` and the first SIGTERM.
#[cfg(unix)]
#[test]
fn a_fifo_is_refused_instead_of_read_forever() {
    let ws = Workspace::new(&pipeline("file:responses/fifo.json", "fifo"));
    std::fs::create_dir(ws.dir().join("responses")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(ws.dir().join("responses/fifo.json"))
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    let started = Instant::now();
    let out = finish_within(
        ws.command(&["run", "--once"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(20),
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "it is not a regular file");
    assert!(started.elapsed() < Duration::from_secs(15));
    // A device behind a link inside the folder is refused too (first as outside the folder).
    std::os::unix::fs::symlink("/dev/zero", ws.dir().join("responses/zero.json")).unwrap();
    std::fs::write(ws.file(), pipeline("file:responses/zero.json", "fifo")).unwrap();
    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "leads outside the pipeline file's folder");
}

/// A key with the characters that split (`&`), cut (`#`) or change (`+` reads as a space) a URL.
const HOSTILE_KEY: &str = "abc123+x&n=5#frag";

/// `${VAR}` in the URL's query and path arrives exactly as set, and neither form of it shows in
/// the logs. Before, the server saw `?apikey=abc123+x&n=5` (and `n=5` as a parameter of its own).
#[tokio::test(flavor = "multi_thread")]
async fn environment_values_in_the_url_arrive_exactly() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(demo_body(), "application/json"))
        .mount(&server)
        .await;
    let url = format!(
        "{}/v1/${{RAPIDAPI_KEY}}/price?apikey=${{RAPIDAPI_KEY}}&symbol=X",
        server.uri()
    );
    let ws = Workspace::new(&pipeline(&url, "encoded"))
        .with_env(vec![("RAPIDAPI_KEY", HOSTILE_KEY.to_owned())]);
    let mut command = ws.command(&["run", "--once"]);
    command
        .env("STOCKRUN_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = finish_within(command.spawn().unwrap(), Duration::from_secs(60));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1);
    let url = &requests[0].url;
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("apikey".to_owned(), HOSTILE_KEY.to_owned()),
            ("symbol".to_owned(), "X".to_owned())
        ]
    );
    assert_eq!(url.fragment(), None);
    let segments: Vec<&str> = url.path_segments().expect("a path").collect();
    assert_eq!(segments, ["v1", "abc123%2Bx%26n%3D5%23frag", "price"]);

    // The debug log shows the URL requested, with the key hidden in both forms.
    assert_contains(&out.stderr, "requesting");
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(HOSTILE_KEY), "{text}");
        assert!(!text.contains("abc123%2Bx%26n%3D5%23frag"), "{text}");
        assert!(!text.contains("abc123"), "{text}");
    }
}

/// A value in the host is inserted as written; one that would move the request (a `/`, `@`,
/// `#`…) is a `validate` error naming the variable, not its value.
#[test]
fn a_host_value_that_would_move_the_request_is_refused() {
    let ws = Workspace::new(&pipeline("https://${RAPIDAPI_KEY}/price", "host"))
        .with_env(vec![("RAPIDAPI_KEY", "evil.example#".to_owned())]);
    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "`${RAPIDAPI_KEY}` is in the URL's host");
    assert!(!out.stderr.contains("evil.example"), "{}", out.stderr);
}

/// `errors: [$.error]` on an API that sends `"error": false` (or empty) on success: before, every
/// one of these bodies failed the feed; only `null` was let through.
#[tokio::test(flavor = "multi_thread")]
async fn false_or_empty_error_matches_are_not_errors() {
    let quotes = crate::workspace::quotes(3, 0);
    let run = |errors: &'static str, body: String| async move {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
        let yaml = pipeline(&format!("{}/price", server.uri()), "errors")
            .replace("records: $[*]", "records: $.data[*]")
            .replace("errors: [$.message]", errors);
        Workspace::new(&yaml).run(&["run", "--once"])
    };
    for error in ["false", "null", r#""""#, "[]", "{}"] {
        let body = format!(r#"{{"error": {error}, "data": {quotes}}}"#);
        let out = run("errors: [$.error]", body).await;
        assert_eq!(out.code, 0, "{error}:\n{}\n{}", out.stdout, out.stderr);
        assert_contains(&out.stdout, "fetched 3 records (1 request)");
    }
    let body = r#"{"error": "Invalid API key", "data": []}"#.to_owned();
    let out = run("errors: [$.error]", body).await;
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stderr,
        "the body is an error (`$.error` matched): Invalid API key",
    );

    // A stricter rule: a filter that matches only a `status` of `error`.
    let strict = "errors: [\"$[?@.status == 'error']\"]";
    let body = format!(r#"{{"meta": {{"status": "ok"}}, "data": {quotes}}}"#);
    let out = run(strict, body).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let body = r#"{"meta": {"status": "error"}, "data": []}"#.to_owned();
    let out = run(strict, body).await;
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stderr, "matched): {\"status\":\"error\"}");
}

/// A record whose message would be over the queue's 256 KiB limit: before, the log said only its
/// size and the feed. Now it says where it is (feed, index in the response) and what it is (its
/// first scalar members, short, secrets hidden, control characters escaped).
#[tokio::test(flavor = "multi_thread")]
async fn a_record_over_the_queue_limit_is_logged_with_its_identity() {
    let mut records: Vec<serde_json::Value> =
        serde_json::from_str(&crate::workspace::quotes(3, 0)).unwrap();
    records[1] = serde_json::json!({
        "token": crate::workspace::API_KEY,
        "symbol": "HUGE\u{1b}]0;pwned\u{7}",
        "detail": {"nested": "not shown"},
        "lastPrice": 12.5,
        "note": "x".repeat(300 * 1024),
    });
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(serde_json::to_string(&records).unwrap(), "application/json"),
        )
        .mount(&server)
        .await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", server.uri()), "huge"));
    let out = ws.run(&["run", "--once"]);
    assert_contains(
        &out.stdout,
        "fetched 3 records (1 request), queued 2 (1 refused: over 256 KiB)",
    );
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("record not queued"))
        .unwrap_or_else(|| panic!("no log line:\n{}", out.stderr));
    assert_contains(line, "index=1");
    assert_contains(line, "token=\"${RAPIDAPI_KEY}\"");
    assert_contains(line, "symbol=\"HUGE\\x1b]0;pwned\\x07\"");
    assert_contains(line, "lastPrice=12.5");
    assert!(
        !line.contains("nested") && !line.contains("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        "{line}"
    );
    assert!(!out.stderr.contains('\u{1b}'), "{}", out.stderr);
}
