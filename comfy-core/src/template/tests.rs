//! Unit tests of the template module (parsing, enrichment, checks, rendering details).

use serde_json::{Map, Value, json};

use super::*;
use crate::Error;
use crate::validate::{ProblemCode, Severity};

/// A tiny catalogue with the input shapes the tests need.
fn catalog() -> Catalog {
    Catalog::from_value(&json!({
        "Sampler": {
            "input": {"required": {
                "seed": ["INT", {"default": 0, "min": 0, "max": 18446744073709551615u64, "control_after_generate": true}],
                "steps": ["INT", {"default": 20, "min": 1, "max": 10000, "tooltip": "How many steps."}],
                "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1}],
                "sampler_name": [["euler", "ddim"], {}],
                "model": ["MODEL"],
                "text": ["STRING", {"multiline": true}],
                "tiled": ["BOOLEAN", {"default": false}]
            }, "optional": {"note": ["STRING", {}]}, "hidden": {"prompt": "PROMPT"}},
            "output": ["IMAGE"], "output_node": false
        },
        "Loader": {"input": {"required": {"image": [["example.png"], {"image_upload": true}], "ckpt": [[], {}]}},
                   "output": ["MODEL"], "output_node": false},
        "Save": {"input": {"required": {"images": ["IMAGE"], "prefix": ["STRING", {"default": "ComfyUI"}]}},
                 "output": [], "output_node": true}
    }))
    .unwrap()
}

fn template(value: Value) -> Template {
    Template::from_value("test", value).unwrap()
}

fn err(value: Value) -> String {
    Template::from_value("test", value).unwrap_err().to_string()
}

fn values(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn sampler_graph(inputs: Value) -> Value {
    json!({
        "1": {"class_type": "Sampler", "inputs": inputs},
        "2": {"class_type": "Save", "inputs": {"images": ["1", 0], "prefix": "x"}}
    })
}

#[test]
fn a_graph_without_placeholders_is_a_template_with_no_parameters() {
    let t = template(json!({"1": {"class_type": "Save", "inputs": {"prefix": "a"}}}));
    assert!(t.params.is_empty());
    assert_eq!(t.name, "test");
    let r = t.render(&RenderRequest::new(Map::new())).unwrap();
    assert_eq!(r.workflow, t.workflow);
    let empty = Template::from_json_str("empty", "{}").unwrap();
    assert!(empty.workflow.is_empty());
}

#[test]
fn metadata_is_stripped_and_orders_parameters() {
    let t = template(json!({
        "__metadata__": {"name": "tool-1", "description": "Does things.", "parameters": {"b": {"default": 1}}},
        "1": {"class_type": "X", "inputs": {"a": "{{a}}", "b": "{{b}}"}}
    }));
    assert_eq!(t.name, "tool-1");
    assert_eq!(t.description, "Does things.");
    assert_eq!(t.params.keys().collect::<Vec<_>>(), ["b", "a"]);
    assert!(!t.workflow.to_json_string().contains("__metadata__"));
    // Key order of the remaining nodes survives.
    assert_eq!(t.workflow.nodes().next().unwrap().0.as_str(), "1");
}

#[test]
fn declarations_must_match_placeholders() {
    let e = err(
        json!({"__metadata__": {"parameters": {"stpes": {}}}, "1": {"class_type": "X", "inputs": {"s": "{{steps}}"}}}),
    );
    assert!(e.contains("\"stpes\"") && e.contains("did you mean steps?"), "{e}");
    let e = err(json!({"__metadata__": {"parameters": {"a": {}}}, "1": {"class_type": "X", "inputs": {}}}));
    assert!(e.contains("no placeholders"), "{e}");
    let e = err(json!({
        "__metadata__": {"parameters": {"seed": {"type": "string"}}},
        "1": {"class_type": "X", "inputs": {"s": "PARAM_INT_SEED"}}
    }));
    assert!(e.contains("__metadata__ declares type string") && e.contains("node \"1\" input \"s\""), "{e}");
}

#[test]
fn bad_declarations_are_template_errors() {
    let cases = [
        (json!({"__metadata__": {"name": "has space"}}), "not a valid tool name"),
        (
            json!({"__metadata__": {"parameters": {"a": {"required": true, "default": 1}}}, "1": {"class_type": "X", "inputs": {"a": "{{a}}"}}}),
            "required and also has a default",
        ),
        (
            json!({"__metadata__": {"parameters": {"a": {"type": "integer", "default": "x"}}}, "1": {"class_type": "X", "inputs": {"a": "{{a}}"}}}),
            "the default \"x\" is not valid",
        ),
        (
            json!({"__metadata__": {"parameters": {"a": {"enum": ["p", "q"], "default": "r"}}}, "1": {"class_type": "X", "inputs": {"a": "{{a}}"}}}),
            "not one of the allowed values",
        ),
        (json!([1, 2]), "got array"),
        (json!({"1": {"inputs": {}}}), "no class_type"),
    ];
    for (value, expected) in cases {
        let e = Template::from_value("test", value).unwrap_err();
        assert_eq!(e.code(), "invalid_template");
        let text = e.to_string();
        assert!(text.contains("template \"test\"") && text.contains(expected), "{text}");
    }
}

#[test]
fn ui_format_files_without_a_catalogue_are_refused_with_a_reason() {
    let e = err(json!({"nodes": [{"id": 1}], "links": [], "version": 0.4}));
    assert!(e.contains("UI") && e.contains("node catalogue"), "{e}");
}

#[test]
fn enrichment_reads_the_catalogue() {
    let mut t = template(sampler_graph(json!({
        "seed": "{{noise}}", "steps": "{{steps}}", "cfg": "PARAM_CFG", "sampler_name": "{{sampler}}",
        "model": ["3", 0], "text": "{{prompt}}", "tiled": "{{tiled}}"
    })));
    assert_eq!(t.param("steps").unwrap().ty, ParamType::String);
    t.enrich(&catalog());
    let steps = t.param("steps").unwrap();
    assert_eq!(steps.ty, ParamType::Integer);
    assert_eq!(
        (steps.minimum, steps.maximum, steps.default.clone()),
        (Some(1.0), Some(10000.0), Some(json!(20)))
    );
    assert_eq!(steps.description.as_deref(), Some("How many steps."));
    assert!(!steps.required);
    let cfg = t.param("cfg").unwrap();
    assert_eq!((cfg.ty, cfg.step), (ParamType::Number, Some(0.1)));
    let sampler = t.param("sampler").unwrap();
    assert_eq!(sampler.enum_values, Some(vec![json!("euler"), json!("ddim")]));
    assert!(sampler.required, "a combo without a default is required");
    let noise = t.param("noise").unwrap();
    assert!(noise.is_seed && !noise.required && noise.default.is_none());
    assert!(t.param("prompt").unwrap().multiline);
    assert_eq!(t.param("tiled").unwrap().ty, ParamType::Boolean);
    // Enriching again (even with another catalogue) starts from the declarations.
    let before = t.params.clone();
    t.enrich(&catalog());
    assert_eq!(t.params, before);
    t.enrich(&Catalog::default());
    assert_eq!(t.param("steps").unwrap().ty, ParamType::String);
}

#[test]
fn upload_and_empty_combos_have_no_enum() {
    let t = template(json!({
        "1": {"class_type": "Loader", "inputs": {"image": "{{image}}", "ckpt": "{{ckpt}}"}}
    }))
    .enriched(&catalog());
    for name in ["image", "ckpt"] {
        let p = t.param(name).unwrap();
        assert_eq!((p.ty, p.enum_values.clone(), p.required), (ParamType::String, None, true), "{name}");
    }
}

#[test]
fn explicit_declarations_win_over_the_catalogue() {
    let t = template(json!({
        "__metadata__": {"parameters": {"steps": {"max": 50, "default": 30, "description": "mine"}}},
        "1": {"class_type": "Sampler", "inputs": {"steps": "{{steps}}"}}
    }))
    .enriched(&catalog());
    let steps = t.param("steps").unwrap();
    assert_eq!((steps.minimum, steps.maximum), (Some(1.0), Some(50.0)));
    assert_eq!(steps.default, Some(json!(30)));
    assert_eq!(steps.description.as_deref(), Some("mine"));
}

fn codes(report: &crate::validate::ValidationReport) -> Vec<(ProblemCode, Severity, Option<String>)> {
    report.problems.iter().map(|p| (p.code, p.severity, p.input.clone())).collect()
}

#[test]
fn check_accepts_placeholders_where_values_go() {
    let t = template(json!({
        "1": {"class_type": "Sampler", "inputs": {
            "seed": "{{seed}}", "steps": "{{steps}}", "cfg": 8, "sampler_name": "{{sampler}}",
            "model": ["3", 0], "text": "a photo of {{subject}}", "tiled": false
        }},
        "2": {"class_type": "Save", "inputs": {"images": ["1", 0], "prefix": "{{prefix}}"}},
        "3": {"class_type": "Loader", "inputs": {"image": "{{image}}", "ckpt": "{{ckpt}}"}}
    }));
    let report = t.check(&catalog());
    assert!(report.is_ok(), "{}", report.summary());
    assert_eq!(report.runnable_outputs, [crate::NodeId::from("2")]);
}

#[test]
fn check_reports_type_mismatches_unknown_inputs_and_links() {
    let t = template(json!({
        "__metadata__": {"parameters": {"flag": {"type": "boolean"}}},
        "1": {"class_type": "Sampler", "inputs": {
            "seed": 1, "steps": "{{flag}}", "cfg": 8, "sampler_name": "euler", "model": "{{model}}",
            "text": "t", "tiled": false, "stpes": "{{extra}}", "prompt": "{{hidden}}"
        }},
        "2": {"class_type": "Save", "inputs": {"images": ["1", 0], "prefix": "x"}},
        "3": {"class_type": "Nope", "inputs": {"a": "{{a}}"}}
    }));
    let report = t.check(&catalog());
    let found = codes(&report);
    let has = |code: ProblemCode, input: Option<&str>| {
        found.iter().any(|(c, s, i)| *c == code && *s == Severity::Error && i.as_deref() == input)
    };
    assert!(has(ProblemCode::InvalidInputType, Some("steps")), "{found:?}");
    assert!(has(ProblemCode::LiteralForLinkInput, Some("model")), "{found:?}");
    assert!(has(ProblemCode::UnknownInput, Some("stpes")), "{found:?}");
    assert!(has(ProblemCode::UnknownInput, Some("prompt")), "{found:?}");
    assert!(has(ProblemCode::UnknownClass, None), "{found:?}");
    // The validator's own warning for the undeclared input is replaced, not repeated.
    assert_eq!(
        found
            .iter()
            .filter(|(c, _, i)| *c == ProblemCode::UnknownInput && i.as_deref() == Some("stpes"))
            .count(),
        1
    );
    let steps = report.problems.iter().find(|p| p.input.as_deref() == Some("steps")).unwrap();
    assert!(
        steps.message.contains("\"flag\" is a boolean") && steps.message.contains("takes INT"),
        "{}",
        steps.message
    );
    assert_eq!(steps.dependent_outputs, [crate::NodeId::from("2")]);
    assert!(report.runnable_outputs.is_empty());
    let stpes = report.problems.iter().find(|p| p.input.as_deref() == Some("stpes")).unwrap();
    assert_eq!(stpes.suggestions, ["steps"]);
}

#[test]
fn check_flags_defaults_that_break_the_catalogue_bounds() {
    let t = template(json!({
        "__metadata__": {"parameters": {"steps": {"default": 0}}},
        "1": {"class_type": "Sampler", "inputs": {"steps": "{{steps}}", "seed": 1, "cfg": 1, "sampler_name": "euler",
               "model": ["9", 0], "text": "t", "tiled": false}},
        "2": {"class_type": "Save", "inputs": {"images": ["1", 0], "prefix": "x"}},
        "9": {"class_type": "Loader", "inputs": {"image": "example.png", "ckpt": "{{ckpt}}"}}
    }));
    let report = t.check(&catalog());
    let p = report.errors().find(|p| p.input.as_deref() == Some("steps")).expect("default out of range");
    assert!(p.message.contains("the default 0") && p.message.contains("from 1 to 10000"), "{}", p.message);
}

#[test]
fn problems_in_nodes_no_output_uses_are_warnings() {
    let t = template(json!({
        "1": {"class_type": "Save", "inputs": {"images": ["3", 0], "prefix": "x"}},
        "3": {"class_type": "Loader", "inputs": {"image": "example.png", "ckpt": "{{ckpt}}"}},
        "4": {"class_type": "Sampler", "inputs": {"steps": "{{flag}}"}}
    }));
    let mut t = t;
    t.params.get_mut("flag").unwrap().ty = ParamType::Boolean;
    t.origins.get_mut("flag").unwrap().declared.ty = Some(ParamType::Boolean);
    let report = t.check(&catalog());
    let p = report.problems.iter().find(|p| p.input.as_deref() == Some("steps")).unwrap();
    assert_eq!(p.severity, Severity::Warning);
}

#[test]
fn optional_parameters_without_value_remove_their_input() {
    let t = template(json!({
        "__metadata__": {"parameters": {"note": {"required": false}}},
        "1": {"class_type": "Sampler", "inputs": {"note": "{{note}}", "text": "a{{note}}b"}}
    }));
    let r = t.render(&RenderRequest::new(Map::new())).unwrap();
    let node = r.workflow.node("1").unwrap();
    assert!(!node.inputs.contains_key("note"));
    assert_eq!(node.inputs["text"].to_json(), json!("ab"));
    assert!(r.params.is_empty());
    let r = t.render(&RenderRequest::new(values(json!({"note": "N"})))).unwrap();
    assert_eq!(r.workflow.node("1").unwrap().inputs["note"].to_json(), json!("N"));
}

#[test]
fn null_means_not_set() {
    let t = template(json!({
        "__metadata__": {"parameters": {"steps": {"type": "integer", "default": 20}}},
        "1": {"class_type": "Sampler", "inputs": {"steps": "{{steps}}"}}
    }));
    let r = t.render(&RenderRequest::new(values(json!({"steps": null})))).unwrap();
    assert_eq!(r.params["steps"], json!(20));
    assert_eq!(r.sources["steps"], ValueSource::Template);
}

#[test]
fn interpolation_formats_numbers_and_booleans_as_json_text() {
    let t = template(json!({
        "__metadata__": {"parameters": {"n": {"type": "number"}, "b": {"type": "boolean"}, "i": {"type": "integer"}}},
        "1": {"class_type": "X", "inputs": {"t": "n={{n}} b={{ b }} i={{i}} again {{n}}"}}
    }));
    let r = t.render(&RenderRequest::new(values(json!({"n": "1.5", "b": 0, "i": "7"})))).unwrap();
    assert_eq!(r.workflow.node("1").unwrap().inputs["t"].to_json(), json!("n=1.5 b=false i=7 again 1.5"));
}

#[test]
fn a_seed_with_an_empty_range_is_an_error_not_a_panic() {
    let mut t = template(json!({"1": {"class_type": "X", "inputs": {"seed": "{{seed}}"}}}));
    let seed = t.params.get_mut("seed").unwrap();
    seed.minimum = Some(10.0);
    seed.maximum = Some(5.0);
    let e = t.render(&RenderRequest::new(Map::new())).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { ref param, .. } if param == "seed"), "{e}");
    t.params.get_mut("seed").unwrap().minimum = Some(f64::NAN);
    assert!(t.render(&RenderRequest::new(Map::new())).is_err());
}

#[test]
fn schema_marks_random_seeds_and_skips_odd_steps() {
    let t = template(sampler_graph(json!({"seed": "{{seed}}", "cfg": "{{cfg}}"}))).enriched(&catalog());
    let s = t.json_schema();
    assert_eq!(s["properties"]["seed"]["maximum"], json!(u64::MAX));
    assert!(s["properties"]["seed"]["description"].as_str().unwrap().contains("Random when omitted"));
    assert!(s["properties"]["cfg"].get("multipleOf").is_none());
    assert_eq!(s["required"], json!([]));
}

#[test]
fn a_seed_declared_required_is_not_drawn_at_random() {
    let t = template(json!({
        "__metadata__": {"parameters": {"seed": {"required": true}}},
        "1": {"class_type": "Sampler", "inputs": {"seed": "{{seed}}"}}
    }))
    .enriched(&catalog());
    assert!(t.param("seed").unwrap().is_seed);
    let e = t.render(&RenderRequest::new(Map::new())).unwrap_err();
    assert!(matches!(e, Error::InvalidParameter { ref param, .. } if param == "seed"), "{e}");
    let r = t.render(&RenderRequest::new(values(json!({"seed": 3})))).unwrap();
    assert!(r.random_seeds.is_empty());
}

/// An editor (UI) template: `{{prompt}}` and `PARAM_INT_STEPS` widget values.
fn ui_template() -> Value {
    json!({
        "nodes": [
            {"id": 1, "type": "Loader", "mode": 0, "inputs": [], "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1]}],
             "widgets_values": ["{{image}}", "image", "model.safetensors"]},
            {"id": 2, "type": "Sampler", "mode": 0, "title": "Main",
             "inputs": [{"name": "model", "type": "MODEL", "link": 1}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}],
             "widgets_values": [5, "fixed", "PARAM_INT_STEPS", 7.5, "euler", "a {{subject}} in {red|blue}", false]},
            {"id": 3, "type": "Save", "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 2}], "outputs": [],
             "widgets_values": ["out"]}
        ],
        "links": [[1, 1, 0, 2, 0, "MODEL"], [2, 2, 0, 3, 0, "IMAGE"]],
        "version": 0.4
    })
}

#[test]
fn ui_templates_wait_for_the_catalogue_then_keep_their_placeholders() {
    let e = Template::from_value("ui", ui_template()).unwrap_err();
    assert_eq!(e.code(), "invalid_template");
    assert!(e.to_string().contains("once the node catalogue is known"), "{e}");

    let t = Template::from_parts_with("ui", ui_template(), None, Some(&catalog())).unwrap();
    let names: Vec<&str> = t.params.keys().map(String::as_str).collect();
    assert_eq!(names, ["image", "steps", "subject"]);
    let sampler = t.workflow.node("2").unwrap();
    // Kept verbatim: not annotated, no dynamic-prompt choice made inside the placeholder text.
    assert_eq!(t.workflow.node("1").unwrap().inputs["image"].to_json(), json!("{{image}}"));
    assert_eq!(sampler.inputs["text"].to_json(), json!("a {{subject}} in {red|blue}"));
    assert_eq!(sampler.title(), Some("Main"));
    let rendered = t
        .render(&RenderRequest::new(values(json!({"image": "cat.png", "steps": 9, "subject": "fox"}))))
        .unwrap();
    let node = rendered.workflow.node("2").unwrap();
    assert_eq!(node.inputs["steps"].to_json(), json!(9));
    assert_eq!(node.inputs["text"].to_json(), json!("a fox in {red|blue}"));
}

#[test]
fn ui_templates_with_unknown_classes_fail_for_that_file_only() {
    let mut doc = ui_template();
    doc["nodes"][2]["type"] = json!("NoSuchSave");
    let e = Template::from_parts_with("ui", doc, None, Some(&catalog())).unwrap_err();
    assert_eq!(e.code(), "invalid_template");
    assert!(e.to_string().contains("NoSuchSave"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.json"), ui_template().to_string()).unwrap();
    let mut bad = ui_template();
    bad["nodes"][0]["type"] = json!("Missing");
    std::fs::write(dir.path().join("bad.json"), bad.to_string()).unwrap();
    std::fs::write(dir.path().join("cut.json"), &ui_template().to_string()[..40]).unwrap();
    let without = TemplateLibrary::load(dir.path()).unwrap();
    assert!(without.get("good").is_err());
    let lib = TemplateLibrary::load_with(dir.path(), Some(&catalog())).unwrap();
    assert!(lib.get("good").is_ok());
    let errors: Vec<String> = lib.errors().iter().map(|(p, e)| format!("{}: {e}", p.display())).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("bad.json") && e.contains("Missing")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("cut.json") && e.contains("line")), "{errors:?}");
}
