//! Checks of `name`, `queue`, `store` and `notify`: names the services accept, AWS limits, key
//! templates, the recipients list and notify templates (the addresses themselves are parsed once,
//! by `notify::render::addresses`).

use indexmap::IndexMap;

use super::Ctx;
use super::templates::{self, Scope};
use crate::config::Located;
use crate::config::model::{Field, MAX_BATCH_SIZE, Notify, Queue, Store};
use crate::diag::Diagnostic;

/// What ends the name of an SQS FIFO queue. stockrun sends without message groups, so it
/// works with standard queues only: a FIFO queue is refused here, where it is written.
const FIFO_SUFFIX: &str = ".fifo";

/// The longest `queue.batch_window`: the Lambda SQS trigger's `MaximumBatchingWindowInSeconds`
/// is at most 300.
const MAX_BATCH_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// The pipeline name names a file and, unless `queue.name` or `queue.url` is set, the queue:
/// SQS's rules for a standard queue (letters, digits, `-`, `_`, ≤ 80).
pub(super) fn check_name(ctx: &mut Ctx<'_>, name: &Located<String>, queue: Option<&Queue>) {
    let names_queue = queue.is_none_or(|q| q.name.is_none() && q.url.is_none());
    if names_queue && is_fifo_name(name) {
        ctx.push(fifo_queue(name, name, "name"));
    } else if !is_queue_name(name) && !is_fifo_name(name) {
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

/// A standard SQS queue's name: 1 to 80 letters, digits, `-` and `_`.
fn is_queue_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A FIFO queue's name: a standard name followed by `.fifo`, 80 characters in all.
fn is_fifo_name(name: &str) -> bool {
    name.len() <= 80 && name.strip_suffix(FIFO_SUFFIX).is_some_and(is_queue_name)
}

/// The error for the FIFO queue `queue`, written at `value` (the key `path`).
fn fifo_queue(value: &Located<String>, queue: &str, path: &str) -> Diagnostic {
    Diagnostic::error(
        value.position,
        format!("queue `{queue}` is a FIFO queue: stockrun sends to standard queues only"),
    )
    .at(path)
    .help(format!("use a name that does not end in `{FIFO_SUFFIX}`"))
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
        if is_fifo_name(name) {
            ctx.push(fifo_queue(name, name, "queue.name"));
        } else if !is_queue_name(name) && !name.contains("${") {
            ctx.push(
                Diagnostic::error(
                    name.position,
                    format!("`{}` is not a valid SQS queue name", name.as_str()),
                )
                .at("queue.name")
                .help("use 1 to 80 letters, digits, `-` and `_`"),
            );
        }
    }
    if let Some(url) = &queue.url
        && !url.contains("${")
    {
        match url::Url::parse(url) {
            Err(_) => ctx.push(
                Diagnostic::error(
                    url.position,
                    format!("invalid queue URL `{}`", url.as_str()),
                )
                .at("queue.url")
                .help("such as `https://sqs.eu-west-1.amazonaws.com/123456789012/stock-quotes`"),
            ),
            Ok(parsed) => {
                // The queue's name is the URL's last segment (`naming::queue_name`).
                let last = parsed.path().trim_end_matches('/').rsplit('/').next();
                if let Some(last) = last.filter(|last| is_fifo_name(last)) {
                    ctx.push(fifo_queue(url, last, "queue.url"));
                }
            }
        }
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
    if let Some(subject) = notify.subject.as_ref().filter(|s| s.contains('\n')) {
        ctx.push(
            Diagnostic::error(subject.position, "the subject spans several lines")
                .at("notify.subject")
                .help("write the subject on one line"),
        );
    }
    check_mail_choice(ctx, notify);
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
        ("subject", notify.subject.as_ref()),
        ("text", notify.text.as_ref()),
        ("html", notify.html.as_ref()),
    ] {
        if let Some(template) = template {
            templates::check(ctx, template, &format!("notify.{key}"), &scope);
        }
    }
}

/// `notify` mails something: alert rules, a per-batch mail (`subject` and `text` together), or
/// both.
fn check_mail_choice(ctx: &mut Ctx<'_>, notify: &Notify) {
    match (&notify.subject, &notify.text) {
        (Some(subject), None) => ctx.push(
            Diagnostic::error(subject.position, "`notify.subject` without `notify.text`")
                .at("notify.text")
                .help("the per-batch mail needs both `subject` and `text`; or remove `subject` and mail alerts (`rules`)"),
        ),
        (None, Some(text)) => ctx.push(
            Diagnostic::error(text.position, "`notify.text` without `notify.subject`")
                .at("notify.subject")
                .help("the per-batch mail needs both `subject` and `text`; or remove `text` and mail alerts (`rules`)"),
        ),
        (None, None) if notify.rules.is_empty() => ctx.push(
            Diagnostic::error(notify.from.position, "`notify` mails nothing: it has no `rules` and no `subject`/`text`")
                .at("notify")
                .help("add alert `rules` (see the README, \"Alerts\"), or `subject` and `text` for a mail of every batch's new records"),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::config::env::Environment;
    use crate::config::load::{UnsetVariables, check};

    /// The errors of a pipeline named `name` with the `queue` section `queue`.
    fn errors(name: &str, queue: &str) -> Vec<(String, String)> {
        let text = format!(
            "name: {name}\nsource:\n  url: https://api.example.com/q\n  records: $[*]\n\
             process:\n  fields:\n    symbol: {{ path: $.symbol, required: true }}\n\
             store:\n  table: quotes\n  key:\n    partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n\
             {queue}"
        );
        let env = Environment::from_pairs(Vec::<(String, String)>::new());
        check(text.as_bytes(), &env, UnsetVariables::Deny)
            .diagnostics
            .into_iter()
            .map(|d| (d.path, d.message))
            .collect()
    }

    #[test]
    fn a_fifo_queue_is_refused_where_it_is_written() {
        let fifo = |queue: &str| {
            format!("queue `{queue}` is a FIFO queue: stockrun sends to standard queues only")
        };
        assert_eq!(errors("quotes", ""), vec![]);
        assert_eq!(
            errors("quotes.fifo", ""),
            vec![("name".to_owned(), fifo("quotes.fifo"))]
        );
        assert_eq!(
            errors("quotes", "queue:\n  name: q.fifo\n"),
            vec![("queue.name".to_owned(), fifo("q.fifo"))]
        );
        assert_eq!(
            errors(
                "quotes",
                "queue:\n  url: https://sqs.eu-west-1.amazonaws.com/1/q.fifo\n"
            ),
            vec![("queue.url".to_owned(), fifo("q.fifo"))]
        );
        // The pipeline name names no queue when the queue has its own name.
        assert_eq!(errors("quotes.fifo", "queue:\n  name: q\n"), vec![]);
    }
}
