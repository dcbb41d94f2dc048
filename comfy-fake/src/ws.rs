//! `GET /ws?clientId=…` (`server.py` `websocket_handler`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::state::{Conn, Outgoing, Shared, server_features};

/// aiohttp's answer to a GET without upgrade headers.
const NO_UPGRADE: &str = "No WebSocket UPGRADE hdr: None\n Can \"Upgrade\" only to \"WebSocket\".";

pub(crate) async fn handler(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if shared.lock().scripts.refuse_websockets {
        return (StatusCode::SERVICE_UNAVAILABLE, "503: Service Unavailable").into_response();
    }
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                NO_UPGRADE,
            )
                .into_response();
        }
    };
    // An empty or absent clientId gets `uuid.uuid4().hex`.
    let client_id = query
        .get("clientId")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| crate::state::uuid4().replace('-', ""));
    upgrade.on_upgrade(move |socket| run(shared, socket, client_id))
}

async fn run(shared: Arc<Shared>, mut socket: WebSocket, client_id: String) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn_id = {
        let mut st = shared.lock();
        let conn_id = st.next_conn;
        st.next_conn += 1;
        // Connecting again with the same clientId replaces the registration: the old socket
        // stays open but receives nothing more.
        st.registered.shift_remove(&client_id);
        st.conns.insert(conn_id, Conn { client_id: client_id.clone(), tx, supports_preview_metadata: false });
        st.registered.insert(client_id.clone(), conn_id);
        st.send_json(Some(&client_id), "status", json!({"status": st.queue_info(), "sid": client_id}));
        let owns_running =
            st.running.as_ref().and_then(|r| r.client_id()).as_deref() == Some(client_id.as_str());
        if owns_running && let Some(node) = st.last_node_id.clone() {
            st.send_json(Some(&client_id), "executing", json!({"node": node}));
        }
        conn_id
    };

    let mut first_text = true;
    loop {
        tokio::select! {
            out = rx.recv() => {
                let msg = match out {
                    Some(Outgoing::Text(t)) => Message::Text(t.into()),
                    Some(Outgoing::Binary(b)) => Message::Binary(b.into()),
                    // Killed: drop the socket without a close frame.
                    Some(Outgoing::Kill) | None => break,
                };
                if socket.send(msg).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if first_text {
                        first_text = false;
                        negotiate(&shared, conn_id, text.as_str());
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            }
        }
    }
    shared.lock().remove_conn(conn_id);
}

/// Only the first text message counts: `{"type":"feature_flags","data":{...}}` stores the
/// client's flags and is answered with the server's.
fn negotiate(shared: &Shared, conn_id: u64, text: &str) {
    let Ok(msg) = serde_json::from_str::<Value>(text) else { return };
    if msg.get("type").and_then(Value::as_str) != Some("feature_flags") {
        return;
    }
    let wants_metadata = msg
        .get("data")
        .and_then(|d| d.get("supports_preview_metadata"))
        .is_some_and(|v| v.as_bool() == Some(true));
    let mut st = shared.lock();
    if let Some(conn) = st.conns.get_mut(&conn_id) {
        conn.supports_preview_metadata = wants_metadata;
        let reply = json!({"type": "feature_flags", "data": server_features()}).to_string();
        let _ = conn.tx.send(Outgoing::Text(reply));
    }
}
