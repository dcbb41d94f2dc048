//! Checks tool arguments against the tool's input schema before anything runs, so every bad
//! call gets a precise tool error: the offending field, what is wrong, what would be valid.
//!
//! Covers the JSON Schema keywords our schemas use: `type`, `enum`, `const`, numeric bounds,
//! `multipleOf`, string and array lengths, `items`, `properties`, `required`,
//! `additionalProperties`, local `$ref`, `anyOf`/`oneOf`/`allOf`. Unknown keywords are ignored.

use serde_json::{Map, Value};

use crate::error::ToolError;

/// Deepest nesting checked; deeper values are refused rather than recursed into.
const MAX_DEPTH: usize = 64;

/// Checks `value` against `schema` (the root, which holds `$defs`).
pub fn check(schema: &Map<String, Value>, value: &Value) -> Result<(), ToolError> {
    check_with(&Value::Object(schema.clone()), value)
}

/// [`check`] against a schema already held as a JSON value (the registry keeps one per tool,
/// so a call does not copy its schema).
pub fn check_with(schema: &Value, value: &Value) -> Result<(), ToolError> {
    check_at(schema, schema, value, "", 0)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn field_name(path: &str) -> String {
    if path.is_empty() { "arguments".to_owned() } else { path.to_owned() }
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..8 {
        let Some(r) = current.get("$ref").and_then(Value::as_str) else { break };
        let Some(pointer) = r.strip_prefix('#') else { break };
        match root.pointer(pointer) {
            Some(target) => current = target,
            None => break,
        }
    }
    current
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "an integer from 1 to 200", "a string of at most 64 characters", "one of [a, b]".
pub fn describe(schema: &Value) -> String {
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        let shown: Vec<String> = options.iter().take(20).map(|o| o.to_string()).collect();
        let more =
            if options.len() > 20 { format!(", … {} more", options.len() - 20) } else { String::new() };
        return format!("one of [{}{more}]", shown.join(", "));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => vec![],
    };
    let mut text = types
        .iter()
        .map(|t| match *t {
            "integer" => "an integer",
            "number" => "a number",
            "string" => "a string",
            "boolean" => "a boolean",
            "object" => "an object",
            "array" => "an array",
            _ => "a value",
        })
        .collect::<Vec<_>>()
        .join(" or ");
    if text.is_empty() {
        text = "a value".into();
    }
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    match (num("minimum"), num("maximum")) {
        (Some(lo), Some(hi)) => text.push_str(&format!(" from {lo} to {hi}")),
        (Some(lo), None) => text.push_str(&format!(" of at least {lo}")),
        (None, Some(hi)) => text.push_str(&format!(" of at most {hi}")),
        _ => {}
    }
    match (schema.get("minLength").and_then(Value::as_u64), schema.get("maxLength").and_then(Value::as_u64)) {
        (Some(lo), Some(hi)) => text.push_str(&format!(" of {lo} to {hi} characters")),
        (Some(lo), None) if lo > 0 => text.push_str(&format!(" of at least {lo} characters")),
        (None, Some(hi)) => text.push_str(&format!(" of at most {hi} characters")),
        _ => {}
    }
    if let Some(m) = num("multipleOf") {
        text.push_str(&format!(", a multiple of {m}"));
    }
    text
}

fn bad(path: &str, message: String, schema: &Value) -> ToolError {
    ToolError::invalid(field_name(path), message).with_expected(describe(schema))
}

fn check_at(root: &Value, schema: &Value, v: &Value, path: &str, depth: usize) -> Result<(), ToolError> {
    if depth > MAX_DEPTH {
        return Err(ToolError::invalid(field_name(path), "the value is nested too deeply"));
    }
    let schema = resolve(root, schema);
    let obj = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => {
            return Err(ToolError::invalid(
                field_name(path),
                format!("{} is not allowed here", field_name(path)),
            ));
        }
        Value::Object(o) => o,
        _ => return Ok(()),
    };
    for key in ["allOf"] {
        if let Some(subs) = obj.get(key).and_then(Value::as_array) {
            for s in subs {
                check_at(root, s, v, path, depth + 1)?;
            }
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(subs) = obj.get(key).and_then(Value::as_array) {
            let mut first_err = None;
            let mut ok = false;
            for s in subs {
                match check_at(root, s, v, path, depth + 1) {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) => {
                        let null_branch =
                            resolve(root, s).get("type").and_then(Value::as_str) == Some("null");
                        if first_err.is_none()
                            || (!null_branch && first_err.as_ref().is_some_and(|(n, _)| *n))
                        {
                            first_err = Some((null_branch, e));
                        }
                    }
                }
            }
            if !ok && let Some((_, e)) = first_err {
                return Err(e);
            }
        }
    }
    match obj.get("type") {
        Some(Value::String(t)) if !type_matches(t, v) => {
            return Err(bad(
                path,
                format!("{} must be {}, got {}", field_name(path), describe(schema), json_type(v)),
                schema,
            ));
        }
        Some(Value::Array(ts)) if !ts.iter().filter_map(Value::as_str).any(|t| type_matches(t, v)) => {
            return Err(bad(
                path,
                format!("{} must be {}, got {}", field_name(path), describe(schema), json_type(v)),
                schema,
            ));
        }
        _ => {}
    }
    if let Some(options) = obj.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        let candidates: Vec<&str> = options.iter().filter_map(Value::as_str).collect();
        let hint = v
            .as_str()
            .filter(|s| s.len() <= 256)
            .map(|s| comfy_core::did_you_mean(&comfy_core::suggest_closest(s, candidates.iter().copied(), 3)))
            .unwrap_or_default();
        return Err(bad(path, format!("{} is not an allowed value{hint}", field_name(path)), schema));
    }
    if let Some(c) = obj.get("const")
        && c != v
    {
        return Err(bad(path, format!("{} must be {c}", field_name(path)), schema));
    }
    match v {
        Value::Number(n) => check_number(obj, n.as_f64().unwrap_or(0.0), path, schema)?,
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if obj.get("minLength").and_then(Value::as_u64).is_some_and(|m| len < m) {
                return Err(bad(path, format!("{} is too short", field_name(path)), schema));
            }
            if obj.get("maxLength").and_then(Value::as_u64).is_some_and(|m| len > m) {
                return Err(bad(
                    path,
                    format!("{} is too long ({len} characters)", field_name(path)),
                    schema,
                ));
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if obj.get("minItems").and_then(Value::as_u64).is_some_and(|m| len < m) {
                return Err(bad(path, format!("{} has too few items", field_name(path)), schema));
            }
            if let Some(m) = obj.get("maxItems").and_then(Value::as_u64)
                && len > m
            {
                return Err(bad(
                    path,
                    format!("{} has {len} items, more than {m}", field_name(path)),
                    schema,
                ));
            }
            if let Some(item_schema) = obj.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check_at(root, item_schema, item, &join(path, &i.to_string()), depth + 1)?;
                }
            }
        }
        Value::Object(map) => check_object(root, obj, map, path, depth)?,
        _ => {}
    }
    Ok(())
}

fn check_number(obj: &Map<String, Value>, x: f64, path: &str, schema: &Value) -> Result<(), ToolError> {
    let num = |k: &str| obj.get(k).and_then(Value::as_f64);
    let out_of_range = num("minimum").is_some_and(|m| x < m)
        || num("maximum").is_some_and(|m| x > m)
        || num("exclusiveMinimum").is_some_and(|m| x <= m)
        || num("exclusiveMaximum").is_some_and(|m| x >= m);
    if out_of_range {
        return Err(bad(path, format!("{} = {x} is out of range", field_name(path)), schema));
    }
    if let Some(m) = num("multipleOf")
        && m > 0.0
        && ((x / m) - (x / m).round()).abs() > 1e-9
    {
        return Err(bad(path, format!("{} = {x} is not a multiple of {m}", field_name(path)), schema));
    }
    Ok(())
}

fn check_object(
    root: &Value,
    obj: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<(), ToolError> {
    let empty = Map::new();
    let props = obj.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    if let Some(required) = obj.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                let prop = props.get(name).map(|p| resolve(root, p)).cloned().unwrap_or(Value::Bool(true));
                return Err(ToolError::invalid(
                    join(path, name),
                    format!("{} is required", join(path, name)),
                )
                .with_expected(describe(&prop)));
            }
        }
    }
    for (key, value) in map {
        let field = join(path, key);
        match props.get(key) {
            Some(prop) => check_at(root, prop, value, &field, depth + 1)?,
            None => match obj.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    let names: Vec<&str> = props.keys().map(String::as_str).collect();
                    let hint = if key.len() <= 256 {
                        comfy_core::did_you_mean(&comfy_core::suggest_closest(key, names.iter().copied(), 3))
                    } else {
                        String::new()
                    };
                    let shown: String = key.chars().take(64).collect();
                    return Err(ToolError::invalid(
                        field_name(&join(path, &shown)),
                        format!("unknown argument {shown:?}{hint}"),
                    )
                    .with_expected(if names.is_empty() {
                        "no arguments".to_owned()
                    } else {
                        format!("one of: {}", names.join(", "))
                    }));
                }
                Some(extra @ Value::Object(_)) => check_at(root, extra, value, &field, depth + 1)?,
                _ => {}
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Map<String, Value> {
        json!({
            "type": "object",
            "properties": {
                "job_id": {"type": "string", "minLength": 1, "maxLength": 8},
                "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 200},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "size": {"type": "integer", "multipleOf": 8},
                "sub": {"$ref": "#/$defs/Sub"},
                "opt": {"anyOf": [{"$ref": "#/$defs/Sub"}, {"type": "null"}]}
            },
            "required": ["job_id"],
            "additionalProperties": false,
            "$defs": {"Sub": {"type": "object", "properties": {"x": {"type": "boolean"}}, "required": ["x"]}}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn err(v: Value) -> ToolError {
        check(&schema(), &v).unwrap_err()
    }

    #[test]
    fn good_values_pass() {
        check(
            &schema(),
            &json!({"job_id": "a", "limit": null, "mode": "fast", "size": 16, "sub": {"x": true}}),
        )
        .unwrap();
        check(&schema(), &json!({"job_id": "a", "opt": {"x": false}})).unwrap();
    }

    #[test]
    fn every_kind_of_bad_value_names_the_field() {
        let e = err(json!({}));
        assert_eq!((e.field.as_deref(), e.code.as_ref()), (Some("job_id"), "invalid_argument"));
        assert!(e.message.contains("required"));
        let e = err(json!({"job_id": 5}));
        assert!(
            e.message.contains("must be a string") && e.message.contains("got an integer"),
            "{}",
            e.message
        );
        let e = err(json!({"job_id": "a", "limit": 0}));
        assert_eq!(e.field.as_deref(), Some("limit"));
        assert_eq!(e.expected.as_deref(), Some("an integer from 1 to 200"));
        let e = err(json!({"job_id": "a", "limit": 2.5}));
        assert!(e.message.contains("got a number"));
        let e = err(json!({"job_id": "a", "mode": "fsat"}));
        assert!(e.message.contains("did you mean fast"), "{}", e.message);
        let e = err(json!({"job_id": "a", "size": 12}));
        assert!(e.message.contains("multiple of 8"));
        let e = err(json!({"job_id": "a", "jobid": 1}));
        assert_eq!(e.field.as_deref(), Some("jobid"));
        assert!(e.expected.unwrap().contains("job_id"));
        let e = err(json!({"job_id": "a", "sub": {}}));
        assert_eq!(e.field.as_deref(), Some("sub.x"));
        let e = err(json!({"job_id": "a", "opt": {"x": "no"}}));
        assert_eq!(e.field.as_deref(), Some("opt.x"), "{e:?}");
        let e = err(json!({"job_id": "123456789"}));
        assert!(e.message.contains("too long"));
    }

    #[test]
    fn deep_values_are_refused_not_recursed() {
        let s =
            json!({"type": "object", "additionalProperties": {"$ref": "#"}}).as_object().cloned().unwrap();
        let mut v = json!({});
        for _ in 0..200 {
            v = json!({"a": v});
        }
        assert!(check(&s, &v).is_err());
    }
}
