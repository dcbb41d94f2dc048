//! [`NodeInfo`]: one node class as people and models need it — inputs with type, default,
//! bounds and (the first 100) choices, and outputs.

use serde::Serialize;
use serde_json::Value;

use super::{Catalog, InputKind, NodeDef, Section};
use crate::error::{Error, Result};

/// How many combo choices [`NodeInfo`] lists per input.
pub const INFO_MAX_CHOICES: usize = 100;

/// One input of a node class.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct InputInfo {
    /// Name.
    pub name: String,
    /// INT, FLOAT, STRING, BOOLEAN, COMBO or a link type (IMAGE, MODEL, ...).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Must be given.
    pub required: bool,
    /// Only a link fits (no literal value).
    pub link_only: bool,
    /// Default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Lower bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Increment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// Choices (the first 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Value>>,
    /// How many choices in all, when more than listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options_total: Option<usize>,
    /// Tooltip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tooltip: Option<String>,
}

/// One output of a node class.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OutputInfo {
    /// Name.
    pub name: String,
    /// Type (IMAGE, LATENT, ...).
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A node class: what it takes and gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct NodeInfo {
    /// Class name (`class_type`).
    pub class_type: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Category.
    pub category: String,
    /// Description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Whether it is an output node.
    pub output_node: bool,
    /// Required and optional inputs (hidden ones left out).
    pub inputs: Vec<InputInfo>,
    /// Outputs.
    pub outputs: Vec<OutputInfo>,
}

impl NodeDef {
    /// The class as [`NodeInfo`].
    pub fn info(&self) -> NodeInfo {
        let inputs = self
            .inputs
            .iter()
            .filter(|i| i.section != Section::Hidden)
            .map(|i| {
                let options = match &i.kind {
                    InputKind::Combo { options, .. } => Some(options),
                    _ => None,
                };
                InputInfo {
                    name: i.name.clone(),
                    type_name: i.kind.type_name().to_owned(),
                    required: i.is_required(),
                    link_only: !i.kind.takes_literal(),
                    default: i.options.default.clone(),
                    min: i.options.min,
                    max: i.options.max,
                    step: i.options.step,
                    options: options.map(|o| o.iter().take(INFO_MAX_CHOICES).cloned().collect()),
                    options_total: options.map(|o| o.len()).filter(|n| *n > INFO_MAX_CHOICES),
                    tooltip: i.options.tooltip.clone(),
                }
            })
            .collect();
        NodeInfo {
            class_type: self.name.clone(),
            display_name: self.display_name.clone(),
            category: self.category.clone(),
            description: self.description.clone(),
            output_node: self.output_node,
            inputs,
            outputs: self
                .outputs
                .iter()
                .map(|o| OutputInfo { name: o.name.clone(), type_name: o.type_name.clone() })
                .collect(),
        }
    }
}

impl Catalog {
    /// One class as [`NodeInfo`], or [`Error::UnknownClass`] with suggestions.
    pub fn node_info(&self, class_type: &str) -> Result<NodeInfo> {
        match self.node(class_type) {
            Some(node) => Ok(node.info()),
            None => Err(Error::UnknownClass {
                class_type: class_type.chars().take(200).collect(),
                suggestions: if class_type.len() <= 256 {
                    self.suggest_classes(class_type)
                } else {
                    Vec::new()
                },
            }),
        }
    }
}
