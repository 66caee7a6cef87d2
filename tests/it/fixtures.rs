//! `stockrun validate` on broken pipelines: each check has a fixture, exits 1 (or 0 for
//! warnings), and reports the right line:column. Full output is pinned by insta snapshots.

use crate::support::{assert_contains, stockrun, yaml_files};

/// Every fixture under `tests/fixtures/invalid`: where the first error is and what it says.
const INVALID: &[(&str, &str, &str)] = &[
    ("block-template", "23:21", "`prices` is not defined here"),
    ("out-of-range", "23:15", "`99999999999999` is out of range"),
    ("parse-only-format", "13:47", "uses a parse-only directive"),
    (
        "variable-in-flow-map",
        "4:26",
        "did not find expected ',' or '}'",
    ),
    ("bad-cron", "7:18", "Hours must be less than 23"),
    ("bad-duration", "23:17", "invalid duration `soon`"),
    ("bad-email", "18:9", "invalid e-mail address `bot@`"),
    (
        "bad-field-name",
        "12:16",
        "field name `05. price` cannot be used in templates",
    ),
    ("bad-format", "13:50", "invalid timestamp format `%H:%M %Q`"),
    ("bad-jsonpath", "6:14", "invalid JSONPath `$[*`"),
    ("bad-key", "16:40", "`symbl` is not defined here"),
    (
        "unknown-feed-key",
        "20:41",
        "`feed.exchange` is not defined here",
    ),
    (
        "bad-names",
        "1:7",
        "pipeline name `base pipeline` is not usable",
    ),
    ("bad-template", "20:20", "invalid template"),
    ("bad-timezone", "13:78", "unknown time zone `Asia/Kolkatta`"),
    ("bad-url-variable", "3:46", "`ticker` is not defined here"),
    ("duplicate-key", "7:3", "duplicate mapping key `records`"),
    ("empty", "1:1", "the file is empty"),
    ("empty-lists", "7:12", "`timeout` is 0"),
    ("five-field-cron", "7:13", "has 5 fields"),
    (
        "inserted-at-collides",
        "13:18",
        "the insert-time attribute `inserted_at` is also the name of a field",
    ),
    ("limits", "23:15", "`batch_size` is 11; it must be 1 to 10"),
    ("many-problems", "7:3", "unknown key `shedule`"),
    ("missing-key", "13:1", "missing required key `store`"),
    ("not-a-mapping", "1:1", "expected mapping"),
    ("not-utf8", "3:22", "not UTF-8"),
    ("unknown-helper", "20:13", "unknown helper `upper`"),
    ("unknown-key", "7:3", "unknown key `shedule`"),
    ("unknown-top-level-key", "22:1", "unknown key `notfy`"),
    ("unknown-type", "12:35", "unknown value `nubmer`"),
    ("unknown-variable", "20:13", "`symbol` is not defined here"),
    ("wrong-type", "23:15", "`ten` is not a whole number"),
    ("yaml-syntax", "16:40", "invalid trailing content"),
];

/// Every fixture under `tests/fixtures/warnings`: valid, with this warning.
const WARNINGS: &[(&str, &str, &str)] = &[
    (
        "literal-key-beside-variable",
        "4:25",
        "header `X-Api-Key` holds a literal secret",
    ),
    (
        "feeds-unused",
        "8:5",
        "feeds are listed but the source uses none of their keys",
    ),
    (
        "literal-key",
        "5:16",
        "header `X-Api-Key` holds a literal secret",
    ),
    (
        "literal-key-in-url",
        "3:8",
        "query parameter `apikey` holds a literal secret",
    ),
    ("numeric-weekday", "7:24", "day-of-week `1-5` is numeric"),
    (
        "optional-key-field",
        "17:33",
        "the sort key uses `price`, which is not required",
    ),
    (
        "over-quota",
        "7:10",
        "this schedule makes 86 400 requests/month (2 feeds); your quota is 500",
    ),
    (
        "quoted-variable",
        "5:17",
        "is not substituted inside quotes",
    ),
    (
        "unset-env",
        "5:16",
        "environment variable `API_KEY` is not set",
    ),
];

fn check_table(dir: &str, table: &[(&str, &str, &str)], severity: &str, expected_code: i32) {
    let files = yaml_files(dir);
    let mut listed: Vec<String> = table
        .iter()
        .map(|(name, ..)| format!("{dir}/{name}.yaml"))
        .collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every fixture in {dir} is listed in the table, and only those"
    );
    for (name, location, message) in table {
        let file = format!("{dir}/{name}.yaml");
        let out = stockrun(&["validate", &file], &[]);
        assert_eq!(
            out.code, expected_code,
            "exit status of {file}:\n{}",
            out.stdout
        );
        let expected = format!("{file}:{location}: {severity}: ");
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&expected))
            .unwrap_or_else(|| panic!("{file}: no `{expected}` line in:\n{}", out.stdout));
        assert!(
            line.contains(message),
            "{file}: `{line}` does not say `{message}`"
        );
        insta::assert_snapshot!(format!("{severity}-{name}"), out.stdout);
    }
}

#[test]
fn each_invalid_fixture_exits_1_at_the_right_place() {
    check_table("tests/fixtures/invalid", INVALID, "error", 1);
}

#[test]
fn each_warning_fixture_exits_0_with_its_warning() {
    check_table("tests/fixtures/warnings", WARNINGS, "warning", 0);
}

#[test]
fn valid_fixtures_have_no_errors_and_no_warnings() {
    // base.yaml, and templates.yaml: `../` under `if`, block params, `@root`, subexpressions.
    let mut files = vec!["tests/fixtures/base.yaml".to_owned()];
    files.extend(yaml_files("tests/fixtures/valid"));
    for file in files {
        let out = stockrun(&["validate", &file], &[]);
        assert_eq!(out.code, 0, "{}", out.stdout);
        assert_eq!(
            out.stdout, "ok: checked 1 file: 0 errors, 0 warnings\n",
            "{file}"
        );
    }
}

#[test]
fn problems_in_several_sections_are_all_reported() {
    let out = stockrun(
        &["validate", "tests/fixtures/invalid/many-problems.yaml"],
        &[],
    );
    for expected in [
        ":7:3: error: unknown key `shedule`",
        ":13:35: error: unknown value `float`",
        ":20:8: error: invalid e-mail address `me@`",
    ] {
        assert!(
            out.stdout.contains(expected),
            "missing `{expected}` in:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout
            .ends_with("invalid: checked 1 file: 3 errors, 0 warnings\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn every_file_is_checked_and_the_summary_counts_them_all() {
    let out = stockrun(
        &[
            "validate",
            "tests/fixtures/base.yaml",
            "tests/fixtures/invalid/limits.yaml",
            "tests/fixtures/invalid/bad-cron.yaml",
        ],
        &[],
    );
    assert_eq!(out.code, 1);
    assert_contains(&out.stdout, "limits.yaml:25:22: error");
    assert_contains(&out.stdout, "bad-cron.yaml:7:18: error");
    assert!(
        out.stdout
            .ends_with("invalid: checked 3 files: 4 errors, 0 warnings\n"),
        "{}",
        out.stdout
    );
}
