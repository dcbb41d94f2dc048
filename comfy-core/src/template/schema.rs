//! The JSON Schema of a template's parameters (usable as an MCP tool's `inputSchema`).

use serde_json::{Map, Number, Value, json};

use super::{ParamSpec, ParamType, Template};

/// The JSON Schema dialect we emit.
pub const SCHEMA_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

impl Template {
    /// A JSON Schema (draft 2020-12) for the parameters: an object with one property per
    /// parameter (`type`, `description`, `default`, `minimum`, `maximum`, `multipleOf`, `enum`),
    /// the required ones listed in `required`, and `additionalProperties: false`.
    ///
    /// It describes exactly what [`Template::render`] accepts without coercion. Enrich the
    /// template first ([`Template::enrich`]) to include what the node catalogue knows.
    pub fn json_schema(&self) -> Value {
        let properties: Map<String, Value> =
            self.params.values().map(|p| (p.name.clone(), property(p))).collect();
        json!({
            "$schema": SCHEMA_DIALECT,
            "title": self.name,
            "description": self.description,
            "type": "object",
            "properties": properties,
            "required": self.required_params().collect::<Vec<_>>(),
            "additionalProperties": false,
        })
    }
}

fn property(p: &ParamSpec) -> Value {
    let mut prop = Map::new();
    prop.insert("type".into(), json!(p.ty.as_str()));
    let mut description = p.description.clone().unwrap_or_default();
    if p.is_seed && !p.required && p.default.is_none() {
        if !description.is_empty() {
            description.push(' ');
        }
        description.push_str("Random when omitted.");
    }
    if !description.is_empty() {
        prop.insert("description".into(), json!(description));
    }
    if let Some(d) = &p.default {
        prop.insert("default".into(), d.clone());
    }
    // Integer bounds are published as integers; `as` saturates, so u64::MAX as f64 (2^64)
    // becomes u64::MAX, the bound ComfyUI declares for seeds.
    let bound = |f: f64| -> Option<Value> {
        let whole = p.ty == ParamType::Integer && f.fract() == 0.0;
        if whole && f >= i64::MIN as f64 && f < 0.0 {
            Some(Value::from(f as i64))
        } else if whole && f >= 0.0 {
            Some(Value::from(f as u64))
        } else {
            Number::from_f64(f).map(Value::Number)
        }
    };
    if matches!(p.ty, ParamType::Integer | ParamType::Number) {
        if let Some(v) = p.minimum.and_then(bound) {
            prop.insert("minimum".into(), v);
        }
        if let Some(v) = p.maximum.and_then(bound) {
            prop.insert("maximum".into(), v);
        }
        if let Some(v) = p.multiple_of().and_then(bound) {
            prop.insert("multipleOf".into(), v);
        }
    }
    if let Some(options) = &p.enum_values {
        prop.insert("enum".into(), Value::Array(options.clone()));
    }
    Value::Object(prop)
}
