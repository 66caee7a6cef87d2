//! What a pipeline needs on AWS, described once: the queue and its dead-letter queue (names,
//! redrive after `max_receive_count`, visibility timeout, retention), the table (name, key
//! schema, billing mode), the alert table (alert state and every feed's last poll), and the e-mail
//! sender's identity, and the alarms' thresholds (`deploy/` writes the alarms). `stockrun init` provisions from it (through each backend's
//! `provision` module) and `deploy/` writes the CloudFormation resources from it, so the two
//! cannot disagree on a name or a key. A leaf: it knows the pipeline model and [`naming`].

use std::time::Duration;

use crate::config::Pipeline;
use crate::naming::{self, KeyAttribute};

/// The time a received message needs beyond the batch window before it may be handed out again:
/// processing, the store write and the delete. It is what the default visibility timeout adds to
/// the window ([`default_visibility`]), the shortest visibility a queue made for `stockrun run` /
/// `consume` gets ([`development_visibility`]: short ones hand a message out again while it is
/// still being processed), and how much longer than a retry pause the consumer hides a held
/// batch.
pub const PROCESSING_ALLOWANCE: Duration = Duration::from_secs(30);

/// How long SQS keeps a dead letter: 14 days, the most it allows, so there is time to look
/// (longer than the queue's: a message keeps its first enqueue time when it is dead-lettered).
const DEAD_LETTER_RETENTION: Duration = Duration::from_secs(14 * 86_400);

/// The "feed went silent" alarm fires after this many of the schedule's longest gaps without a
/// poll in which every feed answered.
pub const SILENT_PERIODS: u32 = 3;

/// The quota alarm fires when the API's remaining requests fall under this share of its limit.
pub const QUOTA_ALARM_FLOOR: f64 = 0.1;

/// The period of the alarms on the dead-letter queue, errors and the quota: 5 minutes.
pub const ALARM_PERIOD: Duration = Duration::from_secs(300);

/// Whether the pipeline's alarms include the quota one: only when it declares `source.quota`
/// (the metric comes from the API's rate-limit headers).
pub fn alarms_on_quota(pipeline: &Pipeline) -> bool {
    pipeline.source.quota.is_some()
}

/// Whether the pipeline has alert rules (`notify.rules`): then its function keeps alert state
/// in the alert table, besides the feed status every pipeline keeps there.
pub fn has_alert_rules(pipeline: &Pipeline) -> bool {
    pipeline
        .notify
        .as_ref()
        .is_some_and(|notify| !notify.rules.is_empty())
}

/// How long the queue keeps a message: SQS's default of 4 days, written out.
const QUEUE_RETENTION: Duration = Duration::from_secs(4 * 86_400);

/// How the table is billed: on demand (DynamoDB's and CloudFormation's name), so an idle
/// pipeline costs nothing and a burst needs no capacity planning.
const TABLE_BILLING_MODE: &str = "PAY_PER_REQUEST";

/// How many times the function timeout AWS asks an SQS trigger's queue to hide a message.
const LAMBDA_TIMEOUTS_PER_VISIBILITY: u32 = 6;

/// The AWS resources of one pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resources {
    /// The queue and its dead-letter queue.
    pub queue: QueueResource,
    /// The table records are stored in.
    pub table: TableResource,
    /// The table beside it: the alert rules' state, ledger and outbox
    /// (`alert::ledger::dynamodb`) and every feed's last poll (`source::status::dynamodb`), so
    /// every pipeline has one, with alert rules or without.
    pub alerts: TableResource,
    /// `notify.from`, when the pipeline sends e-mail (see [`Resources::sender`]).
    from: Option<String>,
}

/// The pipeline's queue, a standard SQS queue, and the dead-letter queue its redrive policy
/// names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueResource {
    /// The queue's name ([`naming::queue_name`]).
    pub name: String,
    /// The dead-letter queue's name ([`naming::dead_letter_queue_name`]).
    pub dead_letter: String,
    /// Receives after which a message goes to the dead-letter queue (`queue.max_receive_count`).
    pub max_receive_count: u32,
    /// How long a received message stays hidden ([`development_visibility`] or
    /// [`lambda_visibility`]).
    pub visibility_timeout: Duration,
    /// How long the queue keeps a message (`MessageRetentionPeriod`): 4 days.
    pub retention: Duration,
    /// How long the dead-letter queue keeps a message: 14 days, SQS's most.
    pub dead_letter_retention: Duration,
}

/// The pipeline's table: on-demand billing, keyed by string attributes
/// ([`naming::KEY_ATTRIBUTE_TYPE`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableResource {
    /// `store.table`.
    pub name: String,
    /// The key schema, partition key first ([`naming::table_key`]).
    pub key: Vec<KeyAttribute>,
    /// The billing mode as DynamoDB and CloudFormation name it: `PAY_PER_REQUEST`.
    pub billing_mode: &'static str,
}

impl TableResource {
    /// The key as `init` prints it: `symbol HASH, quoted_at RANGE`.
    pub fn describe_key(&self) -> String {
        self.key
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The identity e-mails are sent from (an SES identity; IAM allows sending from it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// The address, such as `bot@example.com`.
    pub address: String,
    /// Its domain, such as `example.com`.
    pub domain: String,
}

impl Sender {
    /// The sender of `from` (`bot@example.com` or `Bot <bot@example.com>`). `validate` has
    /// parsed it already (`notify::render::addresses`); this parses the pipeline's text again
    /// because the resources are described from the pipeline alone.
    pub fn parse(from: &str) -> Result<Sender, SenderError> {
        let mailbox = from
            .parse::<lettre::message::Mailbox>()
            .map_err(|error| SenderError {
                from: from.to_owned(),
                reason: error.to_string(),
            })?;
        Ok(Sender::of(&mailbox))
    }

    /// The sender of an address already parsed.
    pub fn of(mailbox: &lettre::message::Mailbox) -> Sender {
        Sender {
            address: mailbox.email.to_string(),
            domain: mailbox.email.domain().to_owned(),
        }
    }
}

/// `notify.from` is not an e-mail address (only for a pipeline whose `from` comes from an unset
/// variable: `validate` rejects the others).
#[derive(Debug, thiserror::Error)]
#[error("notify.from `{from}` is not an e-mail address: {reason}")]
pub struct SenderError {
    /// As written.
    pub from: String,
    /// The parser's message.
    pub reason: String,
}

/// What provisioning a resource found or did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provisioned {
    /// It was there already (and was left as it was).
    Existed,
    /// It was created now.
    Created,
}

impl Resources {
    /// The resources of `pipeline`, its queue hiding a received message for
    /// `visibility_timeout`. The queue is a standard one: `validate` refuses a FIFO queue name.
    pub fn new(pipeline: &Pipeline, visibility_timeout: Duration) -> Resources {
        let name = naming::queue_name(pipeline);
        Resources {
            queue: QueueResource {
                dead_letter: naming::dead_letter_queue_name(&name),
                name,
                max_receive_count: *pipeline.queue.max_receive_count,
                visibility_timeout,
                retention: QUEUE_RETENTION,
                dead_letter_retention: DEAD_LETTER_RETENTION,
            },
            table: TableResource {
                name: pipeline.store.table.value.clone(),
                key: naming::table_key(pipeline),
                billing_mode: TABLE_BILLING_MODE,
            },
            alerts: TableResource {
                name: naming::alert_table(&pipeline.store.table),
                key: naming::alert_table_key(),
                billing_mode: TABLE_BILLING_MODE,
            },
            from: pipeline.notify.as_ref().map(|n| n.from.value.clone()),
        }
    }

    /// The identity e-mails are sent from, when the pipeline sends any.
    pub fn sender(&self) -> Option<Result<Sender, SenderError>> {
        self.from.as_deref().map(Sender::parse)
    }
}

/// How long a message received by `stockrun run` / `consume` stays hidden when no
/// `--visibility-timeout` is given: the batch window, then [`PROCESSING_ALLOWANCE`].
pub fn default_visibility(pipeline: &Pipeline) -> Duration {
    pipeline.queue.batch_window.value.0 + PROCESSING_ALLOWANCE
}

/// The visibility timeout of a queue read by `stockrun run` / `consume`: `visibility` (the
/// consumer's, longer than the batch window) but at least [`PROCESSING_ALLOWANCE`].
pub fn development_visibility(visibility: Duration) -> Duration {
    visibility.max(PROCESSING_ALLOWANCE)
}

/// The visibility timeout of a queue that triggers a Lambda function: six times the function's
/// timeout (what AWS asks for, so a batch being retried by the trigger is not handed out again)
/// plus the batching window in whole seconds, as the event source mapping has it.
pub fn lambda_visibility(function_timeout: Duration, batch_window: Duration) -> Duration {
    function_timeout
        .saturating_mul(LAMBDA_TIMEOUTS_PER_VISIBILITY)
        .saturating_add(batch_window)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipeline whose queue is `queue_name` (dead-lettering after 4 receives), with `notify`.
    fn pipeline(queue_name: &str, notify: &str) -> Pipeline {
        let queue = format!("  name: {queue_name}\n  max_receive_count: 4");
        naming::tests::pipeline(&queue, naming::tests::PARTITION, notify)
    }

    #[test]
    fn a_pipeline_needs_a_queue_with_a_dead_letter_queue_and_a_table() {
        let resources = Resources::new(&pipeline("quotes", ""), Duration::from_secs(50));
        assert_eq!(
            resources.queue,
            QueueResource {
                name: "quotes".to_owned(),
                dead_letter: "quotes-dlq".to_owned(),
                max_receive_count: 4,
                visibility_timeout: Duration::from_secs(50),
                retention: Duration::from_secs(4 * 86_400),
                dead_letter_retention: Duration::from_secs(14 * 86_400),
            }
        );
        assert_eq!(resources.table.billing_mode, "PAY_PER_REQUEST");
        assert_eq!(resources.table.name, "quotes");
        assert_eq!(resources.table.describe_key(), "symbol HASH");
        assert!(resources.sender().is_none(), "no notify section");
    }

    #[test]
    fn every_pipeline_has_an_alert_table_beside_the_records_table() {
        // Without alert rules too: the feed status lives there.
        let resources = Resources::new(&pipeline("quotes", ""), Duration::from_secs(50));
        let alerts = resources.alerts;
        assert_eq!(alerts.name, "quotes-alerts");
        assert_eq!(alerts.describe_key(), "pk HASH, sk RANGE");
        assert_eq!(alerts.billing_mode, "PAY_PER_REQUEST");
    }

    #[test]
    fn the_sender_is_the_address_of_notify_from() {
        let notify = "notify:\n  from: Quotes <bot@example.com>\n  to: [me@example.com]\n  \
                      subject: s\n  text: t\n";
        let resources = Resources::new(&pipeline("quotes", notify), Duration::from_secs(50));
        let sender = resources.sender().expect("notify").expect("an address");
        assert_eq!(
            sender,
            Sender {
                address: "bot@example.com".to_owned(),
                domain: "example.com".to_owned(),
            }
        );
        assert!(Sender::parse("not an address").is_err());
    }

    #[test]
    fn visibility_timeouts_follow_who_reads_the_queue() {
        let quotes = pipeline("quotes", "");
        assert_eq!(
            default_visibility(&quotes),
            quotes.queue.batch_window.value.0 + Duration::from_secs(30),
            "the batch window, then the allowance"
        );
        assert_eq!(
            development_visibility(Duration::from_secs(5)),
            Duration::from_secs(30)
        );
        assert_eq!(
            development_visibility(Duration::from_secs(90)),
            Duration::from_secs(90)
        );
        assert_eq!(
            lambda_visibility(Duration::from_secs(30), Duration::from_secs(20)),
            Duration::from_secs(200)
        );
    }
}
