//! `stockrun deploy-template`: the CloudFormation template that runs a pipeline on AWS Lambda —
//! the queue and its dead-letter queue, the function with its SQS trigger and its schedule (an
//! EventBridge Scheduler schedule in `source.timezone`, `source.active` folded in where a cron can
//! say it: `cron`), the table, the log group and roles allowed only what they need, and the
//! alarms with their optional SNS topic (`alarms`).
//!
//! The queues and the table are `resources::Resources`, the description `stockrun init` also
//! provisions from, so their names (`naming::queue_name`, `naming::dead_letter_queue_name`,
//! `store.table`) and key schema are the ones the function looks for. The template is built from
//! the pipeline alone: `${VAR}` references become parameters, never the values of the
//! environment that ran it.

mod alarms;
pub mod cron;
mod iam;
pub mod model;
pub mod parameters;
mod plan;
pub mod properties;
mod template;

use std::time::Duration;

pub use plan::Source;
pub use template::template;

use crate::config::located::Position;

/// Logical id of the queue.
pub const QUEUE: &str = "Queue";
/// Logical id of the dead-letter queue.
pub const DEAD_LETTER_QUEUE: &str = "DeadLetterQueue";
/// Logical id of the table.
pub const TABLE: &str = "Table";
/// Logical id of the alert table (alert state, and the feed status of every pipeline).
pub const ALERT_TABLE: &str = "AlertTable";
/// Logical id of the function's log group.
pub const LOG_GROUP: &str = "LogGroup";
/// Logical id of the function's role.
pub const ROLE: &str = "FunctionRole";
/// Logical id of the function.
pub const FUNCTION: &str = "Function";
/// Logical id of the SQS event source mapping.
pub const TRIGGER: &str = "QueueTrigger";
/// Logical id of the poll schedule.
pub const SCHEDULE: &str = "Schedule";
/// Logical id of the role the schedule invokes the function with.
pub const SCHEDULER_ROLE: &str = "SchedulerRole";
/// The event the schedule sends the function: the shape of an EventBridge scheduled event, with
/// the time it was due (`runtime::lambda` classifies it as a scheduled poll).
pub const SCHEDULED_EVENT: &str = r#"{"source":"aws.scheduler","detail-type":"Scheduled Event","time":"<aws.scheduler.scheduled-time>"}"#;
/// Logical id of the SNS topic the alarms notify (only with `AlarmEmail`).
pub const ALARM_TOPIC: &str = "AlarmTopic";
/// Logical id of the topic's e-mail subscription.
pub const ALARM_SUBSCRIPTION: &str = "AlarmEmailSubscription";
/// The parameter naming the address the alarms e-mail (empty: no topic).
pub const ALARM_EMAIL: &str = "AlarmEmail";
/// The condition under which the topic exists: `AlarmEmail` is given.
pub const HAS_ALARM_EMAIL: &str = "HasAlarmEmail";
/// Parameters the template always has.
pub const CODE_PARAMETERS: [&str; 2] = ["CodeBucket", "CodeKey"];

/// The longest a Lambda function can run (15 minutes).
const MAX_FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);

/// How the template sizes and names the function.
#[derive(Clone, Debug)]
pub struct Options {
    /// The function's timeout: whole seconds, 1 s to 15 min.
    pub function_timeout: Duration,
    /// The function's memory in MB (128 to 10240).
    pub memory_size: u32,
    /// The pipeline file's path inside the function's zip (the `PIPELINE` variable, `naming::PIPELINE_VARIABLE`).
    pub pipeline_path: String,
    /// The function's name; default `stockrun-<pipeline name>`.
    pub function_name: Option<String>,
    /// Days the function's logs are kept (a value CloudWatch Logs accepts).
    pub log_retention_days: u32,
    /// A Secrets Manager secret (name or ARN) holding the secret variables as JSON keys named
    /// like the variables: they become dynamic references instead of `NoEcho` parameters, so
    /// their values never pass through a command line.
    pub secrets_manager: Option<String>,
}

/// Why a pipeline has no template.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// `source.schedule` has no EventBridge equivalent.
    #[error("{source}")]
    Schedule {
        /// Where the schedule is written.
        position: Position,
        /// Why.
        source: cron::CronError,
    },
    /// A value the template fixes comes from an environment variable.
    #[error(
        "`{path}` takes its value from `${{{variable}}}`, but the template fixes it when it is generated"
    )]
    FromVariable {
        /// The pipeline key, such as `store.table`.
        path: &'static str,
        /// The variable.
        variable: String,
        /// Where the reference is.
        position: Position,
    },
    /// `queue.url` names a queue the template would not own.
    #[error(
        "`queue.url` names an existing queue; the template creates the queue itself (with its dead-letter queue, redrive policy and a visibility timeout the Lambda trigger needs)"
    )]
    QueueUrl {
        /// Where the URL is written.
        position: Position,
    },
    /// `notify.from` is not an e-mail address.
    #[error("`notify.from` `{from}` is not an e-mail address: {reason}")]
    Sender {
        /// As written.
        from: String,
        /// The parser's message.
        reason: String,
        /// Where it is written.
        position: Position,
    },
    /// The function name Lambda would refuse.
    #[error("function name `{name}` is not valid for Lambda (1 to 64 letters, digits, `-` or `_`)")]
    FunctionName {
        /// The name.
        name: String,
    },
    /// `--function-timeout` out of Lambda's range or not whole seconds.
    #[error(
        "--function-timeout {}: Lambda takes whole seconds from 1s to 15m",
        humantime::format_duration(*timeout)
    )]
    FunctionTimeout {
        /// The timeout given.
        timeout: Duration,
    },
    /// The queue would need a visibility timeout beyond SQS's 12 hours.
    #[error(
        "the queue's visibility timeout would be {seconds}s (6 × the function timeout + the batch window), more than SQS allows ({max}s)",
        max = crate::queue::MAX_VISIBILITY.as_secs()
    )]
    VisibilityTooLong {
        /// The visibility timeout needed.
        seconds: u64,
    },
    /// `--secrets-manager` is not a secret name or ARN.
    #[error("--secrets-manager `{secret}` is not a Secrets Manager secret name or ARN")]
    SecretId {
        /// As given.
        secret: String,
    },
    /// Two variables (or a variable and the code's parameters) share a parameter name.
    #[error(
        "the variables `{first}` and `{second}` would both be the template parameter `{parameter}`"
    )]
    ParameterClash {
        /// The parameter.
        parameter: String,
        /// One variable (or a fixed parameter).
        first: String,
        /// The other.
        second: String,
    },
}

impl DeployError {
    /// Where in the pipeline the problem is, when it is in the pipeline: its position and key.
    pub fn location(&self) -> Option<(Position, &'static str)> {
        match self {
            DeployError::Schedule { position, .. } => Some((*position, "source.schedule")),
            DeployError::FromVariable { position, path, .. } => Some((*position, path)),
            DeployError::QueueUrl { position } => Some((*position, "queue.url")),
            DeployError::Sender { position, .. } => Some((*position, "notify.from")),
            _ => None,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            DeployError::Schedule { source, .. } => source.help(),
            DeployError::FromVariable { .. } => {
                "write the value in the pipeline file: it names or sizes AWS resources".to_owned()
            }
            DeployError::QueueUrl { .. } => {
                "write `queue.name` instead (the name of the queue the template creates)".to_owned()
            }
            DeployError::FunctionName { .. } => {
                "pass a shorter --function-name (the default is `stockrun-<pipeline name>`)"
                    .to_owned()
            }
            DeployError::VisibilityTooLong { .. } => "pass a shorter --function-timeout".to_owned(),
            DeployError::ParameterClash { .. } => "rename one of the variables".to_owned(),
            DeployError::SecretId { .. } => {
                "secret names are letters, digits and `/_+=.@-`; an ARN adds `:`".to_owned()
            }
            DeployError::Sender { .. } | DeployError::FunctionTimeout { .. } => return None,
        })
    }
}
