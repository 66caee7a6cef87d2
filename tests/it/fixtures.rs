//! `stockrun validate` on broken pipelines: each check has a fixture, exits 1 (or 0 for
//! warnings), and reports the right line:column. Full output is pinned by insta snapshots.

use crate::support::{Output, assert_contains, root, stockrun, yaml_files};

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
    ("bad-rules", "21:11", "digest period `10s` is out of range"),
    ("bad-template", "20:20", "invalid template"),
    ("bad-timezone", "13:78", "unknown time zone `Asia/Kolkatta`"),
    // Issue 11: market hours and time zones.
    (
        "bad-schedule-timezone",
        "8:13",
        "unknown time zone `America/NewYork`",
    ),
    ("bad-active-day", "8:19", "`fry` is not a day of the week"),
    ("bad-active-hours", "9:38", "`25:30` is not a time of day"),
    ("bad-url-variable", "3:46", "`ticker` is not defined here"),
    ("duplicate-key", "7:3", "duplicate mapping key `records`"),
    ("empty", "1:1", "the file is empty"),
    ("empty-lists", "7:12", "`timeout` is 0"),
    (
        "fifo-queue",
        "23:9",
        "queue `quotes.fifo` is a FIFO queue: stockrun sends to standard queues only",
    ),
    ("five-field-cron", "7:13", "has 5 fields"),
    (
        "inserted-at-collides",
        "13:18",
        "the insert-time attribute `inserted_at` is also the name of a field",
    ),
    ("limits", "23:15", "`batch_size` is 11; it must be 1 to 10"),
    ("many-problems", "7:3", "unknown key `shedule`"),
    ("missing-key", "13:1", "missing required key `store`"),
    ("not-a-mapping", "1:1", "expected a mapping here"),
    ("not-utf8", "3:22", "not UTF-8"),
    ("unknown-helper", "20:13", "unknown helper `upper`"),
    ("unknown-key", "7:3", "unknown key `shedule`"),
    ("unknown-top-level-key", "22:1", "unknown key `notfy`"),
    ("unknown-type", "12:35", "unknown value `nubmer`"),
    ("unknown-variable", "20:13", "`symbol` is not defined here"),
    ("wrong-type", "23:15", "`ten` is not a whole number"),
    ("yaml-syntax", "16:40", "invalid trailing content"),
    // Issue 6: every kind of key wrong (type, missing, misspelt, out of range) in more places.
    (
        "bad-errors-jsonpath",
        "7:31",
        "invalid JSONPath `$.error[?(@.code >`",
    ),
    ("bad-quota-period", "7:32", "unknown value `fortnight`"),
    (
        "bad-ratelimit-header",
        "9:12",
        "`X-RateLimit Reset` is not a valid HTTP header name",
    ),
    ("bad-url", "3:8", "invalid URL: relative URL without a base"),
    (
        "duplicate-field",
        "13:5",
        "duplicate mapping key `symbol` is not allowed here",
    ),
    ("feeds-not-a-list", "8:3", "expected a list here"),
    ("headers-not-a-map", "5:5", "expected a mapping here"),
    ("missing-url", "5:3", "missing required key `url`"),
    ("misspelt-field-key", "12:14", "unknown key `pth`"),
    ("negative-batch-size", "23:15", "`-1` is out of range"),
    (
        "required-not-bool",
        "11:41",
        "invalid boolean (true or false expected)",
    ),
    (
        "short-table-name",
        "14:10",
        "`q` is not a valid DynamoDB table name",
    ),
    ("tab-indentation", "5:16", "found a tab"),
    ("timeout-without-unit", "7:12", "invalid duration `10`"),
    ("to-not-a-list", "19:7", "expected a list here"),
    ("unclosed-subject-block", "20:42", "invalid template"),
    (
        "zero-max-receive-count",
        "23:22",
        "`max_receive_count` is 0; it must be 1 to 1000",
    ),
    (
        "zero-notify-timeout",
        "22:12",
        "`timeout` is 0: every e-mail would time out",
    ),
    // Issue 15: fields from the response root and the member name, and the source's reach.
    (
        "bad-root-jsonpath",
        "9:23",
        "invalid JSONPath `$['Meta Data'['2. Symbol']`",
    ),
    (
        "field-two-origins",
        "10:40",
        "field `date` has both `path` and `member_name`",
    ),
    ("bad-next", "5:9", "`next.cursor` needs `param`"),
    (
        "bad-chart",
        "20:10",
        "`prise` is not a field of the pipeline (at `chart.value`)",
    ),
    (
        "bad-notify-chart",
        "23:10",
        "which number field is the line? the pipeline has price, volume",
    ),
    ("bad-body", "5:44", "`limt` is not defined here"),
    (
        "bad-concurrency",
        "7:16",
        "`concurrency` is 0: it must be from 1 to 64",
    ),
    (
        "body-without-post",
        "5:5",
        "`body` is sent only with `method: POST`, not `GET`",
    ),
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
    (
        "member-name-of-whole-body",
        "9:25",
        "`member_name` is never set",
    ),
    ("numeric-weekday", "7:24", "day-of-week `1-5` is numeric"),
    (
        "rule-warnings",
        "23:14",
        "the condition is always true: the rule fires on every record",
    ),
    (
        "never-active",
        "9:5",
        "fires inside none of the active windows in a week",
    ),
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
        "paced-poll-overruns",
        "8:10",
        "at 2 requests/second a poll of 12 feeds takes 5 s or more; the schedule fires every 5 s",
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

/// Runs `stockrun validate FILE` with a generous deadline (only so a hang fails instead of
/// stalling CI; nothing is timed): it must exit 1, print a located error, and not panic.
fn validate_generated(name: &str, text: &[u8]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&file, text).expect("write");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_stockrun"))
        .args(["validate", file.to_str().unwrap()])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the stockrun binary runs");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let output = match rx.recv_timeout(std::time::Duration::from_secs(300)) {
        Ok(output) => output.expect("wait for stockrun"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            panic!("{name}: `stockrun validate` did not finish within 5 minutes");
        }
    };
    let out = Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let shown = |s: &str| s.chars().take(2000).collect::<String>();
    assert!(
        !out.stderr.contains("panicked at") && !out.stdout.contains("panicked at"),
        "{name}: panic:\n{}",
        shown(&out.stderr)
    );
    assert_eq!(
        out.code,
        1,
        "{name}:\n{}\n{}",
        shown(&out.stdout),
        shown(&out.stderr)
    );
    let prefix = format!("{}:", file.display());
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with(&prefix) && l.contains(": error: ")),
        "{name}: no located error in:\n{}",
        shown(&out.stdout)
    );
    // A diagnostic quotes the file, never copies it: the report stays readable.
    assert!(
        out.stdout.len() < 64 * 1024,
        "{name}: {} bytes of output",
        out.stdout.len()
    );
    out
}

/// The valid base pipeline, as a start for generated files.
fn base() -> String {
    std::fs::read_to_string(root().join("tests/fixtures/base.yaml")).expect("base fixture")
}

#[test]
fn a_10_mb_pipeline_reports_its_error_at_the_right_line() {
    // 10 MB of comments, then a misspelt key at the end.
    let mut text = base();
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(&format!("# {}\n", "padding ".repeat(12)));
    }
    let line = text.lines().count() + 1;
    text.push_str("shedule: 0 * * * * *\n");
    let out = validate_generated("big", text.as_bytes());
    assert_contains(
        &out.stdout,
        &format!(":{line}:1: error: unknown key `shedule`"),
    );
}

#[test]
fn a_10_mb_list_of_feeds_is_refused_as_too_large() {
    let mut text = base().replace("feeds:\n  - symbol: AAPL\n", "");
    text.push_str("feeds:\n");
    let mut feeds = 0;
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(&format!("  - {{ symbol: SYM{feeds:07} }}\n"));
        feeds += 1;
    }
    let out = validate_generated("big-feeds", text.as_bytes());
    assert_contains(&out.stdout, "error: the file is too large or too complex");
}

#[test]
fn a_10_mb_value_is_quoted_not_copied_into_the_error() {
    let text = base().replace(
        "name: base",
        &format!("name: \"big {}\"", "x".repeat(10 * 1024 * 1024)),
    );
    let out = validate_generated("big-value", text.as_bytes());
    assert_contains(&out.stdout, ":1:7: error: pipeline name");
}

#[test]
fn deeply_nested_yaml_is_an_error_not_a_stack_overflow() {
    for (name, open, close) in [("deep-flow", "[", "]"), ("deep-map", "{a: ", "}")] {
        let text = format!(
            "{}feeds: {}{}\n",
            base().replace("feeds:\n  - symbol: AAPL\n", ""),
            open.repeat(100_000),
            close.repeat(100_000)
        );
        validate_generated(name, text.as_bytes());
    }
    // Block style: `- - - … x`, 50 000 nested sequences on one line.
    let mut block = base().replace("feeds:\n  - symbol: AAPL\n", "");
    block.push_str(&format!("feeds:\n  {}x\n", "- ".repeat(50_000)));
    validate_generated("deep-block", block.as_bytes());
}

#[test]
fn a_yaml_alias_bomb_is_refused_not_expanded() {
    // "Billion laughs": each level repeats the one before nine times; 9^9 strings expanded.
    let mut bomb = String::from("lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for level in 1..10 {
        let previous = format!("*l{}", level - 1);
        bomb.push_str(&format!(
            "lol{level}: &l{level} [{}]\n",
            [previous.as_str(); 9].join(", ")
        ));
    }
    // As unknown top-level keys (skipped while the sections are parsed one by one)…
    validate_generated("bomb-keys", format!("{}{bomb}", base()).as_bytes());
    // …and where values are read: the feeds and a header.
    let nested = bomb.replace('\n', "\n  ");
    let pipeline = base()
        .replace("feeds:\n  - symbol: AAPL\n", "feeds: *l9\n")
        .replace("${API_KEY:-test}", "*l9");
    let text = format!("x-defs:\n  {}\n{pipeline}", nested.trim_end());
    validate_generated("bomb-values", text.as_bytes());
}
