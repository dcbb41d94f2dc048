//! Per-session MCP state: the log level the client chose (`logging/setLevel`) and its resource
//! subscriptions (`resources/subscribe`). A subscription to `comfy://jobs/{id}` or
//! `comfy://jobs/{id}/preview` watches that job and sends `notifications/resources/updated`
//! as it progresses (status, node, step, outputs) or sends a new preview frame; any other URI
//! is accepted and never notified. New assets (any session's jobs) send
//! `notifications/resources/list_changed`, debounced.

#![allow(deprecated)] // MCP logging is deprecated in 2026-07-28 but still part of 2025-11-25.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use comfy_core::backend::JobEvent;
use comfy_core::job::JobId;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam, ResourceUpdatedNotificationParam};
use rmcp::{Peer, RoleServer};
use tokio_util::sync::CancellationToken;

use crate::logbus;
use crate::state::AppState;

/// One session's state (shared by the clones of its [`crate::ComfyMcp`]).
#[derive(Debug, Default)]
pub struct Session {
    /// The chosen level's rank + 1; 0 until the client chose one (then `info`).
    level: AtomicU8,
    subscriptions: Mutex<HashMap<String, CancellationToken>>,
    /// Cancelled when the session ends (its server is dropped): stops its forwarders.
    ended: CancellationToken,
}

/// How long a burst of new assets is gathered into one `resources/list_changed`.
pub const LIST_CHANGED_DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(250);

/// The rank of an MCP level (debug = 0 … emergency = 7).
pub fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

fn mcp_level(level: tracing::Level) -> LoggingLevel {
    match level {
        tracing::Level::ERROR => LoggingLevel::Error,
        tracing::Level::WARN => LoggingLevel::Warning,
        tracing::Level::INFO => LoggingLevel::Info,
        _ => LoggingLevel::Debug,
    }
}

/// Which job (and whether its preview) a subscribed URI watches.
pub fn watched_job(uri: &str) -> Option<(JobId, bool)> {
    let rest = uri.strip_prefix("comfy://jobs/")?;
    let (id, preview) = match rest.strip_suffix("/preview") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    let plain = !id.is_empty() && id.len() <= 256 && !id.contains(['/', '?', '#']);
    plain.then(|| (JobId(id.to_owned()), preview))
}

impl Session {
    /// Sets the lowest level sent to this session (the default is `info`).
    pub fn set_level(&self, level: LoggingLevel) {
        self.level.store(rank(level) + 1, Ordering::Relaxed);
    }

    /// Whether a message at `level` goes to this session.
    pub fn sends(&self, level: LoggingLevel) -> bool {
        let threshold = match self.level.load(Ordering::Relaxed) {
            0 => rank(LoggingLevel::Info),
            set => set - 1,
        };
        rank(level) >= threshold
    }

    /// Forwards the server's warnings to `peer` until its transport closes.
    pub fn forward_logs(self: &Arc<Self>, peer: Peer<RoleServer>) {
        let mut rx = logbus::subscribe();
        let session = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let record = match rx.recv().await {
                    Ok(r) => r,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(session) = session.upgrade() else { return };
                let level = mcp_level(record.level);
                if !session.sends(level) {
                    continue;
                }
                if peer.is_transport_closed() {
                    return;
                }
                let param = LoggingMessageNotificationParam::new(level, record.data.clone())
                    .with_logger(&record.target);
                if peer.notify_logging_message(param).await.is_err() {
                    return;
                }
            }
        });
    }

    /// Sends `notifications/resources/list_changed` to `peer` when finished jobs record new
    /// assets (from any session or transport), at most once per [`LIST_CHANGED_DEBOUNCE`]:
    /// a burst of assets is one notification. Stops when the session ends.
    pub fn forward_asset_changes(&self, state: &Arc<AppState>, peer: Peer<RoleServer>) {
        let mut changes = state.comfy.subscribe_assets();
        changes.mark_unchanged();
        tokio::spawn(debounced(changes, self.ended.clone(), move || {
            let peer = peer.clone();
            async move { !peer.is_transport_closed() && peer.notify_resource_list_changed().await.is_ok() }
        }));
    }

    /// Subscribes to `uri`; a job URI starts a watcher that notifies `peer`.
    pub fn subscribe(&self, state: &Arc<AppState>, peer: Peer<RoleServer>, uri: String) {
        let ct = CancellationToken::new();
        if let Some(old) = self.lock().insert(uri.clone(), ct.clone()) {
            old.cancel();
        }
        if let Some((job_id, preview)) = watched_job(&uri) {
            tokio::spawn(watch_job(state.clone(), peer, uri, job_id, preview, ct));
        }
    }

    /// Ends a subscription (unknown URIs are fine).
    pub fn unsubscribe(&self, uri: &str) {
        if let Some(ct) = self.lock().remove(uri) {
            ct.cancel();
        }
    }

    /// How many subscriptions are open.
    pub fn subscriptions(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.ended.cancel();
        for ct in self.subscriptions.get_mut().unwrap_or_else(PoisonError::into_inner).values() {
            ct.cancel();
        }
    }
}

/// Whether `event` changes what `comfy://jobs/{id}` (or, with `preview`, its preview) reads.
fn changes(event: &JobEvent, preview: bool) -> bool {
    match event {
        JobEvent::Preview { .. } => preview,
        JobEvent::Text { .. } => false,
        _ => !preview,
    }
}

async fn watch_job(
    state: Arc<AppState>,
    peer: Peer<RoleServer>,
    uri: String,
    job_id: JobId,
    preview: bool,
    ct: CancellationToken,
) {
    // A job this server does not know (yet) is never notified.
    let Ok(job) = state.comfy.job(&job_id).await else { return };
    let mut events = job.subscribe();
    // The first event is where the job is now: nothing changed yet.
    if events.next().await.is_none() {
        return;
    }
    loop {
        let event = tokio::select! {
            _ = ct.cancelled() => return,
            e = events.next() => e,
        };
        let Some(event) = event else { return };
        if !changes(&event, preview) {
            continue;
        }
        if peer.is_transport_closed()
            || peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri.clone())).await.is_err()
        {
            return;
        }
    }
}

/// Calls `notify` once per burst of `changes`: [`LIST_CHANGED_DEBOUNCE`] after the first change
/// of a burst, whatever came meanwhile. Stops when `notify` says false, the sender is gone or
/// `ended` is cancelled.
async fn debounced<F, Fut>(
    mut changes: tokio::sync::watch::Receiver<u64>,
    ended: CancellationToken,
    mut notify: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        tokio::select! {
            _ = ended.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        // Let the rest of the burst (the other outputs, other jobs) land first.
        tokio::select! {
            _ = ended.cancelled() => return,
            _ = tokio::time::sleep(LIST_CHANGED_DEBOUNCE) => {}
        }
        changes.mark_unchanged();
        if !notify().await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On Tokio's paused clock (deterministic): five changes 20 ms apart are one notification,
    /// a later change another; cancelling ends the forwarder.
    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_is_one_notification() {
        use std::sync::atomic::AtomicU32;
        use std::time::Duration;
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        let calls = Arc::new(AtomicU32::new(0));
        let ended = CancellationToken::new();
        let counted = calls.clone();
        let task = tokio::spawn(debounced(rx, ended.clone(), move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                true
            }
        }));
        for _ in 0..5 {
            tx.send_modify(|v| *v += 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tx.send_modify(|v| *v += 1);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        ended.cancel();
        task.await.unwrap();
    }

    #[test]
    fn job_uris_and_levels() {
        assert_eq!(watched_job("comfy://jobs/j1"), Some((JobId("j1".into()), false)));
        assert_eq!(watched_job("comfy://jobs/j1/preview"), Some((JobId("j1".into()), true)));
        assert_eq!(watched_job("comfy://jobs/a/b"), None);
        assert_eq!(watched_job("test://watched-resource"), None);
        let s = Session::default();
        assert!(s.sends(LoggingLevel::Warning) && !s.sends(LoggingLevel::Debug));
        s.set_level(LoggingLevel::Error);
        assert!(!s.sends(LoggingLevel::Warning) && s.sends(LoggingLevel::Error));
        s.set_level(LoggingLevel::Debug);
        assert!(s.sends(LoggingLevel::Debug));
    }
}
