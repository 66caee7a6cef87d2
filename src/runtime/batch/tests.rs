//! Tests of `batch`.
use std::sync::Arc;

use tokio::time::Instant;

use super::*;
use crate::config::Located;
use crate::config::model::Duration as Span;
use crate::queue::{Queue, QueueCounts};
use crate::runtime::testing::{Hanging, local_queue, stages};

/// The test pipeline's stages with a notifier that never answers, and `timeout` per attempt
/// (the default when `None`).
async fn hanging(
    dir: &std::path::Path,
    timeout: Option<Duration>,
) -> (Stages, Arc<Hanging>, Arc<crate::queue::local::LocalQueue>) {
    let queue = local_queue(dir);
    let (mut stages, _) = stages(dir, queue.clone(), 3, 0).await;
    let server = Arc::new(Hanging::default());
    stages.notifier = Some(Arc::clone(&server) as _);
    if let Some(timeout) = timeout {
        let notify = stages
            .pipeline
            .notify
            .as_mut()
            .expect("the pipeline e-mails");
        notify.timeout = Located::unlocated(Span(timeout));
    }
    (stages, server, queue)
}

#[tokio::test]
async fn a_server_that_never_answers_costs_one_deadline_per_attempt_then_the_batch_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let (stages, server, queue) = hanging(dir.path(), Some(Duration::from_millis(100))).await;
    let batch = queue.receive(10, Duration::ZERO).await.unwrap();
    let started = Instant::now();

    let settled = handle_batch(
        &stages,
        batch,
        Acknowledge::Delete,
        &CancellationToken::new(),
    )
    .await;

    // 4 attempts of 100 ms and 3 pauses of at most 0.4 + 0.8 + 1.6 s.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.attempts(), 4);
    assert_eq!(settled.emailed, Emailed::NotSent);
    assert_eq!(settled.stored, 3);
    assert!(settled.unmailed.is_empty());
    assert_eq!(stages.store.count().await.unwrap(), 3);
    // Stored and given up on: deleted, as when the server refuses.
    assert_eq!(queue.counts().await.unwrap(), QueueCounts::default());
}

#[tokio::test]
async fn a_stop_abandons_the_attempt_in_flight_and_leaves_the_stored_messages_queued() {
    let dir = tempfile::tempdir().unwrap();
    let (stages, server, queue) = hanging(dir.path(), None).await;
    let batch = queue.receive(10, Duration::ZERO).await.unwrap();
    let stop = CancellationToken::new();
    let started = Instant::now();

    let (settled, ()) = tokio::join!(
        handle_batch(&stages, batch, Acknowledge::Delete, &stop),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stop.cancel();
        }
    );

    // Not the default 10 s deadline: the grace after the stop.
    let bound = Duration::from_millis(200) + STOP_GRACE + Duration::from_secs(1);
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
    assert_eq!(server.attempts(), 1, "no new attempt after a stop");
    assert_eq!(settled.emailed, Emailed::Cut);
    assert_eq!(settled.stored, 3);
    assert_eq!(settled.unmailed.len(), 3);
    assert_eq!(settled.redelivered_ids().count(), 3);
    assert_eq!(stages.store.count().await.unwrap(), 3);
    // Stored, not deleted: released, to be stored again and e-mailed by the next run.
    let left = queue.counts().await.unwrap();
    let queued = QueueCounts {
        visible: 3,
        in_flight: 0,
        dead: 0,
    };
    assert_eq!(left, queued);
}
