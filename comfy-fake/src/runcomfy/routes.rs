//! The API's HTTP surface: bearer auth, RunComfy's error envelope, and the route table.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{CancelShape, ErrorShape, RcState, deployments, requests};
use crate::router::{json_ok, json_response};

/// The account a request was authenticated as.
#[derive(Debug, Clone)]
pub(crate) struct Account(pub String);

/// An error answer carried through `Result` (boxed: a response is large).
pub(crate) type Refused = Box<Response>;

/// RunComfy's error envelope.
pub(crate) fn api_error(status: StatusCode, code: u64, message: &str) -> Response {
    json_response(status, &json!({"error_code": code, "error_message": message}))
}

/// [`api_error`], boxed for a `Result`.
pub(crate) fn api_refusal(status: StatusCode, code: u64, message: &str) -> Refused {
    Box::new(api_error(status, code, message))
}

/// [`validation_error`], boxed for a `Result`.
pub(crate) fn validation_refusal(detail: Vec<Value>) -> Refused {
    Box::new(validation_error(detail))
}

/// 422001 with a FastAPI-style `detail` list.
pub(crate) fn validation_error(detail: Vec<Value>) -> Response {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({"error_code": 422001, "error_message": "Validation Error", "detail": detail}),
    )
}

pub(crate) fn build(state: Arc<RcState>) -> Router {
    let queue = |v: &str| {
        Router::<Arc<RcState>>::new()
            .route(&format!("/prod/{v}/deployments/{{id}}/inference"), post(requests::inference))
            .route(&format!("/prod/{v}/deployments/{{id}}/requests/{{rid}}/status"), get(requests::status))
            .route(&format!("/prod/{v}/deployments/{{id}}/requests/{{rid}}/result"), get(requests::result))
            .route(&format!("/prod/{v}/deployments/{{id}}/requests/{{rid}}/cancel"), post(requests::cancel))
    };
    let api = Router::<Arc<RcState>>::new()
        .route("/prod/v2/deployments", get(deployments::list).post(deployments::create))
        .route(
            "/prod/v2/deployments/{id}",
            get(deployments::get_one).patch(deployments::update).delete(deployments::delete),
        )
        .route("/prod/v2/deployments/{id}/instances/{iid}/proxy/{*path}", post(requests::proxy))
        .route(
            "/prod/v2/balance",
            get(|| async { json_ok(&json!({"balance_usd": 12.5, "balance_microdollars": 12_500_000})) }),
        )
        .merge(queue("v1"))
        .merge(queue("v2"));
    api.fallback(|| async { api_error(StatusCode::NOT_FOUND, 404001, "Not Found") })
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        // Test hooks (after the auth layer: they need no token), for tests in other languages
        // that drive the `comfy-fake --runcomfy` binary.
        .route("/__fake/cdn-log", get(cdn_log))
        .route("/__fake/script", post(script))
        .with_state(state)
}

fn account_of(state: &RcState, headers: &HeaderMap) -> Option<String> {
    let token = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")?;
    state.lock().tokens_seen.push(token.trim().to_owned());
    state.tokens.get(token.trim()).cloned()
}

async fn auth(State(state): State<Arc<RcState>>, mut req: Request, next: Next) -> Response {
    match account_of(&state, req.headers()) {
        Some(account) => {
            let path = req.uri().path().to_owned();
            let failure = {
                let mut inner = state.lock();
                inner.calls.push(format!("{} {path}", req.method()));
                let hit = inner.failures.iter_mut().find(|(f, _, n)| *n > 0 && path.contains(f.as_str()));
                hit.map(|(_, status, n)| {
                    *n -= 1;
                    *status
                })
            };
            if let Some(status) = failure {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return api_error(status, 500001, "Internal error (scripted)");
            }
            req.extensions_mut().insert(Account(account));
            next.run(req).await
        }
        None => {
            api_error(StatusCode::UNAUTHORIZED, 401001, "Unauthorized: the API token is missing or invalid")
        }
    }
}

async fn cdn_log(State(state): State<Arc<RcState>>) -> Response {
    let log: Vec<Value> = state
        .lock()
        .cdn_log
        .iter()
        .map(|r| json!({"path": r.path, "headers": r.headers, "refused": r.refused}))
        .collect();
    json_ok(&json!({"requests": log}))
}

/// `POST /__fake/script` `{"cancel_shape": "outcome"|"requested", "error_shape": "object"|"array",
/// "canceled_spelling": bool, "failed_on_status": bool, "hold": bool,
/// "fail_node_class": [class, exception, message] | null}`.
async fn script(State(state): State<Arc<RcState>>, body: axum::body::Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "a JSON object").into_response();
    };
    {
        let mut inner = state.lock();
        match v.get("cancel_shape").and_then(Value::as_str) {
            Some("requested") => inner.cancel_shape = Some(CancelShape::Requested),
            Some("outcome") => inner.cancel_shape = Some(CancelShape::Outcome),
            _ => {}
        }
        match v.get("error_shape").and_then(Value::as_str) {
            Some("array") => inner.error_shape = Some(ErrorShape::Array),
            Some("object") => inner.error_shape = Some(ErrorShape::Object),
            _ => {}
        }
        if let Some(b) = v.get("canceled_spelling").and_then(Value::as_bool) {
            inner.canceled_spelling = b;
        }
        if let Some(b) = v.get("failed_on_status").and_then(Value::as_bool) {
            inner.failed_on_status = b;
        }
    }
    match v.get("hold").and_then(Value::as_bool) {
        Some(true) => state.engine.lock().hold = true,
        Some(false) => {
            state.engine.lock().hold = false;
            state.engine.wake.notify_one();
        }
        None => {}
    }
    match v.get("fail_node_class") {
        Some(Value::Array(a)) if a.len() == 3 => {
            let s = |i: usize| a[i].as_str().unwrap_or("").to_owned();
            state
                .engine
                .lock()
                .scripts
                .fail_classes
                .insert(s(0), crate::scripting::NodeFailure { exception_type: s(1), message: s(2) });
        }
        Some(Value::Null) => state.engine.lock().scripts.fail_classes.clear(),
        _ => {}
    }
    json_ok(&json!({"ok": true}))
}

/// Decodes `%XX` escapes (and `+` as a space) of a query value.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 3 <= bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
