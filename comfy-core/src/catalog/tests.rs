use serde_json::json;

use super::*;

fn fixture(name: &str) -> Option<String> {
    std::fs::read_to_string(format!(
        "{}/../../shared/fixtures/comfyui/http/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .ok()
}

fn small() -> Catalog {
    Catalog::from_value(&json!({
        "KSampler": {
            "input": {"required": {
                "model": ["MODEL"], "seed": ["INT", {"default": 0, "min": 0, "max": 18446744073709551615u64, "control_after_generate": true}],
                "sampler_name": [["euler", "ddim"], {"tooltip": "which sampler"}]
            }},
            "input_order": {"required": ["model", "seed", "sampler_name"]},
            "output": ["LATENT"], "output_name": ["LATENT"], "output_is_list": [false],
            "name": "KSampler", "display_name": "KSampler", "description": "Denoises a latent", "category": "sampling",
            "python_module": "nodes", "output_node": false
        },
        "SaveImage": {
            "input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
                      "hidden": {"prompt": "PROMPT"}},
            "output": [], "name": "SaveImage", "display_name": "Save Image", "category": "image",
            "description": "Saves images", "python_module": "nodes", "output_node": true
        }
    }))
    .unwrap()
}

#[test]
fn parses_typed_fields() {
    let c = small();
    let k = c.node("KSampler").unwrap();
    assert_eq!(k.inputs.len(), 3);
    assert_eq!(k.inputs[0].name, "model");
    assert_eq!(k.inputs[1].kind, InputKind::Int);
    assert!(k.inputs[1].options.control_after_generate);
    assert_eq!(k.outputs[0].type_name, "LATENT");
    let save = c.node("SaveImage").unwrap();
    assert!(save.output_node);
    assert_eq!(save.inputs_in(Section::Hidden).count(), 1);
    assert_eq!(save.input("filename_prefix").unwrap().options.default, Some(json!("ComfyUI")));
}

#[test]
fn input_order_wins_over_map_order() {
    let c = Catalog::from_value(&json!({"N": {
        "input": {"required": {"b": ["INT"], "a": ["INT"]}},
        "input_order": {"required": ["a", "b"]}, "output": []
    }}))
    .unwrap();
    let names: Vec<_> = c.node("N").unwrap().inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn full_object_info_parses_without_loss() {
    let Some(text) = fixture("object_info_full.json") else {
        panic!("shared fixtures are missing: expected ../shared beside the checkout");
    };
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    let c = Catalog::from_json_str(&text).unwrap();
    assert_eq!(c.len(), original.as_object().unwrap().len());
    assert_eq!(c.to_value(), original, "to_value must give back exactly what was parsed");

    // Every declared input is represented, in every section, and typed.
    let mut kinds = std::collections::HashMap::new();
    for node in c.nodes() {
        let raw = &original[&node.name];
        let declared: usize = ["required", "optional", "hidden"]
            .iter()
            .map(|s| raw["input"].get(*s).and_then(|m| m.as_object()).map_or(0, |m| m.len()))
            .sum();
        assert_eq!(node.inputs.len(), declared, "{}", node.name);
        assert_eq!(node.outputs.len(), raw["output"].as_array().unwrap().len(), "{}", node.name);
        for i in &node.inputs {
            *kinds.entry(i.kind.type_name().to_string()).or_insert(0) += 1;
            // Typed options agree with the raw options.
            if let Some(max) = i.options.raw.get("max") {
                assert_eq!(i.options.max_num(), crate::json::Num::from_value(max));
            }
        }
    }
    for expected in ["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "IMAGE", "MODEL", "*"] {
        assert!(kinds.contains_key(expected), "no {expected} input parsed");
    }
    let ks = c.node("KSampler").unwrap();
    assert_eq!(ks.input("seed").unwrap().options.max_num(), Some(crate::json::Num::Int(u64::MAX as i128)));
    let webm = c.node("SaveWEBM").unwrap();
    assert!(matches!(webm.input("codec").unwrap().kind, InputKind::Combo { v3: true, .. }));
    assert!(webm.experimental);
    assert!(c.nodes().any(|n| n.api_node), "partner API nodes are flagged");
    let load = c.node("LoadImage").unwrap();
    assert_eq!(load.input("image").unwrap().options.upload.as_deref(), Some("image_upload"));
}

#[test]
fn single_class_fixtures_parse() {
    for name in [
        "object_info_KSampler.json",
        "object_info_LoadImage.json",
        "object_info_SaveImage.json",
        "object_info_SaveVideo.json",
        "object_info_PrimitiveInt.json",
        "object_info_core_subset.json",
        "object_info_unknown_class.json",
    ] {
        let text = fixture(name).unwrap_or_else(|| panic!("missing fixture {name}"));
        Catalog::from_json_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn bad_catalogues_name_the_place() {
    for (value, needle) in [
        (json!([]), "top level"),
        (json!({"N": 5}), "N"),
        (json!({"N": {"input": {"required": {"x": 5}}}}), "N / input / required / x"),
        (
            json!({"N": {"input": {"required": {"x": ["INT", {"min": "a"}]}}}}),
            "N / input / required / x / min",
        ),
        (json!({"N": {"input": {"required": []}}}), "N / input / required"),
        (json!({"N": {"output": [5]}}), "N / output / 0"),
        (json!({"N": {"category": 5}}), "N / category"),
    ] {
        let err = Catalog::from_value(&value).unwrap_err();
        assert_eq!(err.code(), "invalid_catalog");
        assert!(err.to_string().contains(needle), "{value}: {err}");
    }
}

#[test]
fn search_ranks_names_first_and_filters() {
    let text = fixture("object_info_full.json").expect("shared fixtures");
    let c = Catalog::from_json_str(&text).unwrap();
    let hits = c.search(&SearchQuery { text: "ksampler", ..Default::default() });
    assert_eq!(hits[0].name, "KSampler");
    assert!(hits.iter().any(|h| h.name == "KSamplerAdvanced"));

    let hits = c.search(&SearchQuery { text: "upscale", output_type: Some("IMAGE"), ..Default::default() });
    assert!(!hits.is_empty());
    for h in &hits {
        assert!(c.node(&h.name).unwrap().outputs.iter().any(|o| o.type_name == "IMAGE"), "{}", h.name);
    }

    let hits = c.search(&SearchQuery { text: "save", input_type: Some("AUDIO"), ..Default::default() });
    assert!(hits.iter().any(|h| h.name == "SaveAudio"), "{hits:?}");

    let hits =
        c.search(&SearchQuery { text: "", category: Some("sampling"), limit: 500, ..Default::default() });
    assert!(hits.iter().all(|h| h.category.to_lowercase().starts_with("sampling")));
    assert!(c.search(&SearchQuery { text: "zzzz-nothing", ..Default::default() }).is_empty());
    assert_eq!(c.search(&SearchQuery { text: "image", limit: 3, ..Default::default() }).len(), 3);
}

#[test]
fn suggests_close_class_names() {
    let c = small();
    assert_eq!(c.suggest_classes("Ksampler")[0], "KSampler");
    assert_eq!(c.suggest_classes("SaveImg")[0], "SaveImage");
}
