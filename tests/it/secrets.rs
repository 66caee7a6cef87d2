//! Secrets never reach the output: not substituted environment values, not literal keys, not
//! AWS credentials, in any command, log line (at `trace`), error or e-mail.

use std::path::Path;
use std::process::Command;

use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::moto::{aws_env, moto_url, unique};
use crate::support::{Output, assert_contains, root, stockrun};
use crate::workspace::{API_KEY, demo_body, serve};

const SECRET: &str = "s3cr3t-value-1234567890";

#[test]
fn substituted_values_are_not_printed_in_errors() {
    let dir = tempdir();
    let file = dir.join("leak.yaml");
    let base =
        std::fs::read_to_string(root().join("tests/fixtures/base.yaml")).expect("base fixture");
    // The secret lands where it is invalid: a table name, a queue size, an e-mail address.
    let text = base
        .replace("table: quotes", "table: ${API_KEY}!")
        .replace("from: bot@example.com", "from: ${API_KEY}")
        + "queue:\n  batch_size: ${API_KEY}\n";
    std::fs::write(&file, text).expect("write");
    for format in ["text", "json"] {
        let out = stockrun(
            &["validate", "--format", format, file.to_str().unwrap()],
            &[("API_KEY", SECRET)],
        );
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert!(
            !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
            "secret printed:\n{}",
            out.stdout
        );
        assert_contains(&out.stdout, "`${API_KEY}` is not a whole number");
        assert_contains(
            &out.stdout,
            "`${API_KEY}!` is not a valid DynamoDB table name",
        );
    }
}

#[test]
fn literal_keys_are_warned_about_but_not_printed() {
    let out = stockrun(
        &["validate", "tests/fixtures/warnings/literal-key.yaml"],
        &[],
    );
    assert!(out.stdout.contains("holds a literal secret"));
    assert!(!out.stdout.contains("9f8e7d6c5b4a"), "{}", out.stdout);
    assert_contains(&out.stdout, "X-Api-Key: <redacted>");
}

/// Sentinel AWS credentials: moto accepts any, and these are easy to search for.
const AWS_SENTINELS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "AKIASENTINEL0C0FFEE77"),
    ("AWS_SECRET_ACCESS_KEY", "sentinel-aws-secret-9b8a7c6d5e"),
    ("AWS_SESSION_TOKEN", "sentinel-session-token-4d3c2b1a"),
];

/// The SMTP password of the unreachable-server run.
const SMTP_PASSWORD: &str = "sentinel-smtp-password-1f2e";

/// Every sentinel: the API key, the AWS credentials, the SMTP password.
fn sentinels() -> Vec<&'static str> {
    let mut all = vec![API_KEY, SMTP_PASSWORD];
    all.extend(AWS_SENTINELS.iter().map(|(_, value)| *value));
    all
}

/// Runs `stockrun ARGS` in `dir` with the sentinel API key and AWS credentials, moto (or
/// `endpoint`) as AWS and `STOCKRUN_LOG=trace`; fails if any sentinel is in its output.
fn run_checked(dir: &Path, args: &[&str], endpoint: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stockrun"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("RAPIDAPI_KEY", API_KEY)
        .env("STOCKRUN_LOG", "trace")
        .envs(aws_env(endpoint))
        .envs(AWS_SENTINELS);
    let output = command.output().expect("stockrun runs");
    let out = Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    if ["run", "poll", "consume", "init"].contains(&args[0]) {
        assert_contains(&out.stderr, " DEBUG ");
    }
    for sentinel in sentinels() {
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            if let Some(at) = text.find(sentinel) {
                let from = text[..at].rfind('\n').map_or(0, |n| n + 1);
                let line = text[from..].lines().next().unwrap_or("");
                panic!(
                    "`stockrun {}` printed a secret on {stream}:\n{line}",
                    args.join(" ")
                );
            }
        }
    }
    out
}

/// A pipeline polling `url` (with the API key in a header and in the query) into the queue,
/// table and sender `name`.
fn secret_pipeline(base: &str, route: &str, name: &str) -> String {
    crate::aws_e2e::pipeline(
        &format!("{base}/{route}?symbol=NIFTY&apikey=${{RAPIDAPI_KEY}}"),
        name,
        2,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn no_command_prints_logs_or_mails_a_secret() {
    let source = serve(demo_body()).await;
    // An API that answers a wrong key by quoting it back.
    Mock::given(method("GET"))
        .and(path("/denied"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            format!(r#"{{"message":"Invalid API key: {API_KEY}"}}"#),
            "application/json",
        ))
        .mount(&source)
        .await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("127.0.0.1:{}", listener.local_addr().unwrap().port())
    };
    let moto = moto_url();
    let dir = tempfile::tempdir().unwrap();
    let name = unique("secrets");
    let write = |file: &str, route: &str, base: &str| {
        std::fs::write(dir.path().join(file), secret_pipeline(base, route, &name)).unwrap();
    };
    write("good.yaml", "price", &source.uri());
    write("denied.yaml", "denied", &source.uri());
    write("unreachable.yaml", "price", &format!("http://{closed}"));
    // EventBridge schedules fire at most once a minute.
    let every_minute = secret_pipeline(&source.uri(), "price", &name)
        .replace("schedule: \"* * * * * *\"", "schedule: \"0 * * * * *\"");
    std::fs::write(dir.path().join("deploy.yaml"), every_minute).unwrap();
    let state = dir.path().join("state").display().to_string();
    // Its own state: in `state` the records are stored already, unchanged, so nothing is mailed.
    let smtp_state = dir.path().join("smtp-state").display().to_string();
    let smtp = format!("smtp://user:{SMTP_PASSWORD}@{closed}");
    let d = dir.path();

    let mut codes = Vec::new();
    for args in [
        &["validate", "good.yaml"][..],
        &["validate", "--format", "json", "good.yaml"],
        &["schema"],
        &["deploy-template", "deploy.yaml"],
        &["poll", "good.yaml", "--once", "--state-dir", &state],
        &["consume", "good.yaml", "--once", "--state-dir", &state],
        &["run", "good.yaml", "--once", "--state-dir", &state],
        &["show", "good.yaml", "--state-dir", &state],
        &["show", "good.yaml", "--dead", "--state-dir", &state],
        // Error paths: a key the API rejects, a source nobody listens on, an SMTP server
        // nobody listens on (with a password in its URL).
        &["run", "denied.yaml", "--once", "--state-dir", &state],
        &["run", "unreachable.yaml", "--once", "--state-dir", &state],
        &[
            "run",
            "good.yaml",
            "--smtp",
            &smtp,
            "--once",
            "--state-dir",
            &smtp_state,
        ],
        // The AWS backend on moto.
        &["init", "good.yaml", "--backend", "aws"],
        &["run", "good.yaml", "--once", "--backend", "aws"],
        &["show", "good.yaml", "--backend", "aws"],
        &["show", "good.yaml", "--dead", "--backend", "aws"],
        &["run", "denied.yaml", "--once", "--backend", "aws"],
    ] {
        let out = run_checked(d, args, &moto);
        codes.push((args.join(" "), out.code));
    }
    // AWS unreachable: an endpoint nobody listens on.
    let out = run_checked(
        d,
        &["show", "good.yaml", "--backend", "aws"],
        &format!("http://{closed}"),
    );
    codes.push(("show --backend aws (unreachable)".to_owned(), out.code));

    // The runs did their job (so the outputs checked above are the real ones).
    let failed: Vec<&(String, i32)> = codes.iter().filter(|(_, code)| *code != 0).collect();
    let expected_failures = [
        "run denied.yaml --once --state-dir",
        "run unreachable.yaml --once --state-dir",
        // The e-mail was not sent (the SMTP server is unreachable): `--once` says so (issue 16).
        "run good.yaml --smtp",
        "run denied.yaml --once --backend aws",
        "show --backend aws (unreachable)",
    ];
    assert_eq!(
        failed.len(),
        expected_failures.len(),
        "exit codes: {codes:#?}"
    );
    for (args, _) in failed {
        assert!(
            expected_failures.iter().any(|e| args.starts_with(e)),
            "`{args}` failed: {codes:#?}"
        );
    }

    // E-mails: the outbox files and the ones moto "sent".
    let outbox = dir.path().join("state/outbox");
    let mut emails: Vec<String> = std::fs::read_dir(&outbox)
        .expect("the outbox exists")
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert!(!emails.is_empty(), "no e-mail was written");
    let sent = crate::aws_e2e::emails_from(&format!("{name}@example.com")).await;
    assert!(!sent.is_empty(), "moto sent no e-mail");
    emails.extend(sent.iter().map(ToString::to_string));
    for email in &emails {
        for sentinel in sentinels() {
            assert!(!email.contains(sentinel), "secret in an e-mail:\n{email}");
        }
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("stockrun-test-{}-{}", std::process::id(), line!()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
