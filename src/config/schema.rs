//! The JSON Schema of the pipeline format, generated from the model so it cannot drift from it.

use schemars::generate::SchemaSettings;

use super::Pipeline;

/// The JSON Schema (draft-07, which editors' YAML plugins support best) as pretty JSON with a
/// trailing newline: exactly what `schemas/pipeline.schema.json` holds.
pub fn pipeline_schema_json() -> String {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Pipeline>();
    let mut json = serde_json::to_string_pretty(&schema).unwrap_or_default();
    json.push('\n');
    json
}
