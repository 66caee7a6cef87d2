//! The roles: the function's, assumable by Lambda only and allowed only the calls the code makes,
//! on the pipeline's own resources; and the schedule's, assumable by EventBridge Scheduler only
//! and allowed only to invoke the function. No `*` resource, no managed policy.
//!
//! The calls, checked against the code: the SQS event source mapping receives and deletes with
//! the function's role and reads the queue's attributes (ReceiveMessage, DeleteMessage,
//! GetQueueAttributes); the handler releases poison records for redelivery at once with
//! ChangeMessageVisibilityBatch (`runtime::batch::release_poison` → `SqsQueue::release`),
//! authorised as `sqs:ChangeMessageVisibility`; the scheduled poll looks the queue up by name
//! (GetQueueUrl, `src/queue/sqs/lookup.rs`) and sends with SendMessageBatch, which IAM authorises
//! as `sqs:SendMessage` (`send.rs`); the store writes with BatchWriteItem
//! (`src/store/dynamodb`); when the pipeline mails it reads stored records back by key with
//! BatchGetItem (is a record new?), and with alert rules a series' previous record and windows
//! with Query (`src/store/dynamodb/read.rs`); with alert rules, the
//! alert table (`src/alert/ledger/dynamodb`) is read with BatchGetItem (series states), GetItem
//! (the last digest) and Query (the outbox), written with TransactWriteItems of Puts (IAM
//! authorises each as `dynamodb:PutItem`; no ConditionCheck is used) and PutItem (the digest),
//! claimed with UpdateItem and settled with BatchWriteItem; every pipeline's scheduled poll
//! records the feed status in the alert table (`src/source/status/dynamodb.rs`) with
//! BatchWriteItem, after a BatchGetItem of the failed feeds' items; e-mail goes through SES v2 SendEmail (`src/notify/ses.rs`),
//! authorised on the sender's identities; Lambda writes its logs to the log group the template
//! creates. The dead-letter queue is filled by SQS
//! itself: the function needs no access to it.

use super::model::Str;
use super::properties::{Policy, PolicyDocument, Principal, Role, Statement};
use super::{ALERT_TABLE, FUNCTION, LOG_GROUP, QUEUE, TABLE};
use crate::resources::Sender;

/// The execution role; `sender` is `None` when the pipeline sends no e-mail, `mails` when it
/// has a notify section, `alerts` when it has alert rules (which keep their state in the alert
/// table, where every pipeline keeps its feed status).
pub fn role(sender: Option<&Sender>, mails: bool, alerts: bool) -> Role {
    let mut statement = vec![
        allow(
            "WriteLogs",
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            vec![Str::attribute(LOG_GROUP, "Arn")],
        ),
        allow(
            "ReceiveBatches",
            &[
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ChangeMessageVisibility",
            ],
            vec![Str::attribute(QUEUE, "Arn")],
        ),
        allow(
            "QueuePolledRecords",
            &["sqs:GetQueueUrl", "sqs:SendMessage"],
            vec![Str::attribute(QUEUE, "Arn")],
        ),
        allow(
            "StoreRecords",
            &["dynamodb:BatchWriteItem"],
            vec![Str::attribute(TABLE, "Arn")],
        ),
        allow(
            "RecordFeedStatus",
            &["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"],
            vec![Str::attribute(ALERT_TABLE, "Arn")],
        ),
    ];
    if mails {
        let reads: &[&'static str] = if alerts {
            &["dynamodb:BatchGetItem", "dynamodb:Query"]
        } else {
            &["dynamodb:BatchGetItem"]
        };
        statement.push(allow(
            "ReadStoredRecords",
            reads,
            vec![Str::attribute(TABLE, "Arn")],
        ));
    }
    if alerts {
        statement.push(allow(
            "AlertLedger",
            &[
                "dynamodb:BatchGetItem",
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:BatchWriteItem",
            ],
            vec![Str::attribute(ALERT_TABLE, "Arn")],
        ));
    }
    if let Some(sender) = sender {
        let identity = |name: &str| {
            Str::sub(format!(
                "arn:${{AWS::Partition}}:ses:${{AWS::Region}}:${{AWS::AccountId}}:identity/{name}"
            ))
        };
        statement.push(allow(
            "SendEmail",
            &["ses:SendEmail"],
            vec![identity(&sender.address), identity(&sender.domain)],
        ));
    }
    Role {
        assume_role_policy_document: assumed_by("LambdaAssumesRole", "lambda.amazonaws.com"),
        policies: vec![Policy {
            policy_name: "stockrun-pipeline".to_owned(),
            policy_document: PolicyDocument {
                version: "2012-10-17",
                statement,
            },
        }],
    }
}

/// The role EventBridge Scheduler assumes to start a poll: `lambda:InvokeFunction` on the
/// function, nothing else.
pub fn scheduler_role() -> Role {
    Role {
        assume_role_policy_document: assumed_by("SchedulerAssumesRole", "scheduler.amazonaws.com"),
        policies: vec![Policy {
            policy_name: "stockrun-schedule".to_owned(),
            policy_document: PolicyDocument {
                version: "2012-10-17",
                statement: vec![allow(
                    "InvokeFunction",
                    &["lambda:InvokeFunction"],
                    vec![Str::attribute(FUNCTION, "Arn")],
                )],
            },
        }],
    }
}

/// A trust policy: `service` (only) may assume the role.
fn assumed_by(sid: &str, service: &'static str) -> PolicyDocument {
    PolicyDocument {
        version: "2012-10-17",
        statement: vec![Statement {
            sid: sid.to_owned(),
            effect: "Allow",
            principal: Some(Principal { service }),
            action: vec!["sts:AssumeRole"],
            resource: Vec::new(),
        }],
    }
}

fn allow(sid: &str, actions: &[&'static str], resource: Vec<Str>) -> Statement {
    Statement {
        sid: sid.to_owned(),
        effect: "Allow",
        principal: None,
        action: actions.to_vec(),
        resource,
    }
}
