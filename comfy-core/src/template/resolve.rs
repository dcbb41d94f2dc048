//! Building a [`ParamSpec`] from its sources, highest first: sidecar > `__metadata__` >
//! type declared in the graph (`PARAM_INT_...`) > node catalogue > inference.

use serde_json::Value;

use super::metadata::Declared;
use super::{Binding, ParamSpec, ParamType};
use crate::catalog::{Catalog, InputDef, InputKind};
use crate::json::Num;
use crate::workflow::Workflow;

/// What the catalogue says about the inputs a parameter is bound to (whole-value bindings).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CatalogFacts {
    pub ty: Option<ParamType>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub step: Option<f64>,
    pub default: Option<Value>,
    pub tooltip: Option<String>,
    pub multiline: bool,
    pub enum_values: Option<Vec<Value>>,
    pub seed: bool,
}

/// The declared input behind a binding, when its node's class and the input are known.
pub(crate) fn input_def<'c>(
    catalog: &'c Catalog,
    workflow: &Workflow,
    binding: &Binding,
) -> Option<&'c InputDef> {
    let node = workflow.node(binding.node_id.as_str())?;
    catalog.node(&node.class_type)?.input(&binding.input)
}

/// The parameter type that values of a catalogue input have, if it takes a literal.
pub(crate) fn kind_type(kind: &InputKind) -> Option<ParamType> {
    match kind {
        InputKind::Int => Some(ParamType::Integer),
        InputKind::Float => Some(ParamType::Number),
        InputKind::String => Some(ParamType::String),
        InputKind::Boolean => Some(ParamType::Boolean),
        InputKind::Combo { options, .. } => Some(combo_type(options)),
        InputKind::Connection { .. } => None,
    }
}

/// Combos of numbers take numbers; everything else (including empty combos) takes strings.
fn combo_type(options: &[Value]) -> ParamType {
    if !options.is_empty() && options.iter().all(Value::is_number) {
        if options.iter().all(|o| matches!(Num::from_value(o), Some(Num::Int(_)))) {
            ParamType::Integer
        } else {
            ParamType::Number
        }
    } else {
        ParamType::String
    }
}

impl CatalogFacts {
    /// Combines the facts of every whole-value binding: the first binding with a fact gives the
    /// type, step, default, description and choices; bounds are intersected.
    pub fn gather(catalog: &Catalog, workflow: &Workflow, bindings: &[Binding]) -> CatalogFacts {
        let mut facts = CatalogFacts::default();
        for def in bindings.iter().filter(|b| b.whole).filter_map(|b| input_def(catalog, workflow, b)) {
            let Some(ty) = kind_type(&def.kind) else { continue };
            let o = &def.options;
            facts.ty.get_or_insert(ty);
            if let Some(lo) = o.min.filter(|f| f.is_finite()) {
                facts.minimum = Some(facts.minimum.map_or(lo, |m| m.max(lo)));
            }
            if let Some(hi) = o.max.filter(|f| f.is_finite()) {
                facts.maximum = Some(facts.maximum.map_or(hi, |m| m.min(hi)));
            }
            if facts.step.is_none() {
                facts.step = o.step.filter(|s| s.is_finite() && *s > 0.0);
            }
            if facts.default.is_none() {
                facts.default = o.default.clone().filter(|d| ParamType::of_value(d).is_some());
            }
            if facts.tooltip.is_none() {
                facts.tooltip.clone_from(&o.tooltip);
            }
            facts.multiline |= o.multiline;
            facts.seed |= o.control_after_generate;
            // Upload and remote combos list whatever the server had when asked; the caller's own
            // (uploaded) file is valid too, so they are not closed choices.
            if facts.enum_values.is_none()
                && let InputKind::Combo { options, .. } = &def.kind
                && !options.is_empty()
                && o.upload.is_none()
                && !o.remote
            {
                facts.enum_values = Some(options.clone());
            }
        }
        facts
    }
}

/// Builds the spec of one parameter.
pub(crate) fn resolve(
    name: &str,
    declared: &Declared,
    graph_ty: Option<ParamType>,
    bindings: Vec<Binding>,
    catalog: Option<&CatalogFacts>,
) -> ParamSpec {
    let empty = CatalogFacts::default();
    let cat = catalog.unwrap_or(&empty);
    let seed_name = matches!(name, "seed" | "noise_seed");
    let ty = declared
        .ty
        .or(graph_ty)
        .or(cat.ty)
        .or(seed_name.then_some(ParamType::Integer))
        .or(declared.default.as_ref().and_then(ParamType::of_value))
        .or(declared.enum_values.as_ref().and_then(|e| e.first()).and_then(ParamType::of_value))
        .unwrap_or(ParamType::String);
    let is_seed = (cat.seed || seed_name) && ty == ParamType::Integer;
    // A seed's catalogue default is the editor's initial widget value, not a choice: seeds are
    // random unless someone gives a value. A parameter declared required uses no fallback either.
    let use_catalog_default = !is_seed && declared.required != Some(true);
    let default = declared.default.clone().or_else(|| cat.default.clone().filter(|_| use_catalog_default));
    let required = declared.required.unwrap_or(default.is_none() && !is_seed);
    ParamSpec {
        name: name.to_owned(),
        ty,
        required,
        default,
        minimum: declared.minimum.or(cat.minimum),
        maximum: declared.maximum.or(cat.maximum),
        step: declared.step.or(cat.step),
        enum_values: declared.enum_values.clone().or_else(|| cat.enum_values.clone()),
        description: declared.description.clone().or_else(|| cat.tooltip.clone()),
        multiline: cat.multiline,
        is_seed,
        bindings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inference_without_catalogue() {
        let d = Declared::default();
        let s = resolve("seed", &d, None, vec![], None);
        assert_eq!(s.ty, ParamType::Integer);
        assert!(s.is_seed && !s.required);
        let s = resolve("prompt", &d, None, vec![], None);
        assert_eq!(s.ty, ParamType::String);
        assert!(s.required);
        let with_default = Declared { default: Some(json!(1.5)), ..Declared::default() };
        let s = resolve("x", &with_default, None, vec![], None);
        assert_eq!(s.ty, ParamType::Number);
        assert!(!s.required);
    }

    #[test]
    fn declarations_beat_the_catalogue() {
        let cat = CatalogFacts {
            ty: Some(ParamType::Integer),
            minimum: Some(1.0),
            maximum: Some(10000.0),
            default: Some(json!(20)),
            tooltip: Some("catalogue".into()),
            ..CatalogFacts::default()
        };
        let d = Declared { maximum: Some(50.0), description: Some("mine".into()), ..Declared::default() };
        let s = resolve("steps", &d, None, vec![], Some(&cat));
        assert_eq!((s.minimum, s.maximum), (Some(1.0), Some(50.0)));
        assert_eq!(s.default, Some(json!(20)));
        assert_eq!(s.description.as_deref(), Some("mine"));
        assert!(!s.required);
    }

    #[test]
    fn seeds_ignore_the_catalogue_default_and_required_params_any_fallback() {
        let cat = CatalogFacts {
            ty: Some(ParamType::Integer),
            default: Some(json!(0)),
            seed: true,
            ..CatalogFacts::default()
        };
        let s = resolve("noise", &Declared::default(), None, vec![], Some(&cat));
        assert!(s.is_seed && !s.required && s.default.is_none());
        let req = Declared { required: Some(true), ..Declared::default() };
        let cat = CatalogFacts { default: Some(json!(20)), ..CatalogFacts::default() };
        let s = resolve("steps", &req, None, vec![], Some(&cat));
        assert!(s.required && s.default.is_none());
    }
}
