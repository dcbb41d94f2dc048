//! The server's shared state: queue, history, files, sockets, scripts and introspection logs.
//!
//! Everything lives behind one `std::sync::Mutex`, held only for short synchronous sections
//! (never across an `.await`). WebSocket frames are pushed into per-connection unbounded
//! channels while the lock is held, so every socket sees messages in the order they were made.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use comfy_core::{Catalog, Workflow};
use indexmap::IndexMap;
use serde_json::{Map, Number, Value, json};
use tokio::sync::{Notify, mpsc};

use crate::files::FileStore;
use crate::scripting::{InterruptCall, Scripts, UploadRecord};

/// ComfyUI keeps at most this many history entries (`execution.py` `MAXIMUM_HISTORY_SIZE`).
pub(crate) const MAXIMUM_HISTORY_SIZE: usize = 10_000;

/// `extra_data` keys removed when an item moves to history (`SENSITIVE_EXTRA_DATA_KEYS`).
pub(crate) const SENSITIVE_EXTRA_DATA_KEYS: [&str; 2] = ["auth_token_comfy_org", "api_key_comfy_org"];

/// The server's feature flags (`comfy_api/feature_flags.py`), sent on `/features` and in reply to
/// a client's `feature_flags` WebSocket message.
pub(crate) fn server_features() -> Value {
    json!({"supports_preview_metadata": true, "max_upload_size": 104_857_600})
}

/// Immutable configuration fixed at start.
pub(crate) struct Config {
    pub catalog: Catalog,
    pub object_info: Value,
    pub system_stats: Value,
    pub model_folders: Vec<String>,
    pub model_files: HashMap<String, Vec<String>>,
    pub embeddings: Vec<String>,
    /// Whether `/templates/...` serves the bundled official templates.
    pub official_templates: bool,
}

/// What the HTTP handlers, the worker and the scripting API share.
pub(crate) struct Shared {
    pub config: Config,
    state: Mutex<State>,
    /// Wakes the worker when the queue or the hold flag changes.
    pub wake: Notify,
    /// Wakes `wait_until_idle` callers after every finished prompt.
    pub idle: Notify,
}

impl Shared {
    pub fn new(config: Config, state: State) -> Arc<Self> {
        Arc::new(Shared { config, state: Mutex::new(state), wake: Notify::new(), idle: Notify::new() })
    }

    /// Locks the state. A panic while holding the lock must not wedge every later test request,
    /// so a poisoned lock is taken over as is.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One entry of the pending queue or the running slot:
/// `[number, prompt_id, prompt, extra_data, outputs_to_execute]`.
#[derive(Debug, Clone)]
pub(crate) struct QueueItem {
    pub number: Number,
    pub prompt_id: String,
    pub prompt: Value,
    pub extra_data: Value,
    pub outputs: Vec<String>,
    /// The parsed prompt, for execution.
    pub workflow: Arc<Workflow>,
    /// `(node id, input)` pairs holding V3 combo values outside their options: accepted at
    /// queue time like ComfyUI 0.3.64 does, they fail with a `KeyError` when the node runs.
    pub v3_combo_errors: Vec<(String, String)>,
}

impl QueueItem {
    /// The item as ComfyUI lists it in `/queue` and in history.
    pub fn to_json(&self, extra_data: Value) -> Value {
        Value::Array(vec![
            Value::Number(self.number.clone()),
            Value::String(self.prompt_id.clone()),
            self.prompt.clone(),
            extra_data,
            Value::Array(self.outputs.iter().cloned().map(Value::String).collect()),
        ])
    }

    /// The id the prompt's messages are routed to (`extra_data.client_id`), if any. A
    /// non-string id is kept as its JSON text: it matches no socket, as in ComfyUI.
    pub fn client_id(&self) -> Option<String> {
        match self.extra_data.get("client_id")? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    fn key(&self) -> (f64, &str) {
        (self.number.as_f64().unwrap_or(0.0), self.prompt_id.as_str())
    }

    fn less(&self, other: &QueueItem) -> bool {
        let (a, b) = (self.key(), other.key());
        a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
    }
}

/// A frame queued for one WebSocket connection.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
    /// Drop the connection without a close frame.
    Kill,
}

/// One open WebSocket connection.
pub(crate) struct Conn {
    pub client_id: String,
    pub tx: mpsc::UnboundedSender<Outgoing>,
    pub supports_preview_metadata: bool,
}

/// The mutable state.
pub(crate) struct State {
    /// ComfyUI's `self.number`: starts at 0, +1 for every POST /prompt without `number`.
    pub counter: i64,
    /// The pending queue as Python's `heapq` keeps it (a raw heap list, not sorted).
    pub pending: Vec<QueueItem>,
    pub running: Option<QueueItem>,
    pub history: IndexMap<String, Value>,
    pub files: FileStore,
    /// Every open connection, by connection number.
    pub conns: BTreeMap<u64, Conn>,
    /// The connection each client id is routed to (the most recent one with that id).
    pub registered: IndexMap<String, u64>,
    pub next_conn: u64,
    pub hold: bool,
    pub interrupt: bool,
    /// The display id of the node running now (replayed to a reconnecting owner).
    pub last_node_id: Option<String>,
    /// Output cache: node signature → UI output (`None` for nodes without one).
    pub cache: HashMap<u64, Option<Value>>,
    /// `_temp_xxxxx` suffix per preview node id, like ComfyUI's per-node `prefix_append`.
    pub temp_suffixes: HashMap<String, String>,
    pub step_delay: Duration,
    pub previews: bool,
    pub scripts: Scripts,
    pub received_prompts: Vec<Value>,
    /// The value of every `X-API-Key` and `Authorization` header received, in order.
    pub credentials_seen: Vec<String>,
    pub interrupt_calls: Vec<InterruptCall>,
    pub queue_deletes: Vec<String>,
    pub uploads: Vec<UploadRecord>,
    /// Bumped whenever the input folder changes (the served `/object_info` lists its files).
    pub input_generation: u64,
    pub object_info_cache: Option<(u64, Arc<String>)>,
    /// User data files by path relative to the user directory (`workflows/a.json`).
    pub userdata: BTreeMap<String, crate::userdata::UserFile>,
    /// Folders of the user directory that exist (created by saving into them).
    pub userdata_dirs: std::collections::BTreeSet<String>,
    /// Comfy Cloud mode: every message goes to every open socket, whatever its client id.
    pub broadcast_all: bool,
}

impl State {
    pub fn new(step_delay: Duration, previews: bool) -> Self {
        State {
            counter: 0,
            pending: Vec::new(),
            running: None,
            history: IndexMap::new(),
            files: FileStore::default(),
            conns: BTreeMap::new(),
            registered: IndexMap::new(),
            next_conn: 0,
            hold: false,
            interrupt: false,
            last_node_id: None,
            cache: HashMap::new(),
            temp_suffixes: HashMap::new(),
            step_delay,
            previews,
            scripts: Scripts::default(),
            received_prompts: Vec::new(),
            credentials_seen: Vec::new(),
            interrupt_calls: Vec::new(),
            queue_deletes: Vec::new(),
            uploads: Vec::new(),
            input_generation: 0,
            object_info_cache: None,
            userdata: BTreeMap::new(),
            userdata_dirs: std::collections::BTreeSet::new(),
            broadcast_all: false,
        }
    }

    /// `queue_remaining`: pending plus running.
    pub fn queue_remaining(&self) -> usize {
        self.pending.len() + usize::from(self.running.is_some())
    }

    pub fn queue_info(&self) -> Value {
        json!({"exec_info": {"queue_remaining": self.queue_remaining()}})
    }

    // ---- the pending heap (Python heapq semantics, so `/queue` lists the same raw order) ----

    pub fn heap_push(&mut self, item: QueueItem) {
        self.pending.push(item);
        let last = self.pending.len() - 1;
        self.sift_down(0, last);
    }

    pub fn heap_pop(&mut self) -> Option<QueueItem> {
        let last = self.pending.pop()?;
        if self.pending.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.pending[0], last);
        self.sift_up(0);
        Some(top)
    }

    pub fn heapify(&mut self) {
        let n = self.pending.len();
        for i in (0..n / 2).rev() {
            self.sift_up(i);
        }
    }

    /// heapq `_siftdown`: move the item at `pos` up towards `start`.
    fn sift_down(&mut self, start: usize, mut pos: usize) {
        while pos > start {
            let parent = (pos - 1) >> 1;
            if self.pending[pos].less(&self.pending[parent]) {
                self.pending.swap(pos, parent);
                pos = parent;
            } else {
                break;
            }
        }
    }

    /// heapq `_siftup`: bubble the smaller child up until a leaf, then `_siftdown`.
    fn sift_up(&mut self, mut pos: usize) {
        let end = self.pending.len();
        let start = pos;
        let mut child = 2 * pos + 1;
        while child < end {
            let right = child + 1;
            if right < end && !self.pending[child].less(&self.pending[right]) {
                child = right;
            }
            self.pending.swap(pos, child);
            pos = child;
            child = 2 * pos + 1;
        }
        self.sift_down(start, pos);
    }

    // ---- WebSocket routing (server.py send_sync) ----

    /// Sends a text message: to the socket registered for `sid`, or to every registered socket
    /// when `sid` is `None`. Nothing is buffered for absent clients.
    pub fn send_json(&self, sid: Option<&str>, kind: &str, data: Value) {
        let text = json!({"type": kind, "data": data}).to_string();
        self.route(sid, |_| Some(Outgoing::Text(text.clone())));
    }

    /// Sends a binary frame, routed like [`State::send_json`].
    pub fn send_binary(&self, sid: Option<&str>, bytes: &[u8]) {
        self.route(sid, |_| Some(Outgoing::Binary(bytes.to_vec())));
    }

    fn route(&self, sid: Option<&str>, make: impl Fn(&Conn) -> Option<Outgoing>) {
        let targets: Vec<u64> = match sid {
            _ if self.broadcast_all => self.conns.keys().copied().collect(),
            Some(sid) => self.registered.get(sid).copied().into_iter().collect(),
            None => self.registered.values().copied().collect(),
        };
        for id in targets {
            if let Some(conn) = self.conns.get(&id)
                && let Some(out) = make(conn)
            {
                let _ = conn.tx.send(out);
            }
        }
    }

    /// Whether the socket registered for `sid` negotiated `supports_preview_metadata`.
    pub fn supports_preview_metadata(&self, sid: Option<&str>) -> bool {
        if self.broadcast_all {
            return true;
        }
        sid.and_then(|s| self.registered.get(s))
            .and_then(|id| self.conns.get(id))
            .is_some_and(|c| c.supports_preview_metadata)
    }

    /// `status` broadcast (`queue_updated`).
    pub fn broadcast_status(&self) {
        self.send_json(None, "status", json!({"status": self.queue_info()}));
    }

    /// Files of the input folder as `LoadImage` names them (`sub/name` for sub-folders).
    pub fn input_file_names(&self) -> Vec<String> {
        self.files.input_names()
    }

    /// Client ids with a registered socket, in connection order.
    pub fn ws_clients(&self) -> Vec<String> {
        self.registered.keys().cloned().collect()
    }

    /// Removes a connection; its client id is unregistered only if it still points at it.
    pub fn remove_conn(&mut self, conn_id: u64) {
        if let Some(conn) = self.conns.remove(&conn_id)
            && self.registered.get(&conn.client_id) == Some(&conn_id)
        {
            self.registered.shift_remove(&conn.client_id);
        }
    }

    /// History entries in insertion order, with ComfyUI's `max_items`/`offset` semantics.
    pub fn history_slice(&self, max_items: Option<i64>, offset: i64) -> Value {
        let len = self.history.len() as i64;
        let mut offset = offset;
        if offset < 0
            && let Some(max) = max_items
        {
            offset = len - max;
        }
        let mut out = Map::new();
        for (i, (k, v)) in self.history.iter().enumerate() {
            if i as i64 >= offset {
                out.insert(k.clone(), v.clone());
                if max_items.is_some_and(|m| out.len() as i64 >= m) {
                    break;
                }
            }
        }
        Value::Object(out)
    }

    /// Stores a history entry, dropping the oldest beyond the cap.
    pub fn add_history(&mut self, prompt_id: String, entry: Value) {
        if self.history.len() > MAXIMUM_HISTORY_SIZE {
            self.history.shift_remove_index(0);
        }
        self.history.insert(prompt_id, entry);
    }

    /// Nodes of the current output cache, as a set of signatures.
    pub fn retain_cache(&mut self, keep: &HashSet<u64>) {
        self.cache.retain(|k, _| keep.contains(k));
    }
}

/// `int(time.time() * 1000)`.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A random UUID4 string, the way ComfyUI names prompts (`str(uuid.uuid4())`).
pub(crate) fn uuid4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}
