//! The parameter schema of a template: types, bindings and specs.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::workflow::NodeId;

/// The JSON type of a parameter value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
}

impl ParamType {
    /// The JSON Schema type name (`string`, `integer`, `number`, `boolean`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
        }
    }

    /// Parses a JSON Schema type name.
    pub fn parse(name: &str) -> Option<ParamType> {
        match name {
            "string" => Some(ParamType::String),
            "integer" => Some(ParamType::Integer),
            "number" => Some(ParamType::Number),
            "boolean" => Some(ParamType::Boolean),
            _ => None,
        }
    }

    /// The type a JSON value naturally has, if it is a scalar.
    pub(crate) fn of_value(v: &Value) -> Option<ParamType> {
        match v {
            Value::String(_) => Some(ParamType::String),
            Value::Bool(_) => Some(ParamType::Boolean),
            Value::Number(n) if n.is_f64() => Some(ParamType::Number),
            Value::Number(_) => Some(ParamType::Integer),
            _ => None,
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a parameter's value goes in the graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Binding {
    /// The node.
    pub node_id: NodeId,
    /// The input of that node.
    pub input: String,
    /// `true` when the placeholder is the input's whole value (the typed value replaces it);
    /// `false` when it is interpolated into a longer string or sits inside a list or object.
    pub whole: bool,
}

/// One parameter of a template: its type, constraints, default and where it goes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    /// The name callers use.
    pub name: String,
    /// The value type.
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// Whether callers must give a value (see the module documentation for the rule).
    pub required: bool,
    /// The value used when no layer gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Smallest allowed value (numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest allowed value (numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// The increment the editor uses (numbers); enforced for integers only, see
    /// [`ParamSpec::multiple_of`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// The allowed values, when the choice is closed.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<Value>>,
    /// Human description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Long text (the editor shows a multi-line box).
    pub multiline: bool,
    /// A seed: drawn at random when no layer gives a value.
    pub is_seed: bool,
    /// Every place the value goes.
    pub bindings: Vec<Binding>,
}

impl ParamSpec {
    /// An optional parameter of type `ty` with no default, bounds, choices or bindings.
    pub fn new(name: impl Into<String>, ty: ParamType) -> Self {
        ParamSpec {
            name: name.into(),
            ty,
            required: false,
            default: None,
            minimum: None,
            maximum: None,
            step: None,
            enum_values: None,
            description: None,
            multiline: false,
            is_seed: false,
            bindings: Vec::new(),
        }
    }

    /// The `multipleOf` constraint published in the JSON Schema and enforced when rendering:
    /// only for integers, with an integral step above 1 that lines up with the minimum
    /// (e.g. latent width: min 16, step 8). Float steps are editor increments and not enforced.
    pub fn multiple_of(&self) -> Option<f64> {
        let step = self.step?;
        let sane = self.ty == ParamType::Integer
            && step.is_finite()
            && step > 1.0
            && step.fract() == 0.0
            && step < 9_007_199_254_740_992.0
            && self.minimum.is_none_or(|m| m.is_finite() && (m % step) == 0.0);
        sane.then_some(step)
    }

    /// Checks (and normalises) a value for this parameter, as rendering does: the type, bounds,
    /// step and choices. The error says what is wrong.
    pub fn check(&self, value: &Value) -> std::result::Result<Value, String> {
        super::values::check_value(self, value)
    }

    /// A short phrase saying what values are valid, for error messages.
    pub fn describe_valid(&self) -> String {
        if let Some(options) = &self.enum_values {
            let shown: Vec<String> = options.iter().take(20).map(crate::json::preview).collect();
            let more =
                if options.len() > 20 { format!(", … {} more", options.len() - 20) } else { String::new() };
            return format!("one of [{}{more}]", shown.join(", "));
        }
        let article = match self.ty {
            ParamType::Integer => "an integer",
            ParamType::Number => "a number",
            ParamType::String => "a string",
            ParamType::Boolean => "a boolean (true or false)",
        };
        let mut text = article.to_string();
        match (self.minimum, self.maximum) {
            (Some(lo), Some(hi)) => text.push_str(&format!(" from {lo} to {hi}")),
            (Some(lo), None) => text.push_str(&format!(" of at least {lo}")),
            (None, Some(hi)) => text.push_str(&format!(" of at most {hi}")),
            (None, None) => {}
        }
        if let Some(step) = self.multiple_of() {
            text.push_str(&format!(", a multiple of {step}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(ty: ParamType) -> ParamSpec {
        ParamSpec::new("p", ty)
    }

    #[test]
    fn multiple_of_only_when_sane() {
        let mut s = spec(ParamType::Integer);
        s.step = Some(8.0);
        s.minimum = Some(16.0);
        assert_eq!(s.multiple_of(), Some(8.0));
        s.minimum = Some(1.0);
        assert_eq!(s.multiple_of(), None);
        s.minimum = None;
        s.step = Some(1.0);
        assert_eq!(s.multiple_of(), None);
        let mut f = spec(ParamType::Number);
        f.step = Some(0.01);
        assert_eq!(f.multiple_of(), None);
        f.step = Some(8.0);
        assert_eq!(f.multiple_of(), None);
    }

    #[test]
    fn describes_what_is_valid() {
        let mut s = spec(ParamType::Integer);
        s.minimum = Some(1.0);
        s.maximum = Some(10000.0);
        assert_eq!(s.describe_valid(), "an integer from 1 to 10000");
        s.enum_values = Some(vec![json!("a"), json!("b")]);
        assert_eq!(s.describe_valid(), "one of [\"a\", \"b\"]");
    }

    #[test]
    fn type_names_round_trip() {
        for t in [ParamType::String, ParamType::Integer, ParamType::Number, ParamType::Boolean] {
            assert_eq!(ParamType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ParamType::parse("int"), None);
        assert_eq!(ParamType::of_value(&json!(1.5)), Some(ParamType::Number));
        assert_eq!(ParamType::of_value(&json!([1])), None);
    }
}
