//! What a workflow needs from a backend (its node classes, the models and other choices it
//! names), checked against a backend's catalogue; and one catalogue for the whole fleet.

use serde_json::{Map, Value};

use crate::catalog::{Catalog, InputKind};
use crate::workflow::Workflow;

/// Why `catalog` cannot run `workflow`: the first node class it lacks, or the first literal
/// choice (a checkpoint, a LoRA, a sampler) that is not among its options. `None`: it can.
/// Input-file choices (upload widgets) are not checked.
pub fn missing(workflow: &Workflow, catalog: &Catalog) -> Option<String> {
    for (id, node) in workflow.nodes() {
        let Some(def) = catalog.node(&node.class_type) else {
            return Some(format!("node class {} (node \"{}\")", node.class_type, id.as_str()));
        };
        for (name, input) in &node.inputs {
            let (Some(value), Some(declared)) = (input.as_value(), def.input(name)) else { continue };
            let InputKind::Combo { options, multiselect: false, .. } = &declared.kind else { continue };
            // Input files (uploaded since the catalogue was read) and remote lists are not
            // known from the catalogue.
            if declared.options.upload.is_some() || declared.options.remote {
                continue;
            }
            // A combo with no options (an empty model folder) still lacks the file named.
            if value.is_string() && !options.contains(value) {
                return Some(format!("{name} {value} (node \"{}\")", id.as_str()));
            }
        }
    }
    None
}

/// The union of several `/object_info` catalogues: every class of any of them (the first
/// definition wins) with the options of list-form combo inputs merged, so a workflow that runs
/// on some backend validates against the fleet.
pub fn merge(catalogs: &[Value]) -> Value {
    let mut merged = Map::new();
    for catalog in catalogs {
        let Some(classes) = catalog.as_object() else { continue };
        for (class, info) in classes {
            match merged.get_mut(class) {
                None => {
                    merged.insert(class.clone(), info.clone());
                }
                Some(existing) => merge_class(existing, info),
            }
        }
    }
    Value::Object(merged)
}

/// Adds `other`'s combo options to `into`'s (same class on two backends).
fn merge_class(into: &mut Value, other: &Value) {
    for section in ["required", "optional"] {
        let Some(inputs) =
            into.get_mut("input").and_then(|i| i.get_mut(section)).and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (name, spec) in inputs.iter_mut() {
            let theirs = other.get("input").and_then(|i| i.get(section)).and_then(|s| s.get(name));
            let (Some(ours), Some(theirs)) = (combo_options(spec), theirs.and_then(combo_options_ref)) else {
                continue;
            };
            for option in theirs {
                if !ours.contains(option) {
                    ours.push(option.clone());
                }
            }
        }
    }
}

/// The options list of a combo spec (`[[...], {...}]` or `["COMBO", {"options": [...]}]`).
fn combo_options(spec: &mut Value) -> Option<&mut Vec<Value>> {
    let parts = spec.as_array_mut()?;
    if parts.first().is_some_and(Value::is_array) {
        return parts.first_mut().and_then(Value::as_array_mut);
    }
    if parts.first().and_then(Value::as_str) == Some("COMBO") {
        return parts.get_mut(1)?.get_mut("options")?.as_array_mut();
    }
    None
}

fn combo_options_ref(spec: &Value) -> Option<&Vec<Value>> {
    let parts = spec.as_array()?;
    match parts.first()? {
        Value::Array(options) => Some(options),
        Value::String(s) if s == "COMBO" => parts.get(1)?.get("options")?.as_array(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn loader(files: &[&str]) -> Value {
        json!({"CheckpointLoaderSimple": {
            "input": {"required": {"ckpt_name": [files]}},
            "output": ["MODEL", "CLIP", "VAE"], "name": "CheckpointLoaderSimple",
            "output_node": false, "category": "loaders"
        }})
    }

    fn workflow(ckpt: &str) -> Workflow {
        Workflow::from_value(
            json!({"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}}}),
        )
        .unwrap()
    }

    #[test]
    fn a_missing_model_or_class_is_named() {
        let catalog = Catalog::from_value(&loader(&["a.safetensors"])).unwrap();
        assert_eq!(missing(&workflow("a.safetensors"), &catalog), None);
        let lacks = missing(&workflow("b.safetensors"), &catalog).unwrap();
        assert!(lacks.contains("b.safetensors"), "{lacks}");
        let other = Workflow::from_value(json!({"1": {"class_type": "Custom", "inputs": {}}})).unwrap();
        assert!(missing(&other, &catalog).unwrap().contains("Custom"));
    }

    #[test]
    fn merged_catalogues_offer_every_model() {
        let merged = merge(&[loader(&["a.safetensors"]), loader(&["b.safetensors", "a.safetensors"])]);
        let catalog = Catalog::from_value(&merged).unwrap();
        assert_eq!(missing(&workflow("a.safetensors"), &catalog), None);
        assert_eq!(missing(&workflow("b.safetensors"), &catalog), None);
        assert_eq!(
            merged["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn uploaded_input_files_are_not_checked() {
        let catalog = Catalog::from_value(&json!({"LoadImage": {
            "input": {"required": {"image": [["old.png"], {"image_upload": true}]}},
            "output": ["IMAGE", "MASK"], "name": "LoadImage", "output_node": false, "category": "image"
        }}))
        .unwrap();
        let workflow = Workflow::from_value(
            json!({"1": {"class_type": "LoadImage", "inputs": {"image": "uploaded-since.png"}}}),
        )
        .unwrap();
        assert_eq!(missing(&workflow, &catalog), None);
    }
}
