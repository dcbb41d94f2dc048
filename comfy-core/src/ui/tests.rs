//! Golden pairs from the official editor, round trips and bad input.

use std::collections::HashSet;
use std::sync::OnceLock;

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::*;
use crate::Error;
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

fn convert(ui: &Value) -> crate::Result<UiConversion> {
    to_api_with(ui, catalog(), &options(5))
}

fn invalid_at(result: crate::Result<UiConversion>) -> (Option<String>, String) {
    match result {
        Err(Error::InvalidUiWorkflow { node_id, message }) => (node_id, message),
        other => panic!("expected InvalidUiWorkflow, got {other:?}"),
    }
}

/// A UI node for tests.
fn node(id: u64, class: &str, inputs: Value, outputs: Value, widgets: Value) -> Value {
    json!({"id": id, "type": class, "mode": 0, "inputs": inputs, "outputs": outputs, "properties": {}, "widgets_values": widgets})
}

fn image_out(links: Value) -> Value {
    json!([{"name": "IMAGE", "type": "IMAGE", "links": links}])
}

fn image_in(name: &str, link: Value) -> Value {
    json!([{"name": name, "type": "IMAGE", "link": link}])
}

#[test]
fn truncated_files_are_json_errors_with_a_position() {
    let text =
        std::fs::read_to_string(format!("{}/ui_to_api/default_graph.workflow.json", fixtures())).unwrap();
    match to_api_json(&text[..text.len() / 2], catalog()) {
        Err(Error::Json { line, column, .. }) => assert!(line > 1 && column > 0),
        other => panic!("{other:?}"),
    }
    for bad in [json!([]), json!("nodes"), json!({"links": []}), json!({"nodes": 5, "links": []})] {
        let (_, message) = invalid_at(convert(&bad));
        assert!(!message.is_empty());
    }
    let (node_id, message) = invalid_at(convert(&json!({"nodes": [{"id": 4, "mode": 0}], "links": []})));
    assert_eq!(node_id.as_deref(), Some("4"));
    assert!(message.contains("no \"type\""), "{message}");
    let api = json!({"1": {"class_type": "EmptyImage", "inputs": {}}});
    assert!(invalid_at(convert(&api)).1.contains("API-format"));
}

#[test]
fn links_to_missing_nodes_links_or_slots_name_the_node() {
    let (ui, _) = golden("basic_image");
    // Link 1 (EmptyImage 1 → ImageInvert 2) now comes from node 99.
    let mut bad = ui.clone();
    bad["links"][0][1] = json!(99);
    let (node_id, message) = invalid_at(convert(&bad));
    assert_eq!(node_id.as_deref(), Some("2"));
    assert!(message.contains("node 99") && message.contains("does not exist"), "{message}");
    // ImageInvert's input uses a link id that is not in `links`.
    let mut bad = ui.clone();
    bad["nodes"][1]["inputs"][0]["link"] = json!(77);
    let (node_id, message) = invalid_at(convert(&bad));
    assert_eq!(node_id.as_deref(), Some("2"));
    assert!(message.contains("link 77"), "{message}");
    // Link 1 from output 5 of EmptyImage, which has one output.
    let mut bad = ui.clone();
    bad["links"][0][2] = json!(5);
    let (node_id, message) = invalid_at(convert(&bad));
    assert_eq!(node_id.as_deref(), Some("1"));
    assert!(message.contains("output 5"), "{message}");
    // A malformed link entry.
    let mut bad = ui;
    bad["links"][1] = json!([2, "x"]);
    assert!(invalid_at(convert(&bad)).1.contains("links[1]"));
}

#[test]
fn widget_values_of_the_wrong_length_warn_or_fail_naming_the_node() {
    let (ui, _) = golden("basic_image");
    let mut short = ui.clone();
    short["nodes"][0]["widgets_values"] = json!([64]);
    let c = convert(&short).unwrap();
    assert_eq!(
        c.workflow.node("1").unwrap().inputs["height"].to_json(),
        json!(512),
        "default for the missing value"
    );
    assert!(
        c.warnings.iter().any(|w| w.starts_with("node \"1\"") && w.contains("has 1 values")),
        "{:?}",
        c.warnings
    );
    let mut long = ui.clone();
    long["nodes"][0]["widgets_values"] = json!([64, 48, 1, 0, "extra"]);
    let c = convert(&long).unwrap();
    assert_eq!(c.workflow.node("1").unwrap().inputs["color"].to_json(), json!(0));
    assert!(c.warnings.iter().any(|w| w.contains("extra values are ignored")), "{:?}", c.warnings);
    let strict = UiOptions { strict_widgets: true, ..options(1) };
    match to_api_with(&long, catalog(), &strict) {
        Err(Error::InvalidUiWorkflow { node_id, message }) => {
            assert_eq!(node_id.as_deref(), Some("1"));
            assert!(message.contains("EmptyImage"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // An object-shaped widgets_values is read by widget name.
    let mut named = ui;
    named["nodes"][0]["widgets_values"] = json!({"width": 10, "height": 20, "batch_size": 1, "color": 3});
    let c = convert(&named).unwrap();
    assert_eq!(c.workflow.node("1").unwrap().inputs["height"].to_json(), json!(20));
}

#[test]
fn unknown_classes_are_reported_together() {
    let (mut ui, _) = golden("default_graph");
    let nodes = ui["nodes"].as_array_mut().unwrap();
    nodes[0]["type"] = json!("FancyEncoder");
    nodes[1]["type"] = json!("FancyEncoder");
    nodes[3]["type"] = json!("TurboSampler");
    match convert(&ui) {
        Err(Error::UnknownNodeClasses { classes, nodes }) => {
            assert_eq!(classes, vec!["FancyEncoder".to_string(), "TurboSampler".to_string()]);
            assert_eq!(nodes.len(), 3);
            assert!(nodes.contains(&("3".to_string(), "TurboSampler".to_string())));
        }
        other => panic!("{other:?}"),
    }
}

fn subgraph_doc(instance_type: &str) -> Value {
    let (mut ui, _) = golden("subgraph");
    ui["nodes"][2]["type"] = json!(instance_type);
    ui
}

#[test]
fn unknown_and_self_nesting_subgraphs_are_errors() {
    let (node_id, message) = invalid_at(convert(&subgraph_doc("00000000-1111-2222-3333-444444444444")));
    assert_eq!(node_id.as_deref(), Some("5"));
    assert!(message.contains("definitions.subgraphs has no such subgraph"), "{message}");
    // The definition holds an instance of itself.
    let (mut ui, _) = golden("subgraph");
    let id = ui["definitions"]["subgraphs"][0]["id"].clone();
    ui["definitions"]["subgraphs"][0]["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": 9, "type": id, "mode": 0, "inputs": [], "outputs": []}));
    let (node_id, message) = invalid_at(convert(&ui));
    assert_eq!(node_id.as_deref(), Some("5:9"));
    assert!(message.contains("itself"), "{message}");
}

#[test]
fn cycles_through_reroutes_are_errors_naming_the_node() {
    let ui = json!({
        "nodes": [
            node(1, "Reroute", json!([{"name": "", "type": "*", "link": 2}]), json!([{"name": "", "type": "*", "links": [1, 3]}]), json!([])),
            node(2, "Reroute", json!([{"name": "", "type": "*", "link": 1}]), json!([{"name": "", "type": "*", "links": [2]}]), json!([])),
            node(3, "PreviewImage", image_in("images", json!(3)), json!([]), json!([])),
        ],
        "links": [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 1, 0, "*"], [3, 1, 0, 3, 0, "*"]],
        "version": 0.4
    });
    let (node_id, message) = invalid_at(convert(&ui));
    assert!(node_id.as_deref() == Some("1") || node_id.as_deref() == Some("2"), "{node_id:?}");
    assert!(message.contains("cycle"), "{message}");
}

/// EmptyImage → `n` ImageInvert nodes (every other one behind a Reroute) → SaveImage.
fn long_chain(n: u64) -> Value {
    let mut nodes = vec![node(1, "EmptyImage", json!([]), image_out(json!([1])), json!([8, 8, 1, 0]))];
    let mut links = Vec::new();
    let mut link = 1u64;
    for i in 0..n {
        let id = 2 + i;
        let class = if i % 2 == 0 { "ImageInvert" } else { "Reroute" };
        let (inputs, outputs) = if class == "Reroute" {
            (
                json!([{"name": "", "type": "*", "link": link}]),
                json!([{"name": "", "type": "*", "links": [link + 1]}]),
            )
        } else {
            (image_in("image", json!(link)), image_out(json!([link + 1])))
        };
        nodes.push(node(id, class, inputs, outputs, json!([])));
        links.push(json!([link, id - 1, 0, id, 0, "IMAGE"]));
        link += 1;
    }
    let last = 2 + n;
    nodes.push(node(last, "SaveImage", image_in("images", json!(link)), json!([]), json!(["chain"])));
    links.push(json!([link, last - 1, 0, last, 0, "IMAGE"]));
    json!({"nodes": nodes, "links": links, "version": 0.4})
}

#[test]
fn a_five_thousand_node_graph_converts_without_recursion() {
    let ui = long_chain(5_000);
    let started = std::time::Instant::now();
    let c = convert(&ui).unwrap();
    assert_eq!(c.workflow.len(), 2 + 2_500);
    // The SaveImage's input skips the last reroute.
    assert_eq!(c.workflow.node("5002").unwrap().inputs["images"].to_json(), json!(["5000", 0]));
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    let back = to_ui(&c.workflow, catalog()).unwrap();
    assert_eq!(to_api_with(&back, catalog(), &options(5)).unwrap().workflow, c.workflow);
    // A long chain of reroutes alone.
    let mut nodes = vec![node(1, "EmptyImage", json!([]), image_out(json!([1])), json!([8, 8, 1, 0]))];
    let mut links = Vec::new();
    for i in 0..5_000u64 {
        let id = 2 + i;
        nodes.push(node(
            id,
            "Reroute",
            json!([{"name": "", "type": "*", "link": i + 1}]),
            json!([{"name": "", "type": "*", "links": [i + 2]}]),
            json!([]),
        ));
        links.push(json!([i + 1, id - 1, 0, id, 0, "*"]));
    }
    nodes.push(node(9_000, "PreviewImage", image_in("images", json!(5_001)), json!([]), json!([])));
    links.push(json!([5_001, 5_001, 0, 9_000, 0, "*"]));
    let c = convert(&json!({"nodes": nodes, "links": links})).unwrap();
    assert_eq!(c.workflow.node("9000").unwrap().inputs["images"].to_json(), json!(["1", 0]));
}

/// A definition with `inner` nodes and links, inputs and outputs.
fn definition(id: &str, inputs: Value, outputs: Value, nodes: Value, links: Value) -> Value {
    json!({"id": id, "version": 1, "name": format!("def {id}"), "inputNode": {"id": -10}, "outputNode": {"id": -20},
           "inputs": inputs, "outputs": outputs, "widgets": [], "nodes": nodes, "links": links})
}

fn obj_link(id: u64, o: i64, os: i64, t: i64, ts: i64) -> Value {
    json!({"id": id, "origin_id": o, "origin_slot": os, "target_id": t, "target_slot": ts, "type": "*"})
}

const SG_A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const SG_B: &str = "bbbbbbbb-0000-0000-0000-000000000002";

/// Root: instance 12 of A → PreviewImage 2. A: instance 7 of B → output. B: EmptyImage 3 whose
/// width is promoted through both levels.
fn nested_subgraphs(outer_width: Value, inner_width: Value) -> Value {
    let b = definition(
        SG_B,
        json!([{"name": "width", "type": "INT", "linkIds": [1]}]),
        json!([{"name": "IMAGE", "type": "IMAGE", "linkIds": [2]}]),
        json!([node(
            3,
            "EmptyImage",
            json!([{"name": "width", "type": "INT", "widget": {"name": "width"}, "link": 1}]),
            image_out(json!([2])),
            json!([16, 24, 1, 0])
        )]),
        json!([obj_link(1, -10, 0, 3, 0), obj_link(2, 3, 0, -20, 0)]),
    );
    let a = definition(
        SG_A,
        json!([{"name": "width", "type": "INT", "linkIds": [5]}]),
        json!([{"name": "IMAGE", "type": "IMAGE", "linkIds": [6]}]),
        json!([{"id": 7, "type": SG_B, "mode": 0,
                "inputs": [{"name": "width", "type": "INT", "widget": {"name": "width"}, "link": 5}],
                "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [6]}], "widgets_values": inner_width}]),
        json!([obj_link(5, -10, 0, 7, 0), obj_link(6, 7, 0, -20, 0)]),
    );
    json!({
        "nodes": [
            {"id": 12, "type": SG_A, "mode": 0, "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
             "widgets_values": outer_width},
            node(2, "PreviewImage", image_in("images", json!(1)), json!([]), json!([])),
        ],
        "links": [[1, 12, 0, 2, 0, "IMAGE"]],
        "definitions": {"subgraphs": [a, b]},
        "version": 0.4
    })
}

#[test]
fn nested_subgraphs_get_path_ids_and_promoted_widget_values() {
    let c = convert(&nested_subgraphs(json!([77]), json!([55]))).unwrap();
    assert_eq!(
        c.workflow.to_value(),
        json!({
            "2": {"inputs": {"images": ["12:7:3", 0]}, "class_type": "PreviewImage", "_meta": {"title": "Preview Image"}},
            "12:7:3": {"inputs": {"width": 77, "height": 24, "batch_size": 1, "color": 0}, "class_type": "EmptyImage",
                       "_meta": {"title": "EmptyImage"}}
        })
    );
    // Without an outer value the inner instance's value is used, then the inner widget's own.
    let c = convert(&nested_subgraphs(json!([]), json!([55]))).unwrap();
    assert_eq!(c.workflow.node("12:7:3").unwrap().inputs["width"].to_json(), json!(55));
    let c = convert(&nested_subgraphs(json!([]), json!([]))).unwrap();
    assert_eq!(c.workflow.node("12:7:3").unwrap().inputs["width"].to_json(), json!(16));
    assert_stable("nested", &c.workflow);
}

#[test]
fn a_connected_subgraph_input_overrides_the_promoted_value() {
    let mut ui = nested_subgraphs(json!([77]), json!([55]));
    ui["nodes"].as_array_mut().unwrap().push(node(
        4,
        "PrimitiveInt",
        json!([]),
        json!([{"name": "INT", "type": "INT", "links": [2]}]),
        json!([300, "fixed"]),
    ));
    ui["nodes"][0]["inputs"] =
        json!([{"name": "width", "type": "INT", "widget": {"name": "width"}, "link": 2}]);
    ui["links"].as_array_mut().unwrap().push(json!([2, 4, 0, 12, 0, "INT"]));
    let c = convert(&ui).unwrap();
    assert_eq!(c.workflow.node("12:7:3").unwrap().inputs["width"].to_json(), json!(["4", 0]));
}

#[test]
fn bypassed_nodes_pass_the_input_of_the_matching_type() {
    // ImageCompositeMasked(destination IMAGE, source IMAGE, mask MASK) bypassed: its IMAGE output
    // takes the same-index input (destination); a MASK consumer would take `mask`.
    let ui = json!({
        "nodes": [
            node(1, "EmptyImage", json!([]), image_out(json!([1, 2])), json!([8, 8, 1, 0])),
            node(2, "SolidMask", json!([]), json!([{"name": "MASK", "type": "MASK", "links": [3]}]), json!([1.0, 8, 8])),
            {"id": 3, "type": "ImageCompositeMasked", "mode": 4,
             "inputs": [{"name": "destination", "type": "IMAGE", "link": 1}, {"name": "source", "type": "IMAGE", "link": 2},
                        {"name": "mask", "type": "MASK", "link": 3}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [4, 5]}], "widgets_values": [0, 0, false]},
            node(4, "PreviewImage", image_in("images", json!(4)), json!([]), json!([])),
            node(5, "MaskPreview", json!([{"name": "mask", "type": "MASK", "link": 5}]), json!([]), json!([])),
        ],
        "links": [[1, 1, 0, 3, 0, "IMAGE"], [2, 1, 0, 3, 1, "IMAGE"], [3, 2, 0, 3, 2, "MASK"], [4, 3, 0, 4, 0, "IMAGE"], [5, 3, 0, 5, 0, "MASK"]]
    });
    let c = convert(&ui).unwrap();
    assert_eq!(c.workflow.node("4").unwrap().inputs["images"].to_json(), json!(["1", 0]));
    assert_eq!(c.workflow.node("5").unwrap().inputs["mask"].to_json(), json!(["2", 0]));
    assert!(c.workflow.node("3").is_none());
}

#[test]
fn legacy_group_nodes_expand_with_index_ids() {
    // Group "Inv+Blur": ImageInvert (0) → ImageBlur (1); the group's input is ImageInvert.image,
    // its output ImageBlur's IMAGE, its widgets ImageBlur's blur_radius and sigma.
    let group = json!({
        "nodes": [
            {"id": 10, "type": "ImageInvert", "inputs": [{"name": "image", "type": "IMAGE", "link": null}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}], "widgets_values": [], "index": 0},
            {"id": 11, "type": "ImageBlur", "inputs": [{"name": "image", "type": "IMAGE", "link": null}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}], "widgets_values": [1, 1.0], "index": 1}
        ],
        "links": [[0, 0, 1, 0, 10, "IMAGE"]],
        "external": [[1, 0, "IMAGE"]]
    });
    let ui = json!({
        "nodes": [
            node(1, "EmptyImage", json!([]), image_out(json!([1])), json!([8, 8, 1, 0])),
            {"id": 6, "type": "workflow>Inv+Blur", "mode": 0, "inputs": image_in("image", json!(1)),
             "outputs": image_out(json!([2])), "widgets_values": [5, 2.5]},
            node(3, "PreviewImage", image_in("images", json!(2)), json!([]), json!([])),
        ],
        "links": [[1, 1, 0, 6, 0, "IMAGE"], [2, 6, 0, 3, 0, "IMAGE"]],
        "extra": {"groupNodes": {"Inv+Blur": group}}
    });
    let c = convert(&ui).unwrap();
    assert_eq!(
        c.workflow.to_value(),
        json!({
            "1": {"inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}, "class_type": "EmptyImage", "_meta": {"title": "EmptyImage"}},
            "3": {"inputs": {"images": ["6:1", 0]}, "class_type": "PreviewImage", "_meta": {"title": "Preview Image"}},
            "6:0": {"inputs": {"image": ["1", 0]}, "class_type": "ImageInvert", "_meta": {"title": "Invert Image"}},
            "6:1": {"inputs": {"blur_radius": 5, "sigma": 2.5, "image": ["6:0", 0]}, "class_type": "ImageBlur", "_meta": {"title": "Image Blur"}}
        })
    );
}

#[test]
fn primitive_values_can_go_through_text_replacement() {
    let ui = json!({
        "nodes": [
            {"id": 1, "type": "PrimitiveNode", "mode": 0, "inputs": [],
             "outputs": [{"name": "STRING", "type": "STRING", "widget": {"name": "filename_prefix"}, "links": [1]}],
             "properties": {"Run widget replace on values": true}, "widgets_values": ["out/%EmptyImage.width%"]},
            node(2, "EmptyImage", json!([]), image_out(json!([2])), json!([33, 8, 1, 0])),
            {"id": 3, "type": "SaveImage", "mode": 0,
             "inputs": [{"name": "images", "type": "IMAGE", "link": 2},
                        {"name": "filename_prefix", "type": "STRING", "widget": {"name": "filename_prefix"}, "link": 1}],
             "outputs": [], "properties": {}, "widgets_values": ["ignored"]}
        ],
        "links": [[1, 1, 0, 3, 1, "STRING"], [2, 2, 0, 3, 0, "IMAGE"]]
    });
    let mut ui = ui;
    ui["nodes"][1]["properties"] = json!({"Node name for S&R": "EmptyImage"});
    let c = convert(&ui).unwrap();
    assert_eq!(c.workflow.node("3").unwrap().inputs["filename_prefix"].to_json(), json!("out/33"));
}

#[test]
fn upload_combos_from_other_folders_are_annotated() {
    let ui = json!({"nodes": [node(1, "LoadImageOutput", json!([]), image_out(json!([])), json!(["render.png", "image"]))], "links": []});
    let c = convert(&ui).unwrap();
    assert_eq!(c.workflow.node("1").unwrap().inputs["image"].to_json(), json!("render.png [output]"));
}

/// A remote combo with `refresh_button` (LoadImageOutput in the real 0.3.64 `/object_info`):
/// the editor (1.27.10 `useComboWidget.ts` / `useRemoteWidget.ts`) adds the "Auto-refresh after
/// generation" toggle (`options.serialize: false`: saved, not sent) and the `refresh` button
/// (`addWidget('button', 'refresh', 'refresh')`: saved and sent as `"refresh": "refresh"`),
/// then the injected upload button (saved, not sent). No captured pair has this node; the
/// expected prompt follows the frontend source.
#[test]
fn a_remote_combo_sends_its_refresh_button() {
    let remote = catalog().node("LoadImageOutput").unwrap();
    assert!(remote.raw()["input"]["required"]["image"][1]["remote"]["refresh_button"] == json!(true));
    let saved = json!(["render.png", false, "refresh", "image"]);
    let ui = json!({"nodes": [node(1, "LoadImageOutput", json!([]), image_out(json!([])), saved.clone())], "links": []});
    let c = convert(&ui).unwrap();
    let inputs = &c.workflow.node("1").unwrap().inputs;
    let sent: Vec<(&str, Value)> = inputs.iter().map(|(k, v)| (k.as_str(), v.to_json())).collect();
    assert_eq!(sent, [("image", json!("render.png [output]")), ("refresh", json!("refresh"))]);
    // Back to the editor: the same slots, in the same order.
    let u = to_ui(&c.workflow, catalog()).unwrap();
    let n = u["nodes"].as_array().unwrap().iter().find(|n| n["type"] == "LoadImageOutput").unwrap();
    assert_eq!(n["widgets_values"], json!(["render.png [output]", false, "refresh", "image"]));
    // A node without a remote combo is unchanged: LoadImage sends only its image.
    let ui = json!({"nodes": [node(1, "LoadImage", json!([]), image_out(json!([])), json!(["example.png", "image"]))], "links": []});
    let c = convert(&ui).unwrap();
    let keys: Vec<&str> = c.workflow.node("1").unwrap().inputs.keys().map(String::as_str).collect();
    assert_eq!(keys, ["image"]);
}

#[test]
fn to_ui_lays_nodes_out_by_depth_with_editor_slots() {
    let (ui, _) = golden("default_graph");
    let a1 = convert(&ui).unwrap().workflow;
    let u = to_ui(&a1, catalog()).unwrap();
    let nodes = u["nodes"].as_array().unwrap();
    let x = |id: u64| nodes.iter().find(|n| n["id"] == json!(id)).unwrap()["pos"][0].as_f64().unwrap();
    assert!(
        x(4) < x(6) && x(6) < x(3) && x(3) < x(8) && x(8) < x(9),
        "loader, encoder, sampler, decode, save"
    );
    let sampler = nodes.iter().find(|n| n["id"] == json!(3)).unwrap();
    assert_eq!(sampler["widgets_values"], json!([156680208700286u64, "fixed", 20, 8, "euler", "normal", 1]));
    let names: Vec<&str> =
        sampler["inputs"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["model", "positive", "negative", "latent_image"]);
    assert_eq!(u["last_link_id"], json!(9));
    assert_eq!(u["links"].as_array().unwrap().len(), 9);
    // Titles are kept only where they differ from the class's display name.
    let (ui, _) = golden("mute_and_bypass");
    let a1 = convert(&ui).unwrap().workflow;
    let u = to_ui(&a1, catalog()).unwrap();
    let titled: Vec<&Value> =
        u["nodes"].as_array().unwrap().iter().filter(|n| n.get("title").is_some()).collect();
    assert_eq!(titled.len(), 1);
    assert_eq!(titled[0]["title"], json!("after two bypassed"));
}
