//! Streamable HTTP on axum: `/mcp` (MCP, behind auth, rate limit, body limit and tool scopes),
//! `/healthz` (the process is up), `/readyz` (per-backend readiness, [`ready`]) and `/metrics`
//! (Prometheus, [`metrics`]). The two probes need no token (without one, `/readyz` names no
//! backend URL); neither does the OAuth protected-resource metadata
//! (`/.well-known/oauth-protected-resource`, see [`oauth`]) when OAuth is configured. The legacy
//! HTTP+SSE transport (`/sse` and `/messages`, [`sse`]) sits behind the same guard as `/mcp`.
//!
//! Host and Origin checks (DNS-rebinding protection) and the body limit are also enforced by
//! rmcp's [`StreamableHttpService`] with the configured lists.

pub mod auth;
pub mod conn;
pub mod limits;
pub mod metrics;
pub mod oauth;
pub mod ready;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, Method, StatusCode, header};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use self::auth::TokenSet;
use self::limits::RateLimiter;
use self::oauth::OAuth;
use crate::server::ComfyMcp;
use crate::state::AppState;
use crate::tools::Registry;

/// What the `/mcp` middleware checks.
#[derive(Debug)]
pub struct HttpGuard {
    tokens: TokenSet,
    oauth: Option<Arc<OAuth>>,
    limiter: RateLimiter,
    max_body: usize,
    body_timeout: Duration,
}

/// The axum app: `/mcp`, `/sse` + `/messages` (legacy HTTP+SSE), `/healthz`, `/readyz`,
/// `/metrics` (unless turned off).
/// `shutdown` ends open MCP streams.
pub fn router(state: Arc<AppState>, shutdown: CancellationToken) -> Router {
    let registry = Arc::new(Registry::for_backend(state.comfy.backend().as_ref()));
    router_with(state, registry, shutdown)
}

/// [`router`] with a custom tool registry.
pub fn router_with(state: Arc<AppState>, registry: Arc<Registry>, shutdown: CancellationToken) -> Router {
    let settings = state.settings.clone();
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(settings.effective_allowed_hosts())
        .with_max_request_body_bytes(settings.limits.max_body_bytes)
        .with_cancellation_token(shutdown.clone());
    if !settings.http.allowed_origins.is_empty() {
        config = config.with_allowed_origins(settings.http.allowed_origins.clone());
    }
    let factory_state = state.clone();
    let legacy = sse::routes(state.clone(), registry.clone(), shutdown);
    let mcp = StreamableHttpService::new(
        move || Ok(ComfyMcp::with_registry(factory_state.clone(), registry.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let oauth = settings.http.oauth.clone().map(|o| Arc::new(OAuth::new(o, &settings.ca_certs)));
    let guard = Arc::new(HttpGuard {
        tokens: TokenSet::new(&settings.http.tokens),
        oauth: oauth.clone(),
        limiter: RateLimiter::new(settings.limits.rate_limit_per_minute).shared(state.comfy.store().shared()),
        max_body: settings.limits.max_body_bytes,
        body_timeout: Duration::from_secs(settings.limits.body_timeout_secs),
    });
    let mcp_routes = Router::new()
        .nest_service("/mcp", mcp)
        .merge(legacy)
        .layer(axum::middleware::from_fn_with_state(guard.clone(), guard_mcp));
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .merge(ready::routes(state.clone(), guard.clone()))
        .merge(mcp_routes);
    if settings.http.metrics {
        app = app.merge(metrics::routes(state.clone(), guard.clone()));
    }
    // Unknown paths answer behind the token check too: without a token, the server does not
    // tell which paths exist.
    let unknown = Router::new()
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn_with_state(guard, guard_mcp));
    app = app.fallback_service(unknown);
    if let Some(oauth) = &oauth {
        app = app.merge(oauth.metadata_routes());
    }
    app.layer(axum::middleware::from_fn_with_state(state, metrics::track))
}

/// Serves HTTP on the configured address until `shutdown` is cancelled.
pub async fn serve(state: Arc<AppState>, shutdown: CancellationToken) -> std::io::Result<()> {
    let addr = state.settings.listen_addr().map_err(|e| std::io::Error::other(e.0))?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_listener(state, listener, shutdown).await
}

/// Serves HTTP on an already-bound listener until `shutdown` is cancelled (HTTP/1.1 with
/// keep-alive, `TCP_NODELAY`, request headers bounded by `[limits] header_timeout_secs`; see
/// [`conn`]), then drains ([`crate::drain`]): no new connections or submissions, calls in
/// flight finish (up to `[http] drain_timeout_secs`), then open streams end.
pub async fn serve_listener(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    tracing::info!(address = %local, endpoint = %format!("http://{local}/mcp"), tokens = state.settings.http.tokens.len(), "serving MCP over HTTP");
    let header_timeout = Duration::from_secs(state.settings.limits.header_timeout_secs);
    let streams = CancellationToken::new();
    let app = router(state.clone(), streams.clone());
    let server = conn::serve_connections(listener, app, header_timeout, shutdown.clone());
    crate::drain::run(state, shutdown, streams, server).await
}

pub use self::conn::no_delay;

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": code, "message": message}))).into_response()
}

/// 413, and the connection closed: the rest of the body is not read, so the connection cannot
/// carry another request (without `Connection: close` a keep-alive client could send its next
/// request on it just as it closes).
fn too_large() -> Response {
    let mut r =
        error_response(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large");
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Authenticates, rate-limits, bounds the body and enforces tool scopes for `/mcp`.
async fn guard_mcp(State(guard): State<Arc<HttpGuard>>, request: Request, next: Next) -> Response {
    let caller = match oauth::authenticate(&guard.tokens, guard.oauth.as_deref(), request.headers()).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let principal = caller.principal;
    if let Err(wait) = guard.limiter.check(&principal.name).await {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        tracing::warn!(principal = %principal.name, retry_after_s = secs, "rate limit exceeded");
        let mut r =
            error_response(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; retry later");
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let (mut parts, body) = request.into_parts();
    let body = if parts.method == Method::POST {
        if parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > guard.max_body as u64)
        {
            return too_large();
        }
        // A body that trickles in (or never ends) must not hold the connection forever.
        let bytes = match tokio::time::timeout(guard.body_timeout, axum::body::to_bytes(body, guard.max_body))
            .await
        {
            Ok(Ok(b)) => b,
            Err(_) => {
                let mut r = error_response(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request body did not arrive in time",
                );
                r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
            Ok(Err(_)) => return too_large(),
        };
        if principal.tools.is_some()
            && let Ok(message) = serde_json::from_slice::<Value>(&bytes)
            && let Some(tool) = called_tools(&message).into_iter().find(|t| !principal.may_call(t))
        {
            tracing::warn!(principal = %principal.name, tool = %tool.chars().take(128).collect::<String>(), "tool outside the token's scope");
            let mut r =
                error_response(StatusCode::FORBIDDEN, "forbidden", "this token may not call that tool");
            if caller.via_oauth
                && let Some(oauth) = &guard.oauth
            {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, oauth.insufficient_scope(&tool));
            }
            return r;
        }
        Body::from(bytes)
    } else {
        body
    };
    let delete = parts.method == Method::DELETE;
    parts.extensions.insert(principal);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // rmcp answers a session's DELETE with 202; the official clients expect 200 or 204 (the
    // Python SDK logs "Session termination failed: 202"). The session is gone either way.
    if delete && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

/// The tool names of every `tools/call` in a JSON-RPC message or batch.
fn called_tools(message: &Value) -> Vec<String> {
    let one = |m: &Value| -> Option<String> {
        (m.get("method")?.as_str()? == "tools/call").then(|| {
            m.get("params").and_then(|p| p.get("name")).and_then(Value::as_str).unwrap_or("").to_owned()
        })
    };
    match message {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}
