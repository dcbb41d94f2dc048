//! Arbitrary template text and parameter values: parsing and rendering never panic, and a
//! successful render never leaves a placeholder in the graph.
#![no_main]

use comfy_core::template::{ParamDefaults, RenderRequest, Template};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // "<template JSON>\n---\n<values JSON object>"
    let (template_text, values_text) = text.split_once("\n---\n").unwrap_or((text, "{}"));
    let Ok(template) = Template::from_json_str("fuzz", template_text) else { return };
    let _ = template.json_schema();
    let values = match serde_json::from_str::<serde_json::Value>(values_text) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let defaults = ParamDefaults::default();
    if let Ok(rendered) = template.render(&RenderRequest { values, defaults: &defaults }) {
        for (id, node) in rendered.workflow.nodes() {
            for (name, input) in &node.inputs {
                let mut stack = vec![input.to_json()];
                while let Some(v) = stack.pop() {
                    match v {
                        serde_json::Value::String(s) => {
                            assert!(!is_placeholder(&s), "placeholder left in node {id} input {name}: {s:?}")
                        }
                        serde_json::Value::Array(a) => stack.extend(a),
                        serde_json::Value::Object(m) => stack.extend(m.into_iter().map(|(_, v)| v)),
                        _ => {}
                    }
                }
            }
        }
    }
});

/// `PARAM_<NAME>` as a whole value, or `{{ name }}` anywhere (the documented placeholder forms).
fn is_placeholder(s: &str) -> bool {
    let word = |t: &str| {
        let mut c = t.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    };
    if s.strip_prefix("PARAM_").is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return true;
    }
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        if let Some(end) = after.find("}}") {
            if word(after[..end].trim()) {
                return true;
            }
        }
        rest = after;
    }
    false
}
