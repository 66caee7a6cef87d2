//! The JSON Schema is generated from the model, committed, and kept in step; the shipped
//! pipelines and examples are valid and declare it.

use crate::support::{root, stockrun, yaml_files};

#[test]
fn committed_schema_matches_the_generated_one() {
    let generated = stockrun(&["schema"], &[]);
    assert_eq!(generated.code, 0);
    let committed = std::fs::read_to_string(root().join("schemas/pipeline.schema.json"))
        .expect("schemas/pipeline.schema.json exists");
    assert!(
        committed == generated.stdout,
        "schemas/pipeline.schema.json is stale: run `cargo run -- schema > schemas/pipeline.schema.json` and commit it"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).expect("the schema is JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown top-level keys are rejected"
    );
}

fn shipped_pipelines() -> Vec<String> {
    let mut files = yaml_files("pipelines");
    files.extend(yaml_files("examples"));
    assert!(files.iter().any(|f| f == "pipelines/stocks.yaml"));
    files
}

#[test]
fn shipped_pipelines_declare_the_schema() {
    for file in shipped_pipelines() {
        let text = std::fs::read_to_string(root().join(&file)).expect("readable");
        let first = text.lines().next().unwrap_or("");
        assert_eq!(
            first, "# yaml-language-server: $schema=../schemas/pipeline.schema.json",
            "{file}"
        );
    }
}

#[test]
fn shipped_pipelines_validate_clean_without_secrets() {
    let files = shipped_pipelines();
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = stockrun(&args, &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    // The only warnings allowed are the API keys, which CI does not have.
    for line in out.stdout.lines().filter(|l| l.contains(": warning: ")) {
        assert!(
            line.contains("environment variable `RAPIDAPI_KEY` is not set"),
            "unexpected warning: {line}"
        );
    }
    let with_key = stockrun(&args, &[("RAPIDAPI_KEY", "k")]);
    assert!(
        with_key.stdout.ends_with(": 0 errors, 0 warnings\n"),
        "{}",
        with_key.stdout
    );
}
