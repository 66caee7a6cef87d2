//! Graceful shutdown: the first SIGINT or SIGTERM cancels the returned token (the poller stops,
//! the consumer finishes the batch in hand, except that an e-mail in progress is abandoned within
//! `batch::STOP_GRACE` and its batch left queued); a second one exits at once. Anything in flight
//! is then delivered again after its visibility timeout: nothing is lost.

use tokio_util::sync::CancellationToken;

/// A token cancelled by the first SIGINT/SIGTERM.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let mut terminate = terminate_signal();
        for signals in 0.. {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminate.recv() => {}
            }
            if signals == 0 {
                tracing::info!(
                    "stopping: no more polls; finishing the batch in hand (signal again to quit now)"
                );
                cancel.cancel();
            } else {
                tracing::warn!("quitting now; messages in flight are delivered again later");
                std::process::exit(130);
            }
        }
    });
    token
}

/// SIGTERM (what `kill`, systemd and container runtimes send), on Unix.
struct Terminate(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Terminate {
    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.0 {
            signal.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    }
}

fn terminate_signal() -> Terminate {
    #[cfg(unix)]
    {
        Terminate(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok())
    }
    #[cfg(not(unix))]
    {
        Terminate()
    }
}
