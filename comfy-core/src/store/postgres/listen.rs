//! Signals between servers: `pg_notify` on a channel of this database schema, received by one
//! `LISTEN`ing connection per process (its own, outside the pool), and fanned out to every
//! subscriber of this process through a broadcast channel.
//!
//! The channel name includes the schema (`comfy_signals_<schema>`): notifications are
//! database-wide, and two deployments in two schemas of one database must not hear each other.
//! A dropped listening connection is reopened (1 s, doubling up to 30 s); signals sent while it
//! was down are lost, which receivers tolerate (job state is reconciled from the backend).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{OnceCell, broadcast, mpsc};
use tokio_postgres::{AsyncMessage, NoTls};

use super::Inner;
use super::errors::pg_error;
use crate::error::Result;
use crate::store::shared::Signal;

/// Signals a slow subscriber may fall behind by before it misses some.
const SIGNAL_BUFFER: usize = 1024;
/// The longest wait between two attempts to reopen the listening connection.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The listening side of one process.
pub(super) struct Listener {
    config: tokio_postgres::Config,
    sender: broadcast::Sender<Signal>,
    channel: OnceCell<String>,
    /// The listening task, started by the first subscriber; aborted with the store.
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

impl Listener {
    pub(super) fn new(config: tokio_postgres::Config) -> Listener {
        Listener {
            config,
            sender: broadcast::channel(SIGNAL_BUFFER).0,
            channel: OnceCell::new(),
            task: Mutex::new(None),
        }
    }

    /// This schema's channel name.
    pub(super) async fn channel(&self, inner: &Arc<Inner>) -> Result<String> {
        self.channel
            .get_or_try_init(|| async {
                inner
                    .run("publish", |client| {
                        Box::pin(async move {
                            let row = client
                                .query_one("SELECT COALESCE(current_schema(), 'public')", &[])
                                .await
                                .map_err(|e| pg_error("publish", &e))?;
                            let schema: String = row.try_get(0).map_err(|e| pg_error("publish", &e))?;
                            Ok(channel_name(&schema))
                        })
                    })
                    .await
            })
            .await
            .cloned()
    }

    /// A receiver of every signal from now on; starts listening on the first call.
    pub(super) fn subscribe(&self, inner: &Arc<Inner>) -> broadcast::Receiver<Signal> {
        let receiver = self.sender.subscribe();
        let mut task = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if task.is_none() {
            let (config, sender, inner) = (self.config.clone(), self.sender.clone(), inner.clone());
            *task = Some(tokio::spawn(listen_forever(config, sender, inner)).abort_handle());
        }
        receiver
    }
}

/// `comfy_signals_<schema>`, cut to PostgreSQL's 63-byte identifier limit.
fn channel_name(schema: &str) -> String {
    let mut name = format!("comfy_signals_{schema}");
    while name.len() > 63 {
        name.pop();
    }
    name
}

async fn listen_forever(
    config: tokio_postgres::Config,
    sender: broadcast::Sender<Signal>,
    inner: Arc<Inner>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match listen_once(&config, &sender, &inner).await {
            Ok(()) => backoff = Duration::from_secs(1),
            Err(e) => tracing::warn!(error = %e, retry_in_s = backoff.as_secs(), "signal listener down"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Listens on one connection until it drops.
async fn listen_once(
    config: &tokio_postgres::Config,
    sender: &broadcast::Sender<Signal>,
    inner: &Arc<Inner>,
) -> Result<()> {
    // The schema (and its tables) exist before anyone signals on it.
    inner.migrate_once().await?;
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| pg_error("listen", &e))?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "signal connection closed");
                    return;
                }
            }
        }
    });
    let schema: String = client
        .query_one("SELECT COALESCE(current_schema(), 'public')", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| pg_error("listen", &e))?;
    let channel = channel_name(&schema);
    client
        .batch_execute(&format!("LISTEN \"{}\"", channel.replace('"', "\"\"")))
        .await
        .map_err(|e| pg_error("listen", &e))?;
    tracing::debug!(%channel, "listening for signals of other servers");
    while let Some(n) = rx.recv().await {
        if n.channel() != channel {
            continue;
        }
        // A payload is an array of signals (`publish_many`) or, from older builds, one.
        let payload = n.payload();
        let signals = match serde_json::from_str::<Vec<Signal>>(payload) {
            Ok(signals) => signals,
            Err(_) => match serde_json::from_str::<Signal>(payload) {
                Ok(signal) => vec![signal],
                Err(e) => {
                    tracing::debug!(error = %e, "ignored a signal this build cannot read");
                    continue;
                }
            },
        };
        for signal in signals {
            let _ = sender.send(signal);
        }
    }
    driver.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_fit_an_identifier() {
        assert_eq!(channel_name("public"), "comfy_signals_public");
        assert_eq!(channel_name(&"s".repeat(100)).len(), 63);
    }
}
