//! The command line itself: help, version, exit statuses, JSON output.

use crate::support::stockrun;

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
