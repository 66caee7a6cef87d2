//! `stockrun deploy-template`: the template of every shipped pipeline (insta snapshots, linted
//! by cfn-lint in scripts/test), the options, and the pipelines it refuses, with their messages.

use crate::support::{assert_contains, stockrun, yaml_files};

fn template(args: &[&str]) -> String {
    let mut all = vec!["deploy-template"];
    all.extend_from_slice(args);
    let out = stockrun(&all, &[]);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    out.stdout
}

#[test]
fn every_pipeline_and_example_has_a_template() {
    let files = [yaml_files("pipelines"), yaml_files("examples")].concat();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let out = stockrun(&["deploy-template", &file], &[]);
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
        // Only the warning that a `file:` source must be packaged with the function.
        for line in out.stderr.lines() {
            assert!(
                line.starts_with("stockrun: warning: the source reads the file"),
                "{file}: {}",
                out.stderr
            );
        }
        let name = file.trim_end_matches(".yaml").replace('/', "-");
        insta::assert_snapshot!(format!("deploy-template-{name}"), out.stdout);
    }
}

#[test]
fn variables_become_parameters_and_secrets_are_no_echo() {
    let out = template(&["tests/fixtures/deploy/variables.yaml"]);
    insta::assert_snapshot!("deploy-template-variables", out);
}

/// Alert rules add the alert table (kept like the records table) and a role statement allowing
/// only the ledger's calls on it, and the history reads on the records table.
#[test]
fn alert_rules_add_the_alert_table_and_only_its_calls() {
    let out = template(&["tests/fixtures/deploy/alert-rules.yaml"]);
    insta::assert_snapshot!("deploy-template-alert-rules", out);
}

#[test]
fn values_of_the_environment_never_reach_the_template() {
    let file = "pipelines/stocks.yaml";
    let clean = template(&[file]);
    let out = stockrun(
        &["deploy-template", file],
        &[("RAPIDAPI_KEY", "do-not-print-this-key-1234")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, clean);
    assert!(!out.stderr.contains("do-not-print"), "{}", out.stderr);
}

#[test]
fn yaml_and_json_hold_the_same_template() {
    let file = "pipelines/stocks.yaml";
    let yaml: serde_json::Value = serde_saphyr::from_str(&template(&[file])).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&template(&[file, "--format", "json"])).unwrap();
    assert_eq!(yaml, json);
}

#[test]
fn options_size_and_name_the_function() {
    let out = template(&[
        "pipelines/stocks.yaml",
        "--function-timeout",
        "2m",
        "--memory-size",
        "512",
        "--pipeline-path",
        "conf/stocks.yaml",
        "--function-name",
        "quotes",
        "--log-retention-days",
        "7",
    ]);
    for expected in [
        "      Timeout: 120\n",
        // 6 × 120 s + the 60 s batch window.
        "      VisibilityTimeout: 780\n",
        "      MemorySize: 512\n",
        "          PIPELINE: conf/stocks.yaml\n",
        "      FunctionName: quotes\n",
        "      LogGroupName: /aws/lambda/quotes\n",
        "      RetentionInDays: 7\n",
    ] {
        assert_contains(&out, expected);
    }
}

#[test]
fn secrets_can_come_from_secrets_manager_instead_of_parameters() {
    let out = template(&[
        "pipelines/stocks.yaml",
        "--secrets-manager",
        "stockrun/stocks",
    ]);
    assert_contains(
        &out,
        "          RAPIDAPI_KEY: \"{{resolve:secretsmanager:stockrun/stocks:SecretString:RAPIDAPI_KEY}}\"\n",
    );
    assert!(!out.contains("RapidapiKey"), "{out}");
    assert!(!out.contains("NoEcho"), "{out}");
}

#[test]
fn a_sub_minute_schedule_is_refused_with_what_to_write_instead() {
    let out = stockrun(
        &["deploy-template", "tests/fixtures/deploy/sub-minute.yaml"],
        &[],
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "tests/fixtures/deploy/sub-minute.yaml:7:13: error: the schedule `*/10 * * * * *` fires more than once a minute (seconds field `*/10`); EventBridge schedules fire at most once a minute (at `source.schedule`)
  |
7 |   schedule: \"*/10 * * * * *\"
  |             ^
  = help: write one second, such as `0 * * * * *` (once a minute at most), or poll from a host with `stockrun poll` instead of the Lambda schedule
"
    );
}

#[test]
fn a_schedule_restricting_both_day_fields_is_refused() {
    let out = stockrun(
        &["deploy-template", "tests/fixtures/deploy/both-days.yaml"],
        &[],
    );
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "tests/fixtures/deploy/both-days.yaml:7:13: error: the schedule `0 0 9 1 * Mon` restricts both the day of the month (`1`) and the day of the week (`Mon`); EventBridge cron allows only one of them (the other must be `?`) (at `source.schedule`)
  |
7 |   schedule: \"0 0 9 1 * Mon\"
  |             ^
  = help: keep one of them: write `*` as the day of the month or as the day of the week
"
    );
}

#[test]
fn pipelines_the_template_cannot_own_are_refused() {
    for (file, message) in [
        (
            "queue-url",
            "10:8: error: `queue.url` names an existing queue; the template creates the queue itself",
        ),
        (
            "variable-table",
            "14:10: error: `store.table` takes its value from `${TABLE}`, but the template fixes it when it is generated",
        ),
    ] {
        let path = format!("tests/fixtures/deploy/{file}.yaml");
        let out = stockrun(&["deploy-template", &path], &[]);
        assert_eq!(out.code, 1, "{file}");
        assert_eq!(out.stdout, "", "{file}");
        assert_contains(&out.stderr, &format!("{path}:{message}"));
    }
}

#[test]
fn an_invalid_pipeline_gets_the_diagnostics_of_validate() {
    let file = "tests/fixtures/invalid/bad-cron.yaml";
    let out = stockrun(&["deploy-template", file], &[]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    let validate = stockrun(&["validate", file], &[]);
    let first = validate.stdout.lines().next().unwrap();
    assert_contains(&out.stderr, first);
}

#[test]
fn bad_options_are_refused() {
    let file = "pipelines/stocks.yaml";
    for (args, code, message) in [
        (&["--memory-size", "64"][..], 2, "64 is not in 128..=10240"),
        (&["--log-retention-days", "8"], 2, "one of 1, 3, 5, 7, 14"),
        (
            &["--function-timeout", "1500ms"],
            2,
            "--function-timeout 1s 500ms: Lambda takes whole seconds from 1s to 15m",
        ),
        (
            &["--function-timeout", "16m"],
            2,
            "--function-timeout 16m: Lambda takes whole seconds from 1s to 15m",
        ),
        (
            &["--secrets-manager", "two words"],
            2,
            "--secrets-manager `two words` is not a Secrets Manager secret name or ARN",
        ),
        (
            &["--function-name", "no spaces"],
            2,
            "function name `no spaces` is not valid for Lambda",
        ),
    ] {
        let mut all = vec!["deploy-template", file];
        all.extend_from_slice(args);
        let out = stockrun(&all, &[]);
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{args:?}");
        assert_contains(&out.stderr, message);
    }
}

#[test]
fn help_lists_the_options_and_examples() {
    let out = stockrun(&["deploy-template", "--help"], &[]);
    assert_eq!(out.code, 0);
    for option in [
        "--function-timeout",
        "--memory-size",
        "--pipeline-path",
        "--function-name",
        "--log-retention-days",
        "--secrets-manager",
        "--format",
        "Examples:",
    ] {
        assert_contains(&out.stdout, option);
    }
}
