//! Checks of the `chart` section and `notify.chart`: the fields named exist and have the type
//! a chart needs (number for the line and band, timestamp for the time), with "did you mean",
//! the band has two fields, the mail chart's size is in range, and a mail chart knows which
//! field is the line.

use indexmap::IndexMap;

use super::Ctx;
use crate::config::Located;
use crate::config::model::{
    Chart, ChartFields, ChartOverrides, Field, FieldType, MAIL_HEIGHT, MAIL_WIDTH, MailChart, Store,
};
use crate::diag::{Diagnostic, did_you_mean};

/// Checks `chart` (when given) against the pipeline's `fields`.
pub(super) fn check_section(
    ctx: &mut Ctx<'_>,
    chart: &Chart,
    fields: &IndexMap<String, Located<Field>>,
    inserted_at: Option<&str>,
) {
    let numbers = [FieldType::Number, FieldType::Integer];
    if let Some(value) = &chart.value {
        check_name(ctx, value, "chart.value", fields, &numbers, None);
    }
    if let Some(band) = &chart.band {
        if band.len() == 2 {
            for (i, name) in band.iter().enumerate() {
                check_name(
                    ctx,
                    name,
                    &format!("chart.band[{i}]"),
                    fields,
                    &numbers,
                    None,
                );
            }
        } else {
            ctx.push(
                Diagnostic::error(
                    band.position,
                    format!("`chart.band` has {} field(s), not 2", band.len()),
                )
                .at("chart.band")
                .help("name the low field, then the high one, such as `[low, high]`"),
            );
        }
    }
    if let Some(time) = &chart.time {
        check_name(
            ctx,
            time,
            "chart.time",
            fields,
            &[FieldType::Timestamp],
            inserted_at,
        );
    }
}

/// One field name of the chart section: declared, and of one of `kinds` (or the insert-time
/// attribute `also`, for the time).
fn check_name(
    ctx: &mut Ctx<'_>,
    name: &Located<String>,
    path: &str,
    fields: &IndexMap<String, Located<Field>>,
    kinds: &[FieldType],
    also: Option<&str>,
) {
    if also == Some(name.as_str()) {
        return;
    }
    let kind = if kinds.contains(&FieldType::Timestamp) {
        "timestamp"
    } else {
        "number"
    };
    let fitting: Vec<&str> = fields
        .iter()
        .filter(|(_, field)| kinds.contains(&field.kind.value))
        .map(|(name, _)| name.as_str())
        .chain(also)
        .collect();
    match fields.get(name.as_str()) {
        Some(field) if kinds.contains(&field.kind.value) => {}
        Some(field) => ctx.push(
            Diagnostic::error(
                name.position,
                format!(
                    "field `{}` is a {} field; a chart draws a {kind} here",
                    name.as_str(),
                    field.kind.value.name()
                ),
            )
            .at(path)
            .help(choices(kind, &fitting)),
        ),
        None => {
            let all: Vec<&str> = fields.keys().map(String::as_str).collect();
            let help = match did_you_mean(name, &all) {
                Some(best) => format!("did you mean `{best}`?"),
                None => choices(kind, &fitting),
            };
            ctx.push(
                Diagnostic::error(
                    name.position,
                    format!("`{}` is not a field of the pipeline", name.as_str()),
                )
                .at(path)
                .help(help),
            );
        }
    }
}

fn choices(kind: &str, fitting: &[&str]) -> String {
    if fitting.is_empty() {
        format!("the pipeline has no {kind} field")
    } else {
        format!("the {kind} fields are {}", fitting.join(", "))
    }
}

/// Checks `notify.chart`: the size in range, and which field is the line decided (by the
/// `chart` section or the pipeline having one number field).
pub(super) fn check_mail(
    ctx: &mut Ctx<'_>,
    mail: &Located<MailChart>,
    chart: Option<&Chart>,
    fields: Option<&IndexMap<String, Located<Field>>>,
    store: Option<&Store>,
) {
    let options = &mail.value;
    for (value, range, path) in [
        (&options.width, MAIL_WIDTH, "notify.chart.width"),
        (&options.height, MAIL_HEIGHT, "notify.chart.height"),
    ] {
        if !range.contains(&value.value) {
            ctx.push(
                Diagnostic::error(
                    value.position,
                    format!(
                        "{} pixels is outside {}..={}",
                        value.value,
                        range.start(),
                        range.end()
                    ),
                )
                .at(path)
                .help(format!("give {} to {} pixels", range.start(), range.end())),
            );
        }
    }
    if options.since.0.is_zero() {
        ctx.push(
            Diagnostic::error(
                options.since.position,
                "`since` is 0: the chart would be empty",
            )
            .at("notify.chart.since")
            .help("give a period such as `1d` or `7d`"),
        );
    }
    let (Some(fields), Some(store)) = (fields, store) else {
        return;
    };
    if chart.is_none_or(|c| c.value.is_none())
        && let Err(problem) = ChartFields::resolve(chart, &ChartOverrides::default(), fields, store)
    {
        ctx.push(
            Diagnostic::error(mail.position, problem)
                .at("notify.chart")
                .help("name the line's field in a `chart` section, such as `chart: {value: price, band: [low, high]}`"),
        );
    }
}
