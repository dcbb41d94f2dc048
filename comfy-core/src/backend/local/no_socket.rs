//! Built without the `websocket` feature: no live events; every job is tracked by polling
//! `/history` and `/queue` (the client does so whenever the event channel is down).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::sync::broadcast;

use super::config::LocalConfig;
use crate::backend::BackendEvent;

/// No socket in this build.
pub(crate) const AVAILABLE: bool = false;

/// Shared view of the (absent) socket: never connected.
#[derive(Debug, Default)]
pub(crate) struct SocketState {
    pub(crate) connected: AtomicBool,
}

/// Never called (see [`AVAILABLE`]); returns at once.
pub(crate) async fn run(
    _config: LocalConfig,
    _tls: Arc<rustls::ClientConfig>,
    _tx: broadcast::Sender<BackendEvent>,
    _state: Arc<SocketState>,
) {
}
