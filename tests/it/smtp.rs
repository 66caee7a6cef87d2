//! `stockrun run --smtp URL` against a real SMTP server: aiosmtpd (pinned in
//! scripts/requirements-test.in) from the test venv, writing what it receives to a Maildir; and
//! against servers that hang (a fault on a real socket, not a mock of SMTP behaviour).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Output, assert_contains, root};
use crate::workspace::{Workspace, demo_body, pipeline, serve, stored};

/// The exit status of a `--once` run whose digest e-mail was not sent.
const NOT_SENT: i32 = 3;

const MISSING: &str =
    "aiosmtpd is missing: run scripts/test (it installs the pinned test tools into .venv-test)";

/// The test venv: `STOCKRUN_TEST_VENV` (set by scripts/test), else `<repo>/.venv-test`.
fn venv() -> PathBuf {
    std::env::var_os("STOCKRUN_TEST_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv-test"))
}

/// A port on 127.0.0.1 that nothing listens on (just now).
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// aiosmtpd with its `Mailbox` handler on 127.0.0.1, killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start() -> SmtpServer {
        let python = venv().join("bin").join("python");
        let found = Command::new(&python)
            .args(["-m", "aiosmtpd", "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(found, "{MISSING} (tried {})", python.display());

        let dir = tempfile::tempdir().expect("temp dir");
        let maildir = dir.path().join("maildir");
        let log = dir.path().join("aiosmtpd.log");
        let port = free_port();
        let log_file = File::create(&log).expect("log file");
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("{MISSING} ({}: {e})", python.display()));
        let mut server = SmtpServer {
            child,
            port,
            maildir,
            log,
            _dir: dir,
        };
        server.wait_until_listening(Duration::from_secs(15));
        server
    }

    fn wait_until_listening(&mut self, limit: Duration) {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + limit;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("aiosmtpd status") {
                panic!(
                    "aiosmtpd exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {address} within {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages delivered so far (Maildir `new/`), as text, sorted by file name.
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("entry").path()).collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("message reads"))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The header block and the body of a message, the body decoded from quoted-printable (which
/// lettre uses for long lines).
fn split_message(message: &str) -> (&str, String) {
    let message_end = message
        .find("\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| message.find("\n\n").map(|i| (i, i + 2)))
        .unwrap_or((message.len(), message.len()));
    let (headers, body) = (&message[..message_end.0], &message[message_end.1..]);
    if headers.contains("Content-Transfer-Encoding: quoted-printable") {
        (headers, decode_quoted_printable(body))
    } else {
        (headers, body.to_owned())
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 body")
}

/// Fails unless `dir` is absent or empty.
fn assert_absent_or_empty(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        let names: Vec<_> = entries.map(|e| e.expect("entry").file_name()).collect();
        assert!(names.is_empty(), "{} holds {names:?}", dir.display());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_delivers_one_email_per_batch_to_a_real_server_and_writes_no_outbox() {
    let smtp = SmtpServer::start();
    let source = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", source.uri()), "quotes"));

    let out = ws.run(&["run", "--once", "--smtp", &smtp.url()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, "stored 12, dead-lettered 1, e-mails 2");
    assert_eq!(stored(&ws.database("quotes")).len(), 12);

    let messages = smtp.messages();
    assert_eq!(
        messages.len(),
        2,
        "one e-mail per batch in the Maildir; aiosmtpd log:\n{}",
        smtp.log()
    );
    let parts: Vec<(&str, String)> = messages.iter().map(|m| split_message(m)).collect();
    let subjects: Vec<&str> = parts
        .iter()
        .flat_map(|(headers, _)| headers.lines())
        .filter(|line| line.starts_with("Subject: "))
        .collect();
    assert_eq!(
        subjects.len(),
        2,
        "one Subject per message:\n{}",
        messages.join("\n")
    );
    assert!(subjects.contains(&"Subject: 10 new quotes"), "{subjects:?}");
    assert!(subjects.contains(&"Subject: 2 new quotes"), "{subjects:?}");
    for (headers, _) in &parts {
        assert_contains(headers, "To: me@example.com");
        // The envelope, as the server's Mailbox handler recorded it.
        assert_contains(headers, "X-MailFrom: stockrun@example.com");
        assert_contains(headers, "X-RcptTo: me@example.com");
    }
    let bodies: String = parts.iter().map(|(_, body)| body.as_str()).collect();
    assert_contains(&bodies, "TCS: 4173.85");
    assert_contains(
        &bodies,
        "TCS: 4173.85 (high 4185, low 4091.3) at 2024-03-18T10:29:36.000Z",
    );
    assert!(
        !bodies.contains("DELISTED"),
        "the poison record is in no e-mail"
    );

    assert_absent_or_empty(&ws.state().join("outbox"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_smtp_server_loses_no_records_and_never_shows_the_password() {
    const PASSWORD: &str = "hunter2-secret";
    let source = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", source.uri()), "quotes"));
    let port = free_port();

    let out = ws.run(&[
        "run",
        "--once",
        "--smtp",
        &format!("smtp://user:{PASSWORD}@127.0.0.1:{port}"),
    ]);
    // The records are stored; the status says the e-mails were not sent.
    assert_eq!(out.code, NOT_SENT, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        "stored 12, dead-lettered 1, e-mails 0, 2 failed",
    );
    assert_eq!(stored(&ws.database("quotes")).len(), 12);
    assert_contains(
        &out.stderr,
        "e-mail not sent after retries; records are stored",
    );
    // The server is named, without user or password.
    assert_contains(&out.stderr, &format!("smtp://127.0.0.1:{port}"));
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(PASSWORD),
            "the SMTP password leaked:\n{text}"
        );
    }
    assert_absent_or_empty(&ws.state().join("outbox"));
}

/// How a [`HangingSmtp`] server hangs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hang {
    /// Accepts the connection and never greets.
    BeforeGreeting,
    /// Greets, then never answers EHLO.
    AfterGreeting,
    /// Answers everything up to the end of DATA, then goes silent.
    AfterData,
}

/// An SMTP server on 127.0.0.1 that hangs as told on every connection (each handled on its own
/// thread, its socket held open until the test process ends).
pub(crate) struct HangingSmtp {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl HangingSmtp {
    pub(crate) fn start(hang: Hang) -> HangingSmtp {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || serve_hanging(stream, hang));
            }
        });
        HangingSmtp { port, connections }
    }

    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far (one per send attempt).
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// One connection of a [`HangingSmtp`]: the SMTP dialogue up to where it hangs, then silence
/// (reading whatever comes, answering nothing) until the client hangs up.
fn serve_hanging(stream: TcpStream, hang: Hang) {
    let mut writer = stream.try_clone().expect("clone the socket");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut read_line = |line: &mut String| {
        line.clear();
        reader.read_line(line).is_ok_and(|n| n > 0)
    };
    let mut answering = !matches!(hang, Hang::BeforeGreeting);
    if answering && writer.write_all(b"220 hanging.test ESMTP\r\n").is_err() {
        return;
    }
    answering = matches!(hang, Hang::AfterData);
    let mut in_data = false;
    while read_line(&mut line) {
        if !answering {
            continue;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if in_data {
            if command != "." {
                continue;
            }
            // The whole message is in: never answer it.
            answering = false;
            continue;
        } else if command.starts_with("EHLO") || command.starts_with("HELO") {
            b"250 hanging.test\r\n"
        } else if command == "DATA" {
            in_data = true;
            b"354 end with <CRLF>.<CRLF>\r\n"
        } else if command == "QUIT" {
            b"221 bye\r\n"
        } else {
            b"250 OK\r\n"
        };
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

/// `yaml` with `notify.timeout: TIMEOUT`.
pub(crate) fn with_notify_timeout(yaml: &str, timeout: &str) -> String {
    assert!(yaml.contains("\nnotify:\n"), "{yaml}");
    yaml.replace("\nnotify:\n", &format!("\nnotify:\n  timeout: {timeout}\n"))
}

/// Runs `stockrun ARGS` in `ws` and waits for it to exit, at most `limit` (then kills it and
/// fails with what it printed).
pub(crate) fn run_within(ws: &Workspace, args: &[&str], limit: Duration) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = ws
        .command(args)
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("stockrun starts");
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`stockrun {}` still running after {limit:?}:\n{}\n{}",
                args.join(" "),
                read(&out_path),
                read(&err_path)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        code: status.code().unwrap_or(-1),
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

/// `run --once --smtp` against a server hanging as `hang`, with `notify.timeout: 1s`: the run
/// ends (2 digests × 4 attempts of 1 s, pauses of at most 2.8 s each digest), every record is
/// stored, and the summary, the status and the log say the e-mails were not sent.
async fn a_hanging_server_costs_the_timeout_per_attempt_not_the_run(hang: Hang) {
    let server = HangingSmtp::start(hang);
    let source = serve(demo_body()).await;
    let ws = Workspace::new(&with_notify_timeout(
        &pipeline(&format!("{}/price", source.uri()), "quotes"),
        "1s",
    ));

    let out = run_within(
        &ws,
        &["run", "--once", "--smtp", &server.url()],
        Duration::from_secs(60),
    );

    assert_eq!(
        out.code, NOT_SENT,
        "{hang:?}\n{}\n{}",
        out.stdout, out.stderr
    );
    assert_contains(
        &out.stdout,
        "stored 12, dead-lettered 1, e-mails 0, 2 failed",
    );
    assert_eq!(stored(&ws.database("quotes")).len(), 12);
    assert_contains(&out.stderr, "no answer within 1s (notify.timeout)");
    assert_contains(
        &out.stderr,
        "e-mail not sent after retries; records are stored",
    );
    assert_eq!(server.connections(), 8, "4 attempts for each of 2 digests");
    assert_absent_or_empty(&ws.state().join("outbox"));
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_server_that_never_greets_costs_the_notify_timeout_per_attempt() {
    a_hanging_server_costs_the_timeout_per_attempt_not_the_run(Hang::BeforeGreeting).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_server_that_never_answers_ehlo_costs_the_notify_timeout_per_attempt() {
    a_hanging_server_costs_the_timeout_per_attempt_not_the_run(Hang::AfterGreeting).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_server_silent_after_data_costs_the_notify_timeout_per_attempt() {
    a_hanging_server_costs_the_timeout_per_attempt_not_the_run(Hang::AfterData).await;
}

/// A server that does not offer AUTH (aiosmtpd offers it only over TLS) while the `--smtp` URL
/// carries a user and password: nothing is sent without the authentication the user asked
/// for; each e-mail counts as failed, and `--once` exits 3.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_for_a_server_without_auth_fail_the_emails_not_send_them_unauthenticated() {
    const PASSWORD: &str = "hunter2-secret";
    let smtp = SmtpServer::start();
    let source = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", source.uri()), "quotes"));

    let out = ws.run(&[
        "run",
        "--once",
        "--smtp",
        &format!("smtp://user:{PASSWORD}@127.0.0.1:{}", smtp.port),
    ]);

    assert_eq!(out.code, NOT_SENT, "{}\n{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        "stored 12, dead-lettered 1, e-mails 0, 2 failed",
    );
    assert_eq!(stored(&ws.database("quotes")).len(), 12);
    assert_contains(&out.stderr, "authentication");
    assert!(
        smtp.messages().is_empty(),
        "sent without authentication; aiosmtpd log:\n{}",
        smtp.log()
    );
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(PASSWORD),
            "the SMTP password leaked:\n{text}"
        );
    }
}
