//! Config-level checks of `process.fields`: at least one field, names usable in templates,
//! `format`/`timezone` only on timestamps, and no `member_name` when the record is the whole
//! body. The JSONPaths, formats and time zones themselves are
//! the processor's to check (`crate::process::Processor::new`).

use super::Ctx;
use crate::config::Located;
use crate::config::model::{Field, FieldType, Process};
use crate::diag::Diagnostic;

/// Runs every check of the `process` section; `records` is `source.records`, when the source
/// parsed.
pub(super) fn check(ctx: &mut Ctx<'_>, process: &Process, records: Option<&Located<String>>) {
    if process.fields.is_empty() {
        ctx.push(
            Diagnostic::error(
                process.fields.position,
                "`process.fields` is empty: no record would keep anything",
            )
            .at("process.fields")
            .help("add a field, such as `price: { path: $.price, type: number }`"),
        );
    }
    for (name, field) in process.fields.iter() {
        let path = format!("process.fields.{name}");
        if !is_identifier(name) {
            ctx.push(
                Diagnostic::error(field.position, format!("field name `{name}` cannot be used in templates"))
                    .at(&path)
                    .help("use letters, digits and `_`, starting with a letter or `_` (such as `last_price`)"),
            );
        }
        check_timestamp_options(ctx, field, &path);
        check_member_name(ctx, field, records, &path);
    }
}

/// `member_name` reads the name a record has in its response: the whole body (`records: $`,
/// the default) has none, so the field would always be missing.
fn check_member_name(
    ctx: &mut Ctx<'_>,
    field: &Located<Field>,
    records: Option<&Located<String>>,
    path: &str,
) {
    let Some(member) = field.member_name.as_ref().filter(|m| m.value) else {
        return;
    };
    if records.is_some_and(|records| records.trim() == "$") {
        ctx.push(
            Diagnostic::warning(
                member.position,
                "`member_name` is never set: `source.records` is `$`, the whole body, which is no object's member",
            )
            .at(format!("{path}.member_name"))
            .help("select the records inside the map, such as `records: \"$['Time Series (Daily)'].*\"`"),
        );
    }
}

/// Whether `name` is a plain identifier, usable as `{{name}}`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `format`, `timezone` and `ambiguous` are read only for `type: timestamp`.
fn check_timestamp_options(ctx: &mut Ctx<'_>, field: &Located<Field>, path: &str) {
    if *field.kind == FieldType::Timestamp {
        return;
    }
    let positions = [
        ("format", field.format.as_ref().map(|v| v.position)),
        ("timezone", field.timezone.as_ref().map(|v| v.position)),
        ("ambiguous", field.ambiguous.as_ref().map(|v| v.position)),
    ];
    for (key, position) in positions {
        if let Some(position) = position {
            ctx.push(
                Diagnostic::error(
                    position,
                    format!(
                        "`{key}` applies only to `type: timestamp`, not `{}`",
                        field.kind.name()
                    ),
                )
                .at(format!("{path}.{key}"))
                .help("remove it, or set `type: timestamp`"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_identifier;

    #[test]
    fn identifiers() {
        assert!(is_identifier("quoted_at"));
        assert!(is_identifier("_x1"));
        assert!(!is_identifier("05. price"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier(""));
    }
}
