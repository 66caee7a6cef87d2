//! The queue contract: what the consumer and the Lambda handler rely on from any `Queue` —
//! delivery, `max`, visibility, receive counts, release, dead-lettering after
//! `max_receive_count`, stale receipts, extending visibility, counts — run against the SQLite
//! queue (`local::…`) and SQS in moto (`sqs::…`).
//!
//! Timing: the cases that wait count in [`Backend::tick`]s — a whole second for SQS (moto keeps
//! visibility in whole seconds), a quarter of one for the local queue (milliseconds) — and wait
//! on a condition with a deadline ([`next_delivery`]), never a sleep that hopes. Every assertion
//! about time holds however slow the machine is: a message that comes back is checked to come
//! back *no earlier* than it may.

use std::collections::HashSet;
use std::ops::Deref;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use stockrun::queue::local::LocalQueue;
use stockrun::queue::sqs::SqsQueue;
use stockrun::queue::{MAX_BATCH, Queue, QueueCounts, Received};
use tempfile::TempDir;
use tokio::time::Instant;

use super::contract_tests;
use crate::aws_queue::{create_queue, pipeline};
use crate::moto::{aws_at, moto_url, unique};

/// How long a case waits for a message it expects before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// How often [`next_delivery`] looks (each look is one ReceiveMessage, ~80 ms in moto).
const POLL: Duration = Duration::from_millis(100);

/// The queue's own visibility timeout in SQS, longer than any case's, so every case also shows
/// that the receive's visibility timeout (the pipeline's) overrides the queue's.
const SQS_QUEUE_VISIBILITY_SECONDS: &str = "300";

/// The two implementations of the contract.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// `LocalQueue` in a SQLite file of its own.
    Local,
    /// `SqsQueue` on a moto queue of its own, with a dead-letter queue and redrive policy the way
    /// `stockrun init` creates them.
    Sqs,
}

/// A queue under test, and what must live as long as it.
struct Subject {
    queue: Box<dyn Queue>,
    _dir: Option<TempDir>,
}

impl Deref for Subject {
    type Target = dyn Queue;

    fn deref(&self) -> &Self::Target {
        self.queue.as_ref()
    }
}

impl Backend {
    /// The shortest visibility timeout the backend keeps exactly: SQS counts whole seconds, the
    /// local queue milliseconds (a short tick keeps its waiting cases quick).
    fn tick(self) -> Duration {
        match self {
            Backend::Local => Duration::from_millis(250),
            Backend::Sqs => Duration::from_secs(1),
        }
    }

    /// A fresh, empty queue: received messages stay hidden for `visibility`, and a message
    /// delivered `max_receive_count` times goes to the dead-letter queue on the next receive.
    async fn queue(self, visibility: Duration, max_receive_count: u32) -> Subject {
        match self {
            Backend::Local => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let queue = LocalQueue::open(
                    &dir.path().join("queue.db"),
                    "quotes",
                    visibility,
                    max_receive_count,
                )
                .expect("open the local queue");
                Subject {
                    queue: Box::new(queue),
                    _dir: Some(dir),
                }
            }
            Backend::Sqs => {
                let aws = aws_at(&moto_url()).await;
                let name = unique("contract");
                let dead_url = create_queue(&aws, &format!("{name}-dlq"), &[]).await;
                let dead_arn = aws
                    .sqs()
                    .await
                    .get_queue_attributes()
                    .queue_url(&dead_url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .expect("the dead-letter queue's attributes")
                    .attributes()
                    .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                    .expect("the dead-letter queue's ARN");
                let redrive = json!({
                    "deadLetterTargetArn": dead_arn,
                    "maxReceiveCount": max_receive_count,
                });
                create_queue(
                    &aws,
                    &name,
                    &[
                        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                        (
                            QueueAttributeName::VisibilityTimeout,
                            SQS_QUEUE_VISIBILITY_SECONDS.to_owned(),
                        ),
                    ],
                )
                .await;
                let queue = SqsQueue::new(
                    aws,
                    &pipeline(&format!("{{ name: {name} }}")),
                    Some(visibility),
                );
                Subject {
                    queue: Box::new(queue),
                    _dir: None,
                }
            }
        }
    }
}

/// `n` distinct message bodies.
fn bodies(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| json!({"record": {"symbol": format!("SYM{i:03}")}}).to_string())
        .collect()
}

fn receipts(messages: &[Received]) -> Vec<&str> {
    messages.iter().map(|m| m.receipt.as_str()).collect()
}

/// Receives with `max` until `n` messages are in hand (a queue may return fewer than it has),
/// checking that no receive returns more than `max`, nor more than [`MAX_BATCH`].
async fn receive_all(queue: &dyn Queue, n: usize, max: usize) -> Vec<Received> {
    let deadline = Instant::now() + PATIENCE;
    let mut received = Vec::new();
    while received.len() < n {
        assert!(
            Instant::now() < deadline,
            "received only {} of {n} messages within {PATIENCE:?}: {received:#?}",
            received.len()
        );
        let batch = queue.receive(max, Duration::ZERO).await.expect("receive");
        assert!(
            batch.len() <= max.min(MAX_BATCH),
            "a receive of at most {max} (and never more than {MAX_BATCH}) returned {}",
            batch.len()
        );
        if batch.is_empty() {
            tokio::time::sleep(POLL).await;
        }
        received.extend(batch);
    }
    assert_eq!(received.len(), n, "more than expected: {received:#?}");
    received
}

/// Looks for a message every [`POLL`] until one is received: the message and when it came, as
/// the time since `since`. Fails after [`PATIENCE`].
async fn next_delivery(queue: &dyn Queue, since: Instant) -> (Received, Duration) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut batch = queue.receive(1, Duration::ZERO).await.expect("receive");
        if let Some(message) = batch.pop() {
            return (message, since.elapsed());
        }
        assert!(
            Instant::now() < deadline,
            "nothing was delivered again within {PATIENCE:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Asserts that nothing is received now.
async fn assert_nothing_received(queue: &dyn Queue, why: &str) {
    let received = queue
        .receive(MAX_BATCH, Duration::ZERO)
        .await
        .expect("receive");
    assert!(received.is_empty(), "{why}: received {received:#?}");
}

async fn counts(queue: &dyn Queue) -> QueueCounts {
    queue.counts().await.expect("counts")
}

fn counts_of(visible: u64, in_flight: u64, dead: u64) -> QueueCounts {
    QueueCounts {
        visible,
        in_flight,
        dead,
    }
}

// --- the cases ------------------------------------------------------------------------------

/// Sent messages are received once each, as sent, then deleted for good.
async fn send_receive_delete(backend: Backend) {
    let queue = backend.queue(Duration::from_secs(30), 3).await;
    let sent = bodies(3);
    queue.send_batch(&sent).await.expect("send");

    let received = receive_all(&*queue, 3, MAX_BATCH).await;

    let got: HashSet<&str> = received.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(got, sent.iter().map(String::as_str).collect());
    let ids: HashSet<&str> = received.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "message ids are distinct: {received:#?}");
    assert!(
        received.iter().all(|m| m.receive_count == 1),
        "{received:#?}"
    );
    queue
        .delete_batch(&receipts(&received))
        .await
        .expect("delete");
    assert!(counts(&*queue).await.is_drained());
    assert_nothing_received(&*queue, "deleted messages are gone").await;
}

/// A receive returns at most `max` messages, and never more than [`MAX_BATCH`].
async fn receive_takes_at_most_max(backend: Backend) {
    let queue = backend.queue(Duration::from_secs(30), 3).await;
    let sent = bodies(MAX_BATCH + 1);
    let (first, rest) = sent.split_at(MAX_BATCH);
    queue.send_batch(first).await.expect("send");
    queue.send_batch(rest).await.expect("send");

    let three = queue.receive(3, Duration::ZERO).await.expect("receive");
    assert!(
        (1..=3).contains(&three.len()),
        "a receive of at most 3 returned {}",
        three.len()
    );
    let others = receive_all(&*queue, sent.len() - three.len(), MAX_BATCH + 5).await;

    let ids: HashSet<&str> = three.iter().chain(&others).map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), sent.len(), "each message was received once");
}

/// A received message is not received again before its visibility timeout ends, and is after,
/// with the same id and body.
async fn a_received_message_is_hidden_until_its_visibility_ends(backend: Backend) {
    let visibility = backend.tick();
    let queue = backend.queue(visibility, 3).await;
    queue.send_batch(&bodies(1)).await.expect("send");

    let start = Instant::now();
    let first = receive_all(&*queue, 1, 1).await.remove(0);
    // Looks at once and then every POLL: a delivery before the visibility ends fails below.
    let (again, at) = next_delivery(&*queue, start).await;

    assert!(
        at >= visibility,
        "received again {at:?} after the first receive started, before its visibility of {visibility:?} ended"
    );
    assert_eq!((&again.id, &again.body), (&first.id, &first.body));
}

/// Each delivery of the same message counts one more.
async fn the_receive_count_grows_with_each_delivery(backend: Backend) {
    // No visibility timeout: each receive delivers the message again at once.
    let queue = backend.queue(Duration::ZERO, 10).await;
    queue.send_batch(&bodies(1)).await.expect("send");

    let first = receive_all(&*queue, 1, 1).await.remove(0);
    assert_eq!(first.receive_count, 1);
    for delivery in 2..=3 {
        let again = receive_all(&*queue, 1, 1).await.remove(0);
        assert_eq!(
            (&again.id, &again.body, again.receive_count),
            (&first.id, &first.body, delivery)
        );
    }
}

/// A released message is visible again at once, long before its visibility would end.
async fn a_released_message_is_delivered_again_at_once(backend: Backend) {
    let visibility = Duration::from_secs(30);
    let queue = backend.queue(visibility, 3).await;
    queue.send_batch(&bodies(1)).await.expect("send");
    let start = Instant::now();
    let first = receive_all(&*queue, 1, 1).await.remove(0);

    queue
        .release(&[(first.receipt.as_str(), "required field `price` is missing")])
        .await
        .expect("release");

    let (again, at) = next_delivery(&*queue, start).await;
    assert!(at < visibility, "released, yet hidden for {at:?}");
    assert_eq!(
        (&again.id, &again.body, again.receive_count),
        (&first.id, &first.body, 2)
    );
}

/// A message delivered `max_receive_count` times goes to the dead-letter queue on the next
/// receive and is not received any more.
async fn after_max_receive_count_deliveries_a_message_is_dead_lettered(backend: Backend) {
    let queue = backend.queue(Duration::from_secs(30), 2).await;
    queue.send_batch(&bodies(1)).await.expect("send");
    for delivery in 1..=2 {
        let poison = receive_all(&*queue, 1, 1).await.remove(0);
        assert_eq!(poison.receive_count, delivery);
        queue
            .release(&[(poison.receipt.as_str(), "not a number")])
            .await
            .expect("release");
    }

    assert_nothing_received(&*queue, "dead-lettered on this receive").await;
    assert_eq!(counts(&*queue).await, counts_of(0, 0, 1));
    assert_nothing_received(&*queue, "still dead-lettered").await;
    assert!(counts(&*queue).await.is_drained());
}

/// A receipt from an earlier delivery deletes nothing once the message has been delivered again;
/// the latest receipt deletes it.
async fn a_stale_receipt_deletes_nothing(backend: Backend) {
    let queue = backend.queue(Duration::ZERO, 10).await;
    queue.send_batch(&bodies(1)).await.expect("send");
    let first = receive_all(&*queue, 1, 1).await.remove(0);
    let second = receive_all(&*queue, 1, 1).await.remove(0);
    assert_eq!((&second.id, second.receive_count), (&first.id, 2));

    queue
        .delete_batch(&[first.receipt.as_str()])
        .await
        .expect("a stale receipt is no error");

    let after = counts(&*queue).await;
    assert_eq!(
        after.visible + after.in_flight,
        1,
        "the message is still there: {after:?}"
    );
    queue
        .delete_batch(&[second.receipt.as_str()])
        .await
        .expect("delete");
    assert!(counts(&*queue).await.is_drained());
}

/// A receipt from an earlier delivery extends nothing; the latest one does.
async fn a_stale_receipt_extends_nothing(backend: Backend) {
    let queue = backend.queue(Duration::ZERO, 10).await;
    queue.send_batch(&bodies(1)).await.expect("send");
    let first = receive_all(&*queue, 1, 1).await.remove(0);
    let second = receive_all(&*queue, 1, 1).await.remove(0);
    assert_eq!((&second.id, second.receive_count), (&first.id, 2));

    queue
        .extend_visibility(&[first.receipt.as_str()], Duration::from_secs(60))
        .await
        .expect("a stale receipt is no error");

    assert_eq!(counts(&*queue).await, counts_of(1, 0, 0), "still visible");
    queue
        .extend_visibility(&[second.receipt.as_str()], Duration::from_secs(60))
        .await
        .expect("extend");
    assert_eq!(
        counts(&*queue).await,
        counts_of(0, 1, 0),
        "hidden by its own receipt"
    );
}

/// Extending a delivery's visibility keeps the message hidden past its visibility timeout, until
/// the extension ends; then it is delivered again.
async fn an_extended_message_stays_hidden_until_the_extension_ends(backend: Backend) {
    let visibility = backend.tick();
    let extension = 2 * backend.tick();
    let queue = backend.queue(visibility, 3).await;
    queue.send_batch(&bodies(1)).await.expect("send");
    let held = receive_all(&*queue, 1, 1).await.remove(0);

    let extended = Instant::now();
    queue
        .extend_visibility(&[held.receipt.as_str()], extension)
        .await
        .expect("extend");
    let (again, at) = next_delivery(&*queue, extended).await;

    assert!(
        at >= extension,
        "received again {at:?} after the extension by {extension:?} started"
    );
    assert_eq!(
        (&again.id, &again.body, again.receive_count),
        (&held.id, &held.body, 2)
    );
}

/// `counts` follows messages from visible to in flight to gone.
async fn counts_follow_messages_from_visible_to_in_flight_to_drained(backend: Backend) {
    let queue = backend.queue(Duration::from_secs(30), 3).await;
    assert_eq!(counts(&*queue).await, counts_of(0, 0, 0));
    assert!(counts(&*queue).await.is_drained());
    queue.send_batch(&bodies(3)).await.expect("send");
    assert_eq!(counts(&*queue).await, counts_of(3, 0, 0));

    let two = receive_all(&*queue, 2, 2).await;
    assert_eq!(counts(&*queue).await, counts_of(1, 2, 0));
    queue.delete_batch(&receipts(&two)).await.expect("delete");
    assert_eq!(counts(&*queue).await, counts_of(1, 0, 0));

    let last = receive_all(&*queue, 1, 1).await;
    let in_flight = counts(&*queue).await;
    assert_eq!(in_flight, counts_of(0, 1, 0));
    assert!(
        !in_flight.is_drained(),
        "a message in flight is not drained"
    );
    queue.delete_batch(&receipts(&last)).await.expect("delete");
    assert!(counts(&*queue).await.is_drained());
}

/// `delete_and_receive` deletes the batch it is given and hands out the next one, counting one
/// delivery for each; with nothing left it still deletes, and a stale receipt deletes nothing.
async fn delete_and_receive_deletes_the_last_batch_and_takes_the_next(backend: Backend) {
    let queue = backend.queue(Duration::from_secs(30), 3).await;
    queue.send_batch(&bodies(4)).await.expect("send");
    let first = receive_all(&*queue, 2, 2).await;

    let stop = tokio_util::sync::CancellationToken::new();
    let mut next = Vec::new();
    let mut done = receipts(&first);
    let deadline = Instant::now() + PATIENCE;
    while next.len() < 2 && Instant::now() < deadline {
        next.extend(
            queue
                .delete_and_receive(&done, 2 - next.len(), Duration::ZERO, &stop)
                .await
                .expect("delete and receive"),
        );
        done.clear();
    }
    assert_eq!(next.len(), 2, "the other two: {next:#?}");
    assert!(next.iter().all(|m| m.receive_count == 1), "{next:#?}");
    let ids: HashSet<&str> = first.iter().chain(&next).map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 4, "four different messages");
    assert_eq!(
        counts(&*queue).await,
        counts_of(0, 2, 0),
        "the first two are gone"
    );

    let nothing = queue
        .delete_and_receive(&receipts(&next), 2, Duration::ZERO, &stop)
        .await
        .expect("delete and receive");
    assert!(nothing.is_empty(), "{nothing:#?}");
    assert!(counts(&*queue).await.is_drained());
}

contract_tests! {
    local = Backend::Local, sqs = Backend::Sqs;
    send_receive_delete;
    receive_takes_at_most_max;
    a_received_message_is_hidden_until_its_visibility_ends;
    the_receive_count_grows_with_each_delivery;
    a_released_message_is_delivered_again_at_once;
    after_max_receive_count_deliveries_a_message_is_dead_lettered;
    // known difference: moto deletes the message with any receipt it ever had (it keeps every
    // earlier handle), so the first delivery's receipt deletes the message handed out again;
    // SQS itself promises neither ("the request succeeds, but the message might not be
    // deleted"). The local queue deletes only with the latest delivery's receipt.
    a_stale_receipt_deletes_nothing,
        aws: #[ignore = "known difference: SQS (moto) deletes with a stale receipt"];
    // known difference: moto changes the visibility for any receipt the message ever had, so the
    // first delivery's receipt hides the message handed out again (SQS documents nothing
    // either way). The local queue changes it only for the latest delivery's receipt, as the
    // `Queue::extend_visibility` doc promises.
    a_stale_receipt_extends_nothing,
        aws: #[ignore = "known difference: SQS (moto) extends with a stale receipt"];
    an_extended_message_stays_hidden_until_the_extension_ends;
    counts_follow_messages_from_visible_to_in_flight_to_drained;
    delete_and_receive_deletes_the_last_batch_and_takes_the_next;
}
