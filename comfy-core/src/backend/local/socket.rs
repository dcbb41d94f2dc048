//! The one WebSocket of a client: connect with the stable client id, negotiate preview
//! metadata, decode every frame into [`BackendEvent`]s, and reconnect with backoff forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::config::LocalConfig;
use super::messages::{decode_binary, decode_text};
use crate::backend::BackendEvent;

/// The first message: ask for previews that carry their prompt and node ids (event type 4).
const FEATURE_FLAGS: &str = r#"{"type":"feature_flags","data":{"supports_preview_metadata":true}}"#;

/// Built with the `websocket` feature: live events flow.
pub(crate) const AVAILABLE: bool = true;

/// Shared view of the socket for the backend.
#[derive(Debug, Default)]
pub(crate) struct SocketState {
    pub(crate) connected: AtomicBool,
}

/// Runs until the task is aborted (when the backend is dropped).
pub(crate) async fn run(
    config: LocalConfig,
    tls: Arc<rustls::ClientConfig>,
    tx: broadcast::Sender<BackendEvent>,
    state: Arc<SocketState>,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        match connect(&config, &tls).await {
            Ok(ws) => {
                delay = Duration::from_millis(100);
                state.connected.store(true, Ordering::SeqCst);
                tracing::debug!(backend = %config.name, "websocket connected");
                let _ = tx.send(BackendEvent::Connected);
                let reason = serve(ws, &tx, &config.name).await;
                state.connected.store(false, Ordering::SeqCst);
                tracing::debug!(backend = %config.name, %reason, "websocket disconnected");
                let _ = tx.send(BackendEvent::Disconnected { reason });
            }
            Err(reason) => tracing::debug!(backend = %config.name, %reason, "websocket connect failed"),
        }
        let jitter = rand::random::<u64>() % (delay.as_millis() as u64 / 4 + 1);
        tokio::time::sleep(delay + Duration::from_millis(jitter)).await;
        delay = (delay * 2).min(config.max_reconnect_delay);
    }
}

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(config: &LocalConfig, tls: &Arc<rustls::ClientConfig>) -> Result<Ws, String> {
    let header = match config.credential_provider() {
        Some(provider) => Some(provider.credential().await.map_err(|e| e.to_string())?.header()),
        None => None,
    };
    let mut ws = open(&config.ws_url(), header, tls, config.connect_timeout).await?;
    ws.send(Message::Text(FEATURE_FLAGS.into())).await.map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Opens a WebSocket (`ws://` or `wss://` with our TLS configuration), with an optional
/// credential header, within `timeout`.
pub(crate) async fn open(
    url: &str,
    header: Option<(String, crate::Secret)>,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<Ws, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    if let Some((name, value)) = header {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| e.to_string())?;
        let value = tokio_tungstenite::tungstenite::http::HeaderValue::from_str(value.expose())
            .map_err(|_| "the credential is not a valid header value".to_string())?;
        request.headers_mut().insert(name, value);
    }
    let connector = tokio_tungstenite::Connector::Rustls(tls.clone());
    let connecting = tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector));
    let (ws, _) = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
        .map_err(|e| {
            let text = crate::backend::http::error_chain(&e);
            match crate::backend::tls::certificate_hint(&text) {
                Some(hint) => format!("{text} ({hint})"),
                None => text,
            }
        })?;
    Ok(ws)
}

/// Reads frames until the socket ends; returns why it ended.
pub(crate) async fn serve(mut ws: Ws, tx: &broadcast::Sender<BackendEvent>, backend: &str) -> String {
    loop {
        let events = match ws.next().await {
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
        match events {
            Ok(events) => {
                for event in events {
                    let _ = tx.send(event);
                }
            }
            Err(reason) => tracing::debug!(backend, %reason, "ignored a websocket frame"),
        }
    }
}
