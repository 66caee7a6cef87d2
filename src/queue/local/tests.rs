//! Tests of the SQLite queue.

use super::*;

fn queue(dir: &tempfile::TempDir, visibility: Duration) -> LocalQueue {
    LocalQueue::open(&dir.path().join("q.db"), "q", visibility, 2).expect("open")
}

fn bodies(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{{\"n\":{i}}}")).collect()
}

#[tokio::test]
async fn send_receive_delete() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir, Duration::from_secs(30));
    q.send_batch(&bodies(3)).await.unwrap();
    let got = q.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].body, "{\"n\":0}");
    assert!(got.iter().all(|r| r.receive_count == 1));
    let counts = q.counts().await.unwrap();
    assert_eq!((counts.visible, counts.in_flight), (0, 3));
    let receipts: Vec<&str> = got.iter().map(|r| r.receipt.as_str()).collect();
    q.delete_batch(&receipts).await.unwrap();
    assert!(q.counts().await.unwrap().is_drained());
}

#[tokio::test]
async fn receive_takes_at_most_max() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir, Duration::from_secs(30));
    q.send_batch(&bodies(10)).await.unwrap();
    q.send_batch(&bodies(5)).await.unwrap();
    assert_eq!(q.receive(4, Duration::ZERO).await.unwrap().len(), 4);
    assert_eq!(q.receive(10, Duration::ZERO).await.unwrap().len(), 10);
    assert_eq!(q.receive(10, Duration::ZERO).await.unwrap().len(), 1);
}

#[tokio::test]
async fn released_messages_are_dead_lettered_after_max_receive_count() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir, Duration::from_secs(30));
    q.send_batch(&bodies(1)).await.unwrap();
    for delivery in 1..=2 {
        let got = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].receive_count, delivery);
        q.release(&[(got[0].receipt.as_str(), "price missing")])
            .await
            .unwrap();
    }
    assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
    let dead = q.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("price missing"));
    assert_eq!(
        q.counts().await.unwrap(),
        QueueCounts {
            visible: 0,
            in_flight: 0,
            dead: 1
        }
    );
}

#[tokio::test]
async fn a_stale_receipt_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir, Duration::ZERO);
    q.send_batch(&bodies(1)).await.unwrap();
    let first = q.receive(1, Duration::ZERO).await.unwrap();
    let second = q.receive(1, Duration::ZERO).await.unwrap();
    assert_eq!(second[0].receive_count, 2);
    q.delete_batch(&[first[0].receipt.as_str()]).await.unwrap();
    assert_eq!(q.counts().await.unwrap().visible, 1);
    q.delete_batch(&[second[0].receipt.as_str()]).await.unwrap();
    assert!(q.counts().await.unwrap().is_drained());
}

#[tokio::test]
async fn an_extended_message_is_not_received_again_until_the_extension_ends() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir, Duration::from_millis(200));
    q.send_batch(&bodies(1)).await.unwrap();
    let held = q.receive(1, Duration::ZERO).await.unwrap().remove(0);

    q.extend_visibility(&[held.receipt.as_str()], Duration::from_millis(1500))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Without the extension it would be visible again after 200 ms.
    assert!(q.receive(1, Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(q.counts().await.unwrap().in_flight, 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = q.receive(1, Duration::ZERO).await.unwrap();
    assert_eq!(again.len(), 1, "visible once the extension ends");
    assert_eq!((&again[0].id, again[0].receive_count), (&held.id, 2));
}

#[tokio::test]
async fn a_stale_receipt_extends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(&dir, Duration::ZERO);
    q.send_batch(&bodies(1)).await.unwrap();
    let first = q.receive(1, Duration::ZERO).await.unwrap().remove(0);
    let second = q.receive(1, Duration::ZERO).await.unwrap().remove(0);
    assert_eq!(second.receive_count, 2);

    q.extend_visibility(&[first.receipt.as_str()], Duration::from_secs(60))
        .await
        .unwrap();

    assert_eq!(q.counts().await.unwrap().visible, 1, "still visible");
    q.extend_visibility(&[second.receipt.as_str()], Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        q.counts().await.unwrap().in_flight,
        1,
        "hidden by its own receipt"
    );
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
