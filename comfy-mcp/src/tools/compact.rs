//! The one place that makes tool definitions small for `tools/list` (issue 14: the whole
//! default set of a local server in at most 16 KB): every tool's input and output schema and
//! annotations pass through here, so the rules are written once instead of per tool.
//!
//! * Input schemas ([`input_schema`]) keep what a model needs to call the tool — property
//!   names, types, enums, numeric bounds, defaults, `required` and short descriptions — and
//!   lose what tells it nothing: `$schema`, `title`s, `format`s such as `uint32`, `"default":
//!   null`, string/array/object length limits and `additionalProperties: false` (the server
//!   still checks all of these against the full schema, with an error naming the field), the
//!   descriptions of the argument names in [`SHARED_ARGS`] and [`TEMPLATE_PARAMS`] (the server
//!   `instructions` explain them once), and `$defs` used once (inlined; a `oneOf` of constants
//!   becomes an `enum`). An optional argument is listed without its `null` alternative (left
//!   out means the same; the server still takes an explicit null). Otherwise the listed schema
//!   accepts everything the server accepts.
//! * Tools declare no output schema (MCP makes it optional): every result is still a JSON
//!   object in `structuredContent`, mirrored as JSON text in `content`, and the tool
//!   descriptions name the fields that matter. Declared schemas cost about 300 bytes a tool.
//! * Annotations ([`annotations`]) leave out hints equal to the MCP defaults.

use rmcp::model::{JsonObject, ToolAnnotations};
use serde_json::{Map, Value};

/// Argument names used by many tools; their per-property descriptions are dropped from the
/// listed schemas and explained once in the server instructions ([`SHARED_ARGS_TEXT`]).
pub const SHARED_ARGS: &[&str] = &[
    "job_id",
    "asset_id",
    "wait",
    "workflow",
    "timeout",
    "limit",
    "overwrite",
    "name",
    "query",
    "batch_id",
    "dedup",
    "reuse",
];

/// ComfyUI's own parameter names, as workflow templates use them; their descriptions are
/// dropped from the template tools' schemas and explained once in [`SHARED_ARGS_TEXT`].
pub const TEMPLATE_PARAMS: &[&str] = &[
    "image",
    "ckpt_name",
    "prompt",
    "negative_prompt",
    "width",
    "height",
    "steps",
    "cfg",
    "sampler_name",
    "scheduler",
    "seed",
    "batch_size",
    "denoise",
    "filename_prefix",
];

/// What the server instructions say once about [`SHARED_ARGS`] and [`TEMPLATE_PARAMS`].
pub const SHARED_ARGS_TEXT: &str = "Arguments: job_id comes from a tool that submits; asset_id from \
get_output or list_assets; workflow is an API-format ({\"<id>\": {\"class_type\", \"inputs\"}}) or \
editor workflow, as an object or JSON text; wait=true waits up to the server's wait budget (else a \
job_id comes back at once); timeout is in seconds, capped by that budget; limit caps a list; \
overwrite replaces what exists; dedup attaches to your identical unfinished job, reuse=true returns \
your identical succeeded job's outputs (reused_from names it); optional arguments are left out, not null. Template parameters use \
ComfyUI's names: image is an input file (upload_file's input_name), ckpt_name a checkpoint from \
list_models, width/height in pixels, steps, cfg, sampler_name, scheduler, denoise 0-1, batch_size, \
filename_prefix of the saved files; a seed left out is random; a template's own tool waits like wait=true. Results are JSON objects \
in structuredContent.";

/// Keywords whose value is a map of names to schemas.
const SCHEMA_MAPS: &[&str] = &["properties", "$defs", "definitions", "patternProperties", "dependentSchemas"];
/// Keywords whose value is one schema.
const SCHEMA_ONE: &[&str] = &[
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
];
/// Keywords whose value is a list of schemas.
const SCHEMA_LISTS: &[&str] = &["anyOf", "oneOf", "allOf", "prefixItems"];

/// What [`walk`] calls on each schema: the schema and its property name, if it is one.
type Visit<'a> = dyn FnMut(&mut Map<String, Value>, Option<&str>) + 'a;

/// Calls `f` on `schema` and then on every subschema below it (never on data such as `enum`,
/// `const` or `default` values). `f` gets the property name when the schema is one.
fn walk(schema: &mut Map<String, Value>, property: Option<&str>, f: &mut Visit<'_>) {
    f(schema, property);
    for (key, child) in schema.iter_mut() {
        let key = key.as_str();
        if SCHEMA_MAPS.contains(&key) {
            if let Value::Object(named) = child {
                let is_props = key == "properties";
                for (name, sub) in named.iter_mut() {
                    if let Value::Object(sub) = sub {
                        walk(sub, if is_props { Some(name.as_str()) } else { None }, f);
                    }
                }
            }
        } else if SCHEMA_ONE.contains(&key) {
            if let Value::Object(sub) = child {
                walk(sub, None, f);
            }
        } else if SCHEMA_LISTS.contains(&key)
            && let Value::Array(items) = child
        {
            items.iter_mut().filter_map(Value::as_object_mut).for_each(|sub| walk(sub, None, f));
        }
    }
}

/// Keywords the listed input schemas leave out: annotations a model does not need, and limits
/// the server checks anyway (with an error naming the field).
const DROPPED: &[&str] = &[
    "title",
    "format",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "examples",
];

/// The input schema as listed (see the module docs); `template` is true for a workflow
/// template's tool ([`TEMPLATE_PARAMS`]).
pub fn input_schema(mut schema: JsonObject, template: bool) -> JsonObject {
    schema.remove("$schema");
    inline_single_use_defs(&mut schema);
    walk(&mut schema, None, &mut |m, property| {
        for k in DROPPED {
            m.remove(*k);
        }
        // Absent means null, and a boolean that is not given is false.
        if m.get("default").is_some_and(|d| d.is_null() || *d == Value::Bool(false)) {
            m.remove("default");
        }
        optional_without_null(m);
        // `additionalProperties: true` is the default; `false` the server checks itself.
        if m.get("additionalProperties").is_some_and(Value::is_boolean) {
            m.remove("additionalProperties");
        }
        if m.get("default").is_some_and(|d| d.as_object().is_some_and(Map::is_empty)) {
            m.remove("default");
        }
        // `minimum: 0` only marks an unsigned Rust type.
        if m.get("minimum").and_then(Value::as_f64) == Some(0.0)
            && m.get("type") == Some(&Value::String("integer".into()))
        {
            m.remove("minimum");
        }
        // An unsigned integer's upper bound that no JSON number reaches exactly says nothing.
        if m.get("maximum").and_then(Value::as_f64).is_some_and(|max| max >= 9_007_199_254_740_991.0) {
            m.remove("maximum");
        }
        consts_to_enum(m);
        let shared =
            property.is_some_and(|p| SHARED_ARGS.contains(&p) || (template && TEMPLATE_PARAMS.contains(&p)));
        if shared {
            m.remove("description");
        } else if let Some(Value::String(d)) = m.get_mut("description") {
            // Doc comments wrap lines; a model reads one line.
            if d.contains('\n') {
                *d = d.split_whitespace().collect::<Vec<_>>().join(" ");
            }
        }
    });
    // The tool description says what the tool does; a root description repeats it.
    schema.remove("description");
    schema
}

/// An optional property (not in `required`) is listed without its `null` alternative: a model
/// leaves it out (the server still takes an explicit null).
fn optional_without_null(m: &mut Map<String, Value>) {
    let required: Vec<String> = match m.get("required") {
        Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    let Some(Value::Object(props)) = m.get_mut("properties") else { return };
    for (name, prop) in props.iter_mut() {
        if required.contains(name) {
            continue;
        }
        let Value::Object(p) = prop else { continue };
        if let Some(Value::Array(types)) = p.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let only = types.remove(0);
                p.insert("type".into(), only);
            }
        }
        // `Option<Struct>`: anyOf [X, {"type": "null"}] is X.
        let single = match p.get("anyOf") {
            Some(Value::Array(variants)) if variants.len() == 2 => {
                let non_null: Vec<&Value> = variants
                    .iter()
                    .filter(|v| v.get("type") != Some(&Value::String("null".into())))
                    .collect();
                (non_null.len() == 1).then(|| non_null[0].clone())
            }
            _ => None,
        };
        if let Some(Value::Object(inner)) = single {
            p.remove("anyOf");
            for (k, v) in inner {
                p.entry(k).or_insert(v);
            }
        }
    }
}

/// `{"oneOf": [{"const": "a", ...}, {"const": "b", ...}]}` (a unit enum with documented
/// variants) becomes `{"type": ..., "enum": ["a", "b"]}`: the same values, without the
/// per-variant descriptions.
fn consts_to_enum(m: &mut Map<String, Value>) {
    let Some(Value::Array(variants)) = m.get("oneOf") else { return };
    let consts: Option<Vec<Value>> = variants.iter().map(|v| v.get("const").cloned()).collect();
    let Some(consts) = consts.filter(|c| !c.is_empty()) else { return };
    let all_strings = consts.iter().all(Value::is_string);
    m.remove("oneOf");
    if all_strings && !m.contains_key("type") {
        m.insert("type".into(), Value::String("string".into()));
    }
    m.insert("enum".into(), Value::Array(consts));
}

/// Replaces each `$ref` to a `$defs` entry that is referenced exactly once (and does not refer
/// to itself) by the entry, and drops inlined entries and an empty `$defs`.
fn inline_single_use_defs(schema: &mut JsonObject) {
    let Some(Value::Object(defs)) = schema.get("$defs").cloned() else { return };
    let mut uses: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    count_refs(&Value::Object(schema.clone()), &mut uses);
    let inline: Map<String, Value> = defs
        .iter()
        .filter(|(name, def)| {
            let mut inner = std::collections::HashMap::new();
            count_refs(def, &mut inner);
            uses.get(name.as_str()) == Some(&1) && !inner.contains_key(name.as_str())
        })
        .map(|(n, d)| (n.clone(), d.clone()))
        .collect();
    if inline.is_empty() {
        return;
    }
    let mut replaced = Vec::new();
    walk(schema, None, &mut |m, _| {
        let Some(name) = m.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/"))
        else {
            return;
        };
        let Some(Value::Object(def)) = inline.get(name) else { return };
        // Merge only when the referencing schema adds nothing but annotations.
        if m.keys().any(|k| !matches!(k.as_str(), "$ref" | "description" | "title" | "default")) {
            return;
        }
        let name = name.to_owned();
        m.remove("$ref");
        for (k, v) in def {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        replaced.push(name);
    });
    if let Some(Value::Object(defs)) = schema.get_mut("$defs") {
        for name in &replaced {
            defs.remove(name);
        }
        if defs.is_empty() {
            schema.remove("$defs");
        }
    }
}

fn count_refs(v: &Value, uses: &mut std::collections::HashMap<String, usize>) {
    match v {
        Value::Object(m) => {
            if let Some(name) = m.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/"))
            {
                *uses.entry(name.to_owned()).or_default() += 1;
            }
            m.values().for_each(|c| count_refs(c, uses));
        }
        Value::Array(a) => a.iter().for_each(|c| count_refs(c, uses)),
        _ => {}
    }
}

/// Annotations with the hints that differ from the MCP defaults (`readOnlyHint: false`,
/// `destructiveHint: true`, `idempotentHint: false`, `openWorldHint: true`); the destructive
/// and idempotent hints only mean something for a tool that is not read-only.
pub fn annotations(
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool,
) -> ToolAnnotations {
    let mut a = ToolAnnotations::new();
    if read_only {
        a.read_only_hint = Some(true);
    } else {
        a.destructive_hint = (!destructive).then_some(false);
        a.idempotent_hint = idempotent.then_some(true);
    }
    a.open_world_hint = (!open_world).then_some(false);
    a
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{annotations, input_schema};
    use crate::tools::args;

    fn object(v: Value) -> super::JsonObject {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn full() -> super::JsonObject {
        object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Args",
            "description": "Arguments of a tool.",
            "type": "object",
            "additionalProperties": false,
            "required": ["job_id", "title"],
            "properties": {
                "job_id": {"type": "string", "minLength": 1, "maxLength": 200, "description": "The job."},
                "title": {"type": "string", "description": "A property called title stays.", "title": "T"},
                "steps": {"type": ["integer", "null"], "format": "uint32", "minimum": 0, "maximum": 150,
                          "default": null, "description": "Sampling\n    steps."},
                "big": {"type": "integer", "minimum": 0, "maximum": 18446744073709551615u64},
                "flag": {"type": "boolean", "default": false},
                "wait": {"type": "boolean", "default": true},
                "params": {"type": "object", "additionalProperties": true, "default": {}},
                "kind": {"$ref": "#/$defs/Kind", "default": "image"},
                "default": {"$ref": "#/$defs/Shared"},
                "other": {"$ref": "#/$defs/Shared"}
            },
            "$defs": {
                "Kind": {"oneOf": [{"const": "image", "description": "An image."}, {"const": "mask", "description": "A mask."}]},
                "Shared": {"type": "object", "properties": {"x": {"type": "integer"}}}
            }
        }))
    }

    #[test]
    fn listed_input_schemas_keep_what_models_need_and_drop_the_rest() {
        let listed = Value::Object(input_schema(full(), false));
        assert_eq!(
            listed,
            json!({
                "type": "object",
                "required": ["job_id", "title"],
                "properties": {
                    "job_id": {"type": "string"},
                    "title": {"type": "string", "description": "A property called title stays."},
                    "steps": {"type": "integer", "maximum": 150, "description": "Sampling steps."},
                    "big": {"type": "integer"},
                    "flag": {"type": "boolean"},
                    "wait": {"type": "boolean", "default": true},
                    "params": {"type": "object"},
                    "kind": {"type": "string", "enum": ["image", "mask"], "default": "image"},
                    "default": {"$ref": "#/$defs/Shared"},
                    "other": {"$ref": "#/$defs/Shared"}
                },
                "$defs": {"Shared": {"type": "object", "properties": {"x": {"type": "integer"}}}}
            })
        );
    }

    #[test]
    fn the_listed_schema_accepts_whatever_the_full_one_accepts() {
        let full = full();
        let listed = input_schema(full.clone(), false);
        for ok in [
            json!({"job_id": "j", "title": "t"}),
            json!({"job_id": "j", "title": "t", "steps": 20, "kind": "mask", "default": {"x": 1}, "params": {"a": 1}}),
        ] {
            assert!(args::check(&full, &ok).is_ok() && args::check(&listed, &ok).is_ok(), "{ok}");
        }
        // The server still refuses what only the full schema forbids, naming the field.
        let long = json!({"job_id": "j".repeat(201), "title": "t"});
        assert!(args::check(&listed, &long).is_ok());
        assert_eq!(args::check(&full, &long).unwrap_err().field.as_deref(), Some("job_id"));
        let bad = json!({"job_id": "j", "title": "t", "kind": "video"});
        assert!(args::check(&listed, &bad).is_err() && args::check(&full, &bad).is_err());
    }

    #[test]
    fn template_tools_leave_comfyui_parameter_names_to_the_instructions() {
        let schema = object(json!({
            "type": "object",
            "properties": {
                "seed": {"type": "integer", "description": "Noise seed. Random when omitted."},
                "grow_mask_by": {"type": "integer", "description": "Pixels to grow the mask by."}
            }
        }));
        let listed = input_schema(schema.clone(), true);
        assert!(listed["properties"]["seed"].get("description").is_none());
        assert!(listed["properties"]["grow_mask_by"].get("description").is_some());
        // Other tools keep a property called seed described.
        assert!(input_schema(schema, false)["properties"]["seed"].get("description").is_some());
    }

    #[test]
    fn annotations_carry_only_hints_that_differ_from_the_defaults() {
        let read = annotations(true, false, true, false);
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            json!({"readOnlyHint": true, "openWorldHint": false})
        );
        let additive = annotations(false, false, false, false);
        assert_eq!(
            serde_json::to_value(&additive).unwrap(),
            json!({"destructiveHint": false, "openWorldHint": false})
        );
        let cancel = annotations(false, true, true, false);
        assert_eq!(
            serde_json::to_value(&cancel).unwrap(),
            json!({"idempotentHint": true, "openWorldHint": false})
        );
    }
}
