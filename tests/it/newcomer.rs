//! What a new user ran into (issue 12, item 7), each pinned through the binary: `help --help`,
//! one prefix per error line, an empty required variable, the `--smtp` help saying what is
//! printed, `deploy-template` on a `file:` source.

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
