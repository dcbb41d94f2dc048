//! `GET /metrics`: the core client's Prometheus metrics ([`comfy_core::metrics`]) in the
//! OpenMetrics text format, on the same listener as `/mcp`.
//!
//! Auth: when access tokens or OAuth are configured, a scrape needs a valid token like `/mcp`
//! (any token; tool scopes do not apply); without them it is open like the rest of a loopback
//! server. `[http] metrics = false` removes the route. The series carry counts, durations,
//! backend names and error codes: never a prompt, a token or a path.
//!
//! `track` is the layer in front of every route: it counts responses by status and holds
//! requests other than `GET` (tool calls over `POST /mcp`) as in flight until their body has
//! been sent, which is what a graceful drain ([`crate::drain`]) waits for.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, header};

use super::HttpGuard;
use crate::state::AppState;

/// The `/metrics` route.
pub(super) fn routes(state: Arc<AppState>, guard: Arc<HttpGuard>) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state((state, guard))
}

async fn scrape(
    State((state, guard)): State<(Arc<AppState>, Arc<HttpGuard>)>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = super::oauth::authenticate(&guard.tokens, guard.oauth.as_deref(), &headers).await {
        return response;
    }
    let text = state.comfy.render_metrics().await;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(comfy_core::metrics::CONTENT_TYPE));
    response
}

/// Counts every response by status; a request other than `GET` stays in flight until its
/// response body, when it streams (a tool call's event stream), has been sent or dropped.
pub(super) async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let in_flight = (request.method() != Method::GET).then(|| state.comfy.metrics().http_request());
    let response = next.run(request).await;
    state.comfy.metrics().http_response(response.status().as_u16());
    let Some(in_flight) = in_flight else { return response };
    if response.body().size_hint().exact().is_some() {
        // A body already in memory (a JSON answer): it keeps its Content-Length.
        return response;
    }
    let (parts, body) = response.into_parts();
    let stream = body.into_data_stream();
    let guarded = futures::stream::unfold((stream, in_flight), |(mut stream, guard)| async move {
        let item = stream.next().await?;
        Some((item, (stream, guard)))
    });
    Response::from_parts(parts, Body::from_stream(guarded))
}
