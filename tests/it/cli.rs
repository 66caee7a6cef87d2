//! The command line itself: help, version, exit statuses, JSON output.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{Output, assert_contains, root, stockrun};

#[test]
fn every_subcommand_has_help() {
    for args in [
        &["--help"][..],
        &["validate", "--help"],
        &["schema", "--help"],
        &["help", "validate"],
    ] {
        let out = stockrun(args, &[]);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(
            out.stdout.contains("Usage: stockrun"),
            "{args:?}: {}",
            out.stdout
        );
    }
    let validate = stockrun(&["validate", "--help"], &[]);
    assert!(
        validate
            .stdout
            .contains("Exit status: 0 when no file has an error"),
        "{}",
        validate.stdout
    );
}

#[test]
fn version_prints_the_crate_version() {
    let out = stockrun(&["--version"], &[]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        format!("stockrun {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["validate"][..],
        &["validate", "--format", "xml", "x.yaml"],
        &["frobnicate"],
        &[],
    ] {
        let out = stockrun(args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn a_missing_file_is_an_error_of_that_file_only() {
    let out = stockrun(
        &["validate", "no/such.yaml", "tests/fixtures/base.yaml"],
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stdout
            .starts_with("no/such.yaml: error: cannot read the file"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .ends_with("invalid: checked 2 files: 1 error, 0 warnings\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn deny_warnings_turns_warnings_into_failure() {
    let file = "tests/fixtures/warnings/numeric-weekday.yaml";
    assert_eq!(stockrun(&["validate", file], &[]).code, 0);
    assert_eq!(
        stockrun(&["validate", "--deny-warnings", file], &[]).code,
        1
    );
}

#[test]
fn json_format_lists_every_diagnostic_with_its_position() {
    let out = stockrun(
        &[
            "validate",
            "--format",
            "json",
            "tests/fixtures/invalid/limits.yaml",
            "tests/fixtures/warnings/unset-env.yaml",
        ],
        &[],
    );
    assert_eq!(out.code, 1);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("valid JSON");
    assert_eq!(json["valid"], false);
    assert_eq!(
        json["summary"],
        serde_json::json!({"errors": 3, "warnings": 2})
    );
    let first = &json["files"][0];
    assert_eq!(first["file"], "tests/fixtures/invalid/limits.yaml");
    assert_eq!(first["valid"], false);
    assert_eq!(
        first["diagnostics"][0],
        serde_json::json!({
            "severity": "error", "line": 23, "column": 15, "path": "queue.batch_size",
            "message": "`batch_size` is 11; it must be 1 to 10",
            "help": "SQS receives at most 10 messages at a time"
        })
    );
    assert_eq!(json["files"][1]["valid"], true);
    assert_eq!(json["files"][1]["diagnostics"][0]["severity"], "warning");
}

#[test]
fn the_help_lists_every_exit_status() {
    let out = stockrun(&["--help"], &[]);
    assert_eq!(out.code, 0);
    for line in [
        "Exit status:",
        "  0  success",
        "  1  the pipeline is invalid or cannot be read",
        "  2  usage error",
        "  3  failure at run time",
    ] {
        assert_contains(&out.stdout, line);
    }
}

#[test]
fn an_unknown_flag_exits_2_with_clap_s_message() {
    for args in [
        &["run", "tests/fixtures/base.yaml", "--frobnicate"][..],
        &["show", "tests/fixtures/base.yaml", "--limit", "many"],
        &["init", "tests/fixtures/base.yaml", "--backend", "gcp"],
    ] {
        let out = stockrun(args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}");
        assert_contains(&out.stderr, "error: ");
        assert_contains(&out.stderr, "For more information, try '--help'.");
    }
}

#[test]
fn an_invalid_pipeline_exits_1_in_validate_and_in_every_command_that_loads_it() {
    let file = "tests/fixtures/invalid/bad-cron.yaml";
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    let validate = stockrun(&["validate", file], &[]);
    assert_eq!(validate.code, 1, "{}", validate.stdout);
    let first = validate.stdout.lines().next().unwrap();
    for command in ["run", "poll", "consume", "show", "init"] {
        let out = stockrun(&[command, file, "--state-dir", state], &[]);
        assert_eq!(out.code, 1, "{command}: {}", out.stderr);
        assert_contains(&out.stderr, first);
        assert_contains(&out.stderr, "cannot run");
    }
}

#[test]
fn a_pipeline_file_that_cannot_be_read_exits_1_everywhere() {
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    for args in [
        &["validate", "no/such.yaml"][..],
        &["run", "no/such.yaml", "--once", "--state-dir", state],
        &["show", "no/such.yaml", "--state-dir", state],
        &["init", "no/such.yaml", "--state-dir", state],
        &["deploy-template", "no/such.yaml"],
    ] {
        let out = stockrun(args, &[]);
        assert_eq!(out.code, 1, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(
            format!("{}{}", out.stdout, out.stderr).contains("no/such.yaml"),
            "{args:?}: {}{}",
            out.stdout,
            out.stderr
        );
    }
    // The cause is said once, not once per error in the chain.
    let run = stockrun(&["run", "no/such.yaml", "--state-dir", state], &[]);
    assert_eq!(
        run.stderr.matches("os error 2").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn aws_out_of_reach_exits_3() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
    };
    let mut vars = crate::moto::aws_env(&closed);
    vars.push(("AWS_MAX_ATTEMPTS", "1".to_owned()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = stockrun(
        &["show", "tests/fixtures/base.yaml", "--backend", "aws"],
        &vars,
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_contains(&out.stderr, "stockrun: error: ");
}

/// Runs `stockrun ARGS` with its stdout a pipe whose reader has already gone, so its first
/// write fails with `EPIPE` (Rust ignores SIGPIPE).
fn with_stdout_closed(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_stockrun"))
        .args(args)
        .current_dir(root())
        .env_clear()
        .stdout(writer)
        .output()
        .expect("the stockrun binary runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_closed_stdout_ends_validate_schema_and_deploy_template_quietly_with_0() {
    for args in [
        &["validate", "tests/fixtures/base.yaml"][..],
        &["validate", "--format", "json", "tests/fixtures/base.yaml"],
        &["schema"],
        &["deploy-template", "pipelines/stocks.yaml"],
    ] {
        let out = with_stdout_closed(args);
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("error"), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn validate_piped_into_head_exits_0_quietly() {
    // Far more than a pipe holds, so the writes after `head` leaves fail with EPIPE.
    let mut args = vec!["validate"];
    args.extend(std::iter::repeat_n(
        "tests/fixtures/invalid/limits.yaml",
        400,
    ));
    let (code, first, stderr) = first_line_then_close(&args);
    assert!(
        first.starts_with("tests/fixtures/invalid/limits.yaml:"),
        "{first}"
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "");
}

/// Runs `stockrun ARGS | head -1`: reads one line of its stdout, closes the pipe, and returns
/// the exit code, the line and stderr.
pub(crate) fn first_line_then_close(args: &[&str]) -> (i32, String, String) {
    first_line_of(
        Command::new(env!("CARGO_BIN_EXE_stockrun"))
            .args(args)
            .current_dir(root())
            .env_clear(),
    )
}

/// `command | head -1`: see [`first_line_then_close`].
pub(crate) fn first_line_of(command: &mut Command) -> (i32, String, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the stockrun binary runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    // The reader is dropped here: the pipe is closed while stockrun still writes.
    let output = child.wait_with_output().expect("stockrun exits");
    (
        output.status.code().unwrap_or(-1),
        first,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
