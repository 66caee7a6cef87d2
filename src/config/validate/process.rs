//! Checks of `process.fields`: names usable in templates, JSONPaths, and timestamp formats and
//! time zones.

use super::{Ctx, jsonpath};
use crate::config::Located;
use crate::config::model::{Field, FieldType, Process};
use crate::config::yaml_error::did_you_mean;
use crate::diag::Diagnostic;
use crate::process::timestamp::{FormatProblem, TimestampFormat};

/// Runs every check of the `process` section.
pub(super) fn check(ctx: &mut Ctx<'_>, process: &Process) {
    if process.fields.is_empty() {
        ctx.push(
            Diagnostic::error(
                process.fields.position,
                "`process.fields` is empty: no record would keep anything",
            )
            .at("process.fields")
            .help("add a field, such as `price: { path: $.lastPrice, type: number }`"),
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
        jsonpath::check(ctx, &field.path, &format!("{path}.path"));
        check_timestamp_options(ctx, field, &path);
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

fn check_timestamp_options(ctx: &mut Ctx<'_>, field: &Located<Field>, path: &str) {
    let is_timestamp = *field.kind == FieldType::Timestamp;
    for (key, value) in [("format", &field.format), ("timezone", &field.timezone)] {
        if let Some(value) = value
            && !is_timestamp
        {
            ctx.push(
                Diagnostic::error(
                    value.position,
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
    if let Some(format) = &field.format {
        check_format(ctx, format, &format!("{path}.format"));
    }
    if let Some(zone) = &field.timezone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
        let help = match did_you_mean(zone, &names) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "use an IANA zone name such as `Asia/Kolkata`, `America/New_York` or `UTC`"
                .to_owned(),
        };
        ctx.push(
            Diagnostic::error(
                zone.position,
                format!("unknown time zone `{}`", zone.as_str()),
            )
            .at(format!("{path}.timezone"))
            .help(help),
        );
    }
}

/// A strftime format must be valid and must read back a date (with or without a time): the
/// processor's own classification ([`TimestampFormat::new`]), so both accept the same formats.
fn check_format(ctx: &mut Ctx<'_>, format: &Located<String>, path: &str) {
    let error = |message: String| Diagnostic::error(format.position, message).at(path);
    match TimestampFormat::new(format) {
        Ok(_) => {}
        Err(FormatProblem::Invalid) => ctx.push(
            error(format!("invalid timestamp format `{}`", format.as_str()))
                .help("use strftime directives such as `%d-%b-%Y %H:%M:%S` or `%Y-%m-%d`"),
        ),
        Err(FormatProblem::ParseOnly) => ctx.push(
            error(format!(
                "timestamp format `{}` cannot be checked: it uses a parse-only directive",
                format.as_str()
            ))
            .help("use directives that also format, such as `%z` instead of `%#z`"),
        ),
        Err(FormatProblem::NotAFullDate) => ctx.push(
            error(format!("timestamp format `{}` does not give a full date", format.as_str()))
                .help("include the year, month and day (and the time if the text has one), such as `%d-%b-%Y %H:%M:%S`"),
        ),
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
