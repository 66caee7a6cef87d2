//! `stockrun echo`: the resolved pipeline, printed as a pipeline that validates and echoes back
//! the same, with no secret in it.

use std::path::Path;

use crate::support::{assert_contains, root, stockrun, yaml_files};

/// A value for every variable the shipped pipelines use, long enough to count as a secret.
const KEY: &str = "sentinel-echo-key-9d8c7b6a";

/// Every shipped pipeline and example, and the fixtures that exercise more of the format.
fn shipped() -> Vec<String> {
    let mut files = yaml_files("pipelines");
    files.extend(yaml_files("examples"));
    files.extend(yaml_files("tests/fixtures/valid"));
    files.push("tests/fixtures/base.yaml".to_owned());
    // Test files (`stockrun test`) sit beside the pipelines; they are not pipelines.
    files.retain(|file| !file.ends_with(".test.yaml"));
    files
}

/// `echo FILE --format FORMAT` with the secret set.
fn echo(file: &str, format: &str) -> crate::support::Output {
    stockrun(
        &["echo", file, "--format", format],
        &[
            ("RAPIDAPI_KEY", KEY),
            ("DEMO_RESPONSE", "latest-stock-price-demo.json"),
        ],
    )
}

#[test]
fn echo_saved_validates_and_echoes_back_the_same_for_every_shipped_pipeline() {
    for file in shipped() {
        for format in ["yaml", "json"] {
            let first = echo(&file, format);
            assert_eq!(first.code, 0, "{file} {format}: {}", first.stderr);
            assert!(
                !first.stdout.contains(KEY),
                "{file}: the secret shows:\n{}",
                first.stdout
            );
            // Beside the original, so relative `file:` sources resolve the same way; not named
            // `*.yaml`, so tests that list the pipelines there never see it.
            let dir = root().join(Path::new(&file).parent().expect("a directory"));
            let saved = tempfile::Builder::new()
                .prefix(".echo-")
                .suffix(&format!(".{format}.tmp"))
                .tempfile_in(&dir)
                .expect("temp file");
            std::fs::write(saved.path(), &first.stdout).expect("write");
            let saved_path = saved.path().display().to_string();
            let validate = stockrun(&["validate", &saved_path], &[]);
            assert_eq!(
                validate.code, 0,
                "{file} {format} echoed does not validate:\n{}\n{}",
                validate.stdout, first.stdout
            );
            let second = echo(&saved_path, format);
            assert_eq!(second.code, 0, "{}", second.stderr);
            assert_eq!(
                first.stdout, second.stdout,
                "{file} {format}: echo of the echo differs"
            );
        }
    }
}

#[test]
fn echo_fills_in_defaults_substitutes_variables_and_redacts_secrets() {
    let out = echo("pipelines/stocks.yaml", "yaml");
    assert_eq!(out.code, 0, "{}", out.stderr);
    for default in [
        "batch_size: 10",
        "max_receive_count: 3",
        "max_body: 10.0 MiB",
        "inserted_at: inserted_at",
        "limit: x-ratelimit-requests-limit",
    ] {
        assert_contains(&out.stdout, default);
    }
    assert_contains(&out.stdout, "X-RapidAPI-Key: <redacted>");
    let json = echo("pipelines/stocks.yaml", "json");
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["source"]["headers"]["X-RapidAPI-Key"], "<redacted>");
    assert_eq!(value["queue"]["batch_window"], "1m");
}

#[test]
fn a_plain_variable_is_substituted_and_a_secret_one_redacted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("p.yaml");
    let text = std::fs::read_to_string(root().join("tests/fixtures/base.yaml"))
        .expect("base fixture")
        .replacen("table: quotes", "table: ${TABLE:-quotes}", 1);
    std::fs::write(&file, text).expect("write");
    let file = file.display().to_string();
    let out = stockrun(&["echo", &file], &[("TABLE", "prices_2026")]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_contains(&out.stdout, "table: prices_2026");
    let out = stockrun(&["echo", &file], &[]);
    assert_contains(&out.stdout, "table: quotes");
    // A variable whose name says it is a credential is redacted wherever it is.
    let text = std::fs::read_to_string(&file).expect("read").replacen(
        "${TABLE:-quotes}",
        "${TABLE_TOKEN}",
        1,
    );
    std::fs::write(&file, text).expect("write");
    let out = stockrun(&["echo", &file], &[("TABLE_TOKEN", KEY)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_contains(&out.stdout, "table: <redacted>");
    assert!(!out.stdout.contains(KEY));
}

#[test]
fn an_unset_variable_is_a_warning_and_stays_as_written() {
    let out = stockrun(&["echo", "pipelines/stocks.yaml"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_contains(&out.stderr, "RAPIDAPI_KEY");
    assert!(!out.stdout.contains(KEY));
}

#[test]
fn echo_of_an_invalid_or_missing_pipeline_exits_1_and_a_usage_error_2() {
    let missing = stockrun(&["echo", "no/such.yaml"], &[]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(missing.stdout.is_empty());
    let invalid = stockrun(&["echo", "tests/fixtures/invalid/bad-body.yaml"], &[]);
    assert_eq!(invalid.code, 1, "{}", invalid.stderr);
    assert!(invalid.stdout.is_empty());
    for args in [&["echo"][..], &["echo", "p.yaml", "--format", "toml"]] {
        let out = stockrun(args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
}
