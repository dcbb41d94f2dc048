//! Setting template parameter defaults on a client: each value is checked against every
//! template with a parameter of that name before any layer changes.

use serde_json::{Map, Value};

use super::Comfy;
use crate::error::{Error, Result};

/// Which default layer a [`Comfy::set_param_defaults`] call writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultsLayer {
    /// This process only.
    Runtime,
    /// The configuration file's layer (the caller writes the file); a runtime value of the same
    /// name is dropped so that it does not hide the new one.
    Config,
}

/// What [`Comfy::set_param_defaults`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultsSet {
    /// The values as stored (coerced to each parameter's type; `null` removed the default).
    pub values: Map<String, Value>,
    /// Names no template has (kept for templates added later).
    pub unused: Vec<String>,
}

impl Comfy {
    /// Sets parameter defaults in one layer. Every value is checked against each template that
    /// has a parameter of that name (type, bounds, choices; coerced like a call's value); the
    /// first bad one is [`Error::InvalidParameter`] and nothing changes. `null` removes a name.
    ///
    /// On a store several servers share, the runtime layer is theirs in common: a value set
    /// through one server is used by all (a config-layer value removes the runtime one of that
    /// name for all; the config file itself stays each server's own).
    pub async fn set_param_defaults(
        &self,
        values: &Map<String, Value>,
        layer: DefaultsLayer,
    ) -> Result<DefaultsSet> {
        self.enrich_templates().await;
        let checked = self.check_param_defaults(values)?;
        if let Some(c) = &self.inner.coordination {
            let shared = match layer {
                DefaultsLayer::Runtime => checked.values.clone(),
                DefaultsLayer::Config => checked.values.keys().map(|k| (k.clone(), Value::Null)).collect(),
            };
            c.state.set_param_defaults(&shared).await?;
            self.announce_defaults_changed().await;
        }
        self.update_param_defaults(|d| {
            for (name, value) in &checked.values {
                let target = match layer {
                    DefaultsLayer::Runtime => &mut d.runtime,
                    DefaultsLayer::Config => {
                        d.runtime.remove(name);
                        &mut d.config
                    }
                };
                if value.is_null() {
                    target.remove(name);
                } else {
                    target.insert(name.clone(), value.clone());
                }
            }
        });
        Ok(checked)
    }

    /// Checks default values as [`Comfy::set_param_defaults`] does, changing nothing.
    pub fn check_param_defaults(&self, values: &Map<String, Value>) -> Result<DefaultsSet> {
        let lib = self.templates().snapshot();
        let templates = lib.list();
        let mut out = DefaultsSet { values: Map::new(), unused: Vec::new() };
        for (name, value) in values {
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                return Err(Error::InvalidArgument {
                    argument: format!("values.{}", name.chars().take(64).collect::<String>()),
                    message: "a parameter name: 1 to 64 letters, digits or '_'".into(),
                });
            }
            let mut normalised = value.clone();
            let mut used = false;
            for t in &templates {
                let Some(spec) = t.param(name) else { continue };
                used = true;
                if value.is_null() {
                    continue;
                }
                normalised = spec.check(value).map_err(|why| Error::InvalidParameter {
                    template: t.name.clone(),
                    param: name.clone(),
                    message: why,
                })?;
            }
            if !used {
                out.unused.push(name.clone());
            }
            out.values.insert(name.clone(), normalised);
        }
        Ok(out)
    }
}
