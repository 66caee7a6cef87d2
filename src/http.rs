//! The HTTP server of long-running commands (`run`, `poll` and `consume` with `--metrics ADDR`):
//! `/metrics` (the Prometheus text of the installed recorder), `/ready` (200 once the pipeline is
//! loaded and its stages are open, 503 before) and `/live` (200 while the process runs). The
//! routes are an axum [`Router`], so another command can merge its own pages into the same
//! server. A leaf: it knows nothing of the pipeline, only what it is handed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether the process is ready: set once, by whoever opened the stages; `/ready` reads it.
#[derive(Clone, Debug, Default)]
pub struct Ready(Arc<AtomicBool>);

impl Ready {
    /// Marks the process ready.
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether it is.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Why `--metrics` cannot listen.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address is neither `HOST:PORT` nor a port.
    #[error(
        "`{0}` is not an address: give a port (`9100`, on 127.0.0.1) or HOST:PORT (`0.0.0.0:9100`)"
    )]
    Address(String),
    /// Binding failed (in use, not allowed).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// Where.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The address `text` names: `HOST:PORT`, or a bare port on the loopback interface (metrics
/// are not for the network unless asked).
pub fn listen_address(text: &str) -> Result<SocketAddr, HttpError> {
    let text = text.trim();
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse()
        .map_err(|_| HttpError::Address(text.to_owned()))
}

/// Binds `address`.
pub async fn bind(address: SocketAddr) -> Result<tokio::net::TcpListener, HttpError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| HttpError::Bind { address, source })
}

/// The routes `/metrics`, `/ready` and `/live`.
pub fn metrics_routes(handle: PrometheusHandle, ready: Ready) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let text = handle.render();
                async move { ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], text) }
            }),
        )
        .route(
            "/ready",
            get(move || {
                let ready = ready.is_set();
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n").into_response()
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
                    }
                }
            }),
        )
        .route("/live", get(|| async { "live\n" }))
}

/// Serves `router` on `listener` until `stop` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_listens_on_loopback() {
        assert_eq!(
            listen_address("9100").unwrap(),
            "127.0.0.1:9100".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            listen_address("0.0.0.0:9100").unwrap(),
            "0.0.0.0:9100".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            listen_address("[::1]:80").unwrap(),
            "[::1]:80".parse::<SocketAddr>().unwrap()
        );
        let error = listen_address("localhost").unwrap_err().to_string();
        assert!(error.contains("`localhost` is not an address"), "{error}");
    }
}
