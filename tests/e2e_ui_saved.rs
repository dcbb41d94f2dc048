//! Editor workflows against a real ComfyUI (0.3.75 on CPU, started by `scripts/test.sh`, which
//! sets `COMFYUI_E2E_URL`): saved workflows through the user-data API, run with overrides, and
//! the official templates the server serves. Built only with `--features e2e`.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::local::LocalComfyUi;
use comfy_core::gallery::TemplateQuery;
use comfy_core::job::JobStatus;
use comfy_core::store::MemoryStore;
use comfy_core::workflow::{apply_overrides, summarize};
use comfy_core::{Comfy, Waited, ui};
use serde_json::{Value, json};

fn url() -> String {
    std::env::var("COMFYUI_E2E_URL").expect(
        "COMFYUI_E2E_URL is not set: run these tests through scripts/test.sh, which starts a real ComfyUI",
    )
}

fn client() -> Comfy {
    let backend = LocalComfyUi::builder(&url()).request_timeout(Duration::from_secs(60)).build().unwrap();
    Comfy::builder(Arc::new(backend)).store(Arc::new(MemoryStore::default())).build().unwrap()
}

/// A model-free editor workflow: EmptyImage ("Canvas") → ImageInvert → SaveImage.
fn ui_invert() -> Value {
    json!({
        "last_node_id": 3, "last_link_id": 2,
        "nodes": [
            {"id": 1, "type": "EmptyImage", "mode": 0, "title": "Canvas", "inputs": [],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}], "widgets_values": [32, 16, 1, 0]},
            {"id": 2, "type": "ImageInvert", "mode": 0, "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}]},
            {"id": 3, "type": "SaveImage", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 2}],
             "outputs": [], "widgets_values": ["e2e/saved"]}
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
        "groups": [], "config": {}, "extra": {}, "version": 0.4
    })
}

async fn run(comfy: &Comfy, workflow: comfy_core::Workflow) -> comfy_core::JobResult {
    let job = comfy.submit(comfy_core::backend::JobRequest::new(workflow)).await.unwrap();
    match job.wait(Duration::from_secs(300)).await.unwrap() {
        Waited::Finished(r) => r,
        Waited::StillRunning(j) => panic!("job {} still running after 300 s", j.id()),
    }
}

#[tokio::test]
async fn saved_workflow_save_list_summarise_and_run_with_an_override() {
    let comfy = client();
    let name = format!("comfy-rs-e2e/{}", uuid_like());
    let info = comfy.save_workflow(&name, &ui_invert(), false).await.unwrap();
    assert_eq!(info.name, format!("{name}.json"));

    let listed = comfy.backend().list_saved_workflows().await.unwrap();
    assert!(listed.iter().any(|i| i.name == info.name && i.size.unwrap_or(0) > 0), "{listed:?}");
    // The server kept the document verbatim.
    assert_eq!(comfy.backend().get_saved_workflow(&name).await.unwrap(), ui_invert());

    // overwrite=false → 409 → already_exists.
    let e = comfy.save_workflow(&name, &ui_invert(), false).await.unwrap_err();
    assert_eq!(e.code(), "already_exists", "{e}");

    let converted = comfy.saved_workflow(&name).await.unwrap();
    let catalog = comfy.backend().catalog(false).await.unwrap();
    let summary = summarize(&converted.workflow, &catalog);
    let width = summary.inputs.iter().find(|i| i.key == "Canvas.width").expect("Canvas.width is editable");
    assert_eq!((width.type_name.as_str(), width.value.clone()), ("INT", json!(32)));

    let mut workflow = converted.workflow;
    let w = json!(48);
    apply_overrides(&mut workflow, [("Canvas.width", &w)], &catalog).unwrap();
    let result = run(&comfy, workflow).await;
    assert_eq!(result.status, JobStatus::Succeeded, "{:?}", result.status);
    assert_eq!(result.assets.len(), 1);
    let fetched = comfy.fetch_asset(&result.assets[0]).await.unwrap();
    let img = image::load_from_memory(&fetched.data).unwrap();
    assert_eq!((img.width(), img.height()), (48, 16), "the override reached ComfyUI");

    // Move, then delete; the old name is gone with a suggestion of the new one.
    let moved = comfy.backend().move_saved_workflow(&name, &format!("{name}-moved"), false).await.unwrap();
    assert_eq!(moved.name, format!("{name}-moved.json"));
    let e = comfy.backend().get_saved_workflow(&name).await.unwrap_err();
    assert_eq!(e.code(), "saved_workflow_not_found", "{e}");
    comfy.backend().delete_saved_workflow(&moved.name).await.unwrap();
    assert_eq!(
        comfy.backend().delete_saved_workflow(&moved.name).await.unwrap_err().code(),
        "saved_workflow_not_found"
    );
    assert_eq!(
        comfy.backend().get_saved_workflow("../comfy.settings").await.unwrap_err().code(),
        "invalid_argument"
    );
}

#[tokio::test]
async fn official_templates_from_the_server_convert_and_run() {
    let comfy = client();
    let index = comfy.template_index().await.unwrap();
    assert!(index.entries.len() > 50, "{} templates", index.entries.len());
    let hits = index.search(&TemplateQuery {
        text: Some("text to image"),
        media_type: Some("image"),
        ..Default::default()
    });
    assert!(!hits.is_empty());
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));

    // Every local (non-API) template converts, or fails with a clear code (a template may need
    // custom nodes or a newer ComfyUI than the one under test).
    let local: Vec<_> = index.entries.iter().filter(|e| !e.api).collect();
    let mut converted = 0;
    for entry in &local {
        match comfy.official_template(&entry.name).await {
            Ok(_) => converted += 1,
            Err(e) => assert!(
                matches!(e.code(), "unknown_node_classes" | "invalid_ui_workflow" | "template_not_found"),
                "{}: {e}",
                entry.name
            ),
        }
    }
    eprintln!("{converted} of {} local templates converted against the live catalogue", local.len());
    assert!(converted * 2 >= local.len(), "only {converted} of {} templates converted", local.len());

    // The SD1.5 "default" template runs with the test checkpoint and small overrides.
    let mut workflow = comfy.official_template("default").await.unwrap().workflow;
    let catalog = comfy.backend().catalog(false).await.unwrap();
    let summary = summarize(&workflow, &catalog);
    let key = |input: &str, class: &str| {
        let node = summary.nodes.iter().find(|n| n.class_type == class).unwrap();
        summary
            .inputs
            .iter()
            .find(|i| i.node_id == node.id && i.key.ends_with(&format!(".{input}")))
            .unwrap()
            .key
            .clone()
    };
    let overrides = [
        (key("ckpt_name", "CheckpointLoaderSimple"), json!("tiny_sd15.safetensors")),
        (key("width", "EmptyLatentImage"), json!(64)),
        (key("height", "EmptyLatentImage"), json!(64)),
        (key("steps", "KSampler"), json!(1)),
    ];
    apply_overrides(&mut workflow, overrides.iter().map(|(k, v)| (k.as_str(), v)), &catalog).unwrap();
    let result = run(&comfy, workflow).await;
    assert_eq!(result.status, JobStatus::Succeeded, "{:?}", result.status);
    assert!(!result.assets.is_empty());
    assert!(ui::is_ui(&comfy.backend().template_workflow("default").await.unwrap()));
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("saved-{nanos:x}")
}
