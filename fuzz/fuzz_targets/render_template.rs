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
        let out = rendered.workflow.to_json_string();
        assert!(!out.contains("\"PARAM_"), "placeholder left: {out}");
    }
});
