//! User data (`app/user_manager.py`): the files the editor saves, workflows above all, and the
//! official templates served as static files under `/templates/`.
//!
//! Status codes and bodies follow the captures: list → 400 without `dir`, 403 when the path
//! leaves the user directory, 404 `Directory not found`; get → the raw file or an empty 404;
//! post → 409 `File already exists` with `overwrite=false`, else the relative path (JSON string)
//! or `{path, size, modified, created}` with `full_info=true`; delete → 204; move → the new
//! relative path, 404 for a missing source, 409 for an existing target without overwrite.
//! Folders exist once a file was saved in them and stay when their files are deleted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::router::{empty, json_ok};
use crate::state::Shared;

/// One stored user file.
#[derive(Debug, Clone)]
pub(crate) struct UserFile {
    pub data: Vec<u8>,
    pub created: f64,
    pub modified: f64,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `os.path.abspath(join(user_root, file))` kept inside the user root, as a relative path;
/// `None` when it would leave it (ComfyUI answers 403).
fn confine(file: &str) -> Option<String> {
    if file.contains('\\') || file.contains('\0') {
        return None;
    }
    crate::files::normalize_rel(file)
}

fn flag(q: &HashMap<String, String>, key: &str, default: bool) -> bool {
    q.get(key).map_or(default, |v| v == "true")
}

fn info(path: &str, f: &UserFile) -> Value {
    json!({"path": path, "size": f.data.len(), "modified": f.modified, "created": f.created})
}

/// `GET /userdata?dir=&recurse=&full_info=&split=`.
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(dir) = q.get("dir").filter(|d| !d.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "Directory not provided");
    };
    let Some(dir) = confine(dir) else { return text(StatusCode::FORBIDDEN, "Invalid directory") };
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    let (recurse, full, split) =
        (flag(&q, "recurse", false), flag(&q, "full_info", false), flag(&q, "split", false));
    let st = shared.lock();
    if !dir.is_empty() && !st.userdata_dirs.contains(&dir) {
        return text(StatusCode::NOT_FOUND, "Directory not found");
    }
    let inside: Vec<(&String, &UserFile)> =
        st.userdata.iter().filter(|(p, _)| p.starts_with(&prefix)).collect();
    let items: Vec<Value> = inside
        .into_iter()
        .filter_map(|(path, f)| {
            let rel = &path[prefix.len()..];
            if !recurse && rel.contains('/') {
                return None;
            }
            Some(if full {
                info(rel, f)
            } else if split {
                let mut parts = vec![Value::String(rel.to_owned())];
                parts.extend(rel.split('/').map(|s| Value::String(s.to_owned())));
                Value::Array(parts)
            } else {
                Value::String(rel.to_owned())
            })
        })
        .collect();
    json_ok(&Value::Array(items))
}

/// `GET /userdata/{file}`.
pub(crate) async fn get_file(State(shared): State<Arc<Shared>>, Path(file): Path<String>) -> Response {
    let Some(path) = confine(&file) else { return empty(StatusCode::FORBIDDEN) };
    let st = shared.lock();
    match st.userdata.get(&path) {
        Some(f) => {
            let mime = if path.ends_with(".json") { "application/json" } else { "application/octet-stream" };
            (StatusCode::OK, [(header::CONTENT_TYPE, mime)], f.data.clone()).into_response()
        }
        None => empty(StatusCode::NOT_FOUND),
    }
}

/// `POST /userdata/{file}?overwrite=&full_info=`.
pub(crate) async fn post_file(
    State(shared): State<Arc<Shared>>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let Some(path) = confine(&file) else { return empty(StatusCode::FORBIDDEN) };
    let mut st = shared.lock();
    let existing = st.userdata.get(&path).cloned();
    if existing.is_some() && !flag(&q, "overwrite", true) {
        return text(StatusCode::CONFLICT, "File already exists");
    }
    let t = now();
    let f = UserFile { data: body.to_vec(), created: existing.map_or(t, |e| e.created), modified: t };
    let answer = if flag(&q, "full_info", false) { info(&path, &f) } else { Value::String(path.clone()) };
    add_parents(&mut st.userdata_dirs, &path);
    st.userdata.insert(path, f);
    json_ok(&answer)
}

/// Saving creates the file's folders (`os.makedirs`); deleting a file leaves them.
pub(crate) fn add_parents(dirs: &mut std::collections::BTreeSet<String>, path: &str) {
    let mut end = 0;
    while let Some(pos) = path[end..].find('/') {
        end += pos;
        dirs.insert(path[..end].to_owned());
        end += 1;
    }
}

/// `DELETE /userdata/{file}`.
pub(crate) async fn delete_file(State(shared): State<Arc<Shared>>, Path(file): Path<String>) -> Response {
    let Some(path) = confine(&file) else { return empty(StatusCode::FORBIDDEN) };
    match shared.lock().userdata.remove(&path) {
        Some(_) => empty(StatusCode::NO_CONTENT),
        None => empty(StatusCode::NOT_FOUND),
    }
}

/// `POST /userdata/{file}/move/{dest}?overwrite=&full_info=`.
pub(crate) async fn move_file(
    State(shared): State<Arc<Shared>>,
    Path((file, dest)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(from), Some(to)) = (confine(&file), confine(&dest)) else {
        return empty(StatusCode::FORBIDDEN);
    };
    let mut st = shared.lock();
    if !st.userdata.contains_key(&from) {
        return empty(StatusCode::NOT_FOUND);
    }
    if st.userdata.contains_key(&to) && !flag(&q, "overwrite", true) {
        return text(StatusCode::CONFLICT, "File already exists");
    }
    let Some(mut f) = st.userdata.remove(&from) else { return empty(StatusCode::NOT_FOUND) };
    f.modified = now();
    let answer = if flag(&q, "full_info", false) { info(&to, &f) } else { Value::String(to.clone()) };
    add_parents(&mut st.userdata_dirs, &to);
    st.userdata.insert(to, f);
    json_ok(&answer)
}

/// The bundled official templates (a slice of `comfyui-workflow-templates-json` 0.1.123, MIT).
const TEMPLATES: &[(&str, &str)] = &[
    ("index.json", include_str!("../data/templates/index.json")),
    ("image_sdxl_simple.json", include_str!("../data/templates/image_sdxl_simple.json")),
    ("sd3.5_simple_example.json", include_str!("../data/templates/sd3.5_simple_example.json")),
];

/// `GET /templates/{file}` (static, not under `/api`): 404 when templates are turned off.
pub(crate) async fn template_file(State(shared): State<Arc<Shared>>, Path(file): Path<String>) -> Response {
    if !shared.config.official_templates {
        return text(StatusCode::NOT_FOUND, "404: Not Found");
    }
    match TEMPLATES.iter().find(|(name, _)| *name == file) {
        Some((_, body)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], *body).into_response()
        }
        None => text(StatusCode::NOT_FOUND, "404: Not Found"),
    }
}
