//! [`TemplateInfo`]: what a listing shows of a template (its full parameter schema is
//! [`Template::json_schema`]).

use serde::Serialize;
use serde_json::Value;

use super::{ParamType, Template};

/// Where a template comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TemplateSource {
    /// Shipped with comfy-core.
    Builtin,
    /// A file of the templates directory.
    Directory,
}

/// One parameter, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ParamInfo {
    /// Name.
    pub name: String,
    /// `string`, `integer`, `number` or `boolean`.
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// Must be given.
    pub required: bool,
    /// Default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A template, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TemplateInfo {
    /// Name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Built in or from the templates directory.
    pub source: TemplateSource,
    /// Its parameters, in declaration order.
    pub params: Vec<ParamInfo>,
}

impl Template {
    /// The template as a listing shows it.
    pub fn info(&self) -> TemplateInfo {
        TemplateInfo {
            name: self.name.clone(),
            description: self.description.clone(),
            source: if self.source.is_some() { TemplateSource::Directory } else { TemplateSource::Builtin },
            params: self
                .params
                .values()
                .map(|p| ParamInfo {
                    name: p.name.clone(),
                    ty: p.ty,
                    required: p.required,
                    default: p.default.clone(),
                    description: p.description.clone(),
                })
                .collect(),
        }
    }
}
