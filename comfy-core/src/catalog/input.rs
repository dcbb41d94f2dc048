//! Input specifications of a node class, as `/object_info` declares them.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::json::Num;

/// Which section of `input` an input is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// Must be given.
    Required,
    /// May be omitted.
    Optional,
    /// Filled by the executor (`PROMPT`, `UNIQUE_ID`, ...); never sent by clients.
    Hidden,
}

/// What kind of value an input takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputKind {
    /// `INT`.
    Int,
    /// `FLOAT`.
    Float,
    /// `STRING`.
    String,
    /// `BOOLEAN`.
    Boolean,
    /// A choice from a list.
    Combo {
        /// The allowed values (may be empty, e.g. no files in a folder).
        options: Vec<Value>,
        /// Declared the V3 way (`["COMBO", {"options": [...]}]`) rather than as a bare list.
        /// ComfyUI 0.3.x does not check V3 combo values when a prompt is queued.
        v3: bool,
        /// Several values may be chosen.
        multiselect: bool,
    },
    /// A connection type such as `IMAGE`, `MODEL`, `*` or a comma-joined union (`"IMAGE,MASK"`).
    Connection {
        /// The type string as declared.
        type_name: String,
    },
}

impl InputKind {
    /// The type name ComfyUI uses for this input (`INT`, `COMBO`, `IMAGE`, ...).
    pub fn type_name(&self) -> &str {
        match self {
            InputKind::Int => "INT",
            InputKind::Float => "FLOAT",
            InputKind::String => "STRING",
            InputKind::Boolean => "BOOLEAN",
            InputKind::Combo { .. } => "COMBO",
            InputKind::Connection { type_name } => type_name,
        }
    }

    /// Whether a literal value (a widget) can be given for this input.
    pub fn takes_literal(&self) -> bool {
        match self {
            InputKind::Connection { type_name } => type_name == "*",
            _ => true,
        }
    }
}

/// The options object of an input spec, with the keys ComfyUI defines typed out.
/// Every key, known or not, also stays in [`InputOptions::raw`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InputOptions {
    /// `default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// `min`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// `max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// `step`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// `round` (a float, or `false` to disable rounding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round: Option<Value>,
    /// `multiline` (STRING).
    pub multiline: bool,
    /// `tooltip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tooltip: Option<String>,
    /// `forceInput`: shown as a socket, not a widget.
    pub force_input: bool,
    /// `control_after_generate`: the editor adds a "randomize/fixed/..." widget after it (seeds).
    pub control_after_generate: bool,
    /// `dynamicPrompts`: the editor resolves `{a|b}` choices before queueing.
    pub dynamic_prompts: bool,
    /// Which upload widget the editor adds (`image_upload`, `audio_upload`, ...), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
    /// `remote`: combo values loaded by the editor from a URL.
    pub remote: bool,
    /// `advanced`.
    pub advanced: bool,
    /// The options object exactly as declared.
    #[serde(skip)]
    pub raw: Map<String, Value>,
    /// Exact integer bounds, kept alongside the `f64` ones (seeds reach `u64::MAX`).
    #[serde(skip)]
    pub(crate) min_exact: Option<Num>,
    #[serde(skip)]
    pub(crate) max_exact: Option<Num>,
}

impl InputOptions {
    fn from_map(raw: Map<String, Value>, location: &str) -> Result<Self> {
        let number = |key: &str| -> Result<Option<Num>> {
            match raw.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => Ok(Some(Num::from_number(n))),
                Some(other) => Err(Error::catalog(
                    format!("{location} / {key}"),
                    format!("expected a number, got {}", crate::json::preview(other)),
                )),
            }
        };
        let flag = |key: &str| raw.get(key).is_some_and(|v| v.as_bool() == Some(true) || v.is_string());
        let min_exact = number("min")?;
        let max_exact = number("max")?;
        let step = number("step")?;
        let upload = ["image_upload", "audio_upload", "video_upload", "animated_image_upload", "file_upload"]
            .into_iter()
            .find(|k| raw.get(*k).and_then(Value::as_bool) == Some(true))
            .map(str::to_owned);
        Ok(InputOptions {
            default: raw.get("default").cloned(),
            min: min_exact.map(Num::as_f64),
            max: max_exact.map(Num::as_f64),
            step: step.map(Num::as_f64),
            round: raw.get("round").cloned(),
            multiline: flag("multiline"),
            tooltip: raw.get("tooltip").and_then(Value::as_str).map(str::to_owned),
            force_input: flag("forceInput"),
            control_after_generate: flag("control_after_generate"),
            dynamic_prompts: flag("dynamicPrompts"),
            upload,
            remote: raw.get("remote").is_some_and(|v| !v.is_null()),
            advanced: flag("advanced"),
            raw,
            min_exact,
            max_exact,
        })
    }

    /// The lower bound, exact for integers.
    pub fn min_num(&self) -> Option<Num> {
        self.min_exact
    }

    /// The upper bound, exact for integers.
    pub fn max_num(&self) -> Option<Num> {
        self.max_exact
    }
}

/// One declared input of a node class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputDef {
    /// Input name, as used in API-format `inputs`.
    pub name: String,
    /// Required, optional or hidden.
    pub section: Section,
    /// What it takes.
    #[serde(flatten)]
    pub kind: InputKind,
    /// Bounds, default, tooltip and the rest.
    pub options: InputOptions,
}

impl InputDef {
    /// Parses one `[type, {options}]` spec (or a bare type string for V1 hidden inputs).
    pub(crate) fn parse(name: &str, section: Section, spec: &Value, location: &str) -> Result<Self> {
        let (type_value, options) = match spec {
            Value::String(_) => (spec, Map::new()),
            Value::Array(items) if !items.is_empty() && items.len() <= 2 => {
                let options = match items.get(1) {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(m)) => m.clone(),
                    Some(other) => {
                        return Err(Error::catalog(
                            location,
                            format!("input options must be an object, got {}", crate::json::preview(other)),
                        ));
                    }
                };
                (&items[0], options)
            }
            other => {
                return Err(Error::catalog(
                    location,
                    format!(
                        "an input spec is [type] or [type, {{options}}], got {}",
                        crate::json::preview(other)
                    ),
                ));
            }
        };
        let options = InputOptions::from_map(options, location)?;
        let kind = match type_value {
            Value::Array(choices) => {
                InputKind::Combo { options: choices.clone(), v3: false, multiselect: false }
            }
            Value::String(t) => match t.as_str() {
                "INT" => InputKind::Int,
                "FLOAT" => InputKind::Float,
                "STRING" => InputKind::String,
                "BOOLEAN" => InputKind::Boolean,
                "COMBO" => InputKind::Combo {
                    options: match options.raw.get("options") {
                        Some(Value::Array(o)) => o.clone(),
                        None | Some(Value::Null) => Vec::new(),
                        Some(other) => {
                            return Err(Error::catalog(
                                format!("{location} / options"),
                                format!("COMBO options must be a list, got {}", crate::json::preview(other)),
                            ));
                        }
                    },
                    v3: true,
                    multiselect: options.raw.get("multiselect").and_then(Value::as_bool) == Some(true),
                },
                _ => InputKind::Connection { type_name: t.clone() },
            },
            other => {
                return Err(Error::catalog(
                    location,
                    format!(
                        "an input type is a string or a list of choices, got {}",
                        crate::json::preview(other)
                    ),
                ));
            }
        };
        Ok(InputDef { name: name.to_owned(), section, kind, options })
    }

    /// Whether a value must be given for this input.
    pub fn is_required(&self) -> bool {
        self.section == Section::Required
    }
}

/// ComfyUI's link type check (`comfy_execution/validation.py` `validate_node_input`,
/// non-strict): equal, either side `*`, or comma-separated unions that intersect.
pub fn types_compatible(received: &str, expected: &str) -> bool {
    if received == expected {
        return true;
    }
    fn split(t: &str) -> Vec<&str> {
        t.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
    }
    let r = split(received);
    let e = split(expected);
    if r.contains(&"*") || e.contains(&"*") {
        return true;
    }
    r.iter().any(|t| e.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_compatibility_follows_comfyui() {
        assert!(types_compatible("IMAGE", "IMAGE"));
        assert!(!types_compatible("MASK", "IMAGE"));
        assert!(types_compatible("*", "IMAGE"));
        assert!(types_compatible("MASK", "*"));
        assert!(types_compatible("IMAGE,MASK", "MASK"));
        assert!(types_compatible("LATENT", "IMAGE, LATENT"));
        assert!(!types_compatible("LATENT", "IMAGE,MASK"));
    }

    #[test]
    fn parses_every_spec_shape() {
        let int = InputDef::parse(
            "seed",
            Section::Required,
            &json!(["INT", {"min": 0, "max": 18446744073709551615u64, "control_after_generate": true}]),
            "x",
        )
        .unwrap();
        assert_eq!(int.kind, InputKind::Int);
        assert!(int.options.control_after_generate);
        assert_eq!(int.options.max_num(), Some(Num::Int(u64::MAX as i128)));

        let combo =
            InputDef::parse("c", Section::Required, &json!([["a", "b"], {"default": "a"}]), "x").unwrap();
        assert!(matches!(combo.kind, InputKind::Combo { v3: false, ref options, .. } if options.len() == 2));

        let v3 = InputDef::parse(
            "c",
            Section::Required,
            &json!(["COMBO", {"options": ["x"], "multiselect": false}]),
            "x",
        )
        .unwrap();
        assert!(matches!(v3.kind, InputKind::Combo { v3: true, .. }));

        let hidden = InputDef::parse("prompt", Section::Hidden, &json!("PROMPT"), "x").unwrap();
        assert_eq!(hidden.kind.type_name(), "PROMPT");

        let conn = InputDef::parse("image", Section::Required, &json!(["IMAGE"]), "x").unwrap();
        assert!(!conn.kind.takes_literal());
    }

    #[test]
    fn malformed_specs_name_the_place() {
        for bad in [json!([]), json!(5), json!(["INT", 5]), json!([5]), json!(["INT", {"min": "zero"}])] {
            let err = InputDef::parse("w", Section::Required, &bad, "EmptyImage / input / required / w")
                .unwrap_err();
            assert!(err.to_string().contains("EmptyImage / input / required / w"), "{err}");
        }
    }
}
