//! `/prompt`, `/queue`, `/interrupt`, `/free` and `/history` (`server.py`, `execution.PromptQueue`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Number, Value, json};

use crate::pyfmt::py_str;
use crate::router::{QueryMap, empty, json_ok, json_response, server_error};
use crate::scripting::InterruptCall;
use crate::state::{QueueItem, Shared, uuid4};
use crate::validation::{Verdict, validate};

/// Python truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `float(x)`; `None` where Python raises (or gives a value JSON cannot carry).
fn py_float(v: &Value) -> Option<Number> {
    let f = match v {
        Value::Number(n) => n.as_f64()?,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    Number::from_f64(f)
}

fn parse_json(body: &Bytes) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// `POST /prompt`.
pub(crate) async fn post_prompt(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(json) = parse_json(&body) else { return server_error() };
    let (number, input_files) = {
        let mut st = shared.lock();
        st.received_prompts.push(json.clone());
        // Every POST without `number` takes the counter, even if it is then rejected.
        let number = match json.get("number") {
            Some(n) => match py_float(n) {
                Some(n) => n,
                None => return server_error(),
            },
            None => {
                let n = st.counter;
                st.counter += 1;
                let front = json.get("front").is_some_and(truthy);
                Number::from(if front { -n } else { n })
            }
        };
        (number, st.input_file_names())
    };
    let Some(prompt) = json.get("prompt") else {
        let error = json!({"type": "no_prompt", "message": "No prompt provided",
                           "details": "No prompt provided", "extra_info": {}});
        return json_response(StatusCode::BAD_REQUEST, &json!({"error": error, "node_errors": {}}));
    };
    let prompt_id = match json.get("prompt_id") {
        Some(id) => py_str(id),
        None => uuid4(),
    };
    let verdict =
        validate(prompt, &shared.config.catalog, json.get("partial_execution_targets"), input_files);
    let mut extra_data = json.get("extra_data").cloned().unwrap_or_else(|| json!({}));
    if let Some(client_id) = json.get("client_id") {
        match &mut extra_data {
            Value::Object(map) => {
                map.insert("client_id".into(), client_id.clone());
            }
            _ => return server_error(),
        }
    }
    match verdict {
        Verdict::Crash => server_error(),
        Verdict::Reject { error, node_errors } => {
            json_response(StatusCode::BAD_REQUEST, &json!({"error": error, "node_errors": node_errors}))
        }
        Verdict::Accept { outputs, node_errors, workflow, v3_combo_errors } => {
            let item = QueueItem {
                number: number.clone(),
                prompt_id: prompt_id.clone(),
                prompt: prompt.clone(),
                extra_data,
                outputs,
                workflow: Arc::new(workflow),
                v3_combo_errors,
            };
            {
                let mut st = shared.lock();
                st.heap_push(item);
                st.broadcast_status();
            }
            shared.wake.notify_one();
            json_ok(&json!({"prompt_id": prompt_id, "number": number, "node_errors": node_errors}))
        }
    }
}

/// `GET /prompt`: `{"exec_info": {"queue_remaining": N}}`.
pub(crate) async fn get_prompt(State(shared): State<Arc<Shared>>) -> Response {
    let info = shared.lock().queue_info();
    json_ok(&info)
}

/// `GET /queue`: running and pending items; pending is the raw heap list.
pub(crate) async fn get_queue(State(shared): State<Arc<Shared>>) -> Response {
    let st = shared.lock();
    let running: Vec<Value> = st.running.iter().map(|i| i.to_json(i.extra_data.clone())).collect();
    let pending: Vec<Value> = st.pending.iter().map(|i| i.to_json(i.extra_data.clone())).collect();
    json_ok(&json!({"queue_running": running, "queue_pending": pending}))
}

/// `POST /queue`: `{"clear": true}` and/or `{"delete": [ids]}`, pending items only.
pub(crate) async fn post_queue(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(json) = parse_json(&body) else { return server_error() };
    {
        let mut st = shared.lock();
        if json.get("clear").is_some_and(truthy) {
            st.pending.clear();
            st.broadcast_status();
        }
        if let Some(Value::Array(ids)) = json.get("delete") {
            for id in ids {
                st.queue_deletes.push(py_str(id));
                let Some(id) = id.as_str() else { continue };
                if let Some(pos) = st.pending.iter().position(|i| i.prompt_id == id) {
                    st.pending.remove(pos);
                    st.heapify();
                    st.broadcast_status();
                }
            }
        }
    }
    shared.idle.notify_waiters();
    empty(StatusCode::OK)
}

/// `POST /interrupt`: `{"prompt_id"}` interrupts only that prompt if it is running; no body
/// (or no id) interrupts whatever runs.
pub(crate) async fn interrupt(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let json = parse_json(&body).unwrap_or_else(|| json!({}));
    if !json.is_object() {
        return server_error();
    }
    let target = json.get("prompt_id").filter(|v| truthy(v));
    let mut st = shared.lock();
    let took_effect = match target {
        Some(id) => st.running.as_ref().is_some_and(|r| Some(r.prompt_id.as_str()) == id.as_str()),
        None => true,
    };
    if took_effect {
        st.interrupt = true;
    }
    st.interrupt_calls.push(InterruptCall { prompt_id: target.map(py_str), took_effect });
    empty(StatusCode::OK)
}

/// `POST /free`: `free_memory` also resets the execution cache.
pub(crate) async fn free(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(json) = parse_json(&body) else { return server_error() };
    if json.get("free_memory").is_some_and(truthy) {
        shared.lock().cache.clear();
    }
    empty(StatusCode::OK)
}

fn parse_int(q: &QueryMap, key: &str) -> Result<Option<i64>, ()> {
    match q.get(key) {
        None => Ok(None),
        Some(s) => s.trim().parse::<i64>().map(Some).map_err(|_| ()),
    }
}

/// `GET /history?max_items=&offset=`.
pub(crate) async fn get_history(State(shared): State<Arc<Shared>>, query: QueryMap) -> Response {
    let (Ok(max_items), Ok(offset)) = (parse_int(&query, "max_items"), parse_int(&query, "offset")) else {
        return server_error();
    };
    let out = shared.lock().history_slice(max_items, offset.unwrap_or(-1));
    json_ok(&out)
}

/// `GET /history/{prompt_id}`: `{}` until the prompt has finished.
pub(crate) async fn get_history_item(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let st = shared.lock();
    match st.history.get(&id) {
        Some(entry) => json_ok(&json!({ id: entry })),
        None => json_ok(&json!({})),
    }
}

/// `POST /history`: `{"clear": true}` and/or `{"delete": [ids]}`.
pub(crate) async fn post_history(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let Some(json) = parse_json(&body) else { return server_error() };
    let mut st = shared.lock();
    if json.get("clear").is_some_and(truthy) {
        st.history.clear();
    }
    if let Some(Value::Array(ids)) = json.get("delete") {
        for id in ids.iter().filter_map(Value::as_str) {
            st.history.shift_remove(id);
        }
    }
    empty(StatusCode::OK)
}
