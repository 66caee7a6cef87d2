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
fn alert_rules_add_the_ledgers_calls_on_the_alert_table() {
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

/// The alarms of `file`'s template (JSON), by logical id, and the whole template.
fn alarms_of(file: &str) -> (serde_json::Value, Vec<(String, serde_json::Value)>) {
    let json: serde_json::Value =
        serde_json::from_str(&template(&[file, "--format", "json"])).unwrap();
    let alarms = json["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(id, r)| (id.clone(), r["Properties"].clone()))
        .collect();
    (json, alarms)
}

#[test]
fn alarms_watch_the_dead_letters_errors_silence_and_quota_and_notify_an_optional_topic() {
    use serde_json::json;
    use stockrun::metrics;
    // pipelines/stocks.yaml: `source.active` (NSE hours) and `source.quota`.
    let (stocks, alarms) = alarms_of("pipelines/stocks.yaml");
    let ids: Vec<&str> = alarms.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "DeadLetterAlarm",
            "FunctionErrorsAlarm",
            "FeedSilentAlarm",
            "QuotaAlarm"
        ]
    );
    // The topic and its subscription exist only when AlarmEmail is given.
    assert_eq!(stocks["Parameters"]["AlarmEmail"]["Default"], "");
    assert_eq!(
        stocks["Conditions"]["HasAlarmEmail"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]})
    );
    for id in ["AlarmTopic", "AlarmEmailSubscription"] {
        assert_eq!(
            stocks["Resources"][id]["Condition"], "HasAlarmEmail",
            "{id}"
        );
    }
    let subscription = &stocks["Resources"]["AlarmEmailSubscription"]["Properties"];
    assert_eq!(subscription["Protocol"], "email");
    assert_eq!(subscription["Endpoint"], json!({"Ref": "AlarmEmail"}));
    for (id, alarm) in &alarms {
        assert_eq!(
            alarm["AlarmActions"],
            json!([{"Fn::If": ["HasAlarmEmail", {"Ref": "AlarmTopic"}, {"Ref": "AWS::NoValue"}]}]),
            "{id}"
        );
    }
    let by_id = |id: &str| &alarms.iter().find(|(i, _)| i == id).unwrap().1;
    let dead = by_id("DeadLetterAlarm");
    assert_eq!(dead["Namespace"], "AWS/SQS");
    assert_eq!(dead["MetricName"], "ApproximateNumberOfMessagesVisible");
    assert_eq!(
        dead["Dimensions"],
        json!([{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}])
    );
    assert_eq!(by_id("FunctionErrorsAlarm")["MetricName"], "Errors");
    // With active windows, silence outside them is expected: failed polls alarm instead.
    let silent = by_id("FeedSilentAlarm");
    assert_eq!(silent["Namespace"], metrics::NAMESPACE);
    assert_eq!(silent["MetricName"], metrics::POLLS);
    assert_eq!(
        silent["Dimensions"],
        json!([{"Name": "pipeline", "Value": "stocks"}, {"Name": "outcome", "Value": "failed"}])
    );
    assert_eq!(silent["TreatMissingData"], "notBreaching");
    assert_eq!(
        (
            silent["Period"].as_u64(),
            silent["EvaluationPeriods"].as_u64()
        ),
        (Some(60), Some(3))
    );
    let quota = by_id("QuotaAlarm");
    assert_eq!(quota["MetricName"], metrics::QUOTA_REMAINING_RATIO);
    assert_eq!(quota["Threshold"], 0.1);
    assert_eq!(quota["ComparisonOperator"], "LessThanThreshold");

    // Without active windows (every weekday at 22:30) silence itself breaches.
    let (_, alarms) = alarms_of("examples/alpha-vantage-daily.yaml");
    let silent = &alarms
        .iter()
        .find(|(id, _)| id == "FeedSilentAlarm")
        .unwrap()
        .1;
    assert_eq!(silent["TreatMissingData"], "breaching");
    assert_eq!(silent["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(
        silent["Dimensions"][1],
        json!({"Name": "outcome", "Value": "ok"})
    );
    // The weekend is the longest gap: days, enough to cover it three times (capped at a week).
    assert_eq!(
        (
            silent["Period"].as_u64(),
            silent["EvaluationPeriods"].as_u64()
        ),
        (Some(86_400), Some(7))
    );

    // Every minute, no quota: three silent minutes, and no quota alarm.
    let (_, alarms) = alarms_of("examples/demo.yaml");
    let ids: Vec<&str> = alarms.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["DeadLetterAlarm", "FunctionErrorsAlarm", "FeedSilentAlarm"]
    );
    let silent = &alarms[2].1;
    assert_eq!(
        (
            silent["Period"].as_u64(),
            silent["EvaluationPeriods"].as_u64()
        ),
        (Some(60), Some(3))
    );
    assert_eq!(silent["TreatMissingData"], "breaching");
}
