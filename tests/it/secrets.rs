//! Secrets never reach the output: not substituted environment values, not literal keys.

use crate::support::{assert_contains, root, stockrun};

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

fn tempdir() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("stockrun-test-{}-{}", std::process::id(), line!()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
