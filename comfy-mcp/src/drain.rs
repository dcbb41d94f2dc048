//! Graceful drain of the HTTP server on SIGTERM or Ctrl-C.
//!
//! When the stop signal comes ([`stop_signal`]), the server at once stops accepting connections,
//! refuses new submissions through any connection still open with the retryable `draining`
//! error ([`comfy_core::Comfy::begin_drain`]) and answers `/readyz` with 503. Calls in flight
//! (a `wait_for_job`, a submission under way) finish, for up to
//! `[http] drain_timeout_secs` (default 30); then open event streams are closed and the process
//! exits with status 0. Jobs still running stay recorded as unfinished in the store: a restarted
//! server, or another one on the same store, reattaches and finishes them. A second signal
//! exits at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How often the drain looks whether calls are still in flight.
const POLL: Duration = Duration::from_millis(50);

/// How long open connections get to close once the event streams are ended.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Resolves on Ctrl-C (SIGINT), or SIGTERM on Unix.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `server` (which stops accepting connections once `shutdown` is cancelled and returns
/// when its connections are closed) with a graceful drain: on `shutdown`, the client takes no
/// new jobs, calls in flight get up to the configured drain timeout, then `streams` is cancelled
/// (ending open MCP event streams) and the server gets a few seconds to close its connections.
pub async fn run<F>(
    state: Arc<AppState>,
    shutdown: CancellationToken,
    streams: CancellationToken,
    server: F,
) -> std::io::Result<()>
where
    F: Future<Output = std::io::Result<()>>,
{
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => {
            streams.cancel();
            return result;
        }
        _ = shutdown.cancelled() => {}
    }
    state.comfy.begin_drain();
    let grace = Duration::from_secs(state.settings.http.drain_timeout_secs);
    let metrics = state.comfy.metrics();
    let in_flight = || metrics.http_requests_in_flight() + metrics.tool_calls_in_flight();
    tracing::info!(
        calls_in_flight = in_flight(),
        grace_s = grace.as_secs(),
        "draining: new connections and submissions are refused"
    );
    let idle = async {
        while in_flight() > 0 {
            tokio::time::sleep(POLL).await;
        }
    };
    tokio::select! {
        result = &mut server => {
            streams.cancel();
            return result;
        }
        finished = tokio::time::timeout(grace, idle) => {
            match finished {
                Ok(()) => tracing::info!("drained: no call in flight"),
                Err(_) => tracing::warn!(calls_in_flight = in_flight(), "drain timeout: stopping with calls in flight"),
            }
        }
    }
    streams.cancel();
    // On a shared store, the other servers take this one's unfinished jobs and batches at once.
    if let Err(e) = state.comfy.retire().await {
        tracing::warn!(error = %e, "could not hand this server's jobs over; others take them when it is silent");
    }
    match tokio::time::timeout(CLOSE_GRACE, server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("connections still open after the drain; stopping anyway");
            Ok(())
        }
    }
}
