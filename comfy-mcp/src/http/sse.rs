//! The legacy HTTP+SSE transport (MCP 2024-11-05) for clients that have not moved to
//! streamable HTTP: `GET /sse` opens an event stream whose first event, `endpoint`, names
//! `/messages?sessionId=…`; the client POSTs its JSON-RPC messages there (answered `202
//! Accepted`) and every response and notification comes back as a `message` event on the
//! stream. Each stream is one MCP session served by its own [`ComfyMcp`]; it ends when the
//! client disconnects (or the server shuts down).
//!
//! Both routes sit behind the same guard as `/mcp` (tokens, rate limit, body limit, tool
//! scopes) and check `Host` and `Origin` as the streamable transport does. A session accepts
//! messages only from the token that opened it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::{RoleServer, ServiceExt};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::auth::Principal;
use super::error_response;
use crate::server::ComfyMcp;
use crate::state::AppState;
use crate::tools::Registry;

/// Most SSE sessions open at once; one more is refused with 503.
pub const MAX_SESSIONS: usize = 1024;
/// Messages queued per direction before the sender waits.
const QUEUE: usize = 64;
/// How often an idle stream gets a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The open SSE sessions and what a new one is built from.
#[derive(Debug)]
pub struct SseSessions {
    state: Arc<AppState>,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    sessions: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    /// Messages to the session's server.
    inbox: mpsc::Sender<ClientJsonRpcMessage>,
    /// The token label that opened it.
    owner: String,
}

impl SseSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many sessions are open.
    pub fn open(&self) -> usize {
        self.lock().len()
    }
}

/// `GET /sse` and `POST /messages`, to be mounted behind the `/mcp` guard.
pub fn routes(state: Arc<AppState>, registry: Arc<Registry>, shutdown: CancellationToken) -> Router {
    let settings = state.settings.clone();
    let sessions = Arc::new(SseSessions {
        allowed_hosts: settings.effective_allowed_hosts(),
        allowed_origins: settings.http.allowed_origins.clone(),
        state,
        registry,
        shutdown,
        sessions: Mutex::new(HashMap::new()),
    });
    Router::new().route("/sse", get(open)).route("/messages", post(message)).with_state(sessions)
}

/// The rmcp transport of one session: messages in from POSTs, messages out to the stream.
struct ChannelTransport {
    inbox: mpsc::Receiver<ClientJsonRpcMessage>,
    outbox: mpsc::Sender<ServerJsonRpcMessage>,
}

impl Transport<RoleServer> for ChannelTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outbox = self.outbox.clone();
        async move {
            outbox
                .send(item)
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the SSE stream is closed"))
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        self.inbox.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inbox.close();
        Ok(())
    }
}

/// Removes its session when the stream is dropped (client gone) and stops its server.
struct Closing {
    sessions: Arc<SseSessions>,
    id: String,
    ct: CancellationToken,
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
        self.ct.cancel();
        tracing::debug!(session = %self.id, "SSE session closed");
    }
}

async fn open(State(sessions): State<Arc<SseSessions>>, request: Request) -> Response {
    if let Some(refusal) = refuse_host_origin(request.headers(), &sessions) {
        return refusal;
    }
    let owner =
        request.extensions().get::<Principal>().map_or_else(|| "anonymous".to_owned(), |p| p.name.clone());
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (inbox_tx, inbox_rx) = mpsc::channel(QUEUE);
    let (outbox_tx, outbox_rx) = mpsc::channel::<ServerJsonRpcMessage>(QUEUE);
    {
        let mut map = sessions.lock();
        if map.len() >= MAX_SESSIONS {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_sessions",
                "too many SSE sessions are open; retry later",
            );
        }
        map.insert(id.clone(), Entry { inbox: inbox_tx, owner: owner.clone() });
    }
    let ct = sessions.shutdown.child_token();
    let server = ComfyMcp::with_registry(sessions.state.clone(), sessions.registry.clone());
    let transport = ChannelTransport { inbox: inbox_rx, outbox: outbox_tx };
    let session_ct = ct.clone();
    let session_id = id.clone();
    tokio::spawn(async move {
        match server.serve_with_ct(transport, session_ct).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => {
                tracing::debug!(session = %session_id, error = %e, "SSE session ended before initialize")
            }
        }
    });
    tracing::info!(session = %id, principal = %owner, "SSE session opened");
    let endpoint = Event::default().event("endpoint").data(format!("/messages?sessionId={id}"));
    let closing = Closing { sessions: sessions.clone(), id, ct };
    let messages = futures::stream::unfold((outbox_rx, closing), |(mut outbox, closing)| async move {
        let message = tokio::select! {
            _ = closing.ct.cancelled() => None,
            m = outbox.recv() => m,
        };
        message.map(|m| (event(&m), (outbox, closing)))
    });
    let events = futures::StreamExt::chain(futures::stream::once(async move { endpoint }), messages);
    Sse::new(futures::StreamExt::map(events, Ok::<Event, Infallible>))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// One server message as a `message` event.
fn event(message: &ServerJsonRpcMessage) -> Event {
    match serde_json::to_string(message) {
        Ok(json) => Event::default().event("message").data(json),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a server message");
            Event::default().comment("unencodable message dropped")
        }
    }
}

/// The query of `POST /messages`.
#[derive(Debug, Deserialize)]
struct SessionQuery {
    #[serde(rename = "sessionId", alias = "session_id")]
    session_id: Option<String>,
}

async fn message(
    State(sessions): State<Arc<SseSessions>>,
    Query(query): Query<SessionQuery>,
    request: Request,
) -> Response {
    if let Some(refusal) = refuse_host_origin(request.headers(), &sessions) {
        return refusal;
    }
    let Some(id) = query.session_id.filter(|s| !s.is_empty()) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "missing sessionId: POST to the endpoint URL the `endpoint` event of GET /sse named",
        );
    };
    let (parts, body) = request.into_parts();
    let caller = parts.extensions.get::<Principal>().map_or("anonymous", |p| p.name.as_str());
    let inbox = {
        let map = sessions.lock();
        match map.get(&id) {
            // Another token's session is as unknown as one that does not exist.
            Some(entry) if entry.owner == caller => entry.inbox.clone(),
            _ => return unknown_session(),
        }
    };
    // The guard already bounded the body.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("cannot read the body: {e}"),
            );
        }
    };
    let messages = match parse_messages(&bytes) {
        Ok(m) => m,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "invalid_request", &message),
    };
    for mut m in messages {
        match &mut m {
            ClientJsonRpcMessage::Request(r) => {
                r.request.extensions_mut().insert(parts.clone());
            }
            ClientJsonRpcMessage::Notification(n) => {
                n.notification.extensions_mut().insert(parts.clone());
            }
            _ => {}
        }
        if inbox.send(m).await.is_err() {
            return unknown_session();
        }
    }
    (StatusCode::ACCEPTED, "Accepted").into_response()
}

fn unknown_session() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "session_not_found",
        "no such SSE session (closed, or opened with another token): open a new one with GET /sse",
    )
}

/// One JSON-RPC message, or a batch of them (2024-11-05 allows batches).
fn parse_messages(bytes: &[u8]) -> Result<Vec<ClientJsonRpcMessage>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("the body is not JSON: {e}"))?;
    let one = |v: Value| {
        serde_json::from_value::<ClientJsonRpcMessage>(v)
            .map_err(|e| format!("the body is not a JSON-RPC message of an MCP client: {e}"))
    };
    match value {
        Value::Array(items) if items.is_empty() => Err("an empty batch".to_owned()),
        Value::Array(items) => items.into_iter().map(one).collect(),
        other => one(other).map(|m| vec![m]),
    }
}

/// The refusal of a `Host` not in the allowed hosts (DNS rebinding) and, when allowed origins
/// are configured, of an `Origin` not among them: the checks the streamable transport makes.
fn refuse_host_origin(headers: &HeaderMap, sessions: &SseSessions) -> Option<Response> {
    let forbidden = |m: &str| Some(error_response(StatusCode::FORBIDDEN, "forbidden", m));
    if !sessions.allowed_hosts.is_empty() {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| axum::http::uri::Authority::try_from(h).ok());
        let Some(host) = host else {
            return Some(error_response(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "missing or invalid Host header",
            ));
        };
        if !host_allowed(host.host(), host.port_u16(), &sessions.allowed_hosts) {
            tracing::warn!(host = %host, "SSE request with a disallowed Host header");
            return forbidden("the Host header is not allowed");
        }
    }
    if !sessions.allowed_origins.is_empty()
        && let Some(origin) = headers.get(axum::http::header::ORIGIN)
    {
        let allowed = origin.to_str().ok().is_some_and(|o| origin_allowed(o, &sessions.allowed_origins));
        if !allowed {
            tracing::warn!(origin = ?origin, "SSE request with a disallowed Origin header");
            return forbidden("the Origin header is not allowed");
        }
    }
    None
}

fn bare(host: &str) -> String {
    host.trim_matches(['[', ']']).to_ascii_lowercase()
}

/// `host[:port]` against entries `host` (any port) or `host:port`.
fn host_allowed(host: &str, port: Option<u16>, allowed: &[String]) -> bool {
    let host = bare(host);
    allowed.iter().any(|a| {
        let a = a.trim();
        let (a_host, a_port) = match axum::http::uri::Authority::try_from(a) {
            Ok(auth) => (bare(auth.host()), auth.port_u16()),
            Err(_) => (bare(a), None),
        };
        a_host == host && a_port.is_none_or(|p| port == Some(p))
    })
}

/// An origin against entries `scheme://host`, `scheme://host:port` or `scheme://host:*`.
fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let parse = |s: &str| -> Option<(String, String, Option<u16>)> {
        let uri = axum::http::Uri::try_from(s.trim()).ok()?;
        let auth = uri.authority()?;
        Some((uri.scheme_str()?.to_ascii_lowercase(), bare(auth.host()), auth.port_u16()))
    };
    let default_port = |scheme: &str| match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    if origin.trim().eq_ignore_ascii_case("null") {
        return allowed.iter().any(|a| a.trim().eq_ignore_ascii_case("null"));
    }
    let Some((scheme, host, port)) = parse(origin) else { return false };
    let port = port.or_else(|| default_port(&scheme));
    allowed.iter().any(|a| {
        let (entry, any_port) = match a.trim().strip_suffix(":*") {
            Some(base) => (base, true),
            None => (a.trim(), false),
        };
        let Some((a_scheme, a_host, a_port)) = parse(entry) else { return false };
        a_scheme == scheme && a_host == host && (any_port || a_port.is_none() || a_port == port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "example.com:8080".to_owned(),
        ];
        assert!(host_allowed("localhost", Some(3000), &hosts));
        assert!(host_allowed("[::1]", Some(1), &hosts));
        assert!(host_allowed("EXAMPLE.com", Some(8080), &hosts));
        assert!(!host_allowed("example.com", Some(80), &hosts));
        assert!(!host_allowed("evil.test", None, &hosts));
        let origins = vec!["https://app.test".to_owned(), "http://localhost:*".to_owned(), "null".to_owned()];
        assert!(origin_allowed("https://app.test", &origins));
        assert!(origin_allowed("http://localhost:5173", &origins));
        assert!(origin_allowed("null", &origins));
        assert!(!origin_allowed("http://app.test", &origins));
        assert!(!origin_allowed("https://evil.test", &origins));
        assert!(!origin_allowed("not a url", &origins));
    }

    #[test]
    fn messages_and_batches() {
        let one = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        assert_eq!(parse_messages(one).unwrap().len(), 1);
        let two = br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#;
        assert_eq!(parse_messages(two).unwrap().len(), 2);
        assert!(parse_messages(b"[]").unwrap_err().contains("empty batch"));
        assert!(parse_messages(b"{nope").unwrap_err().contains("not JSON"));
        assert!(parse_messages(br#"{"hello":1}"#).unwrap_err().contains("JSON-RPC"));
    }
}
