//! Finding the placeholders of a workflow: which parameters exist and where each one goes.

use indexmap::IndexMap;
use serde_json::Value;

use super::metadata::invalid;
use super::placeholder::{find_curly, residue, whole_placeholder};
use super::{Binding, ParamType};
use crate::error::Result;
use crate::workflow::{Input, NodeId, Workflow};

/// The parameters a graph uses, in order of first appearance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scan {
    /// Name → bindings.
    pub bindings: IndexMap<String, Vec<Binding>>,
    /// Name → type declared in the graph (`PARAM_INT_...`) and the first place declaring it.
    pub graph_types: IndexMap<String, (ParamType, NodeId, String)>,
}

impl Scan {
    fn add(&mut self, template: &str, name: &str, binding: Binding, ty: Option<ParamType>) -> Result<()> {
        if let Some(ty) = ty {
            match self.graph_types.get(name) {
                Some((first, node, input)) if *first != ty => {
                    return Err(invalid(
                        template,
                        format!(
                            "parameter {name:?} is declared {first} at node \"{node}\" input {input:?} and {ty} at \
                             node \"{}\" input {:?}; one parameter has one type, so rename one of them or \
                             use the same PARAM_<TYPE>_ prefix",
                            binding.node_id, binding.input
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    self.graph_types
                        .insert(name.to_owned(), (ty, binding.node_id.clone(), binding.input.clone()));
                }
            }
        }
        let list = self.bindings.entry(name.to_owned()).or_default();
        if !list.contains(&binding) {
            list.push(binding);
        }
        Ok(())
    }
}

/// Scans every input of every node. A placeholder in a link's node id is an error: links cannot
/// be parameterised.
pub(crate) fn scan(template: &str, workflow: &Workflow) -> Result<Scan> {
    let mut out = Scan::default();
    for (id, node) in workflow.nodes() {
        refuse_outside_inputs(template, id, &node.extra)?;
        for (input, value) in &node.inputs {
            let binding = |whole: bool| Binding { node_id: id.clone(), input: input.clone(), whole };
            match value {
                Input::Link(link) => {
                    if let Some(p) = residue(link.node.as_str()) {
                        return Err(invalid(
                            template,
                            format!(
                                "node \"{id}\" input {input:?}: the link's node id holds the placeholder {p:?}; \
                                 links cannot be parameterised, only literal values"
                            ),
                        ));
                    }
                }
                Input::Value(Value::String(s)) => {
                    if let Some((name, ty)) = whole_placeholder(s) {
                        out.add(template, &name, binding(true), ty)?;
                    } else {
                        for c in find_curly(s) {
                            out.add(template, c.name, binding(false), None)?;
                        }
                    }
                }
                Input::Value(nested) => {
                    // Inside lists and objects every string may hold placeholders; walk without recursion.
                    let mut stack = vec![nested];
                    while let Some(v) = stack.pop() {
                        match v {
                            Value::String(s) => {
                                if let Some((name, ty)) = whole_placeholder(s) {
                                    out.add(template, &name, binding(false), ty)?;
                                } else {
                                    for c in find_curly(s) {
                                        out.add(template, c.name, binding(false), None)?;
                                    }
                                }
                            }
                            Value::Array(items) => stack.extend(items.iter().rev()),
                            Value::Object(map) => stack.extend(map.values().rev()),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Placeholders only work in `inputs`: one anywhere else in a node (but its `_meta` title) would
/// silently stay in the submitted graph, so it is an error (often a misspelt `inputs`).
fn refuse_outside_inputs(template: &str, id: &NodeId, extra: &serde_json::Map<String, Value>) -> Result<()> {
    for (key, value) in extra.iter().filter(|(k, _)| k.as_str() != "_meta") {
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => {
                    if let Some(p) = residue(s) {
                        let hint = if key.eq_ignore_ascii_case("inputs")
                            || crate::suggest::closest(key, ["inputs"], 1).len() == 1
                        {
                            " (a misspelling of \"inputs\"?)"
                        } else {
                            ""
                        };
                        return Err(invalid(
                            template,
                            format!(
                                "node \"{id}\" field {key:?}{hint} holds the placeholder {p:?}; placeholders only work \
                                 in a node's \"inputs\""
                            ),
                        ));
                    }
                }
                Value::Array(items) => stack.extend(items.iter()),
                Value::Object(map) => stack.extend(map.values()),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wf(text: &str) -> Workflow {
        Workflow::from_json_str(text).unwrap()
    }

    #[test]
    fn placeholders_outside_inputs_are_refused() {
        // Found by fuzzing: a misspelt "inputs" kept its placeholders in the rendered graph.
        let w = wf(r#"{"1": {"class_type": "A", "inpuTs": {"x": "{{n}}"}}}"#);
        let e = scan("t", &w).unwrap_err().to_string();
        assert!(e.contains("\"inpuTs\"") && e.contains("misspelling"), "{e}");
        let w = wf(r#"{"1": {"class_type": "A", "x-extra": ["PARAM_INT_SEED"]}}"#);
        assert!(scan("t", &w).is_err());
        let w = wf(r#"{"1": {"class_type": "A", "inputs": {}, "_meta": {"title": "{{not a param}}"}}}"#);
        assert!(scan("t", &w).is_ok(), "titles are not scanned");
    }

    #[test]
    fn collects_every_style_and_binding() {
        let w = wf(r#"{
            "1": {"class_type": "A", "inputs": {"a": "{{x}}", "b": "PARAM_INT_SEED", "c": "pre {{x}} and {{ y }}"}},
            "2": {"class_type": "B", "inputs": {"s": "PARAM_INT_SEED", "l": {"__value__": ["{{z}}", "k {{y}}"]}}}
        }"#);
        let s = scan("t", &w).unwrap();
        let names: Vec<&str> = s.bindings.keys().map(String::as_str).collect();
        assert_eq!(names, ["x", "seed", "y", "z"]);
        assert_eq!(s.bindings["seed"].len(), 2);
        assert!(s.bindings["seed"].iter().all(|b| b.whole));
        assert_eq!(
            s.bindings["x"].iter().map(|b| (b.input.as_str(), b.whole)).collect::<Vec<_>>(),
            [("a", true), ("c", false)]
        );
        assert!(!s.bindings["z"][0].whole);
        assert_eq!(s.graph_types["seed"].0, ParamType::Integer);
    }

    #[test]
    fn conflicting_declared_types_name_both_places() {
        let w = wf(r#"{
            "1": {"class_type": "A", "inputs": {"a": "PARAM_INT_SIZE"}},
            "2": {"class_type": "B", "inputs": {"b": "PARAM_FLOAT_SIZE"}}
        }"#);
        let err = scan("t", &w).unwrap_err().to_string();
        assert!(err.contains("\"size\""), "{err}");
        assert!(err.contains("node \"1\" input \"a\"") && err.contains("node \"2\" input \"b\""), "{err}");
        // Untyped and typed uses of one name agree.
        let w = wf(r#"{"1": {"class_type": "A", "inputs": {"a": "PARAM_SIZE", "b": "PARAM_INT_SIZE"}}}"#);
        assert!(scan("t", &w).is_ok());
    }

    #[test]
    fn placeholders_in_links_are_refused() {
        let w = wf(r#"{"1": {"class_type": "A", "inputs": {"a": ["{{src}}", 0]}}}"#);
        let err = scan("t", &w).unwrap_err().to_string();
        assert!(err.contains("links cannot be parameterised"), "{err}");
    }
}
