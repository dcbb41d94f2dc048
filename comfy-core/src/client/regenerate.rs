//! Making an asset again with changes: from the template and parameters recorded with its job
//! (re-rendered, never by editing the rendered graph), or, for a raw workflow, from the stored
//! graph with `node_id.input` overrides checked against the node catalogue.

use serde_json::{Map, Value};

use super::Comfy;
use crate::backend::JobRequest;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::store::{Asset, AssetId};
use crate::template::{ParamDefaults, RenderRequest, Rendered, Template};
use crate::validate::{Severity, ValidateOptions, validate_value};
use crate::workflow::Workflow;

/// What an asset was made from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A template rendered with these parameter values (drawn seeds included).
    Template {
        /// Template name.
        name: String,
        /// Every parameter value used.
        params: Map<String, Value>,
    },
    /// A raw API-format workflow, as submitted.
    Workflow(Value),
}

impl Comfy {
    /// The asset and what it was made from (its job's recorded template and parameters, or the
    /// submitted graph).
    pub async fn origin_of(&self, id: &AssetId) -> Result<(Asset, Origin)> {
        let asset = self.asset(id).await?;
        if let Some(name) = &asset.provenance.template {
            let params = match &asset.provenance.params {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            return Ok((asset.clone(), Origin::Template { name: name.clone(), params }));
        }
        let job = self.inner.store.get_job(&asset.job_id).await?;
        let workflow = job.and_then(|j| j.request.get("workflow").cloned()).filter(Value::is_object);
        match workflow {
            Some(w) => Ok((asset, Origin::Workflow(w))),
            None => Err(Error::InvalidArgument {
                argument: "asset_id".into(),
                message: format!(
                    "{id} came from job {} whose workflow was not recorded here (it was not submitted \
                     through this client); it cannot be regenerated",
                    asset.job_id
                ),
            }),
        }
    }
}

/// Re-renders `template` with the `stored` parameters, then `overrides`, then `seed` on top.
///
/// Fails with [`Error::InvalidParameter`] when an override names no parameter (with
/// suggestions), when the template has no seed parameter but `seed` is given (argument
/// `seed`), or when a stored value no longer fits the template (its schema changed since).
pub fn rerender(
    template: &Template,
    stored: &Map<String, Value>,
    overrides: &Map<String, Value>,
    seed: Option<u64>,
    defaults: &ParamDefaults,
) -> Result<Rendered> {
    for key in overrides.keys() {
        if template.param(key).is_none() {
            let close = crate::suggest::closest(key, template.params.keys().map(String::as_str), 3);
            let hint = crate::suggest::did_you_mean(&close);
            let valid: Vec<&str> = template.params.keys().take(40).map(String::as_str).collect();
            return Err(Error::InvalidParameter {
                template: template.name.clone(),
                param: key.clone(),
                message: format!("no such parameter{hint}; parameters: {}", valid.join(", ")),
            });
        }
    }
    let mut values = Map::new();
    for (name, value) in stored {
        if template.param(name).is_none() {
            return Err(Error::InvalidParameter {
                template: template.name.clone(),
                param: name.clone(),
                message: format!(
                    "the asset was made with this parameter, but the template no longer has it (the template \
                     changed since); run the template again with run_workflow instead (stored value {})",
                    crate::json::preview(value)
                ),
            });
        }
        values.insert(name.clone(), value.clone());
    }
    let mut from_call = std::collections::HashSet::new();
    for (k, v) in overrides {
        values.insert(k.clone(), v.clone());
        from_call.insert(k.clone());
    }
    if let Some(seed) = seed {
        let Some(spec) = template.params.values().find(|p| p.is_seed) else {
            return Err(Error::InvalidArgument {
                argument: "seed".into(),
                message: format!(
                    "template {:?} has no seed parameter; change its parameters with overrides instead",
                    template.name
                ),
            });
        };
        values.insert(spec.name.clone(), Value::from(seed));
        from_call.insert(spec.name.clone());
    }
    template.render(&RenderRequest::new(values).with_defaults(defaults)).map_err(|e| match e {
        Error::InvalidParameter { template, param, message } if !from_call.contains(&param) => {
            Error::InvalidParameter {
                template,
                message: format!(
                    "the stored value is no longer valid ({message}); the template changed since the asset \
                     was made: give a new value in overrides"
                ),
                param,
            }
        }
        other => other,
    })
}

/// The request for a re-rendered template, with its provenance.
pub fn rerender_request(rendered: Rendered) -> JobRequest {
    JobRequest::from_rendered(rendered)
}

/// The stored graph with `overrides` (`"node_id.input": value`) applied and the result checked
/// against the catalogue. An unknown node or input, or a value of the wrong type, fails with
/// [`Error::InvalidArgument`] naming `overrides.<key>` (with suggestions); other problems of the
/// graph fail with [`Error::Validation`].
pub fn override_workflow(
    workflow: &Value,
    overrides: &Map<String, Value>,
    catalog: &Catalog,
) -> Result<Workflow> {
    let mut graph = workflow.clone();
    let Some(nodes) = graph.as_object_mut() else {
        return Err(Error::workflow("workflow", "the stored workflow is not an object"));
    };
    let bad =
        |key: &str, message: String| Error::InvalidArgument { argument: format!("overrides.{key}"), message };
    for (key, value) in overrides {
        let Some((node_id, input)) = key.split_once('.').filter(|(n, i)| !n.is_empty() && !i.is_empty())
        else {
            return Err(bad(key, "address an input as \"<node id>.<input>\", e.g. \"3.seed\"".into()));
        };
        let ids: Vec<String> = nodes.keys().cloned().collect();
        let Some(node) = nodes.get_mut(node_id) else {
            let close = crate::suggest::closest(node_id, ids.iter().map(String::as_str), 3);
            let hint = crate::suggest::did_you_mean(&close);
            return Err(bad(
                key,
                format!("the workflow has no node {node_id:?}{hint}; nodes: {}", ids.join(", ")),
            ));
        };
        let class = node.get("class_type").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(def) = catalog.node(&class)
            && def.input(input).is_none()
        {
            let names: Vec<&str> = def.inputs.iter().map(|i| i.name.as_str()).collect();
            let close = crate::suggest::closest(input, names.iter().copied(), 3);
            let hint = crate::suggest::did_you_mean(&close);
            return Err(bad(
                key,
                format!(
                    "node {node_id:?} ({class}) has no input {input:?}{hint}; inputs: {}",
                    names.join(", ")
                ),
            ));
        }
        if value.is_array() {
            return Err(bad(
                key,
                "overrides set widget values; links ([node, slot]) cannot be overridden".into(),
            ));
        }
        match node.get_mut("inputs").and_then(Value::as_object_mut) {
            Some(inputs) => {
                inputs.insert(input.to_owned(), value.clone());
            }
            None => {
                node.as_object_mut().map(|n| {
                    n.insert(
                        "inputs".into(),
                        Value::Object(Map::from_iter([(input.to_owned(), value.clone())])),
                    )
                });
            }
        }
    }
    let report = validate_value(&graph, catalog, &ValidateOptions::default());
    if !report.is_ok() {
        for key in overrides.keys() {
            let Some((node_id, input)) = key.split_once('.') else { continue };
            if let Some(p) = report.problems.iter().find(|p| {
                p.severity == Severity::Error
                    && p.node_id.as_ref().is_some_and(|n| n.0 == node_id)
                    && p.input.as_deref() == Some(input)
            }) {
                let hint = crate::suggest::did_you_mean(&p.suggestions);
                return Err(bad(key, format!("{}{hint}", p.message)));
            }
        }
        return Err(Error::Validation(Box::new(report)));
    }
    Workflow::from_value(graph)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::template::TemplateLibrary;

    fn catalog() -> Catalog {
        Catalog::from_value(&json!({
            "EmptyImage": {"input": {"required": {
                "width": ["INT", {"default": 512, "min": 1, "max": 4096}],
                "height": ["INT", {"default": 512, "min": 1, "max": 4096}],
                "batch_size": ["INT", {"default": 1, "min": 1, "max": 64}],
                "color": ["INT", {"default": 0, "min": 0, "max": 16777215}]}},
                "output": ["IMAGE"], "output_is_list": [false], "output_name": ["IMAGE"], "name": "EmptyImage",
                "display_name": "EmptyImage", "description": "", "category": "image", "output_node": false},
            "SaveImage": {"input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}},
                "output": [], "output_is_list": [], "output_name": [], "name": "SaveImage",
                "display_name": "Save Image", "description": "", "category": "image", "output_node": true}
        }))
        .unwrap()
    }

    fn graph() -> Value {
        json!({
            "1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}
        })
    }

    #[test]
    fn raw_overrides_are_applied_and_type_checked() {
        let c = catalog();
        let o = |k: &str, v: Value| Map::from_iter([(k.to_owned(), v)]);
        let w = override_workflow(&graph(), &o("1.width", json!(64)), &c).unwrap();
        assert_eq!(w.to_value()["1"]["inputs"]["width"], 64);
        let field = |e: Error| match e {
            Error::InvalidArgument { argument, message } => (argument, message),
            other => panic!("{other:?}"),
        };
        let (f, m) = field(override_workflow(&graph(), &o("1.widht", json!(64)), &c).unwrap_err());
        assert_eq!(f, "overrides.1.widht");
        assert!(m.contains("did you mean width"), "{m}");
        let (_, m) = field(override_workflow(&graph(), &o("9.width", json!(64)), &c).unwrap_err());
        assert!(m.contains("no node \"9\""), "{m}");
        let (f, m) = field(override_workflow(&graph(), &o("1.width", json!("wide")), &c).unwrap_err());
        assert_eq!(f, "overrides.1.width");
        assert!(!m.is_empty());
        let (_, m) = field(override_workflow(&graph(), &o("1.width", json!(99999)), &c).unwrap_err());
        assert!(m.contains("4096"), "{m}");
        assert!(override_workflow(&graph(), &o("width", json!(1)), &c).is_err());
        assert!(override_workflow(&graph(), &o("2.images", json!(["1", 0])), &c).is_err());
    }

    #[test]
    fn rerender_uses_stored_params_overrides_and_seed() {
        let lib = TemplateLibrary::builtin();
        let t = lib.get("generate_image").unwrap();
        let stored: Map<String, Value> = serde_json::from_value(json!({
            "prompt": "a fox", "ckpt_name": "m.safetensors", "seed": 7, "steps": 12
        }))
        .unwrap();
        let d = ParamDefaults::default();
        let r = rerender(&t, &stored, &Map::new(), None, &d).unwrap();
        assert_eq!((r.params["seed"].clone(), r.params["steps"].clone()), (json!(7), json!(12)));
        let over: Map<String, Value> = serde_json::from_value(json!({"steps": 20})).unwrap();
        let r = rerender(&t, &stored, &over, Some(99), &d).unwrap();
        assert_eq!((r.params["seed"].clone(), r.params["steps"].clone()), (json!(99), json!(20)));
        assert_eq!(r.params["prompt"], "a fox");

        let typo: Map<String, Value> = serde_json::from_value(json!({"stepz": 20})).unwrap();
        match rerender(&t, &stored, &typo, None, &d).unwrap_err() {
            Error::InvalidParameter { param, message, .. } => {
                assert_eq!(param, "stepz");
                assert!(message.contains("did you mean steps"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let mut old = stored.clone();
        old.insert("removed_param".into(), json!(1));
        let e = rerender(&t, &old, &Map::new(), None, &d).unwrap_err();
        assert!(e.to_string().contains("no longer has it"), "{e}");
        let mut bad = stored.clone();
        bad.insert("steps".into(), json!("many"));
        let e = rerender(&t, &bad, &Map::new(), None, &d).unwrap_err();
        assert!(e.to_string().contains("stored value is no longer valid"), "{e}");
    }
}
