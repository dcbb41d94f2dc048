//! The API ("prompt") workflow format: a map of node id → node.
//!
//! Parsing never mangles a graph: node order, key order, `_meta` and unknown fields all survive
//! parse → serialize. Structural problems are reported together, each with its location.

mod address;
mod format;
mod graph;
mod hash;
pub(crate) mod node;
mod summary;

use indexmap::IndexMap;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

pub use address::{InputAddress, apply_overrides, resolve_node};
pub use format::{WorkflowFormat, detect_format};
pub use graph::{DanglingLink, LinkRef};
pub use node::{Input, Link, Node, NodeId};
pub use summary::{EditableInput, NodeSummary, WorkflowSummary, summarize};

use crate::error::{Error, Result};

/// How many structural problems are spelled out in one error message.
const MAX_LISTED_PROBLEMS: usize = 10;

/// An API-format ComfyUI workflow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workflow {
    nodes: IndexMap<NodeId, Node>,
}

impl Workflow {
    /// An empty workflow.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses API-format JSON text. Duplicate keys, NaN/Infinity and trailing data are errors;
    /// a UI-format ("save") file is recognised and reported as such.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let value = crate::json::parse_strict(text, "workflow")?;
        Self::from_value(value)
    }

    /// Builds a workflow from an already-parsed JSON value.
    pub fn from_value(value: Value) -> Result<Self> {
        match detect_format(&value) {
            WorkflowFormat::Ui { node_count } => return Err(Error::UiFormatWorkflow { node_count }),
            WorkflowFormat::PromptRequest => {
                return Err(Error::workflow(
                    "top level",
                    "this is a POST /prompt request body; the workflow is its \"prompt\" field",
                ));
            }
            WorkflowFormat::Api | WorkflowFormat::Unknown => {}
        }
        let Value::Object(map) = value else {
            return Err(Error::workflow(
                "top level",
                format!(
                    "an API-format workflow is a JSON object of node id → node, got {}",
                    crate::json::type_name(&value)
                ),
            ));
        };
        let mut nodes = IndexMap::with_capacity(map.len());
        let mut problems = Vec::new();
        for (id, node) in map {
            if id == "__metadata__" {
                problems.push((
                    "top level / __metadata__".to_string(),
                    "this file carries template metadata; load it as a template".to_string(),
                ));
                continue;
            }
            if let Some(node) = Node::from_json(&id, node, &mut problems) {
                nodes.insert(NodeId(id), node);
            }
        }
        if let Some((location, first)) = problems.first() {
            let mut message = first.clone();
            if problems.len() > 1 {
                let rest: Vec<String> = problems[1..]
                    .iter()
                    .take(MAX_LISTED_PROBLEMS - 1)
                    .map(|(loc, msg)| format!("{loc}: {msg}"))
                    .collect();
                message.push_str(&format!("; also {} more: {}", problems.len() - 1, rest.join("; ")));
            }
            return Err(Error::workflow(location.clone(), message));
        }
        Ok(Workflow { nodes })
    }

    /// The workflow as a JSON value (the body's `prompt` field for `POST /prompt`).
    pub fn to_value(&self) -> Value {
        // Serializing plain maps, strings and JSON values cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The workflow as compact JSON text.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the workflow has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// A node by id, mutably.
    pub fn node_mut(&mut self, id: &str) -> Option<&mut Node> {
        self.nodes.get_mut(id)
    }

    /// All nodes in document order.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = (&NodeId, &Node)> {
        self.nodes.iter()
    }

    /// All nodes in document order, mutably.
    pub fn nodes_mut(&mut self) -> impl ExactSizeIterator<Item = (&NodeId, &mut Node)> {
        self.nodes.iter_mut()
    }

    /// Adds or replaces a node, returning the previous one.
    pub fn insert(&mut self, id: impl Into<NodeId>, node: Node) -> Option<Node> {
        self.nodes.insert(id.into(), node)
    }

    /// Removes a node (links to it become dangling), keeping the order of the rest.
    pub fn remove(&mut self, id: &str) -> Option<Node> {
        self.nodes.shift_remove(id)
    }

    /// Nodes whose class is `class_type`.
    pub fn nodes_by_class<'a>(&'a self, class_type: &'a str) -> impl Iterator<Item = (&'a NodeId, &'a Node)> {
        self.nodes.iter().filter(move |(_, n)| n.class_type == class_type)
    }

    /// Nodes whose `_meta.title` is `title`.
    pub fn nodes_by_title<'a>(&'a self, title: &'a str) -> impl Iterator<Item = (&'a NodeId, &'a Node)> {
        self.nodes.iter().filter(move |(_, n)| n.title() == Some(title))
    }

    /// Finds a node by id, or else by a unique title. Useful for `"<title or id>.<input>"` addressing.
    pub fn find_node(&self, id_or_title: &str) -> Result<&NodeId> {
        if let Some((id, _)) = self.nodes.get_key_value(id_or_title) {
            return Ok(id);
        }
        let mut matches = self.nodes.iter().filter(|(_, n)| n.title() == Some(id_or_title)).map(|(id, _)| id);
        match (matches.next(), matches.next()) {
            (Some(id), None) => Ok(id),
            (Some(a), Some(b)) => Err(Error::workflow(
                format!("node {id_or_title:?}"),
                format!("the title is ambiguous: nodes \"{a}\" and \"{b}\" both have it; use a node id"),
            )),
            _ => Err(Error::NodeNotFound { node_id: id_or_title.to_string() }),
        }
    }
}

impl Serialize for Workflow {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.nodes.len()))?;
        for (id, node) in &self.nodes {
            map.serialize_entry(&id.0, node)?;
        }
        map.end()
    }
}

impl std::str::FromStr for Workflow {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Workflow::from_json_str(s)
    }
}

#[cfg(test)]
mod tests;
