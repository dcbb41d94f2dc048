//! Editor workflows everywhere: saved workflows, official templates, UI format in
//! submit/validate and in the workflows directory, through an in-process MCP client.

mod common;

use common::*;
use serde_json::{Value, json};

/// EmptyImage → ImageInvert ("Invert") → SaveImage, in the editor's format.
fn ui_invert(width: Value) -> Value {
    json!({
        "last_node_id": 3, "last_link_id": 2,
        "nodes": [
            {"id": 1, "type": "EmptyImage", "mode": 0, "title": "Canvas", "inputs": [],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}], "widgets_values": [width, 16, 1, 0]},
            {"id": 2, "type": "ImageInvert", "mode": 0, "title": "Invert",
             "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}]},
            {"id": 3, "type": "SaveImage", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 2}],
             "outputs": [], "widgets_values": ["saved_ui"]}
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]],
        "version": 0.4
    })
}

fn last_prompt(h: &Harness) -> Value {
    h.fake.received_prompts().last().cloned().expect("a prompt reached ComfyUI")
}

#[tokio::test]
async fn save_list_summarise_and_run_with_overrides() {
    let h = start().await;
    assert_eq!(h.ok("list_saved_workflows", json!({})).await["workflows"], json!([]));
    let saved = h.ok("save_workflow", json!({"name": "invert", "workflow": ui_invert(json!(32))})).await;
    assert_eq!(saved["name"], "invert.json");
    // API format is stored in the editor's format.
    h.ok("save_workflow", json!({"name": "team/api", "workflow": image_workflow("api")})).await;
    let stored: Value =
        serde_json::from_slice(&h.fake.userdata_file("workflows/team/api.json").unwrap()).unwrap();
    assert!(stored["nodes"].is_array(), "{stored}");

    let list = h.ok("list_saved_workflows", json!({})).await;
    let names: Vec<&str> =
        list["workflows"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["invert.json", "team/api.json"]);

    let summary = h.ok("get_saved_workflow", json!({"name": "invert"})).await;
    let nodes = summary["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[1]["title"], "Invert");
    assert_eq!(nodes[1]["class_type"], "ImageInvert");
    let width = summary["inputs"].as_array().unwrap().iter().find(|i| i["key"] == "Canvas.width").unwrap();
    assert_eq!((width["type"].clone(), width["value"].clone()), (json!("INT"), json!(32)));

    let job = h
        .ok(
            "run_saved_workflow",
            json!({"name": "invert.json", "overrides": {"Canvas.width": 48, "3.filename_prefix": "ran"}}),
        )
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let prompt = last_prompt(&h);
    assert_eq!(prompt["prompt"]["1"]["inputs"]["width"], 48);
    assert_eq!(prompt["prompt"]["3"]["inputs"]["filename_prefix"], "ran");
    assert_eq!(prompt["prompt"]["2"]["inputs"]["image"], json!(["1", 0]));
}

#[tokio::test]
async fn saved_workflow_errors_name_the_field() {
    let h = start().await;
    h.ok("save_workflow", json!({"name": "invert", "workflow": ui_invert(json!(32))})).await;
    let e = h.err("save_workflow", json!({"name": "invert", "workflow": ui_invert(json!(8))})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("already_exists"), Some("name")), "{e}");
    h.ok("save_workflow", json!({"name": "invert", "workflow": ui_invert(json!(8)), "overwrite": true}))
        .await;

    for bad in ["../comfy.settings", "/etc/passwd", "a\\b"] {
        let e = h.err("get_saved_workflow", json!({"name": bad})).await;
        assert_eq!(
            (e["code"].as_str(), e["field"].as_str()),
            (Some("invalid_argument"), Some("name")),
            "{e}"
        );
    }
    let e = h.err("get_saved_workflow", json!({"name": "invrt"})).await;
    assert_eq!(e["code"], "saved_workflow_not_found");
    assert!(e["expected"].as_str().unwrap().contains("invert.json"), "{e}");

    h.fake.put_userdata_file("workflows/cut.json", &ui_invert(json!(8)).to_string().as_bytes()[..60]);
    let e = h.err("run_saved_workflow", json!({"name": "cut"})).await;
    assert_eq!(e["code"], "invalid_json", "{e}");
    assert!(e["message"].as_str().unwrap().contains("cut.json"), "{e}");

    let mut unknown = ui_invert(json!(8));
    unknown["nodes"][1]["type"] = json!("FancyInvert");
    unknown["nodes"][2]["type"] = json!("FancySave");
    h.fake.put_userdata_file("workflows/custom.json", unknown.to_string().as_bytes());
    let e = h.err("get_saved_workflow", json!({"name": "custom"})).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("unknown_node_classes"), Some("name")),
        "{e}"
    );
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("FancyInvert") && m.contains("FancySave"), "{m}");
}

#[tokio::test]
async fn overrides_are_checked_before_anything_runs() {
    let h = start().await;
    let mut twice = ui_invert(json!(32));
    twice["nodes"][0]["title"] = json!("Invert");
    h.ok("save_workflow", json!({"name": "twice", "workflow": twice})).await;
    let before = h.fake.received_prompts().len();

    let e = h.err("run_saved_workflow", json!({"name": "twice", "overrides": {"Invert.width": 8}})).await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_override"), Some("overrides.Invert.width"))
    );
    assert!(e["message"].as_str().unwrap().contains("\"1\", \"2\""), "{e}");

    let e = h.err("run_saved_workflow", json!({"name": "twice", "overrides": {"1.widht": 8}})).await;
    assert_eq!(e["expected"], "one of: width", "{e}");
    let e = h.err("run_saved_workflow", json!({"name": "twice", "overrides": {"Nope.width": 8}})).await;
    assert!(e["message"].as_str().unwrap().contains("Nope"), "{e}");
    let e = h.err("run_saved_workflow", json!({"name": "twice", "overrides": {"1.width": "wide"}})).await;
    assert_eq!(e["field"], "overrides.1.width", "{e}");
    let e = h.err("run_saved_workflow", json!({"name": "twice", "overrides": {"1.width": 0}})).await;
    assert!(e["message"].as_str().unwrap().contains("min"), "{e}");
    assert_eq!(h.fake.received_prompts().len(), before, "nothing was submitted");
}

#[tokio::test]
async fn submit_and_validate_take_editor_workflows() {
    let h = start().await;
    let job = h.ok("submit_workflow", json!({"workflow": ui_invert(json!(24)), "wait": true})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let prompt = last_prompt(&h);
    assert_eq!(prompt["prompt"]["1"]["inputs"]["width"], 24);
    assert_eq!(prompt["prompt"]["2"]["_meta"]["title"], "Invert");

    // As JSON text too.
    let text = ui_invert(json!(20)).to_string();
    let report = h.ok("validate_workflow", json!({"workflow": text})).await;
    assert_eq!(report["valid"], true, "{report}");
    let report = h.ok("validate_workflow", json!({"workflow": ui_invert(json!(0))})).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"][0]["node_id"], "1");
    assert_eq!(report["problems"][0]["input"], "width");

    let e = h.err("validate_workflow", json!({"workflow": &text[..text.len() - 10]})).await;
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("invalid_json"), Some("workflow")), "{e}");
    let mut unknown = ui_invert(json!(8));
    unknown["nodes"][0]["type"] = json!("A");
    unknown["nodes"][1]["type"] = json!("B");
    let e = h.err("submit_workflow", json!({"workflow": unknown})).await;
    assert_eq!(e["code"], "unknown_node_classes");
    assert!(e["message"].as_str().unwrap().contains("2 node classes"), "{e}");
}

#[tokio::test]
async fn official_templates_search_get_and_run() {
    let h = start().await;
    let found = h.ok("search_templates", json!({"query": "sdxl"})).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["templates"][0]["name"], "image_sdxl_simple");
    let all = h.ok("search_templates", json!({"tag": "Text to Image", "media_type": "image"})).await;
    assert_eq!(all["total"], 2);
    assert_eq!(
        h.ok("search_templates", json!({"model": "stability"})).await["templates"][0]["name"],
        "sd3.5_simple_example"
    );

    let t = h.ok("get_template", json!({"name": "image_sdxl_simple"})).await;
    assert!(t["description"].as_str().unwrap().contains("SDXL"), "{t}");
    assert_eq!(t["models"], json!(["SDXL"]));
    let keys: Vec<&str> =
        t["inputs"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap()).collect();
    for k in ["Positive Prompt.text", "Empty Latent.width", "KSampler.steps", "Load Checkpoint.ckpt_name"] {
        assert!(keys.contains(&k), "{k} not in {keys:?}");
    }

    let job = h
        .ok(
            "run_saved_workflow",
            json!({"name": "image_sdxl_simple", "template": true, "overrides": {
                "Load Checkpoint.ckpt_name": CKPT, "Empty Latent.width": 64, "Empty Latent.height": 64, "KSampler.steps": 2,
                "Positive Prompt.text": "a fox"}}),
        )
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let prompt = last_prompt(&h);
    assert_eq!(prompt["prompt"]["10"]["inputs"]["text"], "a fox");
    assert_eq!(prompt["prompt"]["12"]["inputs"]["steps"], 2);

    let e = h.err("get_template", json!({"name": "image_sdxl_simpel"})).await;
    assert_eq!(e["code"], "template_not_found");
    assert!(e["expected"].as_str().unwrap().contains("image_sdxl_simple"), "{e}");
}

#[tokio::test]
async fn templates_need_the_package_on_the_server() {
    let fake = comfy_fake::FakeComfyUi::builder().official_templates(false).start().await.unwrap();
    let state = state_for(&fake.url(), |_| {});
    let (client, recorder) = connect(state.clone()).await;
    let h = Harness { fake, state, client, recorder };
    let e = h.err("search_templates", json!({"query": "flux"})).await;
    assert_eq!(e["code"], "not_supported");
    assert!(e["message"].as_str().unwrap().contains("comfyui-workflow-templates"), "{e}");
}

#[tokio::test]
async fn editor_files_in_the_workflows_directory_become_templates() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = ui_invert(json!("PARAM_INT_WIDTH"));
    doc["nodes"][2]["widgets_values"] = json!(["{{prefix}}"]);
    std::fs::write(dir.path().join("ui_flow.json"), doc.to_string()).unwrap();
    let mut bad = ui_invert(json!(8));
    bad["nodes"][1]["type"] = json!("MissingInvert");
    std::fs::write(dir.path().join("ui_broken.json"), bad.to_string()).unwrap();
    let path = dir.path().to_path_buf();
    let h = start_with(move |s| s.workflows_dir = Some(path)).await;

    let list = h.ok("list_workflows", json!({})).await;
    let flow =
        list["workflows"].as_array().unwrap().iter().find(|w| w["name"] == "ui_flow").expect("converted");
    let params: Vec<&str> =
        flow["params"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(params, ["width", "prefix"]);
    let problems = list["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p.as_str().unwrap().contains("ui_broken.json")
            && p.as_str().unwrap().contains("MissingInvert")),
        "{problems:?}"
    );

    let job =
        h.ok("run_workflow", json!({"name": "ui_flow", "params": {"width": 40, "prefix": "tpl"}})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let prompt = last_prompt(&h);
    assert_eq!(prompt["prompt"]["1"]["inputs"]["width"], 40);
    assert_eq!(prompt["prompt"]["3"]["inputs"]["filename_prefix"], "tpl");
}
