//! `notifications/resources/list_changed`: when a job (of any session, over any transport)
//! records new assets, every initialized session is told, once per burst rather than once per
//! asset, and `resources/list` then shows the new assets.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use comfy_mcp::ComfyMcp;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Counter {
    list_changed: Arc<AtomicU32>,
}

impl ClientHandler for Counter {
    async fn on_resource_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.list_changed.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter {
    fn seen(&self) -> u32 {
        self.list_changed.load(Ordering::SeqCst)
    }
}

/// Waits (up to 20 s) until `done` holds.
async fn until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..2000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

async fn over_stdio(state: Arc<comfy_mcp::AppState>) -> (RunningService<RoleClient, Counter>, Counter) {
    let server = ComfyMcp::new(state);
    let (s, c) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(s).await {
            let _ = running.waiting().await;
        }
    });
    let counter = Counter::default();
    (counter.clone().serve(c).await.expect("client connects"), counter)
}

fn batch_workflow(prefix: &str, images: u32) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": images, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}}
    })
}

/// Submits `workflow` and waits for it; the tool's structured result.
async fn run(client: &RunningService<RoleClient, Counter>, workflow: Value) -> Value {
    let args = json!({"workflow": workflow, "wait": true});
    let p = CallToolRequestParams::new("submit_workflow").with_arguments(args.as_object().cloned().unwrap());
    let r = client.call_tool(p).await.expect("tools/call");
    assert_ne!(r.is_error, Some(true), "{r:?}");
    r.structured_content.expect("structured result")
}

async fn asset_uris(client: &RunningService<RoleClient, Counter>) -> Vec<String> {
    let list = client.list_all_resources().await.expect("resources/list");
    list.into_iter().map(|r| r.uri.clone()).filter(|u| u.starts_with("comfy://assets/")).collect()
}

#[tokio::test]
async fn new_assets_notify_every_session_once_per_burst() {
    let fake = common::fake().await;
    let state = common::state_for(&fake.url(), |_| {});
    let (base, shutdown) = common::serve_http(state.clone()).await;

    let (runner, runner_seen) = over_stdio(state.clone()).await;
    let watcher_seen = Counter::default();
    let watcher = watcher_seen
        .clone()
        .serve(StreamableHttpClientTransport::from_uri(format!("{base}/mcp")))
        .await
        .expect("HTTP client connects");
    let caps = watcher.peer_info().unwrap().capabilities.clone();
    assert_eq!(caps.resources.and_then(|r| r.list_changed), Some(true));
    assert!(asset_uris(&watcher).await.is_empty());

    // One job with four images: four assets, one notification to each session.
    let done = run(&runner, batch_workflow("burst", 4)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(until(|| watcher_seen.seen() >= 1).await, "the HTTP session was not told");
    assert!(until(|| runner_seen.seen() >= 1).await, "the stdio session was not told");
    let assets = asset_uris(&watcher).await;
    assert_eq!(assets.len(), 4, "{assets:?}");

    // A second job: told again, and the list shows its assets too.
    let before = watcher_seen.seen();
    let done = run(&runner, batch_workflow("again", 2)).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(until(|| watcher_seen.seen() > before).await, "no notification for the second job");
    assert_eq!(asset_uris(&watcher).await.len(), 6);
    // Never one per asset: at most one per finished job (6 assets, 2 jobs).
    assert!(
        watcher_seen.seen() <= 2 && runner_seen.seen() <= 2,
        "{} {}",
        watcher_seen.seen(),
        runner_seen.seen()
    );

    watcher.cancel().await.unwrap();
    runner.cancel().await.unwrap();
    shutdown.cancel();
}
