//! The properties of each resource type the template uses, typed (so numbers stay numbers in
//! YAML: `serde_json::Value` with `arbitrary_precision` does not serialize as one through
//! serde-saphyr) and in the order the AWS documentation lists them.

use indexmap::IndexMap;
use serde::Serialize;

use super::model::Str;

/// The properties of one resource.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Properties {
    /// `AWS::SQS::Queue`.
    Queue(Queue),
    /// `AWS::DynamoDB::Table`.
    Table(Table),
    /// `AWS::Logs::LogGroup`.
    LogGroup(LogGroup),
    /// `AWS::IAM::Role`.
    Role(Role),
    /// `AWS::Lambda::Function`.
    Function(Function),
    /// `AWS::Lambda::EventSourceMapping`.
    EventSourceMapping(EventSourceMapping),
    /// `AWS::Scheduler::Schedule`.
    Schedule(Schedule),
    /// `AWS::CloudWatch::Alarm`.
    Alarm(Alarm),
    /// `AWS::SNS::Topic`.
    Topic(Topic),
    /// `AWS::SNS::Subscription`.
    Subscription(Subscription),
}

/// `AWS::CloudWatch::Alarm` on one metric.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alarm {
    /// What it means and what to do.
    pub alarm_description: String,
    /// Where it notifies (the alarm topic, when there is one).
    pub alarm_actions: Vec<Str>,
    /// The metric's namespace (`AWS/SQS`, `AWS/Lambda`, `stockrun`).
    pub namespace: &'static str,
    /// The metric.
    pub metric_name: &'static str,
    /// Which of its series.
    pub dimensions: Vec<Dimension>,
    /// `Sum`, `Maximum`, `Minimum`.
    pub statistic: &'static str,
    /// Seconds per datapoint.
    pub period: u64,
    /// Datapoints looked at.
    pub evaluation_periods: u32,
    /// Compared with.
    pub threshold: f64,
    /// How.
    pub comparison_operator: &'static str,
    /// `breaching` (silence is the problem) or `notBreaching`.
    pub treat_missing_data: &'static str,
}

/// A metric dimension.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// Its name.
    pub name: &'static str,
    /// Its value.
    pub value: Str,
}

/// `AWS::SNS::Topic`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Topic {
    /// Shown in the e-mails' sender name.
    pub display_name: String,
}

/// `AWS::SNS::Subscription`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subscription {
    /// `email`.
    pub protocol: &'static str,
    /// The address.
    pub endpoint: Str,
    /// The topic.
    pub topic_arn: Str,
}

/// `AWS::SQS::Queue`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    /// The queue's name, as the runtime computes it.
    pub queue_name: String,
    /// Seconds a received message stays hidden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility_timeout: Option<u64>,
    /// Seconds a message is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_retention_period: Option<u64>,
    /// Where a message goes after too many receives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive_policy: Option<RedrivePolicy>,
}

/// A queue's redrive policy (SQS spells its keys in camelCase).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    /// The dead-letter queue's ARN.
    pub dead_letter_target_arn: Str,
    /// Receives before a message is dead-lettered.
    pub max_receive_count: u32,
}

/// `AWS::DynamoDB::Table`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    /// `store.table`.
    pub table_name: String,
    /// Always `PAY_PER_REQUEST`.
    pub billing_mode: &'static str,
    /// The key attributes and their types.
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// The key: partition (`HASH`), then sort (`RANGE`).
    pub key_schema: Vec<KeySchemaElement>,
}

/// One attribute of a table's key.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    /// Its name.
    pub attribute_name: String,
    /// `S`: stockrun writes key values as strings.
    pub attribute_type: &'static str,
}

/// One element of a table's key schema.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    /// The attribute.
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: &'static str,
}

/// `AWS::Logs::LogGroup`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroup {
    /// `/aws/lambda/FUNCTION`, where Lambda writes.
    pub log_group_name: String,
    /// Days kept.
    pub retention_in_days: u32,
}

/// `AWS::IAM::Role`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    /// Who may assume it.
    pub assume_role_policy_document: PolicyDocument,
    /// Inline policies.
    pub policies: Vec<Policy>,
}

/// An inline policy.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    /// Its name.
    pub policy_name: String,
    /// What it allows.
    pub policy_document: PolicyDocument,
}

/// An IAM policy document.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// Always `2012-10-17`.
    pub version: &'static str,
    /// The statements.
    pub statement: Vec<Statement>,
}

/// One statement: always `Allow`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// `Sid`: what the statement is for.
    pub sid: String,
    /// Always `Allow`.
    pub effect: &'static str,
    /// The service that may assume a role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// The actions.
    pub action: Vec<&'static str>,
    /// The resources they apply to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Str>,
}

/// A service principal.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Principal {
    /// Such as `lambda.amazonaws.com`.
    pub service: &'static str,
}

/// `AWS::Lambda::Function`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Function {
    /// Its name (the log group is named after it).
    pub function_name: String,
    /// What it runs.
    pub description: String,
    /// `provided.al2023`: the binary is the runtime.
    pub runtime: &'static str,
    /// `bootstrap`, the binary's name in the zip.
    pub handler: &'static str,
    /// `x86_64`.
    pub architectures: Vec<&'static str>,
    /// The zip in S3.
    pub code: Code,
    /// The execution role's ARN.
    pub role: Str,
    /// Seconds one invocation may take.
    pub timeout: u64,
    /// MB of memory.
    pub memory_size: u32,
    /// Environment variables.
    pub environment: Environment,
}

/// Where a function's zip is.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Code {
    /// The bucket.
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Str,
    /// The object key.
    #[serde(rename = "S3Key")]
    pub s3_key: Str,
}

/// A function's environment.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// Name → value.
    pub variables: IndexMap<String, Str>,
}

/// `AWS::Lambda::EventSourceMapping`: SQS delivers batches to the function.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSourceMapping {
    /// The queue's ARN.
    pub event_source_arn: Str,
    /// The function.
    pub function_name: Str,
    /// `queue.batch_size`.
    pub batch_size: u32,
    /// `queue.batch_window`, in seconds.
    pub maximum_batching_window_in_seconds: u64,
    /// `ReportBatchItemFailures`: only the failed messages are retried.
    pub function_response_types: Vec<&'static str>,
}

/// `AWS::Scheduler::Schedule`: the poll schedule (EventBridge Scheduler, which reads the cron
/// in a time zone, daylight saving time included).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Schedule {
    /// Says which `source.schedule` it came from.
    pub description: String,
    /// `OFF`: invoke at the minute the cron names.
    pub flexible_time_window: FlexibleTimeWindow,
    /// `cron(...)`.
    pub schedule_expression: String,
    /// The IANA zone the cron is read in.
    pub schedule_expression_timezone: String,
    /// `ENABLED`.
    pub state: &'static str,
    /// The function, and the role the scheduler invokes it with.
    pub target: ScheduleTarget,
}

/// A schedule's flexible time window.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FlexibleTimeWindow {
    /// `OFF`.
    pub mode: &'static str,
}

/// A schedule's target: the function.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleTarget {
    /// The function's ARN.
    pub arn: Str,
    /// The event the function receives (`deploy::SCHEDULED_EVENT`).
    pub input: String,
    /// The role the scheduler assumes to invoke the function.
    pub role_arn: Str,
}
