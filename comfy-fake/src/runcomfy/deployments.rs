//! Deployment CRUD under `/prod/v2/deployments`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::RcState;
use super::routes::{Account, Refused, api_error, api_refusal, validation_error, validation_refusal};
use crate::router::json_ok;
use crate::state::uuid4;

/// The SKUs RunComfy accepts.
const HARDWARE: [&str; 7] =
    ["TURING_16", "AMPERE_24", "AMPERE_48", "ADA_48_PLUS", "AMPERE_80", "ADA_80_PLUS", "HOPPER_141"];

/// The saved workflow every fake deployment serves.
pub(crate) fn default_workflow() -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "_meta": {"title": "Canvas"},
              "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "_meta": {"title": "Invert"}, "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "_meta": {"title": "Save"},
              "inputs": {"images": ["2", 0], "filename_prefix": "runcomfy"}}
    })
}

fn now_iso() -> String {
    // Microseconds and a numeric offset, as RunComfy writes them.
    let ms = crate::state::now_ms();
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        (ms % 1000) * 1000
    )
}

pub(crate) fn timestamp() -> String {
    now_iso()
}

/// A new deployment object (with its payload) from a create body.
pub(crate) fn new_deployment(state: &RcState, id: &str, account: &str, body: &Value) -> Value {
    let now = now_iso();
    let mut d = body.as_object().cloned().unwrap_or_default();
    d.insert("id".into(), json!(id));
    d.insert("status".into(), json!("standby"));
    d.insert("is_enabled".into(), json!(true));
    d.insert("created_at".into(), json!(now));
    d.insert("updated_at".into(), json!(now));
    d.insert("owner".into(), json!(account));
    d.insert(
        "payload".into(),
        json!({
            "workflow_api_json": default_workflow(),
            "overrides": {"1": {"inputs": {"width": 16}}},
            "object_info_url": format!("{}/object_info/{id}.json", state.cdn_url),
        }),
    );
    d.insert(
        "readme".into(),
        json!(format!("# {}\n\nA fake deployment.", body["name"].as_str().unwrap_or(""))),
    );
    Value::Object(d)
}

/// The deployment as answered: without payload/readme unless included, without the owner.
fn view(d: &Value, payload: bool, readme: bool) -> Value {
    let mut m = d.as_object().cloned().unwrap_or_default();
    m.remove("owner");
    if !payload {
        m.remove("payload");
    }
    if !readme {
        m.remove("readme");
    }
    Value::Object(m)
}

fn query_pairs(q: &Option<String>) -> Vec<(String, String)> {
    q.as_deref()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), super::routes::percent_decode(v)))
        .collect()
}

fn includes(q: &[(String, String)]) -> (bool, bool) {
    let has = |v: &str| q.iter().any(|(k, x)| k == "includes" && x == v);
    (has("payload"), has("readme"))
}

/// Looks a deployment up for `account`: 404001, 403003 or 10003.
pub(crate) fn find(state: &RcState, account: &str, id: &str) -> Result<Value, Refused> {
    let inner = state.lock();
    if inner.deleted.contains(id) {
        return Err(api_refusal(
            StatusCode::BAD_REQUEST,
            10003,
            "DeletedDeployment: the deployment was deleted",
        ));
    }
    let Some(d) = inner.deployments.get(id) else {
        return Err(api_refusal(StatusCode::NOT_FOUND, 404001, "Deployment not found"));
    };
    if d["owner"].as_str() != Some(account) {
        return Err(api_refusal(StatusCode::FORBIDDEN, 403003, "The deployment belongs to another user"));
    }
    Ok(d.clone())
}

pub(crate) async fn list(
    State(state): State<Arc<RcState>>,
    Extension(Account(account)): Extension<Account>,
    RawQuery(q): RawQuery,
) -> Response {
    let q = query_pairs(&q);
    let (payload, readme) = includes(&q);
    let ids: Vec<&str> = q.iter().filter(|(k, _)| k == "ids").map(|(_, v)| v.as_str()).collect();
    let inner = state.lock();
    let items: Vec<Value> = inner
        .deployments
        .values()
        .filter(|d| d["owner"].as_str() == Some(account.as_str()))
        .filter(|d| ids.is_empty() || ids.contains(&d["id"].as_str().unwrap_or("")))
        .map(|d| view(d, payload, readme))
        .collect();
    json_ok(&Value::Array(items))
}

pub(crate) async fn get_one(
    State(state): State<Arc<RcState>>,
    Extension(Account(account)): Extension<Account>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let (payload, readme) = includes(&query_pairs(&q));
    match find(&state, &account, &id) {
        Ok(d) => json_ok(&view(&d, payload, readme)),
        Err(r) => *r,
    }
}

/// Checks create/update fields; `required` lists the fields that must be present.
fn check_fields(body: &Map<String, Value>, required: &[&str]) -> Result<(), Refused> {
    let mut detail = Vec::new();
    for f in required {
        if !body.contains_key(*f) {
            detail.push(json!({"loc": ["body", f], "msg": "Field required", "type": "missing"}));
        }
    }
    if let Some(hw) = body.get("hardware") {
        let ok = hw
            .as_array()
            .is_some_and(|a| a.len() == 1 && a[0].as_str().is_some_and(|s| HARDWARE.contains(&s)));
        if !ok {
            detail.push(
                json!({"loc": ["body", "hardware"], "msg": "hardware must be a list of exactly one known SKU",
                               "type": "value_error"}),
            );
        }
    }
    let int = |k: &str| body.get(k).and_then(Value::as_i64);
    if let (Some(min), Some(max)) = (int("min_instances"), int("max_instances"))
        && min > max
    {
        detail.push(json!({"loc": ["body", "max_instances"], "msg": "must be >= min_instances", "type": "value_error"}));
    }
    match detail.is_empty() {
        true => Ok(()),
        false => Err(validation_refusal(detail)),
    }
}

pub(crate) async fn create(
    State(state): State<Arc<RcState>>,
    Extension(Account(account)): Extension<Account>,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return validation_error(vec![
            json!({"loc": ["body"], "msg": "a JSON object", "type": "json_invalid"}),
        ]);
    };
    let required = [
        "name",
        "workflow_id",
        "workflow_version",
        "hardware",
        "min_instances",
        "max_instances",
        "queue_size",
        "keep_warm_duration_in_seconds",
    ];
    if let Err(r) = check_fields(&body, &required) {
        return *r;
    }
    let id = uuid4();
    let d = new_deployment(&state, &id, &account, &Value::Object(body));
    state.lock().deployments.insert(id, d.clone());
    json_ok(&view(&d, false, false))
}

pub(crate) async fn update(
    State(state): State<Arc<RcState>>,
    Extension(Account(account)): Extension<Account>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = find(&state, &account, &id) {
        return *r;
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return validation_error(vec![
            json!({"loc": ["body"], "msg": "a JSON object", "type": "json_invalid"}),
        ]);
    };
    if !body.contains_key("name") {
        return api_error(StatusCode::UNPROCESSABLE_ENTITY, 422001, "Deployment name is required");
    }
    if let Err(r) = check_fields(&body, &[]) {
        return *r;
    }
    let mut inner = state.lock();
    let Some(d) = inner.deployments.get_mut(&id) else {
        return api_error(StatusCode::NOT_FOUND, 404001, "Deployment not found");
    };
    for (k, v) in body {
        if matches!(k.as_str(), "id" | "owner" | "payload" | "created_at") {
            continue;
        }
        d[k.as_str()] = v;
    }
    d["updated_at"] = json!(now_iso());
    json_ok(&view(d, false, false))
}

pub(crate) async fn delete(
    State(state): State<Arc<RcState>>,
    Extension(Account(account)): Extension<Account>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = find(&state, &account, &id) {
        return *r;
    }
    let mut inner = state.lock();
    inner.deployments.remove(&id);
    inner.deleted.insert(id.clone());
    json_ok(&json!({"id": id, "deleted": true}))
}

/// The CDN-hosted node schema of a deployment (the engine's `object_info`).
pub(crate) fn exists(state: &RcState, id: &str) -> bool {
    state.lock().deployments.contains_key(id)
}
