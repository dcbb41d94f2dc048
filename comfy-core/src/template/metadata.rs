//! Explicit parameter declarations: the `__metadata__` block of a template file and the
//! optional `<stem>.meta.json` sidecar next to it.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::ParamType;
use crate::error::{Error, Result};
use crate::json::preview;

/// What an author declared about one parameter. `None` = not declared here.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Declared {
    pub ty: Option<ParamType>,
    pub required: Option<bool>,
    pub default: Option<Value>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub step: Option<f64>,
    pub enum_values: Option<Vec<Value>>,
    pub description: Option<String>,
}

impl Declared {
    /// Lays `top` over `self`: every field `top` declares wins.
    pub fn overlay(&mut self, top: &Declared) {
        fn take<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
        take(&mut self.ty, &top.ty);
        take(&mut self.required, &top.required);
        take(&mut self.default, &top.default);
        take(&mut self.minimum, &top.minimum);
        take(&mut self.maximum, &top.maximum);
        take(&mut self.step, &top.step);
        take(&mut self.enum_values, &top.enum_values);
        take(&mut self.description, &top.description);
    }
}

/// Everything one source (`__metadata__` or a sidecar) declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FileMeta {
    pub name: Option<String>,
    pub description: Option<String>,
    pub params: IndexMap<String, Declared>,
}

const METADATA_KEYS: [&str; 3] = ["name", "description", "parameters"];
const PARAM_KEYS: [&str; 8] = ["type", "required", "default", "min", "max", "step", "enum", "description"];
const CONSTRAINT_KEYS: [&str; 4] = ["enum", "min", "max", "step"];

/// Reads a template's `__metadata__` object. Unknown keys are errors (they are usually typos).
pub(crate) fn parse_metadata(template: &str, value: &Value) -> Result<FileMeta> {
    let at = "__metadata__";
    let map = object(template, at, value)?;
    reject_unknown(template, at, map, &METADATA_KEYS)?;
    let mut meta = FileMeta {
        name: opt_string(template, at, map, "name")?,
        description: opt_string(template, at, map, "description")?,
        params: IndexMap::new(),
    };
    if let Some(params) = map.get("parameters") {
        let at = format!("{at} / parameters");
        for (name, spec) in object(template, &at, params)? {
            meta.params.insert(name.clone(), param_spec(template, &format!("{at} / {name}"), spec)?);
        }
    }
    Ok(meta)
}

/// Reads a `<stem>.meta.json` sidecar. Unknown top-level keys are ignored (JN sidecars carry
/// `override_mappings`); inside parameter entries unknown keys are errors.
pub(crate) fn parse_sidecar(template: &str, file: &str, value: &Value) -> Result<FileMeta> {
    let map = object(template, file, value)?;
    for key in map.keys() {
        if !["name", "description", "defaults", "constraints", "descriptions", "parameters"]
            .contains(&key.as_str())
        {
            tracing::warn!(template, file, key, "ignoring unknown key in template sidecar");
        }
    }
    let mut meta = FileMeta {
        name: opt_string(template, file, map, "name")?,
        description: opt_string(template, file, map, "description")?,
        params: IndexMap::new(),
    };
    if let Some(params) = map.get("parameters") {
        let at = format!("{file} / parameters");
        for (name, spec) in object(template, &at, params)? {
            meta.params.insert(name.clone(), param_spec(template, &format!("{at} / {name}"), spec)?);
        }
    }
    if let Some(defaults) = map.get("defaults") {
        for (name, v) in object(template, &format!("{file} / defaults"), defaults)? {
            if !v.is_null() {
                meta.params.entry(name.clone()).or_default().default = Some(v.clone());
            }
        }
    }
    if let Some(constraints) = map.get("constraints") {
        let at = format!("{file} / constraints");
        for (name, c) in object(template, &at, constraints)? {
            let at = format!("{at} / {name}");
            let c = object(template, &at, c)?;
            reject_unknown(template, &at, c, &CONSTRAINT_KEYS)?;
            let entry = meta.params.entry(name.clone()).or_default();
            let parsed = constraints_of(template, &at, c)?;
            entry.overlay(&parsed);
        }
    }
    if let Some(descriptions) = map.get("descriptions") {
        let at = format!("{file} / descriptions");
        for (name, d) in object(template, &at, descriptions)? {
            let text = d.as_str().ok_or_else(|| {
                invalid(template, format!("{at} / {name}: expected a string, got {}", preview(d)))
            })?;
            meta.params.entry(name.clone()).or_default().description = Some(text.to_owned());
        }
    }
    Ok(meta)
}

fn param_spec(template: &str, at: &str, value: &Value) -> Result<Declared> {
    let map = object(template, at, value)?;
    reject_unknown(template, at, map, &PARAM_KEYS)?;
    let ty = match map.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(ParamType::parse(t).ok_or_else(|| {
            invalid(
                template,
                format!("{at} / type: unknown type {t:?}; use one of \"string\", \"integer\", \"number\", \"boolean\""),
            )
        })?),
        Some(other) => {
            return Err(invalid(template, format!("{at} / type: expected a string, got {}", preview(other))));
        }
    };
    let required = match map.get("required") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(invalid(
                template,
                format!("{at} / required: expected true or false, got {}", preview(other)),
            ));
        }
    };
    let mut declared = constraints_of(template, at, map)?;
    declared.ty = ty;
    declared.required = required;
    declared.default = map.get("default").filter(|v| !v.is_null()).cloned();
    declared.description = opt_string(template, at, map, "description")?;
    Ok(declared)
}

/// `min`, `max`, `step` and `enum` of a parameter entry.
fn constraints_of(template: &str, at: &str, map: &Map<String, Value>) -> Result<Declared> {
    let number = |key: &str| -> Result<Option<f64>> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64().filter(|f| f.is_finite())),
            Some(other) => {
                Err(invalid(template, format!("{at} / {key}: expected a number, got {}", preview(other))))
            }
        }
    };
    let enum_values = match map.get("enum") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if !items.is_empty() => {
            if let Some(bad) = items.iter().find(|v| ParamType::of_value(v).is_none()) {
                return Err(invalid(
                    template,
                    format!(
                        "{at} / enum: choices must be strings, numbers or booleans, got {}",
                        preview(bad)
                    ),
                ));
            }
            Some(items.clone())
        }
        Some(other) => {
            return Err(invalid(
                template,
                format!("{at} / enum: expected a non-empty list of choices, got {}", preview(other)),
            ));
        }
    };
    let declared = Declared {
        minimum: number("min")?,
        maximum: number("max")?,
        step: number("step")?,
        enum_values,
        ..Declared::default()
    };
    if let (Some(lo), Some(hi)) = (declared.minimum, declared.maximum)
        && lo > hi
    {
        return Err(invalid(template, format!("{at}: min {lo} is greater than max {hi}")));
    }
    if declared.step.is_some_and(|s| s <= 0.0) {
        return Err(invalid(template, format!("{at} / step: must be greater than 0")));
    }
    Ok(declared)
}

fn object<'a>(template: &str, at: &str, value: &'a Value) -> Result<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| {
        invalid(template, format!("{at}: expected a JSON object, got {}", crate::json::type_name(value)))
    })
}

fn opt_string(template: &str, at: &str, map: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => {
            Err(invalid(template, format!("{at} / {key}: expected a string, got {}", preview(other))))
        }
    }
}

fn reject_unknown(template: &str, at: &str, map: &Map<String, Value>, known: &[&str]) -> Result<()> {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            let hint = crate::suggest::closest(key, known.iter().copied(), 1);
            let hint = hint.first().map(|h| format!("did you mean {h:?}? ")).unwrap_or_default();
            return Err(invalid(
                template,
                format!("{at}: unknown key {key:?}; {hint}known keys are {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

pub(crate) fn invalid(template: &str, message: String) -> Error {
    Error::InvalidTemplate { template: template.to_owned(), message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_metadata() {
        let meta = parse_metadata(
            "t",
            &json!({"name": "tool", "description": "d", "parameters": {
                "steps": {"type": "integer", "min": 1, "max": 50, "default": 20, "description": "how many"},
                "style": {"enum": ["a", "b"], "required": true}
            }}),
        )
        .unwrap();
        assert_eq!(meta.name.as_deref(), Some("tool"));
        let steps = &meta.params["steps"];
        assert_eq!(steps.ty, Some(ParamType::Integer));
        assert_eq!((steps.minimum, steps.maximum), (Some(1.0), Some(50.0)));
        assert_eq!(steps.default, Some(json!(20)));
        assert_eq!(meta.params["style"].required, Some(true));
    }

    #[test]
    fn metadata_errors_name_the_place_and_the_fix() {
        let cases = [
            (json!({"parameters": {"a": {"defualt": 1}}}), "did you mean \"default\"?"),
            (json!({"parameters": {"a": {"type": "int"}}}), "\"integer\""),
            (json!({"parameters": {"a": {"min": 5, "max": 1}}}), "min 5 is greater than max 1"),
            (json!({"parameters": {"a": {"enum": []}}}), "non-empty list"),
            (json!({"parameters": {"a": {"required": "yes"}}}), "expected true or false"),
            (json!({"parameters": {"a": {"step": 0}}}), "greater than 0"),
            (json!({"nmae": "x"}), "did you mean \"name\"?"),
            (json!([1]), "expected a JSON object"),
        ];
        for (value, expected) in cases {
            let err = parse_metadata("tpl", &value).unwrap_err().to_string();
            assert!(err.contains("tpl") && err.contains(expected), "{err}");
            assert!(err.contains("__metadata__"), "{err}");
        }
    }

    #[test]
    fn reads_sidecar_and_ignores_unknown_top_level_keys() {
        let meta = parse_sidecar(
            "t",
            "t.meta.json",
            &json!({
                "name": "n", "override_mappings": {},
                "parameters": {"a": {"description": "from parameters", "default": 1}},
                "defaults": {"a": 2},
                "constraints": {"a": {"min": 0, "max": 3}},
                "descriptions": {"a": "from descriptions"}
            }),
        )
        .unwrap();
        let a = &meta.params["a"];
        assert_eq!(a.default, Some(json!(2)));
        assert_eq!((a.minimum, a.maximum), (Some(0.0), Some(3.0)));
        assert_eq!(a.description.as_deref(), Some("from descriptions"));
        let err = parse_sidecar("t", "t.meta.json", &json!({"constraints": {"a": {"mni": 1}}})).unwrap_err();
        assert!(err.to_string().contains("t.meta.json / constraints / a"), "{err}");
    }

    #[test]
    fn overlay_keeps_what_the_top_does_not_declare() {
        let mut base =
            Declared { default: Some(json!(1)), description: Some("base".into()), ..Declared::default() };
        base.overlay(&Declared { default: Some(json!(2)), ..Declared::default() });
        assert_eq!(base.default, Some(json!(2)));
        assert_eq!(base.description.as_deref(), Some("base"));
    }
}
