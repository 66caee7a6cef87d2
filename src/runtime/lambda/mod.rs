//! The binary as an AWS Lambda function: when `AWS_LAMBDA_RUNTIME_API` is set, `stockrun`
//! serves the Lambda runtime API instead of the command line. The pipeline is the file named by
//! `PIPELINE`, bundled with the function; it is loaded and checked once per container, and a
//! pipeline that cannot run fails the container's init with the `validate` diagnostics in the log.
//! Logs are JSON lines carrying the pipeline's name (`crate::logging::init_lambda`); after each
//! invocation the metrics it recorded follow as CloudWatch Embedded Metric Format lines
//! (`crate::metrics`), which CloudWatch turns into metrics in the namespace `stockrun`.

mod event;
mod handler;
mod init_error;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use tracing::Instrument as _;

pub use self::event::{EventError, Invocation, classify, scheduled_event, sqs_event};
pub use self::handler::{Handler, HandlerError, InitError, PollCounts};
use crate::aws::Aws;
use crate::compile::load;
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::naming::PIPELINE_VARIABLE;
use crate::runtime::backend::{Backend, BackendKind};

/// The variables the Lambda service sets for every function; the runtime client needs them all.
const LAMBDA_VARIABLES: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Whether this process runs as a Lambda function.
pub fn is_lambda() -> bool {
    std::env::var_os(LAMBDA_VARIABLES[0]).is_some()
}

/// Serves Lambda invocations until the runtime API goes away. Returns the process's exit status:
/// 1 when the container cannot start (reported to the runtime API's init error endpoint too).
pub fn serve() -> ExitCode {
    crate::logging::init_lambda();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let handler = match start() {
            Ok(handler) => handler,
            Err(message) => {
                tracing::error!(error = %message, "init failed: the function cannot run");
                init_error::report(&message).await;
                return ExitCode::from(1);
            }
        };
        let handler = &handler;
        let pipeline = handler.pipeline_name().to_owned();
        // Metrics go out as EMF lines in the log, once per invocation: no PutMetricData calls.
        if let Err(error) = crate::metrics::install_emf() {
            tracing::warn!(%error, "metrics are not reported");
        }
        tracing::info!(pipeline = %pipeline, "ready");
        let served = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let span = tracing::info_span!(
                "invocation",
                pipeline = %handler.pipeline_name(),
                request_id = %event.context.request_id
            );
            let deadline =
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(event.context.deadline);
            async move {
                let handled = handler.handle_by(event.payload, deadline).await;
                if let Err(error) = crate::metrics::flush_emf(&mut std::io::stdout().lock()) {
                    tracing::warn!(%error, "metrics not written to the log");
                }
                handled
            }
            .instrument(span)
        }))
        .await;
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(pipeline = %pipeline, %error, "the Lambda runtime API failed");
                ExitCode::from(1)
            }
        }
    })
}

/// Loads the pipeline and builds the handler, or says why not (with every diagnostic).
fn start() -> Result<Handler, String> {
    let missing: Vec<&str> = LAMBDA_VARIABLES
        .iter()
        .copied()
        .filter(|name| std::env::var_os(name).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} not set: the Lambda service sets these; to run outside Lambda, unset AWS_LAMBDA_RUNTIME_API and use the command line (`stockrun --help`)",
            missing.join(", ")
        ));
    }
    let file = pipeline_file(
        std::env::var_os(PIPELINE_VARIABLE).map(PathBuf::from),
        std::env::var_os("LAMBDA_TASK_ROOT").map(PathBuf::from),
    )?;
    let env = Environment::from_process();
    let loaded = load(&file, &env, UnsetVariables::Deny).map_err(|error| error.to_string())?;
    for warning in &loaded.warnings {
        tracing::warn!(pipeline = %loaded.pipeline.name.value, "{warning}");
    }
    let backend = Backend {
        kind: BackendKind::Aws,
        state_dir: PathBuf::new(),
        smtp: None,
        visibility_timeout: None,
        aws: Aws::new(),
    };
    // Also POSTed to the runtime API, past the log writer: redacted here, with every secret the
    // process knows (the pipeline's, the poller's, the AWS credentials).
    Handler::new(&loaded, &backend)
        .map_err(|error| crate::redact::redact_registered(&error.to_string()).into_owned())
}

/// The pipeline file: `PIPELINE` as given when absolute, else relative to the package root
/// (`LAMBDA_TASK_ROOT`, where Lambda unpacks the zip; the working directory without it).
fn pipeline_file(pipeline: Option<PathBuf>, task_root: Option<PathBuf>) -> Result<PathBuf, String> {
    let Some(pipeline) = pipeline.filter(|p| !p.as_os_str().is_empty()) else {
        return Err(format!(
            "{PIPELINE_VARIABLE} is not set: set it to the pipeline file's path in the deployment package, such as `pipeline.yaml` (`stockrun deploy-template` sets it)"
        ));
    };
    if pipeline.is_absolute() {
        return Ok(pipeline);
    }
    Ok(match task_root {
        Some(root) => root.join(pipeline),
        None => Path::new(".").join(pipeline),
    })
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Diagnostic {
        let error_type = match &error {
            HandlerError::Event(EventError::Unsupported { .. }) => "UnsupportedEvent",
            HandlerError::Event(EventError::IncompleteRecord { .. }) => "IncompleteSqsRecord",
            HandlerError::NotQueued { .. } => "RecordsNotQueued",
            HandlerError::AllFeedsFailed { .. } => "PollFailed",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_invocation_is_logged_in_plain_words() {
        let error = HandlerError::Event(EventError::Unsupported {
            found: "an object with keys `foo`".to_owned(),
        });
        let logged = format!("{error:?}");
        assert!(
            logged.starts_with("unsupported event (an object"),
            "{logged}"
        );
        assert!(!logged.contains("Unsupported {"), "{logged}");
    }

    #[test]
    fn the_pipeline_path_is_absolute_or_relative_to_the_package_root() {
        let root = Some(PathBuf::from("/var/task"));
        assert_eq!(
            pipeline_file(Some("stocks.yaml".into()), root.clone()).unwrap(),
            Path::new("/var/task/stocks.yaml")
        );
        assert_eq!(
            pipeline_file(Some("/opt/p/stocks.yaml".into()), root.clone()).unwrap(),
            Path::new("/opt/p/stocks.yaml")
        );
        assert_eq!(
            pipeline_file(Some("pipelines/stocks.yaml".into()), None).unwrap(),
            Path::new("./pipelines/stocks.yaml")
        );
        for unset in [None, Some(PathBuf::new())] {
            let error = pipeline_file(unset, root.clone()).unwrap_err();
            assert!(error.starts_with("PIPELINE is not set"), "{error}");
        }
    }
}
