//! `GET /readyz`: whether this server should get traffic. 200 when it is not draining and at
//! least one backend answers its health check (within 3 s), else 503; the body names each
//! backend's kind, whether it answered, and its last failed check.
//!
//! It needs no token (load balancers probe it). When access tokens or OAuth are configured, a
//! request without a valid token sees no backend names (they carry URLs) or error messages,
//! only kinds, states and error codes; with a token (or on a server without tokens) it sees
//! everything ([`comfy_core::Readiness`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::HttpGuard;
use crate::state::AppState;

/// How long each backend gets to answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The `/readyz` route.
pub(super) fn routes(state: Arc<AppState>, guard: Arc<HttpGuard>) -> Router {
    Router::new().route("/readyz", get(readyz)).with_state((state, guard))
}

async fn readyz(
    State((state, guard)): State<(Arc<AppState>, Arc<HttpGuard>)>,
    headers: HeaderMap,
) -> Response {
    let readiness = state.comfy.readiness(CHECK_TIMEOUT).await;
    let code = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let detailed = super::oauth::authenticate(&guard.tokens, guard.oauth.as_deref(), &headers).await.is_ok();
    let body = if detailed {
        serde_json::to_value(&readiness).unwrap_or(Value::Null)
    } else {
        let backends: Vec<Value> = readiness
            .backends
            .iter()
            .map(|b| {
                let mut v = json!({"kind": b.kind, "ready": b.ready});
                if let Some(e) = &b.last_error {
                    v["last_error"] = json!({"code": e.code, "at": e.at});
                }
                v
            })
            .collect();
        json!({
            "status": readiness.status,
            "ready": readiness.ready,
            "draining": readiness.draining,
            "backends": backends,
        })
    };
    (code, axum::Json(body)).into_response()
}
