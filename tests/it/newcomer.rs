//! What a new user ran into (issue 12, item 7), each pinned through the binary: `help --help`,
//! one prefix per error line, an empty required variable, the `--smtp` help saying what is
//! printed, `deploy-template` on a `file:` source, AWS without a region, credentials or a
//! reachable endpoint, `consume --once` where nothing has run. (A failed SMTP e-mail: smtp.rs.)

use crate::support::{assert_contains, stockrun};

#[test]
fn help_help_prints_the_help_and_exits_0() {
    for flag in ["--help", "-h"] {
        let out = stockrun(&["help", flag], &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_contains(&out.stdout, "Exit status:");
    }
}

#[test]
fn an_invalid_pipeline_is_reported_with_one_prefix_per_line() {
    let out = stockrun(
        &["run", "tests/fixtures/invalid/limits.yaml", "--once"],
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("tests/fixtures/invalid/limits.yaml:23:15: error: `batch_size` is 11"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("stockrun: error:"), "{}", out.stderr);
    let template = stockrun(
        &["deploy-template", "tests/fixtures/invalid/limits.yaml"],
        &[],
    );
    assert_eq!(template.code, 1);
    assert!(
        !template.stderr.contains("stockrun: error:"),
        "{}",
        template.stderr
    );
}

#[test]
fn a_missing_file_prints_the_os_error_once() {
    let out = stockrun(&["run", "nofile.yaml"], &[]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "stockrun: error: cannot read nofile.yaml: No such file or directory (os error 2)\n"
    );
}

#[test]
fn an_empty_required_variable_stops_run_and_poll_and_is_a_warning_in_validate() {
    let file = "pipelines/stocks.yaml";
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    for command in ["run", "poll"] {
        let out = stockrun(
            &[command, file, "--once", "--state-dir", state],
            &[("RAPIDAPI_KEY", "")],
        );
        assert_eq!(out.code, 1, "{command}: {}", out.stderr);
        assert_contains(
            &out.stderr,
            "error: environment variable `RAPIDAPI_KEY` is set but empty",
        );
        assert_contains(&out.stderr, "export RAPIDAPI_KEY=…");
    }
    let validate = stockrun(&["validate", file], &[("RAPIDAPI_KEY", "")]);
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    assert_contains(
        &validate.stdout,
        "warning: environment variable `RAPIDAPI_KEY` is set but empty",
    );
}

#[test]
fn the_smtp_help_says_what_is_printed() {
    let out = stockrun(&["run", "--help"], &[]);
    let help = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_contains(&help, "name the server as `scheme://host:port` only");
    assert_contains(&help, "the user name and password are never shown");
}

#[test]
fn deploy_template_warns_that_a_file_source_must_be_packaged() {
    let out = stockrun(&["deploy-template", "examples/demo.yaml"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_contains(
        &out.stderr,
        "stockrun: warning: the source reads the file `responses/latest-stock-price-demo.json`",
    );
    let plain = stockrun(&["deploy-template", "pipelines/stocks.yaml"], &[]);
    assert!(
        !plain.stderr.contains("warning: the source reads"),
        "{}",
        plain.stderr
    );
}

/// The environment of a user with no AWS set up: no `AWS_*` variables, a home without `~/.aws`,
/// and (so the test does not wait on the network) no instance metadata service.
fn no_aws(home: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("HOME", home.display().to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

fn vars<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn no_aws_region_or_credentials_is_one_line_naming_what_to_set() {
    let home = tempfile::tempdir().unwrap();
    let env = no_aws(home.path());
    for args in [
        ["show", "examples/demo.yaml", "--backend", "aws"],
        ["init", "examples/demo.yaml", "--backend", "aws"],
    ] {
        let out = stockrun(&args, &vars(&env));
        assert_eq!(out.code, 3, "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert_contains(
            &out.stderr,
            "stockrun: error: no AWS region and no AWS credentials: set AWS_REGION (or AWS_PROFILE)",
        );
        assert_contains(
            &out.stderr,
            "credential sources tried: the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), the profile `default`",
        );
        assert_contains(&out.stderr, "EC2 instance metadata (IMDS)");
        assert!(!out.stderr.contains("dispatch failure"), "{}", out.stderr);
    }

    let mut region_only = env.clone();
    region_only.push(("AWS_REGION", "eu-west-1".to_owned()));
    let out = stockrun(
        &["show", "examples/demo.yaml", "--backend", "aws"],
        &vars(&region_only),
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_contains(
        &out.stderr,
        "stockrun: error: no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY;",
    );

    let mut credentials_only = env.clone();
    credentials_only.push(("AWS_ACCESS_KEY_ID", "testing-key-id".to_owned()));
    credentials_only.push(("AWS_SECRET_ACCESS_KEY", "testing-secret".to_owned()));
    let out = stockrun(
        &["show", "examples/demo.yaml", "--backend", "aws"],
        &vars(&credentials_only),
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "stockrun: error: no AWS region: set AWS_REGION (or AWS_PROFILE, naming a profile that has a region)\n"
    );
}

#[test]
fn an_unreachable_aws_endpoint_fails_within_seconds_with_one_line() {
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut env = no_aws(home.path());
    env.extend([
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing-key-id".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing-secret".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
    ]);
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    for args in [
        vec!["run", "examples/demo.yaml", "--once", "--backend", "aws"],
        vec![
            "consume",
            "examples/demo.yaml",
            "--once",
            "--backend",
            "aws",
        ],
        vec!["show", "examples/demo.yaml", "--backend", "aws"],
        vec!["init", "examples/demo.yaml", "--backend", "aws"],
        vec![
            "invoke",
            "examples/demo.yaml",
            "--event",
            "schedule",
            "--backend",
            "aws",
            "--state-dir",
            state,
        ],
    ] {
        let started = std::time::Instant::now();
        let out = stockrun(&args, &vars(&env));
        let took = started.elapsed();
        assert_eq!(out.code, 3, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!(
                "stockrun: error: cannot reach AWS_ENDPOINT_URL {endpoint}: Connection refused"
            )),
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(
            took < std::time::Duration::from_secs(10),
            "{args:?} took {took:?}"
        );
    }
}

#[test]
fn consume_once_where_nothing_ran_says_nothing_is_queued_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("nowhere");
    let state = nowhere.to_str().unwrap();
    let out = stockrun(
        &[
            "consume",
            "examples/demo.yaml",
            "--once",
            "--state-dir",
            state,
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "demo: nothing queued: {state}/demo.db does not exist (no `stockrun poll` or `run` has used this --state-dir); nothing created\n"
        )
    );
    assert!(!nowhere.exists(), "consume --once created {state}");
    // `show` on the same directory refuses, as before.
    let show = stockrun(&["show", "examples/demo.yaml", "--state-dir", state], &[]);
    assert_eq!(show.code, 3, "{}", show.stderr);
    assert_contains(&show.stderr, "has no local state");
    assert!(!nowhere.exists());

    // Once a poll has queued records there, consume --once processes them.
    let poll = stockrun(
        &["poll", "examples/demo.yaml", "--once", "--state-dir", state],
        &[],
    );
    assert_eq!(poll.code, 0, "{}", poll.stderr);
    let consume = stockrun(
        &[
            "consume",
            "examples/demo.yaml",
            "--once",
            "--state-dir",
            state,
        ],
        &[],
    );
    assert_eq!(consume.code, 0, "{}", consume.stderr);
    assert_contains(&consume.stdout, "stored 12");
}
