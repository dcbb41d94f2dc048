//! Test harness: a fake ComfyUI, an in-process comfy-mcp server and an rmcp client over a duplex pipe.
#![allow(dead_code)]

pub mod traversal;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::store::MemoryStore;
use comfy_fake::FakeComfyUi;
use comfy_mcp::cli::ServerArgs;
use comfy_mcp::config::{FileConfig, Settings};
use comfy_mcp::{AppState, ComfyMcp};
use rmcp::model::{CallToolRequestParams, CallToolResult, ProgressNotificationParam};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

pub const CKPT: &str = "v1-5-pruned-emaonly.safetensors";

/// Records progress notifications.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    pub list_changed: Arc<Mutex<u32>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(&self, params: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(params);
    }
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        *self.list_changed.lock().unwrap() += 1;
    }
}

pub struct Harness {
    pub fake: FakeComfyUi,
    pub state: Arc<AppState>,
    pub client: RunningService<RoleClient, Recorder>,
    pub recorder: Recorder,
}

pub async fn fake() -> FakeComfyUi {
    FakeComfyUi::builder()
        .object_info_fixture()
        .step_delay(Duration::from_millis(2))
        .model_files("checkpoints", &[CKPT, "sdxl/juggernaut_xl.safetensors"])
        .model_files("loras", &["detail_tweaker.safetensors"])
        .start()
        .await
        .expect("fake ComfyUI")
}

pub fn settings(url: &str, tweak: impl FnOnce(&mut Settings)) -> Settings {
    let args = ServerArgs { comfyui_url: Some(url.to_owned()), ..Default::default() };
    let mut s = Settings::merge(&args, FileConfig::default()).unwrap();
    s.limits.wait_budget_secs = 20;
    tweak(&mut s);
    s
}

pub fn state_for(url: &str, tweak: impl FnOnce(&mut Settings)) -> Arc<AppState> {
    let backend = LocalComfyUi::builder(url).retries(0).build().unwrap();
    AppState::new(Arc::new(backend), Arc::new(MemoryStore::default()), settings(url, tweak)).unwrap()
}

pub async fn connect(state: Arc<AppState>) -> (RunningService<RoleClient, Recorder>, Recorder) {
    let server = ComfyMcp::new(state);
    let (s, c) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(s).await {
            let _ = running.waiting().await;
        }
    });
    let recorder = Recorder::default();
    let client = recorder.clone().serve(c).await.expect("client connects");
    (client, recorder)
}

pub async fn start() -> Harness {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Harness {
    let fake = fake().await;
    let state = state_for(&fake.url(), tweak);
    let (client, recorder) = connect(state.clone()).await;
    Harness { fake, state, client, recorder }
}

/// A client session on a server without a fake (e.g. on a real ComfyUI).
pub struct Session {
    pub state: Arc<AppState>,
    pub client: RunningService<RoleClient, Recorder>,
    pub recorder: Recorder,
}

impl Session {
    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        call(&self.client, tool, args).await
    }

    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        ok(&self.client, tool, args).await
    }

    pub async fn err(&self, tool: &str, args: Value) -> Value {
        err(&self.client, tool, args).await
    }
}

impl Harness {
    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        call(&self.client, tool, args).await
    }

    /// Calls a tool that must succeed; returns its structured content.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        ok(&self.client, tool, args).await
    }

    /// Calls a tool that must fail with a tool error; returns its structured content.
    pub async fn err(&self, tool: &str, args: Value) -> Value {
        err(&self.client, tool, args).await
    }
}

pub async fn call(client: &RunningService<RoleClient, Recorder>, tool: &str, args: Value) -> CallToolResult {
    let p = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    tokio::time::timeout(Duration::from_secs(60), client.call_tool(p))
        .await
        .unwrap_or_else(|_| panic!("{tool}: no answer within 60 s"))
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"))
}

/// Calls a tool that must succeed; returns its structured content.
pub async fn ok(client: &RunningService<RoleClient, Recorder>, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args).await;
    assert_ne!(r.is_error, Some(true), "{tool} failed: {:?}", r.structured_content);
    let s = r.structured_content.clone().expect("structured content");
    // The text mirror is the same JSON.
    let text = r.content[0].as_text().expect("first block is text").text.clone();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), s);
    s
}

/// Calls a tool that must fail with a tool error; returns its structured content.
pub async fn err(client: &RunningService<RoleClient, Recorder>, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args).await;
    assert_eq!(r.is_error, Some(true), "{tool} should fail: {:?}", r.structured_content);
    let s = r.structured_content.expect("structured error");
    assert!(s["code"].is_string() && s["message"].is_string() && s["retryable"].is_boolean(), "{s}");
    s
}

pub fn fixture_prompt(name: &str) -> Value {
    let path =
        format!("{}/../../shared/fixtures/comfyui/prompts/{name}.request.json", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["prompt"].clone()
}

pub fn basic_workflow() -> Value {
    fixture_prompt("prompt_post_success")
}

pub fn image_workflow(prefix: &str) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}
    })
}

/// Whether the progress values, in send order, increased every time. rmcp's client runs each
/// notification handler in its own task, so the recorder may see them out of order; sorted,
/// they must still be strictly increasing (no value sent twice).
pub fn strictly_increasing(progress: &[ProgressNotificationParam]) -> bool {
    let mut values: Vec<f64> = progress.iter().map(|p| p.progress).collect();
    values.sort_by(f64::total_cmp);
    values.windows(2).all(|w| w[1] > w[0])
}

/// Serves the HTTP router of `state` on a loopback port; returns its base URL
/// (`http://127.0.0.1:<port>`) and the token that shuts it down.
pub async fn serve_http(state: Arc<AppState>) -> (String, tokio_util::sync::CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_http_on(state, listener).await
}

/// [`serve_http`] on a listener the test bound already (when the URL must be known first).
pub async fn serve_http_on(
    state: Arc<AppState>,
    listener: tokio::net::TcpListener,
) -> (String, tokio_util::sync::CancellationToken) {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let app = comfy_mcp::http::router(state, shutdown.clone());
    let addr = listener.local_addr().unwrap();
    let ct = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).with_graceful_shutdown(async move { ct.cancelled().await }).await;
    });
    (format!("http://{addr}"), shutdown)
}
