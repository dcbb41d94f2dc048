//! The "storage" listener `/api/view` redirects to: signed URLs that need no credential and
//! refuse any request that carries one (a client that follows the redirect with its API key
//! leaks it, and this makes such a client fail loudly).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{CloudState, StorageRequest};

pub(crate) fn build(cloud: Arc<CloudState>) -> Router {
    Router::new().route("/bucket/{token}/{name}", get(object)).with_state(cloud)
}

async fn object(
    State(cloud): State<Arc<CloudState>>,
    Path((token, _name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let names: Vec<String> = headers.keys().map(|k| k.as_str().to_ascii_lowercase()).collect();
    let carries_key = names.iter().any(|h| h == "x-api-key" || h == "authorization" || h == "cookie");
    let signed = {
        let mut inner = cloud.lock();
        inner.storage_log.push(StorageRequest {
            path: uri.path().to_owned(),
            headers: names,
            refused: carries_key,
        });
        let signature = query.get("X-Goog-Signature").cloned().unwrap_or_default();
        inner.signed.get(&format!("{token}:{signature}")).cloned()
    };
    if carries_key {
        return (
            StatusCode::FORBIDDEN,
            "<Error><Code>AccessDenied</Code><Message>credentials are not accepted on signed URLs</Message></Error>",
        )
            .into_response();
    }
    let Some((folder, subfolder, filename)) = signed else {
        return (StatusCode::FORBIDDEN, "<Error><Code>SignatureDoesNotMatch</Code></Error>").into_response();
    };
    let query: HashMap<String, String> =
        [("filename".to_owned(), filename), ("subfolder".to_owned(), subfolder), ("type".to_owned(), folder)]
            .into_iter()
            .collect();
    crate::upload::view(State(cloud.engine.clone()), Query(query)).await
}
