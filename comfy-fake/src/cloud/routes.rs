//! The Cloud's HTTP surface: auth, scripted rejections, and the routes that differ from a local
//! ComfyUI; the compatible ones call the engine's handlers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Map, Value, json};

use super::{CloudState, Rejection, SavedEntity, Vocabulary};
use crate::router::{json_ok, json_response};
use crate::state::{Shared, State as EngineState, now_ms, uuid4};

/// The account a request was authenticated as.
#[derive(Debug, Clone)]
pub(crate) struct Account(pub String);

type Cloud = State<Arc<CloudState>>;

pub(crate) fn build(cloud: Arc<CloudState>) -> Router {
    let api: Router<Arc<CloudState>> = Router::new()
        .route("/system_stats", get(system_stats))
        .route("/features", get(features))
        .route("/user", get(|| async { json_ok(&json!({"status": "active"})) }))
        .route("/billing/status", get(|| async { json_ok(&billing_status()) }))
        .route("/billing/balance", get(|| async { json_ok(&billing_balance()) }))
        .route("/object_info", get(object_info))
        .route("/experiment/models", get(model_folders))
        .route("/experiment/models/{folder}", get(model_files))
        .route("/prompt", post(post_prompt).get(get_prompt))
        .route("/jobs/{id}", get(job_detail))
        .route("/jobs/{id}/cancel", post(cancel_job))
        .route("/job/{id}/status", get(job_status))
        .route("/history_v2/{id}", get(history_item))
        .route("/queue", get(get_queue).post(post_queue))
        .route("/interrupt", post(interrupt))
        .route("/view", get(view))
        .route("/upload/image", post(upload_image))
        .route("/upload/mask", post(upload_mask))
        .route("/userdata", get(userdata_list))
        .route("/userdata/{file}", get(userdata_get).post(userdata_post).delete(userdata_delete))
        .route("/userdata/{file}/move/{dest}", post(userdata_move))
        .route("/workflows", get(list_workflows).post(create_workflow))
        .route("/workflows/{id}", axum::routing::delete(delete_workflow))
        .route("/workflows/{id}/content", get(workflow_content));
    Router::new()
        .nest("/api", api)
        .route("/ws", get(websocket))
        .fallback(|| async { not_found_text() })
        .layer(middleware::from_fn_with_state(cloud.clone(), auth_and_scripts))
        // Test hook (added after the auth layer: needs no key): what the storage listener saw,
        // for tests in other languages that drive the `comfy-fake --cloud` binary.
        .route("/__fake/storage-log", get(storage_log))
        .with_state(cloud)
}

async fn storage_log(State(cloud): Cloud) -> Response {
    let log: Vec<Value> = cloud
        .lock()
        .storage_log
        .iter()
        .map(|r| json!({"path": r.path, "headers": r.headers, "refused": r.refused}))
        .collect();
    json_ok(&json!({ "requests": log }))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, &json!({"code": code, "message": message}))
}

fn not_found_text() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "404: Not Found")
        .into_response()
}

/// The account of an API key in `X-API-Key` or `Authorization: Bearer` (or `token=`); every
/// key presented is logged.
fn account_of(cloud: &CloudState, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let key = header("x-api-key")
        .map(str::to_owned)
        .or_else(|| header("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_owned));
    let token = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token="))).map(percent_decode);
    let presented = key.or(token)?;
    cloud.lock().keys_seen.push(presented.clone());
    cloud.keys.get(&presented).cloned()
}

/// Decodes `%XX` escapes (and `+` as a space) of a query value.
fn percent_decode(s: &str) -> String {
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

fn rejection_response(r: &Rejection) -> Response {
    match r {
        Rejection::InsufficientCredits => error(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_credits",
            "Insufficient credits to run this workflow",
        ),
        Rejection::SubscriptionInactive => error(StatusCode::TOO_MANY_REQUESTS, "", "User has not paid"),
        Rejection::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Rate limit exceeded. Please try again later.",
            ),
        )
            .into_response(),
        Rejection::QueueFull => {
            error(StatusCode::TOO_MANY_REQUESTS, "queue_full", "The queue is full (at most 100 workflows)")
        }
        Rejection::Unavailable { retry_after_secs } => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "Service temporarily unavailable"),
        )
            .into_response(),
        Rejection::Forbidden => error(StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
    }
}

/// Every route but `system_stats` and `features` needs a key (the socket: `?token=`); then the
/// scripted rejections.
async fn auth_and_scripts(State(cloud): Cloud, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let public = matches!(path.as_str(), "/api/system_stats" | "/api/features");
    if public {
        // Logged all the same: a key must not reach this host even where none is needed.
        account_of(&cloud, req.headers(), req.uri().query());
    } else {
        let Some(account) = account_of(&cloud, req.headers(), req.uri().query()) else {
            return error(StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid API key");
        };
        req.extensions_mut().insert(Account(account));
    }
    let scripted = {
        let mut inner = cloud.lock();
        let hit = inner.rejections.iter().position(|(p, _, n)| *n > 0 && path.starts_with(p.as_str()));
        hit.map(|i| {
            let (_, r, n) = &mut inner.rejections[i];
            *n -= 1;
            let r = r.clone();
            if *n == 0 {
                inner.rejections.remove(i);
            }
            r
        })
    };
    if let Some(r) = scripted {
        return rejection_response(&r);
    }
    next.run(req).await
}

fn engine(cloud: &CloudState) -> State<Arc<Shared>> {
    State(cloud.engine.clone())
}

async fn system_stats(State(cloud): Cloud) -> Response {
    crate::router::system_stats(engine(&cloud)).await
}

/// `GET /api/billing/status` (undocumented on Cloud; the fields comfy-cli reads).
fn billing_status() -> Value {
    json!({"is_active": true, "subscription_tier": "STANDARD", "subscription_status": "active", "plan": {"slug": "standard"}})
}

/// `GET /api/billing/balance`: a present zero comes first, as the real one can send it.
fn billing_balance() -> Value {
    json!({"effective_balance_micros": 0, "amount_micros": 12_500_000, "currency": "usd"})
}

async fn features() -> Response {
    let mut f = crate::state::server_features();
    if let Value::Object(m) = &mut f {
        m.insert("max_concurrent_jobs".into(), json!(1));
    }
    json_ok(&f)
}

async fn object_info(State(cloud): Cloud) -> Response {
    crate::router::object_info(engine(&cloud)).await
}

async fn model_folders(State(cloud): Cloud) -> Response {
    let folders: Vec<Value> =
        cloud.engine.config.model_folders.iter().map(|f| json!({"name": f, "folders": []})).collect();
    json_ok(&Value::Array(folders))
}

async fn model_files(State(cloud): Cloud, Path(folder): Path<String>) -> Response {
    if !cloud.engine.config.model_folders.contains(&folder) {
        return error(StatusCode::NOT_FOUND, "not_found", "No such model folder");
    }
    let files = cloud.engine.config.model_files.get(&folder).cloned().unwrap_or_default();
    json_ok(&Value::Array(files.iter().map(|f| json!({"name": f, "pathIndex": 0})).collect()))
}

async fn get_prompt(State(cloud): Cloud) -> Response {
    crate::queue::get_prompt(engine(&cloud)).await
}

/// `POST /api/prompt`: Cloud assigns the id and ignores `number`/`front`; the engine validates
/// and queues it.
async fn post_prompt(
    State(cloud): Cloud,
    Extension(Account(account)): Extension<Account>,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(mut json)) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "The body must be a JSON object");
    };
    let limit = cloud.lock().queue_limit;
    if cloud.engine.lock().pending.len() >= limit {
        return error(StatusCode::TOO_MANY_REQUESTS, "queue_full", "The queue holds at most 100 workflows");
    }
    let prompt_id = uuid4();
    json.insert("prompt_id".into(), json!(prompt_id));
    json.remove("number");
    json.remove("front");
    json.entry("client_id").or_insert_with(|| json!("cloud"));
    let resp = crate::queue::post_prompt(engine(&cloud), Bytes::from(Value::Object(json).to_string())).await;
    if resp.status() == StatusCode::OK {
        cloud.lock().owners.insert(prompt_id, (account, std::time::Instant::now(), now_ms()));
    }
    resp
}

/// Where a job is in its life.
enum Phase {
    Pending,
    Running,
    Success,
    Error(Value),
    Cancelled,
}

fn phase(st: &EngineState, cancelled: bool, id: &str) -> Option<Phase> {
    if cancelled {
        return Some(Phase::Cancelled);
    }
    if st.running.as_ref().is_some_and(|r| r.prompt_id == id) {
        return Some(Phase::Running);
    }
    if st.pending.iter().any(|p| p.prompt_id == id) {
        return Some(Phase::Pending);
    }
    let entry = st.history.get(id)?;
    let messages = entry.pointer("/status/messages").and_then(Value::as_array).cloned().unwrap_or_default();
    let find = |kind: &str| {
        messages.iter().find(|m| m.get(0).and_then(Value::as_str) == Some(kind)).map(|m| m[1].clone())
    };
    Some(if find("execution_interrupted").is_some() {
        Phase::Cancelled
    } else if let Some(e) = find("execution_error") {
        Phase::Error(e)
    } else if entry.pointer("/status/status_str").and_then(Value::as_str) == Some("success") {
        Phase::Success
    } else {
        Phase::Error(Value::Null)
    })
}

fn word(phase: &Phase, v: Vocabulary) -> &'static str {
    match (phase, v) {
        (Phase::Pending, Vocabulary::Friendly) => "pending",
        (Phase::Pending, Vocabulary::Raw) => "submitted",
        (Phase::Running, Vocabulary::Friendly) => "in_progress",
        (Phase::Running, Vocabulary::Raw) => "executing",
        (Phase::Success, Vocabulary::Friendly) => "completed",
        (Phase::Success, Vocabulary::Raw) => "success",
        (Phase::Error(_), Vocabulary::Friendly) => "failed",
        (Phase::Error(_), Vocabulary::Raw) => "error",
        (Phase::Cancelled, _) => "cancelled",
    }
}

/// The job's phase for `account`: 404 when unknown (or not listed yet), 403 when another
/// account's.
/// Why a job lookup was refused: status, code, message.
struct Refused(StatusCode, &'static str, &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        error(self.0, self.1, self.2)
    }
}

fn lookup(cloud: &CloudState, account: &str, id: &str) -> Result<(Phase, u64), Refused> {
    let (owner, created) = {
        let inner = cloud.lock();
        let Some((owner, at, created)) = inner.owners.get(id) else {
            return Err(Refused(StatusCode::NOT_FOUND, "not_found", "Job not found"));
        };
        if at.elapsed() < inner.listing_lag {
            return Err(Refused(StatusCode::NOT_FOUND, "not_found", "Job not found"));
        }
        (owner.clone(), *created)
    };
    if owner != account {
        return Err(Refused(StatusCode::FORBIDDEN, "forbidden", "This job belongs to another user"));
    }
    let cancelled = cloud.lock().cancelled.contains(id);
    let st = cloud.engine.lock();
    phase(&st, cancelled, id).map(|p| (p, created)).ok_or(Refused(
        StatusCode::NOT_FOUND,
        "not_found",
        "Job not found",
    ))
}

async fn job_detail(
    State(cloud): Cloud,
    Extension(Account(account)): Extension<Account>,
    Path(id): Path<String>,
) -> Response {
    let (vocabulary, jobs_route, omit) = {
        let inner = cloud.lock();
        (inner.vocabulary.unwrap_or(Vocabulary::Friendly), inner.jobs_route, inner.omit_outputs)
    };
    if !jobs_route {
        return not_found_text();
    }
    let (phase, created) = match lookup(&cloud, &account, &id) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let st = cloud.engine.lock();
    let entry = st.history.get(&id);
    let mut detail = Map::new();
    detail.insert("id".into(), json!(id));
    detail.insert("status".into(), json!(word(&phase, vocabulary)));
    // Seconds, as the spec says (clients must tell the unit by magnitude).
    detail.insert("create_time".into(), json!(created / 1000));
    detail.insert("update_time".into(), json!(now_ms() / 1000));
    if let Some(prompt) = entry.and_then(|e| e.pointer("/prompt/2")) {
        detail.insert("workflow".into(), prompt.clone());
    }
    if let Phase::Error(e) = &phase {
        detail.insert("execution_error".into(), e.clone());
    }
    if !omit && let Some(outputs) = entry.and_then(|e| e.get("outputs")) {
        detail.insert("outputs_count".into(), json!(outputs.as_object().map_or(0, Map::len)));
        detail.insert("outputs".into(), outputs.clone());
    }
    json_ok(&Value::Object(detail))
}

async fn job_status(
    State(cloud): Cloud,
    Extension(Account(account)): Extension<Account>,
    Path(id): Path<String>,
) -> Response {
    match lookup(&cloud, &account, &id) {
        Ok((phase, _)) => {
            let mut answer = json!({"id": id, "status": word(&phase, Vocabulary::Raw)});
            if let Phase::Error(e) = &phase {
                answer["error_message"] = json!(e.to_string());
            }
            json_ok(&answer)
        }
        Err(r) => r.into_response(),
    }
}

async fn history_item(
    State(cloud): Cloud,
    Extension(Account(account)): Extension<Account>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = lookup(&cloud, &account, &id) {
        return r.into_response();
    }
    let st = cloud.engine.lock();
    match st.history.get(&id) {
        Some(entry) => json_ok(&json!({ id: entry })),
        None => json_ok(&json!({})),
    }
}

fn owned_by(cloud: &CloudState, id: &str, account: &str) -> bool {
    cloud.lock().owners.get(id).is_some_and(|(o, _, _)| o == account)
}

/// `GET /api/queue`: the account's jobs as `[number, prompt_id, workflow, output_ids,
/// {"create_time": ms}]`, running first, pending oldest first.
async fn get_queue(State(cloud): Cloud, Extension(Account(account)): Extension<Account>) -> Response {
    let created: HashMap<String, u64> = cloud
        .lock()
        .owners
        .iter()
        .filter(|(_, (o, _, _))| *o == account)
        .map(|(id, (_, _, c))| (id.clone(), *c))
        .collect();
    let st = cloud.engine.lock();
    let item = |n: usize, i: &crate::state::QueueItem| json!([n, i.prompt_id, i.prompt, i.outputs, {"create_time": created.get(&i.prompt_id).copied().unwrap_or(0)}]);
    let running: Vec<Value> =
        st.running.iter().filter(|i| created.contains_key(&i.prompt_id)).map(|i| item(1, i)).collect();
    let mut pending: Vec<&crate::state::QueueItem> =
        st.pending.iter().filter(|i| created.contains_key(&i.prompt_id)).collect();
    pending.sort_by(|a, b| {
        let (x, y) = (a.number.as_f64().unwrap_or(0.0), b.number.as_f64().unwrap_or(0.0));
        x.total_cmp(&y)
    });
    let pending: Vec<Value> =
        pending.iter().enumerate().map(|(n, i)| item(n + 1 + running.len(), i)).collect();
    json_ok(&json!({"queue_running": running, "queue_pending": pending}))
}

/// Removes the account's pending job `id`; whether it was pending.
fn remove_pending(cloud: &CloudState, id: &str) -> bool {
    let removed = {
        let mut st = cloud.engine.lock();
        match st.pending.iter().position(|i| i.prompt_id == id) {
            Some(pos) => {
                st.pending.remove(pos);
                st.heapify();
                st.queue_deletes.push(id.to_owned());
                st.broadcast_status();
                true
            }
            None => false,
        }
    };
    if removed {
        cloud.lock().cancelled.insert(id.to_owned());
        cloud.engine.idle.notify_waiters();
    }
    removed
}

/// `POST /api/queue`: `{"delete": [ids]}` / `{"clear": true}` → `{"deleted", "cleared"}`.
async fn post_queue(
    State(cloud): Cloud,
    Extension(Account(account)): Extension<Account>,
    body: Bytes,
) -> Response {
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "The body must be JSON");
    };
    let mut deleted = Vec::new();
    let clear = json.get("clear").and_then(Value::as_bool) == Some(true);
    let mut targets: Vec<String> = json
        .get("delete")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if clear {
        targets.extend(cloud.engine.lock().pending.iter().map(|i| i.prompt_id.clone()));
    }
    for id in targets {
        if owned_by(&cloud, &id, &account) && remove_pending(&cloud, &id) {
            deleted.push(id);
        }
    }
    json_ok(&json!({"deleted": deleted, "cleared": clear}))
}

/// `POST /api/interrupt`: every running job of the account.
async fn interrupt(State(cloud): Cloud, Extension(Account(account)): Extension<Account>) -> Response {
    cloud.lock().account_interrupts += 1;
    let running = cloud.engine.lock().running.as_ref().map(|r| r.prompt_id.clone());
    if let Some(id) = running
        && owned_by(&cloud, &id, &account)
    {
        cloud.engine.lock().interrupt = true;
    }
    json_ok(&json!({}))
}

/// `POST /api/jobs/{id}/cancel`: idempotent, one job.
async fn cancel_job(
    State(cloud): Cloud,
    Extension(Account(account)): Extension<Account>,
    Path(id): Path<String>,
) -> Response {
    {
        let mut inner = cloud.lock();
        inner.cancel_calls.push(id.clone());
        if !inner.cancel_route {
            return not_found_text();
        }
    }
    let (phase, _) = match lookup(&cloud, &account, &id) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let status = match phase {
        Phase::Pending if remove_pending(&cloud, &id) => "cancelled",
        Phase::Pending | Phase::Running => {
            let mut st = cloud.engine.lock();
            if st.running.as_ref().is_some_and(|r| r.prompt_id == id) {
                st.interrupt = true;
            }
            "cancel_requested"
        }
        other => word(&other, Vocabulary::Friendly),
    };
    json_ok(&json!({"id": id, "status": status}))
}

type Q = Query<HashMap<String, String>>;

/// `GET /api/view`: 302 to a signed storage URL (200 directly with `channel`).
async fn view(State(cloud): Cloud, Query(query): Q) -> Response {
    let direct = crate::upload::view(engine(&cloud), Query(query.clone())).await;
    if query.contains_key("channel") || direct.status() != StatusCode::OK {
        return direct;
    }
    let token = uuid4().replace('-', "");
    let filename = query.get("filename").cloned().unwrap_or_default();
    let signature = format!("{:x}", rand::random::<u128>());
    let entry = (
        query.get("type").cloned().unwrap_or_else(|| "output".into()),
        query.get("subfolder").cloned().unwrap_or_default(),
        filename.clone(),
    );
    cloud.lock().signed.insert(format!("{token}:{signature}"), entry);
    let date = compact_now();
    let name: String =
        filename.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    let location = format!(
        "{}/bucket/{token}/{name}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=fake%2Fauto%2Fstorage\
         &X-Goog-Date={date}&X-Goog-Expires=21600&X-Goog-SignedHeaders=host&X-Goog-Signature={signature}",
        cloud.storage_url
    );
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// Now as `YYYYMMDDTHHMMSSZ`.
fn compact_now() -> String {
    let secs = (now_ms() / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
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
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

async fn upload_image(State(cloud): Cloud, mp: Multipart) -> Response {
    crate::upload::upload_image(engine(&cloud), mp).await
}

async fn upload_mask(State(cloud): Cloud, mp: Multipart) -> Response {
    crate::upload::upload_mask(engine(&cloud), mp).await
}

async fn userdata_list(State(cloud): Cloud, query: Q) -> Response {
    crate::userdata::list(engine(&cloud), query).await
}

async fn userdata_get(State(cloud): Cloud, path: Path<String>) -> Response {
    crate::userdata::get_file(engine(&cloud), path).await
}

async fn userdata_post(State(cloud): Cloud, path: Path<String>, query: Q, body: Bytes) -> Response {
    crate::userdata::post_file(engine(&cloud), path, query, body).await
}

async fn userdata_delete(State(cloud): Cloud, path: Path<String>) -> Response {
    crate::userdata::delete_file(engine(&cloud), path).await
}

async fn userdata_move(State(cloud): Cloud, path: Path<(String, String)>, query: Q) -> Response {
    crate::userdata::move_file(engine(&cloud), path, query).await
}

fn entity_json(id: &str, e: &SavedEntity) -> Value {
    json!({"id": id, "name": e.name, "description": e.description, "default_view": "graph",
           "latest_version": 1, "created_at": e.created_ms, "updated_at": e.created_ms})
}

async fn list_workflows(State(cloud): Cloud, Query(query): Q) -> Response {
    let name = query.get("name").map(|n| n.to_lowercase());
    let limit = query.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(100);
    let inner = cloud.lock();
    let mut data: Vec<(&String, &SavedEntity)> = inner
        .workflows
        .iter()
        .filter(|(_, e)| name.as_ref().is_none_or(|n| e.name.to_lowercase().contains(n)))
        .collect();
    data.sort_by(|a, b| b.1.created_ms.cmp(&a.1.created_ms).then_with(|| a.0.cmp(b.0)));
    let data: Vec<Value> = data.into_iter().take(limit).map(|(id, e)| entity_json(id, e)).collect();
    json_ok(&json!({"data": data}))
}

async fn create_workflow(State(cloud): Cloud, body: Bytes) -> Response {
    let Ok(json) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "The body must be JSON");
    };
    let (Some(name), Some(workflow)) = (json.get("name").and_then(Value::as_str), json.get("workflow_json"))
    else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", "name and workflow_json are required");
    };
    let entity = SavedEntity {
        name: name.to_owned(),
        description: json.get("description").and_then(Value::as_str).map(str::to_owned),
        workflow: workflow.clone(),
        created_ms: now_ms(),
    };
    let id = uuid4();
    let answer = entity_json(&id, &entity);
    cloud.lock().workflows.insert(id, entity);
    json_ok(&answer)
}

async fn workflow_content(State(cloud): Cloud, Path(id): Path<String>) -> Response {
    match cloud.lock().workflows.get(&id) {
        Some(e) => json_ok(&json!({"id": format!("{id}-v1"), "version": 1, "workflow_json": e.workflow})),
        None => error(StatusCode::NOT_FOUND, "not_found", "Workflow not found"),
    }
}

async fn delete_workflow(State(cloud): Cloud, Path(id): Path<String>) -> Response {
    match cloud.lock().workflows.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(StatusCode::NOT_FOUND, "not_found", "Workflow not found"),
    }
}

/// `GET /ws?clientId=&token=`: the key was checked by the middleware; every connection gets
/// every job's messages (the engine runs in broadcast mode).
async fn websocket(
    State(cloud): Cloud,
    query: Q,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    crate::ws::handler(engine(&cloud), query, upgrade).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn compact_dates_look_like_gcs_dates() {
        let d = super::compact_now();
        assert_eq!(d.len(), 16);
        assert!(d.starts_with("20") && d.as_bytes()[8] == b'T' && d.ends_with('Z'), "{d}");
    }
}
