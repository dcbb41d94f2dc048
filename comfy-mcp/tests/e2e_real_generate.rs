//! The MCP server end to end on a real ComfyUI (0.3.75 on CPU, started by `scripts/test.sh`,
//! which sets `COMFYUI_E2E_URL`), through an in-process rmcp client. Built only with
//! `--features e2e`; run with `--test-threads=1` (one CPU ComfyUI).
//!
//! The built-in `generate_image` template runs for real on `tiny_sd15.safetensors` (the
//! random-weight SD1.5 checkpoint `scripts/real-comfyui/start.sh` puts in place).

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use comfy_core::backend::JobEvent;
use comfy_core::store::JobQuery;
use comfy_mcp::AppState;
use rmcp::model::{
    CallToolRequestParams, ClientRequest, ProgressNotificationParam, ReadResourceRequestParams, Request,
    ResourceContents, ServerResult,
};
use rmcp::service::PeerRequestOptions;
use serde_json::{Value, json};

const TINY_CKPT: &str = "tiny_sd15.safetensors";

fn base_url() -> String {
    std::env::var("COMFYUI_E2E_URL").expect(
        "COMFYUI_E2E_URL is not set: run these tests through scripts/test.sh, which starts a real ComfyUI",
    )
}

/// A server on the real ComfyUI with a wait budget long enough for CPU sampling.
async fn harness() -> (Arc<AppState>, common::Session) {
    let state = common::state_for(&base_url(), |s| s.limits.wait_budget_secs = 170);
    let (client, recorder) = common::connect(state.clone()).await;
    (state.clone(), common::Session { state, client, recorder })
}

/// Calls `tool` with a progress token (rmcp sets one on every request); returns the result and
/// the progress notifications that carried that token.
async fn call_with_progress(
    h: &common::Session,
    tool: &str,
    args: Value,
) -> (rmcp::model::CallToolResult, Vec<ProgressNotificationParam>) {
    let request = ClientRequest::CallToolRequest(Request::new(
        CallToolRequestParams::new(tool.to_owned())
            .with_arguments(args.as_object().cloned().unwrap_or_default()),
    ));
    let handle = h.client.send_cancellable_request(request, PeerRequestOptions::no_options()).await.unwrap();
    let token = handle.progress_token.clone();
    let response = tokio::time::timeout(Duration::from_secs(180), handle.await_response())
        .await
        .unwrap_or_else(|_| panic!("{tool}: no answer within 180 s"))
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let ServerResult::CallToolResult(result) = response else { panic!("{tool}: {response:?}") };
    // Notifications sent before the answer may be handled just after it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let progress =
        h.recorder.progress.lock().unwrap().iter().filter(|p| p.progress_token == token).cloned().collect();
    (result, progress)
}

/// Watches the first job the server records and counts the live events the core delivers for
/// it: (sampler steps seen, preview images seen).
fn watch_first_job(state: Arc<AppState>) -> tokio::task::JoinHandle<(Vec<(u64, u64)>, usize)> {
    tokio::spawn(async move {
        let id = loop {
            let jobs = state.comfy.jobs(&JobQuery::default()).await.unwrap();
            if let Some(j) = jobs.first() {
                break j.id.clone();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let job = state.comfy.job(&id).await.unwrap();
        let mut events = job.subscribe();
        let (mut steps, mut previews) = (Vec::new(), 0);
        while let Some(e) = events.next().await {
            match e {
                JobEvent::Progress { value, max, .. } => steps.push((value, max)),
                JobEvent::Preview { mime, data, .. } => {
                    assert!(mime.starts_with("image/") && !data.is_empty(), "{mime}");
                    previews += 1;
                }
                JobEvent::Status(s) if s.is_terminal() => break,
                _ => {}
            }
        }
        (steps, previews)
    })
}

fn assert_progress_is_well_formed(progress: &[ProgressNotificationParam]) {
    assert!(!progress.is_empty(), "no progress notifications");
    // rmcp's client handles each notification in its own task, so arrival order may differ
    // from send order; what must hold is that no two share a value (each one increased).
    assert!(common::strictly_increasing(progress), "strictly increasing: {progress:?}");
    assert!(progress.iter().all(|p| p.total == Some(100.0)), "{progress:?}");
    assert_eq!(progress.last().unwrap().progress, 100.0, "{progress:?}");
}

#[tokio::test]
async fn generate_image_runs_for_real_with_step_progress_assets_and_provenance() {
    let (state, h) = harness().await;
    let watcher = watch_first_job(state.clone());
    let args = json!({"prompt": "a lighthouse at dusk", "ckpt_name": TINY_CKPT, "steps": 4, "width": 64, "height": 64});
    let (r, progress) = call_with_progress(&h, "generate_image", args).await;
    assert_ne!(r.is_error, Some(true), "{:?}", r.structured_content);
    let s = r.structured_content.clone().unwrap();
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_eq!(s["params"]["steps"], 4, "{s}");
    assert_eq!(s["params"]["ckpt_name"], TINY_CKPT, "{s}");
    let seed = s["params"]["seed"].as_u64().unwrap_or_else(|| panic!("the drawn seed is reported: {s}"));

    // Step progress (step/max of the KSampler) reached the client.
    assert_progress_is_well_formed(&progress);
    let messages: Vec<&str> = progress.iter().filter_map(|p| p.message.as_deref()).collect();
    // Each notification describes the job's state when it is sent, so a step the sampler
    // finishes while the next node starts can be folded into that node's message.
    assert!(messages.iter().any(|m| m.contains("(KSampler), step ") && m.contains("/4,")), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("(KSampler)")), "{messages:?}");

    // What the core saw for the same job: every step, and the preview frames ComfyUI sends
    // with --preview-method auto.
    let (steps, previews) = tokio::time::timeout(Duration::from_secs(30), watcher).await.unwrap().unwrap();
    assert!(steps.contains(&(4, 4)), "{steps:?}");
    assert!(previews >= 1, "ComfyUI sends previews with --preview-method auto: {previews}");
    // The previews reach the MCP client: named in the progress messages, referenced by
    // get_job_status, shown as image content on request, readable as a resource.
    let job_id = s["job_id"].as_str().unwrap();
    let uri = format!("comfy://jobs/{job_id}/preview");
    let announced = messages.iter().filter(|m| m.contains(&uri)).count();
    assert!(announced >= 1, "progress messages name the preview: {messages:?}");
    let status = h.ok("get_job_status", json!({"job_id": job_id})).await;
    assert_eq!(status["preview"]["uri"], uri.as_str(), "{status}");
    // The server counts every frame; the watcher may have subscribed after the first.
    assert!(status["preview"]["sequence"].as_u64().is_some_and(|n| n >= previews as u64), "{status}");
    let shown = h.call("get_job_status", json!({"job_id": job_id, "preview": true})).await;
    let image = shown.content.iter().find_map(|c| c.as_image()).expect("the preview as image content");
    let jpeg = base64::engine::general_purpose::STANDARD.decode(&image.data).unwrap();
    assert_eq!(&jpeg[..2], b"\xff\xd8", "a JPEG");
    let read = h.client.read_resource(ReadResourceRequestParams::new(uri.clone())).await.unwrap();
    let ResourceContents::BlobResourceContents { blob, mime_type, .. } = &read.contents[0] else {
        panic!("expected a blob: {:?}", read.contents[0])
    };
    let frame = base64::engine::general_purpose::STANDARD.decode(blob).unwrap();
    eprintln!(
        "generate_image: {} progress notifications ({announced} naming the preview), {} sampler steps, \
         {previews} preview frames; newest frame {} bytes {:?}",
        progress.len(),
        steps.len(),
        frame.len(),
        mime_type
    );
    assert!(mime_type.as_deref().is_some_and(|m| m.starts_with("image/")), "{mime_type:?}");

    let outputs = s["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1, "{s}");
    let asset = &outputs[0];
    assert_eq!(asset["template"], "generate_image");
    assert_eq!(asset["mime_type"], "image/png");

    let out = h.ok("get_output", json!({"job_id": job_id})).await;
    assert_eq!(&out["outputs"], &s["outputs"]);
    let listed = h.ok("list_assets", json!({"workflow": "generate_image"})).await;
    assert!(
        listed["assets"].as_array().unwrap().iter().any(|a| a["asset_id"] == asset["asset_id"]),
        "{listed}"
    );

    // The bytes are a real 64×64 PNG from ComfyUI.
    let read =
        h.client.read_resource(ReadResourceRequestParams::new(asset["uri"].as_str().unwrap())).await.unwrap();
    let ResourceContents::BlobResourceContents { blob, mime_type, .. } = &read.contents[0] else {
        panic!("expected a blob: {:?}", read.contents[0])
    };
    assert_eq!(mime_type.as_deref(), Some("image/png"));
    let png = base64::engine::general_purpose::STANDARD.decode(blob).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 64, "IHDR width");

    // Provenance: template name, every parameter (with the drawn seed), hashes.
    let meta = h.ok("get_asset_metadata", json!({"asset_id": asset["asset_id"]})).await;
    assert_eq!(meta["provenance"]["template"], "generate_image", "{meta}");
    assert_eq!(meta["job_id"], job_id);
    assert_eq!(meta["provenance"]["params"]["seed"].as_u64(), Some(seed), "{meta}");
    assert_eq!(meta["provenance"]["params"]["prompt"], "a lighthouse at dusk", "{meta}");
    assert_eq!(meta["provenance"]["params"]["steps"], 4, "{meta}");
    assert_eq!(meta["workflow_hash"].as_str().map(str::len), Some(64), "{meta}");
    assert_eq!(meta["sha256"].as_str().map(str::len), Some(64), "fetched above: {meta}");
    assert_eq!(
        (meta["width"].as_u64(), meta["height"].as_u64()),
        (Some(64), Some(64)),
        "fetched above: {meta}"
    );
}

#[tokio::test]
async fn a_model_free_workflow_submits_reports_progress_and_lists_its_output() {
    let (_, h) = harness().await;
    let workflow = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 48, "height": 32, "batch_size": 1, "color": 16711680}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "comfy-mcp-e2e/model_free"}}
    });
    let checked = h.ok("validate_workflow", json!({"workflow": workflow})).await;
    assert_eq!(checked["valid"], true, "{checked}");
    let (r, progress) =
        call_with_progress(&h, "submit_workflow", json!({"workflow": workflow, "wait": true})).await;
    assert_ne!(r.is_error, Some(true), "{:?}", r.structured_content);
    let s = r.structured_content.unwrap();
    assert_eq!(s["status"], "succeeded", "{s}");
    assert_progress_is_well_formed(&progress);
    let messages: Vec<&str> = progress.iter().filter_map(|p| p.message.as_deref()).collect();
    assert!(messages.iter().any(|m| m.starts_with("running") || m.starts_with("queued")), "{messages:?}");

    let job_id = s["job_id"].as_str().unwrap();
    let status = h.ok("get_job_status", json!({"job_id": job_id})).await;
    assert_eq!(status["status"], "succeeded");
    let out = h.ok("get_output", json!({"job_id": job_id})).await;
    let outputs = out["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1, "{out}");
    assert_eq!(outputs[0]["node_id"], "3");
    assert!(outputs[0]["filename"].as_str().unwrap().starts_with("model_free_"), "{out}");
    let read = h
        .client
        .read_resource(ReadResourceRequestParams::new(outputs[0]["uri"].as_str().unwrap()))
        .await
        .unwrap();
    assert!(matches!(&read.contents[0], ResourceContents::BlobResourceContents { .. }));
    let meta = h.ok("get_asset_metadata", json!({"asset_id": outputs[0]["asset_id"]})).await;
    assert_eq!((meta["width"].as_u64(), meta["height"].as_u64()), (Some(48), Some(32)), "{meta}");
    assert!(meta.get("params").is_none(), "a plain workflow has no template parameters: {meta}");

    // A workflow ComfyUI would refuse is refused before it is sent, naming node and input.
    let bad = json!({"1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 32, "batch_size": 1, "color": 0}},
                     "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}});
    let e = h.err("submit_workflow", json!({"workflow": bad})).await;
    assert_eq!(e["code"], "validation_failed");
    let problems = e["details"]["problems"].as_array().unwrap();
    assert!(problems.iter().any(|p| p["node_id"] == "1" && p["input"] == "width"), "{e}");
}
