//! Tests of `fetch`.
use super::*;

#[tokio::test]
async fn a_stalled_read_ends_at_the_timeout() {
    let started = std::time::Instant::now();
    let stalled = on_own_thread(Duration::from_millis(100), || {
        std::thread::sleep(Duration::from_secs(30));
    })
    .await;
    assert!(matches!(stalled, Err(Stalled::Timeout)), "{stalled:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        on_own_thread(Duration::from_secs(5), || 7).await.unwrap(),
        7
    );
}

#[tokio::test]
async fn files_are_read_only_inside_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let inside = dir.path().join("inside");
    std::fs::create_dir(&inside).unwrap();
    std::fs::write(inside.join("a.json"), "[1]").unwrap();
    std::fs::write(dir.path().join("secret"), "hunter2").unwrap();
    let read = |path: &'static str| file(&inside, Path::new(path), 100, Duration::from_secs(5));
    assert_eq!(read("a.json").await.unwrap().body, b"[1]");
    std::os::unix::fs::symlink(dir.path().join("secret"), inside.join("link")).unwrap();
    let err = read("link").await.unwrap_err().to_string();
    assert!(err.contains("leads outside"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = read(".").await.unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn sizes_read_naturally() {
    assert_eq!(size(10 * 1024 * 1024), "10 MiB");
    assert_eq!(size(64 * 1024), "64 KiB");
    assert_eq!(size(1000), "1000 bytes");
}

#[test]
fn only_transient_failures_are_retried() {
    let status = |code: u16| FetchError::Status {
        status: StatusCode::from_u16(code).unwrap(),
        message: String::new(),
        retry_after: None,
    };
    assert!(status(429).is_retryable());
    assert!(status(503).is_retryable());
    assert!(!status(401).is_retryable());
    assert!(!status(404).is_retryable());
    assert!(FetchError::Timeout(Duration::from_secs(1)).is_retryable());
    let too_large = FetchError::TooLarge {
        limit: 1,
        declared: None,
    };
    assert!(!too_large.is_retryable());
}
