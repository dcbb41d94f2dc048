use serde_json::json;

use super::*;
use crate::Error;

const BASIC: &str = r#"{
  "3": {"inputs": {"seed": 42, "model": ["4", 0], "positive": ["6", 0]}, "class_type": "KSampler", "_meta": {"title": "Sampler"}, "x-custom": {"keep": true}},
  "4": {"inputs": {"ckpt_name": "a.safetensors"}, "class_type": "CheckpointLoaderSimple", "_meta": {"title": "Load"}},
  "6": {"inputs": {"text": "a cat", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
  "9": {"inputs": {"images": ["3", 0], "filename_prefix": "x"}, "class_type": "SaveImage", "_meta": {"title": "Save"}}
}"#;

fn basic() -> Workflow {
    Workflow::from_json_str(BASIC).unwrap()
}

#[test]
fn round_trip_keeps_everything_in_order() {
    let wf = basic();
    let original: serde_json::Value = serde_json::from_str(BASIC).unwrap();
    let text = wf.to_json_string();
    // Byte-level order check: serde_json with preserve_order keeps our emission order.
    let expected = serde_json::to_string(&original).unwrap();
    assert_eq!(text, expected);
    let ids: Vec<&str> = wf.nodes().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["3", "4", "6", "9"]);
    assert_eq!(wf.node("3").unwrap().extra["x-custom"], json!({"keep": true}));
}

#[test]
fn class_type_first_order_is_kept_too() {
    let text = r#"{"1":{"class_type":"A","_meta":{"title":"t"},"inputs":{"b":1,"a":2}}}"#;
    assert_eq!(Workflow::from_json_str(text).unwrap().to_json_string(), text);
}

#[test]
fn links_and_literals_are_told_apart() {
    let wf = basic();
    let k = wf.node("3").unwrap();
    assert_eq!(k.inputs["model"], Input::Link(Link { node: "4".into(), output: 0 }));
    assert_eq!(k.inputs["seed"], Input::Value(json!(42)));
    // Three-element arrays and numeric ids are literals (the validator flags them).
    let wf = Workflow::from_json_str(
        r#"{"1":{"class_type":"A","inputs":{"x":["1",0,0],"y":[1,0],"z":["1",-1]}}}"#,
    )
    .unwrap();
    let n = wf.node("1").unwrap();
    assert!(n.inputs.values().all(|i| i.as_link().is_none()));
    // A float slot that is a whole number is a link, as in ComfyUI.
    let wf = Workflow::from_json_str(r#"{"1":{"class_type":"A","inputs":{"x":["2",1.0]}}}"#).unwrap();
    assert_eq!(wf.node("1").unwrap().inputs["x"].as_link().unwrap().output, 1);
}

#[test]
fn lookups_by_class_and_title() {
    let wf = basic();
    assert_eq!(wf.nodes_by_class("KSampler").count(), 1);
    assert_eq!(wf.nodes_by_title("Save").next().unwrap().0.as_str(), "9");
    assert_eq!(wf.find_node("Load").unwrap().as_str(), "4");
    assert_eq!(wf.find_node("6").unwrap().as_str(), "6");
    assert!(matches!(wf.find_node("nope"), Err(Error::NodeNotFound { .. })));
    let mut dup = basic();
    dup.node_mut("6").unwrap().set_title("Save");
    let err = dup.find_node("Save").unwrap_err();
    assert!(err.to_string().contains("ambiguous"), "{err}");
}

#[test]
fn links_in_and_out() {
    let wf = basic();
    let ins: Vec<_> = wf.links_in("3").into_iter().map(|(n, l)| (n, l.node.as_str())).collect();
    assert_eq!(ins, [("model", "4"), ("positive", "6")]);
    let outs = wf.links_out("4");
    assert_eq!(outs.len(), 2);
    assert_eq!(outs[0].target.as_str(), "3");
    assert_eq!(outs[1].input, "clip");
    assert_eq!(outs[1].output, 1);
}

#[test]
fn topological_order_puts_sources_first() {
    let order = basic().topological_order().unwrap();
    let pos = |id: &str| order.iter().position(|o| o.as_str() == id).unwrap();
    assert!(pos("4") < pos("6"));
    assert!(pos("6") < pos("3"));
    assert!(pos("3") < pos("9"));
}

#[test]
fn cycles_are_found_and_named() {
    let wf = Workflow::from_json_str(
        r#"{"1":{"class_type":"P","inputs":{"v":["2",0]}},"2":{"class_type":"P","inputs":{"v":["1",0]}},"3":{"class_type":"O","inputs":{"s":["1",0]}}}"#,
    )
    .unwrap();
    let cycle = wf.find_cycle().unwrap();
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 3);
    match wf.topological_order() {
        Err(Error::Cycle { cycle }) => assert!(cycle.contains(&"1".to_string())),
        other => panic!("expected a cycle, got {other:?}"),
    }
    let self_loop = Workflow::from_json_str(r#"{"1":{"class_type":"P","inputs":{"v":["1",0]}}}"#).unwrap();
    assert_eq!(self_loop.find_cycle().unwrap().len(), 2);
    assert!(basic().find_cycle().is_none());
}

#[test]
fn dangling_links_are_listed() {
    let mut wf = basic();
    wf.remove("4");
    let dangling = wf.dangling_links();
    assert_eq!(dangling.len(), 2);
    assert_eq!(dangling[0].node.as_str(), "3");
    assert_eq!(dangling[0].missing.as_str(), "4");
    // Still orderable: dangling links are ignored.
    assert_eq!(wf.topological_order().unwrap().len(), 3);
}

#[test]
fn subgraph_for_partial_execution() {
    let mut wf = basic();
    wf.insert("20", Node::new("PreviewImage").with_input("images", json!(["6", 0])));
    let sub = wf.subgraph_for(&["20".into()]).unwrap();
    let ids: Vec<&str> = sub.nodes().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["4", "6", "20"]);
    assert!(matches!(wf.subgraph_for(&["99".into()]), Err(Error::NodeNotFound { .. })));
}

#[test]
fn hash_ignores_order_and_meta_but_not_values() {
    let a = basic();
    let reordered = Workflow::from_json_str(
        r#"{
      "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x", "images": ["3", 0]}},
      "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "a cat"}},
      "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}, "_meta": {"title": "Other"}},
      "3": {"class_type": "KSampler", "inputs": {"positive": ["6", 0], "model": ["4", 0], "seed": 42}}
    }"#,
    )
    .unwrap();
    assert_eq!(a.canonical_hash(), reordered.canonical_hash());
    let mut changed = basic();
    changed.node_mut("3").unwrap().inputs.insert("seed".into(), Input::Value(json!(43)));
    assert_ne!(a.canonical_hash(), changed.canonical_hash());
    let mut relinked = basic();
    relinked.node_mut("9").unwrap().inputs.insert("images".into(), Input::from_json(json!(["3", 1])));
    assert_ne!(a.canonical_hash(), relinked.canonical_hash());
    assert_eq!(a.canonical_hash().len(), 64);
    // ComfyUI stores 8 as 8.0 after converting a FLOAT input: the same graph, the same hash.
    let mut as_float = basic();
    as_float.node_mut("3").unwrap().inputs.insert("seed".into(), Input::Value(json!(42.0)));
    assert_eq!(a.canonical_hash(), as_float.canonical_hash());
}

#[test]
fn ui_format_is_recognised_and_explained() {
    let ui = r#"{"last_node_id": 9, "last_link_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": [], "version": 0.4}"#;
    let err = Workflow::from_json_str(ui).unwrap_err();
    assert_eq!(err.code(), "ui_format_workflow");
    assert!(err.to_string().contains("Export (API)"), "{err}");
    let real = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/comfyui/ui_to_api/default_graph.workflow.json"
    ));
    if let Ok(text) = real {
        assert!(matches!(Workflow::from_json_str(&text), Err(Error::UiFormatWorkflow { .. })));
    }
}

#[test]
fn prompt_request_body_is_explained() {
    let err =
        Workflow::from_json_str(r#"{"prompt": {"1": {"class_type": "A", "inputs": {}}}, "client_id": "x"}"#)
            .unwrap_err();
    assert!(err.to_string().contains("\"prompt\" field"), "{err}");
}

#[test]
fn structural_errors_name_every_place() {
    let err = Workflow::from_json_str(
        r#"{"1": 5, "2": {"inputs": {}}, "3": {"class_type": "A", "inputs": [1]}, "4": {"class_type": 7}}"#,
    )
    .unwrap_err();
    let text = err.to_string();
    for needle in
        ["node \"1\"", "node \"2\"", "node \"3\" / inputs", "node \"4\" / class_type", "also 3 more"]
    {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    assert_eq!(err.code(), "invalid_workflow");
}

#[test]
fn bad_json_is_located() {
    for (text, needle) in [
        ("{\"1\": {\"class_type\": \"A\",}}", "line 1"),
        ("{\"1\": {}, \"1\": {}}", "duplicate key"),
        ("{\"1\": {\"class_type\": \"A\", \"inputs\": {\"x\": NaN}}}", "line 1"),
        ("[1, 2]", "JSON object"),
        ("", "line 1"),
    ] {
        let err = Workflow::from_json_str(text).unwrap_err();
        assert!(err.to_string().contains(needle), "{text:?}: {err}");
    }
}

#[test]
fn large_and_deep_graphs_do_not_overflow() {
    // A 10,000-node chain: every operation is iterative.
    let mut wf = Workflow::new();
    wf.insert("0", Node::new("Start"));
    for i in 1..10_000 {
        wf.insert(i.to_string(), Node::new("Step").with_input("x", json!([(i - 1).to_string(), 0])));
    }
    assert_eq!(wf.topological_order().unwrap().len(), 10_000);
    assert!(wf.find_cycle().is_none());
    assert_eq!(wf.subgraph_for(&["9999".into()]).unwrap().len(), 10_000);
    let text = wf.to_json_string();
    let back = Workflow::from_json_str(&text).unwrap();
    assert_eq!(back.canonical_hash(), wf.canonical_hash());
    // Closing the chain into one big cycle is still found without recursion.
    wf.node_mut("0").unwrap().inputs.insert("x".into(), Input::from_json(json!(["9999", 0])));
    assert_eq!(wf.find_cycle().unwrap().len(), 10_001);
}

#[test]
fn huge_strings_survive() {
    let big = "x".repeat(5_000_000);
    let wf = Workflow::new();
    let mut wf = wf;
    wf.insert("1", Node::new("A").with_input("text", json!(big)));
    let back = Workflow::from_json_str(&wf.to_json_string()).unwrap();
    assert_eq!(back.node("1").unwrap().inputs["text"], Input::Value(json!(big)));
}

#[test]
fn new_nodes_serialize_in_comfyui_export_order() {
    let mut wf = Workflow::new();
    wf.insert("1", Node::new("SaveImage").with_input("images", json!(["2", 0])).with_title("Save"));
    assert_eq!(
        wf.to_json_string(),
        r#"{"1":{"inputs":{"images":["2",0]},"class_type":"SaveImage","_meta":{"title":"Save"}}}"#
    );
}
