//! `stockrun test` through the binary: the shipped pipelines' cases pass; a broken expectation
//! fails with exit 1 and a diff; `--update` writes the e-mail snapshots that later runs compare
//! with; `--format json` reports the same for CI; a test file that cannot be used fails.

use std::path::Path;

use crate::support::{assert_contains, root, stockrun};

/// A copy of the demo pipeline in `dir`, with `cases` as its test file.
fn workspace(dir: &Path, cases: &str) -> String {
    let demo = std::fs::read_to_string(root().join("examples/demo.yaml")).expect("demo.yaml");
    std::fs::write(dir.join("demo.yaml"), demo).expect("write the pipeline");
    std::fs::create_dir_all(dir.join("responses")).expect("responses dir");
    for name in [
        "latest-stock-price-demo.json",
        "latest-stock-price-demo-2.json",
    ] {
        std::fs::copy(
            root().join("examples/responses").join(name),
            dir.join("responses").join(name),
        )
        .expect("copy a response");
    }
    let test = dir.join("demo.test.yaml");
    std::fs::write(&test, cases).expect("write the test file");
    test.display().to_string()
}

/// INFY jumps 3 % between two polls: one alert, one e-mail.
const JUMP: &str = r#"
cases:
  - name: INFY jumps
    responses:
      - { at: 2024-03-18T10:30:00Z, file: responses/latest-stock-price-demo.json }
      - { at: 2024-03-19T03:46:05Z, file: responses/latest-stock-price-demo-2.json }
    expect:
      alerts:
        - { rule: big_move, kind: fired, series: INFY, sort: "2024-03-19T03:46:00.000Z", at: "2024-03-19T03:46:00.000Z" }
      stored:
        where: { symbol: INFY }
        items:
          - { symbol: INFY, quoted_at: "2024-03-18T10:29:37.000Z", price: 1617.35, high: 1622.75, low: 1596.20, inserted_at: "2024-03-18T10:30:00.000Z" }
          - { symbol: INFY, quoted_at: "2024-03-19T03:46:00.000Z", price: 1667.49, high: 1667.49, low: 1596.2, inserted_at: "2024-03-19T03:46:05.000Z" }
"#;

#[test]
fn every_shipped_pipeline_and_example_passes_its_test_cases() {
    let out = stockrun(&["test", "pipelines", "examples"], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, "test result: ok.");
    assert_contains(&out.stdout, "examples/demo.test.yaml (examples/demo.yaml)");
    assert_contains(
        &out.stdout,
        "ok    big_move fires once, re-arms and fires again",
    );
}

#[test]
fn update_writes_the_email_snapshot_that_later_runs_compare_with() {
    let dir = tempfile::tempdir().unwrap();
    let test = workspace(dir.path(), JUMP);
    let snapshot = dir.path().join("demo.snapshots/infy-jumps.txt");

    let missing = stockrun(&["test", &test], &[]);
    assert_eq!(missing.code, 1, "{}", missing.stdout);
    assert_contains(&missing.stdout, "no snapshot");
    assert_contains(&missing.stdout, "stockrun test --update");
    assert!(!snapshot.exists());

    let update = stockrun(&["test", &test, "--update"], &[]);
    assert_eq!(update.code, 0, "{}{}", update.stdout, update.stderr);
    assert_contains(&update.stdout, "snapshot written");
    let written = std::fs::read_to_string(&snapshot).expect("the snapshot is written");
    assert_contains(&written, "Subject: INFY moved to 1667.49");
    assert_contains(&written, "INFY moved from 1617.35 to 1667.49");

    let again = stockrun(&["test", &test], &[]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_contains(&again.stdout, "ok    INFY jumps");

    std::fs::write(&snapshot, written.replace("1667.49", "1700")).unwrap();
    let changed = stockrun(&["test", &test], &[]);
    assert_eq!(changed.code, 1, "{}", changed.stdout);
    assert_contains(&changed.stdout, "-Subject: INFY moved to 1700");
    assert_contains(&changed.stdout, "+Subject: INFY moved to 1667.49");
}

#[test]
fn a_broken_expectation_fails_with_exit_1_and_a_diff_of_that_case() {
    let dir = tempfile::tempdir().unwrap();
    let broken = JUMP
        .replace("kind: fired", "kind: resolved")
        .replace("price: 1667.49", "price: 1667.5");
    let test = workspace(dir.path(), &broken);
    let out = stockrun(&["test", &test, "--update"], &[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, "FAIL  INFY jumps");
    assert_contains(&out.stdout, "alerts (-expected +actual):");
    assert_contains(&out.stdout, r#"-{"rule":"big_move","kind":"resolved""#);
    assert_contains(&out.stdout, r#"+{"rule":"big_move","kind":"fired""#);
    assert_contains(&out.stdout, "stored (-expected +actual):");
    assert_contains(
        &out.stdout,
        r#"-{"symbol":"INFY","quoted_at":"2024-03-19T03:46:00.000Z","price":1667.5,"#,
    );
    assert_contains(
        &out.stdout,
        r#"+{"symbol":"INFY","quoted_at":"2024-03-19T03:46:00.000Z","price":1667.49,"#,
    );
    // The first item matched (1596.20 is 1596.2): it is shown unmarked.
    assert_contains(
        &out.stdout,
        r#" {"symbol":"INFY","quoted_at":"2024-03-18T10:29:37.000Z""#,
    );
    assert_contains(
        &out.stdout,
        "test result: FAILED. 0 passed, 1 failed (1 file)",
    );
}

#[test]
fn json_format_reports_each_case_and_its_mismatches() {
    let dir = tempfile::tempdir().unwrap();
    let test = workspace(dir.path(), &JUMP.replace("kind: fired", "kind: resolved"));
    let out = stockrun(&["test", &test, "--update", "--format", "json"], &[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(report["passed"], 0);
    assert_eq!(report["failed"], 1);
    let case = &report["files"][0]["cases"][0];
    assert_eq!(case["name"], "INFY jumps");
    assert_eq!(case["passed"], false);
    assert_eq!(case["snapshot_status"], "written");
    assert_eq!(case["mismatches"][0]["what"], "alerts");
    assert_contains(
        case["mismatches"][0]["diff"].as_str().unwrap(),
        "+{\"rule\":\"big_move\"",
    );

    let fixed = workspace(dir.path(), JUMP);
    let out = stockrun(&["test", &fixed, "--format", "json"], &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(0))
    );
}

#[test]
fn a_test_file_with_an_unknown_key_fails_instead_of_checking_less() {
    let dir = tempfile::tempdir().unwrap();
    let test = workspace(dir.path(), &JUMP.replace("alerts:", "alert:"));
    let out = stockrun(&["test", &test], &[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(&out.stdout, "ERROR");
    assert_contains(&out.stdout, "alert");
}

#[test]
fn a_pipeline_without_a_test_file_is_an_error() {
    let out = stockrun(&["test", "tests/fixtures/base.yaml"], &[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert_contains(
        &out.stdout,
        "tests/fixtures/base.yaml\n  ERROR neither a test file (`*.test.yaml`) nor a pipeline with one beside it",
    );
}
