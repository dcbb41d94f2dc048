//! Putting values into a graph in one pass, and finding placeholders that are left.
//!
//! Substitution never re-reads what it inserted: a value that itself contains `{{x}}` is not
//! expanded (no template injection); the residue scan then refuses it.

use serde_json::Value;

use super::placeholder::{find_curly, residue, whole_placeholder};
use crate::workflow::{Input, Workflow};

/// What to put where a parameter's placeholder is.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot<'a> {
    /// This value.
    Value(&'a Value),
    /// Nothing: an optional parameter without a value. A whole-value input is removed from its
    /// node (the node's own default applies); interpolated text becomes empty; a placeholder
    /// inside a list or object becomes `null`.
    Absent,
    /// Leave the placeholder as it is.
    Keep,
}

/// A copy of `workflow` with every placeholder replaced as `lookup` says.
pub(crate) fn substitute<'a>(workflow: &Workflow, lookup: impl Fn(&str) -> Slot<'a>) -> Workflow {
    let mut out = workflow.clone();
    for (_, node) in out.nodes_mut() {
        let mut remove = Vec::new();
        for (name, input) in node.inputs.iter_mut() {
            let Input::Value(value) = input else { continue };
            if let Value::String(s) = value
                && let Some((param, _)) = whole_placeholder(s)
            {
                match lookup(&param) {
                    Slot::Value(v) => *value = v.clone(),
                    Slot::Absent => remove.push(name.clone()),
                    Slot::Keep => {}
                }
                continue;
            }
            substitute_nested(value, &lookup);
        }
        for name in remove {
            node.inputs.shift_remove(&name);
        }
    }
    out
}

/// Replaces placeholders in every string inside `value`, without recursion.
fn substitute_nested<'a>(value: &mut Value, lookup: &impl Fn(&str) -> Slot<'a>) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                let replacement = match whole_placeholder(s) {
                    Some((param, _)) => match lookup(&param) {
                        Slot::Value(x) => Some(x.clone()),
                        Slot::Absent => Some(Value::Null),
                        Slot::Keep => None,
                    },
                    None => interpolate(s, lookup).map(Value::String),
                };
                if let Some(r) = replacement {
                    *v = r;
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

/// The string with each known `{{name}}` replaced (strings as they are, other values as their
/// JSON text), or `None` when nothing changes.
fn interpolate<'a>(s: &str, lookup: &impl Fn(&str) -> Slot<'a>) -> Option<String> {
    let found = find_curly(s);
    if found.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut changed = false;
    for c in found {
        out.push_str(&s[last..c.range.start]);
        match lookup(c.name) {
            Slot::Value(Value::String(text)) => {
                out.push_str(text);
                changed = true;
            }
            Slot::Value(other) => {
                out.push_str(&other.to_string());
                changed = true;
            }
            Slot::Absent => changed = true,
            Slot::Keep => out.push_str(&s[c.range.clone()]),
        }
        last = c.range.end;
    }
    out.push_str(&s[last..]);
    changed.then_some(out)
}

/// The first placeholder left anywhere in the graph's inputs: `(node id, input, placeholder)`.
pub(crate) fn find_residue(workflow: &Workflow) -> Option<(String, String, String)> {
    for (id, node) in workflow.nodes() {
        for (name, input) in &node.inputs {
            let hit = match input {
                Input::Link(link) => residue(link.node.as_str()).map(str::to_owned),
                Input::Value(v) => residue_in(v),
            };
            if let Some(p) = hit {
                return Some((id.to_string(), name.clone(), p));
            }
        }
    }
    None
}

/// The first placeholder in any string inside `value` (object keys included), bounded in length.
fn residue_in(value: &Value) -> Option<String> {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some(p) = residue(s) {
                    return Some(bounded(p));
                }
            }
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Object(map) => {
                for (k, x) in map.iter().rev() {
                    if let Some(p) = residue(k) {
                        return Some(bounded(p));
                    }
                    stack.push(x);
                }
            }
            _ => {}
        }
    }
    None
}

fn bounded(p: &str) -> String {
    const MAX: usize = 80;
    if p.chars().count() <= MAX {
        p.to_owned()
    } else {
        let cut: String = p.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wf(v: Value) -> Workflow {
        Workflow::from_value(v).unwrap()
    }

    #[test]
    fn whole_interpolated_and_nested() {
        let w = wf(json!({"1": {"class_type": "A", "inputs": {
            "n": "{{n}}", "t": "a {{n}} b {{s}} {{ unknown }}", "l": {"__value__": ["{{n}}", "x{{s}}"]},
            "p": "PARAM_INT_N", "gone": "{{opt}}", "link": ["2", 0]
        }}, "2": {"class_type": "B", "inputs": {}}}));
        let n = json!(7);
        let s = json!("str");
        let out = substitute(&w, |name| match name {
            "n" => Slot::Value(&n),
            "s" => Slot::Value(&s),
            "opt" => Slot::Absent,
            _ => Slot::Keep,
        });
        let inputs = &out.node("1").unwrap().inputs;
        assert_eq!(inputs["n"].to_json(), json!(7));
        assert_eq!(inputs["p"].to_json(), json!(7));
        assert_eq!(inputs["t"].to_json(), json!("a 7 b str {{ unknown }}"));
        assert_eq!(inputs["l"].to_json(), json!({"__value__": [7, "xstr"]}));
        assert!(!inputs.contains_key("gone"));
        assert_eq!(inputs["link"].to_json(), json!(["2", 0]));
        assert_eq!(find_residue(&out), Some(("1".into(), "t".into(), "{{ unknown }}".into())));
    }

    #[test]
    fn inserted_values_are_not_expanded_again() {
        let w = wf(json!({"1": {"class_type": "A", "inputs": {"t": "say {{a}}", "u": "{{b}}"}}}));
        let a = json!("{{b}}");
        let b = json!("PARAM_INT_X");
        let out = substitute(&w, |name| match name {
            "a" => Slot::Value(&a),
            "b" => Slot::Value(&b),
            _ => Slot::Keep,
        });
        assert_eq!(out.node("1").unwrap().inputs["t"].to_json(), json!("say {{b}}"));
        assert_eq!(find_residue(&out).unwrap().2, "{{b}}");
    }

    #[test]
    fn residue_looks_everywhere_and_is_bounded() {
        let long = format!("PARAM_{}", "X".repeat(1000));
        let w =
            wf(json!({"1": {"class_type": "A", "inputs": {"ok": "fine", "deep": {"k": [[{"z": long}]]}}}}));
        let (node, input, p) = find_residue(&w).unwrap();
        assert_eq!((node.as_str(), input.as_str()), ("1", "deep"));
        assert!(p.chars().count() <= 81);
        let clean = wf(json!({"1": {"class_type": "A", "inputs": {"t": "{ no } PARAM_ x"}}}));
        assert_eq!(find_residue(&clean), None);
    }
}
