//! Checks of `name`, `queue`, `store` and `notify`: names the services accept, AWS limits, key
//! templates, the recipients list and notify templates (the addresses themselves are parsed once,
//! by `notify::render::addresses`).

use indexmap::IndexMap;

use super::Ctx;
use super::templates::{self, Scope};
use crate::config::Located;
use crate::config::model::{Field, MAX_BATCH_SIZE, Notify, Queue, Store};
use crate::diag::Diagnostic;

/// The longest `queue.batch_window`: the Lambda SQS trigger's `MaximumBatchingWindowInSeconds`
/// is at most 300.
const MAX_BATCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// The pipeline name names a queue and a file: SQS's rules (letters, digits, `-`, `_`, ≤ 80).
pub(super) fn check_name(ctx: &mut Ctx<'_>, name: &Located<String>) {
    if !is_queue_name(name) {
        ctx.push(
            Diagnostic::error(
                name.position,
                format!(
                    "pipeline name `{}` is not usable as a queue name",
                    name.as_str()
                ),
            )
            .at("name")
            .help("use 1 to 80 letters, digits, `-` and `_`, such as `stocks`"),
        );
    }
}

fn is_queue_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    (1..=80).contains(&name.len())
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `queue`: a name or a URL, and the SQS / Lambda limits on batching and redelivery.
pub(super) fn check_queue(ctx: &mut Ctx<'_>, queue: &Queue) {
    if let (Some(_), Some(url)) = (&queue.name, &queue.url) {
        ctx.push(
            Diagnostic::error(url.position, "`queue.name` and `queue.url` are both set")
                .at("queue.url")
                .help("keep one: the name (its URL is looked up) or the URL"),
        );
    }
    if let Some(name) = &queue.name {
        ctx.check_not_interpolated(name, "queue.name");
        if !is_queue_name(name) && !name.contains("${") {
            ctx.push(
                Diagnostic::error(
                    name.position,
                    format!("`{}` is not a valid SQS queue name", name.as_str()),
                )
                .at("queue.name")
                .help("use 1 to 80 letters, digits, `-` and `_` (and `.fifo` for a FIFO queue)"),
            );
        }
    }
    if let Some(url) = &queue.url
        && !url.contains("${")
        && url::Url::parse(url).is_err()
    {
        ctx.push(
            Diagnostic::error(
                url.position,
                format!("invalid queue URL `{}`", url.as_str()),
            )
            .at("queue.url")
            .help("such as `https://sqs.eu-west-1.amazonaws.com/123456789012/stock-quotes`"),
        );
    }
    if !(1..=MAX_BATCH_SIZE).contains(&*queue.batch_size) {
        ctx.push(
            Diagnostic::error(
                queue.batch_size.position,
                format!(
                    "`batch_size` is {}; it must be 1 to {MAX_BATCH_SIZE}",
                    *queue.batch_size
                ),
            )
            .at("queue.batch_size")
            .help(format!(
                "SQS receives at most {MAX_BATCH_SIZE} messages at a time"
            )),
        );
    }
    if queue.batch_window.0 > MAX_BATCH_WINDOW {
        let max = MAX_BATCH_WINDOW.as_secs();
        ctx.push(
            Diagnostic::error(
                queue.batch_window.position,
                format!(
                    "`batch_window` is {}; it must be at most {max}s",
                    *queue.batch_window
                ),
            )
            .at("queue.batch_window")
            .help(format!(
                "the Lambda SQS trigger waits at most {max} seconds (MaximumBatchingWindowInSeconds)"
            )),
        );
    }
    if !(1..=1000).contains(&*queue.max_receive_count) {
        ctx.push(
            Diagnostic::error(queue.max_receive_count.position, format!("`max_receive_count` is {}; it must be 1 to 1000", *queue.max_receive_count))
                .at("queue.max_receive_count")
                .help("after this many deliveries a message moves to the dead-letter queue (SQS allows 1 to 1000)"),
        );
    }
}

/// `store`: a table name DynamoDB accepts, key templates over declared fields.
pub(super) fn check_store(
    ctx: &mut Ctx<'_>,
    store: &Store,
    fields: Option<&IndexMap<String, Located<Field>>>,
    feed_keys: Option<&[String]>,
) {
    let table = &store.table;
    ctx.check_not_interpolated(table, "store.table");
    let valid_table = (3..=255).contains(&table.len())
        && table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid_table && !table.contains("${") {
        ctx.push(
            Diagnostic::error(
                table.position,
                format!("`{}` is not a valid DynamoDB table name", table.as_str()),
            )
            .at("store.table")
            .help("use 3 to 255 letters, digits, `_`, `-` and `.`"),
        );
    }
    let mut attributes = vec![("partition", &store.key.partition)];
    if let Some(sort) = &store.key.sort {
        attributes.push(("sort", sort));
        if sort.name.as_str() == store.key.partition.name.as_str() {
            ctx.push(
                Diagnostic::error(
                    sort.name.position,
                    "the sort key has the same name as the partition key",
                )
                .at("store.key.sort.name")
                .help("give the two key attributes different names"),
            );
        }
    }
    for (role, attribute) in &attributes {
        if attribute.name.trim().is_empty() {
            ctx.push(
                Diagnostic::error(
                    attribute.name.position,
                    "a key attribute name cannot be empty",
                )
                .at(format!("store.key.{role}.name")),
            );
        }
    }
    let Some(fields) = fields else { return };
    let mut top: Vec<String> = fields.keys().cloned().collect();
    top.push("feed".into());
    let scope = Scope {
        top,
        each: None,
        describe_top: "a key can use the fields and `feed`:",
        feed_keys: feed_keys.map(<[String]>::to_vec),
    };
    for (role, attribute) in &attributes {
        let path = format!("store.key.{role}.value");
        templates::check(ctx, &attribute.value, &path, &scope);
        for name in templates::top_level_names(&attribute.value) {
            if let Some(field) = fields.get(&name)
                && !field.required
            {
                ctx.push(
                    Diagnostic::warning(attribute.value.position, format!("the {role} key uses `{name}`, which is not required"))
                        .at(&path)
                        .help(format!("a record without `{name}` cannot be stored; add `required: true` to the field")),
                );
            }
        }
    }
    if let Some(field) = fields.get(store.inserted_at.as_str()) {
        let position = if store.inserted_at.position.is_known() {
            store.inserted_at.position
        } else {
            field.position
        };
        ctx.push(
            Diagnostic::error(position, format!("the insert-time attribute `{}` is also the name of a field", store.inserted_at.as_str()))
                .at("store.inserted_at")
                .help(format!("the insert time would overwrite the field at line {}; choose another attribute name", field.position.line)),
        );
    }
}

/// `notify`: addresses, a one-line subject, and templates over the batch and its records.
pub(super) fn check_notify(
    ctx: &mut Ctx<'_>,
    notify: &Notify,
    fields: Option<&IndexMap<String, Located<Field>>>,
    inserted_at: Option<&str>,
    feed_keys: Option<&[String]>,
) {
    if notify.to.is_empty() {
        ctx.push(
            Diagnostic::error(notify.to.position, "`notify.to` has no recipients")
                .at("notify.to")
                .help("list at least one address"),
        );
    }
    if notify.subject.contains('\n') {
        ctx.push(
            Diagnostic::error(notify.subject.position, "the subject spans several lines")
                .at("notify.subject")
                .help("write the subject on one line"),
        );
    }
    if notify.timeout.0.is_zero() {
        ctx.push(
            Diagnostic::error(
                notify.timeout.position,
                "`timeout` is 0: every e-mail would time out",
            )
            .at("notify.timeout")
            .help("give the mail server time to answer, such as `10s`"),
        );
    }
    let Some(fields) = fields else { return };
    let mut record: Vec<String> = fields.keys().cloned().collect();
    record.push(inserted_at.unwrap_or("inserted_at").to_owned());
    record.push("feed".into());
    let scope = Scope {
        top: vec!["pipeline".into(), "count".into(), "records".into()],
        each: Some(("records", record)),
        describe_top: "the top level of a notify template has",
        feed_keys: feed_keys.map(<[String]>::to_vec),
    };
    for (key, template) in [
        ("subject", Some(&notify.subject)),
        ("text", Some(&notify.text)),
        ("html", notify.html.as_ref()),
    ] {
        if let Some(template) = template {
            templates::check(ctx, template, &format!("notify.{key}"), &scope);
        }
    }
}
