//! `stockrun invoke`: the Lambda handler (`runtime::lambda::Handler`) run in this process with
//! the event AWS would send (`runtime::lambda::sqs_event`, `scheduled_event`), its response
//! printed as the Lambda service would return it. The handler is built as a container builds
//! it, on the backend given (the local one by default, so no AWS is needed).
//! `--print-event` only prints a sample event.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;

use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::exit::ExitStatus;
use crate::message::Message;
use crate::naming::queue_name;
use crate::runtime::backend::Backend;
use crate::runtime::lambda::{Handler, scheduled_event, sqs_event};

/// The region a built SQS event names when `AWS_REGION` is not set.
const SAMPLE_REGION: &str = "us-east-1";

/// Which event to invoke the handler with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// An SQS event source mapping batch.
    Sqs,
    /// An EventBridge Scheduler scheduled event.
    Schedule,
}

/// What `invoke` was asked to do.
#[derive(Clone, Debug)]
pub enum Options {
    /// Print a sample event of this kind.
    PrintEvent(EventKind),
    /// Invoke the handler of a pipeline.
    Invoke {
        /// The pipeline file.
        file: PathBuf,
        /// The event to build.
        event: EventKind,
        /// With an SQS event: a JSON file holding the message bodies or records; without it,
        /// one poll of the source gives them.
        records: Option<PathBuf>,
        /// Where the handler's stages run.
        backend: Backend,
    },
}

/// Prints a sample event of `kind`, as AWS sends it (an SQS batch of one message whose body is
/// a record as the poller queues it).
pub fn print_event(kind: EventKind, out: &mut impl Write) -> anyhow::Result<()> {
    let event = match kind {
        EventKind::Schedule => scheduled_event(chrono::Utc::now()),
        EventKind::Sqs => {
            let message = Message::new(
                "my-pipeline".to_owned(),
                serde_json::Map::from_iter([("symbol".to_owned(), Value::from("ACME"))]),
                now(),
                serde_json::json!({ "symbol": "ACME", "price": "101.25" }),
            );
            sqs_event(&[message.to_body()], "my-pipeline", SAMPLE_REGION)
        }
    };
    serde_json::to_writer_pretty(&mut *out, &event)?;
    writeln!(out)?;
    Ok(())
}

/// Builds the handler and the event, invokes it, and prints the response. `Failure` when the
/// handler fails the invocation (Lambda would retry it): the error is printed as Lambda reports it.
pub async fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    let Options::Invoke {
        file,
        event,
        records,
        backend,
    } = options
    else {
        unreachable!("`--print-event` does not invoke");
    };
    // As a container loads it: an unset variable stops it.
    let loaded = super::load_pipeline(file, env, UnsetVariables::Deny)?;
    backend.ready().await?;
    let handler = Handler::new(&loaded, backend)?;
    let event = match event {
        EventKind::Schedule => scheduled_event(chrono::Utc::now()),
        EventKind::Sqs => {
            let bodies = match records {
                Some(path) => bodies_from_file(path, &loaded.pipeline.name.value)?,
                None => {
                    let report = loaded.poller()?.poll_once().await;
                    report.messages.iter().map(Message::to_body).collect()
                }
            };
            if bodies.is_empty() {
                anyhow::bail!(
                    "no records to put in the SQS event: {}",
                    match records {
                        Some(path) => format!("{} holds none", path.display()),
                        None => "the poll fetched none (see the log)".to_owned(),
                    }
                );
            }
            let region = env.get("AWS_REGION").unwrap_or(SAMPLE_REGION);
            sqs_event(&bodies, &queue_name(&loaded.pipeline), region)
        }
    };
    match handler.handle(event).await {
        Ok(response) => {
            serde_json::to_writer_pretty(&mut *out, &response)?;
            writeln!(out)?;
            Ok(ExitStatus::Success)
        }
        Err(error) => {
            let diagnostic = lambda_runtime::Diagnostic::from(error);
            let response = serde_json::json!({
                "errorType": diagnostic.error_type,
                "errorMessage": diagnostic.error_message,
            });
            serde_json::to_writer_pretty(&mut *out, &response)?;
            writeln!(out)?;
            Ok(ExitStatus::Failure)
        }
    }
}

/// The message bodies in `path`: a JSON array whose elements are messages as the poller queues
/// them (with `pipeline`, `fetched_at` and `record`), kept as written, or records, each wrapped
/// in a message of pipeline `pipeline` as the poller would wrap it.
fn bodies_from_file(path: &Path, pipeline: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the records file {}", path.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let Value::Array(elements) = value else {
        anyhow::bail!(
            "{} must hold a JSON array of messages or records, not a JSON {}",
            path.display(),
            crate::message::json_kind(&value)
        );
    };
    let fetched_at = now();
    Ok(elements
        .into_iter()
        .map(
            |element| match serde_json::from_value::<Message>(element.clone()) {
                Ok(message) => message.to_body(),
                Err(_) => Message::new(
                    pipeline.to_owned(),
                    serde_json::Map::new(),
                    fetched_at.clone(),
                    element,
                )
                .to_body(),
            },
        )
        .collect())
}

/// Now, as a message's `fetched_at` is written.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
