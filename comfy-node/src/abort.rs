//! `AbortSignal` support: the JavaScript layer makes one [`AbortToken`] per call that has a
//! signal and fires it when the signal aborts; the Rust side stops waiting at once (the future
//! is dropped, nothing is left running) and rejects with the `aborted` code.

use std::future::Future;

use napi_derive::napi;
use tokio_util::sync::CancellationToken;

/// A one-shot cancellation a waiting call can be given (internal: the JavaScript layer makes it
/// from an `AbortSignal`).
#[napi]
#[derive(Debug, Default)]
pub struct AbortToken {
    token: CancellationToken,
}

#[napi]
impl AbortToken {
    /// A token that has not fired.
    #[napi(constructor)]
    pub fn new() -> Self {
        AbortToken::default()
    }

    /// Fires the token: every call waiting on it rejects with `aborted`.
    #[napi]
    pub fn abort(&self) {
        self.token.cancel();
    }
}

/// The token of an optional [`AbortToken`] (a fresh one that never fires when absent).
pub fn token_of(abort: Option<&AbortToken>) -> CancellationToken {
    abort.map(|a| a.token.clone()).unwrap_or_default()
}

/// Runs `fut` unless `token` fires first.
pub async fn unless_aborted<T>(
    token: CancellationToken,
    fut: impl Future<Output = napi::Result<T>>,
) -> napi::Result<T> {
    tokio::select! {
        biased;
        _ = token.cancelled() => Err(crate::error::aborted()),
        r = fut => r,
    }
}
