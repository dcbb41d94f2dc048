//! Saved workflows (user data) and the official templates through the local backend and the
//! `Comfy` client, against the fake ComfyUI.

use std::sync::Arc;
use std::time::Duration;

use comfy_core::backend::Backend;
use comfy_core::backend::local::LocalComfyUi;
use comfy_core::gallery::TemplateQuery;
use comfy_core::store::MemoryStore;
use comfy_core::{Comfy, Workflow, ui};
use comfy_fake::FakeComfyUi;
use serde_json::{Value, json};

fn backend(url: &str) -> LocalComfyUi {
    LocalComfyUi::builder(url)
        .websocket(false)
        .retry_backoff(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn client(url: &str) -> Comfy {
    Comfy::builder(Arc::new(backend(url))).store(Arc::new(MemoryStore::default())).build().unwrap()
}

fn invert_api() -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}, "_meta": {"title": "Invert"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}}
    })
}

#[tokio::test]
async fn saved_workflows_round_trip_through_user_data() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let b = backend(&fake.url());
    // Nothing saved yet: the folder does not exist (404) and the list is empty.
    assert!(b.list_saved_workflows().await.unwrap().is_empty());

    let doc = json!({"nodes": [], "links": [], "version": 0.4});
    let info = b.save_workflow("first", &doc, false).await.unwrap();
    assert_eq!(info.name, "first.json");
    assert!(info.size.unwrap() > 0);
    assert!(fake.userdata_file("workflows/first.json").is_some());
    b.save_workflow("team/second.json", &doc, false).await.unwrap();

    let names: Vec<String> = b.list_saved_workflows().await.unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, ["first.json", "team/second.json"]);
    assert_eq!(b.get_saved_workflow("team/second").await.unwrap(), doc);

    // overwrite=false on an existing name is 409 → already_exists.
    let e = b.save_workflow("first.json", &doc, false).await.unwrap_err();
    assert_eq!(e.code(), "already_exists", "{e}");
    assert!(e.to_string().contains("first.json"), "{e}");
    b.save_workflow("first.json", &json!({"nodes": [], "links": [], "version": 0.4, "x": 1}), true)
        .await
        .unwrap();
    assert_eq!(b.get_saved_workflow("first").await.unwrap()["x"], 1);

    // Move, with a conflict first.
    let e = b.move_saved_workflow("first", "team/second", false).await.unwrap_err();
    assert_eq!(e.code(), "already_exists");
    let moved = b.move_saved_workflow("first", "renamed", false).await.unwrap();
    assert_eq!(moved.name, "renamed.json");

    // Unknown names get suggestions; names leaving the folder never reach the server.
    let e = b.get_saved_workflow("renamd").await.unwrap_err();
    assert_eq!(e.code(), "saved_workflow_not_found");
    assert!(e.to_string().contains("renamed.json"), "{e}");
    for bad in ["../comfy.settings", "/etc/passwd", "a/../../b"] {
        let e = b.get_saved_workflow(bad).await.unwrap_err();
        assert_eq!(e.code(), "invalid_argument", "{bad}: {e}");
    }
    b.delete_saved_workflow("renamed").await.unwrap();
    assert_eq!(b.delete_saved_workflow("renamed").await.unwrap_err().code(), "saved_workflow_not_found");
    assert!(fake.userdata_file("workflows/renamed.json").is_none());
}

#[tokio::test]
async fn truncated_saved_files_name_the_workflow() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    fake.put_userdata_file("workflows/broken.json", b"{\"nodes\": [");
    let e = backend(&fake.url()).get_saved_workflow("broken").await.unwrap_err();
    assert_eq!(e.code(), "invalid_json");
    assert!(e.to_string().contains("broken.json"), "{e}");
}

#[tokio::test]
async fn the_client_saves_api_workflows_in_editor_format_and_reads_them_back_as_api() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let comfy = client(&fake.url());
    comfy.save_workflow("invert", &invert_api(), false).await.unwrap();
    let stored: Value =
        serde_json::from_slice(&fake.userdata_file("workflows/invert.json").unwrap()).unwrap();
    assert!(ui::is_ui(&stored), "stored in the editor's format: {stored}");
    let back = comfy.saved_workflow("invert").await.unwrap();
    let original = Workflow::from_value(invert_api()).unwrap();
    assert_eq!(back.workflow.len(), 3);
    assert_eq!(back.workflow.node("2").unwrap().title(), Some("Invert"));
    assert_eq!(
        back.workflow.node("1").unwrap().inputs["width"].to_json(),
        original.node("1").unwrap().inputs["width"].to_json()
    );
    // workflow_from_value takes either format.
    assert_eq!(comfy.workflow_from_value(&stored).await.unwrap().workflow, back.workflow);
    assert_eq!(comfy.workflow_from_value(&invert_api()).await.unwrap().workflow, original);
}

#[tokio::test]
async fn official_templates_are_listed_searched_and_converted() {
    let fake = FakeComfyUi::builder().start().await.unwrap();
    let comfy = client(&fake.url());
    let index = comfy.template_index().await.unwrap();
    assert_eq!(index.entries.len(), 2);
    let hits = index.search(&TemplateQuery { text: Some("sdxl"), ..Default::default() });
    assert_eq!(hits[0].entry.name, "image_sdxl_simple");
    let converted = comfy.official_template("image_sdxl_simple").await.unwrap();
    assert_eq!(converted.workflow.nodes_by_class("KSampler").count(), 1);
    assert!(converted.workflow.nodes_by_class("MarkdownNote").next().is_none());

    // A template whose classes the server lacks: one error listing them all.
    let e = comfy.official_template("sd3.5_simple_example").await.unwrap_err();
    assert_eq!(e.code(), "unknown_node_classes");
    assert!(e.to_string().contains("EmptySD3LatentImage"), "{e}");
    // Unknown names get suggestions from the index.
    let e = comfy.official_template("image_sdxl_simpl").await.unwrap_err();
    assert_eq!(e.code(), "template_not_found");
    assert!(e.to_string().contains("image_sdxl_simple"), "{e}");
    assert_eq!(comfy.official_template("../index").await.unwrap_err().code(), "invalid_argument");
}

#[tokio::test]
async fn a_server_without_the_templates_package_says_so() {
    let fake = FakeComfyUi::builder().official_templates(false).start().await.unwrap();
    let e = backend(&fake.url()).template_index().await.unwrap_err();
    assert_eq!(e.code(), "not_supported");
    assert!(e.to_string().contains("comfyui-workflow-templates"), "{e}");
}
