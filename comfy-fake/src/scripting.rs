//! Scripting hooks and introspection: what tests use to steer the fake and to see what it got.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::FakeComfyUi;
use crate::state::Outgoing;

/// A scripted node failure (`fail_node_class`).
#[derive(Debug, Clone)]
pub(crate) struct NodeFailure {
    pub exception_type: String,
    pub message: String,
}

/// A scripted HTTP answer for one path.
#[derive(Debug, Clone)]
pub(crate) enum RouteScript {
    /// Answer `status` with `body` (`text/html` when it looks like HTML, else `text/plain`).
    Fail { status: u16, body: String, remaining: Option<u32> },
    /// Answer 200 with an HTML page, like a login proxy or a misconfigured reverse proxy.
    Html,
}

/// Scripts set by tests.
#[derive(Debug, Default)]
pub(crate) struct Scripts {
    pub fail_classes: HashMap<String, NodeFailure>,
    pub slow_classes: HashMap<String, Duration>,
    pub route_delays: HashMap<String, Duration>,
    pub routes: HashMap<String, RouteScript>,
    pub refuse_websockets: bool,
}

/// One `POST /interrupt` the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptCall {
    /// The `prompt_id` of the JSON body, if it had one (`None`: a global interrupt).
    pub prompt_id: Option<String>,
    /// Whether it interrupted something (a targeted interrupt only acts on the running prompt).
    pub took_effect: bool,
}

/// One accepted upload (`/upload/image` or `/upload/mask`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// `image` or `mask`.
    pub route: &'static str,
    /// The name the server answered with (after `name (1).ext` renaming).
    pub name: String,
    /// The `subfolder` field as sent.
    pub subfolder: String,
    /// `input`, `temp` or `output`.
    pub folder: &'static str,
    /// Size of the uploaded part in bytes.
    pub size: usize,
    /// Same name and same bytes as an existing file: nothing was written.
    pub duplicate: bool,
}

/// Strips the `/api` alias so a script for `/prompt` also covers `/api/prompt`.
pub(crate) fn route_key(path: &str) -> String {
    let p = path.strip_prefix("/api").filter(|rest| rest.starts_with('/')).unwrap_or(path);
    p.to_string()
}

impl FakeComfyUi {
    /// Every node of class `class` fails when it runs: `execution_error` with this exception
    /// type and message (ComfyUI appends a newline to the message) and a traceback, and a history
    /// entry with `status_str: "error"`. Cached nodes do not run, so they do not fail.
    pub fn fail_node_class(&self, class: &str, exception_type: &str, message: &str) {
        self.shared.lock().scripts.fail_classes.insert(
            class.to_string(),
            crate::scripting::NodeFailure {
                exception_type: exception_type.to_string(),
                message: message.to_string(),
            },
        );
    }

    /// Nodes of class `class` take `duration` to run. Like a real node without a progress bar,
    /// a slow node is not interrupted mid-way: an interrupt lands when the next node starts
    /// (nodes with a `steps` input are interruptible between steps instead).
    pub fn slow_node_class(&self, class: &str, duration: Duration) {
        self.shared.lock().scripts.slow_classes.insert(class.to_string(), duration);
    }

    /// Removes every node failure and slow-node script.
    pub fn clear_node_scripts(&self) {
        let mut st = self.shared.lock();
        st.scripts.fail_classes.clear();
        st.scripts.slow_classes.clear();
    }

    /// Pauses the worker before it starts the next prompt (a running prompt finishes), so a
    /// test can build a queue deterministically.
    pub fn hold(&self) {
        self.shared.lock().hold = true;
    }

    /// Lets the worker run queued prompts again.
    pub fn release(&self) {
        self.shared.lock().hold = false;
        self.shared.wake.notify_one();
    }

    /// Closes every WebSocket abruptly (no close frame), like a server crash or a dropped proxy.
    pub fn drop_sockets(&self) {
        let mut st = self.shared.lock();
        for conn in st.conns.values() {
            let _ = conn.tx.send(Outgoing::Kill);
        }
        st.conns.clear();
        st.registered.clear();
    }

    /// While `true`, `GET /ws` answers 503 (clients must fall back to polling).
    pub fn refuse_websockets(&self, refuse: bool) {
        self.shared.lock().scripts.refuse_websockets = refuse;
    }

    /// Delays every answer on `path` (e.g. `/history`; `/api/...` is covered too).
    pub fn route_delay(&self, path: &str, delay: Duration) {
        self.shared.lock().scripts.route_delays.insert(route_key(path), delay);
    }

    /// Answers every request on `path` with `status` and `body` (HTML bodies are sent as
    /// `text/html`), until [`FakeComfyUi::clear_route_scripts`].
    pub fn fail_route(&self, path: &str, status: u16, body: &str) {
        self.shared
            .lock()
            .scripts
            .routes
            .insert(route_key(path), RouteScript::Fail { status, body: body.to_string(), remaining: None });
    }

    /// Like [`FakeComfyUi::fail_route`] for the next `times` requests only, then normal again.
    pub fn fail_route_times(&self, path: &str, times: u32, status: u16, body: &str) {
        self.shared.lock().scripts.routes.insert(
            route_key(path),
            RouteScript::Fail { status, body: body.to_string(), remaining: Some(times) },
        );
    }

    /// Answers `path` with a 200 HTML page instead of its JSON (a login page or proxy error).
    pub fn answer_html(&self, path: &str) {
        self.shared.lock().scripts.routes.insert(route_key(path), RouteScript::Html);
    }

    /// Removes every route delay, failure and HTML script.
    pub fn clear_route_scripts(&self) {
        let mut st = self.shared.lock();
        st.scripts.routes.clear();
        st.scripts.route_delays.clear();
    }

    /// Sends a text frame to every open socket (for unknown-message robustness tests).
    pub fn send_raw_text(&self, text: &str) {
        let st = self.shared.lock();
        for conn in st.conns.values() {
            let _ = conn.tx.send(Outgoing::Text(text.to_string()));
        }
    }

    /// Sends a binary frame to every open socket.
    pub fn send_raw_binary(&self, bytes: &[u8]) {
        let st = self.shared.lock();
        for conn in st.conns.values() {
            let _ = conn.tx.send(Outgoing::Binary(bytes.to_vec()));
        }
    }

    /// Changes the delay between progress steps.
    pub fn set_step_delay(&self, delay: Duration) {
        self.shared.lock().step_delay = delay;
    }

    /// Turns binary preview frames for nodes with `steps` on or off.
    pub fn set_previews(&self, on: bool) {
        self.shared.lock().previews = on;
    }

    /// Empties the node output cache (like `POST /free {"free_memory": true}`).
    pub fn clear_cache(&self) {
        self.shared.lock().cache.clear();
    }

    /// Every JSON body POSTed to `/prompt`, accepted or not, in arrival order.
    pub fn received_prompts(&self) -> Vec<Value> {
        self.shared.lock().received_prompts.clone()
    }

    /// The value of every `X-API-Key` and `Authorization` header this server received (a
    /// local ComfyUI needs none), in arrival order.
    pub fn credentials_seen(&self) -> Vec<String> {
        self.shared.lock().credentials_seen.clone()
    }

    /// Every `POST /interrupt`, in arrival order.
    pub fn interrupt_calls(&self) -> Vec<InterruptCall> {
        self.shared.lock().interrupt_calls.clone()
    }

    /// Every prompt id named in a `POST /queue {"delete": [...]}`, in arrival order.
    pub fn queue_deletes(&self) -> Vec<String> {
        self.shared.lock().queue_deletes.clone()
    }

    /// Client ids with a registered WebSocket, in connection order.
    pub fn ws_clients(&self) -> Vec<String> {
        self.shared.lock().ws_clients()
    }

    /// Every accepted upload, in arrival order.
    pub fn uploads(&self) -> Vec<UploadRecord> {
        self.shared.lock().uploads.clone()
    }

    /// Bytes of a file the fake wrote or received (`folder` is `input`, `output` or `temp`).
    pub fn file(&self, folder: &str, subfolder: &str, filename: &str) -> Option<Vec<u8>> {
        let folder = crate::files::Folder::parse(folder)?;
        let subfolder = crate::files::normalize_rel(subfolder)?;
        let key = crate::files::FileKey { folder, subfolder, filename: filename.to_string() };
        self.shared.lock().files.get(&key).cloned()
    }

    /// A user-data file (`workflows/a.json`), as saved through `POST /userdata/...`.
    pub fn userdata_file(&self, path: &str) -> Option<Vec<u8>> {
        self.shared.lock().userdata.get(path).map(|f| f.data.clone())
    }

    /// Puts a user-data file in place, as if the editor had saved it.
    pub fn put_userdata_file(&self, path: &str, data: &[u8]) {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let file = crate::userdata::UserFile { data: data.to_vec(), created: t, modified: t };
        let mut st = self.shared.lock();
        crate::userdata::add_parents(&mut st.userdata_dirs, path);
        st.userdata.insert(path.to_owned(), file);
    }

    /// Waits until nothing is pending or running (or `timeout` passes); `true` if idle.
    pub async fn wait_until_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.idle.notified();
            {
                let st = self.shared.lock();
                if st.pending.is_empty() && st.running.is_none() {
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Waits until a socket with this client id is registered (or `timeout` passes).
    pub async fn wait_for_ws_client(&self, client_id: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.shared.lock().registered.contains_key(client_id) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        false
    }
}
