//! Handlebars templates in the pipeline file (the source URL and headers, the store key, the
//! e-mail): the helpers they may call and how one is compiled. This is the one place their
//! syntax is checked: the source, the processor and the notifier compile through [`compile`],
//! and `validate` reports what it returns. Which names a template may use depends on where it
//! is, and is checked in `validate` (`templates.rs`).

use handlebars::template::Template;

use crate::config::Located;
use crate::diag::Diagnostic;

/// The helpers a template may call: handlebars-rust's built-ins.
pub const HELPERS: [&str; 17] = [
    "if", "unless", "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte",
    "and", "or", "not", "len",
];

/// Compiles the template `value`; the error points at the character Handlebars stopped at and
/// names `path`, the setting it came from (such as `notify.subject`).
pub fn compile(value: &Located<String>, path: &str) -> Result<Template, Diagnostic> {
    Template::compile(value).map_err(|err| {
        let (line, column) = err.pos().unwrap_or((1, 1));
        Diagnostic::error(
            value.position,
            format!("invalid template: {}", err.reason()),
        )
        .within(value, line.saturating_sub(1), column.saturating_sub(1))
        .at(path)
        .help("templates are Handlebars: `{{field}}`, `{{#each records}}…{{/each}}`")
    })
}
