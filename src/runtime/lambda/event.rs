//! What a Lambda invocation is: an SQS batch from the event source mapping, an EventBridge
//! scheduled event (from a rule, or from the template's EventBridge Scheduler schedule), or
//! something this function was not deployed for (an error that names the kinds it accepts, rather
//! than a guess).

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

use crate::queue::Received;

/// The invocations the function handles.
#[derive(Debug)]
pub enum Invocation {
    /// A batch of queued messages: process, store, e-mail, report the failed ones.
    Sqs(Vec<Received>),
    /// The schedule fired: poll once and queue every record.
    Scheduled,
}

/// Why an event is not one the function handles.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// Neither an SQS batch nor a scheduled event.
    #[error(
        "unsupported event ({found}): stockrun handles an SQS event source mapping batch (`Records` with `eventSource: aws:sqs`) and an EventBridge scheduled event (`source: aws.events` or `aws.scheduler`, `detail-type: Scheduled Event`)"
    )]
    Unsupported {
        /// What the event looked like, in a few words (never its content).
        found: String,
    },
    /// An SQS event whose record lacks what the handler needs.
    #[error("SQS record {index} has no {missing}: not an event from an SQS event source mapping")]
    IncompleteRecord {
        /// The record's position in `Records`.
        index: usize,
        /// The missing attribute.
        missing: &'static str,
    },
}

/// Tells which invocation `event` is. An SQS record without a message id cannot be reported in
/// `batchItemFailures`, so it is refused rather than silently treated as done.
pub fn classify(event: Value) -> Result<Invocation, EventError> {
    if is_sqs(&event) {
        let sqs: SqsEvent =
            serde_json::from_value(event).map_err(|error| EventError::Unsupported {
                found: format!("`Records` that are not SQS messages: {error}"),
            })?;
        return sqs
            .records
            .into_iter()
            .enumerate()
            .map(|(index, record)| {
                let missing = |missing| EventError::IncompleteRecord { index, missing };
                let receive_count = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|count| count.parse().ok())
                    .unwrap_or(1);
                Ok(Received {
                    id: record.message_id.ok_or_else(|| missing("messageId"))?,
                    receipt: record.receipt_handle.unwrap_or_default(),
                    body: record.body.ok_or_else(|| missing("body"))?,
                    receive_count,
                })
            })
            .collect::<Result<_, _>>()
            .map(Invocation::Sqs);
    }
    // EventBridge rules send `aws.events`; the template's EventBridge Scheduler schedule sends
    // the same shape with `aws.scheduler` (its `Input`, `deploy::template`).
    let source = event.get("source").and_then(Value::as_str);
    if matches!(source, Some("aws.events" | "aws.scheduler"))
        && event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
    {
        return Ok(Invocation::Scheduled);
    }
    Err(EventError::Unsupported {
        found: describe(&event),
    })
}

/// The SQS event source mapping batch AWS would send for messages with these `bodies` from
/// queue `queue` (its name) in `region`, each received once (`stockrun invoke`). Message ids
/// are UUID-shaped and unique per call; receipt handles are made up, so a queue asked to release
/// one ignores it (locally) or refuses it (SQS; logged). `md5OfBody` is left out: the handler
/// does not read it.
pub fn sqs_event(bodies: &[String], queue: &str, region: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let millis = now.as_millis().to_string();
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(index, body)| {
            let id = format!(
                "{:08x}-{:04x}-4000-8000-{:012x}",
                now.as_secs() & 0xffff_ffff,
                index & 0xffff,
                u64::from(now.subsec_nanos()) << 8 | (index as u64 & 0xff)
            );
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("stockrun-invoke-{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": millis,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": millis,
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:{region}:123456789012:{queue}"),
                "awsRegion": region,
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// The event the template's EventBridge Scheduler schedule sends (`deploy::SCHEDULED_EVENT`),
/// with its time filled in as the scheduler fills it.
pub fn scheduled_event(time: chrono::DateTime<chrono::Utc>) -> Value {
    let mut event: Value =
        serde_json::from_str(crate::deploy::SCHEDULED_EVENT).expect("the event is JSON");
    event["time"] = Value::String(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    event
}

/// An event with `Records` whose every record comes from SQS.
fn is_sqs(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|records| {
            records
                .iter()
                .all(|record| record.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        })
}

/// A few words on an unknown event's shape: its `source`/`eventSource` or its top-level keys.
fn describe(event: &Value) -> String {
    let source = event.get("source").or_else(|| {
        event
            .get("Records")
            .and_then(|records| records.get(0))
            .and_then(|record| {
                record
                    .get("eventSource")
                    .or_else(|| record.get("EventSource"))
            })
    });
    if let Some(source) = source.and_then(Value::as_str) {
        let detail = event
            .get("detail-type")
            .and_then(Value::as_str)
            .map(|kind| format!(", detail-type `{kind}`"))
            .unwrap_or_default();
        return format!("source `{source}`{detail}");
    }
    match event.as_object() {
        Some(object) if object.is_empty() => "an empty object".to_owned(),
        Some(object) => {
            let keys: Vec<&str> = object.keys().take(5).map(String::as_str).collect();
            format!("an object with keys {}", keys.join(", "))
        }
        None => format!("a JSON {}", crate::message::json_kind(event)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/lambda/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_aws_docs_sqs_sample_is_a_batch_with_ids_bodies_and_receive_counts() {
        let Invocation::Sqs(messages) = classify(fixture("sqs-event.json")).unwrap() else {
            panic!("not an SQS batch");
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].id, "059f36b4-87a3-44ab-83d2-661975830a7d");
        assert_eq!(messages[0].body, "Test message.");
        assert_eq!(messages[0].receive_count, 1);
        assert!(messages[1].receipt.starts_with("AQEB"));
    }

    #[test]
    fn the_aws_docs_scheduled_event_sample_is_scheduled() {
        assert!(matches!(
            classify(fixture("scheduled-event.json")).unwrap(),
            Invocation::Scheduled
        ));
    }

    #[test]
    fn the_event_the_templates_schedule_sends_is_scheduled() {
        let event = serde_json::from_str(crate::deploy::SCHEDULED_EVENT).unwrap();
        assert!(matches!(classify(event).unwrap(), Invocation::Scheduled));
    }

    #[test]
    fn the_built_events_are_the_ones_the_handler_takes() {
        let bodies = vec!["{}".to_owned(), "[]".to_owned()];
        let Invocation::Sqs(messages) = classify(sqs_event(&bodies, "q", "eu-west-1")).unwrap()
        else {
            panic!("not an SQS batch");
        };
        assert_eq!(messages.len(), 2);
        assert_ne!(messages[0].id, messages[1].id);
        assert_eq!(messages[1].body, "[]");
        assert_eq!(messages[0].receive_count, 1);
        let time = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let event = scheduled_event(time);
        assert_eq!(event["time"], "2023-11-14T22:13:20Z");
        assert!(matches!(classify(event).unwrap(), Invocation::Scheduled));
    }

    #[test]
    fn an_sqs_record_without_a_message_id_is_refused() {
        let mut event = fixture("sqs-event.json");
        event["Records"][1]
            .as_object_mut()
            .unwrap()
            .remove("messageId");
        assert_eq!(
            classify(event).unwrap_err(),
            EventError::IncompleteRecord {
                index: 1,
                missing: "messageId"
            }
        );
    }

    #[test]
    fn other_events_are_refused_with_what_they_were_and_what_is_accepted() {
        let cases = [
            (json!({}), "an empty object"),
            (
                json!({"Records": [{"eventSource": "aws:s3"}]}),
                "source `aws:s3`",
            ),
            (
                json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"}),
                "source `aws.ec2`, detail-type `EC2 Instance State-change Notification`",
            ),
            (
                json!({"source": "aws.events", "detail-type": "Object Created"}),
                "source `aws.events`, detail-type `Object Created`",
            ),
            (json!({"hello": "world"}), "an object with keys hello"),
            (json!("poll"), "a JSON string"),
        ];
        for (event, found) in cases {
            let message = classify(event).unwrap_err().to_string();
            assert!(message.contains(found), "{message}");
            assert!(
                message.contains("SQS event source mapping batch")
                    && message.contains("EventBridge scheduled event"),
                "{message}"
            );
        }
    }
}
