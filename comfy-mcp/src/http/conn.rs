//! Accepting and serving HTTP connections: HTTP/1.1 with keep-alive through hyper's own
//! connection state machine, `TCP_NODELAY` on every accepted socket, a deadline for request
//! headers, and graceful shutdown.
//!
//! `axum::serve` gives no way to set a header-read timeout (it builds its hyper connection
//! builder without a timer), so a client that trickles its request headers one byte at a time,
//! or opens a connection and sends nothing, would hold it forever. Here every connection is
//! served by [`hyper::server::conn::http1`] with a Tokio timer and
//! [`header_read_timeout`](hyper::server::conn::http1::Builder::header_read_timeout): hyper
//! starts that clock whenever it waits for a new request's head (on a fresh connection, and
//! again each time a keep-alive connection goes idle) and closes the connection when the head
//! has not arrived in time. The clock does not run while a response is being written, so a
//! long-lived SSE stream is not cut. The body has its own deadline (`body_timeout_secs`,
//! enforced by the `/mcp` middleware).

use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;

/// Serves `app` on `listener` until `shutdown` is cancelled, then stops accepting, asks every
/// open connection to finish (idle ones close at once, a request in progress completes) and
/// returns when they have.
///
/// Request headers must arrive within `header_timeout` of the server starting to wait for them;
/// the same bound applies to an idle keep-alive connection.
pub async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // `accept` of axum's listener never fails: it retries after a pause on errors such as
    // running out of file descriptors, and skips connections reset before being accepted.
    let mut listener = no_delay(listener);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Header timeouts, resets and malformed requests end here; the client is gone.
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The listener with `TCP_NODELAY` on every accepted socket. An MCP answer over streamable
/// HTTP goes out in several small writes (headers, SSE event, end of stream); with Nagle's
/// algorithm the last of them waits for the client's delayed ACK, ~40 ms per call for any
/// keep-alive client that does not send its next request at once.
pub fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    })
}
