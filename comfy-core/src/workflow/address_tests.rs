//! Overrides by `"<title or id>.<input>"` and workflow summaries.

use serde_json::{Value, json};

use super::*;
use crate::Catalog;
use crate::workflow::{Workflow, summarize};

fn catalog() -> Catalog {
    Catalog::from_value(&json!({
        "EmptyImage": {"input": {"required": {
            "width": ["INT", {"default": 512, "min": 1, "max": 16384}],
            "height": ["INT", {"default": 512, "min": 1, "max": 16384}],
            "color": ["INT", {"default": 0, "min": 0, "max": 16777215}]}},
            "output": ["IMAGE"], "output_node": false},
        "Sampler": {"input": {"required": {"image": ["IMAGE"], "mode": [["fast", "slow"], {}]}},
                    "output": ["IMAGE"], "output_node": false},
        "SaveImage": {"input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {}]}},
                      "output": [], "output_node": true}
    }))
    .unwrap()
}

fn workflow() -> Workflow {
    Workflow::from_value(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "color": 0}, "_meta": {"title": "Canvas"}},
        "2": {"class_type": "Sampler", "inputs": {"image": ["1", 0], "mode": "fast"}, "_meta": {"title": "Pass"}},
        "3": {"class_type": "Sampler", "inputs": {"image": ["2", 0], "mode": "fast"}, "_meta": {"title": "Pass"}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}}
    }))
    .unwrap()
}

fn apply(overrides: Value) -> Result<Workflow> {
    let mut wf = workflow();
    let map = overrides.as_object().unwrap().clone();
    apply_overrides(&mut wf, map.iter().map(|(k, v)| (k.as_str(), v)), &catalog())?;
    Ok(wf)
}

fn override_error(overrides: Value) -> (String, Vec<String>, String) {
    match apply(overrides).unwrap_err() {
        Error::InvalidOverride { target, suggestions, message } => (target, suggestions, message),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn overrides_address_nodes_by_title_or_id() {
    let wf = apply(json!({"Canvas.width": 128, "3.mode": "slow", "4.filename_prefix": "out"})).unwrap();
    assert_eq!(wf.node("1").unwrap().inputs["width"].to_json(), json!(128));
    assert_eq!(wf.node("3").unwrap().inputs["mode"].to_json(), json!("slow"));
    assert_eq!(wf.node("2").unwrap().inputs["mode"].to_json(), json!("fast"));
    assert_eq!(wf.node("4").unwrap().inputs["filename_prefix"].to_json(), json!("out"));
}

#[test]
fn bad_overrides_name_the_key_and_what_would_work() {
    let (target, suggestions, message) = override_error(json!({"Pass.mode": "slow"}));
    assert_eq!(target, "Pass.mode");
    assert_eq!(suggestions, ["2", "3"]);
    assert!(message.contains("2 nodes"), "{message}");

    let (_, suggestions, message) = override_error(json!({"Canvass.width": 1}));
    assert!(message.contains("Canvass"), "{message}");
    assert_eq!(suggestions.first().map(String::as_str), Some("Canvas"));

    let (_, suggestions, message) = override_error(json!({"Canvas.widht": 1}));
    assert!(message.contains("no input \"widht\""), "{message}");
    assert_eq!(suggestions, ["width"]);

    let (_, _, message) = override_error(json!({"Canvas.width": 0}));
    assert!(message.contains("min"), "{message}");
    let (_, suggestions, _) = override_error(json!({"2.mode": "slo"}));
    assert!(suggestions.contains(&"slow".to_string()), "{suggestions:?}");
    let (_, _, message) = override_error(json!({"2.image": 3}));
    assert!(message.contains("connection"), "{message}");
    let (_, _, message) = override_error(json!({"width": 3}));
    assert!(message.contains("<node title or id>.<input name>"), "{message}");

    // Nothing is applied when one override is refused.
    let mut wf = workflow();
    let good = json!(5);
    let bad = json!(-1);
    let result = apply_overrides(&mut wf, [("Canvas.width", &good), ("Canvas.height", &bad)], &catalog());
    assert!(result.is_err());
    assert_eq!(wf, workflow());
}

#[test]
fn titles_with_dots_are_addressed_by_the_last_dot() {
    let a = InputAddress::parse("SD 1.5 loader.ckpt").unwrap();
    assert_eq!((a.node.as_str(), a.input.as_str()), ("SD 1.5 loader", "ckpt"));
    assert!(InputAddress::parse("x.").is_err());
    assert!(InputAddress::parse(".x").is_err());
}

#[test]
fn summaries_list_nodes_and_editable_inputs_by_usable_keys() {
    let s = summarize(&workflow(), &catalog());
    assert_eq!(s.nodes.len(), 4);
    assert!(s.nodes[3].output);
    assert_eq!(s.nodes[0].title.as_deref(), Some("Canvas"));
    let keys: Vec<&str> = s.inputs.iter().map(|i| i.key.as_str()).collect();
    // Shared titles fall back to ids; linked inputs are not editable.
    assert_eq!(
        keys,
        ["Canvas.width", "Canvas.height", "Canvas.color", "2.mode", "3.mode", "4.filename_prefix"]
    );
    let width = &s.inputs[0];
    assert_eq!((width.type_name.as_str(), width.value.clone(), width.max), ("INT", json!(64), Some(16384.0)));
    assert_eq!(s.inputs[3].choices, [json!("fast"), json!("slow")]);
    // Every key the summary gives is accepted back as an override.
    let mut wf = workflow();
    for input in &s.inputs {
        apply_overrides(&mut wf, [(input.key.as_str(), &input.value)], &catalog()).unwrap();
    }
    assert_eq!(wf, workflow());
}
