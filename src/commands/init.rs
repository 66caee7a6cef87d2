//! `stockrun init FILE --backend aws`: creates, when missing, what a pipeline needs on AWS for
//! development — the dead-letter queue, the queue with its redrive policy, the DynamoDB table with
//! the pipeline's key, and the SES sender identity — printing one line per resource. Running it
//! again changes nothing. Production infrastructure comes from a deploy template instead.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::aws::{Aws, sdk_error_message};
use crate::compile::load;
use crate::config::Pipeline;
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::queue::sqs::dead_letter_arn;
use crate::runtime::backend::{Backend, BackendKind, queue_name};

/// The shortest visibility timeout `init` gives a queue.
const MIN_VISIBILITY: Duration = Duration::from_secs(30);

/// How long `init` waits for a table that DynamoDB is still creating.
const TABLE_DEADLINE: Duration = Duration::from_secs(300);

/// How often `init` looks at a table being created.
const TABLE_POLL: Duration = Duration::from_secs(2);

/// What `init` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pipeline file.
    pub file: PathBuf,
    /// Where the stages run.
    pub backend: Backend,
}

/// Creates what is missing and prints a line per resource to `out`. Returns false when an
/// existing resource cannot work with the pipeline (a table with another key).
pub async fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let loaded = load(&options.file, env, UnsetVariables::Warn)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    let pipeline = &loaded.pipeline;
    if options.backend.kind == BackendKind::Local {
        writeln!(
            out,
            "nothing to create for the local backend: `stockrun run` creates {} when it first runs",
            crate::sqlite::database_path(&options.backend.state_dir, &pipeline.name).display()
        )?;
        return Ok(true);
    }
    let aws = &options.backend.aws;
    let visibility = options
        .backend
        .visibility_timeout(pipeline)?
        .max(MIN_VISIBILITY);
    init_queues(aws, pipeline, visibility, out).await?;
    let table_ok = init_table(aws, pipeline, out).await?;
    match (&pipeline.notify, &options.backend.smtp) {
        (None, _) => writeln!(out, "skipped SES identity: the pipeline sends no e-mail")?,
        (Some(_), Some(_)) => writeln!(out, "skipped SES identity: e-mail goes through --smtp")?,
        (Some(notify), None) => init_identity(aws, &notify.from, out).await?,
    }
    Ok(table_ok)
}

/// The dead-letter queue, then the queue with a redrive policy pointing at it.
async fn init_queues(
    aws: &Aws,
    pipeline: &Pipeline,
    visibility: Duration,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let name = queue_name(pipeline);
    if name.ends_with(".fifo") {
        bail!(
            "queue `{name}` is a FIFO queue: stockrun sends to standard queues only (rename it in the pipeline)"
        );
    }
    let client = aws.sqs().await;
    let dead_name = format!("{name}-dlq");
    let dead_url = match queue_url(client, &dead_name).await? {
        Some(url) => {
            writeln!(out, "exists  dead-letter queue {dead_name}")?;
            url
        }
        None => {
            let url = create_queue(client, &dead_name, Vec::new()).await?;
            writeln!(out, "created dead-letter queue {dead_name}")?;
            url
        }
    };
    let dead_arn = queue_attributes(client, &dead_url, vec![QueueAttributeName::QueueArn])
        .await?
        .remove(&QueueAttributeName::QueueArn)
        .ok_or_else(|| anyhow!("queue `{dead_name}` has no QueueArn attribute"))?;
    let max_receive_count = *pipeline.queue.max_receive_count;
    match queue_url(client, &name).await? {
        Some(url) => {
            let mut attributes =
                queue_attributes(client, &url, vec![QueueAttributeName::RedrivePolicy]).await?;
            let policy = attributes.remove(&QueueAttributeName::RedrivePolicy);
            let target = policy.as_deref().and_then(dead_letter_arn);
            writeln!(out, "exists  queue {name}")?;
            match target {
                None => writeln!(
                    out,
                    "  note: queue {name} has no redrive policy, so poison records are never dead-lettered (not changed: delete the queue and run init again, or set one)"
                )?,
                Some(target) if target != dead_arn => writeln!(
                    out,
                    "  note: queue {name} dead-letters to {target}, not {dead_name} (not changed)"
                )?,
                Some(_) => {}
            }
        }
        None => {
            let policy = serde_json::json!({
                "deadLetterTargetArn": dead_arn,
                "maxReceiveCount": max_receive_count,
            });
            create_queue(
                client,
                &name,
                vec![
                    (QueueAttributeName::RedrivePolicy, policy.to_string()),
                    (
                        QueueAttributeName::VisibilityTimeout,
                        visibility.as_secs().to_string(),
                    ),
                ],
            )
            .await?;
            writeln!(
                out,
                "created queue {name} (visibility timeout {}s; dead-lettered to {dead_name} after {max_receive_count} receives)",
                visibility.as_secs()
            )?;
        }
    }
    Ok(())
}

/// The URL of queue `name`, or `None` when it does not exist.
async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> anyhow::Result<Option<String>> {
    match client.get_queue_url().queue_name(name).send().await {
        Ok(output) => Ok(output.queue_url().map(str::to_owned)),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_queue_does_not_exist()) =>
        {
            Ok(None)
        }
        Err(error) => Err(sdk_error(&format!("queue `{name}`: GetQueueUrl"), &error)),
    }
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: Vec<(QueueAttributeName, String)>,
) -> anyhow::Result<String> {
    let output = client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.into_iter().collect()))
        .send()
        .await
        .map_err(|error| sdk_error(&format!("queue `{name}`: CreateQueue"), &error))?;
    output
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("queue `{name}`: CreateQueue returned no URL"))
}

async fn queue_attributes(
    client: &aws_sdk_sqs::Client,
    url: &str,
    names: Vec<QueueAttributeName>,
) -> anyhow::Result<std::collections::HashMap<QueueAttributeName, String>> {
    let output = client
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(names))
        .send()
        .await
        .map_err(|error| sdk_error(&format!("queue {url}: GetQueueAttributes"), &error))?;
    Ok(output.attributes.unwrap_or_default())
}

/// The table with the pipeline's key (string attributes), billed per request. Returns false
/// when it exists with another key.
async fn init_table(aws: &Aws, pipeline: &Pipeline, out: &mut impl Write) -> anyhow::Result<bool> {
    let client = aws.dynamodb().await;
    let table = pipeline.store.table.value.as_str();
    let mut key = vec![(
        pipeline.store.key.partition.name.value.clone(),
        KeyType::Hash,
    )];
    if let Some(sort) = &pipeline.store.key.sort {
        key.push((sort.name.value.clone(), KeyType::Range));
    }
    let described = client.describe_table().table_name(table).send().await;
    let status = match described {
        Ok(output) => {
            let description = output
                .table()
                .ok_or_else(|| anyhow!("table `{table}`: DescribeTable returned no table"))?;
            let existing: Vec<(String, KeyType)> = description
                .key_schema()
                .iter()
                .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
                .collect();
            writeln!(out, "exists  table {table}")?;
            if existing != key {
                writeln!(
                    out,
                    "  error: table {table} has the key ({}), the pipeline's is ({}): writes would fail. Use another `store.table`, or delete the table and run init again",
                    describe_key(&existing),
                    describe_key(&key)
                )?;
                return Ok(false);
            }
            description.table_status().cloned()
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            let status = create_table(client, table, &key).await?;
            writeln!(
                out,
                "created table {table} (key {}; on-demand billing)",
                describe_key(&key)
            )?;
            status
        }
        Err(error) => {
            return Err(sdk_error(
                &format!("table `{table}`: DescribeTable"),
                &error,
            ));
        }
    };
    if status == Some(TableStatus::Creating) {
        wait_until_active(client, table).await?;
    }
    Ok(true)
}

/// Creates the table; its status (`CREATING` on AWS, `ACTIVE` at once on moto). A table created
/// by someone else meanwhile counts as created.
async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &[(String, KeyType)],
) -> anyhow::Result<Option<TableStatus>> {
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, key_type) in key {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .context("attribute definition")?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(key_type.clone())
                    .build()
                    .context("key schema element")?,
            );
    }
    match request.send().await {
        Ok(output) => Ok(output
            .table_description()
            .and_then(|d| d.table_status())
            .cloned()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Ok(Some(TableStatus::Creating))
        }
        Err(error) => Err(sdk_error(&format!("table `{table}`: CreateTable"), &error)),
    }
}

async fn wait_until_active(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + TABLE_DEADLINE;
    eprintln!("waiting for table {table} to become ACTIVE…");
    loop {
        let output = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|error| sdk_error(&format!("table `{table}`: DescribeTable"), &error))?;
        let status = output.table().and_then(|t| t.table_status()).cloned();
        match status {
            Some(TableStatus::Active) => return Ok(()),
            Some(TableStatus::Creating) | None => {}
            Some(other) => bail!("table `{table}` is {}, not ACTIVE", other.as_str()),
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "table `{table}` is still being created after {}s; run init again later",
                TABLE_DEADLINE.as_secs()
            );
        }
        tokio::time::sleep(TABLE_POLL).await;
    }
}

fn describe_key(key: &[(String, KeyType)]) -> String {
    key.iter()
        .map(|(name, key_type)| format!("{name} {}", key_type.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SES v2 identity of the sender address (`notify.from`).
async fn init_identity(aws: &Aws, from: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let address = from
        .parse::<lettre::message::Mailbox>()
        .map(|mailbox| mailbox.email.to_string())
        .map_err(|error| anyhow!("notify.from `{from}` is not an e-mail address: {error}"))?;
    let client = aws.sesv2().await;
    let verified = match client
        .get_email_identity()
        .email_identity(&address)
        .send()
        .await
    {
        Ok(output) => {
            writeln!(out, "exists  SES identity {address}")?;
            output.verified_for_sending_status()
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            let output = client
                .create_email_identity()
                .email_identity(&address)
                .send()
                .await
                .map_err(|error| {
                    sdk_error(
                        &format!("SES identity {address}: CreateEmailIdentity"),
                        &error,
                    )
                })?;
            writeln!(out, "created SES identity {address}")?;
            output.verified_for_sending_status()
        }
        Err(error) => {
            return Err(sdk_error(
                &format!("SES identity {address}: GetEmailIdentity"),
                &error,
            ));
        }
    };
    if !verified {
        writeln!(
            out,
            "  note: {address} is not verified yet: SES refuses to send from it until it is (AWS e-mails it a confirmation link; moto and LocalStack need none)"
        )?;
    }
    Ok(())
}

/// A failed SDK call as an error naming `what` was being done.
fn sdk_error<E>(what: &str, error: &SdkError<E, HttpResponse>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    anyhow!("{what}: {}", sdk_error_message(error))
}
