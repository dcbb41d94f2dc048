//! The "CDN" listener output URLs point to: no credential needed, and any request that carries
//! one is refused (a client that sends its token there leaks it, and this makes it fail loudly).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{CdnRequest, RcState};

pub(crate) fn build(state: Arc<RcState>) -> Router {
    Router::new()
        .route("/output/{token}/{name}", get(output))
        .route("/object_info/{file}", get(object_info))
        .with_state(state)
}

/// Logs the request; `true` when it carries a credential (and must be refused).
fn carries_credentials(state: &RcState, uri: &Uri, headers: &HeaderMap) -> bool {
    let names: Vec<String> = headers.keys().map(|k| k.as_str().to_ascii_lowercase()).collect();
    let refused = names.iter().any(|h| h == "authorization" || h == "x-api-key" || h == "cookie");
    state.lock().cdn_log.push(CdnRequest { path: uri.path().to_owned(), headers: names, refused });
    refused
}

fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "<Error><Code>AccessDenied</Code><Message>credentials are not accepted</Message></Error>",
    )
        .into_response()
}

async fn output(
    State(state): State<Arc<RcState>>,
    Path((token, _name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if carries_credentials(&state, &uri, &headers) {
        return refused();
    }
    let Some((folder, subfolder, filename)) = state.lock().hosted.get(&token).cloned() else {
        return (StatusCode::NOT_FOUND, "<Error><Code>NoSuchKey</Code></Error>").into_response();
    };
    let query: HashMap<String, String> =
        [("filename".to_owned(), filename), ("subfolder".to_owned(), subfolder), ("type".to_owned(), folder)]
            .into_iter()
            .collect();
    crate::upload::view(State(state.engine.clone()), Query(query)).await
}

async fn object_info(
    State(state): State<Arc<RcState>>,
    Path(file): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if carries_credentials(&state, &uri, &headers) {
        return refused();
    }
    let id = file.trim_end_matches(".json");
    if !super::deployments::exists(&state, id) {
        return (StatusCode::NOT_FOUND, "<Error><Code>NoSuchKey</Code></Error>").into_response();
    }
    crate::router::object_info(State(state.engine.clone())).await
}
