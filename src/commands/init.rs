//! `stockrun init FILE --backend aws`: creates, when missing, what a pipeline needs on AWS for
//! development — the dead-letter queue, the queue with its redrive policy, the DynamoDB table with
//! the pipeline's key, the alert table (alert state and the feed status), and the SES sender
//! identity — printing one line per resource. Running it
//! again changes nothing. Production infrastructure comes from a deploy template instead.
//!
//! Glue: what is needed is `resources::Resources`; each backend's `provision` module finds or
//! creates its part; this prints what they found or did.

use std::io::Write;
use std::path::PathBuf;

use crate::aws::Aws;
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::exit::ExitStatus;
use crate::naming::database_path;
use crate::notify::ses::provision as ses;
use crate::queue::sqs::provision::{self as sqs, Redrive};
use crate::resources::{
    Provisioned, QueueResource, Resources, TableResource, development_visibility,
};
use crate::runtime::backend::{Backend, BackendKind};
use crate::store::dynamodb::provision::{self as dynamodb, Table};

/// What `init` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pipeline file.
    pub file: PathBuf,
    /// Where the stages run.
    pub backend: Backend,
}

/// Creates what is missing and prints a line per resource to `out`. Ends with `Failure` when
/// an existing resource cannot work with the pipeline (a table with another key).
pub async fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    let loaded = super::load_pipeline(&options.file, env, UnsetVariables::Warn)?;
    let pipeline = &loaded.pipeline;
    if options.backend.kind == BackendKind::Local {
        writeln!(
            out,
            "nothing to create for the local backend: `stockrun run` creates {} when it first runs",
            database_path(&options.backend.state_dir, &pipeline.name).display()
        )?;
        return Ok(ExitStatus::Success);
    }
    options.backend.ready().await?;
    let aws = &options.backend.aws;
    let visibility = development_visibility(options.backend.visibility_timeout(pipeline)?);
    let resources = Resources::new(pipeline, visibility);
    init_queues(aws, &resources.queue, out).await?;
    let mut table_ok = init_table(aws, &resources.table, out).await?;
    table_ok &= init_table(aws, &resources.alerts, out).await?;
    match (resources.sender(), &options.backend.smtp) {
        (None, _) => writeln!(out, "skipped SES identity: the pipeline sends no e-mail")?,
        (Some(_), Some(_)) => writeln!(out, "skipped SES identity: e-mail goes through --smtp")?,
        (Some(sender), None) => init_identity(aws, &sender?.address, out).await?,
    }
    Ok(ExitStatus::success_or(table_ok, ExitStatus::Failure))
}

/// The dead-letter queue, then the queue with a redrive policy pointing at it.
async fn init_queues(aws: &Aws, queue: &QueueResource, out: &mut impl Write) -> anyhow::Result<()> {
    let dead_name = &queue.dead_letter;
    let dead = sqs::dead_letter_queue(aws, queue).await?;
    match dead.provisioned {
        Provisioned::Existed => writeln!(out, "exists  dead-letter queue {dead_name}")?,
        Provisioned::Created => writeln!(out, "created dead-letter queue {dead_name}")?,
    }
    let name = &queue.name;
    match sqs::queue(aws, queue, &dead.arn).await? {
        (Provisioned::Created, _) => writeln!(
            out,
            "created queue {name} (visibility timeout {}s; dead-lettered to {dead_name} after {} receives)",
            queue.visibility_timeout.as_secs(),
            queue.max_receive_count
        )?,
        (Provisioned::Existed, redrive) => {
            writeln!(out, "exists  queue {name}")?;
            match redrive {
                Redrive::Missing => writeln!(
                    out,
                    "  note: queue {name} has no redrive policy, so poison records are never dead-lettered (not changed: delete the queue and run init again, or set one)"
                )?,
                Redrive::Elsewhere(target) => writeln!(
                    out,
                    "  note: queue {name} dead-letters to {target}, not {dead_name} (not changed)"
                )?,
                Redrive::AsDescribed => {}
            }
        }
    }
    Ok(())
}

/// A table with its key (the records table, or the alert table: the same provisioning). Returns
/// false when it exists with another key.
async fn init_table(
    aws: &Aws,
    table: &TableResource,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let name = &table.name;
    let creating = match dynamodb::table(aws, table).await? {
        Table::OtherKey { existing } => {
            writeln!(out, "exists  table {name}")?;
            writeln!(
                out,
                "  error: table {name} has the key ({existing}), the pipeline's is ({}): writes would fail. Use another `store.table`, or delete the table and run init again",
                table.describe_key()
            )?;
            return Ok(false);
        }
        Table::Ready {
            provisioned: Provisioned::Existed,
            creating,
        } => {
            writeln!(out, "exists  table {name}")?;
            creating
        }
        Table::Ready {
            provisioned: Provisioned::Created,
            creating,
        } => {
            writeln!(
                out,
                "created table {name} (key {}; on-demand billing)",
                table.describe_key()
            )?;
            creating
        }
    };
    if creating {
        eprintln!("waiting for table {name} to become ACTIVE…");
        dynamodb::wait_until_active(aws, name).await?;
    }
    Ok(true)
}

/// The SES v2 identity of the sender's address.
async fn init_identity(aws: &Aws, address: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let identity = ses::identity(aws, address).await?;
    match identity.provisioned {
        Provisioned::Existed => writeln!(out, "exists  SES identity {address}")?,
        Provisioned::Created => writeln!(out, "created SES identity {address}")?,
    }
    if !identity.verified {
        writeln!(
            out,
            "  note: {address} is not verified yet: SES refuses to send from it until it is (AWS e-mails it a confirmation link; moto and LocalStack need none)"
        )?;
    }
    Ok(())
}
