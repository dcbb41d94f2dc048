//! Addressing node inputs as `"<node title or id>.<input>"` and applying overrides.
//!
//! This is how people and agents change a saved workflow or template before running it
//! (`{"KSampler.seed": 7, "3.steps": 20}`): the node part is a node id, or else a node title
//! (`_meta.title`) that must be unique; the input part is an input name of the node's class.
//! Everything is checked against the catalogue before anything runs.

use serde_json::Value;

use super::{Input, NodeId, Workflow};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::validate::{Severity, validate};

/// A parsed `"<node>.<input>"` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputAddress {
    /// The node part: an id or a title.
    pub node: String,
    /// The input name.
    pub input: String,
}

impl InputAddress {
    /// Parses `"<node title or id>.<input>"`. The input is after the last dot, so titles may
    /// contain dots (`"SD 1.5 loader.ckpt_name"`).
    pub fn parse(target: &str) -> Result<InputAddress> {
        match target.trim().rsplit_once('.') {
            Some((node, input)) if !node.trim().is_empty() && !input.trim().is_empty() => {
                Ok(InputAddress { node: node.trim().to_owned(), input: input.trim().to_owned() })
            }
            _ => Err(Error::InvalidOverride {
                target: target.to_owned(),
                message:
                    "expected \"<node title or id>.<input name>\", e.g. \"KSampler.seed\" or \"3.steps\""
                        .into(),
                suggestions: Vec::new(),
            }),
        }
    }
}

/// Finds the node a reference names: a node id first, else the one node with that title.
/// An ambiguous title lists every candidate id; an unknown one suggests close titles and ids.
pub fn resolve_node(workflow: &Workflow, reference: &str, target: &str) -> Result<NodeId> {
    if let Some((id, _)) = workflow.nodes.get_key_value(reference) {
        return Ok(id.clone());
    }
    let matches: Vec<&NodeId> =
        workflow.nodes.iter().filter(|(_, n)| n.title() == Some(reference)).map(|(id, _)| id).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let names: Vec<String> = workflow
                .nodes
                .iter()
                .flat_map(|(id, n)| [Some(id.0.clone()), n.title().map(str::to_owned)])
                .flatten()
                .collect();
            Err(Error::InvalidOverride {
                target: target.to_owned(),
                message: format!("no node has the id or title {reference:?}"),
                suggestions: crate::suggest::closest(reference, names.iter().map(String::as_str), 5),
            })
        }
        many => Err(Error::InvalidOverride {
            target: target.to_owned(),
            message: format!(
                "the title {reference:?} is shared by {} nodes ({}); address one of them by id",
                many.len(),
                many.iter().map(|id| format!("\"{id}\"")).collect::<Vec<_>>().join(", ")
            ),
            suggestions: many.iter().map(|id| id.0.clone()).collect(),
        }),
    }
}

/// Applies overrides (`"<node title or id>.<input>"` → value) to a workflow, checked against
/// the catalogue: the node must exist (ids or unique titles), the input must be one its class
/// declares, and the value must be one the input accepts (type, bounds, choices — the checks of
/// [`crate::validate`]). Nothing is changed when any override is refused; the first problem is
/// returned naming its key.
pub fn apply_overrides<'a>(
    workflow: &mut Workflow,
    overrides: impl IntoIterator<Item = (&'a str, &'a Value)>,
    catalog: &Catalog,
) -> Result<()> {
    let mut updated = workflow.clone();
    let mut applied: Vec<(String, NodeId, String)> = Vec::new();
    for (target, value) in overrides {
        let address = InputAddress::parse(target)?;
        let id = resolve_node(&updated, &address.node, target)?;
        let Some(node) = updated.nodes.get_mut(&id) else {
            return Err(Error::NodeNotFound { node_id: id.0 });
        };
        let Some(def) = catalog.node(&node.class_type) else {
            return Err(Error::InvalidOverride {
                target: target.to_owned(),
                message: format!(
                    "node \"{id}\" has class {}, which this server does not have",
                    node.class_type
                ),
                suggestions: Vec::new(),
            });
        };
        let Some(input) = def.input(&address.input) else {
            let names: Vec<&str> = def.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(Error::InvalidOverride {
                target: target.to_owned(),
                message: format!(
                    "node \"{id}\" ({}) has no input {:?}; its inputs are {}",
                    node.class_type,
                    address.input,
                    names.join(", ")
                ),
                suggestions: crate::suggest::closest(&address.input, names.iter().copied(), 3),
            });
        };
        if !input.kind.takes_literal() {
            return Err(Error::InvalidOverride {
                target: target.to_owned(),
                message: format!(
                    "input {:?} of node \"{id}\" is a {} connection, not a value",
                    input.name,
                    input.kind.type_name()
                ),
                suggestions: Vec::new(),
            });
        }
        node.inputs.insert(input.name.clone(), Input::Value(value.clone()));
        applied.push((target.to_owned(), id, input.name.clone()));
    }
    let report = validate(&updated, catalog);
    for (target, id, input) in &applied {
        if let Some(p) = report.problems.iter().find(|p| {
            p.severity == Severity::Error
                && p.node_id.as_ref() == Some(id)
                && p.input.as_deref() == Some(input)
        }) {
            return Err(Error::InvalidOverride {
                target: target.clone(),
                message: p.message.clone(),
                suggestions: p.suggestions.clone(),
            });
        }
    }
    *workflow = updated;
    Ok(())
}

#[cfg(test)]
#[path = "address_tests.rs"]
mod tests;
