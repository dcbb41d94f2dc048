//! End-to-end tests against a real ComfyUI (0.3.75 from PyPI, on CPU), started by
//! `scripts/test.sh`, which sets `COMFYUI_E2E_URL`. Built only with `--features e2e`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use comfy_core::template::{ParamDefaults, RenderRequest, TemplateLibrary};
use comfy_core::validate::{ProblemCode, ValidateOptions, validate_value};
use comfy_core::{Catalog, Workflow};
use serde_json::{Map, Value, json};

fn base_url() -> String {
    std::env::var("COMFYUI_E2E_URL").expect(
        "COMFYUI_E2E_URL is not set: run these tests through scripts/test.sh, which starts a real ComfyUI",
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

async fn get_json(path: &str) -> Value {
    let resp = client().get(format!("{}{path}", base_url())).send().await.unwrap();
    assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
    resp.json().await.unwrap()
}

async fn live_catalog() -> (Catalog, Value) {
    let raw = get_json("/api/object_info").await;
    (Catalog::from_value(&raw).unwrap(), raw)
}

/// POSTs a prompt; returns (HTTP status, body).
async fn post_prompt(prompt: &Value) -> (u16, Value) {
    let body = json!({"prompt": prompt, "client_id": "comfy-rs-e2e"});
    let resp = client().post(format!("{}/api/prompt", base_url())).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn wait_for_history(prompt_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let h = get_json(&format!("/api/history/{prompt_id}")).await;
        if let Some(entry) = h.get(prompt_id)
            && entry["status"]["completed"].as_bool().is_some()
            && entry["status"]["status_str"].is_string()
        {
            return entry.clone();
        }
        assert!(Instant::now() < deadline, "prompt {prompt_id} did not finish in 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn live_object_info_parses_without_loss() {
    let (catalog, raw) = live_catalog().await;
    assert_eq!(catalog.to_value(), raw);
    assert!(catalog.len() > 400, "only {} classes", catalog.len());
    for class in ["KSampler", "SaveImage", "LoadImage", "EmptyImage", "SaveWEBM", "CheckpointLoaderSimple"] {
        assert!(catalog.node(class).is_some(), "{class} missing");
    }
    // The checkpoint built at test time is offered by the live catalogue.
    let ckpt = catalog.node("CheckpointLoaderSimple").unwrap().input("ckpt_name").unwrap();
    match &ckpt.kind {
        comfy_core::catalog::InputKind::Combo { options, .. } => {
            assert!(options.contains(&json!("tiny_sd15.safetensors")), "{options:?}")
        }
        other => panic!("ckpt_name is {other:?}"),
    }
}

fn base() -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "e2e/validate"}}
    })
}

fn with(mutate: impl FnOnce(&mut Value)) -> Value {
    let mut v = base();
    mutate(&mut v);
    v
}

#[tokio::test]
async fn validator_agrees_with_live_comfyui() {
    let (catalog, _) = live_catalog().await;
    let cases: Vec<(&str, Value)> = vec![
        ("valid", base()),
        ("string number is coerced", with(|v| v["1"]["inputs"]["width"] = json!("64"))),
        ("unknown class", with(|v| v["2"]["class_type"] = json!("ImageInvertt"))),
        ("missing class_type", with(|v| v["2"].as_object_mut().unwrap().retain(|k, _| k != "class_type"))),
        (
            "missing required input",
            with(|v| v["1"]["inputs"].as_object_mut().unwrap().retain(|k, _| k != "width")),
        ),
        ("invalid int", with(|v| v["1"]["inputs"]["width"] = json!("sixty-four"))),
        ("below min", with(|v| v["1"]["inputs"]["width"] = json!(0))),
        ("above max", with(|v| v["1"]["inputs"]["height"] = json!(100000))),
        ("link to missing node", with(|v| v["2"]["inputs"]["image"] = json!(["99", 0]))),
        ("bad output index", with(|v| v["3"]["inputs"]["images"] = json!(["1", 5]))),
        ("three-element link", with(|v| v["2"]["inputs"]["image"] = json!(["1", 0, 0]))),
        ("no output node", with(|v| v.as_object_mut().unwrap().retain(|k, _| k != "3"))),
        (
            "combo not in list",
            with(|v| {
                v["4"] = json!({"class_type": "ImageScale", "inputs": {"image": ["2", 0], "upscale_method": "super-resolution", "width": 32, "height": 32, "crop": "disabled"}});
                v["3"]["inputs"]["images"] = json!(["4", 0]);
            }),
        ),
        (
            "type mismatch",
            with(|v| {
                v["5"] =
                    json!({"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 8, "height": 8}});
                v["2"]["inputs"]["image"] = json!(["5", 0]);
            }),
        ),
        (
            "one of two outputs invalid",
            with(|v| {
                v["8"] = json!({"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 99, "sigma": 1.0}});
                v["9"] = json!({"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}});
            }),
        ),
        (
            "cycle",
            json!({
                "1": {"class_type": "PrimitiveInt", "inputs": {"value": ["2", 0]}},
                "2": {"class_type": "PrimitiveInt", "inputs": {"value": ["1", 0]}},
                "3": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}
            }),
        ),
        (
            "missing input file",
            json!({
                "1": {"class_type": "LoadImage", "inputs": {"image": "does_not_exist.png"}},
                "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
            }),
        ),
    ];
    for (name, prompt) in cases {
        let report = validate_value(&prompt, &catalog, &ValidateOptions::default());
        let (status, body) = post_prompt(&prompt).await;
        match status {
            200 => {
                assert!(report.comfyui_would_queue(), "{name}: ComfyUI queued it, we would not: {report:#?}");
                let node_errors: BTreeSet<String> =
                    body["node_errors"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
                let ours: BTreeSet<String> =
                    report.errors().filter_map(|p| p.node_id.as_ref().map(|n| n.0.clone())).collect();
                assert_eq!(ours, node_errors, "{name}: {body}");
            }
            400 => {
                assert!(
                    !report.comfyui_would_queue(),
                    "{name}: ComfyUI rejected it ({body}), we would queue it"
                );
                let node_errors = body["node_errors"].as_object().cloned().unwrap_or_default();
                for (node, err) in &node_errors {
                    let inputs: Vec<Option<&str>> = err["errors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| match e["type"].as_str() {
                            Some("exception_during_inner_validation") => None,
                            _ => e["extra_info"]["input_name"].as_str(),
                        })
                        .collect();
                    for input in inputs {
                        assert!(
                            report.errors().any(|p| p.node_id.as_ref().is_some_and(|n| n.as_str() == node)
                                && (input.is_none() || p.input.as_deref() == input)),
                            "{name}: ComfyUI flags node {node} input {input:?}; we report {report:#?}"
                        );
                    }
                }
                if let Some(details) =
                    body["error"]["details"].as_str().and_then(|d| d.strip_prefix("Node ID '#"))
                {
                    let node = details.trim_end_matches('\'');
                    assert!(
                        report.errors().any(|p| p.node_id.as_ref().is_some_and(|n| n.as_str() == node)),
                        "{name}: {report:#?}"
                    );
                }
                if body["error"]["type"] == "prompt_no_outputs" {
                    assert!(report.errors().any(|p| p.code == ProblemCode::NoOutputNode), "{name}");
                }
            }
            other => panic!("{name}: unexpected HTTP {other}: {body}"),
        }
    }
}

#[tokio::test]
async fn builtin_templates_check_clean_and_generate_image_runs() {
    let (catalog, _) = live_catalog().await;
    let library = TemplateLibrary::builtin();
    for name in ["generate_image", "image_to_image", "inpaint", "upscale"] {
        let template = library.get(name).unwrap();
        let report = template.check(&catalog);
        assert!(report.is_ok(), "{name}: {report:#?}");
    }

    let template = library.get("generate_image").unwrap();
    let mut values = Map::new();
    values.insert("prompt".into(), json!("a lighthouse at dusk"));
    values.insert("ckpt_name".into(), json!("tiny_sd15.safetensors"));
    values.insert("width".into(), json!(64));
    values.insert("height".into(), json!(64));
    values.insert("steps".into(), json!(2));
    let defaults = ParamDefaults::default();
    let rendered = template.render(&RenderRequest { values, defaults: &defaults }).unwrap();
    let report = comfy_core::validate::validate(&rendered.workflow, &catalog);
    assert!(report.is_ok(), "{report:#?}");
    assert!(!rendered.random_seeds.is_empty(), "the seed was left unset and must be drawn");

    let (status, body) = post_prompt(&rendered.workflow.to_value()).await;
    assert_eq!(status, 200, "{body}");
    let prompt_id = body["prompt_id"].as_str().unwrap();
    let entry = wait_for_history(prompt_id).await;
    assert_eq!(entry["status"]["status_str"], "success", "{entry}");
    let images: usize = entry["outputs"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|o| o["images"].as_array())
        .map(Vec::len)
        .sum();
    assert!(images >= 1, "{entry}");
    // The graph ComfyUI stored is exactly the one we rendered.
    let stored = Workflow::from_value(entry["prompt"][2].clone()).unwrap();
    assert_eq!(stored.canonical_hash(), rendered.workflow.canonical_hash());
}
