//! The checks a pipeline and the options pass before a template is built, and the facts they
//! leave: the pipeline's resources (`resources::Resources`, as `init` makes them), the translated
//! schedule, whole seconds, the variables, the e-mail sender.

use std::time::Duration;

use super::cron::{fold_active, to_eventbridge};
use super::parameters::{Variable, variables};
use super::{CODE_PARAMETERS, DeployError, MAX_FUNCTION_TIMEOUT, Options};
use crate::config::Pipeline;
use crate::config::env::{EnvReference, find_references};
use crate::config::located::Position;
use crate::naming::PIPELINE_VARIABLE;
use crate::queue::MAX_VISIBILITY;
use crate::resources::{Resources, Sender, lambda_visibility};
use crate::source::Schedule;

/// The pipeline a template is made from.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The loaded pipeline.
    pub pipeline: &'a Pipeline,
    /// The pipeline file's text (for its `${VAR}` references).
    pub text: &'a str,
    /// `source.schedule`, as the pipeline was compiled with it (`compile::Loaded::schedule`).
    pub schedule: &'a Schedule,
}

/// Variables Lambda sets itself and refuses in a function's configuration.
const LAMBDA_RESERVED: [&str; 18] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
];

/// The checked facts the resources are built from.
pub(super) struct Plan {
    /// The queues and the table, named as everywhere else; the queue's visibility timeout is
    /// the one a Lambda trigger needs.
    pub resources: Resources,
    /// The EventBridge cron fields, `source.active` folded in where it can be.
    pub schedule: String,
    /// The IANA zone the cron fields are read in (`source.timezone`, UTC by default).
    pub timezone: &'static str,
    /// The function's name.
    pub function_name: String,
    /// The function's timeout in seconds.
    pub timeout: u64,
    /// `queue.batch_window` in whole seconds, rounded up.
    pub batch_window: u64,
    /// The parameters the function's environment takes.
    pub variables: Vec<Variable>,
    /// Who e-mails are sent from, when the pipeline sends any.
    pub sender: Option<Sender>,
}

/// Every check, and what the resources need.
pub(super) fn plan(source: Source<'_>, options: &Options) -> Result<Plan, DeployError> {
    let pipeline = source.pipeline;
    let references = find_references(source.text);
    check_fixed_values(pipeline, &references)?;
    if let Some(url) = &pipeline.queue.url {
        return Err(DeployError::QueueUrl {
            position: url.position,
        });
    }
    // Round a fractional window up: `500ms` waits a second rather than not at all.
    let window = pipeline.queue.batch_window.value.0;
    let batch_window = window.as_secs() + u64::from(window.subsec_nanos() > 0);
    let visibility = lambda_visibility(options.function_timeout, Duration::from_secs(batch_window));
    let resources = Resources::new(pipeline, visibility);
    let schedule = to_eventbridge(source.schedule).map_err(|error| DeployError::Schedule {
        position: pipeline.source.schedule.position,
        source: error,
    })?;
    let schedule = fold_active(source.schedule, &schedule);
    let timeout = options.function_timeout;
    if timeout.subsec_nanos() != 0 || timeout.as_secs() == 0 || timeout > MAX_FUNCTION_TIMEOUT {
        return Err(DeployError::FunctionTimeout { timeout });
    }
    let function_name = options
        .function_name
        .clone()
        .unwrap_or_else(|| format!("stockrun-{}", pipeline.name.value));
    let valid_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if function_name.is_empty()
        || function_name.len() > 64
        || !function_name.chars().all(valid_name)
    {
        return Err(DeployError::FunctionName {
            name: function_name,
        });
    }
    if visibility > MAX_VISIBILITY {
        return Err(DeployError::VisibilityTooLong {
            seconds: visibility.as_secs(),
        });
    }
    if let Some(secret) = &options.secrets_manager {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-:".contains(c);
        if secret.is_empty() || !secret.chars().all(allowed) {
            return Err(DeployError::SecretId {
                secret: secret.clone(),
            });
        }
    }
    let variables = checked_variables(variables(pipeline, source.text, &references))?;
    let sender = match &pipeline.notify {
        None => None,
        Some(notify) => {
            Some(
                Sender::parse(&notify.from.value).map_err(|error| DeployError::Sender {
                    from: error.from,
                    reason: error.reason,
                    position: notify.from.position,
                })?,
            )
        }
    };
    Ok(Plan {
        resources,
        schedule,
        timezone: source.schedule.zone().name(),
        function_name,
        timeout: timeout.as_secs(),
        batch_window,
        variables,
        sender,
    })
}

/// Values that name or size resources must be written in the file: a parameter could change
/// the function's copy but not the template's.
fn check_fixed_values(pipeline: &Pipeline, references: &[EnvReference]) -> Result<(), DeployError> {
    let queue = &pipeline.queue;
    let key = &pipeline.store.key;
    let mut fixed: Vec<(&'static str, Position)> = vec![
        ("name", pipeline.name.position),
        ("source.schedule", pipeline.source.schedule.position),
        ("queue.batch_size", queue.batch_size.position),
        ("queue.batch_window", queue.batch_window.position),
        ("queue.max_receive_count", queue.max_receive_count.position),
        ("store.table", pipeline.store.table.position),
        ("store.key.partition.name", key.partition.name.position),
    ];
    fixed.extend(queue.name.as_ref().map(|n| ("queue.name", n.position)));
    fixed.extend(
        pipeline
            .source
            .timezone
            .as_ref()
            .map(|z| ("source.timezone", z.position)),
    );
    fixed.extend(
        key.sort
            .as_ref()
            .map(|s| ("store.key.sort.name", s.name.position)),
    );
    fixed.extend(
        pipeline
            .notify
            .as_ref()
            .map(|n| ("notify.from", n.from.position)),
    );
    for reference in references {
        let Some(at) = reference.position.offset else {
            continue;
        };
        for (path, value) in &fixed {
            if let (Some(start), Some(len)) = (value.offset, value.len)
                && (start..start + len).contains(&at)
            {
                return Err(DeployError::FromVariable {
                    path,
                    variable: reference.name.clone(),
                    position: reference.position,
                });
            }
        }
    }
    Ok(())
}

/// Leaves out what Lambda sets itself; refuses two variables with one parameter name.
fn checked_variables(all: Vec<Variable>) -> Result<Vec<Variable>, DeployError> {
    let mut kept: Vec<Variable> = Vec::new();
    for variable in all {
        if LAMBDA_RESERVED.contains(&variable.name.as_str()) {
            continue;
        }
        if variable.name == PIPELINE_VARIABLE {
            return Err(DeployError::ParameterClash {
                parameter: PIPELINE_VARIABLE.to_owned(),
                first: format!(
                    "{PIPELINE_VARIABLE} (the function's pipeline file, set by the template)"
                ),
                second: variable.name,
            });
        }
        let taken = kept
            .iter()
            .find(|k| k.parameter == variable.parameter)
            .map(|k| k.name.clone())
            .or_else(|| {
                CODE_PARAMETERS
                    .contains(&variable.parameter.as_str())
                    .then(|| format!("{} (the code's location)", variable.parameter))
            });
        if let Some(first) = taken {
            return Err(DeployError::ParameterClash {
                parameter: variable.parameter,
                first,
                second: variable.name,
            });
        }
        kept.push(variable);
    }
    Ok(kept)
}
