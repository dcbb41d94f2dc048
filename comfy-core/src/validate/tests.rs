use serde_json::{Value, json};

use super::*;
use crate::Catalog;

fn catalog() -> Catalog {
    Catalog::from_value(&json!({
        "EmptyImage": {"input": {"required": {
            "width": ["INT", {"default": 512, "min": 1, "max": 16384}],
            "height": ["INT", {"default": 512, "min": 1, "max": 16384}]}},
            "output": ["IMAGE"], "output_node": false},
        "SolidMask": {"input": {"required": {"value": ["FLOAT", {"min": 0.0, "max": 1.0}]}}, "output": ["MASK"]},
        "Blend": {"input": {"required": {"image": ["IMAGE,MASK"], "mode": [["normal", "multiply", "screen"]],
                   "flag": ["BOOLEAN"], "label": ["STRING"], "seed": ["INT", {"min": 0, "max": 18446744073709551615u64}]},
                   "optional": {"extra": ["*"]}}, "output": ["IMAGE"]},
        "Codec": {"input": {"required": {"images": ["IMAGE"], "codec": ["COMBO", {"options": ["vp9", "av1"]}]}},
                  "output": [], "output_node": true},
        "LoadImage": {"input": {"required": {"image": [["a.png"], {"image_upload": true}]}}, "output": ["IMAGE", "MASK"]},
        "SaveImage": {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_node": true},
        "Preview": {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_node": true}
    }))
    .unwrap()
}

fn check(wf: Value) -> ValidationReport {
    validate_value(&wf, &catalog(), &ValidateOptions::default())
}

fn only_error(report: &ValidationReport) -> &Problem {
    let errors: Vec<_> = report.errors().collect();
    assert_eq!(errors.len(), 1, "{report:#?}");
    errors[0]
}

fn base() -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}
    })
}

#[test]
fn a_clean_workflow_passes() {
    let r = check(base());
    assert!(r.is_ok(), "{r:#?}");
    assert!(r.problems.is_empty());
    assert_eq!(r.runnable_outputs, vec![NodeId::from("2")]);
    assert!(r.comfyui_would_queue());
    assert!(r.into_result().is_ok());
}

#[test]
fn unknown_class_with_suggestion() {
    let mut wf = base();
    wf["2"]["class_type"] = json!("SaveImg");
    let r = check(wf);
    let p = r.errors().find(|p| p.code == ProblemCode::UnknownClass).unwrap();
    assert_eq!(p.node_id.as_ref().unwrap().as_str(), "2");
    assert_eq!(p.suggestions[0], "SaveImage");
    assert!(!r.comfyui_would_queue());
}

#[test]
fn missing_required_input_suggests_the_typo() {
    let r = check(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"widht": 64, "height": 64}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}
    }));
    let p = only_error(&r);
    assert_eq!(p.code, ProblemCode::RequiredInputMissing);
    assert_eq!(p.input.as_deref(), Some("width"));
    assert_eq!(p.suggestions, ["widht"]);
    let w = r.warnings().find(|p| p.code == ProblemCode::UnknownInput).unwrap();
    assert_eq!(w.suggestions, ["width"]);
    assert_eq!(p.dependent_outputs, vec![NodeId::from("2")]);
}

#[test]
fn link_problems() {
    let mut wf = base();
    wf["2"]["inputs"]["images"] = json!(["7", 0]);
    assert_eq!(only_error(&check(wf)).code, ProblemCode::LinkToMissingNode);

    let mut wf = base();
    wf["2"]["inputs"]["images"] = json!(["1", 3]);
    let r = check(wf);
    let p = only_error(&r);
    assert_eq!(p.code, ProblemCode::LinkBadOutputIndex);
    assert!(p.message.contains("has 1 output (0: IMAGE)"), "{}", p.message);

    let mut wf = base();
    wf["2"]["inputs"]["images"] = json!(["1", 0, 0]);
    assert_eq!(only_error(&check(wf)).code, ProblemCode::BadLinkedInput);

    let mut wf = base();
    wf["2"]["inputs"]["images"] = json!([1, 0]);
    assert_eq!(only_error(&check(wf)).code, ProblemCode::BadLinkedInput);
}

#[test]
fn type_mismatch_honours_unions_and_wildcards() {
    let mut wf = base();
    wf["3"] = json!({"class_type": "SolidMask", "inputs": {"value": 1.0}});
    wf["2"]["inputs"]["images"] = json!(["3", 0]);
    let r = check(wf.clone());
    let p = only_error(&r);
    assert_eq!(p.code, ProblemCode::ReturnTypeMismatch);
    assert!(p.message.contains("expects IMAGE") && p.message.contains("MASK"), "{}", p.message);

    // A MASK into an "IMAGE,MASK" union and anything into "*" are fine.
    wf["4"] = json!({"class_type": "Blend", "inputs": {"image": ["3", 0], "mode": "normal", "flag": true,
                      "label": "x", "seed": 5, "extra": ["3", 0]}});
    wf["2"]["inputs"]["images"] = json!(["4", 0]);
    assert!(check(wf).is_ok());
}

#[test]
fn literal_conversion_follows_comfyui() {
    let mut wf = base();
    wf["1"]["inputs"]["width"] = json!("sixty-four");
    let r = check(wf);
    let p = only_error(&r);
    assert_eq!(p.code, ProblemCode::InvalidInputType);
    assert!(p.message.contains("invalid literal for int()"), "{}", p.message);

    let mut wf = base();
    wf["1"]["inputs"]["width"] = json!("64");
    let r = check(wf);
    assert!(r.is_ok());
    assert_eq!(r.warnings().next().unwrap().code, ProblemCode::CoercedValue);

    let mut wf = base();
    wf["1"]["inputs"]["width"] = json!({"a": 1});
    assert_eq!(only_error(&check(wf)).code, ProblemCode::InvalidInputType);
}

#[test]
fn bounds_are_exact_even_for_u64_seeds() {
    let mut wf = base();
    wf["1"]["inputs"]["width"] = json!(0);
    assert_eq!(only_error(&check(wf)).code, ProblemCode::ValueSmallerThanMin);
    let mut wf = base();
    wf["1"]["inputs"]["height"] = json!(100000);
    let r = check(wf);
    let p = only_error(&r);
    assert_eq!(p.code, ProblemCode::ValueBiggerThanMax);
    assert!(p.message.contains("16384"));

    let blend = |seed: Value| {
        json!({"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}},
               "4": {"class_type": "Blend", "inputs": {"image": ["1", 0], "mode": "normal", "flag": true, "label": "x", "seed": seed}},
               "2": {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}}})
    };
    assert!(check(blend(json!(18446744073709551615u64))).is_ok());
    assert_eq!(only_error(&check(blend(json!(-1)))).code, ProblemCode::ValueSmallerThanMin);
    assert_eq!(only_error(&check(blend(json!(1.9e19)))).code, ProblemCode::ValueBiggerThanMax);
}

#[test]
fn combo_values_with_suggestions_v1_and_v3() {
    let wf = json!({"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}},
        "4": {"class_type": "Blend", "inputs": {"image": ["1", 0], "mode": "multiplyy", "flag": false, "label": "", "seed": 1}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}},
        "5": {"class_type": "Codec", "inputs": {"images": ["1", 0], "codec": "mpeg2"}}});
    let r = check(wf);
    let codes: Vec<_> = r.errors().map(|p| (p.node_id.clone().unwrap().0, p.code)).collect();
    assert_eq!(codes, [("4".into(), ProblemCode::ValueNotInList), ("5".into(), ProblemCode::ValueNotInList)]);
    let first = r.errors().next().unwrap();
    assert_eq!(first.suggestions, ["multiply"]);
    assert!(r.errors().nth(1).unwrap().message.contains("fail when the node runs"));
    // Only node 5's output is blocked by its own error; 2 is blocked by node 4.
    assert!(r.runnable_outputs.is_empty());
}

#[test]
fn upload_combos_accept_known_and_subfolder_files() {
    let wf = |image: &str| {
        json!({"1": {"class_type": "LoadImage", "inputs": {"image": image}},
               "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}})
    };
    assert!(check(wf("a.png")).is_ok());
    assert!(check(wf("clipspace/mask.png [input]")).is_ok());
    let r = check(wf("new.png"));
    assert!(only_error(&r).message.contains("upload it"));
    let opts = ValidateOptions { input_files: vec!["new.png".into()], ..Default::default() };
    assert!(validate_value(&wf("new.png"), &catalog(), &opts).is_ok());
}

#[test]
fn literal_for_a_link_only_input() {
    let mut wf = base();
    wf["2"]["inputs"]["images"] = json!("picture.png");
    assert_eq!(only_error(&check(wf)).code, ProblemCode::LiteralForLinkInput);
}

#[test]
fn no_output_node_and_empty_workflow() {
    let r = check(json!({"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}));
    assert_eq!(only_error(&r).code, ProblemCode::NoOutputNode);
    assert!(!r.comfyui_would_queue());
    assert_eq!(only_error(&check(json!({}))).code, ProblemCode::NoOutputNode);
}

#[test]
fn cycle_is_an_error_naming_its_nodes() {
    let r = check(json!({
        "1": {"class_type": "Blend", "inputs": {"image": ["3", 0], "mode": "normal", "flag": true, "label": "", "seed": 0}},
        "3": {"class_type": "Blend", "inputs": {"image": ["1", 0], "mode": "normal", "flag": true, "label": "", "seed": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}
    }));
    let p = only_error(&r);
    assert_eq!(p.code, ProblemCode::Cycle);
    assert!(p.message.contains('1') && p.message.contains('3'));
    assert!(r.runnable_outputs.is_empty());
}

#[test]
fn problems_in_unused_nodes_are_warnings() {
    let mut wf = base();
    wf["9"] = json!({"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8}});
    let r = check(wf);
    assert!(r.is_ok(), "{r:#?}");
    let codes: Vec<_> = r.warnings().map(|p| p.code).collect();
    assert!(codes.contains(&ProblemCode::ValueSmallerThanMin));
    assert!(codes.contains(&ProblemCode::UnusedNode));
}

#[test]
fn partial_outputs_validate_only_what_runs() {
    let wf = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
        "3": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8}},
        "4": {"class_type": "Preview", "inputs": {"images": ["3", 0]}}
    });
    let all = check(wf.clone());
    assert!(!all.is_ok());
    assert_eq!(all.runnable_outputs, vec![NodeId::from("2")]);
    assert!(all.comfyui_would_queue(), "ComfyUI queues the valid output");
    let opts = ValidateOptions { outputs: Some(vec!["2".into(), "1".into()]), ..Default::default() };
    let only2 = validate_value(&wf, &catalog(), &opts);
    assert!(only2.is_ok(), "{only2:#?}");
    assert!(only2.warnings().any(|p| p.code == ProblemCode::InvalidOutputTarget));
}

#[test]
fn structural_problems_are_per_node_and_all_reported() {
    let r = check(json!({
        "1": {"inputs": {}},
        "2": {"class_type": "SaveImage", "inputs": 5},
        "3": {"class_type": "NoSuch", "inputs": {}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}
    }));
    let nodes: Vec<_> = r.errors().map(|p| p.node_id.clone().unwrap().0).collect();
    for n in ["1", "2", "3", "4"] {
        assert!(nodes.contains(&n.to_string()), "{n} missing: {r:#?}");
    }
    let ui = check(json!({"nodes": [], "links": []}));
    assert_eq!(only_error(&ui).code, ProblemCode::UiFormatWorkflow);
    assert!(!check(json!([1, 2])).is_ok());
}

#[test]
fn report_summary_and_error_conversion() {
    let mut wf = base();
    wf["1"]["inputs"]["width"] = json!(0);
    let err = check(wf).into_result().unwrap_err();
    assert_eq!(err.code(), "validation_failed");
    let text = err.to_string();
    assert!(text.contains("node \"1\" (EmptyImage) input \"width\""), "{text}");
    assert!(text.contains("[value_smaller_than_min]"), "{text}");
    let json = serde_json::to_value(match err {
        crate::Error::Validation(r) => r,
        _ => unreachable!(),
    })
    .unwrap();
    assert_eq!(json["problems"][0]["code"], "value_smaller_than_min");
    assert_eq!(json["problems"][0]["severity"], "error");
}
