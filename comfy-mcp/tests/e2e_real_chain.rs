//! The iteration chain end to end against a REAL ComfyUI (0.3.75 on CPU, started by
//! `scripts/test.sh`, which sets `COMFYUI_E2E_URL`), through an in-process rmcp client over the
//! real server code: submit_workflow (with progress) → get_output → view_image → regenerate
//! (with an override) → use_previous_output → LoadImage → ImageScale → SaveImage →
//! publish_asset (web_optimize under max_bytes). Built only with `--features e2e`.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{Recorder, connect, state_for};
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientRequest, Request};
use rmcp::service::{PeerRequestOptions, RunningService};
use serde_json::{Value, json};

fn base_url() -> String {
    std::env::var("COMFYUI_E2E_URL").expect(
        "COMFYUI_E2E_URL is not set: run this test through scripts/test.sh, which starts a real ComfyUI",
    )
}

async fn call(client: &RunningService<RoleClient, Recorder>, tool: &str, args: Value) -> CallToolResult {
    let p = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(args.as_object().cloned().unwrap_or_default());
    tokio::time::timeout(Duration::from_secs(180), client.call_tool(p))
        .await
        .unwrap_or_else(|_| panic!("{tool}: no answer within 180 s"))
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"))
}

async fn ok(client: &RunningService<RoleClient, Recorder>, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args).await;
    assert_ne!(r.is_error, Some(true), "{tool} failed: {:?}", r.structured_content);
    r.structured_content.expect("structured content")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_view_regenerate_chain_and_publish_on_real_comfyui() {
    let url = base_url();
    let web = tempfile::tempdir().unwrap();
    let publish = web.path().join("gen");
    std::fs::create_dir(&publish).unwrap();
    let p = publish.clone();
    let state = state_for(&url, move |s| {
        s.publish_dir = Some(p);
        s.limits.wait_budget_secs = 120;
    });
    let (client, recorder) = connect(state).await;
    let run = uuid::Uuid::new_v4().simple().to_string();

    // 1. submit_workflow (model-free), waiting, with a progress token.
    let wf = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 96, "height": 64, "batch_size": 1, "color": 3355443}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": format!("e2e-chain/{run}")}}
    });
    let request = ClientRequest::CallToolRequest(Request::new(
        CallToolRequestParams::new("submit_workflow")
            .with_arguments(json!({"workflow": wf, "wait": true}).as_object().cloned().unwrap()),
    ));
    let handle = client.send_cancellable_request(request, PeerRequestOptions::no_options()).await.unwrap();
    let response =
        tokio::time::timeout(Duration::from_secs(180), handle.await_response()).await.unwrap().unwrap();
    let rmcp::model::ServerResult::CallToolResult(r) = response else { panic!("{response:?}") };
    let s = r.structured_content.unwrap();
    assert_eq!(s["status"], "succeeded", "{s}");
    let job_id = s["job_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let progress = recorder.progress.lock().unwrap().clone();
    assert!(!progress.is_empty(), "progress notifications were sent");
    // rmcp's client handles each notification in its own task, so arrival order may differ
    // from send order; what must hold is that no two share a value (each one increased).
    assert!(common::strictly_increasing(&progress), "monotonic: {progress:?}");
    assert_eq!(progress.last().unwrap().progress, 100.0);

    // 2. get_output.
    let out = ok(&client, "get_output", json!({"job_id": job_id})).await;
    let outputs = out["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1, "{out}");
    let first = outputs[0]["asset_id"].as_str().unwrap().to_owned();

    // 3. view_image: a real JPEG preview of the real PNG, inverted colour.
    let r = call(&client, "view_image", json!({"asset_id": first})).await;
    assert_ne!(r.is_error, Some(true), "{:?}", r.structured_content);
    let v = r.structured_content.clone().unwrap();
    assert_eq!((v["original_width"].as_u64(), v["original_height"].as_u64()), (Some(96), Some(64)));
    let img = r.content.iter().find_map(|c| c.as_image()).expect("image content");
    assert_eq!(img.mime_type, "image/jpeg");
    let jpeg = base64::engine::general_purpose::STANDARD.decode(&img.data).unwrap();
    let decoded = image::load_from_memory(&jpeg).unwrap().to_rgb8();
    let px = decoded.get_pixel(10, 10);
    // 0x333333 inverted is 0xCCCCCC (JPEG may move it a little).
    assert!(px.0.iter().all(|c| (190..=220).contains(c)), "inverted grey expected, got {px:?}");

    // 4. regenerate the raw workflow with an override.
    let again = ok(&client, "regenerate", json!({"asset_id": first, "overrides": {"1.width": 48}})).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(again["source_asset_id"], first.as_str());
    let second = again["outputs"][0]["asset_id"].as_str().unwrap().to_owned();
    let v = ok(&client, "view_image", json!({"asset_id": second})).await;
    assert_eq!((v["original_width"].as_u64(), v["original_height"].as_u64()), (Some(48), Some(64)));
    let r = call(&client, "regenerate", json!({"asset_id": first, "overrides": {"1.widht": 48}})).await;
    assert_eq!(r.is_error, Some(true));
    assert_eq!(r.structured_content.unwrap()["field"], "overrides.1.widht");

    // 5. use_previous_output → LoadImage → ImageScale → SaveImage.
    let input =
        ok(&client, "use_previous_output", json!({"asset_id": second, "subfolder": "e2e-chain"})).await;
    let name = input["input_name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("e2e-chain/"), "{input}");
    let chained = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact", "width": 120, "height": 160, "crop": "disabled"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": format!("e2e-chain/{run}-scaled")}}
    });
    let s = ok(&client, "submit_workflow", json!({"workflow": chained, "wait": true})).await;
    assert_eq!(s["status"], "succeeded", "{s}");
    let third = s["outputs"][0]["asset_id"].as_str().unwrap().to_owned();
    let v = ok(&client, "view_image", json!({"asset_id": third})).await;
    assert_eq!((v["original_width"].as_u64(), v["original_height"].as_u64()), (Some(120), Some(160)));

    // 6. publish_asset as WebP under a byte budget.
    let p = ok(
        &client,
        "publish_asset",
        json!({"asset_id": third, "web_optimize": true, "max_bytes": 50000, "target_filename": "chain.png", "manifest_key": "chain"}),
    )
    .await;
    assert_eq!(
        (p["filename"].as_str(), p["relative_path"].as_str()),
        (Some("chain.webp"), Some("chain.webp")),
        "{p}"
    );
    assert!(p["byte_size"].as_u64().unwrap() <= 50_000);
    assert!(!p.to_string().contains(web.path().to_str().unwrap()), "no absolute path: {p}");
    let webp = std::fs::read(publish.join("chain.webp")).unwrap();
    let back = image::load_from_memory(&webp).unwrap();
    assert_eq!((back.width(), back.height()), (120, 160));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(publish.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["chain"], "chain.webp");
    let log = std::fs::read_to_string(publish.join("publish_log.jsonl")).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(log.lines().next().unwrap()).unwrap()["asset_id"],
        third.as_str()
    );
}

/// The bug a new user hit: a long-running server whose node catalogue is warm refused a
/// workflow naming a file just uploaded (`value_not_in_list`), although ComfyUI accepts it.
/// Uploads through this server are valid at once, and a file uploaded by someone else since the
/// catalogue was fetched is re-checked against a fresh catalogue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_run_on_a_server_whose_catalogue_is_warm() {
    let url = base_url();
    let state = state_for(&url, |s| s.limits.wait_budget_secs = 120);
    let (client, _) = connect(state).await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    // Warm the catalogue (as any earlier call on a long-running server does).
    let info = ok(&client, "get_node_info", json!({"class_type": "LoadImage"})).await;
    assert_eq!(info["class_type"], "LoadImage");

    let img = image::RgbImage::from_pixel(40, 24, image::Rgb([10, 200, 30]));
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(png.into_inner());
    let up = ok(&client, "upload_file", json!({"filename": format!("warm-{run}.png"), "data": data})).await;
    let name = up["input_name"].as_str().unwrap().to_owned();

    let wf = |image: &str| {
        json!({
            "1": {"class_type": "LoadImage", "inputs": {"image": image}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": format!("e2e-warm/{run}")}}
        })
    };
    let done = ok(&client, "submit_workflow", json!({"workflow": wf(&name), "wait": true})).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let saved = done["outputs"][0]["asset_id"].as_str().unwrap();
    let seen = ok(&client, "view_image", json!({"asset_id": saved})).await;
    assert_eq!((seen["original_width"].as_u64(), seen["original_height"].as_u64()), (Some(40), Some(24)));

    // Uploaded behind this server's back (straight to ComfyUI) after its catalogue was fetched.
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes({
            let mut png = std::io::Cursor::new(Vec::new());
            img.write_to(&mut png, image::ImageFormat::Png).unwrap();
            png.into_inner()
        })
        .file_name(format!("behind-{run}.png")),
    );
    let direct: Value = reqwest::Client::new()
        .post(format!("{url}/upload/image"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let behind = direct["name"].as_str().unwrap().to_owned();
    let done = ok(&client, "submit_workflow", json!({"workflow": wf(&behind), "wait": true})).await;
    assert_eq!(done["status"], "succeeded", "{done}");

    // A file nobody uploaded is still refused, naming the input.
    let r = call(&client, "submit_workflow", json!({"workflow": wf(&format!("nobody-{run}.png"))})).await;
    assert_eq!(r.is_error, Some(true));
    let e = r.structured_content.unwrap();
    assert_eq!(e["code"], "validation_failed", "{e}");
    assert_eq!(e["details"]["problems"][0]["input"], "image", "{e}");
}
