//! Layered parameter defaults: runtime > config file > environment (all below per-call values
//! and above the template's own defaults).

use serde::Serialize;
use serde_json::{Map, Value};

/// Prefix of environment variables that set parameter defaults: `COMFY_DEFAULT_STEPS=30`.
pub const ENV_PREFIX: &str = "COMFY_DEFAULT_";

/// Defaults shared by every template, in three layers. A layer may name parameters that a given
/// template does not have (they are meant for other templates); those names are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ParamDefaults {
    /// Set while running (e.g. an MCP `set_defaults` call). Highest of the three.
    pub runtime: Map<String, Value>,
    /// From the configuration file.
    pub config: Map<String, Value>,
    /// From `COMFY_DEFAULT_<NAME>` environment variables, keyed by lower-cased name. Lowest.
    pub env: Map<String, Value>,
}

/// Which layer a rendered value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ValueSource {
    /// The values of this call.
    Call,
    /// [`ParamDefaults::runtime`].
    Runtime,
    /// [`ParamDefaults::config`].
    Config,
    /// [`ParamDefaults::env`].
    Env,
    /// The template's own default (sidecar, `__metadata__` or node catalogue).
    Template,
    /// Drawn at random (seeds).
    Random,
}

impl ValueSource {
    /// How error messages name the layer.
    pub fn describe(self, param: &str) -> String {
        match self {
            ValueSource::Call => "the value given".into(),
            ValueSource::Runtime => "the runtime default".into(),
            ValueSource::Config => "the config-file default".into(),
            ValueSource::Env => format!("the environment variable {ENV_PREFIX}{}", param.to_uppercase()),
            ValueSource::Template => "the template's default".into(),
            ValueSource::Random => "the random draw".into(),
        }
    }
}

impl ParamDefaults {
    /// No defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `env` layer from this process's `COMFY_DEFAULT_*` variables (others layers empty).
    /// Variables whose name or value is not valid Unicode are skipped.
    pub fn from_env() -> Self {
        Self::from_env_iter(
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// The `env` layer from `(variable, value)` pairs, as [`ParamDefaults::from_env`] reads them:
    /// only `COMFY_DEFAULT_<NAME>` variables count; `<NAME>` is lower-cased; a value that parses
    /// as JSON is used as JSON (`30`, `true`, `"x"`), anything else as a string.
    pub fn from_env_iter<K: AsRef<str>, V: AsRef<str>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut env = Map::new();
        for (key, value) in vars {
            let Some(name) = key.as_ref().strip_prefix(ENV_PREFIX).filter(|n| !n.is_empty()) else {
                continue;
            };
            let raw = value.as_ref();
            let parsed = serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
            env.insert(name.to_lowercase(), parsed);
        }
        ParamDefaults { env, ..ParamDefaults::default() }
    }

    /// The highest layer holding a (non-null) value for `param`. The env layer is also searched
    /// by lower-cased name, since variable names are upper case.
    pub fn lookup(&self, param: &str) -> Option<(&Value, ValueSource)> {
        fn found<'m>(m: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
            m.get(key).filter(|v| !v.is_null())
        }
        found(&self.runtime, param)
            .map(|v| (v, ValueSource::Runtime))
            .or_else(|| found(&self.config, param).map(|v| (v, ValueSource::Config)))
            .or_else(|| {
                found(&self.env, param)
                    .or_else(|| found(&self.env, &param.to_lowercase()))
                    .map(|v| (v, ValueSource::Env))
            })
    }
}

/// The value a parameter name gets when a call does not give one, and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EffectiveDefault {
    /// Parameter name.
    pub name: String,
    /// The value (absent when nothing gives one: a required parameter, or a seed drawn at random).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The layer it comes from (`runtime`, `config`, `env` or `template`); absent with no value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ValueSource>,
    /// Templates with a parameter of this name.
    pub templates: Vec<String>,
}

impl ParamDefaults {
    /// Every parameter name of `templates` plus every name set in a layer, sorted, each with
    /// its effective default and source layer. For the `template` layer the first template (in
    /// the given order) that declares a default wins.
    pub fn effective<'t>(
        &self,
        templates: impl IntoIterator<Item = &'t super::Template>,
    ) -> Vec<EffectiveDefault> {
        let mut by_name: std::collections::BTreeMap<String, (Vec<String>, Option<Value>)> =
            Default::default();
        for t in templates {
            for spec in t.params.values() {
                let entry = by_name.entry(spec.name.clone()).or_default();
                entry.0.push(t.name.clone());
                if entry.1.is_none() && !spec.required {
                    entry.1 = spec.default.clone();
                }
            }
        }
        for layer in [&self.runtime, &self.config, &self.env] {
            for (k, v) in layer {
                if !v.is_null() && !by_name.contains_key(k) {
                    // Env names are lower-cased; a template may spell the name differently.
                    let known = by_name.keys().any(|n| n.to_lowercase() == *k);
                    if !known {
                        by_name.entry(k.clone()).or_default();
                    }
                }
            }
        }
        by_name
            .into_iter()
            .map(|(name, (templates, template_default))| {
                let (value, source) = match self.lookup(&name) {
                    Some((v, s)) => (Some(v.clone()), Some(s)),
                    None => match template_default {
                        Some(v) => (Some(v), Some(ValueSource::Template)),
                        None => (None, None),
                    },
                };
                EffectiveDefault { name, value, source, templates }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn env_values_are_json_when_they_parse() {
        let d = ParamDefaults::from_env_iter([
            ("COMFY_DEFAULT_STEPS", "30"),
            ("COMFY_DEFAULT_NEGATIVE_PROMPT", "blurry, text"),
            ("COMFY_DEFAULT_TILED", "true"),
            ("COMFY_DEFAULT_QUOTED", "\"7\""),
            ("COMFY_DEFAULT_", "ignored"),
            ("PATH", "/bin"),
        ]);
        assert_eq!(d.env.len(), 4);
        assert_eq!(d.env["steps"], json!(30));
        assert_eq!(d.env["negative_prompt"], json!("blurry, text"));
        assert_eq!(d.env["tiled"], json!(true));
        assert_eq!(d.env["quoted"], json!("7"));
    }

    #[test]
    fn reading_the_real_environment_only_fills_the_env_layer() {
        let d = ParamDefaults::from_env();
        assert!(d.runtime.is_empty() && d.config.is_empty());
        assert!(d.env.keys().all(|k| *k == k.to_lowercase()));
    }

    #[test]
    fn effective_defaults_name_their_layer() {
        let lib = crate::template::TemplateLibrary::builtin();
        let mut d =
            ParamDefaults::from_env_iter([("COMFY_DEFAULT_CFG", "6.5"), ("COMFY_DEFAULT_ONLY_ENV", "x")]);
        d.config.insert("steps".into(), json!(30));
        d.config.insert("cfg".into(), json!(5));
        d.runtime.insert("steps".into(), json!(40));
        let list = lib.list();
        let eff = d.effective(list.iter().map(|t| t.as_ref()));
        let get = |n: &str| eff.iter().find(|e| e.name == n).unwrap_or_else(|| panic!("{n}: {eff:?}"));
        assert_eq!(
            (get("steps").value.clone(), get("steps").source),
            (Some(json!(40)), Some(ValueSource::Runtime))
        );
        assert_eq!(
            (get("cfg").value.clone(), get("cfg").source),
            (Some(json!(5)), Some(ValueSource::Config))
        );
        assert_eq!(get("only_env").source, Some(ValueSource::Env));
        assert!(get("only_env").templates.is_empty());
        assert_eq!(get("scale_by").source, Some(ValueSource::Template));
        assert_eq!(get("prompt").source, None, "required: no default");
        assert!(get("steps").templates.contains(&"generate_image".to_string()));
        let names: Vec<&str> = eff.iter().map(|e| e.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn lookup_follows_layer_order_and_skips_nulls() {
        let mut d = ParamDefaults::from_env_iter([("COMFY_DEFAULT_NEGATIVEPROMPT", "env")]);
        assert_eq!(d.lookup("negativePrompt"), Some((&json!("env"), ValueSource::Env)));
        d.config.insert("negativePrompt".into(), json!("config"));
        assert_eq!(d.lookup("negativePrompt").map(|x| x.1), Some(ValueSource::Config));
        d.runtime.insert("negativePrompt".into(), Value::Null);
        assert_eq!(d.lookup("negativePrompt").map(|x| x.1), Some(ValueSource::Config));
        assert_eq!(d.lookup("other"), None);
        assert_eq!(ValueSource::Env.describe("steps"), "the environment variable COMFY_DEFAULT_STEPS");
    }
}
