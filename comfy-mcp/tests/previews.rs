//! Sampler previews reach the client: in progress messages, in get_job_status (as a reference and,
//! on request, as image content) and as the `comfy://jobs/{job_id}/preview` resource.

mod common;

use std::time::Duration;

use base64::Engine;
use comfy_fake::FakeComfyUi;
use common::*;
use rmcp::model::{
    CallToolRequestParams, ClientRequest, ReadResourceRequestParams, Request, ResourceContents,
};
use rmcp::service::PeerRequestOptions;
use serde_json::json;

/// A fake that sends a preview frame with every sampler step, as ComfyUI does with
/// `--preview-method auto`.
async fn previewing_fake() -> FakeComfyUi {
    FakeComfyUi::builder()
        .object_info_fixture()
        .step_delay(Duration::from_millis(5))
        .previews(true)
        .model_files("checkpoints", &[CKPT])
        .start()
        .await
        .expect("fake ComfyUI")
}

#[tokio::test]
async fn previews_are_announced_linked_shown_and_readable() {
    let fake = previewing_fake().await;
    let (client, recorder) = connect(state_for(&fake.url(), |_| {})).await;

    // generate_image with a progress token (rmcp sets one on every request).
    let args = json!({"prompt": "a lighthouse", "ckpt_name": CKPT, "steps": 6, "width": 64, "height": 64});
    let request = ClientRequest::CallToolRequest(Request::new(
        CallToolRequestParams::new("generate_image").with_arguments(args.as_object().cloned().unwrap()),
    ));
    let handle = client.send_cancellable_request(request, PeerRequestOptions::no_options()).await.unwrap();
    let response = handle.await_response().await.unwrap();
    let rmcp::model::ServerResult::CallToolResult(r) = response else { panic!("{response:?}") };
    let s = r.structured_content.unwrap();
    assert_eq!(s["status"], "succeeded", "{s}");
    let job_id = s["job_id"].as_str().unwrap().to_owned();
    let uri = format!("comfy://jobs/{job_id}/preview");

    // Progress messages point at the newest frame.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let progress = recorder.progress.lock().unwrap().clone();
    let with_preview: Vec<&str> =
        progress.iter().filter_map(|p| p.message.as_deref()).filter(|m| m.contains(&uri)).collect();
    assert!(!with_preview.is_empty(), "{progress:?}");
    assert!(with_preview.iter().all(|m| m.contains("preview #")), "{with_preview:?}");

    // get_job_status references it; with preview=true it is image content, bounded like view_image.
    let status = ok(&client, "get_job_status", json!({"job_id": job_id})).await;
    assert_eq!(status["preview"]["uri"], uri.as_str(), "{status}");
    assert!(status["preview"]["sequence"].as_u64().unwrap() >= 1, "{status}");
    assert_eq!(status["preview"]["max_steps"], 6, "{status}");
    let plain = call(&client, "get_job_status", json!({"job_id": job_id})).await;
    assert!(plain.content.iter().all(|c| c.as_image().is_none()), "no image unless asked");
    let shown = call(&client, "get_job_status", json!({"job_id": job_id, "preview": true})).await;
    assert_ne!(shown.is_error, Some(true), "{shown:?}");
    let image = shown.content.iter().find_map(|c| c.as_image()).expect("image content");
    assert_eq!(image.mime_type, "image/jpeg");
    let jpeg = base64::engine::general_purpose::STANDARD.decode(&image.data).unwrap();
    assert!(image::load_from_memory(&jpeg).is_ok());
    assert!(image.data.len() <= 100_000);

    // The resource: the frame's bytes with their MIME type.
    let read = client.read_resource(ReadResourceRequestParams::new(uri.clone())).await.unwrap();
    let ResourceContents::BlobResourceContents { blob, mime_type, .. } = &read.contents[0] else {
        panic!("{read:?}")
    };
    let mime = mime_type.as_deref().unwrap();
    assert!(mime == "image/jpeg" || mime == "image/png", "{mime}");
    let bytes = base64::engine::general_purpose::STANDARD.decode(blob).unwrap();
    assert!(image::load_from_memory(&bytes).is_ok());
    // The job resource carries the reference too.
    let job =
        client.read_resource(ReadResourceRequestParams::new(format!("comfy://jobs/{job_id}"))).await.unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &job.contents[0] else { panic!("{job:?}") };
    assert!(text.contains(&uri), "{text}");
}

#[tokio::test]
async fn a_job_without_previews_says_so() {
    let h = start().await;
    let s = h.ok("submit_workflow", json!({"workflow": basic_workflow(), "wait": true})).await;
    let job_id = s["job_id"].as_str().unwrap();
    let status = h.ok("get_job_status", json!({"job_id": job_id, "preview": true})).await;
    assert!(status.get("preview").is_none(), "{status}");
    let r = h.call("get_job_status", json!({"job_id": job_id, "preview": true})).await;
    assert!(r.content.iter().all(|c| c.as_image().is_none()));
    let e = h
        .client
        .read_resource(ReadResourceRequestParams::new(format!("comfy://jobs/{job_id}/preview")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no preview"), "{e}");
    for bad in ["comfy://jobs//preview", "comfy://jobs/no-such-job/preview", "comfy://jobs/a/b/preview"] {
        assert!(h.client.read_resource(ReadResourceRequestParams::new(bad)).await.is_err(), "{bad}");
    }
    let e = h.err("get_job_status", json!({"job_id": job_id, "preview": "yes"})).await;
    assert_eq!(e["code"], "invalid_argument", "{e}");
}
