//! The prompt worker (`main.py` `prompt_worker` + `execution.PromptExecutor`): one prompt at
//! a time, with the message sequence, routing, caching and history of ComfyUI 0.3.64.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use comfy_core::catalog::InputKind;
use comfy_core::{Input, NodeId, Workflow};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::files::png;
use crate::graph::{ExecList, input_file_key, signatures};
use crate::outputs::{Failure, Inputs, Val, Values, evaluate, run_output_node};
use crate::state::{QueueItem, SENSITIVE_EXTRA_DATA_KEYS, Shared, State, now_ms};

/// Runs queued prompts forever.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        let item = next_item(&shared).await;
        Run::new(&shared, item).execute().await;
        shared.idle.notify_waiters();
    }
}

/// Waits for a pending prompt (and no `hold`), moves it to running and broadcasts `status`.
async fn next_item(shared: &Shared) -> QueueItem {
    loop {
        let notified = shared.wake.notified();
        {
            let mut st = shared.lock();
            if !st.hold
                && let Some(item) = st.heap_pop()
            {
                st.running = Some(item.clone());
                st.broadcast_status();
                return item;
            }
        }
        notified.await;
    }
}

/// Why execution stopped early.
enum Stop {
    Error { node: String, failure: Failure },
    Interrupted { node: String },
}

/// One node's entry in `progress_state`.
struct NodeProgress {
    value: Value,
    max: Value,
    state: &'static str,
}

struct Run<'a> {
    shared: &'a Shared,
    item: QueueItem,
    wf: Arc<Workflow>,
    client: Option<String>,
    messages: Vec<Value>,
    progress: IndexMap<String, NodeProgress>,
    executed: Vec<String>,
    ui: IndexMap<String, Value>,
    values: Values,
    sigs: HashMap<String, u64>,
}

impl<'a> Run<'a> {
    fn new(shared: &'a Shared, item: QueueItem) -> Self {
        Run {
            shared,
            client: item.client_id(),
            wf: item.workflow.clone(),
            item,
            messages: Vec::new(),
            progress: IndexMap::new(),
            executed: Vec::new(),
            ui: IndexMap::new(),
            values: Values::new(),
            sigs: HashMap::new(),
        }
    }

    fn prompt_id(&self) -> &str {
        &self.item.prompt_id
    }

    /// `PromptExecutor.add_message`: timestamped, kept for history, sent to the client (or to
    /// everyone for `broadcast` messages of a prompt without client id).
    fn add_message(&mut self, st: &State, kind: &str, data: Value, broadcast: bool) {
        let mut data = data;
        if let Value::Object(m) = &mut data {
            m.insert("timestamp".into(), json!(now_ms()));
        }
        if self.client.is_some() || broadcast {
            st.send_json(self.client.as_deref(), kind, data.clone());
        }
        self.messages.push(json!([kind, data]));
    }

    /// Sends `progress_state` with every node started so far (`WebUIProgressHandler`).
    fn send_progress_state(&self, st: &State) {
        let pid = self.prompt_id();
        let nodes: Map<String, Value> = self
            .progress
            .iter()
            .map(|(id, p)| {
                let entry = json!({"value": p.value, "max": p.max, "state": p.state, "node_id": id, "prompt_id": pid,
                                   "display_node_id": id, "parent_node_id": null, "real_node_id": id});
                (id.clone(), entry)
            })
            .collect();
        st.send_json(self.client.as_deref(), "progress_state", json!({"prompt_id": pid, "nodes": nodes}));
    }

    fn set_progress(&mut self, st: &State, id: &str, value: Value, max: Value, state: &'static str) {
        self.progress.insert(id.to_string(), NodeProgress { value, max, state });
        self.send_progress_state(st);
    }

    /// `finish_progress`: value = max, state finished.
    fn finish_progress(&mut self, st: &State, id: &str) {
        let max = self.progress.get(id).map_or(json!(1.0), |p| p.max.clone());
        self.set_progress(st, id, max.clone(), max, "finished");
    }

    fn send_to_client(&self, st: &State, kind: &str, data: Value) {
        if let Some(c) = &self.client {
            st.send_json(Some(c), kind, data);
        }
    }

    async fn execute(mut self) {
        let catalog = &self.shared.config.catalog;
        let outputs: Vec<NodeId> = self.item.outputs.iter().map(|o| NodeId::from(o.as_str())).collect();
        let order = self.wf.subgraph_for(&outputs).and_then(|s| s.topological_order()).unwrap_or_default();
        let cached: Vec<String> = {
            let mut st = self.shared.lock();
            // The interrupt flag is reset at the start of every prompt.
            st.interrupt = false;
            self.sigs = signatures(&self.wf, catalog, &st.files);
            let keep: HashSet<u64> = self.sigs.values().copied().collect();
            st.retain_cache(&keep);
            self.values = evaluate(&self.wf, catalog, &st.files, &order);
            let cached = self
                .wf
                .nodes()
                .filter(|(id, _)| self.sigs.get(id.as_str()).is_some_and(|s| st.cache.contains_key(s)))
                .map(|(id, _)| id.0.clone())
                .collect();
            let pid = self.prompt_id().to_string();
            self.add_message(&st, "execution_start", json!({"prompt_id": pid}), false);
            self.add_message(&st, "execution_cached", json!({"nodes": cached, "prompt_id": pid}), false);
            cached
        };
        let cached_set: HashSet<String> = cached.into_iter().collect();
        let output_nodes: HashSet<String> = self.wf.output_nodes(catalog).into_iter().map(|n| n.0).collect();
        let wf = self.wf.clone();
        let mut list = ExecList::new(&wf, &output_nodes, &cached_set);
        for o in &self.item.outputs {
            list.add_node(o);
        }

        let mut stop = None;
        while let Some(id) = list.next() {
            if cached_set.contains(&id) {
                self.replay_cached(&id);
            } else if let Err(s) = self.run_node(&id).await {
                stop = Some(s);
                break;
            }
            list.complete(&id);
        }
        self.finish(stop);
    }

    /// A cached output node re-reports its cached UI output.
    fn replay_cached(&mut self, id: &str) {
        let st = self.shared.lock();
        let ui = self.sigs.get(id).and_then(|s| st.cache.get(s)).cloned().flatten();
        let pid = self.prompt_id().to_string();
        self.send_to_client(
            &st,
            "executed",
            json!({"node": id, "display_node": id, "output": ui.clone().unwrap_or(Value::Null), "prompt_id": pid}),
        );
        if let Some(ui) = ui {
            self.ui.insert(id.to_string(), ui);
        }
        self.finish_progress(&st, id);
    }

    fn interrupted(&self) -> bool {
        self.shared.lock().interrupt
    }

    async fn run_node(&mut self, id: &str) -> Result<(), Stop> {
        let wf = self.wf.clone();
        let Some(node) = wf.node(id) else { return Ok(()) };
        let class = node.class_type.clone();
        let pid = self.prompt_id().to_string();
        let (failure, slow) = {
            let mut st = self.shared.lock();
            self.set_progress(&st, id, json!(0.0), json!(1.0), "running");
            st.last_node_id = Some(id.to_string());
            self.send_to_client(&st, "executing", json!({"node": id, "display_node": id, "prompt_id": pid}));
            // `before_node_execution` checks the interrupt flag.
            if st.interrupt {
                return Err(Stop::Interrupted { node: id.to_string() });
            }
            let failure = st.scripts.fail_classes.get(&class).map(|f| Failure {
                exception_type: f.exception_type.clone(),
                message: f.message.clone(),
                traceback: scripted_traceback(&class, &f.exception_type, &f.message),
            });
            let failure = failure.or_else(|| self.runtime_failure(&st, id, node));
            (failure, st.scripts.slow_classes.get(&class).copied())
        };
        if let Some(failure) = failure {
            return Err(Stop::Error { node: id.to_string(), failure });
        }
        if let Some(d) = slow {
            tokio::time::sleep(d).await;
        }
        self.progress_steps(id, node).await?;

        let mut st = self.shared.lock();
        let inputs = Inputs { node, values: &self.values };
        if class == "GetImageSize" {
            // `send_progress_text` without a sid: broadcast as a binary TEXT frame.
            if let Some((w, h, b)) = inputs.image().dims() {
                st.send_binary(None, &text_frame(id, &format!("width: {w}, height: {h}\n batch size: {b}")));
            }
        }
        let ui = if self.is_output(&class) {
            run_output_node(&mut st, id, &inputs)
                .map_err(|failure| Stop::Error { node: id.to_string(), failure })?
        } else {
            None
        };
        if let Some(ui) = &ui {
            self.send_to_client(
                &st,
                "executed",
                json!({"node": id, "display_node": id, "output": ui, "prompt_id": pid}),
            );
            self.ui.insert(id.to_string(), ui.clone());
        }
        self.finish_progress(&st, id);
        if let Some(sig) = self.sigs.get(id) {
            st.cache.insert(*sig, ui);
        }
        self.executed.push(id.to_string());
        Ok(())
    }

    fn is_output(&self, class: &str) -> bool {
        self.shared.config.catalog.node(class).is_some_and(|d| d.output_node)
    }

    /// Failures a real node would raise: V3 combo values outside their options (`KeyError`),
    /// and `LoadImage` of an uploaded file that is not an image.
    fn runtime_failure(&self, st: &State, id: &str, node: &comfy_core::Node) -> Option<Failure> {
        if let Some(failure) = self.partner_auth_failure(&node.class_type) {
            return Some(failure);
        }
        if let Some((_, input)) = self.item.v3_combo_errors.iter().find(|(n, _)| n == id) {
            let value =
                node.inputs.get(input).map(|v| crate::pyfmt::py_str(&v.to_json())).unwrap_or_default();
            return Some(Failure {
                exception_type: "KeyError".into(),
                message: format!("'{value}'"),
                traceback: vec![
                    "  File \"<COMFYUI_ROOT>/comfy_api/latest/_io.py\", line 1270, in EXECUTE_NORMALIZED\n    to_return = cls.execute(*args, **kwargs)\n".into(),
                ],
            });
        }
        if matches!(node.class_type.as_str(), "LoadImage" | "LoadImageMask") {
            let name = node.inputs.get("image").and_then(|v| v.as_value()).and_then(Value::as_str)?;
            let key = input_file_key(name)?;
            let bytes = st.files.get(&key)?;
            // Only PNG is decoded here; other recognised image formats are taken as valid.
            let corrupt = match image::guess_format(bytes) {
                Ok(image::ImageFormat::Png) => image::load_from_memory(bytes).is_err(),
                Ok(_) => false,
                Err(_) => true,
            };
            if corrupt {
                let path = if key.subfolder.is_empty() {
                    key.filename.clone()
                } else {
                    format!("{}/{}", key.subfolder, key.filename)
                };
                return Some(Failure {
                    exception_type: "PIL.UnidentifiedImageError".into(),
                    message: format!("cannot identify image file '<COMFYUI_ROOT>/{}/{path}'", key.folder.as_str()),
                    traceback: vec![
                        "  File \"<COMFYUI_ROOT>/nodes.py\", line 1647, in load_image\n    img = node_helpers.pillow(Image.open, image_path)\n".into(),
                        "  File \"<VENV>/lib/python3.11/site-packages/PIL/Image.py\", line 3580, in open\n    raise UnidentifiedImageError(msg)\n".into(),
                    ],
                });
            }
        }
        None
    }

    /// A partner (API) node run without a Comfy credential in `extra_data` fails the way the
    /// real nodes do (their hidden `api_key_comfy_org` / `auth_token_comfy_org` inputs are empty).
    fn partner_auth_failure(&self, class: &str) -> Option<Failure> {
        let api_node = self.shared.config.catalog.node(class).is_some_and(|d| d.api_node);
        if !api_node {
            return None;
        }
        let has = |k: &str| {
            self.item.extra_data.get(k).and_then(Value::as_str).is_some_and(|v| !v.trim().is_empty())
        };
        if has("api_key_comfy_org") || has("auth_token_comfy_org") {
            return None;
        }
        Some(Failure {
            exception_type: "Exception".into(),
            message: "Unauthorized: Please login first to use this node.".into(),
            traceback: vec![
                "  File \"<COMFYUI_ROOT>/comfy_api_nodes/apis/client.py\", line 295, in _check_auth\n    raise Exception(\"Unauthorized: Please login first to use this node.\")\n".into(),
            ],
        })
    }

    /// Progress-bar nodes: an INT `steps` input (samplers: values 1..=steps, `step_delay`
    /// apart, previews if enabled) or `SaveImageWebsocket` (one PNG preview per image, values
    /// 0..batch). Each update checks the interrupt flag first, like ComfyUI's progress hook.
    async fn progress_steps(&mut self, id: &str, node: &comfy_core::Node) -> Result<(), Stop> {
        let catalog = &self.shared.config.catalog;
        let inputs = Inputs { node, values: &self.values };
        let (steps, first, previews_always, image) = if node.class_type == "SaveImageWebsocket" {
            let image = inputs.image();
            let batch = image.dims().map_or(1, |d| d.2).min(64) as i64;
            (batch, 0, true, image)
        } else {
            let has_steps = catalog
                .node(&node.class_type)
                .and_then(|d| d.input("steps"))
                .is_some_and(|i| i.kind == InputKind::Int);
            let steps = match (has_steps, inputs.val("steps")) {
                (true, Some(Val::Int(n))) => n.clamp(0, 10_000),
                (true, Some(v)) => v.preview_text().parse().unwrap_or(0),
                _ => 0,
            };
            let image = Val::Image { w: 64, h: 64, batch: 1, rgb: [96, 96, 96] };
            (steps, 1, false, image)
        };
        if steps == 0 {
            return Ok(());
        }
        let (w, h, _) = image.dims().unwrap_or((64, 64, 1));
        let rgb = match image {
            Val::Image { rgb, .. } => rgb,
            _ => [96, 96, 96],
        };
        let preview_png = png(w, h, rgb);
        let pid = self.prompt_id().to_string();
        for step in 0..steps {
            let value = step + first;
            if first == 1 {
                let delay: Duration = self.shared.lock().step_delay;
                tokio::time::sleep(delay).await;
            }
            if self.interrupted() {
                return Err(Stop::Interrupted { node: id.to_string() });
            }
            let st = self.shared.lock();
            let preview = previews_always || st.previews;
            let metadata_client = st.supports_preview_metadata(self.client.as_deref());
            self.set_progress(&st, id, json!(value), json!(steps), "running");
            if preview && metadata_client {
                st.send_binary(self.client.as_deref(), &metadata_frame(id, &pid, &preview_png));
            }
            st.send_json(
                self.client.as_deref(),
                "progress",
                json!({"value": value, "max": steps, "prompt_id": pid, "node": id}),
            );
            if preview && !metadata_client {
                st.send_binary(self.client.as_deref(), &legacy_frame(&preview_png));
            }
        }
        Ok(())
    }

    /// Terminal message, history entry, `status` and `executing {node: null}`.
    fn finish(mut self, stop: Option<Stop>) {
        let pid = self.prompt_id().to_string();
        let mut st = self.shared.lock();
        let completed = match &stop {
            None => {
                self.add_message(&st, "execution_success", json!({"prompt_id": pid}), false);
                true
            }
            Some(Stop::Interrupted { node }) => {
                let data = json!({"prompt_id": pid, "node_id": node, "node_type": self.class_of(node),
                                  "executed": self.executed});
                self.add_message(&st, "execution_interrupted", data, true);
                false
            }
            Some(Stop::Error { node, failure }) => {
                let mut current_outputs: Vec<String> = self.executed.clone();
                current_outputs.extend(self.ui.keys().filter(|k| !self.executed.contains(k)).cloned());
                let data = json!({
                    "prompt_id": pid, "node_id": node, "node_type": self.class_of(node),
                    "executed": self.executed,
                    "exception_message": format!("{}\n", failure.message.trim_end_matches('\n')),
                    "exception_type": failure.exception_type,
                    "traceback": failure.traceback,
                    "current_inputs": self.current_inputs(node),
                    "current_outputs": current_outputs,
                });
                self.add_message(&st, "execution_error", data, false);
                false
            }
        };

        // Outputs of every node of this prompt with a UI result: those reported now, then any
        // other whose cached result survives (partial execution).
        let mut outputs = std::mem::take(&mut self.ui);
        for (id, _) in self.wf.nodes() {
            if outputs.contains_key(id.as_str()) {
                continue;
            }
            if let Some(Some(ui)) = self.sigs.get(id.as_str()).and_then(|s| st.cache.get(s)) {
                outputs.insert(id.0.clone(), ui.clone());
            }
        }
        let meta: Map<String, Value> = outputs
            .keys()
            .map(|id| {
                (
                    id.clone(),
                    json!({"node_id": id, "display_node": id, "parent_node": null, "real_node_id": id}),
                )
            })
            .collect();
        let mut extra_data = self.item.extra_data.clone();
        if let Value::Object(m) = &mut extra_data {
            for key in SENSITIVE_EXTRA_DATA_KEYS {
                m.remove(key);
            }
        }
        let entry = json!({
            "prompt": self.item.to_json(extra_data),
            "outputs": outputs,
            "status": {"status_str": if completed { "success" } else { "error" }, "completed": completed,
                       "messages": self.messages},
            "meta": meta,
        });
        st.add_history(pid.clone(), entry);
        st.running = None;
        st.last_node_id = None;
        st.broadcast_status();
        self.send_to_client(&st, "executing", json!({"node": null, "prompt_id": pid}));
    }

    fn class_of(&self, id: &str) -> String {
        self.wf.node(id).map(|n| n.class_type.clone()).unwrap_or_default()
    }

    /// `current_inputs`: literal values as one-item lists; linked values as their text.
    fn current_inputs(&self, id: &str) -> Value {
        let Some(node) = self.wf.node(id) else { return json!({}) };
        let inputs = Inputs { node, values: &self.values };
        let map: Map<String, Value> = node
            .inputs
            .iter()
            .map(|(name, input)| {
                let v = match input {
                    Input::Value(_) => inputs.literal(name).cloned().unwrap_or(Value::Null),
                    Input::Link(_) => {
                        Value::String(inputs.val(name).map_or("None".into(), |v| v.preview_text()))
                    }
                };
                (name.clone(), json!([v]))
            })
            .collect();
        Value::Object(map)
    }
}

fn scripted_traceback(class: &str, exception_type: &str, message: &str) -> Vec<String> {
    vec![
        "  File \"<COMFYUI_ROOT>/execution.py\", line 496, in execute\n    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, hidden_inputs=hidden_inputs)\n".into(),
        "  File \"<COMFYUI_ROOT>/execution.py\", line 277, in process_inputs\n    result = f(**inputs)\n             ^^^^^^^^^^^\n".into(),
        format!("  File \"<COMFY_FAKE>/nodes.py\", line 1, in {class}\n    raise {exception_type}({message:?})\n"),
    ]
}

/// Binary event 1 `PREVIEW_IMAGE`: `[u32 1][u32 2 = PNG][bytes]`.
pub(crate) fn legacy_frame(image: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + image.len());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(image);
    out
}

/// Binary event 4 `PREVIEW_IMAGE_WITH_METADATA`: `[u32 4][u32 len][metadata JSON][bytes]`.
pub(crate) fn metadata_frame(node: &str, prompt_id: &str, image: &[u8]) -> Vec<u8> {
    let meta =
        json!({"node_id": node, "prompt_id": prompt_id, "display_node_id": node, "parent_node_id": null,
                      "real_node_id": node, "image_type": "image/png"})
        .to_string();
    let mut out = Vec::with_capacity(8 + meta.len() + image.len());
    out.extend_from_slice(&4u32.to_be_bytes());
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(meta.as_bytes());
    out.extend_from_slice(image);
    out
}

/// Binary event 3 `TEXT`: `[u32 3][u32 node_id_len][node_id][text]`.
pub(crate) fn text_frame(node: &str, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + node.len() + text.len());
    out.extend_from_slice(&3u32.to_be_bytes());
    out.extend_from_slice(&(node.len() as u32).to_be_bytes());
    out.extend_from_slice(node.as_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}
