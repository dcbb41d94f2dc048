//! The HTTP surface: routes (each also under `/api`), middleware and the read-only info routes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::scripting::{RouteScript, route_key};
use crate::state::{Shared, server_features};
use crate::{queue, upload, userdata, ws};

/// `--max-upload-size` default: 100 MB for every request body.
const MAX_BODY: usize = 100 * 1024 * 1024;

/// The page `answer_html` serves (what a frontend or login proxy would put there).
const HTML_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"UTF-8\"><title>ComfyUI</title></head><body></body></html>";

pub(crate) fn build(shared: Arc<Shared>) -> Router {
    let core: Router<Arc<Shared>> = Router::new()
        .route("/ws", get(ws::handler))
        .route("/system_stats", get(system_stats))
        .route("/features", get(features))
        .route("/object_info", get(object_info))
        .route("/object_info/{class}", get(object_info_class))
        .route("/models", get(models))
        .route("/models/{folder}", get(models_folder))
        .route("/embeddings", get(embeddings))
        .route("/prompt", post(queue::post_prompt).get(queue::get_prompt))
        .route("/queue", get(queue::get_queue).post(queue::post_queue))
        .route("/interrupt", post(queue::interrupt))
        .route("/free", post(queue::free))
        .route("/history", get(queue::get_history).post(queue::post_history))
        .route("/history/{prompt_id}", get(queue::get_history_item))
        .route("/upload/image", post(upload::upload_image))
        .route("/upload/mask", post(upload::upload_mask))
        .route("/view", get(upload::view))
        .route("/userdata", get(userdata::list))
        .route(
            "/userdata/{file}",
            get(userdata::get_file).post(userdata::post_file).delete(userdata::delete_file),
        )
        .route("/userdata/{file}/move/{dest}", post(userdata::move_file));
    Router::new()
        .merge(core.clone())
        .nest("/api", core)
        .route("/templates/{file}", get(userdata::template_file))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(shared.clone(), scripts_and_origin))
        .with_state(shared)
}

// ---- response helpers ----

/// `web.json_response`.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], value.to_string()).into_response()
}

pub(crate) fn json_ok(value: &Value) -> Response {
    json_response(StatusCode::OK, value)
}

/// A bodiless answer (`web.Response(status=...)`).
pub(crate) fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// aiohttp's answer to an unhandled exception in a handler (e.g. a body that is not JSON).
pub(crate) fn server_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "500 Internal Server Error\n\nServer got itself in trouble",
    )
        .into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "404: Not Found")
        .into_response()
}

// ---- middleware ----

/// ComfyUI's origin-only middleware (no `--enable-cors-header`), then the test scripts:
/// delays, scripted failures and HTML answers.
async fn scripts_and_origin(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if origin_mismatch(req.headers()) {
        return empty(StatusCode::FORBIDDEN);
    }
    if req.method() == Method::OPTIONS {
        return empty(StatusCode::OK);
    }
    let key = route_key(req.uri().path());
    let (delay, script) = {
        let mut st = shared.lock();
        for name in [header::AUTHORIZATION.as_str(), "x-api-key"] {
            if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
                st.credentials_seen.push(v.to_owned());
            }
        }
        let delay = st.scripts.route_delays.iter().find(|(p, _)| matches(p, &key)).map(|(_, d)| *d);
        let mut script = None;
        let mut exhausted = None;
        if let Some((pattern, s)) = st.scripts.routes.iter_mut().find(|(p, _)| matches(p, &key)) {
            if let RouteScript::Fail { remaining: Some(n), .. } = s {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    exhausted = Some(pattern.clone());
                }
            }
            script = Some(s.clone());
        }
        if let Some(p) = exhausted {
            st.scripts.routes.remove(&p);
        }
        (delay, script)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    match script {
        Some(RouteScript::Fail { status, body, .. }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let trimmed = body.trim_start();
            let ctype = if trimmed.starts_with('<') {
                "text/html; charset=utf-8"
            } else if serde_json::from_str::<Value>(&body).is_ok() {
                "application/json; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
            (status, [(header::CONTENT_TYPE, ctype)], Body::from(body)).into_response()
        }
        Some(RouteScript::Html) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], HTML_PAGE).into_response()
        }
        None => next.run(req).await,
    }
}

/// A script path matches exactly, or as a prefix when it ends with `*`.
fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

/// `create_origin_only_middleware`: with both `Host` and `Origin`, a loopback host must match
/// the origin (ports compared only when both sides carry one).
fn origin_mismatch(headers: &HeaderMap) -> bool {
    let (Some(host), Some(origin)) = (headers.get(header::HOST), headers.get(header::ORIGIN)) else {
        return false;
    };
    let host = host.to_str().unwrap_or("").to_ascii_lowercase();
    let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
    let netloc = origin.split_once("://").map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    let (host_name, host_port) = split_host_port(&host);
    let (origin_name, origin_port) = split_host_port(netloc);
    let loopback = host_name == "localhost"
        || host_name == "::1"
        || host_name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback || netloc.is_empty() {
        return false;
    }
    let (host_cmp, origin_cmp) = match (host_port, origin_port) {
        (None, _) => (host_name.to_string(), origin_name.to_string()),
        (Some(_), None) => (host_name.to_string(), netloc.to_string()),
        (Some(_), Some(_)) => (host.clone(), netloc.to_string()),
    };
    !origin_cmp.is_empty() && host_cmp != origin_cmp
}

fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        let (name, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (name, after.strip_prefix(':'));
    }
    match s.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (name, Some(port))
        }
        _ => (s, None),
    }
}

// ---- read-only info routes ----

pub(crate) async fn system_stats(State(shared): State<Arc<Shared>>) -> Response {
    json_ok(&shared.config.system_stats)
}

pub(crate) async fn features() -> Response {
    json_ok(&server_features())
}

/// `/object_info`, with files uploaded to the fake added to the upload combos (ComfyUI lists
/// its input folder live). Serialised once per change of the input folder.
pub(crate) async fn object_info(State(shared): State<Arc<Shared>>) -> Response {
    let (generation, cached, files) = {
        let st = shared.lock();
        (st.input_generation, st.object_info_cache.clone(), st.files.input_top_level())
    };
    let text = match cached {
        Some((g, text)) if g == generation => text,
        _ => {
            let mut info = shared.config.object_info.clone();
            if let Value::Object(classes) = &mut info {
                for class in classes.values_mut() {
                    patch_uploads(class, &files);
                }
            }
            let text = Arc::new(info.to_string());
            shared.lock().object_info_cache = Some((generation, text.clone()));
            text
        }
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], text.as_str().to_owned())
        .into_response()
}

async fn object_info_class(State(shared): State<Arc<Shared>>, Path(class): Path<String>) -> Response {
    let Some(info) = shared.config.object_info.get(&class) else { return json_ok(&json!({})) };
    let mut info = info.clone();
    patch_uploads(&mut info, &shared.lock().files.input_top_level());
    json_ok(&json!({ class: info }))
}

/// Adds uploaded input files to every combo with an upload flag, keeping the list sorted.
fn patch_uploads(class: &mut Value, files: &[String]) {
    if files.is_empty() {
        return;
    }
    let Some(sections) = class.get_mut("input").and_then(Value::as_object_mut) else { return };
    for section in ["required", "optional"] {
        let Some(inputs) = sections.get_mut(section).and_then(Value::as_object_mut) else { continue };
        for spec in inputs.values_mut() {
            let Some([kind, opts]) = spec.as_array_mut().map(Vec::as_mut_slice) else { continue };
            let upload = ["image_upload", "animated_image_upload", "video_upload", "audio_upload"]
                .iter()
                .any(|k| opts.get(*k).and_then(Value::as_bool) == Some(true));
            if !upload {
                continue;
            }
            let list = match kind {
                Value::Array(list) => list,
                _ => match opts.get_mut("options").and_then(Value::as_array_mut) {
                    Some(list) => list,
                    None => continue,
                },
            };
            for f in files {
                if !list.iter().any(|v| v.as_str() == Some(f)) {
                    list.push(Value::String(f.clone()));
                }
            }
            list.sort_by(|a, b| a.as_str().unwrap_or("").cmp(b.as_str().unwrap_or("")));
        }
    }
}

async fn models(State(shared): State<Arc<Shared>>) -> Response {
    json_ok(&json!(shared.config.model_folders))
}

async fn models_folder(State(shared): State<Arc<Shared>>, Path(folder): Path<String>) -> Response {
    if !shared.config.model_folders.contains(&folder) {
        return empty(StatusCode::NOT_FOUND);
    }
    let files = shared.config.model_files.get(&folder).cloned().unwrap_or_default();
    json_ok(&json!(files))
}

async fn embeddings(State(shared): State<Arc<Shared>>) -> Response {
    json_ok(&json!(shared.config.embeddings))
}

/// Query parameters as a plain map (later duplicates win).
pub(crate) type QueryMap = axum::extract::Query<HashMap<String, String>>;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: &str, origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h
    }

    #[test]
    fn origin_check_follows_comfyui() {
        assert!(origin_mismatch(&headers("127.0.0.1:8188", "http://evil.example")));
        assert!(!origin_mismatch(&headers("127.0.0.1:8188", "http://127.0.0.1:8188")));
        assert!(!origin_mismatch(&headers("127.0.0.1:8188", "http://127.0.0.1")));
        assert!(origin_mismatch(&headers("127.0.0.1:8188", "http://127.0.0.1:9999")));
        assert!(!origin_mismatch(&headers("example.com", "http://evil.example")));
    }
}
