//! Rendering: choose each parameter's value from the layers, check it, put it in the graph, and
//! refuse the result if any placeholder is left.

use std::sync::LazyLock;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::defaults::{ParamDefaults, ValueSource};
use super::substitute::{Slot, find_residue, substitute};
use super::values::{MAX_SAFE_INTEGER, check_value};
use super::{ParamSpec, Template, suggest};
use crate::error::{Error, Result};
use crate::workflow::Workflow;

static NO_DEFAULTS: LazyLock<ParamDefaults> = LazyLock::new(ParamDefaults::default);

/// What to render: this call's values plus the shared default layers.
#[derive(Debug, Clone)]
pub struct RenderRequest<'a> {
    /// Per-call values (highest precedence). Unknown names are errors; `null` means "not set".
    pub values: Map<String, Value>,
    /// Runtime, config-file and environment defaults. Unknown names there are ignored.
    pub defaults: &'a ParamDefaults,
}

impl RenderRequest<'static> {
    /// A request with these values and no shared defaults.
    pub fn new(values: Map<String, Value>) -> Self {
        RenderRequest { values, defaults: &NO_DEFAULTS }
    }
}

impl<'a> RenderRequest<'a> {
    /// The same values over other shared defaults.
    pub fn with_defaults<'b>(self, defaults: &'b ParamDefaults) -> RenderRequest<'b> {
        RenderRequest { values: self.values, defaults }
    }
}

/// A rendered template, ready to submit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rendered {
    /// The graph with every placeholder replaced.
    pub workflow: Workflow,
    /// Every parameter value used, in parameter order (optional parameters left unset are absent).
    pub params: IndexMap<String, Value>,
    /// Where each value in `params` came from.
    pub sources: IndexMap<String, ValueSource>,
    /// The seeds drawn at random (their values are in `params`).
    pub random_seeds: Vec<String>,
    /// The template's name.
    pub template: String,
}

impl Template {
    /// Renders the template: see the module documentation for the value layers. Fails with
    /// [`Error::InvalidParameter`] (unknown name with suggestions, missing required value, wrong
    /// type, out of bounds, not a choice) or [`Error::UnresolvedPlaceholder`].
    pub fn render(&self, request: &RenderRequest<'_>) -> Result<Rendered> {
        self.reject_unknown(&request.values)?;
        let mut params = IndexMap::new();
        let mut sources = IndexMap::new();
        let mut random_seeds = Vec::new();
        for spec in self.params.values() {
            let Some((value, source)) = self.choose(spec, request)? else { continue };
            if source == ValueSource::Random {
                random_seeds.push(spec.name.clone());
            }
            params.insert(spec.name.clone(), value);
            sources.insert(spec.name.clone(), source);
        }
        let workflow = substitute(&self.workflow, |name| match params.get(name) {
            Some(v) => Slot::Value(v),
            None if self.params.contains_key(name) => Slot::Absent,
            None => Slot::Keep,
        });
        if let Some((node_id, input, placeholder)) = find_residue(&workflow) {
            return Err(Error::UnresolvedPlaceholder {
                template: self.name.clone(),
                node_id,
                input,
                placeholder,
            });
        }
        Ok(Rendered { workflow, params, sources, random_seeds, template: self.name.clone() })
    }

    fn reject_unknown(&self, values: &Map<String, Value>) -> Result<()> {
        let unknown: Vec<&String> = values.keys().filter(|k| !self.params.contains_key(k.as_str())).collect();
        let Some(first) = unknown.first() else { return Ok(()) };
        let close = suggest(first, self.params.keys().map(String::as_str));
        let mut message = if close.is_empty() {
            "this template has no such parameter".to_string()
        } else {
            format!("this template has no such parameter; did you mean {}?", close.join(", "))
        };
        if unknown.len() > 1 {
            let rest: Vec<String> = unknown[1..].iter().take(10).map(|s| short(s)).collect();
            message.push_str(&format!(" (also unknown: {})", rest.join(", ")));
        }
        let valid: Vec<&str> = self.params.keys().take(40).map(String::as_str).collect();
        message.push_str(&if valid.is_empty() {
            "; it takes no parameters".to_string()
        } else {
            format!("; valid parameters: {}", valid.join(", "))
        });
        Err(self.param_error(first, message))
    }

    /// The value for one parameter, or `None` for an optional one nobody set.
    fn choose(&self, spec: &ParamSpec, request: &RenderRequest<'_>) -> Result<Option<(Value, ValueSource)>> {
        let given = request
            .values
            .get(&spec.name)
            .filter(|v| !v.is_null())
            .map(|v| (v, ValueSource::Call))
            .or_else(|| request.defaults.lookup(&spec.name))
            .or_else(|| spec.default.as_ref().filter(|_| !spec.required).map(|v| (v, ValueSource::Template)));
        if let Some((raw, source)) = given {
            let value = check_value(spec, raw).map_err(|why| {
                let from = if source == ValueSource::Call {
                    String::new()
                } else {
                    format!(" (from {})", source.describe(&spec.name))
                };
                self.param_error(&spec.name, format!("{why}{from}"))
            })?;
            return Ok(Some((value, source)));
        }
        if spec.required {
            let about = spec.description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
            return Err(self.param_error(
                &spec.name,
                format!("a value is required{about}: give {}", spec.describe_valid()),
            ));
        }
        if spec.is_seed {
            return self.random_seed(spec).map(|v| Some((v, ValueSource::Random)));
        }
        Ok(None)
    }

    /// A random integer in `max(min, 0) ..= min(max, 2^53 − 1)`.
    fn random_seed(&self, spec: &ParamSpec) -> Result<Value> {
        let safe = MAX_SAFE_INTEGER as f64;
        let lo = spec.minimum.map_or(0.0, |m| m.ceil().clamp(0.0, safe));
        let hi = spec.maximum.map_or(safe, |m| m.floor().min(safe));
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(self.param_error(
                &spec.name,
                format!("cannot draw a random seed: the range {lo}..={hi} is empty; give a value"),
            ));
        }
        // Both ends are integers in 0..=2^53-1 here, so the conversions are exact.
        Ok(Value::from(rand::random_range(lo as u64..=hi as u64)))
    }

    fn param_error(&self, param: &str, message: String) -> Error {
        Error::InvalidParameter { template: self.name.clone(), param: short(param), message }
    }
}

/// A name shortened for messages (hostile callers may send megabyte-long keys).
pub(crate) fn short(name: &str) -> String {
    const MAX: usize = 80;
    if name.chars().count() <= MAX {
        name.to_owned()
    } else {
        let cut: String = name.chars().take(MAX).collect();
        format!("{cut}… ({} bytes)", name.len())
    }
}

impl crate::backend::JobRequest {
    /// A request for a rendered template: its provenance (template name and every parameter
    /// value used, drawn seeds included) is recorded with the job and each of its assets.
    pub fn from_rendered(rendered: Rendered) -> Self {
        let params = serde_json::to_value(&rendered.params).unwrap_or(Value::Null);
        let mut request = crate::backend::JobRequest::new(rendered.workflow);
        request.provenance.template = Some(rendered.template);
        request.provenance.params = Some(params);
        request
    }
}
