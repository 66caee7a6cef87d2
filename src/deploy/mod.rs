//! `stockrun deploy-template`: the CloudFormation template that runs a pipeline on AWS Lambda —
//! the queue and its dead-letter queue, the function with its SQS trigger and its schedule, the
//! table, the log group and a role allowed only what the code calls.

pub mod cron;
