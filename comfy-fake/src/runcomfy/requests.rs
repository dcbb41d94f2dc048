//! Inference, status, result, cancel and the instance proxy.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::routes::{Account, Refused, api_error, api_refusal, validation_error, validation_refusal};
use super::{CancelShape, ErrorShape, RcState, Request, deployments};
use crate::files::{FileKey, Folder};
use crate::router::{json_ok, json_response};

type St = State<Arc<RcState>>;

/// `v1` or `v2`, from the request path.
fn version(uri: &Uri) -> String {
    uri.path().split('/').nth(2).unwrap_or("v1").to_owned()
}

fn request_urls(state: &RcState, version: &str, deployment: &str, rid: &str) -> Value {
    let base = format!("{}/prod/{version}/deployments/{deployment}/requests/{rid}", state.api_url);
    json!({
        "request_id": rid,
        "status_url": format!("{base}/status"),
        "result_url": format!("{base}/result"),
        "cancel_url": format!("{base}/cancel"),
    })
}

/// The instance that runs a deployment's requests.
fn instance_of(deployment: &str) -> String {
    format!("inst-{}", deployment.chars().take(8).collect::<String>())
}

/// Standard Base64 (padding optional).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
        if chunk.len() == 1 {
            return None;
        }
    }
    Some(out)
}

/// Replaces media inputs given as data URIs or hosted URLs by files in the engine's input
/// folder (what RunComfy's server does before ComfyUI sees the graph).
fn materialise_inputs(state: &RcState, workflow: &mut Value) -> Result<(), Refused> {
    let Some(nodes) = workflow.as_object_mut() else { return Ok(()) };
    for (node_id, node) in nodes.iter_mut() {
        let Some(inputs) = node.get_mut("inputs").and_then(Value::as_object_mut) else { continue };
        for (name, value) in inputs.iter_mut() {
            let Some(text) = value.as_str() else { continue };
            let loc = json!(["body", "workflow", node_id, "inputs", name]);
            let bad =
                |msg: &str| validation_refusal(vec![json!({"loc": loc, "msg": msg, "type": "value_error"})]);
            let (bytes, ext) = if let Some(rest) = text.strip_prefix("data:") {
                let Some((meta, data)) = rest.split_once(',') else { return Err(bad("malformed data URI")) };
                if !meta.ends_with(";base64") {
                    return Err(bad("data URIs must be base64"));
                }
                let ext = meta
                    .trim_end_matches(";base64")
                    .rsplit('/')
                    .next()
                    .unwrap_or("bin")
                    .replace("jpeg", "jpg");
                match base64_decode(data) {
                    Some(b) => (b, ext),
                    None => return Err(bad("invalid base64 in the data URI")),
                }
            } else if text.starts_with("http://") || text.starts_with("https://") {
                let prefix = format!("{}/output/", state.cdn_url);
                let token = text.strip_prefix(&prefix).and_then(|r| r.split('/').next()).unwrap_or("");
                let hosted = state.lock().hosted.get(token).cloned();
                let Some((folder, sub, filename)) = hosted else {
                    return Err(bad("the URL could not be downloaded"));
                };
                let key = FileKey {
                    folder: Folder::parse(&folder).unwrap_or(Folder::Output),
                    subfolder: sub,
                    filename: filename.clone(),
                };
                let Some(bytes) = state.engine.lock().files.get(&key).cloned() else {
                    return Err(bad("the URL could not be downloaded"));
                };
                (bytes, filename.rsplit('.').next().unwrap_or("bin").to_owned())
            } else {
                continue;
            };
            let n = {
                let mut inner = state.lock();
                inner.input_counter += 1;
                inner.input_counter
            };
            let filename = format!("runcomfy_input_{n}.{ext}");
            let mut st = state.engine.lock();
            st.files.put(
                FileKey { folder: Folder::Input, subfolder: String::new(), filename: filename.clone() },
                bytes,
            );
            st.input_generation += 1;
            *value = json!(filename);
        }
    }
    Ok(())
}

/// Merges node-keyed overrides into the saved workflow: 422001 for unknown nodes or inputs.
fn apply_overrides(workflow: &mut Value, overrides: &Map<String, Value>) -> Result<(), Refused> {
    let mut detail = Vec::new();
    for (node_id, change) in overrides {
        let Some(inputs) = change.get("inputs").and_then(Value::as_object) else {
            detail.push(json!({"loc": ["body", "overrides", node_id], "msg": "expected {\"inputs\": {...}}", "type": "value_error"}));
            continue;
        };
        let Some(node) = workflow.get_mut(node_id.as_str()) else {
            detail.push(json!({"loc": ["body", "overrides", node_id], "msg": format!("node {node_id} is not in the workflow"), "type": "value_error"}));
            continue;
        };
        for (name, value) in inputs {
            if node.pointer(&format!("/inputs/{name}")).is_none() {
                detail.push(json!({"loc": ["body", "overrides", node_id, "inputs", name],
                                   "msg": format!("node {node_id} has no input {name}"), "type": "value_error"}));
                continue;
            }
            node["inputs"][name.as_str()] = value.clone();
        }
    }
    match detail.is_empty() {
        true => Ok(()),
        false => Err(validation_refusal(detail)),
    }
}

pub(crate) async fn inference(
    State(state): St,
    Extension(Account(account)): Extension<Account>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
    body: Bytes,
) -> Response {
    let deployment = match deployments::find(&state, &account, &id) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    if deployment["is_enabled"] == json!(false) {
        // RunComfy's HTTP status for 10001-10003 is not documented; some errors come back as
        // HTTP 200 with an `error_code`, which is what clients must handle.
        return api_error(StatusCode::OK, 10002, "DisabledDeployment: enable the deployment first");
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return validation_error(vec![
            json!({"loc": ["body"], "msg": "a JSON object", "type": "json_invalid"}),
        ]);
    };
    {
        let mut inner = state.lock();
        inner.inference_bodies.push(Value::Object(body.clone()));
        inner.inference_queries.push(query.clone().unwrap_or_default());
    }
    let mut workflow = match (body.get("overrides"), body.get("workflow_api_json")) {
        (Some(_), Some(_)) => {
            return validation_error(vec![
                json!({"loc": ["body"], "msg": "give overrides or workflow_api_json, not both", "type": "value_error"}),
            ]);
        }
        (None, None) => {
            return validation_error(vec![
                json!({"loc": ["body", "overrides"], "msg": "Field required", "type": "missing"}),
            ]);
        }
        (Some(o), None) => {
            let mut wf = deployment.pointer("/payload/workflow_api_json").cloned().unwrap_or(json!({}));
            let Some(o) = o.as_object() else {
                return validation_error(vec![
                    json!({"loc": ["body", "overrides"], "msg": "an object", "type": "value_error"}),
                ]);
            };
            if let Err(r) = apply_overrides(&mut wf, o) {
                return *r;
            }
            wf
        }
        (None, Some(w)) => w.clone(),
    };
    if let Err(r) = materialise_inputs(&state, &mut workflow) {
        return *r;
    }
    let rid = crate::state::uuid4();
    let mut prompt = json!({"prompt": workflow, "prompt_id": rid, "client_id": "runcomfy"});
    if let Some(extra) = body.get("extra_data") {
        prompt["extra_data"] = extra.clone();
    }
    let resp = crate::queue::post_prompt(State(state.engine.clone()), Bytes::from(prompt.to_string())).await;
    if resp.status() != StatusCode::OK {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap_or_default();
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message =
            answer.pointer("/error/message").and_then(Value::as_str).unwrap_or("Prompt validation failed");
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"error_code": 422001, "error_message": message, "detail": answer.get("node_errors")}),
        );
    }
    let v = version(&uri);
    state.lock().requests.insert(
        rid.clone(),
        Request { deployment: id.clone(), account, created: deployments::timestamp(), cancelled: false },
    );
    let mut answer = request_urls(&state, &v, &id, &rid);
    answer["status"] = json!("in_queue");
    json_ok(&answer)
}

/// Where a request is.
enum Phase {
    Queued(usize),
    Running,
    Success(Value),
    Error(Value),
    Cancelled,
}

fn phase(state: &RcState, rid: &str) -> Option<Phase> {
    let cancelled = state.lock().requests.get(rid).is_some_and(|r| r.cancelled);
    let st = state.engine.lock();
    if let Some(entry) = st.history.get(rid) {
        let messages =
            entry.pointer("/status/messages").and_then(Value::as_array).cloned().unwrap_or_default();
        let find = |kind: &str| {
            messages.iter().find(|m| m.get(0).and_then(Value::as_str) == Some(kind)).map(|m| m[1].clone())
        };
        return Some(if find("execution_interrupted").is_some() {
            Phase::Cancelled
        } else if let Some(e) = find("execution_error") {
            Phase::Error(e)
        } else {
            Phase::Success(entry.get("outputs").cloned().unwrap_or(json!({})))
        });
    }
    if cancelled {
        return Some(Phase::Cancelled);
    }
    if st.running.as_ref().is_some_and(|r| r.prompt_id == rid) {
        return Some(Phase::Running);
    }
    let mut pending: Vec<&crate::state::QueueItem> = st.pending.iter().collect();
    pending.sort_by(|a, b| a.number.as_f64().unwrap_or(0.0).total_cmp(&b.number.as_f64().unwrap_or(0.0)));
    let position = pending.iter().position(|p| p.prompt_id == rid)?;
    Some(Phase::Queued(position + 1))
}

/// The request for `account`, or the error answer.
fn lookup(state: &RcState, account: &str, deployment: &str, rid: &str) -> Result<Request, Refused> {
    let inner = state.lock();
    match inner.requests.get(rid) {
        Some(r) if r.deployment != deployment => {
            Err(api_refusal(StatusCode::NOT_FOUND, 404001, "Request not found"))
        }
        Some(r) if r.account != account => {
            Err(api_refusal(StatusCode::FORBIDDEN, 403003, "The request belongs to another user"))
        }
        Some(r) => Ok(r.clone()),
        None => Err(api_refusal(StatusCode::NOT_FOUND, 404001, "Request not found")),
    }
}

fn cancelled_word(state: &RcState) -> &'static str {
    if state.lock().canceled_spelling { "canceled" } else { "cancelled" }
}

pub(crate) async fn status(
    State(state): St,
    Extension(Account(account)): Extension<Account>,
    Path((id, rid)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let request = match lookup(&state, &account, &id, &rid) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let Some(phase) = phase(&state, &rid) else {
        return api_error(StatusCode::NOT_FOUND, 404001, "Request not found");
    };
    let mut answer = request_urls(&state, &version(&uri), &id, &rid);
    if let Some(m) = answer.as_object_mut() {
        m.remove("cancel_url");
    }
    let failed_on_status = state.lock().failed_on_status;
    let (word, instance) = match phase {
        Phase::Queued(n) => {
            answer["queue_position"] = json!(n);
            ("in_queue", false)
        }
        Phase::Running => ("in_progress", true),
        Phase::Success(_) => ("completed", true),
        Phase::Error(_) if failed_on_status => ("failed", true),
        Phase::Error(_) => ("completed", true),
        Phase::Cancelled => (cancelled_word(&state), !request.cancelled),
    };
    answer["status"] = json!(word);
    if instance {
        answer["instance_id"] = json!(instance_of(&id));
    }
    json_ok(&answer)
}

/// A stable CDN token for a file.
fn host(state: &RcState, folder: &str, subfolder: &str, filename: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (folder, subfolder, filename).hash(&mut h);
    let token = format!("{:016x}", h.finish());
    state.lock().hosted.insert(token.clone(), (folder.to_owned(), subfolder.to_owned(), filename.to_owned()));
    let name: String = filename
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c } else { '_' })
        .collect();
    format!("{}/output/{token}/{name}", state.cdn_url)
}

/// The engine's outputs with a hosted `url` on every file item.
fn hosted_outputs(state: &RcState, outputs: &Value) -> Value {
    let mut out = outputs.clone();
    if let Some(nodes) = out.as_object_mut() {
        for channels in nodes.values_mut() {
            let Some(channels) = channels.as_object_mut() else { continue };
            for items in channels.values_mut() {
                let Some(items) = items.as_array_mut() else { continue };
                for item in items.iter_mut() {
                    let (Some(filename), Some(folder)) = (
                        item.get("filename").and_then(Value::as_str),
                        item.get("type").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    let sub = item.get("subfolder").and_then(Value::as_str).unwrap_or("");
                    let url = host(state, folder, sub, filename);
                    item["url"] = json!(url);
                }
            }
        }
    }
    out
}

fn error_value(state: &RcState, e: &Value) -> Value {
    let message = e.get("exception_message").and_then(Value::as_str).unwrap_or("execution failed");
    match state.lock().error_shape.unwrap_or(ErrorShape::Object) {
        ErrorShape::Object => {
            let mut obj = e.as_object().cloned().unwrap_or_default();
            obj.insert("type".into(), json!("ExecutionError"));
            obj.insert("message".into(), json!(message));
            Value::Object(obj)
        }
        ErrorShape::Array => {
            let debug = match e.get("traceback") {
                Some(Value::Array(lines)) => {
                    lines.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("")
                }
                _ => String::new(),
            };
            json!([{"errorCode": 500, "error": message, "debugInfo": debug}])
        }
    }
}

pub(crate) async fn result(
    State(state): St,
    Extension(Account(account)): Extension<Account>,
    Path((id, rid)): Path<(String, String)>,
) -> Response {
    let request = match lookup(&state, &account, &id, &rid) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let Some(phase) = phase(&state, &rid) else {
        return api_error(StatusCode::NOT_FOUND, 404001, "Request not found");
    };
    let mut answer = json!({"request_id": rid, "created_at": request.created});
    match phase {
        Phase::Queued(_) => answer["status"] = json!("in_queue"),
        Phase::Running => answer["status"] = json!("in_progress"),
        Phase::Success(outputs) => {
            answer["status"] = json!("succeeded");
            answer["finished_at"] = json!(deployments::timestamp());
            answer["instance_id"] = json!(instance_of(&id));
            answer["outputs"] = hosted_outputs(&state, &outputs);
        }
        Phase::Error(e) => {
            answer["status"] = json!("failed");
            answer["finished_at"] = json!(deployments::timestamp());
            answer["error"] = error_value(&state, &e);
        }
        Phase::Cancelled => answer["status"] = json!(cancelled_word(&state)),
    }
    json_ok(&answer)
}

pub(crate) async fn cancel(
    State(state): St,
    Extension(Account(account)): Extension<Account>,
    Path((id, rid)): Path<(String, String)>,
) -> Response {
    if let Err(r) = lookup(&state, &account, &id, &rid) {
        return *r;
    }
    let shape = state.lock().cancel_shape.unwrap_or(CancelShape::Outcome);
    let accepted = match phase(&state, &rid) {
        Some(Phase::Queued(_)) => {
            let removed = {
                let mut st = state.engine.lock();
                match st.pending.iter().position(|i| i.prompt_id == rid) {
                    Some(pos) => {
                        st.pending.remove(pos);
                        st.heapify();
                        true
                    }
                    None => false,
                }
            };
            if removed && let Some(r) = state.lock().requests.get_mut(&rid) {
                r.cancelled = true;
            }
            removed
        }
        Some(Phase::Running) => {
            let mut st = state.engine.lock();
            if st.running.as_ref().is_some_and(|r| r.prompt_id == rid) {
                st.interrupt = true;
            }
            true
        }
        _ => false,
    };
    let body = match (shape, accepted) {
        (CancelShape::Outcome, true) => {
            json!({"request_id": rid, "status": "completed", "outcome": "cancelled"})
        }
        (CancelShape::Outcome, false) => {
            json!({"request_id": rid, "status": "completed", "outcome": "not_cancellable"})
        }
        (CancelShape::Requested, true) => json!({"request_id": rid, "status": "cancellation_requested"}),
        (CancelShape::Requested, false) => json!({"request_id": rid, "status": "not_cancellable"}),
    };
    json_response(StatusCode::ACCEPTED, &body)
}

pub(crate) async fn proxy(
    State(state): St,
    Extension(Account(account)): Extension<Account>,
    Path((id, iid, path)): Path<(String, String, String)>,
) -> Response {
    if let Err(r) = deployments::find(&state, &account, &id) {
        return *r;
    }
    if iid != instance_of(&id) {
        return api_error(StatusCode::NOT_FOUND, 404001, "Instance not found (it may have scaled down)");
    }
    match path.trim_start_matches('/') {
        "object_info" | "api/object_info" => crate::router::object_info(State(state.engine.clone())).await,
        "api/free" | "free" => StatusCode::OK.into_response(),
        "api/queue" | "queue" => crate::queue::get_queue(State(state.engine.clone())).await,
        _ => (StatusCode::NOT_FOUND, "404: Not Found").into_response(),
    }
}
