//! `stockrun schema`: print the JSON Schema of the pipeline format.

use std::io::Write;

use crate::config::schema::pipeline_schema_json;

/// Writes the schema to `out`.
pub fn run(out: &mut impl Write) -> std::io::Result<()> {
    out.write_all(pipeline_schema_json().as_bytes())
}
