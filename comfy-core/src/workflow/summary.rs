//! A compact description of a workflow for people and agents: its nodes by title and class,
//! and every input that can be overridden, addressed the way [`super::apply_overrides`] takes it.

use serde::Serialize;
use serde_json::Value;

use super::Workflow;
use crate::catalog::{Catalog, InputKind};

/// How many combo choices a summary lists per input.
const MAX_CHOICES: usize = 20;

/// One node in a [`WorkflowSummary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct NodeSummary {
    /// The node id.
    pub id: String,
    /// Its class.
    pub class_type: String,
    /// Its title (`_meta.title`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Whether the class is an output node.
    pub output: bool,
}

/// One input that can be overridden.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct EditableInput {
    /// The override key: `"<title>.<input>"` when the title is unique, else `"<id>.<input>"`.
    pub key: String,
    /// The node id.
    pub node_id: String,
    /// `INT`, `FLOAT`, `STRING`, `BOOLEAN`, `COMBO` (or `*`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// The value in the workflow now.
    pub value: Value,
    /// Lower bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The first choices of a combo.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Value>,
    /// How many choices the combo has in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice_count: Option<usize>,
}

/// Nodes and editable inputs of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct WorkflowSummary {
    /// Every node, in workflow order.
    pub nodes: Vec<NodeSummary>,
    /// Every literal input the catalogue knows, in workflow order.
    pub inputs: Vec<EditableInput>,
}

/// Summarises an API-format workflow against the catalogue. Linked inputs are not editable
/// and are left out; inputs of classes the catalogue lacks are listed with type `?`.
pub fn summarize(workflow: &Workflow, catalog: &Catalog) -> WorkflowSummary {
    let mut nodes = Vec::with_capacity(workflow.len());
    let mut inputs = Vec::new();
    for (id, node) in workflow.nodes() {
        let def = catalog.node(&node.class_type);
        nodes.push(NodeSummary {
            id: id.0.clone(),
            class_type: node.class_type.clone(),
            title: node.title().map(str::to_owned),
            output: def.is_some_and(|d| d.output_node),
        });
        let prefix = match node.title() {
            Some(t) if workflow.nodes_by_title(t).count() == 1 && workflow.node(t).is_none() => t.to_owned(),
            _ => id.0.clone(),
        };
        for (name, input) in &node.inputs {
            let Some(value) = input.as_value() else { continue };
            let spec = def.and_then(|d| d.input(name));
            let mut entry = EditableInput {
                key: format!("{prefix}.{name}"),
                node_id: id.0.clone(),
                type_name: spec.map_or("?", |s| s.kind.type_name()).to_owned(),
                value: value.clone(),
                min: spec.and_then(|s| s.options.min),
                max: spec.and_then(|s| s.options.max),
                choices: Vec::new(),
                choice_count: None,
            };
            if let Some(InputKind::Combo { options, .. }) = spec.map(|s| &s.kind) {
                entry.choices = options.iter().take(MAX_CHOICES).cloned().collect();
                entry.choice_count = Some(options.len());
            }
            inputs.push(entry);
        }
    }
    WorkflowSummary { nodes, inputs }
}
