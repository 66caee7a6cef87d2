//! Builds the template from a loaded pipeline and the options: the checks first (`plan`), then
//! one function per resource.

use indexmap::IndexMap;

use super::alarms;
use super::iam::{role, scheduler_role};
use super::model::{Output, Parameter, Resource, Str, Template};
use super::parameters::Variable;
use super::plan::{Plan, Source, plan};
use super::properties::{
    AttributeDefinition, Code, Environment, EventSourceMapping, FlexibleTimeWindow, Function,
    KeySchemaElement, LogGroup, Properties, Queue, RedrivePolicy, Schedule, ScheduleTarget, Table,
};
use super::{
    ALARM_EMAIL, ALERT_TABLE, CODE_PARAMETERS, DEAD_LETTER_QUEUE, DeployError, FUNCTION,
    HAS_ALARM_EMAIL, LOG_GROUP, Options, QUEUE, ROLE, SCHEDULE, SCHEDULED_EVENT, SCHEDULER_ROLE,
    TABLE, TRIGGER,
};
use crate::config::Pipeline;
use crate::naming::{KEY_ATTRIBUTE_TYPE, PIPELINE_VARIABLE};
use crate::resources::{QueueResource, TableResource, has_alert_rules};

/// The template for `source.pipeline`.
pub fn template(source: Source<'_>, options: &Options) -> Result<Template, DeployError> {
    let plan = plan(source, options)?;
    let pipeline = source.pipeline;
    let name = &pipeline.name.value;
    let mut parameters = IndexMap::new();
    parameters.insert(
        CODE_PARAMETERS[0].to_owned(),
        parameter("S3 bucket holding the function's zip (`bootstrap` and the pipeline file)"),
    );
    parameters.insert(
        CODE_PARAMETERS[1].to_owned(),
        parameter("S3 key of the function's zip"),
    );
    for variable in &plan.variables {
        if secret_reference(variable, options).is_none() {
            parameters.insert(variable.parameter.clone(), variable_parameter(variable));
        }
    }
    let mut resources = IndexMap::new();
    resources.insert(
        DEAD_LETTER_QUEUE.to_owned(),
        dead_letter_queue(&plan.resources.queue),
    );
    resources.insert(QUEUE.to_owned(), queue(&plan.resources.queue));
    resources.insert(TABLE.to_owned(), table(&plan.resources.table));
    resources.insert(ALERT_TABLE.to_owned(), table(&plan.resources.alerts));
    resources.insert(LOG_GROUP.to_owned(), log_group(&plan, options));
    resources.insert(
        ROLE.to_owned(),
        resource(
            "AWS::IAM::Role",
            Properties::Role(role(
                plan.sender.as_ref(),
                pipeline.notify.is_some(),
                has_alert_rules(pipeline),
            )),
        ),
    );
    resources.insert(FUNCTION.to_owned(), function(name, &plan, options));
    resources.insert(TRIGGER.to_owned(), trigger(pipeline, &plan));
    resources.insert(
        SCHEDULER_ROLE.to_owned(),
        resource("AWS::IAM::Role", Properties::Role(scheduler_role())),
    );
    resources.insert(SCHEDULE.to_owned(), schedule(pipeline, &plan));
    parameters.insert(ALARM_EMAIL.to_owned(), alarms::email_parameter());
    let mut conditions = IndexMap::new();
    conditions.insert(HAS_ALARM_EMAIL.to_owned(), alarms::email_given());
    for (id, alarm) in alarms::resources(pipeline, source.schedule.gaps()) {
        resources.insert(id.to_owned(), alarm);
    }
    let mut outputs = IndexMap::new();
    let mut output = |id: &str, description: &str, value: Str| {
        outputs.insert(
            id.to_owned(),
            Output {
                description: description.to_owned(),
                value,
            },
        );
    };
    output("QueueUrl", "URL of the queue", Str::reference(QUEUE));
    output(
        "DeadLetterQueueUrl",
        "URL of the dead-letter queue (poison records)",
        Str::reference(DEAD_LETTER_QUEUE),
    );
    output(
        "TableName",
        "The table records are stored in",
        Str::reference(TABLE),
    );
    output(
        "FunctionName",
        "The Lambda function",
        Str::reference(FUNCTION),
    );
    output(
        "FunctionArn",
        "ARN of the Lambda function",
        Str::attribute(FUNCTION, "Arn"),
    );
    Ok(Template {
        format_version: "2010-09-09",
        description: format!(
            "stockrun pipeline `{name}` on AWS Lambda: poll on cron({}) in {}, queue in {}, store in {}",
            plan.schedule, plan.timezone, plan.resources.queue.name, plan.resources.table.name
        ),
        parameters,
        conditions,
        resources,
        outputs,
    })
}

fn parameter(description: &str) -> Parameter {
    Parameter {
        kind: "String",
        description: description.to_owned(),
        no_echo: None,
        default: None,
    }
}

/// With `--secrets-manager`, a secret variable's dynamic reference: CloudFormation reads the
/// key named like the variable from the secret's JSON when it deploys.
fn secret_reference(variable: &Variable, options: &Options) -> Option<Str> {
    let secret = options
        .secrets_manager
        .as_ref()
        .filter(|_| variable.secret)?;
    Some(Str::Literal(format!(
        "{{{{resolve:secretsmanager:{secret}:SecretString:{}}}}}",
        variable.name
    )))
}

fn variable_parameter(variable: &Variable) -> Parameter {
    let description = if variable.secret {
        format!(
            "${{{}}} of the pipeline (a secret: not shown by CloudFormation)",
            variable.name
        )
    } else {
        format!("${{{}}} of the pipeline", variable.name)
    };
    Parameter {
        kind: "String",
        description,
        no_echo: variable.secret.then_some(true),
        default: variable.default.clone(),
    }
}

fn resource(kind: &'static str, properties: Properties) -> Resource {
    Resource::new(kind, properties)
}

/// A named resource that goes with the stack, said explicitly. Keeping it would make the next
/// stack with the same pipeline fail: its name would be taken.
fn deleted_with_stack(kind: &'static str, properties: Properties) -> Resource {
    Resource {
        deletion_policy: Some("Delete"),
        update_replace_policy: Some("Delete"),
        ..resource(kind, properties)
    }
}

fn dead_letter_queue(queue: &QueueResource) -> Resource {
    deleted_with_stack(
        "AWS::SQS::Queue",
        Properties::Queue(Queue {
            queue_name: queue.dead_letter.clone(),
            visibility_timeout: None,
            message_retention_period: Some(queue.dead_letter_retention.as_secs()),
            redrive_policy: None,
        }),
    )
}

fn queue(queue: &QueueResource) -> Resource {
    deleted_with_stack(
        "AWS::SQS::Queue",
        Properties::Queue(Queue {
            queue_name: queue.name.clone(),
            visibility_timeout: Some(queue.visibility_timeout.as_secs()),
            message_retention_period: Some(queue.retention.as_secs()),
            redrive_policy: Some(RedrivePolicy {
                dead_letter_target_arn: Str::attribute(DEAD_LETTER_QUEUE, "Arn"),
                max_receive_count: queue.max_receive_count,
            }),
        }),
    )
}

fn table(table: &TableResource) -> Resource {
    Resource {
        // The data outlives the stack: deleting or replacing it keeps the table.
        deletion_policy: Some("Retain"),
        update_replace_policy: Some("Retain"),
        ..resource(
            "AWS::DynamoDB::Table",
            Properties::Table(Table {
                table_name: table.name.clone(),
                billing_mode: table.billing_mode,
                attribute_definitions: table
                    .key
                    .iter()
                    .map(|attribute| AttributeDefinition {
                        attribute_name: attribute.name.clone(),
                        attribute_type: KEY_ATTRIBUTE_TYPE,
                    })
                    .collect(),
                key_schema: table
                    .key
                    .iter()
                    .map(|attribute| KeySchemaElement {
                        attribute_name: attribute.name.clone(),
                        key_type: attribute.role.key_type(),
                    })
                    .collect(),
            }),
        )
    }
}

fn log_group(plan: &Plan, options: &Options) -> Resource {
    deleted_with_stack(
        "AWS::Logs::LogGroup",
        Properties::LogGroup(LogGroup {
            log_group_name: format!("/aws/lambda/{}", plan.function_name),
            retention_in_days: options.log_retention_days,
        }),
    )
}

fn function(name: &str, plan: &Plan, options: &Options) -> Resource {
    let mut variables = IndexMap::new();
    variables.insert(
        PIPELINE_VARIABLE.to_owned(),
        Str::Literal(options.pipeline_path.clone()),
    );
    for variable in &plan.variables {
        let value = secret_reference(variable, options)
            .unwrap_or_else(|| Str::reference(&variable.parameter));
        variables.insert(variable.name.clone(), value);
    }
    Resource {
        // Lambda may not create its log group (the role does not allow it): this one first.
        depends_on: vec![LOG_GROUP.to_owned()],
        ..resource(
            "AWS::Lambda::Function",
            Properties::Function(Function {
                function_name: plan.function_name.clone(),
                description: format!(
                    "stockrun pipeline `{name}`: SQS batches are processed and stored{}; the schedule polls the API",
                    if plan.sender.is_some() {
                        ", then e-mailed"
                    } else {
                        ""
                    }
                ),
                runtime: "provided.al2023",
                handler: "bootstrap",
                architectures: vec!["x86_64"],
                code: Code {
                    s3_bucket: Str::reference(CODE_PARAMETERS[0]),
                    s3_key: Str::reference(CODE_PARAMETERS[1]),
                },
                role: Str::attribute(ROLE, "Arn"),
                timeout: plan.timeout,
                memory_size: options.memory_size,
                environment: Environment { variables },
            }),
        )
    }
}

fn trigger(pipeline: &Pipeline, plan: &Plan) -> Resource {
    resource(
        "AWS::Lambda::EventSourceMapping",
        Properties::EventSourceMapping(EventSourceMapping {
            event_source_arn: Str::attribute(QUEUE, "Arn"),
            function_name: Str::reference(FUNCTION),
            batch_size: *pipeline.queue.batch_size,
            maximum_batching_window_in_seconds: plan.batch_window,
            function_response_types: vec!["ReportBatchItemFailures"],
        }),
    )
}

fn schedule(pipeline: &Pipeline, plan: &Plan) -> Resource {
    let source = &pipeline.source;
    let active = if source.active.is_some() {
        "; outside source.active the function polls nothing"
    } else {
        ""
    };
    resource(
        "AWS::Scheduler::Schedule",
        Properties::Schedule(Schedule {
            description: format!(
                "Polls for stockrun pipeline `{}`: source.schedule `{}` ({}){active}",
                pipeline.name.value, source.schedule.value, plan.timezone
            ),
            flexible_time_window: FlexibleTimeWindow { mode: "OFF" },
            schedule_expression: format!("cron({})", plan.schedule),
            schedule_expression_timezone: plan.timezone.to_owned(),
            state: "ENABLED",
            target: ScheduleTarget {
                arn: Str::attribute(FUNCTION, "Arn"),
                input: SCHEDULED_EVENT.to_owned(),
                role_arn: Str::attribute(SCHEDULER_ROLE, "Arn"),
            },
        }),
    )
}
