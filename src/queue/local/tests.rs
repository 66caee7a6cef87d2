//! Tests of what only the SQLite queue does: the dead-letter table keeps the last reason,
//! messages survive reopening the file, a waiting receive wakes when a message is sent. The queue
//! semantics it shares with SQS are the contract suite's (tests/it/contract/queue.rs).

use super::*;

fn queue(dir: &tempfile::TempDir, visibility: Duration) -> LocalQueue {
    LocalQueue::open(&dir.path().join("q.db"), "q", visibility, 2).expect("open")
}

fn bodies(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{{\"n\":{i}}}")).collect()
}

#[tokio::test]
async fn a_dead_letter_keeps_the_last_reason_it_was_released_with() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir, Duration::from_secs(30));
    q.send_batch(&bodies(1)).await.unwrap();
    for reason in ["not a number", "price missing"] {
        let got = q.receive(10, Duration::ZERO).await.unwrap();
        q.release(&[(got[0].receipt.as_str(), reason)])
            .await
            .unwrap();
    }
    assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let dead = q.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "{\"n\":0}");
    assert_eq!(dead[0].receive_count, 2);
    assert_eq!(dead[0].last_error.as_deref(), Some("price missing"));
}

#[tokio::test]
async fn messages_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    queue(&dir, Duration::from_secs(30))
        .send_batch(&bodies(2))
        .await
        .unwrap();
    let reopened = queue(&dir, Duration::from_secs(30));
    assert_eq!(reopened.receive(10, Duration::ZERO).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_waiting_receive_wakes_when_a_message_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let q = Arc::new(queue(&dir, Duration::from_secs(30)));
    let waiter = tokio::spawn({
        let q = Arc::clone(&q);
        async move { q.receive(10, Duration::from_secs(20)).await }
    });
    q.send_batch(&bodies(1)).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the receive returns before its 20 s wait")
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
}
