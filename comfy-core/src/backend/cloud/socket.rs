//! The Cloud WebSocket: `wss://…/ws?clientId=…&token=<key>`. Cloud ignores `clientId`: every
//! connection of the account receives every job's messages, so events are kept only for jobs
//! this backend knows (submitted or looked up through it), and messages without a prompt id
//! (legacy previews, progress text) are dropped — they cannot be told apart between jobs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::Inner;
use crate::backend::BackendEvent;
use crate::backend::local::messages::{decode_binary, decode_text};

/// Ask for previews that carry their prompt id (event type 4).
const FEATURE_FLAGS: &str = r#"{"type":"feature_flags","data":{"supports_preview_metadata":true}}"#;

/// Runs until the task is aborted (when the backend is dropped).
pub(super) async fn run(inner: std::sync::Weak<Inner>) {
    let mut delay = Duration::from_millis(200);
    loop {
        let Some(me) = inner.upgrade() else { return };
        let max_delay = me.config.max_reconnect_delay;
        match connect(&me).await {
            Ok(ws) => {
                delay = Duration::from_millis(200);
                me.socket_connected.store(true, Ordering::SeqCst);
                let _ = me.events.send(BackendEvent::Connected);
                drop(me);
                let reason = serve(ws, &inner).await;
                let Some(me) = inner.upgrade() else { return };
                me.socket_connected.store(false, Ordering::SeqCst);
                tracing::debug!(backend = %me.config.name, %reason, "cloud websocket disconnected");
                let _ = me.events.send(BackendEvent::Disconnected { reason });
            }
            Err(reason) => {
                tracing::debug!(backend = %me.config.name, %reason, "cloud websocket connect failed")
            }
        }
        let jitter = rand::random::<u64>() % (delay.as_millis() as u64 / 4 + 1);
        tokio::time::sleep(delay + Duration::from_millis(jitter)).await;
        delay = (delay * 2).min(max_delay);
    }
}

async fn connect(inner: &Arc<Inner>) -> Result<crate::backend::local::socket::Ws, String> {
    let credential = inner.http.credential().await.map_err(|e| e.to_string())?;
    let token = credential.as_ref().map(|c| c.secret().expose().to_owned()).unwrap_or_default();
    let url = inner.config.ws_url(&token);
    // The credential rides in the query (`token`), as Cloud wants it; the header is sent too
    // (the socket goes to the Cloud's own host).
    let header = credential.map(|c| c.header());
    let mut ws = crate::backend::local::socket::open(&url, header, &inner.tls, inner.config.connect_timeout)
        .await
        .map_err(|e| e.replace(&token, "***"))?;
    ws.send(Message::Text(FEATURE_FLAGS.into())).await.map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Reads frames until the socket ends; returns why it ended.
async fn serve(mut ws: crate::backend::local::socket::Ws, inner: &std::sync::Weak<Inner>) -> String {
    loop {
        let decoded = match ws.next().await {
            Some(Ok(Message::Text(text))) => decode_text(&text),
            Some(Ok(Message::Binary(data))) => decode_binary(&data),
            Some(Ok(Message::Close(frame))) => {
                return frame.map_or("closed by the server".into(), |f| {
                    format!("closed by the server: {}", f.reason)
                });
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return e.to_string(),
            None => return "the connection ended".into(),
        };
        let Some(me) = inner.upgrade() else { return "the backend was dropped".into() };
        match decoded {
            Ok(events) => {
                for event in events {
                    let keep = match &event {
                        BackendEvent::Job { job_id, .. } => me.known(job_id.as_str()),
                        BackendEvent::Unaddressed(_) => false,
                        _ => true,
                    };
                    if keep {
                        let _ = me.events.send(event);
                    }
                }
            }
            Err(reason) => tracing::debug!(backend = %me.config.name, %reason, "ignored a websocket frame"),
        }
    }
}
