//! Golden pairs from the official editor, round trips and bad input.

use std::collections::HashSet;
use std::sync::OnceLock;

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::*;
use crate::validate::validate;
use crate::workflow::Input;

fn fixtures() -> String {
    format!("{}/../../shared/fixtures/comfyui", env!("CARGO_MANIFEST_DIR"))
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let text = std::fs::read_to_string(format!("{}/http/object_info_full.json", fixtures())).unwrap();
        Catalog::from_json_str(&text).unwrap()
    })
}

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    crate::json::parse_strict(&text, path).unwrap()
}

const CASES: &[&str] = &[
    "basic_image",
    "primitive_reroute_note",
    "mute_and_bypass",
    "widgets_control_upload_dynamic",
    "subgraph",
    "default_graph",
];

fn golden(case: &str) -> (Value, Value) {
    let dir = format!("{}/ui_to_api", fixtures());
    (read_json(&format!("{dir}/{case}.workflow.json")), read_json(&format!("{dir}/{case}.prompt.json")))
}

fn options(seed: u64) -> UiOptions {
    UiOptions { seed: Some(seed), now_unix: Some(1_700_000_000), ..UiOptions::default() }
}

fn id(s: &str) -> NodeId {
    NodeId(s.to_owned())
}

/// What the editor randomises in each golden case, and why.
fn expected_randomized(case: &str) -> Vec<(NodeId, String)> {
    match case {
        // PrimitiveInt [7, "randomize"], KSampler [123456, "randomize", ...] (control after
        // generate: the editor sends the saved value, then changes it), and the dynamic prompt
        // "a {cat|cat} ..." of the CLIPTextEncode.
        "widgets_control_upload_dynamic" => {
            vec![(id("1"), "value".into()), (id("8"), "seed".into()), (id("9"), "text".into())]
        }
        // The default graph's KSampler seed is "randomize".
        "default_graph" => vec![(id("3"), "seed".into())],
        _ => Vec::new(),
    }
}

#[test]
fn golden_pairs_match_the_official_editor() {
    for case in CASES {
        let (ui, prompt) = golden(case);
        let converted = to_api_with(&ui, catalog(), &options(7)).unwrap_or_else(|e| panic!("{case}: {e}"));
        let mut ours = converted.workflow.to_value();
        let mut theirs = prompt.clone();
        let mut randomized = converted.randomized.clone();
        randomized.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
        assert_eq!(randomized, expected_randomized(case), "{case}: randomized inputs");

        for (node, input) in &converted.randomized {
            let path = (node.as_str(), input.as_str());
            let node_def = ui_node_class(&ui, node.as_str());
            let is_text = catalog()
                .node(&node_def)
                .and_then(|d| d.input(input))
                .is_some_and(|i| i.options.dynamic_prompts);
            if is_text {
                // A dynamic prompt: the editor's value must be one of the choices we can make,
                // and so must ours. Collect our possible values over many seeds.
                let possible: HashSet<String> = (0..64)
                    .map(|seed| {
                        let c = to_api_with(&ui, catalog(), &options(seed)).unwrap();
                        c.workflow.node(path.0).unwrap().inputs[path.1].to_json().as_str().unwrap().to_owned()
                    })
                    .collect();
                let editor = theirs[path.0]["inputs"][path.1].as_str().unwrap().to_owned();
                let mine = ours[path.0]["inputs"][path.1].as_str().unwrap().to_owned();
                assert!(
                    possible.contains(&editor),
                    "{case} {path:?}: editor chose {editor:?}, we can make {possible:?}"
                );
                assert!(possible.contains(&mine));
                // Both are valid outcomes of the same random choice; compare the rest.
                ours[path.0]["inputs"][path.1] = Value::String(editor);
            } else {
                // control_after_generate: in its default "after" mode the editor sends the saved
                // value and changes the widget afterwards, so the values must be equal.
                assert_eq!(
                    ours[path.0]["inputs"][path.1], theirs[path.0]["inputs"][path.1],
                    "{case} {path:?}"
                );
            }
        }
        assert_eq!(ours, theirs, "{case}: prompt differs\nours:   {ours}\ntheirs: {theirs}");
        // Same key order too (nodes, inputs, fields), so the JSON text is the same.
        theirs = prompt;
        if expected_randomized(case).iter().all(|(n, i)| !is_dynamic(&ui, n.as_str(), i)) {
            assert_eq!(
                converted.workflow.to_json_string(),
                serde_json::to_string(&theirs).unwrap(),
                "{case}: text"
            );
        }
    }
}

fn is_dynamic(ui: &Value, node: &str, input: &str) -> bool {
    catalog()
        .node(&ui_node_class(ui, node))
        .and_then(|d| d.input(input))
        .is_some_and(|i| i.options.dynamic_prompts)
}

fn ui_node_class(ui: &Value, node: &str) -> String {
    ui["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| model::id_string(&n["id"]).as_deref() == Some(node))
        .and_then(|n| n["type"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The workflow with node ids replaced by the editor ids `to_ui_with_ids` gave them.
fn relabel(workflow: &Workflow, ids: &IndexMap<NodeId, u64>) -> Value {
    let mut out = serde_json::Map::new();
    for (node_id, node) in workflow.nodes() {
        let mut node = node.clone();
        for input in node.inputs.values_mut() {
            if let Input::Link(l) = input {
                l.node = NodeId(ids[&l.node].to_string());
            }
        }
        out.insert(ids[node_id].to_string(), serde_json::to_value(&node).unwrap());
    }
    Value::Object(out)
}

/// UI → API → UI → API gives the same prompt (node ids mapped).
fn assert_stable(label: &str, a1: &Workflow) {
    let (u2, ids) = to_ui_with_ids(a1, catalog()).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(u2["version"], json!(0.4));
    let a2 = to_api_with(&u2, catalog(), &options(1)).unwrap_or_else(|e| panic!("{label}: {e}\n{u2}"));
    assert!(a2.warnings.is_empty(), "{label}: {:?}", a2.warnings);
    assert_eq!(a2.workflow.to_value(), relabel(a1, &ids), "{label}\nui: {u2}");
}

#[test]
fn golden_pairs_survive_a_round_trip_through_the_editor_format() {
    for case in CASES {
        let (ui, _) = golden(case);
        let a1 = to_api_with(&ui, catalog(), &options(3)).unwrap().workflow;
        assert_stable(case, &a1);
    }
}

#[test]
fn api_prompts_survive_a_round_trip_through_the_editor_format() {
    let dir = format!("{}/prompts", fixtures());
    let mut tried = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let request = read_json(path.to_str().unwrap());
        let Some(prompt) = request.get("prompt").cloned() else { continue };
        let Ok(p) = Workflow::from_value(prompt) else { continue };
        if !validate(&p, catalog()).is_ok() {
            continue;
        }
        tried += 1;
        let label = path.file_name().unwrap().to_string_lossy().into_owned();
        let (u1, ids) = to_ui_with_ids(&p, catalog()).unwrap_or_else(|e| panic!("{label}: {e}"));
        let a1 = to_api_with(&u1, catalog(), &options(1)).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(a1.warnings.is_empty(), "{label}: {:?}", a1.warnings);
        // Every input of the original is kept (the editor adds the widget inputs it left out).
        let relabelled = relabel(&p, &ids);
        for (node, original) in relabelled.as_object().unwrap() {
            let converted = a1.workflow.node(node).unwrap_or_else(|| panic!("{label}: node {node} lost"));
            assert_eq!(converted.class_type, original["class_type"], "{label} {node}");
            for (name, value) in original["inputs"].as_object().unwrap() {
                assert_eq!(
                    &converted.inputs[name.as_str()].to_json(),
                    value,
                    "{label} node {node} input {name}"
                );
            }
        }
        assert_stable(&label, &a1.workflow);
    }
    assert!(tried >= 5, "only {tried} fixture prompts validate");
}
